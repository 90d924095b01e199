package tests

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds the trib binary built for this test run (see tribBinary).
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "trib-tests-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// builtBinary is a program built once per test run.
type builtBinary struct {
	once sync.Once
	err  error
}

var tribBuild builtBinary

// tribBinary builds ./cmd/trib once per test run and returns its path.
func tribBinary(t testing.TB) string {
	return buildBinary(t, &tribBuild, "trib", "", nil, "github.com/tributary/tributary/cmd/trib")
}

// buildBinary runs `go build -o binDir/name pkg` in dir (the tests
// directory when empty) with env added, once per test run, and returns
// the binary's path.
func buildBinary(t testing.TB, b *builtBinary, name, dir string, env []string, pkg string) string {
	t.Helper()
	path := filepath.Join(binDir, name)
	b.once.Do(func() {
		cmd := exec.Command("go", "build", "-o", path, pkg)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", name, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return path
}

// tribProcess is a `trib dev` process.
type tribProcess struct {
	Addr   string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

// startTribProcess runs `trib dev` as a separate process on a free loopback
// port with data in dir (a temp dir if empty) and waits for its bootstrap
// banner. It is stopped with SIGTERM when the test ends.
func startTribProcess(t testing.TB, dir string, args ...string) *tribProcess {
	t.Helper()
	return startTribProcessLimited(t, dir, 0, args...)
}

// startTribProcessLimited is startTribProcess with the process's
// descriptor limit (RLIMIT_NOFILE, soft and hard) set to nofile by `sh -c
// 'ulimit -n'` before it execs trib; 0 keeps the test's limit.
func startTribProcessLimited(t testing.TB, dir string, nofile int, args ...string) *tribProcess {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	argv := append([]string{"dev", "--data-dir", dir, "--listen", "127.0.0.1:0"}, args...)
	cmd := exec.Command(tribBinary(t), argv...)
	if nofile > 0 {
		cmd = exec.Command("sh", append([]string{"-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, nofile), tribBinary(t)}, argv...)...)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &tribProcess{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = &lockedWriter{w: p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "Tributary is running. Bootstrap server: "); ok {
				addrc <- strings.TrimSpace(a)
			}
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	select {
	case p.Addr = <-addrc:
	case err := <-p.done:
		t.Fatalf("trib dev exited before serving: %v\n%s", err, p.stderr)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("trib dev printed no bootstrap address within 30s\n%s", p.stderr)
	}
	t.Cleanup(func() { p.Stop(t) })
	return p
}

// Stop sends SIGTERM and waits for a clean exit (status 0). Idempotent.
func (p *tribProcess) Stop(t testing.TB) {
	t.Helper()
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("trib dev did not exit cleanly on SIGTERM: %v\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Errorf("trib dev did not stop within 30s of SIGTERM")
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// runCmd runs name with args (stdin from in), failing the test on timeout.
// It returns stdout, stderr and the exit error.
func runCmd(t testing.TB, timeout time.Duration, in string, env []string, name string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(in)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out after %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), timeout, tail(stdout.String()), tail(stderr.String()))
	}
	return stdout.String(), stderr.String(), err
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

// keyedRecord is one consumed record of a keyed-order check.
type keyedRecord struct {
	Partition int32
	Offset    int64
	Key       string
	Value     string
}

// keyedLines returns n "KEY:VALUE" lines over keys distinct keys; each value
// is "KEY-SEQ" with SEQ counting per key from 0.
func keyedLines(n, keys int) []string {
	seq := make([]int, keys)
	lines := make([]string, n)
	for i := range lines {
		k := i % keys
		lines[i] = fmt.Sprintf("key%d:key%d-%d", k, k, seq[k])
		seq[k]++
	}
	return lines
}

// checkKeyedOrder verifies records produced from keyedLines(n, keys): every
// line read back exactly once, each key in exactly one partition, and each
// key's values in produce order by offset.
func checkKeyedOrder(t testing.TB, recs []keyedRecord, n, keys int) {
	t.Helper()
	if len(recs) != n {
		t.Errorf("read %d records, want %d", len(recs), n)
	}
	sort.Slice(recs, func(i, j int) bool {
		if recs[i].Partition != recs[j].Partition {
			return recs[i].Partition < recs[j].Partition
		}
		return recs[i].Offset < recs[j].Offset
	})
	partOf := map[string]int32{}
	next := map[string]int{}
	parts := map[int32]bool{}
	for i, r := range recs {
		if i > 0 && recs[i-1].Partition == r.Partition && recs[i-1].Offset == r.Offset {
			t.Fatalf("offset %d of partition %d read twice", r.Offset, r.Partition)
		}
		parts[r.Partition] = true
		if p, ok := partOf[r.Key]; ok && p != r.Partition {
			t.Fatalf("key %q found in partitions %d and %d", r.Key, p, r.Partition)
		}
		partOf[r.Key] = r.Partition
		k, s, ok := strings.Cut(r.Value, "-")
		seq, err := strconv.Atoi(s)
		if !ok || err != nil || k != r.Key {
			t.Fatalf("record %+v: value does not match key", r)
		}
		if seq != next[r.Key] {
			t.Fatalf("key %q: got seq %d at %d/%d, want %d (order broken or record lost/duplicated)", r.Key, seq, r.Partition, r.Offset, next[r.Key])
		}
		next[r.Key]++
	}
	if len(partOf) != keys {
		t.Errorf("saw %d keys, want %d", len(partOf), keys)
	}
	t.Logf("%d records, %d keys over %d partitions", len(recs), len(partOf), len(parts))
}
