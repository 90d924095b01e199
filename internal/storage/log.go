// Package storage is the partition log in Kafka's on-disk layout:
// <data-dir>/<topic>-<partition>/ holds segments named by their 20-digit
// base offset, each a .log of record batches (v2, as received, offsets
// assigned) with a sparse .index (offset → position) and a .timeindex
// (timestamp → offset), plus leader-epoch-checkpoint. The data dir holds
// recovery-point-offset-checkpoint and log-start-offset-checkpoint for all
// partitions (see Manager). Nothing per batch is kept in memory.
//
// Concurrency: Log.mu guards the segment list, offsets, options and the
// active segment's counters. Appends hold it for writing while they write
// the file; readers hold it for reading only to snapshot a segment and its
// size, then read the file without it (bytes below a published size never
// change; segments leave the list by a new slice, so a snapshot stays
// usable, and their files are closed only after file.delete.delay.ms).
// smu guards group-commit state (syncing, durable, recoveryPoint); it is
// never taken while holding mu, mu may be taken while holding smu.
package storage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary/tributary/internal/record"
	"github.com/tributary/tributary/internal/safe"
)

// Errors callers map to wire codes.
var (
	ErrOffsetOutOfRange = errors.New("offset out of range")
	ErrClosed           = errors.New("log is closed")
	ErrBadOffset        = errors.New("batch base offset does not follow the log end")
)

// Log is one partition's log.
type Log struct {
	dir    string
	tp     TopicPartition
	logger *slog.Logger
	mgr    *Manager

	// startA and endA mirror start and end for readers that take no lock
	// (StartOffset, EndOffset): stored under mu by publishBounds after
	// every change of either.
	startA, endA atomic.Int64
	// deleteLimit and cleanLimit bound retention and the cleaner
	// (SetCleanupLimits); MaxInt64 until set.
	deleteLimit, cleanLimit atomic.Int64
	// offlineA mirrors offline != nil (stored under mu) for Offline's
	// lock-free fast path.
	offlineA atomic.Bool
	// wbPending: wb holds a hint (set under mu), so StartWriteback takes
	// no lock when there is none.
	wbPending atomic.Bool

	mu         sync.RWMutex
	opts       Options
	segs       []*segment // by base offset; the last is active
	start      int64      // log start offset
	end        int64      // log end offset: the next offset to assign
	closed     bool
	offline    error // why the log is offline (faults.go); nil when online
	epochs     []EpochEntry
	pending    []*segment // rolled segments whose files may not be fsynced
	dirDirty   bool       // files were created in dir since the last fsync
	unflushed  int64      // records appended since the last fsync
	lastFlush  time.Time
	flushing   bool // a background flush is queued or running
	lastClean  time.Time
	firstDirty int64     // compaction: offsets below were cleaned (cleaner checkpoint)
	wb         writeback // a writeback hint for StartWriteback; zero if none

	// cleanMu serializes the cleaner and retention (both replace segments).
	cleanMu sync.Mutex

	smu           sync.Mutex
	scond         *sync.Cond
	syncing       bool
	durable       int64 // every offset below is fsynced (the .log bytes)
	recoveryPoint int64 // every segment below is fsynced with its indexes
}

// Open opens a standalone log in dir (named <topic>-<partition>) with
// default options. Its checkpoints live in dir's parent, as in a data dir;
// use one Manager instead when a data dir holds many logs.
func Open(dir string, logger *slog.Logger) (*Log, error) {
	m, err := OpenManager(ManagerConfig{Dir: filepath.Dir(dir), Logger: logger, private: true})
	if err != nil {
		return nil, err
	}
	tp, ok := parseDirName(filepath.Base(dir))
	if !ok {
		tp = TopicPartition{Topic: filepath.Base(dir)}
	}
	l, err := m.openDir(dir, tp, DefaultOptions())
	if err != nil {
		m.Close()
		return nil, err
	}
	return l, nil
}

