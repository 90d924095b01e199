//go:build chaos

package tests

// Metadata chaos (make chaos-metadata): three voters and a broker-only
// fourth node (a Raft non-voter) under an idempotent acks=all load. Each
// cycle makes broker 4 register again (a restart, sometimes on an empty
// data dir, so it needs the whole metadata log) and kills the active
// controller (kill -9) around that moment: before it starts, while it
// registers, or after it is ready. The killed controller is restarted,
// and every broker, the restarted one too, must list every broker in its
// own Metadata answer within 30s; one that does not prints its goroutines
// (SIGQUIT) into its log. It was written to find a broker whose metadata
// view stopped following the quorum after such a kill, suspected when a
// control-plane resize waited for good; it never found one (the resize
// waited on the control plane's cached client metadata, see
// TestMetadataAfterControllerKill9), and stays as the guard.
// CHAOS_METADATA_CYCLES sets the number of cycles (default 30).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/checker"
)

func TestChaosMetadataControllerKill(t *testing.T) {
	cycles, rng := chaosRun(t, "CHAOS_METADATA_CYCLES", 30)
	c := startProcCluster(t, 3)
	admCl := c.client(kgo.MetadataMinAge(10 * time.Millisecond))
	adm := kadm.NewClient(admCl)
	const topic, parts = "events", 6
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if _, err := adm.CreateTopic(ctx, parts, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil {
		t.Fatal(err)
	}
	cancel()
	h := checker.New()
	ld := startLoadWith(c, h, topic, "p", 2000)
	c.waitAcks(h, 300, 30*time.Second, "before the first cycle")

	dir := t.TempDir()
	b4 := &procNode{id: 4, dir: dir, addr: freePort(t), logPath: filepath.Join(dir, "broker-4.log")}
	if d := os.Getenv("TRIB_TEST_LOG_DIR"); d != "" {
		b4.logPath = filepath.Join(d, t.Name()+"-broker-4.log")
	}
	c.nodes = append(c.nodes, b4)

	stats := map[string]int{}
	for cycle := 1; cycle <= cycles; cycle++ {
		var ctl int32
		c.waitFor(30*time.Second, "a controller", func() bool {
			id, _, err := describeCluster(admCl)
			ctl = id
			return err == nil && id > 0 && id <= 3
		})
		c.kill9(4)
		wipe := rng.Intn(3) == 0
		if wipe {
			os.RemoveAll(b4.dir)
			os.MkdirAll(b4.dir, 0o755)
		}
		when := []string{"before", "during", "after"}[rng.Intn(3)]
		stats[when]++
		delay := time.Duration(rng.Intn(400)) * time.Millisecond
		down := time.Duration(rng.Intn(3000)) * time.Millisecond
		t.Logf("%s cycle %d/%d: kill -9 controller %d %s broker 4 registers (delay %v, down %v, empty dir %v); %d acknowledged",
			time.Now().UTC().Format("15:04:05.000"), cycle, cycles, ctl, when, delay, down, wipe, h.Acknowledged())
		switch when {
		case "before":
			c.kill9(ctl)
			time.Sleep(delay)
			c.spawn(b4)
		case "during":
			c.spawn(b4)
			time.Sleep(delay)
			c.kill9(ctl)
		case "after":
			c.spawn(b4)
			c.waitStarted(4)
			time.Sleep(delay)
			c.kill9(ctl)
		}
		time.Sleep(down)
		c.restart(ctl)
		c.waitStarted(4)
		start := time.Now()
		for id := int32(1); id <= 4; id++ {
			ok, why := false, ""
			deadline := time.Now().Add(30 * time.Second)
			for !ok && time.Now().Before(deadline) {
				ok, why = listsAll(c, id, 4)
				if !ok {
					time.Sleep(100 * time.Millisecond)
				}
			}
			if !ok {
				t.Logf("goroutines of broker %d:\n%s", id, dumpGoroutines(c, id))
				t.Fatalf("cycle %d: %s 30s after the restart of controller %d (%s broker 4 registered)", cycle, why, ctl, when)
			}
		}
		t.Logf("cycle %d: every broker lists brokers 1-4 %v after the restart", cycle, time.Since(start).Round(time.Millisecond))
		c.waitAcks(h, 200, 40*time.Second, fmt.Sprintf("after cycle %d", cycle))
	}
	ld.stop(t, 60*time.Second)
	c.readBack(h, topic, 120*time.Second)
	r := h.Check()
	t.Logf("CHAOS RESULT: cycles=%d (%v) acknowledged=%d lost=%d duplicated=%d reordered=%d misplaced=%d phantom=%d divergent=%d",
		cycles, stats, r.Acknowledged, r.Lost, r.Duplicated, r.Reordered, r.Misplaced, r.Phantom, r.Divergent)
	if !r.OK() {
		t.Fatalf("history check failed: %v", r)
	}
}

// dumpGoroutines makes broker id print every goroutine's stack (SIGQUIT;
// the process exits) and returns what it printed, for a failure's cause.
func dumpGoroutines(c *procCluster, id int32) string {
	cmd, exited := c.running(id)
	if cmd == nil {
		return "(not running)"
	}
	path := c.node(id).logPath
	before := int64(0)
	if st, err := os.Stat(path); err == nil {
		before = st.Size()
	}
	cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
	}
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < before {
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	return string(b[before:])
}
