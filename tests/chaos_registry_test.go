//go:build chaos

package tests

// Registry chaos (make chaos): a `trib dev` broker and two `trib registry`
// processes take concurrent registrations sent to either instance while the
// elected writer (the eligible instance with the smallest URL) is killed
// with SIGKILL and replaced, CHAOS_REGISTRY_CYCLES times (default 5). At
// the end every acknowledged registration must be served by every
// instance with the id it was acknowledged with, and no id may name two
// schemas.

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

func TestChaosRegistryWriterKill(t *testing.T) {
	cycles := 5
	if v, err := strconv.Atoi(os.Getenv("CHAOS_REGISTRY_CYCLES")); err == nil && v > 0 {
		cycles = v
	}
	broker := startTribProcess(t, "")
	type inst struct {
		cmd *exec.Cmd
		url string
	}
	var mu sync.Mutex
	insts := make([]inst, 2)
	for i := range insts {
		cmd, url := startRegistryProcess(t, broker.Addr)
		insts[i] = inst{cmd, url}
	}
	urls := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return []string{insts[0].url, insts[1].url}
	}

	ctx, cancel := context.WithCancel(context.Background())
	acked := map[string]int{} // subject → acknowledged id
	var ackMu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			for i := 0; ctx.Err() == nil; i++ {
				u := urls()[rng.Intn(2)]
				cl, err := sr.NewClient(sr.URLs(u))
				if err != nil {
					t.Error(err)
					return
				}
				subject := fmt.Sprintf("w%d-%d", w, i)
				rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
				id, err := cl.RegisterSchema(rctx, subject, sr.Schema{Schema: fmt.Sprintf(`{"type":"fixed","name":"f%d_%d","size":8}`, w, i)}, -1, -1)
				rcancel()
				if err != nil {
					time.Sleep(20 * time.Millisecond) // writer unknown or gone: try again
					continue
				}
				ackMu.Lock()
				acked[subject] = id
				ackMu.Unlock()
			}
		}()
	}
	// progress waits until n more registrations were acknowledged: the
	// registry heals (a writer elected and known to both) before each kill.
	progress := func(n int) {
		ackMu.Lock()
		want := len(acked) + n
		ackMu.Unlock()
		deadline := time.Now().Add(90 * time.Second)
		for {
			ackMu.Lock()
			got := len(acked)
			ackMu.Unlock()
			if got >= want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("registrations stalled at %d acknowledged", got)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for c := range cycles {
		progress(20)
		mu.Lock()
		victim := 0
		if insts[1].url < insts[0].url {
			victim = 1
		}
		insts[victim].cmd.Process.Kill()
		insts[victim].cmd.Wait()
		mu.Unlock()
		t.Logf("cycle %d: killed the writer %s", c, insts[victim].url)
		cmd, url := startRegistryProcess(t, broker.Addr)
		mu.Lock()
		insts[victim] = inst{cmd, url}
		mu.Unlock()
	}
	progress(20)
	cancel()
	wg.Wait()

	ackMu.Lock()
	defer ackMu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no registration was acknowledged")
	}
	owner := map[int]string{}
	for subject, id := range acked {
		if prev, ok := owner[id]; ok {
			t.Fatalf("id %d acknowledged for %s and %s", id, prev, subject)
		}
		owner[id] = subject
	}
	vctx, vcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer vcancel()
	for _, u := range urls() {
		cl, _ := sr.NewClient(sr.URLs(u))
		for subject, id := range acked {
			got, err := cl.SchemaByVersion(vctx, subject, 1)
			if err != nil || got.ID != id {
				t.Fatalf("%s on %s: %+v %v, acknowledged with id %d", subject, u, got, err, id)
			}
			subs, err := cl.SubjectsByID(vctx, id)
			if err != nil || len(subs) != 1 || subs[0] != subject {
				t.Fatalf("id %d on %s names %v (%v), want only %s", id, u, subs, err, subject)
			}
		}
	}
	t.Logf("%d registrations acknowledged over %d writer kills", len(acked), cycles)
}
