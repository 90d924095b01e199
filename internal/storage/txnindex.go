package storage

// Kafka's transaction index: <base>.txnindex beside each segment holding
// ABORT markers, one 34-byte entry per aborted transaction whose marker is
// in the segment, in marker order: version (int16, 0), producer id, first
// offset, last offset (the marker's), and the last stable offset once the
// transaction was aborted (int64s, big endian).
//
// A segment's index is the aborted-transaction list of the partition: a
// read_committed Fetch takes the transactions overlapping the offsets it
// read from the indexes of the segments from the one holding the fetch
// offset onwards (AbortedTxns, Kafka's rule), so the list lives and dies
// with the segments (retention deletes a segment's index with it; the
// cleaner keeps it as it is, its entries may name records compaction
// removed, as in Kafka; truncation drops the entries it cuts). Each
// segment holds its entries in memory (segment.txn, read from the file
// when the segment is opened) beside the file, so a fetch reads no file.
//
// The partition decides what the entries are (internal/partition/txn.go):
// it appends one when an ABORT marker is written (AppendTxnIndex) and
// rewrites the indexes from the state it rebuilds from the log on open,
// truncation and repair (RewriteTxnIndex), so a crash never leaves an
// entry the log does not back, and a lost or torn file comes back.

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// TxnIndexEntry is one aborted transaction in a .txnindex.
type TxnIndexEntry struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64 // the ABORT marker's offset
	LastStableOffset int64
}

const txnEntrySize = 34

// ErrTxnIndexCorrupt: a .txnindex that is not a whole number of version 0
// entries.
var ErrTxnIndexCorrupt = errors.New("corrupt transaction index")

func (e TxnIndexEntry) appendTo(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(e.ProducerID))
	b = binary.BigEndian.AppendUint64(b, uint64(e.FirstOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(e.LastOffset))
	return binary.BigEndian.AppendUint64(b, uint64(e.LastStableOffset))
}

// ParseTxnIndex decodes a .txnindex file's bytes.
func ParseTxnIndex(data []byte) ([]TxnIndexEntry, error) {
	if len(data)%txnEntrySize != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a multiple of %d", ErrTxnIndexCorrupt, len(data), txnEntrySize)
	}
	out := make([]TxnIndexEntry, 0, len(data)/txnEntrySize)
	for ; len(data) > 0; data = data[txnEntrySize:] {
		if v := binary.BigEndian.Uint16(data); v != 0 {
			return nil, fmt.Errorf("%w: entry version %d", ErrTxnIndexCorrupt, v)
		}
		out = append(out, TxnIndexEntry{
			ProducerID:       int64(binary.BigEndian.Uint64(data[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(data[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(data[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(data[26:])),
		})
	}
	return out, nil
}

// loadTxnIndex reads the segment's .txnindex into s.txn, if it has one.
// An unreadable file leaves it empty: the partition rewrites the index
// from the log when it opens.
func (s *segment) loadTxnIndex() {
	data, err := os.ReadFile(s.txnPath)
	if err != nil {
		return
	}
	if es, err := ParseTxnIndex(data); err == nil {
		s.txn = es
	}
}

// segmentIndex returns the index in l.segs of the segment holding offset
// (the last with base <= offset; the first if offset is below it). Under
// mu.
func (l *Log) segmentIndex(offset int64) int {
	i, found := slices.BinarySearchFunc(l.segs, offset, func(s *segment, o int64) int { return cmp.Compare(s.base, o) })
	if !found {
		i--
	}
	return max(i, 0)
}

// AppendTxnIndex appends e to the .txnindex of the segment holding its
// marker (e.LastOffset), which the caller appended. The entry is in the
// segment's index (AbortedTxns) when it returns, even if writing the file
// failed (logged and returned: the file is rewritten from the log when
// the partition next opens). The file is not fsynced, for the same
// reason.
func (l *Log) AppendTxnIndex(e TxnIndexEntry) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	s := l.segs[l.segmentIndex(e.LastOffset)]
	if e.LastOffset < s.base || e.LastOffset >= l.end {
		l.mu.Unlock()
		return fmt.Errorf("no segment holds offset %d", e.LastOffset)
	}
	s.txn = append(s.txn, e)
	path := s.txnPath
	l.mu.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err == nil {
		_, err = f.Write(e.appendTo(nil))
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		l.logger.Error("writing transaction index (rewritten from the log at the next open)", "dir", l.dir, "file", filepath.Base(path), "err", err)
	}
	return err
}

// RewriteTxnIndex makes the segments' indexes hold exactly entries (in
// marker order): each segment its entries, no .txnindex file for a
// segment without any (nor for no segment). A file that already holds the
// right bytes is not rewritten.
func (l *Log) RewriteTxnIndex(entries []TxnIndexEntry) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	want := map[int64][]byte{}
	for _, s := range l.segs {
		s.txn = nil
	}
	for _, e := range entries {
		if e.LastOffset < l.segs[0].base || e.LastOffset >= l.end {
			continue
		}
		s := l.segs[l.segmentIndex(e.LastOffset)]
		s.txn = append(s.txn, e)
		want[s.base] = e.appendTo(want[s.base])
	}
	l.mu.Unlock()
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, de := range ents {
		name := de.Name()
		if !strings.HasSuffix(name, ".txnindex") {
			continue
		}
		base, err := strconv.ParseInt(strings.TrimSuffix(name, ".txnindex"), 10, 64)
		if _, ok := want[base]; err != nil || !ok {
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil && !os.IsNotExist(err) {
				errs = append(errs, err)
			}
		}
	}
	for base, data := range want {
		path := filepath.Join(l.dir, SegmentName(base, ".txnindex"))
		if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, data) {
			continue
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// AbortedTxns returns the aborted transactions a read_committed Fetch
// that read the offsets [from, upto) lists, oldest marker first: those
// with a batch in the range, whose marker is at or after from and whose
// first offset is below upto. As in Kafka, it reads the indexes of the
// segment holding from and of the later ones, and stops at the first
// entry whose last stable offset is at or past upto: every transaction
// aborted after it began at or after upto.
func (l *Log) AbortedTxns(from, upto int64) []TxnIndexEntry {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil
	}
	var out []TxnIndexEntry
	for _, s := range l.segs[l.segmentIndex(from):] {
		// In marker order: skip those ended before from.
		i, _ := slices.BinarySearchFunc(s.txn, from, func(e TxnIndexEntry, o int64) int { return cmp.Compare(e.LastOffset, o) })
		for _, e := range s.txn[i:] {
			if e.FirstOffset < upto {
				out = append(out, e)
			}
			if e.LastStableOffset >= upto {
				return out
			}
		}
	}
	return out
}

// truncateTxnIndex drops the entries of s whose marker is at or past end
// and rewrites its file to match. Under mu (truncation).
func (s *segment) truncateTxnIndex(end int64) error {
	i := slices.IndexFunc(s.txn, func(e TxnIndexEntry) bool { return e.LastOffset >= end })
	if i < 0 {
		return nil
	}
	s.txn = s.txn[:i:i]
	if i == 0 {
		if err := os.Remove(s.txnPath); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	var data []byte
	for _, e := range s.txn {
		data = e.appendTo(data)
	}
	return os.WriteFile(s.txnPath, data, 0o644)
}