// load opens the segments in l.dir and recovers those at or after
// recoveryPoint (all of them when recoveryPoint is 0; none if clean).
func (l *Log) load(recoveryPoint, startCheckpoint int64, clean bool) error {
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	rebuild := map[int64]bool{}
	var bases []int64
	for _, e := range ents {
		name := e.Name()
		base, err := strconv.ParseInt(strings.SplitN(name, ".", 2)[0], 10, 64)
		baseOK := err == nil && len(name) > 20 && name[20] == '.'
		switch {
		case strings.HasSuffix(name, ".deleted"), strings.HasSuffix(name, ".tmp"):
			os.Remove(filepath.Join(l.dir, name))
		case strings.HasSuffix(name, keyFileExt+".swap") && baseOK:
			// A cleaned segment's key file (cleaner.go swap): its
			// segment's, if that swap reached its commit point.
			if _, err := os.Stat(filepath.Join(l.dir, SegmentName(base, ".log.swap"))); err == nil {
				if err := os.Rename(filepath.Join(l.dir, name), keyPath(l.dir, base)); err != nil {
					return err
				}
			} else {
				os.Remove(filepath.Join(l.dir, name))
			}
		case strings.HasSuffix(name, ".log.swap") && baseOK:
			// A cleaned segment whose swap began: complete it.
			if err := os.Rename(filepath.Join(l.dir, name), filepath.Join(l.dir, SegmentName(base, ".log"))); err != nil {
				return err
			}
			rebuild[base] = true
			bases = append(bases, base)
		case (strings.HasSuffix(name, ".cleaned") || strings.HasSuffix(name, ".swap")) && baseOK:
			os.Remove(filepath.Join(l.dir, name))
			rebuild[base] = true
		case strings.HasSuffix(name, ".log") && baseOK && len(name) == 24:
			bases = append(bases, base)
		}
	}
	slices.Sort(bases)
	bases = slices.Compact(bases)
	// Index and key files without a .log are leftovers.
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".index") || strings.HasSuffix(name, ".timeindex") || strings.HasSuffix(name, ".txnindex") || strings.HasSuffix(name, keyFileExt) {
			base, err := strconv.ParseInt(strings.SplitN(name, ".", 2)[0], 10, 64)
			if err == nil && !slices.Contains(bases, base) {
				os.Remove(filepath.Join(l.dir, name))
			}
		}
	}
	if es, err := readEpochCheckpoint(filepath.Join(l.dir, leaderEpochFile)); err != nil {
		l.logger.Warn("ignoring unreadable leader epoch checkpoint", "dir", l.dir, "err", err)
	} else {
		l.epochs = es
	}
	epochsChanged := false
	onBatch := func(b record.Batch) {
		if e := b.PartitionLeaderEpoch(); e >= 0 && (len(l.epochs) == 0 || e > l.epochs[len(l.epochs)-1].Epoch) {
			l.epochs = append(l.epochs, EpochEntry{Epoch: e, StartOffset: b.BaseOffset()})
			epochsChanged = true
		}
	}
	prevLast := int64(-1)
	rewrapped := 0
	for i, base := range bases {
		s, err := openSegment(l.mgr.files, l.dir, base, false, l.keys())
		if err != nil {
			l.closeSegs()
			return err
		}
		l.segs = append(l.segs, s)
		if s.rewrapped {
			rewrapped++
		}
		nextBase := int64(-1)
		if i+1 < len(bases) {
			nextBase = bases[i+1]
		}
		trusted := !rebuild[base] && (clean || nextBase >= 0 && nextBase <= recoveryPoint)
		if trusted {
			if err := s.load(nextBase); err == nil {
				prevLast = s.next - 1
				continue
			} else {
				l.logger.Warn("rebuilding segment indexes", "dir", l.dir, "segment", filepath.Base(s.path), "err", err)
			}
		}
		res, err := s.recoverFrom(prevLast, l.opts.IndexIntervalBytes, onBatch)
		if err != nil {
			l.closeSegs()
			return err
		}
		// The active segment's indexes need no fsync: the recovery point
		// stays at its base until it is rolled, and a roll fsyncs them.
		err = s.f.Sync()
		if nextBase >= 0 {
			err = errors.Join(err, s.idx.f.Sync(), s.tidx.f.Sync())
		}
		if err != nil {
			l.closeSegs()
			return err
		}
		if res.droppedBytes > 0 || (nextBase >= 0 && s.next > nextBase) {
			l.logger.Warn("truncated log during recovery", "dir", l.dir, "segment", filepath.Base(s.path),
				"valid_bytes", res.validBytes, "dropped_bytes", res.droppedBytes, "reason", res.reason, "log_end_offset", s.next)
			// Everything after an invalid batch is dropped.
			for _, later := range bases[i+1:] {
				ls, err := openSegment(l.mgr.files, l.dir, later, false, l.keys())
				if err == nil {
					l.logger.Warn("deleting segment after truncation point", "dir", l.dir, "segment", SegmentName(later, ".log"))
					ls.remove()
				}
			}
			break
		}
		prevLast = s.next - 1
	}
	if len(l.segs) == 0 {
		s, err := openSegment(l.mgr.files, l.dir, max(startCheckpoint, 0), true, l.keys())
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
		l.dirDirty = true
	}
	for _, s := range l.segs[:len(l.segs)-1] {
		if err := s.seal(); err != nil {
			l.closeSegs()
			return err
		}
	}
	act := l.segs[len(l.segs)-1]
	l.end = act.next
	// Entries for markers recovery dropped (the partition rewrites the
	// indexes from the log when it opens in any case).
	if err := act.truncateTxnIndex(l.end); err != nil {
		l.logger.Warn("truncating transaction index", "dir", l.dir, "err", err)
	}
	if l.keys() != nil && !act.f.encrypted() && act.size > 0 {
		// Encryption was turned on: older segments stay plaintext until
		// retention deletes them, appends go to an encrypted one.
		if err := act.seal(); err != nil {
			l.closeSegs()
			return err
		}
		s, err := openSegment(l.mgr.files, l.dir, l.end, true, l.keys())
		if err != nil {
			l.closeSegs()
			return err
		}
		l.segs = append(l.segs, s)
		l.pending = append(l.pending, act)
		l.dirDirty = true
		act = s
		l.logger.Info("encryption at rest is on: rolled the plaintext active segment", "dir", l.dir, "base_offset", s.base)
	}
	act.checkedFrom.Store(act.size) // appends from here on are checked
	if rewrapped > 0 {
		l.logger.Info("re-wrapped segment keys with the current key-encryption key", "dir", l.dir, "segments", rewrapped, "key_id", l.keys().Current().ID())
	}
	l.start = min(max(startCheckpoint, l.segs[0].base), l.end)
	l.publishBounds()
	// Epoch entries at or past the end describe truncated data.
	for len(l.epochs) > 0 && l.epochs[len(l.epochs)-1].StartOffset >= l.end {
		l.epochs = l.epochs[:len(l.epochs)-1]
		epochsChanged = true
	}
	if epochsChanged {
		if err := writeEpochCheckpoint(filepath.Join(l.dir, leaderEpochFile), l.epochs); err != nil {
			l.closeSegs()
			return err
		}
	}
	l.durable = l.end
	l.recoveryPoint = act.base
	if clean {
		l.recoveryPoint = l.end
	}
	return nil
}

// keys is the keyring of encryption at rest; nil when it is off.
func (l *Log) keys() *Keyring { return l.mgr.cfg.Keys }

func (l *Log) closeSegs() {
	for _, s := range l.segs {
		s.close()
	}
	l.segs = nil
}

