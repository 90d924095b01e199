package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/record"
	"github.com/tributary/tributary/internal/safe"
)

// ErrKeylessRecord reports a record without a key sent to a compacted
// topic; it wraps record.ErrInvalid (INVALID_RECORD), as Kafka refuses them.
var ErrKeylessRecord = fmt.Errorf("%w: compacted topic cannot accept a record without a key", record.ErrInvalid)

// CheckKeys returns ErrKeylessRecord if a record of b has no key. The
// broker calls it at produce for topics whose cleanup.policy has compact.
// It decodes (and decompresses) the batch.
func CheckKeys(b record.Batch) error {
	if b.IsControl() {
		return nil
	}
	recs, err := b.Records()
	if err != nil {
		return err
	}
	for i := range recs {
		if recs[i].Key == nil {
			return ErrKeylessRecord
		}
	}
	return nil
}

// Compaction (cleanup.policy=compact).
//
// A pass cleans the segments from the log start up to, not including, the
// first segment that must stay dirty: the active segment, and any segment
// holding a record newer than min.compaction.lag.ms. It runs when the dirty
// part (segments not yet cleaned) is at least min.cleanable.dirty.ratio of
// the cleanable bytes, or when a dirty segment's oldest record is older than
// max.compaction.lag.ms. For every key, only the record with the highest
// offset in the cleaned range is kept; a tombstone (null value) that is the
// latest for its key is kept until delete.retention.ms after its timestamp,
// then dropped too. Records keep their offsets (gaps are normal) and
// timestamps; a batch keeps its header and codec and is re-encoded only if
// it lost records; a batch left empty is dropped, except the last batch of
// an idempotent producer, kept empty so its sequence state survives a
// restart. Keyless records are kept.
//
// Transactions, as Kafka compacts them: the records of aborted
// transactions are removed (they neither survive nor count as the latest
// record of their key, so an aborted write never hides a committed one),
// and a COMMIT/ABORT marker is removed once no batch of its transaction
// is left in the log and its timestamp is older than delete.retention.ms
// (consumers reading meanwhile still see it). Only the log below the last
// stable offset is cleaned (SetCleanupLimits), so every transaction in
// the cleaned range is decided. Deliberate difference from Kafka: the
// marker's own timestamp stands for the delete horizon Kafka records in
// the batch header (KIP-534).
//
// Each segment is rewritten to <base>.log.cleaned (+ indexes), fsynced,
// renamed to .log.swap (the commit point), then renamed over the original.
// On start, a .log.swap completes the swap and other leftovers are deleted,
// so a crash mid-clean loses nothing. cleanMu serializes the cleaner and
// retention of one log.

