package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary/tributary/internal/record"
)

// FuzzSegmentRecover writes arbitrary bytes as a segment's .log and opens
// the log: recovery must keep a valid prefix without panicking, and every
// batch it serves must pass its CRC check.
func FuzzSegmentRecover(f *testing.F) {
	var good bytes.Buffer
	for i := 0; i < 4; i++ {
		good.Write(mkBatch(f, int64(i*3), 3, 1000, 2))
	}
	f.Add(good.Bytes())
	f.Add(good.Bytes()[:good.Len()-5])
	f.Add(append(append([]byte(nil), good.Bytes()...), make([]byte, 64)...))
	flipped := append([]byte(nil), good.Bytes()...)
	flipped[70] ^= 0x40
	f.Add(flipped)
	f.Add([]byte{})
	f.Add(make([]byte, 61))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := filepath.Join(t.TempDir(), "f-0")
		os.MkdirAll(dir, 0o755)
		p := filepath.Join(dir, SegmentName(0, ".log"))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		DumpFile(discard{}, p, DumpOptions{PrintData: true, Keys: testKeys})
		l, err := Open(dir, quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		readRecords(t, l)
		if _, err := l.Append(mkBatch(t, l.EndOffset(), 2, 5, 0)); err != nil {
			t.Fatal(err)
		}
		l.OffsetForTimestamp(1001)
		l.MaxTimestamp()
	})
}

// FuzzIndexFiles writes arbitrary .index and .timeindex files beside a
// valid .log after a clean shutdown (so they are trusted, not rebuilt):
// the sanity check on open must catch what would misdirect reads, and
// reads must return every record.
func FuzzIndexFiles(f *testing.F) {
	f.Add([]byte{}, []byte{})
	f.Add(offsetEntry(5, 0), timeEntry(1005, 5))
	f.Add(append(offsetEntry(2, 0), offsetEntry(5, 117)...), timeEntry(-1, 0))
	f.Add(make([]byte, 16), make([]byte, 13))
	f.Add(bytes.Repeat([]byte{0xff}, 24), bytes.Repeat([]byte{0x7f}, 24))
	f.Fuzz(func(t *testing.T, idx, tidx []byte) {
		e := newEnv(t)
		l := e.log(DefaultOptions())
		appendN(t, l, 6, 3, 1000)
		if err := e.m.Close(); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(e.dir, "t-0", SegmentName(0, ".index")), idx, 0o644)
		os.WriteFile(filepath.Join(e.dir, "t-0", SegmentName(0, ".timeindex")), tidx, 0o644)
		DumpFile(discard{}, filepath.Join(e.dir, "t-0", SegmentName(0, ".index")), DumpOptions{IndexSanityCheck: true, Keys: testKeys})
		DumpFile(discard{}, filepath.Join(e.dir, "t-0", SegmentName(0, ".timeindex")), DumpOptions{Keys: testKeys})
		e.open()
		l = e.log(DefaultOptions())
		checkContiguous(t, l, 0, 18)
		for o := int64(0); o < 18; o++ {
			res, err := l.Read(o, 18, 1, true)
			if err != nil || len(res.Data) == 0 {
				t.Fatalf("read %d: %v", o, err)
			}
		}
		if off, _, ok, err := l.OffsetForTimestamp(1000 + 7); err != nil || !ok || off != 7 {
			t.Fatalf("offset for timestamp: %d %v %v", off, ok, err)
		}
	})
}

// FuzzCorruptRead damages bytes of a live log's sealed and active segments
// (as a failing disk would, under the open log) and reads every offset: a
// read never panics, never serves a batch that fails its CRC, and once it
// reports corruption the log is offline; Repair then leaves a contiguous,
// readable prefix.
func FuzzCorruptRead(f *testing.F) {
	f.Add(uint16(100), byte(0x01), uint8(1))
	f.Add(uint16(9), byte(0x40), uint8(0))     // a length field
	f.Add(uint16(17), byte(0xff), uint8(2))    // a CRC field
	f.Add(uint16(57), byte(0x80), uint8(1))    // a record count
	f.Add(uint16(1000), byte(0x10), uint8(3))  // past the end of a segment
	f.Add(uint16(16), byte(0x01), uint8(0xff)) // the magic byte of the active segment
	f.Fuzz(func(t *testing.T, at uint16, mask byte, seg uint8) { corruptRead(t, int64(at), mask, seg, false) })
}

// FuzzCorruptReadZeroCopy is FuzzCorruptRead through ReadZeroCopy on a
// reopened log (so no batch is one this process appended), with segments
// long enough that reads are checked through a mapping of the file
// (Log.sliceFrom) and left in it: what a slice sends passes its checks
// too.
func FuzzCorruptReadZeroCopy(f *testing.F) {
	f.Add(uint32(100), byte(0x01), uint8(1))
	f.Add(uint32(9), byte(0x40), uint8(0))
	f.Add(uint32(200000), byte(0xff), uint8(1))
	f.Add(uint32(300000), byte(0x08), uint8(2))
	f.Add(uint32(16), byte(0x01), uint8(0xff))
	f.Fuzz(func(t *testing.T, at uint32, mask byte, seg uint8) {
		corruptRead(t, int64(at%(4*mapCheckMin)), mask, seg, true)
	})
}