// Dir is the partition directory.
func (l *Log) Dir() string { return l.dir }

// TopicPartition names the log.
func (l *Log) TopicPartition() TopicPartition { return l.tp }

// StartOffset is the log start offset. It takes no lock.
func (l *Log) StartOffset() int64 { return l.startA.Load() }

// EndOffset is the log end offset: the offset the next batch gets. It
// takes no lock.
func (l *Log) EndOffset() int64 { return l.endA.Load() }

// SetCleanupLimits bounds the background cleanup as Kafka bounds it, so it
// never touches records that are not yet committed: retention by time and
// size keeps every segment holding an offset at or above deleteBelow (the
// high watermark; segments wholly below the log start offset go
// regardless), and the cleaner compacts only segments wholly below
// cleanBelow (the last stable offset, so open transactions are not
// compacted). The partition that owns the log sets them as they move.
// Safe from any goroutine.
func (l *Log) SetCleanupLimits(deleteBelow, cleanBelow int64) {
	l.deleteLimit.Store(deleteBelow)
	l.cleanLimit.Store(cleanBelow)
}

// publishBounds stores start and end for the lock-free readers, under mu.
// Each is current on its own; a reader loading both may see them straddle
// a change.
func (l *Log) publishBounds() {
	l.endA.Store(l.end)
	l.startA.Store(l.start)
}

// Size is the number of bytes held by the log's segments.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// Options returns the log's current options.
func (l *Log) Options() Options {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.opts
}

// SetOptions replaces the log's options (topic config change). They apply
// from the next append, flush check, retention or cleaner pass.
func (l *Log) SetOptions(o Options) {
	l.mu.Lock()
	l.opts = o.sane()
	if l.unflushed > 0 && l.opts.FlushMs < math.MaxInt64 {
		l.mgr.flushable(l, true)
	}
	l.mu.Unlock()
}

// SegmentInfo describes one segment.
type SegmentInfo struct {
	BaseOffset   int64
	NextOffset   int64
	Size         int64
	MaxTimestamp int64
	Path         string
}

// Segments describes the log's segments, oldest first; the last is active.
func (l *Log) Segments() []SegmentInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentInfo, len(l.segs))
	for i, s := range l.segs {
		out[i] = SegmentInfo{BaseOffset: s.base, NextOffset: s.next, Size: s.size, MaxTimestamp: s.maxTs, Path: s.path}
	}
	return out
}

// LeaderEpochs returns the leader epoch cache (leader-epoch-checkpoint).
func (l *Log) LeaderEpochs() []EpochEntry {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return slices.Clone(l.epochs)
}

// EndOffsetForEpoch returns the largest epoch <= epoch in the cache and the
// offset where it ended (the start of the next epoch, or the log end for
// the latest), or -1, -1 if none, as OffsetForLeaderEpoch answers.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for i := len(l.epochs) - 1; i >= 0; i-- {
		if l.epochs[i].Epoch <= epoch {
			if i == len(l.epochs)-1 {
				return l.epochs[i].Epoch, l.end
			}
			return l.epochs[i].Epoch, l.epochs[i+1].StartOffset
		}
	}
	return -1, -1
}

func (l *Log) now() time.Time { return l.mgr.now() }

// Append writes one validated batch whose base offset the caller has set to
// EndOffset(), rolling to a new segment first when segment.bytes,
// segment.ms or a full index says so. It returns the new end offset. The
// write reaches the OS page cache; Sync makes it durable, and a background
// flush does so within flush.messages / flush.ms.
func (l *Log) Append(b record.Batch) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	if l.offline != nil {
		return 0, l.offlineErr()
	}
	if b.BaseOffset() != l.end {
		return 0, ErrBadOffset
	}
	if err := l.mgr.space.admit(len(b)); err != nil {
		return 0, err
	}
	act := l.segs[len(l.segs)-1]
	if act.cut && act.f.encrypted() {
		var err error
		if act, err = l.rekeyActive(act); err != nil {
			return 0, l.writeErrLocked(err)
		}
	}
	if l.shouldRoll(act, b) {
		var err error
		if act, err = l.roll(); err != nil {
			return 0, l.writeErrLocked(err)
		}
	}
	pos := act.size
	f, err := act.f.acquire()
	if err != nil {
		return 0, l.writeErrLocked(err)
	}
	if _, err := act.f.writeAtWith(f, b, pos); err != nil {
		act.f.release(true)
		// A partial write leaves bytes past size; the next append
		// overwrites them (or, encrypted, rolls: see rekeyActive) and
		// recovery truncates them.
		act.cut = true
		return 0, l.writeErrLocked(err)
	}
	act.size += int64(len(b))
	if act.hinted < 0 || act.hinted > pos {
		act.hinted = pos // first append since open, or after a truncation
	}
	if act.size-act.hinted >= writebackChunk {
		// Issued by StartWriteback, after the appender's locks: the
		// call can block for milliseconds on a busy device, and under
		// mu it held every read of this log meanwhile.
		l.wb = writeback{f: act.f, off: act.hinted, n: act.size - act.hinted}
		l.wbPending.Store(true)
		act.hinted = act.size
	}
	act.f.release(true)
	if err := act.track(b, pos, int64(len(b)), l.opts.IndexIntervalBytes); err != nil {
		l.logger.Warn("index write failed", "dir", l.dir, "err", err)
	}
	l.end = b.LastOffset() + 1
	l.endA.Store(l.end)
	if e := b.PartitionLeaderEpoch(); e >= 0 && (len(l.epochs) == 0 || e > l.epochs[len(l.epochs)-1].Epoch) {
		l.epochs = append(l.epochs, EpochEntry{Epoch: e, StartOffset: b.BaseOffset()})
		if err := writeEpochCheckpoint(filepath.Join(l.dir, leaderEpochFile), l.epochs); err != nil {
			l.logger.Error("writing leader epoch checkpoint", "dir", l.dir, "err", err)
		}
	}
	if l.unflushed == 0 && l.opts.FlushMs < math.MaxInt64 {
		l.mgr.flushable(l, true) // flush.ms applies: the flush loop visits it
	}
	l.unflushed += int64(b.LastOffsetDelta()) + 1
	if l.unflushed >= l.opts.FlushMessages {
		l.flushLocked()
	}
	return l.end, nil
}