// Clean runs one compaction pass if the log is compacted and due (force
// skips the dirty-ratio test). It returns the number of segments rewritten.
func (l *Log) Clean(now time.Time, force bool) (int, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, ErrClosed
	}
	o := l.opts
	segs := l.segs
	firstDirty := l.firstDirty
	start := l.start
	l.mu.RUnlock()
	if !o.Compact || len(segs) < 2 {
		return 0, nil
	}
	// The cleanable range: non-active segments, stopping at the first one
	// with a record newer than min.compaction.lag.ms or at or above the
	// clean limit (SetCleanupLimits: the last stable offset).
	var cleanable []*segment
	var cleanBytes, dirtyBytes int64
	due := force
	limit := l.cleanLimit.Load()
	for _, s := range segs[:len(segs)-1] {
		if o.MinCompactionLagMs > 0 && s.maxTs > now.UnixMilli()-o.MinCompactionLagMs || s.next > limit {
			break
		}
		cleanable = append(cleanable, s)
		if s.next <= firstDirty {
			cleanBytes += s.size
		} else {
			dirtyBytes += s.size
			if s.firstTs >= 0 && o.MaxCompactionLagMs > 0 && now.UnixMilli()-s.firstTs > o.MaxCompactionLagMs {
				due = true
			}
		}
	}
	if len(cleanable) == 0 || dirtyBytes == 0 && !force {
		return 0, nil
	}
	if !due && float64(dirtyBytes)/float64(cleanBytes+dirtyBytes) < o.MinCleanableRatio {
		return 0, nil
	}
	end := cleanable[len(cleanable)-1].next

	// The aborted transactions of the whole log: their records are not
	// candidates for the latest of a key.
	act := segs[len(segs)-1]
	l.mu.RLock()
	actSize := act.size
	l.mu.RUnlock()
	aborted := abortedTxns{}
	for i, s := range segs {
		size := actSize
		if i < len(segs)-1 {
			st, err := s.f.Stat()
			if err != nil {
				return 0, err
			}
			size = st.Size()
		}
		if err := eachBatchBelow(s, size, aborted.scan); err != nil {
			return 0, l.readErr(s, err)
		}
	}

	// Pass 1: the latest offset of every key, and the last batch of every
	// producer, over the whole log below the active segment.
	latest := map[string]int64{}
	lastOfPid := map[int64]int64{}
	index := func(b record.Batch) error {
		if b.ProducerID() >= 0 {
			lastOfPid[b.ProducerID()] = b.BaseOffset()
		}
		if b.IsControl() || aborted.contains(b) {
			return nil
		}
		recs, err := b.Records()
		if err != nil {
			return err
		}
		for i := range recs {
			if recs[i].Key != nil {
				latest[string(recs[i].Key)] = b.BaseOffset() + int64(recs[i].OffsetDelta)
			}
		}
		return nil
	}
	for _, s := range segs[:len(segs)-1] {
		err := eachBatch(s, index)
		if err != nil {
			return 0, l.readErr(s, err)
		}
	}
	// Batches of the active segment decide too: a key rewritten there
	// makes older copies in the cleaned range obsolete.
	if err := eachBatchBelow(act, actSize, index); err != nil {
		return 0, l.readErr(act, err)
	}

	// Pass 2: rewrite each cleanable segment.
	horizon := now.UnixMilli() - o.DeleteRetentionMs
	rewritten := 0
	txns := &cleanTxns{aborted: aborted, retained: map[int64]bool{}}
	for _, s := range cleanable {
		if s.next <= start {
			continue // retention deletes it
		}
		c, err := l.cleanSegment(s, latest, lastOfPid, txns, horizon, o.IndexIntervalBytes)
		if err != nil {
			return rewritten, err
		}
		if c == nil {
			continue
		}
		if err := l.swap(s, c, o.FileDeleteDelayMs); err != nil {
			return rewritten, err
		}
		rewritten++
	}
	l.mu.Lock()
	l.firstDirty = max(l.firstDirty, end)
	l.mu.Unlock()
	if rewritten > 0 {
		l.logger.Info("compacted log", "dir", l.dir, "segments", rewritten, "cleaned_up_to", end)
	}
	return rewritten, nil
}

// eachBatch calls fn for every batch of a non-active segment.
func eachBatch(s *segment, fn func(record.Batch) error) error {
	st, err := s.f.Stat()
	if err != nil {
		return err
	}
	return eachBatchBelow(s, st.Size(), fn)
}

func eachBatchBelow(s *segment, size int64, fn func(record.Batch) error) error {
	_, err := scanLog(s.f, size, func(ref batchRef, b record.Batch) error {
		if !ref.crcOK {
			return fmt.Errorf("%w: CRC mismatch at %s position %d", record.ErrCorrupt, s.path, ref.pos)
		}
		return fn(b)
	})
	return err
}

// cleaned is a segment's cleaned copy in <base>.*.cleaned files.
type cleaned struct {
	paths [3]string // .log, .index, .timeindex, each + ".cleaned"
	// keyPath is <base>.key.cleaned when encryption at rest is on.
	keyPath string
	sum     *segment // summary fields (size, next, timestamps)
}

