package storage

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tributary/tributary/internal/record"
)

// DumpOptions select what DumpFile prints, as Kafka's DumpLogSegments.
type DumpOptions struct {
	// DeepIteration prints every record of every batch.
	DeepIteration bool
	// PrintData prints record keys, values and headers (implies
	// DeepIteration).
	PrintData bool
	// IndexSanityCheck checks .index / .timeindex files against their .log
	// and prints only the verdict, not the entries.
	IndexSanityCheck bool
	// Keys reads encrypted segments (crypt.go); nil: an encrypted
	// segment is an error.
	Keys *Keyring
}

// ErrDumpFailed reports a file that failed its checks; the details were
// printed.
var ErrDumpFailed = errors.New("file failed verification")

// DumpFile prints a .log, .index, .timeindex, .txnindex or .key file to
// w; an encrypted segment's files are decrypted with o.Keys. It only reads,
// so it works on the files of a running broker. It returns an error
// wrapping ErrDumpFailed if the file is invalid: a .log batch that fails
// its CRC or header checks, offsets going backwards, a truncated batch at
// the end (an append in flight on a running broker's active segment can
// show one for an instant; dump again to tell), or an index whose entries
// do not match its .log (checked whenever the .log is beside it).
func DumpFile(w io.Writer, path string, o DumpOptions) error {
	name := filepath.Base(path)
	base, err := strconv.ParseInt(strings.SplitN(name, ".", 2)[0], 10, 64)
	if err != nil {
		return fmt.Errorf("%s: not a segment file (want <20-digit offset>.log|.index|.timeindex|.txnindex)", path)
	}
	fmt.Fprintf(w, "Dumping %s\n", path)
	switch filepath.Ext(name) {
	case ".log":
		return dumpLog(w, path, base, o)
	case ".index", ".timeindex":
		return dumpIndex(w, path, base, o)
	case ".txnindex":
		return dumpTxnIndex(w, path)
	case keyFileExt:
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		d, err := describeKeyFile(data)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrDumpFailed, path, err)
		}
		fmt.Fprintln(w, d)
		return nil
	}
	return fmt.Errorf("%s: unknown file type", path)
}

// batchRef locates one batch of a .log.
type batchRef struct {
	pos         int64
	base, last  int64
	maxTs       int64
	size        int64
	crcOK       bool
	recordCount int32
}

// scanLog walks a .log, calling fn for each batch whose header is readable
// and whole. It returns the bytes walked and why it stopped early, if it did.
func scanLog(f io.ReaderAt, size int64, fn func(batchRef, record.Batch) error) (int64, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 1<<20)
	hdr := make([]byte, record.HeaderSize)
	var pos int64
	for pos < size {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return pos, fmt.Errorf("partial batch header at position %d", pos)
		}
		n, err := batchSize(hdr)
		if err != nil {
			return pos, fmt.Errorf("invalid batch header at position %d: %v", pos, err)
		}
		if pos+int64(n) > size {
			return pos, fmt.Errorf("partial batch at position %d (%d of %d bytes)", pos, size-pos, n)
		}
		buf := make([]byte, n)
		copy(buf, hdr)
		if _, err := io.ReadFull(r, buf[record.HeaderSize:]); err != nil {
			return pos, err
		}
		b := record.Batch(buf)
		ref := batchRef{pos: pos, base: b.BaseOffset(), last: b.LastOffset(), maxTs: b.MaxTimestamp(), size: int64(n), crcOK: b.CheckCRC(), recordCount: b.RecordCount()}
		if err := fn(ref, b); err != nil {
			return pos, err
		}
		pos += int64(n)
	}
	return pos, nil
}

var codecNames = []string{"none", "gzip", "snappy", "lz4", "zstd"}

func codecName(c int8) string {
	if int(c) < len(codecNames) && c >= 0 {
		return codecNames[c]
	}
	return "unknown(" + strconv.Itoa(int(c)) + ")"
}

