package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Index files hold fixed-size big-endian entries, in offset order:
//
//	.index      8 bytes: relative offset (uint32), position in .log (uint32)
//	.timeindex 12 bytes: timestamp (int64), relative offset (uint32)
//
// An offset index entry names the last offset of a batch and the position
// where that batch starts; one is written when more than
// index.interval.bytes were appended since the previous one. A time index
// entry is written beside it when the segment's largest timestamp grew, and
// once more when the segment is rolled; it names that timestamp and the last
// offset of the batch carrying it. Neither file is held in memory: lookups
// read it (the whole file when small, else by binary search). New entries
// are written indexBatch at a time (a write per entry was one more pwrite
// per batch of each file, a tenth of the broker's CPU with 1,000
// partitions of 64 KiB batches), and when the segment is sealed, closed or
// recovered; lookups see the entries written (a read past them walks the
// batch headers from the last one, as it does between entries). The
// active segment's indexes are rebuilt by recovery after a crash, so the
// entries not written yet need no durability.
const (
	offsetEntrySize = 8
	timeEntrySize   = 12
	// wholeReadLimit is the index size read at once for a lookup.
	wholeReadLimit = 64 << 10
	// indexBatch is how many new entries are written at once.
	indexBatch = 16
)

// ErrIndexCorrupt reports an index that fails its sanity check.
var ErrIndexCorrupt = errors.New("index is corrupt")

// index is one index file. n and pend are guarded by the owning Log's mu;
// entries below a published written() never change until the file is
// truncated by recovery or replaced by the cleaner.
type index struct {
	f    *segFile
	path string
	size int // entry size
	n    int // entries, written or pending
	pend []byte
}

// written is the number of entries in the file (readers look up these).
func (x *index) written() int { return x.n - len(x.pend)/x.size }

// openIndex opens an index file with flag (O_RDWR|O_CREATE, with O_TRUNC
// for a fresh segment) in cache c; dk is the segment's data key (nil:
// plaintext) and kind the file's.
func openIndex(c *fileCache, path string, size int, flag int, dk *dataKey, kind byte) (*index, error) {
	f, err := openCachedSegFile(c, path, flag, dk, kind)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &index{f: f, size: size, n: int(st.Size() / int64(size))}, nil
}

// torn reports whether the file length is not a whole number of entries.
func (x *index) torn() bool {
	st, err := x.f.Stat()
	return err != nil || st.Size()%int64(x.size) != 0
}

// append adds an entry, writing the pending ones once indexBatch are.
func (x *index) append(e []byte) error {
	x.pend = append(x.pend, e...)
	x.n++
	if len(x.pend) >= indexBatch*x.size {
		return x.flush()
	}
	return nil
}

// flush writes the pending entries. A failed write keeps them pending
// (the next flush writes them again at the same place).
func (x *index) flush() error {
	if len(x.pend) == 0 {
		return nil
	}
	if _, err := x.f.WriteAt(x.pend, int64(x.written()*x.size)); err != nil {
		return err
	}
	x.pend = x.pend[:0]
	return nil
}

// reset truncates the file to zero entries.
func (x *index) reset() error {
	x.n, x.pend = 0, nil
	return x.f.Truncate(0)
}

// write replaces the file's contents with entries (recovery rebuild).
// An index that already holds entries is left as it is: recovery after a
// crash mostly rebuilds what is there, and an unchanged file needs no
// write (nor an fsync before its descriptor is closed, files.go).
func (x *index) write(entries []byte) error {
	x.pend = nil
	if st, err := x.f.Stat(); err == nil && st.Size() == int64(len(entries)) {
		cur := make([]byte, len(entries))
		if _, err := x.f.ReadAt(cur, 0); err == nil && string(cur) == string(entries) {
			x.n = len(entries) / x.size
			return nil
		}
	}
	if err := x.f.Truncate(0); err != nil {
		return err
	}
	if _, err := x.f.WriteAt(entries, 0); err != nil {
		return err
	}
	x.n = len(entries) / x.size
	return nil
}

func (x *index) entry(i int) ([]byte, error) {
	buf := make([]byte, x.size)
	if _, err := x.f.ReadAt(buf, int64(i*x.size)); err != nil {
		return nil, err
	}
	return buf, nil
}