// writeback is a range of a segment file to hand to startWriteback.
type writeback struct {
	f      *segFile
	off, n int64
}

// StartWriteback asks the kernel to start writing back what the last
// appends left for it (writeback_linux.go), outside every lock: the
// appender calls it after releasing its own (the partition's mutex). It
// changes nothing about durability. Safe from any goroutine.
func (l *Log) StartWriteback() {
	if !l.wbPending.Load() {
		return
	}
	l.mu.Lock()
	wb := l.wb
	l.wb = writeback{}
	l.wbPending.Store(false)
	l.mu.Unlock()
	if wb.f == nil {
		return
	}
	f, err := wb.f.acquire() // a segment retired meanwhile needs no hint
	if err != nil {
		return
	}
	startWriteback(f, wb.off, wb.n)
	wb.f.release(false)
}

// writebackChunk is how many appended bytes of a segment are handed to
// startWriteback at once (writeback_linux.go).
const writebackChunk = 256 << 10

// shouldRoll applies Kafka's roll rules to the active segment before b.
func (l *Log) shouldRoll(act *segment, b record.Batch) bool {
	if act.size == 0 {
		return false
	}
	o := l.opts
	switch {
	case act.size+int64(len(b)) > o.SegmentBytes:
		return true
	case act.firstTs >= 0 && l.now().UnixMilli()-act.firstTs > o.SegmentMs-o.SegmentJitterMs:
		return true
	case int64(act.idx.n+1)*offsetEntrySize > o.SegmentIndexBytes, int64(act.tidx.n+1)*timeEntrySize > o.SegmentIndexBytes:
		return true
	case !act.fits(b.LastOffset()):
		return true
	}
	return false
}

// roll seals the active segment and starts a new one at the log end. The
// old segment and the directory are fsynced by the next Sync, which a
// background flush starts now. Called with mu held.
func (l *Log) roll() (*segment, error) {
	old := l.segs[len(l.segs)-1]
	if err := old.seal(); err != nil {
		return nil, err
	}
	old.checkedFrom.Store(math.MaxInt64) // reads of a sealed segment check (segment.checkedFrom)
	s, err := openSegment(l.mgr.files, l.dir, l.end, true, l.keys())
	if err != nil {
		return nil, err
	}
	l.segs = append(l.segs, s)
	l.pending = append(l.pending, old)
	l.dirDirty = true
	l.logger.Debug("rolled segment", "dir", l.dir, "base_offset", s.base)
	l.flushLocked()
	return s, nil
}

// rekeyActive moves appends to a segment with a fresh data key after
// the encrypted active segment's tail was cut: AES-CTR must not encrypt
// new bytes with keystream that already encrypted other bytes at those
// positions (whoever kept a copy of the disk from before would learn
// their XOR). A non-empty segment is rolled; an empty one is replaced
// by new files under the same name. Called with mu held.
func (l *Log) rekeyActive(act *segment) (*segment, error) {
	act.cut = false
	if act.size > 0 {
		return l.roll()
	}
	if err := act.remove(); err != nil {
		return nil, err
	}
	s, err := openSegment(l.mgr.files, l.dir, act.base, true, l.keys())
	if err != nil {
		return nil, err
	}
	segs := slices.Clone(l.segs)
	segs[len(segs)-1] = s
	l.segs = segs
	l.dirDirty = true
	return s, nil
}

// flushLocked starts a background Sync of everything written, unless one
// is queued. Called with mu held.
func (l *Log) flushLocked() {
	if l.flushing {
		return
	}
	l.flushing = true
	end := l.end
	safe.Go(l.logger, "background-flush", func() {
		if err := l.Sync(end); err != nil && !errors.Is(err, ErrClosed) {
			l.logger.Error("background flush failed", "dir", l.dir, "err", err)
		}
		l.mu.Lock()
		l.flushing = false
		l.mu.Unlock()
	})
}

// maybeFlush starts a flush if flush.ms has passed with unflushed
// records; a log with none leaves the flush loop's set.
func (l *Log) maybeFlush(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.unflushed == 0 || l.opts.FlushMs == math.MaxInt64 {
		l.mgr.flushable(l, false)
		return
	}
	if now.Sub(l.lastFlush).Milliseconds() >= l.opts.FlushMs {
		l.flushLocked()
	}
}