func dumpLog(w io.Writer, path string, base int64, o DumpOptions) error {
	dk, err := segmentDataKey(path, base, o.Keys)
	if err != nil {
		return err
	}
	f, err := openSegFile(path, os.O_RDONLY, dk, kindLog)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Log starting offset: %d\n", base)
	bad := 0
	prevLast := base - 1
	walked, stop := scanLog(f, st.Size(), func(ref batchRef, b record.Batch) error {
		tsType := "CreateTime"
		if b.IsLogAppendTime() {
			tsType = "LogAppendTime"
		}
		fmt.Fprintf(w, "baseOffset: %d lastOffset: %d count: %d baseSequence: %d lastSequence: %d producerId: %d producerEpoch: %d partitionLeaderEpoch: %d isTransactional: %t isControl: %t position: %d %s: %d size: %d magic: %d compresscodec: %s crc: %d isvalid: %t\n",
			ref.base, ref.last, ref.recordCount, b.BaseSequence(), lastSeq(b), b.ProducerID(), b.ProducerEpoch(), b.PartitionLeaderEpoch(),
			b.IsTransactional(), b.IsControl(), ref.pos, tsType, ref.maxTs, ref.size, b.Magic(), codecName(b.Compression()), b.CRC(), ref.crcOK)
		if !ref.crcOK {
			bad++
			return nil
		}
		if ref.base <= prevLast {
			fmt.Fprintf(w, "  offsets go backwards: base offset %d after %d\n", ref.base, prevLast)
			bad++
		}
		prevLast = ref.last
		if o.DeepIteration || o.PrintData {
			recs, err := b.Records()
			if err != nil {
				fmt.Fprintf(w, "  cannot decode records: %v\n", err)
				bad++
				return nil
			}
			for i := range recs {
				r := &recs[i]
				seq := int32(-1)
				if b.BaseSequence() >= 0 {
					seq = b.BaseSequence() + r.OffsetDelta
				}
				keys := make([]string, len(r.Headers))
				for j, h := range r.Headers {
					keys[j] = h.Key
				}
				fmt.Fprintf(w, "| offset: %d %s: %d keySize: %d valueSize: %d sequence: %d headerKeys: [%s]",
					b.BaseOffset()+int64(r.OffsetDelta), tsType, b.Timestamp(r), lenOrNeg(r.Key), lenOrNeg(r.Value), seq, strings.Join(keys, ","))
				if b.IsControl() {
					// A transaction marker: its type and coordinator
					// epoch, as DumpLogSegments prints them.
					if typ, coordEpoch, err := b.ControlType(); err != nil {
						fmt.Fprintf(w, " invalid control record: %v", err)
						bad++
					} else if typ == record.ControlCommit || typ == record.ControlAbort {
						fmt.Fprintf(w, " endTxnMarker: %s coordinatorEpoch: %d", map[bool]string{true: "COMMIT", false: "ABORT"}[typ == record.ControlCommit], coordEpoch)
					} else {
						fmt.Fprintf(w, " controlType: %d", typ)
					}
				}
				if o.PrintData {
					hs := make([]string, len(r.Headers))
					for j, h := range r.Headers {
						hs[j] = h.Key + ":" + string(h.Value)
					}
					if r.Key != nil {
						fmt.Fprintf(w, " key: %s", r.Key)
					}
					if r.Value != nil {
						fmt.Fprintf(w, " payload: %s", r.Value)
					} else {
						fmt.Fprint(w, " payload: null")
					}
					if len(hs) > 0 {
						fmt.Fprintf(w, " headers: %s", strings.Join(hs, ","))
					}
				}
				fmt.Fprintln(w)
			}
		}
		return nil
	})
	if stop != nil {
		// A truncated last batch fails too: a segment on disk holds whole
		// batches (an append in flight on a running broker's active
		// segment can show one; dump again to tell).
		fmt.Fprintf(w, "Found %d invalid bytes at the end of %s: %v\n", st.Size()-walked, filepath.Base(path), stop)
		bad++
	}
	if bad > 0 {
		return fmt.Errorf("%w: %s has %d invalid batches", ErrDumpFailed, path, bad)
	}
	return nil
}

func lenOrNeg(b []byte) int {
	if b == nil {
		return -1
	}
	return len(b)
}

