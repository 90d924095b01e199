// Package storage is the partition log: record batches stored as received,
// with broker-assigned offsets, in <data-dir>/<topic>-<partition>/.
//
// Layout (this version): one segment file named by its 20-digit base offset
// (00000000000000000000.log) plus a log-start-offset file. Batches are found
// through an in-memory batch index rebuilt on open. The "Storage engine" work
// deepens this into rolling segments with .index/.timeindex files behind the
// same Log methods.
//
// Concurrency: mu guards the file size, batch index, start and end offsets.
// Appends hold mu for writing while they write the file; readers hold it for
// reading only to locate positions and then read the file without it (the
// bytes below a published size never change). smu guards group-commit state.
package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/tributary/tributary/internal/record"
)

// Errors callers map to wire codes.
var (
	ErrOffsetOutOfRange = errors.New("offset out of range")
	ErrClosed           = errors.New("log is closed")
	ErrBadOffset        = errors.New("batch base offset does not follow the log end")
)

const startOffsetFile = "log-start-offset"

type entry struct {
	base, last int64
	pos        int64
	size       int32
	maxTs      int64
}

// Log is one partition's log.
type Log struct {
	dir    string
	logger *slog.Logger

	mu      sync.RWMutex
	f       *os.File
	size    int64
	batches []entry
	start   int64 // log start offset
	end     int64 // next offset to assign (log end offset)
	closed  bool

	smu     sync.Mutex
	scond   *sync.Cond
	syncing bool
	durable int64 // every offset below is fsynced
	syncErr error
}

// SegmentName is the file name of a segment with the given base offset.
func SegmentName(base int64, ext string) string { return fmt.Sprintf("%020d%s", base, ext) }

// Open opens or creates the log in dir, recovering its tail: batches are
// checked for length, CRC and offset continuity, and everything from the first
// bad batch on is truncated.
func Open(dir string, logger *slog.Logger) (*Log, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, SegmentName(0, ".log")), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	l := &Log{dir: dir, logger: logger, f: f}
	l.scond = sync.NewCond(&l.smu)
	if err := l.recover(); err != nil {
		f.Close()
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, startOffsetFile)); err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 {
			l.start = min(v, l.end)
		}
	}
	l.durable = l.end
	return l, nil
}

func (l *Log) recover() error {
	st, err := l.f.Stat()
	if err != nil {
		return err
	}
	total := st.Size()
	hdr := make([]byte, record.HeaderSize)
	var pos int64
	var buf []byte
	for pos < total {
		if _, err := l.f.ReadAt(hdr, pos); err != nil {
			break // torn header
		}
		n, err := record.Peek(hdr)
		if err != nil && !errors.Is(err, record.ErrTruncated) {
			break
		}
		if n <= 0 || pos+int64(n) > total {
			break
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := l.f.ReadAt(buf, pos); err != nil {
			break
		}
		b := record.Batch(buf)
		if !b.CheckCRC() || (len(l.batches) > 0 && b.BaseOffset() != l.end) || b.LastOffsetDelta() < 0 {
			break
		}
		l.batches = append(l.batches, entry{base: b.BaseOffset(), last: b.LastOffset(), pos: pos, size: int32(n), maxTs: b.MaxTimestamp()})
		l.end = b.LastOffset() + 1
		pos += int64(n)
	}
	if len(l.batches) > 0 {
		l.start = l.batches[0].base
	}
	if pos < total {
		l.logger.Warn("truncating torn log tail", "dir", l.dir, "valid_bytes", pos, "dropped_bytes", total-pos, "log_end_offset", l.end)
		if err := l.f.Truncate(pos); err != nil {
			return err
		}
		if err := l.f.Sync(); err != nil {
			return err
		}
	}
	l.size = pos
	return nil
}

// Dir is the partition directory.
func (l *Log) Dir() string { return l.dir }

// StartOffset is the log start offset.
func (l *Log) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.start
}

// EndOffset is the log end offset: the offset the next batch gets.
func (l *Log) EndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.end
}

// Size is the number of bytes held by the log.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

// Append writes one validated batch whose base offset the caller has set to
// EndOffset(). It returns the new end offset. The write reaches the OS page
// cache; Sync makes it durable.
func (l *Log) Append(b record.Batch) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	if b.BaseOffset() != l.end {
		return 0, ErrBadOffset
	}
	if _, err := l.f.WriteAt(b, l.size); err != nil {
		// A partial write leaves bytes past size; the next append overwrites
		// them and recovery truncates them.
		return 0, err
	}
	l.batches = append(l.batches, entry{base: b.BaseOffset(), last: b.LastOffset(), pos: l.size, size: int32(len(b)), maxTs: b.MaxTimestamp()})
	l.size += int64(len(b))
	l.end = b.LastOffset() + 1
	return l.end, nil
}