// Sync makes every offset below upTo durable: it fsyncs the active
// segment's .log, every segment rolled since the last Sync (with its
// indexes) and, if files were created, the directory. Concurrent callers
// share one round of fsyncs (group commit): while one runs, later callers
// wait for the next, which covers all of them.
func (l *Log) Sync(upTo int64) error {
	l.smu.Lock()
	defer l.smu.Unlock()
	for l.durable < upTo {
		if l.syncing {
			l.scond.Wait()
			continue
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return ErrClosed
		}
		if l.offline != nil {
			err := l.offlineErr()
			l.mu.Unlock()
			return err
		}
		target := l.end
		if upTo > target {
			// The log was truncated below upTo meanwhile (follower
			// truncation, repair): what is left of it is all there is
			// to make durable.
			upTo = target
			if l.durable >= upTo {
				l.mu.Unlock()
				break
			}
		}
		act := l.segs[len(l.segs)-1]
		pending := l.pending
		dirDirty := l.dirDirty
		l.pending, l.dirDirty = nil, false
		l.unflushed = 0
		l.lastFlush = l.now()
		l.mu.Unlock()

		l.syncing = true
		l.smu.Unlock()
		start := time.Now()
		err := syncFiles(l.dir, act, pending, dirDirty)
		if on := l.mgr.cfg.OnSync; on != nil {
			on(time.Since(start))
		}
		l.smu.Lock()
		l.syncing = false
		if err == nil {
			l.durable = max(l.durable, target)
			l.recoveryPoint = max(l.recoveryPoint, act.base)
		} else {
			l.mu.Lock()
			// Segments the cleaner or retention replaced meanwhile
			// (their files closed) need no fsync any more.
			pending = slices.DeleteFunc(pending, func(s *segment) bool { return !slices.Contains(l.segs, s) })
			l.pending = append(pending, l.pending...)
			l.dirDirty = l.dirDirty || dirDirty
			l.mu.Unlock()
		}
		l.scond.Broadcast()
		if err != nil {
			l.mu.Lock()
			err = l.writeErrLocked(err)
			l.mu.Unlock()
			return err
		}
	}
	return nil
}

func syncFiles(dir string, act *segment, pending []*segment, dirDirty bool) error {
	for _, s := range pending {
		if err := errors.Join(s.f.Sync(), s.idx.f.Sync(), s.tidx.f.Sync()); err != nil {
			return err
		}
	}
	if err := act.f.Sync(); err != nil {
		return err
	}
	if dirDirty {
		return syncDir(dir)
	}
	return nil
}

// RecoveryPoint is the offset below which every segment and index is
// fsynced; recovery after an unclean stop starts at its segment.
func (l *Log) RecoveryPoint() int64 {
	l.smu.Lock()
	defer l.smu.Unlock()
	return l.recoveryPoint
}

// ReadResult is a run of whole batches read from the log.
type ReadResult struct {
	// Data holds the batches, or Slice names them in their segment file
	// (ReadZeroCopy only); both are empty when there are none.
	Data  []byte
	Slice *FileSlice
	// Next is the offset after the last batch returned.
	Next int64
}

// locate returns the segment that holds offset (the last with base <=
// offset) and its size, and the base of the segment after it (-1 if it is
// the active one).
func (l *Log) locate(offset int64) (s *segment, size int64, idxN, tidxN int, nextBase int64) {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
	if i < 0 {
		i = 0
	}
	s = l.segs[i]
	nextBase = -1
	if i+1 < len(l.segs) {
		nextBase = l.segs[i+1].base
	}
	return s, s.size, s.idx.written(), s.tidx.written(), nextBase
}

// Read returns whole batches starting with the one holding offset, stopping
// before maxOffset (exclusive, e.g. the high watermark) and before maxBytes,
// all from one segment. If minOne, the first batch is returned even when it
// exceeds maxBytes. An offset outside [StartOffset, EndOffset] is
// ErrOffsetOutOfRange; an offset equal to the end returns no data. Every
// batch returned has passed its CRC check; a corrupt one is an error.
func (l *Log) Read(offset, maxOffset int64, maxBytes int, minOne bool) (ReadResult, error) {
	return l.read(offset, maxOffset, maxBytes, minOne, false)
}

// ReadZeroCopy is Read that may leave the batches in the segment file:
// the result then has Slice set (and no Data), for the caller to send
// with sendfile (FileSlice.WriteTo). It does so for batches this process
// appended to the plaintext active segment, whose CRCs it checked then
// (segment.checkedFrom), and for long reads of other plaintext batches
// once they pass the checks Read makes (sliceFrom); other reads copy and
// check as Read does.
func (l *Log) ReadZeroCopy(offset, maxOffset int64, maxBytes int, minOne bool) (ReadResult, error) {
	return l.read(offset, maxOffset, maxBytes, minOne, true)
}

func (l *Log) read(offset, maxOffset int64, maxBytes int, minOne, zeroCopy bool) (ReadResult, error) {
	for {
		l.mu.RLock()
		if l.closed {
			l.mu.RUnlock()
			return ReadResult{}, ErrClosed
		}
		if l.offline != nil {
			err := l.offlineErr()
			l.mu.RUnlock()
			return ReadResult{}, err
		}
		if offset < l.start || offset > l.end {
			l.mu.RUnlock()
			return ReadResult{}, ErrOffsetOutOfRange
		}
		s, size, idxN, _, nextBase := l.locate(offset)
		cuts := s.f.cuts.Load() // with size: a cut takes mu
		l.mu.RUnlock()
		if offset >= maxOffset {
			return ReadResult{Next: offset}, nil
		}
		pos, ok, err := s.find(offset, size, idxN)
		if err != nil {
			if l.replaced(s, err) {
				continue
			}
			return ReadResult{}, l.readErr(s, err)
		}
		if !ok {
			if nextBase < 0 {
				return ReadResult{Next: offset}, nil
			}
			offset = nextBase // a gap left by compaction
			continue
		}
		if zeroCopy && !s.f.encrypted() {
			res, ok, err := l.sliceFrom(s, pos, size, cuts, maxOffset, maxBytes, minOne)
			if err == nil && ok {
				if res.Next == 0 {
					res.Next = offset
				}
				return res, nil
			}
			// Not all checked, or a header failed to read: the copy
			// path checks (and reports) it.
		}
		res, err := l.readFrom(s, pos, size, maxOffset, maxBytes, minOne)
		if err != nil {
			if l.replaced(s, err) {
				continue
			}
			return ReadResult{}, l.readErr(s, err)
		}
		if res.Next == 0 {
			res.Next = offset
		}
		return res, nil
	}
}

