package storage

import (
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tributary/tributary/internal/safe"
)

// EnforceRetention deletes whole segments from the front of the log, never
// the active one: those wholly below the log start offset, and, when
// cleanup.policy has delete, those wholly below the deletion limit
// (SetCleanupLimits: the high watermark) that are older than retention.ms
// (by their largest timestamp) or beyond retention.bytes. The log start offset moves
// to the first remaining segment and is checkpointed. Deleted files are
// renamed *.deleted and removed after file.delete.delay.ms, so reads in
// flight finish. It returns the number of segments deleted.
func (l *Log) EnforceRetention(now time.Time) (int, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	o := l.opts
	var total int64
	for _, s := range l.segs {
		total += s.size
	}
	n := 0
	var reasons []string
	for n < len(l.segs)-1 {
		s, next := l.segs[n], l.segs[n+1]
		ts := s.maxTs
		if ts < 0 {
			if st, err := s.f.Stat(); err == nil {
				ts = st.ModTime().UnixMilli()
			}
		}
		var reason string
		switch {
		case next.base <= l.start:
			reason = "log start offset"
		case next.base > l.deleteLimit.Load():
			// Holds records not yet below the high watermark.
		case o.Delete && o.RetentionMs >= 0 && now.UnixMilli()-ts > o.RetentionMs:
			reason = "retention.ms"
		case o.Delete && o.RetentionBytes >= 0 && total-s.size >= o.RetentionBytes:
			reason = "retention.bytes"
		}
		if reason == "" {
			break
		}
		reasons = append(reasons, reason)
		total -= s.size
		n++
	}
	if n == 0 {
		l.mu.Unlock()
		return 0, nil
	}
	gone := l.segs[:n]
	l.segs = slices.Clone(l.segs[n:])
	l.pending = slices.DeleteFunc(l.pending, func(s *segment) bool { return slices.Contains(gone, s) })
	moved := l.segs[0].base > l.start
	if moved {
		l.start = l.segs[0].base
		l.publishBounds()
		l.truncateEpochsFromStart()
	}
	start := l.start
	l.mu.Unlock()

	for i, s := range gone {
		l.logger.Info("deleting segment", "dir", l.dir, "segment", filepath.Base(s.path), "reason", reasons[i], "log_start_offset", start)
		l.retire(s, o.FileDeleteDelayMs)
	}
	syncDir(l.dir)
	if moved {
		return n, l.mgr.writeStartCheckpoint()
	}
	return n, nil
}

// retire renames a segment's files to *.deleted and closes and removes them
// after delayMs.
func (l *Log) retire(s *segment, delayMs int64) {
	if err := s.renameAll(".deleted"); err != nil && !os.IsNotExist(err) {
		l.logger.Error("renaming deleted segment", "segment", s.path, "err", err)
	}
	if delayMs <= 0 {
		s.remove()
		return
	}
	time.AfterFunc(time.Duration(delayMs)*time.Millisecond, safe.Func(l.logger, "remove-deleted-segment", func() { s.remove() }))
}
