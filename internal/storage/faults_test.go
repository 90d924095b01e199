package storage

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// A batch whose CRC fails in the middle of a sealed segment takes the log
// offline on read: the prefix before it is served, the bad batch never,
// every later read and append fails with ErrLogOffline, and Repair cuts the
// log before the damage and brings it back online.
func TestCorruptBatchTakesLogOfflineAndRepairCuts(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallSegments())
	ts := e.clk.Now().UnixMilli()
	appendN(t, l, 200, 3, ts)
	segs := l.Segments()
	if len(segs) < 4 {
		t.Fatalf("%d segments", len(segs))
	}
	mid := segs[1]
	// Flip a byte inside the third batch of the second segment (past its
	// CRC field, so the CRC check fails).
	data := plainFile(t, mid.Path)
	raw, err := os.ReadFile(mid.Path) // flipping a ciphertext bit flips the plaintext's
	if err != nil {
		t.Fatal(err)
	}
	pos := 0
	for i := 0; i < 2; i++ {
		n, err := batchSize(data[pos:])
		if err != nil {
			t.Fatal(err)
		}
		pos += n
	}
	bad := mid.BaseOffset + 6 // third batch of 3 records each
	f, err := os.OpenFile(mid.Path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{raw[pos+70] ^ 0x20}, int64(pos+70))
	f.Close()

	// Reads below the damage still work (the good prefix).
	if _, err := l.Read(0, l.EndOffset(), 1<<20, true); err != nil {
		t.Fatal(err)
	}
	o := mid.BaseOffset
	var readErr error
	for o < l.EndOffset() {
		res, err := l.Read(o, l.EndOffset(), 1<<20, true)
		if err != nil {
			readErr = err
			break
		}
		o = res.Next
	}
	if !errors.Is(readErr, ErrCorruptLog) || !errors.Is(readErr, ErrLogOffline) || o != bad {
		t.Fatalf("read stopped at %d with %v, want %d and a corrupt-log error", o, readErr, bad)
	}
	if l.Offline() == nil {
		t.Fatal("log not offline")
	}
	if _, err := l.Read(0, l.EndOffset(), 1<<20, true); !errors.Is(err, ErrLogOffline) {
		t.Fatalf("read of an offline log: %v", err)
	}
	if _, err := l.Append(mkBatch(t, l.EndOffset(), 1, 5, 0)); !errors.Is(err, ErrLogOffline) {
		t.Fatalf("append to an offline log: %v", err)
	}
	end, err := l.Repair()
	if err != nil {
		t.Fatal(err)
	}
	if end != bad || l.EndOffset() != bad || l.Offline() != nil {
		t.Fatalf("repaired end %d (log %d, offline %v), want %d", end, l.EndOffset(), l.Offline(), bad)
	}
	if n := len(l.Segments()); n != 2 {
		t.Fatalf("%d segments after repair, want 2", n)
	}
	checkContiguous(t, l, 0, bad)
	appendN(t, l, 5, 3, ts)
	checkContiguous(t, l, 0, bad+15)
	// The repair is durable: a crash and recovery keep the same log.
	e.crash()
	l = e.log(smallSegments())
	checkContiguous(t, l, 0, bad+15)
}

// A read error that is not corruption (here: the segment file was swapped
// for a directory) also takes the log offline.
func TestReadIOErrorTakesLogOffline(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallSegments())
	appendN(t, l, 50, 3, e.clk.Now().UnixMilli())
	s := l.segs[0]
	l.mu.Lock()
	good := s.f
	d, err := os.Open(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	s.f = &segFile{f: d} // reading a directory fails with EISDIR
	l.mu.Unlock()
	_, err = l.Read(0, l.EndOffset(), 1<<20, true)
	l.mu.Lock()
	s.f = good
	l.mu.Unlock()
	d.Close()
	if !errors.Is(err, ErrLogOffline) || !errors.Is(err, syscall.EISDIR) {
		t.Fatalf("read: %v", err)
	}
	if _, err := l.Repair(); err != nil || l.Offline() != nil {
		t.Fatalf("repair: %v, offline %v", err, l.Offline())
	}
	checkContiguous(t, l, 0, 150)
}

// Appends fail with ErrDiskFull while free space is below the reserve,
// without taking the log offline, and succeed again once space returns.
func TestDiskFullRefusesAppendsUntilSpaceReturns(t *testing.T) {
	e := newEnv(t)
	l := e.log(DefaultOptions())
	free := int64(1 << 20)
	e.m.space.min = 64 << 10
	e.m.space.statfs = func(string) (int64, int64, error) { return free, 1 << 30, nil }
	e.m.space.check()
	appendN(t, l, 3, 2, 1000)
	free = 10 << 10
	// The budget from the last check runs out within (1 MiB - 64 KiB) of
	// appends at the latest; here the next check sees the disk full.
	e.m.space.check()
	_, err := l.Append(mkBatch(t, l.EndOffset(), 2, 5, 0))
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("append on a full disk: %v", err)
	}
	if l.Offline() != nil || !e.m.DiskUsage().Full {
		t.Fatalf("offline %v, usage %+v", l.Offline(), e.m.DiskUsage())
	}
	free = 1 << 20
	if e.m.DiskUsage().Full {
		t.Fatal("still full after space returned")
	}
	appendN(t, l, 2, 2, 2000)
	checkContiguous(t, l, 0, 10)

	// ENOSPC from the write itself (the reserve was not enough) is
	// ErrDiskFull too.
	if err := l.writeErrLocked(&os.PathError{Op: "write", Path: l.dir, Err: syscall.ENOSPC}); !errors.Is(err, ErrDiskFull) || l.Offline() != nil {
		t.Fatalf("ENOSPC: %v (offline %v)", err, l.Offline())
	}
}