// Size is the bytes of batches read.
func (r ReadResult) Size() int {
	if r.Slice != nil {
		return int(r.Slice.n)
	}
	return len(r.Data)
}

// readErr classifies a failed read of s: corrupt data (a batch failing
// its checks below the published size) or an I/O error takes the log
// offline; a file closed under the reader (its segment was truncated away
// meanwhile) is ErrClosed, which the caller retries.
func (l *Log) readErr(s *segment, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, os.ErrClosed) || errors.Is(err, ErrClosed) {
		return ErrClosed
	}
	if errors.Is(err, record.ErrCorrupt) || errors.Is(err, record.ErrTruncated) || errors.Is(err, record.ErrMagic) {
		l.logger.Error("corrupt data in segment; not served", "segment", s.path, "err", err)
		return l.fail(fmt.Errorf("%w: %v", ErrCorruptLog, err))
	}
	return l.fail(fmt.Errorf("reading %s: %w", s.path, err))
}

// replaced reports whether a read of s failed because s left the log
// meanwhile (the cleaner or retention replaced it and its descriptor,
// closed, cannot be reopened): the read is retried on the current list.
func (l *Log) replaced(s *segment, err error) bool {
	if !errors.Is(err, os.ErrClosed) {
		return false
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return !l.closed && !slices.Contains(l.segs, s)
}

// ErrCorruptLog reports stored data that failed validation on read; the
// log is then offline (ErrLogOffline too).
var ErrCorruptLog = errors.New("corrupt log segment")

// readFrom reads whole batches at pos (a batch boundary) below limit.
func (l *Log) readFrom(s *segment, pos, limit, maxOffset int64, maxBytes int, minOne bool) (ReadResult, error) {
	n := min(int64(maxBytes), limit-pos)
	if n < record.HeaderSize {
		n = min(record.HeaderSize, limit-pos)
	}
	buf := getReadBuf(int(n))
	if _, err := s.f.ReadAt(buf, pos); err != nil && !(errors.Is(err, io.EOF)) {
		ReleaseRead(buf)
		return ReadResult{}, err
	}
	var off int
	var next int64
	for off < len(buf) {
		sz, err := record.Peek(buf[off:])
		if errors.Is(err, record.ErrTruncated) && sz == 0 {
			break // partial header at the end of the buffer
		}
		if err != nil && !errors.Is(err, record.ErrTruncated) {
			return ReadResult{}, err
		}
		b := record.Batch(buf[off:])
		if b.BaseOffset() >= maxOffset {
			break
		}
		if off+sz > len(buf) {
			if off == 0 && minOne {
				ReleaseRead(buf)
				whole, err := s.readBatch(pos, limit)
				if err != nil {
					return ReadResult{}, err
				}
				s.setReadHint(whole.LastOffset()+1, pos+int64(len(whole)))
				return ReadResult{Data: whole, Next: whole.LastOffset() + 1}, nil
			}
			break
		}
		if !record.Batch(buf[off : off+sz]).CheckCRC() {
			if off > 0 {
				break // serve the good prefix; the next read reports it
			}
			ReleaseRead(buf)
			return ReadResult{}, fmt.Errorf("%w: CRC mismatch at %s position %d", record.ErrCorrupt, s.path, pos+int64(off))
		}
		next = b.LastOffset() + 1
		off += sz
		if int64(off) >= int64(maxBytes) {
			break
		}
	}
	if off == 0 {
		ReleaseRead(buf)
		return ReadResult{}, nil
	}
	s.setReadHint(next, pos+int64(off))
	return ReadResult{Data: buf[:off], Next: next}, nil
}

// sliceFrom is readFrom leaving the bytes in the file: it walks the batch
// headers from pos (a batch boundary) below limit and returns the run of
// whole batches as a FileSlice. Batches at or after s.checkedFrom were
// checked when this process appended them; a run that starts before it
// (a sealed segment, or what the active one held at start) is read and
// checked now through a mapping of the file (sliceMapped), if it may be
// mapCheckMin bytes or more. ok=false otherwise, or if that check fails:
// the caller then reads, checks and reports them (readFrom). cuts is the
// file's cut count read with limit (FileSlice).
//
// The headers of checked batches are read through a window (sliceWindow
// bytes at a time, where the batches are smaller than that, else one
// header at a time), so small batches cost a read per window, not per
// batch.
func (l *Log) sliceFrom(s *segment, pos, limit int64, cuts uint64, maxOffset int64, maxBytes int, minOne bool) (ReadResult, bool, error) {
	checked := pos >= s.checkedFrom.Load()
	if !checked && (!canMapCheck || min(int64(maxBytes), limit-pos) < mapCheckMin) {
		return ReadResult{}, false, nil
	}
	f, err := s.f.acquirePlain()
	if err != nil || f == nil {
		return ReadResult{}, false, err
	}
	defer s.f.release(false)
	if !checked {
		return l.sliceMapped(s, f, pos, limit, cuts, maxOffset, maxBytes, minOne)
	}
	wp, _ := slicePool.Get().(*[]byte)
	if wp == nil {
		b := make([]byte, sliceWindow)
		wp = &b
	}
	defer slicePool.Put(wp)
	win := (*wp)[:0] // the file's bytes at wpos
	wpos := int64(0)
	end, next, prev := pos, int64(0), int64(0)
	for end+record.HeaderSize <= limit {
		if end < wpos || end+record.HeaderSize > wpos+int64(len(win)) {
			n := int64(record.HeaderSize)
			if prev < sliceWindow/2 {
				n = min(sliceWindow, limit-end)
			}
			m, err := f.ReadAt((*wp)[:n], end)
			if int64(m) < record.HeaderSize {
				if err == nil {
					err = io.ErrUnexpectedEOF
				}
				return ReadResult{}, false, err
			}
			win, wpos = (*wp)[:m], end
		}
		hdr := win[end-wpos : end-wpos+record.HeaderSize]
		n, err := batchSize(hdr)
		if err != nil {
			return ReadResult{}, false, err
		}
		b := record.Batch(hdr)
		if b.BaseOffset() >= maxOffset || end+int64(n) > limit {
			break
		}
		if end+int64(n)-pos > int64(maxBytes) && !(end == pos && minOne) {
			break
		}
		end += int64(n)
		next = b.LastOffset() + 1
		prev = int64(n)
		if end-pos >= int64(maxBytes) {
			break
		}
	}
	if end == pos {
		return ReadResult{}, true, nil
	}
	s.setReadHint(next, end)
	return ReadResult{Slice: &FileSlice{f: s.f, pos: pos, n: end - pos, cuts: cuts}, Next: next}, true, nil
}

// sliceMapped is sliceFrom for batches not checked since they were
// written: it maps the bytes the read may return (maxBytes from pos, the
// first batch whole if minOne, below limit) and walks the batches there,
// checking each as readFrom does (length, magic, CRC), with no copy. Any
// failure, a fault of a file cut meanwhile included (readMapped), is
// ok=false: readFrom then reads, checks and reports it.
func (l *Log) sliceMapped(s *segment, f *os.File, pos, limit int64, cuts uint64, maxOffset int64, maxBytes int, minOne bool) (ReadResult, bool, error) {
	n := min(int64(maxBytes), limit-pos)
	if minOne && n < limit-pos {
		var hdr [record.HeaderSize]byte
		if _, err := f.ReadAt(hdr[:], pos); err != nil {
			return ReadResult{}, false, nil
		}
		sz, err := batchSize(hdr[:])
		if err != nil {
			return ReadResult{}, false, nil
		}
		n = max(n, min(int64(sz), limit-pos))
	}
	var end, next int64
	err := readMapped(f, pos, n, func(m []byte) error {
		for off := 0; off+record.HeaderSize <= len(m); {
			sz, err := batchSize(m[off : off+record.HeaderSize])
			if err != nil {
				return err
			}
			b := record.Batch(m[off:])
			if b.BaseOffset() >= maxOffset || off+sz > len(m) {
				break
			}
			if !record.Batch(m[off : off+sz]).CheckCRC() {
				return record.ErrCorrupt
			}
			off += sz
			end, next = pos+int64(off), b.LastOffset()+1
		}
		return nil
	})
	if err != nil {
		return ReadResult{}, false, nil // readFrom finds and reports it
	}
	if end == 0 {
		return ReadResult{}, true, nil
	}
	s.setReadHint(next, end)
	return ReadResult{Slice: &FileSlice{f: s.f, pos: pos, n: end - pos, cuts: cuts}, Next: next}, true, nil
}

// mapCheckMin is the least a read may span for sliceFrom to check it
// through a mapping: below it, a copying read costs less than mapping
// and unmapping the pages.
const mapCheckMin = 128 << 10

// sliceWindow is the bytes sliceFrom reads at once to find batch headers;
// slicePool recycles its windows.
const sliceWindow = 32 << 10

var slicePool sync.Pool

// readPool recycles fetch read buffers: a fetch response's record data is
// garbage as soon as the response is encoded, and allocating megabytes per
// fetch made the consume path GC-bound.
var readPool sync.Pool

const maxPooledRead = 16 << 20

func getReadBuf(n int) []byte {
	if p, ok := readPool.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]byte, n)
}

