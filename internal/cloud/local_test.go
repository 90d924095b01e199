package cloud

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHelperBroker stands in for a broker process in
// TestLocalAdoptsUnrecordedBroker: it only waits to be killed.
func TestHelperBroker(t *testing.T) {
	if os.Getenv("TRIB_TEST_HELPER_BROKER") != "1" {
		t.Skip("a helper process")
	}
	select {}
}

// A broker running without a pid file (its control plane was killed
// between starting it and writing the file) is found by its data dir:
// the next control plane does not start a second one, records it, and a
// stop stops it.
func TestLocalAdoptsUnrecordedBroker(t *testing.T) {
	dir := t.TempDir()
	n := Node{ClusterID: "c1", NodeID: 4, DataDir: dir}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBroker$", "--", "broker", "--node-id", "4", "--data-dir", filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "TRIB_TEST_HELPER_BROKER=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer cmd.Process.Kill()

	p, err := NewLocalProvisioner(LocalConfig{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.pid(n); got != cmd.Process.Pid {
		t.Fatalf("pid %d, want the unrecorded broker's %d", got, cmd.Process.Pid)
	}
	if b, err := os.ReadFile(pidPath(n)); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(cmd.Process.Pid) {
		t.Fatalf("pid file %q %v, want %d", b, err, cmd.Process.Pid)
	}
	if restarted, err := p.Ensure(context.Background(), Cluster{ID: "c1"}, n, nil); err != nil || restarted {
		t.Fatalf("Ensure with the broker running: restarted %v, %v", restarted, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Stop(ctx, n, false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the broker still runs after Stop")
	}
	if got := p.pid(n); got != 0 {
		t.Fatalf("pid %d after Stop, want 0", got)
	}
}

// Plan's ports are all distinct, free when planned, and below the kernel's
// ephemeral range (plannedPorts), where no outbound connection can take
// one between a node's starts.
func TestPlanPortsBelowEphemeralRange(t *testing.T) {
	p, err := NewLocalProvisioner(LocalConfig{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := plannedPorts()
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if first, _ := strconv.Atoi(f[0]); first > 11000 && hi != first-1 {
				t.Fatalf("planned range %d–%d, want it to end just below the ephemeral range's %d", lo, hi, first)
			}
		}
	}
	c := Cluster{ID: "c1"}
	first, err := p.Plan(context.Background(), c, []int32{1, 2, 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	more, err := p.Plan(context.Background(), c, []int32{4}, first)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, n := range append(first, more...) {
		for _, a := range []string{n.Listen, n.Controller, n.Admin, n.Metrics, n.MTLS} {
			_, ps, err := net.SplitHostPort(a)
			if err != nil {
				t.Fatal(err)
			}
			port, _ := strconv.Atoi(ps)
			if port < lo || port > hi {
				t.Errorf("node %d: port %d outside %d–%d", n.NodeID, port, lo, hi)
			}
			if seen[a] {
				t.Errorf("node %d: %s planned twice", n.NodeID, a)
			}
			seen[a] = true
		}
	}
	if len(seen) != 20 {
		t.Fatalf("%d distinct addresses for 4 nodes, want 20", len(seen))
	}
}
