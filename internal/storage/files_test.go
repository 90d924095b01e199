package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Many logs under a small descriptor limit: every append, read, roll,
// retention pass and restart works, and no more than the limit of
// descriptors stays open once nothing is in use (dirty ones are fsynced
// by the closer first, so Sync still covers them).
func TestManyLogsUnderOpenFileLimit(t *testing.T) {
	dir := t.TempDir()
	const limit = minOpenFiles
	open := func() *Manager {
		m, err := OpenManager(ManagerConfig{Dir: dir, Logger: quiet, MaxOpenFiles: limit,
			FlushCheckInterval: -1, RetentionCheckInterval: -1, CheckpointInterval: -1, CleanerInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := open()
	const n = 40 // 40 logs × 3 files, well above the limit
	logs := make([]*Log, n)
	for i := range logs {
		l, err := m.Open("t", int32(i), smallSegments())
		if err != nil {
			t.Fatal(err)
		}
		logs[i] = l
	}
	for round := 0; round < 3; round++ {
		for _, l := range logs {
			appendN(t, l, 30, 3, time.Now().UnixMilli())
		}
	}
	waitOpen(t, m, limit)
	for i, l := range logs {
		if len(l.Segments()) < 2 {
			t.Fatalf("log %d did not roll: %v", i, l.Segments())
		}
		checkContiguous(t, l, 0, 270)
		if err := l.Sync(l.EndOffset()); err != nil {
			t.Fatal(err)
		}
	}
	waitOpen(t, m, limit)
	if opened := m.files.opens.Load(); opened <= int64(3*n) {
		t.Fatalf("only %d opens: descriptors were not closed and reopened", opened)
	}
	// Retention deletes segments whose descriptors may be closed.
	for _, l := range logs[:5] {
		if _, err := l.AdvanceStart(200); err != nil {
			t.Fatal(err)
		}
		if _, err := l.EnforceRetention(time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if o := m.files.Open(); o != 0 {
		t.Fatalf("%d descriptors open after Close", o)
	}
	m = open()
	defer m.Close()
	for i := range logs {
		l, err := m.Open("t", int32(i), smallSegments())
		if err != nil {
			t.Fatal(err)
		}
		if l.EndOffset() != 270 {
			t.Fatalf("log %d: end %d after restart", i, l.EndOffset())
		}
		if i >= 5 {
			checkContiguous(t, l, 0, 270)
		}
	}
	waitOpen(t, m, limit)
}

// waitOpen waits until at most limit descriptors are open (the closer
// fsyncs dirty ones in the background).
func waitOpen(t *testing.T, m *Manager, limit int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, _ := m.OpenFiles()
		if o <= limit {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d segment files open, limit %d", o, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A retired file is never reopened (its path may name the cleaner's new
// file); a descriptor still open stays usable until closed, and a file
// closed while in use is closed by its last user.
func TestSegFileRetireAndClose(t *testing.T) {
	c := newFileCache(minOpenFiles, quiet)
	defer c.close()
	path := filepath.Join(t.TempDir(), "f")
	lf, err := openCachedSegFile(c, path, os.O_RDWR|os.O_CREATE, nil, kindLog)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lf.WriteAt([]byte("abc"), 0); err != nil {
		t.Fatal(err)
	}
	f, err := lf.acquire()
	if err != nil {
		t.Fatal(err)
	}
	lf.retire()
	if err := lf.Close(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "abc" {
		t.Fatalf("read while in use after Close: %q %v", buf, err)
	}
	lf.release(false)
	if c.Open() != 0 {
		t.Fatalf("%d open after the last release", c.Open())
	}
	if _, err := lf.ReadAt(buf, 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}

	lf2, err := openCachedSegFile(c, path, os.O_RDWR, nil, kindLog)
	if err != nil {
		t.Fatal(err)
	}
	lf2.retire()
	lf2.cache.mu.Lock()
	lf2.cache.lru.remove(lf2)
	victim := lf2.f
	lf2.f = nil
	lf2.cache.open--
	lf2.cache.mu.Unlock()
	victim.Close() // as an eviction would
	if _, err := lf2.ReadAt(buf, 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read of an evicted retired file: %v", err)
	}
}

// The cache closes the least recently used idle descriptor first, and
// using a file (acquire, release: once per append on the active segment)
// allocates nothing.
func TestFileCacheLeastRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	c := newFileCache(minOpenFiles, quiet)
	defer c.close()
	files := make([]*segFile, minOpenFiles)
	for i := range files {
		f, err := openCachedSegFile(c, filepath.Join(dir, fmt.Sprintf("%02d.log", i)), os.O_RDWR|os.O_CREATE, nil, kindLog)
		if err != nil {
			t.Fatal(err)
		}
		files[i] = f
	}
	use := func(f *segFile) {
		if _, err := f.acquire(); err != nil {
			t.Fatal(err)
		}
		f.release(false)
	}
	// Least recently used now: 1, 3, 4, ..., 15, 0, 2 (0 and 2 used last,
	// 2 twice, so also in the middle of the list).
	use(files[2])
	use(files[0])
	use(files[2])
	if allocs := testing.AllocsPerRun(100, func() { use(files[5]) }); allocs != 0 {
		t.Fatalf("acquire and release allocate %.1f times", allocs)
	}
	// Order now: 1, 3, 4, 6, ..., 15, 0, 2, 5. Each new file closes the
	// oldest idle one.
	closedOrder := []int{1, 3, 4, 6}
	for n, want := range closedOrder {
		f, err := openCachedSegFile(c, filepath.Join(dir, fmt.Sprintf("new%d.log", n)), os.O_RDWR|os.O_CREATE, nil, kindLog)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		c.mu.Lock()
		var open []int
		for i, f := range files {
			if f.f != nil {
				open = append(open, i)
			}
		}
		c.mu.Unlock()
		if len(open) != minOpenFiles-n-1 || slices.Contains(open, want) {
			t.Fatalf("after new file %d open: %v; want %d closed (closed so far %v)", n, open, want, closedOrder[:n+1])
		}
	}
	for _, f := range files {
		f.Close()
	}
	if o := c.Open(); o != len(closedOrder) {
		t.Fatalf("%d open, want %d", o, len(closedOrder))
	}
}