// cleanSegment writes the cleaned copy of s, fsynced. It returns nil (and
// leaves no file) if no record would go.
func (l *Log) cleanSegment(s *segment, latest map[string]int64, lastOfPid map[int64]int64, txns *cleanTxns, horizon, interval int64) (*cleaned, error) {
	c := &cleaned{sum: &segment{base: s.base, next: s.base, maxTs: -1, maxTsOff: -1, firstTs: -1, lastTimeIdx: -1}}
	for i, ext := range []string{".log", ".index", ".timeindex"} {
		c.paths[i] = filepath.Join(l.dir, SegmentName(s.base, ext+".cleaned"))
	}
	// Encryption at rest: the copy gets a new data key, its key file
	// written before any data (swap moves it into place).
	var dk *dataKey
	if kr := l.keys(); kr != nil {
		c.keyPath = keyPath(l.dir, s.base) + ".cleaned"
		var err error
		if dk, err = kr.createSegmentKey(c.keyPath); err != nil {
			os.Remove(c.keyPath)
			return nil, err
		}
	}
	f, err := openSegFile(c.paths[0], os.O_RDWR|os.O_CREATE|os.O_TRUNC, dk, kindLog)
	if err != nil {
		c.removeAll()
		return nil, err
	}
	defer f.Close()
	var idxBuf, tidxBuf []byte
	var pos int64
	changed := false
	write := func(b record.Batch) error {
		if _, err := f.WriteAt(b, pos); err != nil {
			return err
		}
		c.sum.trackMem(b, pos, int64(len(b)), interval, &idxBuf, &tidxBuf)
		pos += int64(len(b))
		return nil
	}
	err = eachBatch(s, func(b record.Batch) error {
		if b.IsControl() {
			if txns.discardMarker(b, horizon) {
				changed = true
				return nil
			}
			return write(b)
		}
		recs, err := b.Records()
		if err != nil {
			return err
		}
		abortedBatch := txns.aborted.contains(b)
		keep := make([]kmsg.Record, 0, len(recs))
		for i := range recs {
			if abortedBatch {
				break // an aborted transaction's records all go
			}
			r := &recs[i]
			if r.Key != nil {
				if latest[string(r.Key)] != b.BaseOffset()+int64(r.OffsetDelta) {
					continue // a later record has this key
				}
				if r.Value == nil && b.Timestamp(r) < horizon {
					continue // tombstone past delete.retention.ms
				}
			}
			keep = append(keep, *r)
		}
		if len(keep) == len(recs) {
			txns.kept(b)
			return write(b)
		}
		changed = true
		if len(keep) == 0 && !(b.ProducerID() >= 0 && lastOfPid[b.ProducerID()] == b.BaseOffset()) {
			return nil
		}
		txns.kept(b)
		nb, err := buildBatch(headerOf(b), keep)
		if err != nil {
			return err
		}
		return write(nb)
	})
	if err == nil && !changed {
		c.removeAll()
		return nil, nil
	}
	if err == nil {
		if c.sum.maxTs > c.sum.lastTimeIdx {
			tidxBuf = append(tidxBuf, timeEntry(c.sum.maxTs, c.sum.rel(c.sum.maxTsOff))...)
			c.sum.lastTimeIdx = c.sum.maxTs
		}
		c.sum.size = pos
		err = errors.Join(f.Sync(), writeSegFileSynced(c.paths[1], idxBuf, dk, kindIndex), writeSegFileSynced(c.paths[2], tidxBuf, dk, kindTimeIndex))
	}
	if err != nil {
		c.removeAll()
		return nil, err
	}
	return c, nil
}

// removeAll deletes the cleaned copy's files.
func (c *cleaned) removeAll() {
	for _, p := range c.paths {
		os.Remove(p)
	}
	if c.keyPath != "" {
		os.Remove(c.keyPath)
	}
}

