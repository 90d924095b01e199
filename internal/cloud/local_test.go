package cloud

import (
	"context"
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
