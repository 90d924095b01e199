package storage

// Kafka's transaction index: <base>.txnindex beside each segment holding
// ABORT markers, one 34-byte entry per aborted transaction whose marker is
// in the segment, in marker order: version (int16, 0), producer id, first
// offset, last offset (the marker's), and the last stable offset once the
// transaction was aborted (int64s, big endian). The partition owns the
// aborted-transaction state (internal/partition/txn.go): it appends an
// entry when an ABORT marker is written (AppendTxnIndex) and rewrites the
// files from the state it rebuilds from the log on open, truncation and
// repair (RewriteTxnIndex), so a crash never leaves an entry the log does
// not back. Segment deletion removes the segment's .txnindex; compaction
// keeps it as it is (its entries may name records the cleaner removed, as
// in Kafka).

import (
	"bytes"
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

// segmentFor returns the base of the segment holding offset. Under mu.
func (l *Log) segmentFor(offset int64) (int64, bool) {
	i, found := slices.BinarySearchFunc(l.segs, offset, func(s *segment, o int64) int {
		switch {
		case s.base < o:
			return -1
		case s.base > o:
			return 1
		}
		return 0
	})
	if !found {
		i--
	}
	if i < 0 {
		return 0, false
	}
	return l.segs[i].base, true
}

// AppendTxnIndex appends e to the .txnindex of the segment holding its
// marker (e.LastOffset). It is not fsynced: the file is rebuilt from the
// log after a crash.
func (l *Log) AppendTxnIndex(e TxnIndexEntry) error {
	l.mu.RLock()
	base, ok := l.segmentFor(e.LastOffset)
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if !ok {
		return fmt.Errorf("no segment holds offset %d", e.LastOffset)
	}
	f, err := os.OpenFile(filepath.Join(l.dir, SegmentName(base, ".txnindex")), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(e.appendTo(nil))
	return errors.Join(err, f.Close())
}

// RewriteTxnIndex makes the .txnindex files hold exactly entries (in
// marker order): each segment's file its entries, no file for a segment
// without any. A file that already holds the right bytes is not
// rewritten.
func (l *Log) RewriteTxnIndex(entries []TxnIndexEntry) error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	want := map[int64][]byte{}
	for _, e := range entries {
		if base, ok := l.segmentFor(e.LastOffset); ok {
			want[base] = e.appendTo(want[base])
		}
	}
	l.mu.RUnlock()
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