// swap replaces old by its cleaned copy: .log.cleaned is renamed to
// .log.swap (the commit point: recovery completes the swap from here),
// then every file over its original. Readers holding old keep reading the
// replaced files through their open descriptors, closed after delayMs.
func (l *Log) swap(old *segment, c *cleaned, delayMs int64) error {
	swapPath := filepath.Join(l.dir, SegmentName(old.base, ".log.swap"))
	keySwap := keyPath(l.dir, old.base) + ".swap"
	if c.keyPath != "" {
		// The copy's key file is renamed .key.swap first: recovery
		// keeps it only if .log.swap exists (the commit point), else
		// the old key stays with the old .log.
		if err := os.Rename(c.keyPath, keySwap); err != nil {
			return err
		}
		if err := syncDir(l.dir); err != nil {
			return err
		}
	}
	if err := os.Rename(c.paths[0], swapPath); err != nil {
		return err
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}
	// From here old's paths name the cleaned files: its descriptors
	// must not be reopened (a reader of old that finds them closed
	// retries on the new segment list).
	old.retire()
	if c.keyPath != "" {
		if err := os.Rename(keySwap, keyPath(l.dir, old.base)); err != nil {
			return err
		}
	} else if err := os.Remove(keyPath(l.dir, old.base)); err != nil && !os.IsNotExist(err) {
		return err
	}
	exts := []string{".log", ".index", ".timeindex"}
	from := []string{swapPath, c.paths[1], c.paths[2]}
	for i, ext := range exts {
		if err := os.Rename(from[i], filepath.Join(l.dir, SegmentName(old.base, ext))); err != nil {
			return err
		}
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}
	ns, err := openSegment(l.mgr.files, l.dir, old.base, false, l.keys())
	if err != nil {
		return err
	}
	ns.size, ns.next, ns.maxTs, ns.maxTsOff, ns.firstTs, ns.sinceIndex, ns.lastTimeIdx =
		c.sum.size, c.sum.next, c.sum.maxTs, c.sum.maxTsOff, c.sum.firstTs, c.sum.sinceIndex, c.sum.lastTimeIdx
	l.mu.Lock()
	i := slices.Index(l.segs, old)
	if i < 0 || l.closed {
		l.mu.Unlock()
		ns.close()
		return ErrClosed
	}
	ns.txn = old.txn // the .txnindex stays as it is (txnindex.go)
	segs := slices.Clone(l.segs)
	segs[i] = ns
	l.segs = segs
	l.pending = slices.DeleteFunc(l.pending, func(s *segment) bool { return s == old })
	l.mu.Unlock()
	if delayMs <= 0 {
		old.close()
	} else {
		time.AfterFunc(time.Duration(delayMs)*time.Millisecond, safe.Func(l.logger, "close-compacted-segment", func() { old.close() }))
	}
	return nil
}

// abortedTxns are a log's aborted transactions by producer id: the offset
// ranges from a transaction's first batch to its ABORT marker, in offset
// order. scan builds it from every batch in offset order.
type abortedTxns struct {
	open   map[int64]int64 // producer id -> first offset of its open transaction
	ranges map[int64][][2]int64
}

func (a *abortedTxns) scan(b record.Batch) error {
	pid := b.ProducerID()
	if pid < 0 || !b.IsTransactional() {
		return nil
	}
	if a.open == nil {
		a.open, a.ranges = map[int64]int64{}, map[int64][][2]int64{}
	}
	if !b.IsControl() {
		if _, ok := a.open[pid]; !ok {
			a.open[pid] = b.BaseOffset()
		}
		return nil
	}
	typ, _, err := b.ControlType()
	if err != nil {
		return err
	}
	first, ok := a.open[pid]
	if !ok || (typ != record.ControlAbort && typ != record.ControlCommit) {
		return nil
	}
	delete(a.open, pid)
	if typ == record.ControlAbort {
		a.ranges[pid] = append(a.ranges[pid], [2]int64{first, b.BaseOffset()})
	}
	return nil
}

// contains reports whether the data batch b belongs to an aborted
// transaction.
func (a *abortedTxns) contains(b record.Batch) bool {
	if !b.IsTransactional() || b.IsControl() {
		return false
	}
	for _, r := range a.ranges[b.ProducerID()] {
		if b.BaseOffset() >= r[0] && b.BaseOffset() < r[1] {
			return true
		}
	}
	return false
}

// cleanTxns follows transactions through one cleaning pass, segment after
// segment in offset order: whether any batch of each producer's current
// transaction stays in the log, which decides whether its marker may go.
type cleanTxns struct {
	aborted  abortedTxns
	retained map[int64]bool // producer id -> a batch of its current transaction is kept
}

// kept records that the data batch b stays in the log.
func (t *cleanTxns) kept(b record.Batch) {
	if b.IsTransactional() && b.ProducerID() >= 0 {
		t.retained[b.ProducerID()] = true
	}
}

// discardMarker reports whether control batch b may be removed: a
// COMMIT/ABORT marker whose transaction has no batch left and whose
// timestamp is older than horizon. It ends the producer's transaction for
// the batches that follow.
func (t *cleanTxns) discardMarker(b record.Batch, horizon int64) bool {
	pid := b.ProducerID()
	if pid < 0 {
		return false
	}
	typ, _, err := b.ControlType()
	if err != nil || (typ != record.ControlAbort && typ != record.ControlCommit) {
		return false
	}
	retained := t.retained[pid]
	delete(t.retained, pid)
	return !retained && b.MaxTimestamp() < horizon
}