// The budget between free-space checks is enforced without waiting for the
// background check.
func TestDiskBudgetRechecksInline(t *testing.T) {
	e := newEnv(t)
	l := e.log(DefaultOptions())
	free := int64(2000)
	e.m.space.min = 1000
	e.m.space.statfs = func(string) (int64, int64, error) { return free, 1 << 30, nil }
	e.m.space.check()
	var n int
	for ; n < 100; n++ {
		b := mkBatch(t, l.EndOffset(), 1, 1000, 0)
		if _, err := l.Append(b); err != nil {
			if !errors.Is(err, ErrDiskFull) {
				t.Fatal(err)
			}
			break
		}
		free -= int64(len(b))
	}
	if n == 0 || n == 100 {
		t.Fatalf("%d appends before the reserve", n)
	}
	if free < 1000-200 {
		t.Fatalf("appends went %d bytes into the reserve", 1000-free)
	}
}

// Sync for offsets the log no longer has (it was truncated below them
// meanwhile, e.g. by a repair) returns once the rest is durable instead of
// fsyncing forever.
func TestSyncPastTruncatedEnd(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallSegments())
	appendN(t, l, 20, 3, e.clk.Now().UnixMilli())
	end := l.EndOffset()
	if err := l.TruncateTo(30); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Sync(end) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Sync past the truncated end did not return")
	}
}

// A write that fails with an I/O error (not lack of space) takes the log
// offline; Repair brings it back with what was written before.
func TestWriteErrorTakesLogOffline(t *testing.T) {
	e := newEnv(t)
	l := e.log(DefaultOptions())
	appendN(t, l, 5, 2, e.clk.Now().UnixMilli())
	act := l.segs[len(l.segs)-1]
	ro, err := os.Open(act.path) // read-only: writes fail with EBADF
	if err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	rw := act.f
	act.f = &segFile{f: ro}
	l.mu.Unlock()
	_, err = l.Append(mkBatch(t, l.EndOffset(), 2, 5, 0))
	l.mu.Lock()
	act.f = rw
	l.mu.Unlock()
	ro.Close()
	if !errors.Is(err, ErrLogOffline) || l.Offline() == nil {
		t.Fatalf("append with a failing write: %v (offline %v)", err, l.Offline())
	}
	if _, err := l.Repair(); err != nil {
		t.Fatal(err)
	}
	checkContiguous(t, l, 0, 10)
	appendN(t, l, 1, 2, e.clk.Now().UnixMilli())
	checkContiguous(t, l, 0, 12)
}

// A size budget (log.dir.max.bytes) makes the data dir a volume of that
// size: appends are refused with ErrDiskFull once the dir's files leave
// less than the reserve of the budget, whatever the real volume has free,
// and the log stays intact.
func TestDirSizeBudget(t *testing.T) {
	e := newEnv(t)
	l := e.log(DefaultOptions())
	used, err := dirBytes(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	limit := used + 256<<10
	e.m.space.min = 64 << 10
	e.m.space.statfs = budgetStatfs(func(string) (int64, int64, error) { return 1 << 40, 1 << 41, nil }, limit)
	e.m.space.check()
	if u := e.m.DiskUsage(); u.TotalBytes != limit || u.FreeBytes > limit-used || u.Full {
		t.Fatalf("usage %+v, want total %d, free at most %d", u, limit, limit-used)
	}
	var n int
	for ; n < 1000; n++ {
		if _, err := l.Append(mkBatch(t, l.EndOffset(), 300, e.clk.Now().UnixMilli(), 0)); err != nil {
			if !errors.Is(err, ErrDiskFull) {
				t.Fatal(err)
			}
			break
		}
		if n%20 == 0 {
			if err := l.Sync(l.EndOffset()); err != nil {
				t.Fatal(err)
			}
			e.m.space.check() // as the background check and DiskUsage do
		}
	}
	if n == 0 || n == 1000 {
		t.Fatalf("%d appends of ~3 KB within a budget of 256 KiB", n)
	}
	if l.Offline() != nil || !e.m.DiskUsage().Full {
		t.Fatalf("offline %v, usage %+v", l.Offline(), e.m.DiskUsage())
	}
	if got, _ := dirBytes(e.dir); got > limit {
		t.Errorf("the dir holds %d bytes, over its budget of %d", got, limit)
	}
	checkContiguous(t, l, 0, l.EndOffset())
}

// The manager counts its open logs that are offline (the replica fault
// loop skips its walk over every log while the count is 0): a log counts
// once however often it fails, and stops counting once repaired, closed
// or deleted; a closed log that fails again does not count.
func TestOfflineLogsCount(t *testing.T) {
	e := newEnv(t)
	a := e.log(DefaultOptions())
	b, err := e.m.Open("u", 0, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.m.Open("v", 0, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	want := func(n int64, when string) {
		t.Helper()
		if got := e.m.OfflineLogs(); got != n {
			t.Fatalf("%s: %d offline logs counted, want %d", when, got, n)
		}
	}
	want(0, "opened")
	a.MarkOffline(errors.New("test: a"))
	a.MarkOffline(errors.New("test: a again"))
	want(1, "a offline twice")
	b.MarkOffline(errors.New("test: b"))
	c.MarkOffline(errors.New("test: c"))
	want(3, "a, b and c offline")
	if _, err := a.Repair(); err != nil {
		t.Fatal(err)
	}
	want(2, "a repaired")
	if _, err := a.Repair(); err != nil { // an online log: checked, not counted
		t.Fatal(err)
	}
	want(2, "a repaired again")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	want(1, "b closed")
	if err := a.Close(); err != nil { // online when closed
		t.Fatal(err)
	}
	a.MarkOffline(errors.New("test: a after close"))
	want(1, "a failed after close")
	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
	want(0, "c deleted")
}