func dumpIndex(w io.Writer, path string, base int64, o DumpOptions) error {
	dk, err := segmentDataKey(path, base, o.Keys)
	if err != nil {
		return err
	}
	isTime := strings.HasSuffix(path, ".timeindex")
	kind := kindIndex
	if isTime {
		kind = kindTimeIndex
	}
	data, err := readSegFile(path, dk, kind)
	if err != nil {
		return err
	}
	var entries []IndexEntry
	var decErr error
	if isTime {
		entries, decErr = DecodeTimeIndex(data, base)
	} else {
		entries, decErr = DecodeOffsetIndex(data, base)
	}
	if !o.IndexSanityCheck {
		for _, e := range entries {
			if isTime {
				fmt.Fprintf(w, "timestamp: %d offset: %d\n", e.Timestamp, e.Offset)
			} else {
				fmt.Fprintf(w, "offset: %d position: %d\n", e.Offset, e.Position)
			}
		}
	}
	err = decErr
	if err == nil {
		err = checkIndexFile(path, base, entries, isTime, dk)
		if !o.IndexSanityCheck && errors.Is(err, fs.ErrNotExist) {
			// A lone index file is printed; only the sanity check
			// insists on its .log.
			err = nil
		}
	}
	if err != nil {
		fmt.Fprintf(w, "%s failed sanity check: %v\n", path, err)
		return fmt.Errorf("%w: %s: %v", ErrDumpFailed, path, err)
	}
	fmt.Fprintf(w, "%s passed sanity check (%d entries)\n", path, len(entries))
	return nil
}

// checkIndexFile checks index entries against the segment's .log: every
// offset index entry must name a batch's last offset and that batch's
// position; every time index entry a batch's last offset and its largest
// timestamp.
func checkIndexFile(path string, base int64, entries []IndexEntry, isTime bool, dk *dataKey) error {
	logPath := strings.TrimSuffix(strings.TrimSuffix(path, ".timeindex"), ".index") + ".log"
	f, err := openSegFile(logPath, os.O_RDONLY, dk, kindLog)
	if err != nil {
		return fmt.Errorf("opening the segment's log: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	byPos := map[int64]batchRef{}
	byLast := map[int64]batchRef{}
	next := base
	walked, _ := scanLog(f, st.Size(), func(ref batchRef, _ record.Batch) error {
		byPos[ref.pos], byLast[ref.last] = ref, ref
		next = ref.last + 1
		return nil
	})
	if isTime {
		if err := CheckTimeIndex(entries, base, next); err != nil {
			return err
		}
		for i, e := range entries {
			ref, ok := byLast[e.Offset]
			if !ok {
				return fmt.Errorf("%w: entry %d offset %d is not the last offset of a batch", ErrIndexCorrupt, i, e.Offset)
			}
			if ref.maxTs != e.Timestamp {
				return fmt.Errorf("%w: entry %d timestamp %d, batch max timestamp %d", ErrIndexCorrupt, i, e.Timestamp, ref.maxTs)
			}
		}
		return nil
	}
	if err := CheckOffsetIndex(entries, base, next, max(walked, 1)); err != nil {
		return err
	}
	for i, e := range entries {
		ref, ok := byPos[e.Position]
		if !ok {
			return fmt.Errorf("%w: entry %d position %d is not a batch boundary", ErrIndexCorrupt, i, e.Position)
		}
		if ref.last != e.Offset {
			return fmt.Errorf("%w: entry %d offset %d, batch at position %d ends at %d", ErrIndexCorrupt, i, e.Offset, e.Position, ref.last)
		}
	}
	return nil
}

func lastSeq(b record.Batch) int32 {
	if b.BaseSequence() < 0 {
		return -1
	}
	return b.LastSequence()
}

// dumpTxnIndex prints a .txnindex's entries as DumpLogSegments does.
func dumpTxnIndex(w io.Writer, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	es, err := ParseTxnIndex(data)
	if err != nil {
		fmt.Fprintf(w, "%v\n", err)
		return fmt.Errorf("%w: %s: %v", ErrDumpFailed, path, err)
	}
	for _, e := range es {
		fmt.Fprintf(w, "version: 0 producerId: %d firstOffset: %d lastOffset: %d lastStableOffset: %d\n", e.ProducerID, e.FirstOffset, e.LastOffset, e.LastStableOffset)
	}
	return nil
}
