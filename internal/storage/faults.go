package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Storage faults. A log that meets corrupt data on read (a batch failing
// its CRC, a torn or unreadable batch below the log end) or an I/O error
// goes offline, as Kafka takes a failed log dir's replicas offline: every
// later read and append fails with ErrLogOffline until Repair succeeds. A
// full disk is not a fault of the log: appends fail with ErrDiskFull while
// the data dir has less than the reserve free, and succeed again by
// themselves once space returns.
var (
	ErrLogOffline = errors.New("log is offline after a storage error")
	ErrDiskFull   = errors.New("log dir is out of space")
)

// Offline returns why the log is offline, or nil.
func (l *Log) Offline() error {
	if !l.offlineA.Load() {
		return nil // the fault loop asks every log often: no lock
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.offline
}

// offlineErr is the error every operation on an offline log returns.
// Called with mu held.
func (l *Log) offlineErr() error {
	return fmt.Errorf("%w: %s: %w", ErrLogOffline, l.dir, l.offline)
}

// fail takes the log offline because of err (the first cause is kept) and
// returns the error the failed operation reports. Called with mu held for
// writing.
func (l *Log) failLocked(err error) error {
	if l.offline == nil {
		l.offline = err
		l.offlineA.Store(true)
		if !l.closed {
			l.mgr.offlineLogs.Add(1)
		}
		l.logger.Error("log offline after a storage error; the replica stops serving it until repaired",
			"dir", l.dir, "err", err)
	}
	return l.offlineErr()
}

// MarkOffline takes the log offline because of err, e.g. a replica that
// could not rebuild its state from the log.
func (l *Log) MarkOffline(err error) { l.fail(err) }

func (l *Log) fail(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failLocked(err)
}

// writeErr classifies a failed write: out of space is ErrDiskFull (the log
// stays online), anything else takes the log offline. Called with mu held
// for writing.
func (l *Log) writeErrLocked(err error) error {
	switch {
	case isNoSpace(err):
		return l.mgr.space.noSpace(err)
	case errors.Is(err, os.ErrClosed):
		// A file closed under us: its segment was replaced (cleaner,
		// retention, truncation) while we used it; not a fault.
		return err
	}
	return l.failLocked(err)
}

func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// Repair brings an offline log back: it re-reads every segment, checking
// each batch as recovery after a crash does, truncates the log before the
// first invalid batch (deleting later segments), rebuilds the indexes, and
// puts the log back online. It returns the new log end offset: a replica
// re-fetches what was cut from its leader. An online log is checked the
// same way.
func (l *Log) Repair() (int64, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.smu.Lock()
	for l.syncing {
		l.scond.Wait()
	}
	defer l.smu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	prevLast := int64(-1)
	cut := -1
	for i, s := range l.segs {
		res, err := s.recoverFrom(prevLast, l.opts.IndexIntervalBytes, nil)
		if err != nil {
			return 0, l.failLocked(err)
		}
		if res.droppedBytes > 0 {
			l.logger.Warn("repair: truncating the log at invalid data", "dir", l.dir, "segment", s.path,
				"valid_bytes", res.validBytes, "dropped_bytes", res.droppedBytes, "reason", res.reason, "log_end_offset", s.next)
			cut = i
			break
		}
		prevLast = s.next - 1
	}
	if cut >= 0 {
		for _, s := range l.segs[cut+1:] {
			if err := s.remove(); err != nil {
				return 0, l.failLocked(err)
			}
		}
		l.segs = l.segs[:cut+1]
		l.pending = nil
	}
	act := l.segs[len(l.segs)-1]
	if act.size < act.checkedFrom.Load() {
		act.checkedFrom.Store(act.size) // what follows is appended anew
	}
	l.end = act.next
	if act.size == 0 && act.base > l.end {
		l.end = act.base
	}
	l.start = min(l.start, l.end)
	l.publishBounds()
	if err := l.afterTruncateLocked(act); err != nil {
		return 0, l.failLocked(err)
	}
	if l.offline != nil {
		l.logger.Warn("log repaired and back online", "dir", l.dir, "log_end_offset", l.end, "cause", l.offline)
		l.mgr.offlineLogs.Add(-1)
	}
	l.offline = nil
	l.offlineA.Store(false)
	return l.end, nil
}

// diskSpace watches the free space of the data dir and refuses appends
// while it is below the reserve (log.dir.min.free.bytes), so the metadata
// quorum's log in the same data dir can still write.
//
// Concurrency: budget and full are read on every append without a lock;
// mu serializes statfs refreshes and the state-change log lines.
type diskSpace struct {
	dir     string
	min     int64
	logger  *slog.Logger
	statfs  func(dir string) (free, total int64, err error)
	budget  atomic.Int64 // bytes appends may still write before the reserve
	full    atomic.Bool
	mu      sync.Mutex
	free    int64
	total   int64
	lastErr time.Time
}

func realStatfs(dir string) (free, total int64, err error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return 0, 0, err
	}
	return int64(fs.Bavail) * int64(fs.Bsize), int64(fs.Blocks) * int64(fs.Bsize), nil
}

// budgetStatfs limits statfs to a size budget of limit bytes (none when
// limit is not positive): the dir is a volume of limit bytes whose used space is
// the blocks its files occupy. Walking the dir happens only when the
// append budget from the last look is spent, or on a DiskUsage call.
func budgetStatfs(statfs func(string) (int64, int64, error), limit int64) func(string) (int64, int64, error) {
	if limit <= 0 {
		return statfs
	}
	return func(dir string) (int64, int64, error) {
		free, _, err := statfs(dir)
		if err != nil {
			return 0, 0, err
		}
		used, err := dirBytes(dir)
		if err != nil {
			return 0, 0, err
		}
		return min(free, max(0, limit-used)), limit, nil
	}
}

// dirBytes is the space the files under dir occupy on disk.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked (a deleted segment)
			}
			return err
		}
		if e.IsDir() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// admit reserves n bytes for an append, or fails with ErrDiskFull.