// Sync makes every offset below upTo durable. Concurrent callers share one
// fsync (group commit): while an fsync runs, later callers wait for the next
// one, which covers all of them.
func (l *Log) Sync(upTo int64) error {
	l.smu.Lock()
	defer l.smu.Unlock()
	for l.durable < upTo {
		if l.syncing {
			l.scond.Wait()
			continue
		}
		l.syncing = true
		target := l.EndOffset()
		l.smu.Unlock()
		err := l.f.Sync()
		l.smu.Lock()
		l.syncing = false
		if err == nil && target > l.durable {
			l.durable = target
		}
		l.scond.Broadcast()
		if err != nil {
			return err
		}
	}
	return nil
}

// ReadResult is a run of whole batches read from the log.
type ReadResult struct {
	Data []byte
	// Next is the offset after the last batch returned.
	Next int64
}

// Read returns whole batches starting with the one holding offset, stopping
// before maxOffset (exclusive, e.g. the high watermark) and before maxBytes.
// If minOne, the first batch is returned even when it exceeds maxBytes.
// An offset outside [StartOffset, EndOffset] is ErrOffsetOutOfRange; an
// offset equal to the end returns no data.
func (l *Log) Read(offset, maxOffset int64, maxBytes int, minOne bool) (ReadResult, error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ReadResult{}, ErrClosed
	}
	if offset < l.start || offset > l.end {
		l.mu.RUnlock()
		return ReadResult{}, ErrOffsetOutOfRange
	}
	i := sort.Search(len(l.batches), func(i int) bool { return l.batches[i].last >= offset })
	var pos, n int64
	next := offset
	for j := i; j < len(l.batches); j++ {
		e := l.batches[j]
		if e.base >= maxOffset {
			break
		}
		if n+int64(e.size) > int64(maxBytes) && !(minOne && j == i) {
			break
		}
		if j == i {
			pos = e.pos
		}
		n += int64(e.size)
		next = e.last + 1
	}
	f := l.f
	l.mu.RUnlock()
	if n == 0 {
		return ReadResult{Next: offset}, nil
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, pos); err != nil {
		return ReadResult{}, err
	}
	return ReadResult{Data: buf, Next: next}, nil
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
	entries := l.batches
	f := l.f
	l.mu.RUnlock()
	i := sort.Search(len(entries), func(i int) bool { return entries[i].last >= from })
	hdr := make([]byte, record.HeaderSize)
	for _, e := range entries[i:] {
		if _, err := f.ReadAt(hdr, e.pos); err != nil {
			return err
		}
		if !fn(record.Batch(hdr)) {
			return nil
		}
	}
	return nil
}

// readBatch returns the whole batch at index entry e.
func (l *Log) readBatch(f *os.File, e entry) (record.Batch, error) {
	buf := make([]byte, e.size)
	if _, err := f.ReadAt(buf, e.pos); err != nil {
		return nil, err
	}
	return record.Batch(buf), nil
}

// OffsetForTimestamp finds the first record at or after StartOffset whose
// timestamp is >= ts. ok is false if there is none.
func (l *Log) OffsetForTimestamp(ts int64) (offset, recordTs int64, ok bool, err error) {
	l.mu.RLock()
	entries := l.batches
	start := l.start
	f := l.f
	l.mu.RUnlock()
	for _, e := range entries {
		if e.last < start || e.maxTs < ts {
			continue
		}
		b, err := l.readBatch(f, e)
		if err != nil {
			return 0, 0, false, err
		}
		recs, err := b.Records()
		if err != nil {
			return 0, 0, false, err
		}
		for i := range recs {
			o := b.BaseOffset() + int64(recs[i].OffsetDelta)
			if t := b.Timestamp(&recs[i]); t >= ts && o >= start {
				return o, t, true, nil
			}
		}
	}
	return 0, 0, false, nil
}

// MaxTimestamp returns the offset and timestamp of the record with the
// largest timestamp (the first such record), as ListOffsets -3 answers.
func (l *Log) MaxTimestamp() (offset, ts int64, ok bool, err error) {
	l.mu.RLock()
	entries := l.batches
	start := l.start
	f := l.f
	l.mu.RUnlock()
	best := -1
	for i, e := range entries {
		if e.last >= start && (best < 0 || e.maxTs > entries[best].maxTs) {
			best = i
		}
	}
	if best < 0 {
		return 0, 0, false, nil
	}
	b, err := l.readBatch(f, entries[best])
	if err != nil {
		return 0, 0, false, err
	}
	recs, err := b.Records()
	if err != nil {
		return 0, 0, false, err
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
// retention). It never moves backwards and never past the end.
func (l *Log) AdvanceStart(offset int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if offset > l.end {
		return l.start, ErrOffsetOutOfRange
	}
	if offset <= l.start {
		return l.start, nil
	}
	l.start = offset
	return l.start, writeFileAtomic(filepath.Join(l.dir, startOffsetFile), []byte(strconv.FormatInt(offset, 10)+"\n"))
}

// Close flushes and closes the log.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	err := l.f.Sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Delete closes the log and removes its directory, renaming it first so a
// crash mid-delete never leaves a half-deleted partition that looks live.
func (l *Log) Delete() error {
	l.Close()
	tomb := l.dir + ".deleted"
	if err := os.Rename(l.dir, tomb); err != nil {
		return err
	}
	return os.RemoveAll(tomb)
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