func corruptRead(t *testing.T, at int64, mask byte, seg uint8, zeroCopy bool) {
	e := newEnv(t)
	o := smallSegments()
	o.SegmentBytes = 1024 // a few batches per segment: several segments, few fsyncs
	batches, per := 40, 3
	if zeroCopy {
		o.SegmentBytes, batches, per = 3*mapCheckMin, 120, 100
	}
	l := e.log(o)
	ts := e.clk.Now().UnixMilli()
	appendN(t, l, batches, per, ts)
	if zeroCopy {
		// Reopened (a clean stop: nothing is re-read), so no byte is one
		// this process appended and every read must check.
		if err := e.m.Close(); err != nil {
			t.Fatal(err)
		}
		e.open()
		l = e.log(o)
	}
	segs := l.Segments()
	s := segs[int(seg)%len(segs)]
	if mask == 0 {
		mask = 1
	}
	if at < s.Size {
		fh, err := os.OpenFile(s.Path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		fh.ReadAt(b, at)
		b[0] ^= mask
		fh.WriteAt(b, at)
		fh.Close()
	}
	end := l.EndOffset()
	for o, next := int64(0), int64(0); o < end; o = next {
		next = o + 1
		read := l.Read
		if zeroCopy {
			read = l.ReadZeroCopy
		}
		res, err := read(o, end, 1<<20, true)
		if err != nil {
			if l.Offline() == nil && !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("read %d failed (%v) but the log is online", o, err)
			}
			continue
		}
		if zeroCopy && res.Next > o {
			next = res.Next // as a consumer reads on (every offset would map a segment 12,000 times)
		}
		data := res.Data
		if res.Slice != nil {
			var sent bytes.Buffer
			if _, err := res.Slice.WriteTo(&sent); err != nil {
				t.Fatalf("read %d: send: %v", o, err)
			}
			data = sent.Bytes()
		}
		for buf := data; len(buf) > 0; {
			n, err := record.Peek(buf)
			if err != nil || !record.Batch(buf[:n]).CheckCRC() {
				t.Fatalf("read %d served a bad batch: %v", o, err)
			}
			buf = buf[n:]
		}
	}
	l.OffsetForTimestamp(ts + 7)
	l.MaxTimestamp()
	if _, err := l.Repair(); err != nil || l.Offline() != nil {
		t.Fatalf("repair: %v, offline %v", err, l.Offline())
	}
	// The base offset is outside the CRC (Kafka's format), so a flip
	// there can leave a gap that recovery accepts; the rest reads.
	offs, _ := readAll(t, l)
	for i := 1; i < len(offs); i++ {
		if offs[i] <= offs[i-1] {
			t.Fatalf("offsets %d then %d after repair", offs[i-1], offs[i])
		}
	}
}

// FuzzParseTxnIndex: a .txnindex read from disk never panics, and what it
// accepts encodes back to the same bytes.
func FuzzParseTxnIndex(f *testing.F) {
	f.Add(TxnIndexEntry{ProducerID: 1, FirstOffset: 2, LastOffset: 3, LastStableOffset: 4}.appendTo(nil))
	f.Add([]byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		es, err := ParseTxnIndex(data)
		if err != nil {
			return
		}
		var out []byte
		for _, e := range es {
			out = e.appendTo(out)
		}
		if string(out) != string(data) {
			t.Fatalf("round trip: %x -> %x", data, out)
		}
	})
}

// FuzzCheckpoints reads arbitrary bytes as the data dir's offset checkpoints
// (recovery-point-offset-checkpoint, log-start-offset-checkpoint) and as a
// leader-epoch-checkpoint: either an error or entries, never a panic, and
// entries read back unchanged once written.
func FuzzCheckpoints(f *testing.F) {
	f.Add([]byte("0\n2\nt 0 10\nt 1 20\n"))
	f.Add([]byte("0\n1\n3 100\n"))
	f.Add([]byte("0\n2\nt 0 10\n")) // fewer entries than the count
	f.Add([]byte("0\n-1\n"))        // negative count
	f.Add([]byte("1\n0\n"))         // unknown version
	f.Add([]byte("0\n1\nt x 10\n")) // bad partition
	f.Add([]byte("0\n1\nt 0 99999999999999999999\n"))
	f.Add([]byte("0\n99999999999\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		in := filepath.Join(dir, "in")
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if m, err := readOffsetsCheckpoint(in); err == nil {
			out := filepath.Join(dir, "offsets")
			if err := writeOffsetsCheckpoint(out, m); err != nil {
				t.Fatal(err)
			}
			back, err := readOffsetsCheckpoint(out)
			if err != nil {
				t.Fatalf("offsets %v written, then: %v", m, err)
			}
			if len(back) != len(m) {
				t.Fatalf("offsets %v read back as %v", m, back)
			}
			for k, v := range m {
				if w, ok := back[k]; !ok || w != v {
					t.Fatalf("offsets %v read back as %v", m, back)
				}
				if tp, ok := parseDirName(k.dirName()); ok && tp != k {
					t.Fatalf("dir name %q parsed as %v, want %v", k.dirName(), tp, k)
				}
			}
		}
		if es, err := readEpochCheckpoint(in); err == nil {
			out := filepath.Join(dir, "epochs")
			if err := writeEpochCheckpoint(out, es); err != nil {
				t.Fatal(err)
			}
			back, err := readEpochCheckpoint(out)
			if err != nil || len(back) != len(es) {
				t.Fatalf("epochs %v read back as %v (%v)", es, back, err)
			}
			for i := range es {
				if back[i] != es[i] {
					t.Fatalf("epochs %v read back as %v", es, back)
				}
			}
		}
	})
}