func (d *diskSpace) admit(n int) error {
	if d.full.Load() {
		return d.fullErr()
	}
	if d.budget.Add(-int64(n)) >= 0 {
		return nil
	}
	// The budget from the last check is spent: look again.
	if d.check() {
		return d.fullErr()
	}
	d.budget.Add(-int64(n))
	return nil
}

// check refreshes the free space and reports whether writes are refused.
func (d *diskSpace) check() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	free, total, err := d.statfs(d.dir)
	if err != nil {
		return d.full.Load()
	}
	d.free, d.total = free, total
	d.budget.Store(free - d.min)
	full := free < d.min
	was := d.full.Swap(full)
	switch {
	case full && !was:
		d.lastErr = time.Now()
		d.logger.Error("log dir is full: refusing writes (KAFKA_STORAGE_ERROR) until space is freed",
			"path", d.dir, "free_bytes", free, "total_bytes", total, "min_free_bytes", d.min)
	case full && time.Since(d.lastErr) >= 30*time.Second:
		d.lastErr = time.Now()
		d.logger.Error("log dir is still full: refusing writes", "path", d.dir, "free_bytes", free, "min_free_bytes", d.min)
	case !full && was:
		d.logger.Info("log dir has free space again: writes resume", "path", d.dir, "free_bytes", free, "min_free_bytes", d.min)
	}
	return full
}

// noSpace records a write that failed for lack of space (the reserve was
// not enough, or another process filled the disk) and returns ErrDiskFull.
func (d *diskSpace) noSpace(cause error) error {
	d.mu.Lock()
	d.budget.Store(0)
	if !d.full.Swap(true) {
		d.lastErr = time.Now()
		free, total, _ := d.statfs(d.dir)
		d.free, d.total = free, total
		d.logger.Error("log dir is full: a write failed; refusing writes (KAFKA_STORAGE_ERROR) until space is freed",
			"path", d.dir, "free_bytes", free, "total_bytes", total, "min_free_bytes", d.min, "err", cause)
	}
	d.mu.Unlock()
	return d.fullErr()
}

func (d *diskSpace) fullErr() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fmt.Errorf("%w: %s has %d bytes free (log.dir.min.free.bytes=%d)", ErrDiskFull, d.dir, d.free, d.min)
}

// DiskUsage describes the data dir's volume as the manager last saw it.
type DiskUsage struct {
	Path         string
	FreeBytes    int64
	TotalBytes   int64
	MinFreeBytes int64 // the reserve: appends are refused below it
	// Full is set while appends are refused for lack of space.
	Full bool
}

// DiskUsage returns the data dir's free space and whether appends are
// refused for lack of it.
func (m *Manager) DiskUsage() DiskUsage {
	d := m.space
	full := d.check()
	d.mu.Lock()
	defer d.mu.Unlock()
	return DiskUsage{Path: d.dir, FreeBytes: d.free, TotalBytes: d.total, MinFreeBytes: d.min, Full: full}
}
