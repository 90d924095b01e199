package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tributary/tributary/internal/record"
)

func TestDumpAndSanityCheck(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallSegments())
	ts := e.clk.Now().UnixMilli()
	for i := 0; i < 150; i++ {
		if _, err := l.Append(mkBatch(t, l.EndOffset(), 4, ts+int64(i*4), 3)); err != nil {
			t.Fatal(err)
		}
	}
	segs := l.Segments()
	if len(segs) < 3 {
		t.Fatalf("%d segments", len(segs))
	}
	// The files of a running broker (the log is open) dump cleanly.
	for _, s := range segs {
		for _, ext := range []string{".log", ".index", ".timeindex"} {
			p := filepath.Join(l.Dir(), SegmentName(s.BaseOffset, ext))
			var out bytes.Buffer
			if err := DumpFile(&out, p, DumpOptions{PrintData: true, Keys: testKeys}); err != nil {
				t.Fatalf("%s: %v\n%s", p, err, out.String())
			}
			if ext == ".log" && !strings.Contains(out.String(), "| offset: "+itoa(s.BaseOffset)+" CreateTime: ") {
				t.Fatalf("%s dump lacks its first record:\n%s", p, out.String())
			}
			if ext == ".log" && !strings.Contains(out.String(), "key: k") {
				t.Fatalf("no keys printed:\n%s", out.String())
			}
			out.Reset()
			if ext != ".log" {
				if err := DumpFile(&out, p, DumpOptions{IndexSanityCheck: true, Keys: testKeys}); err != nil || !strings.Contains(out.String(), "passed sanity check") {
					t.Fatalf("%s: %v\n%s", p, err, out.String())
				}
			}
		}
	}
	idx := filepath.Join(l.Dir(), SegmentName(0, ".index"))
	tidx := filepath.Join(l.Dir(), SegmentName(0, ".timeindex"))
	good, _ := os.ReadFile(idx)
	goodT, _ := os.ReadFile(tidx)
	if len(good) < 16 || len(goodT) < 24 {
		t.Fatalf("index sizes %d %d", len(good), len(goodT))
	}
	broken := map[string]func() (string, []byte){
		"torn index":         func() (string, []byte) { return idx, good[:len(good)-3] },
		"position mid-batch": func() (string, []byte) { return idx, setU32(good, 4, binary.BigEndian.Uint32(good[4:])+1) },
		"offset off by one":  func() (string, []byte) { return idx, setU32(good, 0, binary.BigEndian.Uint32(good[0:])+1) },
		"positions reversed": func() (string, []byte) {
			b := append([]byte(nil), good...)
			copy(b[4:8], good[12:16])
			copy(b[12:16], good[4:8])
			return idx, b
		},
		"time offset wrong":     func() (string, []byte) { return tidx, setU32(goodT, 8, binary.BigEndian.Uint32(goodT[8:])+1) },
		"timestamps decreasing": func() (string, []byte) { return tidx, setU32(goodT, 0, 0xffffffff) },
		"zero filled":           func() (string, []byte) { return idx, make([]byte, len(good)) },
	}
	for name, fn := range broken {
		p, data := fn()
		orig, _ := os.ReadFile(p)
		os.WriteFile(p, data, 0o644)
		var out bytes.Buffer
		err := DumpFile(&out, p, DumpOptions{IndexSanityCheck: true, Keys: testKeys})
		if !errors.Is(err, ErrDumpFailed) || !strings.Contains(out.String(), "failed sanity check") {
			t.Errorf("%s: err %v\n%s", name, err, out.String())
		}
		os.WriteFile(p, orig, 0o644)
	}
	// A corrupt batch in the middle of a .log fails, and so does a
	// truncated one at the end.
	lp := filepath.Join(l.Dir(), SegmentName(0, ".log"))
	data, _ := os.ReadFile(lp)
	bad := append([]byte(nil), data...)
	bad[100] ^= 1
	os.WriteFile(lp, bad, 0o644)
	var out bytes.Buffer
	if err := DumpFile(&out, lp, DumpOptions{Keys: testKeys}); !errors.Is(err, ErrDumpFailed) || !strings.Contains(out.String(), "isvalid: false") {
		t.Fatalf("bit flip: %v\n%s", err, out.String())
	}
	os.WriteFile(lp, data[:len(data)-10], 0o644)
	out.Reset()
	if err := DumpFile(&out, lp, DumpOptions{Keys: testKeys}); !errors.Is(err, ErrDumpFailed) || !strings.Contains(out.String(), "invalid bytes at the end") {
		t.Fatalf("partial tail: %v\n%s", err, out.String())
	}
	// A batch length grown by a bit flip runs past the end of the file:
	// that is corruption too, not a harmless partial tail.
	grown := append([]byte(nil), data...)
	grown[9] ^= 0x10
	os.WriteFile(lp, grown, 0o644)
	out.Reset()
	if err := DumpFile(&out, lp, DumpOptions{Keys: testKeys}); !errors.Is(err, ErrDumpFailed) {
		t.Fatalf("grown length: %v\n%s", err, out.String())
	}
	// Without --index-sanity-check an index is still checked against
	// its .log: a bad entry fails the dump.
	os.WriteFile(lp, data, 0o644)
	os.WriteFile(idx, setU32(good, 4, binary.BigEndian.Uint32(good[4:])+1), 0o644)
	out.Reset()
	if err := DumpFile(&out, idx, DumpOptions{Keys: testKeys}); !errors.Is(err, ErrDumpFailed) || !strings.Contains(out.String(), "offset: ") {
		t.Fatalf("bad index entry without the sanity check flag: %v\n%s", err, out.String())
	}
	os.WriteFile(idx, good, 0o644)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func setU32(b []byte, at int, v uint32) []byte {
	out := append([]byte(nil), b...)
	binary.BigEndian.PutUint32(out[at:], v)
	return out
}

// TestDumpTransactions: a transaction marker is printed with its type and
// coordinator epoch, and a .txnindex with its entries (DumpLogSegments'
// forms); a torn .txnindex fails.
func TestDumpTransactions(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallSegments())
	m, err := record.Marker(9, 2, false, 3, e.clk.Now().UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	m.SetBaseOffset(0)
	if _, err := l.Append(m); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendTxnIndex(TxnIndexEntry{ProducerID: 9, FirstOffset: 0, LastOffset: 0, LastStableOffset: 1}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := DumpFile(&out, filepath.Join(l.Dir(), SegmentName(0, ".log")), DumpOptions{DeepIteration: true, Keys: testKeys}); err != nil ||
		!strings.Contains(out.String(), "isControl: true") || !strings.Contains(out.String(), "endTxnMarker: ABORT coordinatorEpoch: 3") {
		t.Fatalf("log dump: %v\n%s", err, out.String())
	}
	out.Reset()
	txnIdx := filepath.Join(l.Dir(), SegmentName(0, ".txnindex"))
	if err := DumpFile(&out, txnIdx, DumpOptions{Keys: testKeys}); err != nil ||
		!strings.Contains(out.String(), "version: 0 producerId: 9 firstOffset: 0 lastOffset: 0 lastStableOffset: 1") {
		t.Fatalf("txnindex dump: %v\n%s", err, out.String())
	}
	if err := os.Truncate(txnIdx, 20); err != nil {
		t.Fatal(err)
	}
	if err := DumpFile(&out, txnIdx, DumpOptions{Keys: testKeys}); !errors.Is(err, ErrDumpFailed) {
		t.Fatalf("torn txnindex: %v", err)
	}
}
