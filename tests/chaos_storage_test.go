//go:build chaos

package tests

// Kill -9 chaos for the storage engine (make chaos): a real trib process
// under acks=all load from an idempotent kgo producer is SIGKILLed
// repeatedly and restarted on the same data dir; at the end every
// acknowledged record must be in the log once, at its acknowledged offset,
// in order. CHAOS_ITERATIONS sets the number of kills (default 20).

import (
	"context"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func chaosBuildTrib(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "trib")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/trib")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func chaosFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type chaosBroker struct {
	cmd  *exec.Cmd
	addr string
}

func chaosStart(t *testing.T, bin, dir, addr string, logf *os.File, extra ...string) *chaosBroker {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"broker", "--data-dir", dir, "--listen", addr,
		"--set", "log.segment.bytes=65536", "--set", "log.index.interval.bytes=1024"}, extra...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return &chaosBroker{cmd: cmd, addr: addr}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("broker did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *chaosBroker) kill9() {
	b.cmd.Process.Signal(os.Kill)
	b.cmd.Wait()
}

type acked struct {
	part  int32
	off   int64
	value string
}

func TestChaosKill9AcksAll(t *testing.T) { chaosKill9(t) }

// The same with encryption at rest: recovery after every kill -9 runs on
// decrypted bytes, and no acknowledged record is lost.
func TestChaosKill9AcksAllEncrypted(t *testing.T) {
	kek := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(kek, []byte("8f2c6b1d0e9a7f3c5b4d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := chaosKill9(t, "--set", "log.encryption.enable=true", "--set", "log.encryption.key.file="+kek)
	if keys, _ := filepath.Glob(filepath.Join(dir, "chaos-0", "*.key")); len(keys) == 0 {
		t.Fatal("the broker wrote no segment key files")
	}
}

// chaosKill9 runs the kill -9 loop with extra broker flags; it returns
// the data dir.
func chaosKill9(t *testing.T, extra ...string) string {
	iters := 20
	if v, err := strconv.Atoi(os.Getenv("CHAOS_ITERATIONS")); err == nil && v > 0 {
		iters = v
	}
	bin := chaosBuildTrib(t)
	dir := t.TempDir()
	logf, err := os.Create(filepath.Join(t.TempDir(), "broker.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	addr := chaosFreeAddr(t)
	const topic, parts = "chaos", 3

	var mu sync.Mutex
	var acks []acked
	attempted := 0
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for it := 0; it < iters; it++ {
		b := chaosStart(t, bin, dir, addr, logf, extra...)
		if it == 0 {
			adm, err := kadm.NewOptClient(kgo.SeedBrokers(addr))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err = adm.CreateTopic(ctx, parts, 1, nil, topic)
			cancel()
			adm.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond),
			kgo.RecordDeliveryTimeout(5*time.Second), kgo.RetryTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ctx.Err() == nil; i++ {
				v := fmt.Sprintf("it%d-%d", it, i)
				mu.Lock()
				attempted++
				mu.Unlock()
				cl.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i % 17)), Value: []byte(v)}, func(r *kgo.Record, err error) {
					if err == nil {
						mu.Lock()
						acks = append(acks, acked{r.Partition, r.Offset, string(r.Value)})
						mu.Unlock()
					}
				})
				if i%64 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
		time.Sleep(time.Duration(300+rng.Intn(700)) * time.Millisecond)
		b.kill9()
		cancel()
		<-done
		cl.Close()
	}

	// Restart once more and read everything back.
	b := chaosStart(t, bin, dir, addr, logf, extra...)
	defer b.kill9()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	type pos struct {
		part int32
		off  int64
	}
	log := map[pos]string{}
	seen := map[string]int{}
	var read int64
	for read < total {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("after %d of %d records: %v", read, total, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			read++
			log[pos{r.Partition, r.Offset}] = string(r.Value)
			seen[string(r.Value)]++
		})
	}
	mu.Lock()
	defer mu.Unlock()
	// In order: one client's records of one partition got increasing
	// offsets in the order they were produced.
	type key struct {
		it   int
		part int32
	}
	sorted := append([]acked(nil), acks...)
	idx := func(v string) (int, int) {
		var it, i int
		fmt.Sscanf(v, "it%d-%d", &it, &i)
		return it, i
	}
	sort.Slice(sorted, func(a, b int) bool {
		ia, xa := idx(sorted[a].value)
		ib, xb := idx(sorted[b].value)
		return ia < ib || ia == ib && xa < xb
	})
	lastOff := map[key]int64{}
	for _, a := range sorted {
		it, _ := idx(a.value)
		k := key{it, a.part}
		if prev, ok := lastOff[k]; ok && a.off <= prev {
			t.Errorf("%s at offset %d acknowledged after an earlier record at %d", a.value, a.off, prev)
		}
		lastOff[k] = a.off
	}
	for _, a := range acks {
		if got, ok := log[pos{a.part, a.off}]; !ok || got != a.value {
			t.Errorf("acknowledged %s at %d/%d: log has %q (present %v)", a.value, a.part, a.off, got, ok)
		}
		if seen[a.value] != 1 {
			t.Errorf("acknowledged %s appears %d times", a.value, seen[a.value])
		}
	}
	for v, n := range seen {
		if n != 1 {
			t.Errorf("record %s stored %d times", v, n)
		}
	}
	t.Logf("%d kill -9 iterations: %d records attempted, %d acknowledged, %d in the log, all acknowledged present once", iters, attempted, len(acks), read)
	return dir
}