// ReleaseRead returns a buffer from ReadResult.Data for reuse. The caller
// must hold no other reference to it. A buffer too small for a batch
// header is no read buffer (a Fetch response's splice marker,
// broker/splice.go, which the connection's writer still looks for after
// the response's buffers are released) and is left alone.
func ReleaseRead(b []byte) {
	if cap(b) < record.HeaderSize || cap(b) > maxPooledRead {
		return
	}
	// A new variable: taking b's own address moved it to the heap on
	// every call, a marker's early return included.
	p := b[:0]
	readPool.Put(&p)
}

// BatchInfo describes one stored batch without its records.
type BatchInfo struct {
	BaseOffset, LastOffset int64
	MaxTimestamp           int64
}

// ScanHeaders calls fn with the header of every batch at or after from, in
// order, until fn returns false. Used to rebuild producer state on open.
func (l *Log) ScanHeaders(from int64, fn func(record.Batch) bool) error {
	l.mu.RLock()
	segs := l.segs
	sizes := make([]int64, len(segs))
	for i, s := range segs {
		sizes[i] = s.size
	}
	l.mu.RUnlock()
	hdr := make([]byte, record.HeaderSize)
	for i, s := range segs {
		if i+1 < len(segs) && segs[i+1].base <= from {
			continue
		}
		r := io.NewSectionReader(s.f, 0, sizes[i])
		var pos int64
		for pos < sizes[i] {
			if _, err := r.ReadAt(hdr, pos); err != nil {
				return err
			}
			n, err := batchSize(hdr)
			if err != nil {
				return err
			}
			b := record.Batch(hdr)
			if b.LastOffset() >= from && !fn(b) {
				return nil
			}
			pos += int64(n)
		}
	}
	return nil
}