// floor returns the last of the first n entries whose key is <= target, or
// nil if none is (or n is 0).
func (x *index) floor(n int, key func([]byte) int64, target int64) ([]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	if n*x.size <= wholeReadLimit {
		buf := make([]byte, n*x.size)
		if _, err := x.f.ReadAt(buf, 0); err != nil {
			return nil, err
		}
		lo, hi := 0, n // first entry with key > target
		for lo < hi {
			m := (lo + hi) / 2
			if key(buf[m*x.size:]) <= target {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo == 0 {
			return nil, nil
		}
		return buf[(lo-1)*x.size : lo*x.size], nil
	}
	lo, hi := 0, n
	for lo < hi {
		m := (lo + hi) / 2
		e, err := x.entry(m)
		if err != nil {
			return nil, err
		}
		if key(e) <= target {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return nil, nil
	}
	return x.entry(lo - 1)
}

// close writes the pending entries and closes the file.
func (x *index) close() error { return errors.Join(x.flush(), x.f.Close()) }

// discard drops the pending entries (the file is being removed).
func (x *index) discard() { x.pend = nil }

// Entry codecs.

func offsetEntry(rel uint32, pos uint32) []byte {
	var e [offsetEntrySize]byte
	binary.BigEndian.PutUint32(e[0:], rel)
	binary.BigEndian.PutUint32(e[4:], pos)
	return e[:]
}

func offsetEntryRel(e []byte) int64 { return int64(binary.BigEndian.Uint32(e[0:])) }
func offsetEntryPos(e []byte) int64 { return int64(binary.BigEndian.Uint32(e[4:])) }

func timeEntry(ts int64, rel uint32) []byte {
	var e [timeEntrySize]byte
	binary.BigEndian.PutUint64(e[0:], uint64(ts))
	binary.BigEndian.PutUint32(e[8:], rel)
	return e[:]
}

func timeEntryTs(e []byte) int64  { return int64(binary.BigEndian.Uint64(e[0:])) }
func timeEntryRel(e []byte) int64 { return int64(binary.BigEndian.Uint32(e[8:])) }

// IndexEntry is one decoded index entry: an absolute offset with a file
// position (.index) or a timestamp (.timeindex).
type IndexEntry struct {
	Offset    int64
	Position  int64
	Timestamp int64
}

// DecodeOffsetIndex decodes a whole .index file of a segment with base
// offset base. A length that is not a multiple of the entry size is an
// error; the whole entries are still returned.
func DecodeOffsetIndex(data []byte, base int64) ([]IndexEntry, error) {
	out := make([]IndexEntry, 0, len(data)/offsetEntrySize)
	for i := 0; i+offsetEntrySize <= len(data); i += offsetEntrySize {
		out = append(out, IndexEntry{Offset: base + offsetEntryRel(data[i:]), Position: offsetEntryPos(data[i:]), Timestamp: -1})
	}
	if len(data)%offsetEntrySize != 0 {
		return out, fmt.Errorf("%w: %d trailing bytes", ErrIndexCorrupt, len(data)%offsetEntrySize)
	}
	return out, nil
}

// DecodeTimeIndex decodes a whole .timeindex file, as DecodeOffsetIndex.
func DecodeTimeIndex(data []byte, base int64) ([]IndexEntry, error) {
	out := make([]IndexEntry, 0, len(data)/timeEntrySize)
	for i := 0; i+timeEntrySize <= len(data); i += timeEntrySize {
		out = append(out, IndexEntry{Offset: base + timeEntryRel(data[i:]), Timestamp: timeEntryTs(data[i:]), Position: -1})
	}
	if len(data)%timeEntrySize != 0 {
		return out, fmt.Errorf("%w: %d trailing bytes", ErrIndexCorrupt, len(data)%timeEntrySize)
	}
	return out, nil
}

// CheckOffsetIndex verifies decoded .index entries against their segment:
// offsets strictly increase and lie in [base, next), positions strictly
// increase and lie below logSize. next < 0 skips the upper offset bound.
func CheckOffsetIndex(entries []IndexEntry, base, next, logSize int64) error {
	for i, e := range entries {
		switch {
		case e.Offset < base || next >= 0 && e.Offset >= next:
			return fmt.Errorf("%w: entry %d offset %d outside segment [%d, %d)", ErrIndexCorrupt, i, e.Offset, base, next)
		case e.Position < 0 || e.Position >= logSize:
			return fmt.Errorf("%w: entry %d position %d beyond log size %d", ErrIndexCorrupt, i, e.Position, logSize)
		case i > 0 && e.Offset <= entries[i-1].Offset:
			return fmt.Errorf("%w: entry %d offset %d not above previous %d", ErrIndexCorrupt, i, e.Offset, entries[i-1].Offset)
		case i > 0 && e.Position <= entries[i-1].Position:
			return fmt.Errorf("%w: entry %d position %d not above previous %d", ErrIndexCorrupt, i, e.Position, entries[i-1].Position)
		}
	}
	return nil
}

// CheckTimeIndex verifies decoded .timeindex entries: timestamps and
// offsets never decrease and offsets lie in [base, next).
func CheckTimeIndex(entries []IndexEntry, base, next int64) error {
	for i, e := range entries {
		switch {
		case e.Offset < base || next >= 0 && e.Offset >= next:
			return fmt.Errorf("%w: entry %d offset %d outside segment [%d, %d)", ErrIndexCorrupt, i, e.Offset, base, next)
		case i > 0 && e.Timestamp < entries[i-1].Timestamp:
			return fmt.Errorf("%w: entry %d timestamp %d below previous %d", ErrIndexCorrupt, i, e.Timestamp, entries[i-1].Timestamp)
		case i > 0 && e.Offset < entries[i-1].Offset:
			return fmt.Errorf("%w: entry %d offset %d below previous %d", ErrIndexCorrupt, i, e.Offset, entries[i-1].Offset)
		}
	}
	return nil
}
