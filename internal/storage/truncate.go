package storage

import (
	"errors"
	"fmt"
	"path/filepath"
)

// TruncateTo removes every batch whose last offset is >= offset (a
// follower's divergent tail, KIP-101): the batch holding offset goes too, so
// the new end may be below offset. Whole segments above the cut are deleted,
// the cut segment's .log is truncated and its indexes rebuilt, the leader
// epoch cache loses entries at or above the new end, and the change is
// fsynced before returning. An offset at or below the log start empties the
// log and restarts it at offset.
func (l *Log) TruncateTo(offset int64) error {
	l.smu.Lock()
	for l.syncing {
		l.scond.Wait()
	}
	l.mu.Lock()
	if offset <= l.start && offset < l.end && !l.closed {
		err := l.resetLocked(max(offset, 0))
		l.mu.Unlock()
		l.smu.Unlock()
		if err != nil {
			return err
		}
		return l.mgr.writeStartCheckpoint()
	}
	defer l.smu.Unlock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if offset >= l.end {
		return nil
	}
	// Drop segments that start at or above the cut (keeping the first).
	for len(l.segs) > 1 && l.segs[len(l.segs)-1].base >= offset {
		s := l.segs[len(l.segs)-1]
		l.segs = l.segs[:len(l.segs)-1]
		if err := s.remove(); err != nil {
			return err
		}
	}
	l.pending = nil
	act := l.segs[len(l.segs)-1]
	pos, ok, err := act.find(offset, act.size, act.idx.written())
	if err != nil {
		return err
	}
	if ok {
		if err := act.f.Truncate(pos); err != nil {
			return err
		}
		act.cut = pos < act.size
	}
	prevLast := act.base - 1
	if _, err := act.recoverFrom(prevLast, l.opts.IndexIntervalBytes, nil); err != nil {
		return err
	}
	if act.size < act.checkedFrom.Load() {
		act.checkedFrom.Store(act.size) // what follows is appended anew
	}
	l.end = act.next
	if act.size == 0 && act.base > l.end {
		l.end = act.base
	}
	l.publishBounds()
	return l.afterTruncateLocked(act)
}

// resetLocked empties the log and restarts it at offset (Kafka's
// truncateFullyAndStartAt). Called with smu and mu held; the caller writes
// the log start checkpoint after releasing them.
func (l *Log) resetLocked(offset int64) error {
	for _, s := range l.segs {
		if err := s.remove(); err != nil {
			return err
		}
	}
	s, err := openSegment(l.mgr.files, l.dir, offset, true, l.keys())
	if err != nil {
		return err
	}
	l.segs = []*segment{s}
	l.pending = nil
	l.start, l.end = offset, offset
	l.publishBounds()
	l.epochs = nil
	if err := writeEpochCheckpoint(filepath.Join(l.dir, leaderEpochFile), l.epochs); err != nil {
		return err
	}
	return l.afterTruncateLocked(s)
}

// ResetTo empties the log and restarts it at offset, for a follower whose
// log lies wholly below the leader's log start.
func (l *Log) ResetTo(offset int64) error {
	l.smu.Lock()
	for l.syncing {
		l.scond.Wait()
	}
	l.mu.Lock()
	err := ErrClosed
	if !l.closed {
		err = l.resetLocked(offset)
	}
	l.mu.Unlock()
	l.smu.Unlock()
	if err != nil {
		return err
	}
	return l.mgr.writeStartCheckpoint()
}

// afterTruncateLocked fixes derived state after the tail moved down and
// makes the cut durable. Called with smu and mu held.
func (l *Log) afterTruncateLocked(act *segment) error {
	changed := false
	for len(l.epochs) > 0 && l.epochs[len(l.epochs)-1].StartOffset >= l.end {
		l.epochs = l.epochs[:len(l.epochs)-1]
		changed = true
	}
	if changed {
		if err := writeEpochCheckpoint(filepath.Join(l.dir, leaderEpochFile), l.epochs); err != nil {
			return err
		}
	}
	if err := act.truncateTxnIndex(l.end); err != nil {
		return err
	}
	l.durable = min(l.durable, l.end)
	l.recoveryPoint = min(l.recoveryPoint, l.end)
	l.unflushed = 0
	err := errors.Join(act.f.Sync(), act.idx.f.Sync(), act.tidx.f.Sync())
	syncDir(l.dir)
	if err != nil {
		return fmt.Errorf("fsync after truncation: %w", err)
	}
	l.durable = l.end
	l.logger.Info("log truncated", "dir", l.dir, "log_end_offset", l.end)
	return nil
}