// OffsetForTimestamp finds the first record at or after StartOffset whose
// timestamp is >= ts, through the time index. ok is false if there is none.
func (l *Log) OffsetForTimestamp(ts int64) (offset, recordTs int64, ok bool, err error) {
	l.mu.RLock()
	segs := l.segs
	start := l.start
	type snap struct {
		s           *segment
		size        int64
		idxN, tidxN int
		maxTs, next int64
	}
	snaps := make([]snap, 0, len(segs))
	for _, s := range segs {
		snaps = append(snaps, snap{s, s.size, s.idx.written(), s.tidx.written(), s.maxTs, s.next})
	}
	l.mu.RUnlock()
	for _, sn := range snaps {
		if sn.next <= start || sn.maxTs < ts {
			continue
		}
		pos, found, err := sn.s.findTime(ts, start, sn.size, sn.idxN, sn.tidxN)
		if err != nil {
			return 0, 0, false, l.readErr(sn.s, err)
		}
		for found && pos < sn.size {
			b, err := sn.s.readBatch(pos, sn.size)
			if err != nil {
				return 0, 0, false, l.readErr(sn.s, err)
			}
			if b.MaxTimestamp() >= ts && b.LastOffset() >= start {
				recs, err := b.Records()
				if err != nil {
					return 0, 0, false, l.readErr(sn.s, err)
				}
				for i := range recs {
					o := b.BaseOffset() + int64(recs[i].OffsetDelta)
					if t := b.Timestamp(&recs[i]); t >= ts && o >= start {
						return o, t, true, nil
					}
				}
			}
			pos += int64(len(b))
		}
	}
	return 0, 0, false, nil
}

// MaxTimestamp returns the offset and timestamp of the record with the
// largest timestamp (the first such record), as ListOffsets -3 answers.
func (l *Log) MaxTimestamp() (offset, ts int64, ok bool, err error) {
	l.mu.RLock()
	start := l.start
	var best *segment
	var bestSize int64
	var bestIdx int
	var bestTs, bestOff int64 = -1, -1
	for _, s := range l.segs {
		if s.next > start && s.maxTs > bestTs {
			best, bestSize, bestIdx, bestTs, bestOff = s, s.size, s.idx.written(), s.maxTs, max(s.maxTsOff, start)
		}
	}
	l.mu.RUnlock()
	if best == nil {
		return 0, 0, false, nil
	}
	pos, found, err := best.find(bestOff, bestSize, bestIdx)
	if err != nil || !found {
		return 0, 0, false, l.readErr(best, err)
	}
	b, err := best.readBatch(pos, bestSize)
	if err != nil {
		return 0, 0, false, l.readErr(best, err)
	}
	recs, err := b.Records()
	if err != nil {
		return 0, 0, false, l.readErr(best, err)
	}
	ts = -1
	for i := range recs {
		o := b.BaseOffset() + int64(recs[i].OffsetDelta)
		if t := b.Timestamp(&recs[i]); t > ts && o >= start {
			offset, ts = o, t
		}
	}
	return offset, ts, ts >= 0, nil
}

// AdvanceStart moves the log start offset forward to offset (DeleteRecords,
// retention) and persists it in log-start-offset-checkpoint before
// returning. It never moves backwards and never past the end. Segments
// wholly below the new start are deleted by the next retention pass.
func (l *Log) AdvanceStart(offset int64) (int64, error) {
	l.mu.Lock()
	if offset > l.end {
		l.mu.Unlock()
		return l.start, ErrOffsetOutOfRange
	}
	if offset <= l.start {
		defer l.mu.Unlock()
		return l.start, nil
	}
	l.start = offset
	l.publishBounds()
	l.truncateEpochsFromStart()
	l.mu.Unlock()
	return offset, l.mgr.writeStartCheckpoint()
}

// truncateEpochsFromStart drops epoch entries wholly below start, moving
// the last such entry to start, as Kafka does. Called with mu held.
func (l *Log) truncateEpochsFromStart() {
	i := 0
	for i+1 < len(l.epochs) && l.epochs[i+1].StartOffset <= l.start {
		i++
	}
	if i == 0 && (len(l.epochs) == 0 || l.epochs[0].StartOffset >= l.start) {
		return
	}
	l.epochs = append([]EpochEntry{{Epoch: l.epochs[i].Epoch, StartOffset: l.start}}, l.epochs[i+1:]...)
	if err := writeEpochCheckpoint(filepath.Join(l.dir, leaderEpochFile), l.epochs); err != nil {
		l.logger.Error("writing leader epoch checkpoint", "dir", l.dir, "err", err)
	}
}

// Close fsyncs and closes the log.
func (l *Log) Close() error {
	err := l.close()
	if l.mgr.cfg.private {
		err = errors.Join(err, l.mgr.Close())
	}
	return err
}

func (l *Log) close() error {
	l.smu.Lock()
	defer l.smu.Unlock()
	for l.syncing {
		l.scond.Wait()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.offline != nil {
		l.mgr.offlineLogs.Add(-1) // counted while open only
	}
	act := l.segs[len(l.segs)-1]
	err := syncFiles(l.dir, act, l.pending, l.dirDirty)
	if err == nil {
		err = errors.Join(act.flushIndexes(), act.idx.f.Sync(), act.tidx.f.Sync())
	}
	if err == nil {
		l.durable = l.end
		l.recoveryPoint = l.end
	}
	l.scond.Broadcast()
	for _, s := range l.segs {
		err = errors.Join(err, s.close())
	}
	l.mgr.unregister(l, err == nil)
	return err
}

// Delete closes the log and removes its directory: it is first renamed to
// <topic>-<partition>.<uniqueid>-delete (as Kafka does), so a crash
// mid-delete never leaves a half-deleted partition that looks live; the
// manager removes leftovers on start.
func (l *Log) Delete() error {
	l.close()
	l.mgr.forget(l.tp)
	tomb := filepath.Join(filepath.Dir(l.dir), l.tp.dirName()+"."+uniqueID()+deleteSuffix)
	if err := os.Rename(l.dir, tomb); err != nil {
		return err
	}
	syncDir(filepath.Dir(l.dir))
	err := os.RemoveAll(tomb)
	if l.mgr.cfg.private {
		err = errors.Join(err, l.mgr.Close())
	}
	return err
}
