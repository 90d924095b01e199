package storage

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/record"
)

// kv is one record to write: a nil value is a tombstone.
type kv struct {
	key string
	val *string
}

func mkKeyed(t testing.TB, base int64, recs []kv, ts int64, codec int8) record.Batch {
	t.Helper()
	rs := make([]kmsg.Record, len(recs))
	for i, r := range recs {
		rs[i] = kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i), Key: []byte(r.key)}
		if r.val != nil {
			rs[i].Value = []byte(*r.val)
		}
	}
	b, err := buildBatch(batchHeader{BaseOffset: base, Attributes: int16(codec), LastOffsetDelta: int32(len(recs) - 1), FirstTimestamp: ts,
		MaxTimestamp: ts + int64(len(recs)-1), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, rs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := record.Validate(b); err != nil {
		t.Fatal(err)
	}
	return b
}

type stored struct {
	off      int64
	key, val string
	tomb     bool
}

func readRecords(t testing.TB, l *Log) []stored {
	t.Helper()
	var out []stored
	o := l.StartOffset()
	for o < l.EndOffset() {
		res, err := l.Read(o, l.EndOffset(), 1<<20, true)
		if err != nil {
			t.Fatalf("read %d: %v", o, err)
		}
		for buf := res.Data; len(buf) > 0; {
			n, _ := record.Peek(buf)
			b := record.Batch(buf[:n])
			if !b.CheckCRC() {
				t.Fatal("served a batch with a bad CRC")
			}
			recs, err := b.Records()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				out = append(out, stored{b.BaseOffset() + int64(r.OffsetDelta), string(r.Key), string(r.Value), r.Value == nil})
			}
			buf = buf[n:]
		}
		o = res.Next
	}
	return out
}

func compactOptions() Options {
	o := smallSegments()
	o.Compact, o.Delete = true, false
	o.DeleteRetentionMs = 10_000
	return o
}

func TestCompactionKeepsLatestPerKey(t *testing.T) {
	e := newEnv(t)
	l := e.log(compactOptions())
	rng := rand.New(rand.NewSource(1))
	now := e.clk.Now().UnixMilli()
	latest := map[string]stored{}
	var all []stored
	codecs := []int8{0, 1, 2, 3, 4}
	for i := 0; i < 300; i++ {
		var recs []kv
		n := 1 + rng.Intn(5)
		for j := 0; j < n; j++ {
			k := fmt.Sprintf("key%d", rng.Intn(40))
			off := l.EndOffset() + int64(j)
			r := kv{key: k}
			if rng.Intn(10) > 0 {
				v := fmt.Sprintf("v%d", off)
				r.val = &v
			}
			recs = append(recs, r)
			s := stored{off: off, key: k, tomb: r.val == nil}
			if r.val != nil {
				s.val = *r.val
			}
			latest[k] = s
			all = append(all, s)
		}
		if _, err := l.Append(mkKeyed(t, l.EndOffset(), recs, now+int64(i), codecs[i%len(codecs)])); err != nil {
			t.Fatal(err)
		}
	}
	segs := l.Segments()
	activeBase := segs[len(segs)-1].BaseOffset
	if len(segs) < 4 {
		t.Fatalf("%d segments", len(segs))
	}
	n, err := l.Clean(e.clk.Now(), false)
	if err != nil || n == 0 {
		t.Fatalf("clean: %d %v", n, err)
	}
	check := func(dropTombs bool) {
		t.Helper()
		got := readRecords(t, l)
		want := []stored{}
		for _, s := range all {
			if s.off >= activeBase || latest[s.key].off == s.off && !(s.tomb && dropTombs) {
				want = append(want, s)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d records after compaction, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("record %d: got %+v want %+v", i, got[i], want[i])
			}
		}
	}
	check(false)
	// Offsets are kept: reading from a compacted-away offset starts at the
	// next surviving record.
	if l.EndOffset() != all[len(all)-1].off+1 {
		t.Fatalf("end offset %d changed", l.EndOffset())
	}
	// A second pass has nothing dirty.
	if n, _ := l.Clean(e.clk.Now(), false); n != 0 {
		t.Fatalf("second pass rewrote %d segments", n)
	}
	// Past delete.retention.ms the latest tombstones go too.
	e.clk.Add(11 * time.Second)
	if _, err := l.Clean(e.clk.Now(), true); err != nil {
		t.Fatal(err)
	}
	check(true)
	// The cleaned segments survive a crash and recovery.
	e.crash()
	l = e.log(compactOptions())
	check(true)
	for _, s := range l.Segments() {
		for _, ext := range []string{".index", ".timeindex"} {
			p := filepath.Join(l.Dir(), SegmentName(s.BaseOffset, ext))
			if err := DumpFile(discard{}, p, DumpOptions{IndexSanityCheck: true, Keys: testKeys}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestCompactionLagsAndRatio(t *testing.T) {
	e := newEnv(t)
	o := compactOptions()
	o.MinCompactionLagMs = 60_000
	l := e.log(o)
	v := "x"
	for i := 0; i < 200; i++ {
		l.Append(mkKeyed(t, l.EndOffset(), []kv{{fmt.Sprintf("k%d", i%150), &v}}, e.clk.Now().UnixMilli(), 0))
	}
	if n, _ := l.Clean(e.clk.Now(), false); n != 0 {
		t.Fatalf("cleaned %d segments inside min.compaction.lag.ms", n)
	}
	e.clk.Add(2 * time.Minute)
	if n, _ := l.Clean(e.clk.Now(), false); n == 0 {
		t.Fatal("nothing cleaned after min.compaction.lag.ms")
	}
	// Ratio: one new dirty segment over several clean ones is below 0.99.
	o.MinCompactionLagMs = 0
	o.MinCleanableRatio = 0.99
	l.SetOptions(o)
	for i := 0; i < 80; i++ {
		l.Append(mkKeyed(t, l.EndOffset(), []kv{{"other", &v}}, e.clk.Now().UnixMilli(), 0))
	}
	if n, _ := l.Clean(e.clk.Now(), false); n != 0 {
		t.Fatalf("cleaned %d segments below min.cleanable.dirty.ratio", n)
	}
	// max.compaction.lag.ms forces it.
	o.MaxCompactionLagMs = 1000
	l.SetOptions(o)
	e.clk.Add(2 * time.Second)
	if n, _ := l.Clean(e.clk.Now(), false); n == 0 {
		t.Fatal("max.compaction.lag.ms did not force a clean")
	}
}

// A crash after the commit point (.log.swap) completes the swap; a crash
// before it keeps the original; both rebuild indexes and lose nothing.
func TestCompactionCrashMidSwap(t *testing.T) {
	for _, phase := range []string{"cleaned", "swap"} {
		t.Run(phase, func(t *testing.T) {
			e := newEnv(t)
			l := e.log(compactOptions())
			for i := 0; i < 150; i++ {
				v := fmt.Sprintf("v%d", i)
				l.Append(mkKeyed(t, l.EndOffset(), []kv{{fmt.Sprintf("k%d", i%5), &v}}, e.clk.Now().UnixMilli(), 0))
			}
			before := readRecords(t, l)
			dir := l.Dir()
			orig, _ := os.ReadFile(filepath.Join(dir, SegmentName(0, ".log")))
			origKey, _ := os.ReadFile(filepath.Join(dir, SegmentName(0, ".key"))) // encrypted runs
			if _, err := l.Clean(e.clk.Now(), true); err != nil {
				t.Fatal(err)
			}
			after := readRecords(t, l)
			cleanedLog, _ := os.ReadFile(filepath.Join(dir, SegmentName(0, ".log")))
			cleanedIdx, _ := os.ReadFile(filepath.Join(dir, SegmentName(0, ".index")))
			cleanedKey, _ := os.ReadFile(filepath.Join(dir, SegmentName(0, ".key")))
			e.crash()
			// Put the original back and leave the cleaned copy mid-swap
			// (with encryption, the keys as swap leaves them: the copy's
			// renamed .key.swap just before .log.swap).
			os.WriteFile(filepath.Join(dir, SegmentName(0, ".log")), orig, 0o644)
			os.WriteFile(filepath.Join(dir, SegmentName(0, ".index.cleaned")), cleanedIdx, 0o644)
			if origKey != nil {
				os.WriteFile(filepath.Join(dir, SegmentName(0, ".key")), origKey, 0o600)
				os.WriteFile(filepath.Join(dir, SegmentName(0, ".key.swap")), cleanedKey, 0o600)
			}
			if phase == "swap" {
				os.WriteFile(filepath.Join(dir, SegmentName(0, ".log.swap")), cleanedLog, 0o644)
			} else {
				os.WriteFile(filepath.Join(dir, SegmentName(0, ".log.cleaned")), cleanedLog, 0o644)
			}
			l = e.log(compactOptions())
			got := readRecords(t, l)
			// Segment 0 is as the phase says; the others stay cleaned.
			seg1 := l.Segments()[1].BaseOffset
			want := []stored{}
			src0 := before
			if phase == "swap" {
				src0 = after
			}
			for _, s := range src0 {
				if s.off < seg1 {
					want = append(want, s)
				}
			}
			for _, s := range after {
				if s.off >= seg1 {
					want = append(want, s)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%d records, want %d", len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("record %d %+v want %+v", i, got[i], want[i])
				}
			}
			ents, _ := os.ReadDir(dir)
			for _, en := range ents {
				if filepath.Ext(en.Name()) == ".cleaned" || filepath.Ext(en.Name()) == ".swap" {
					t.Fatalf("leftover %s", en.Name())
				}
			}
		})
	}
}

func TestCheckKeys(t *testing.T) {
	v := "x"
	if err := CheckKeys(mkKeyed(t, 0, []kv{{"a", &v}, {"b", nil}}, 0, 3)); err != nil {
		t.Fatal(err)
	}
	if err := CheckKeys(mkBatch(t, 0, 3, 0, 0)); !errors.Is(err, record.ErrInvalid) {
		t.Fatalf("keyless batch: %v", err)
	}
}

// TestCompactionStopsAtCleanLimit: the cleaner leaves segments holding
// offsets at or above the clean limit (the partition's last stable
// offset) as they are.
func TestCompactionStopsAtCleanLimit(t *testing.T) {
	e := newEnv(t)
	l := e.log(compactOptions())
	now := e.clk.Now().UnixMilli()
	for i := 0; i < 200; i++ {
		v := fmt.Sprintf("v%d", i)
		if _, err := l.Append(mkKeyed(t, l.EndOffset(), []kv{{key: "k", val: &v}}, now+int64(i), 0)); err != nil {
			t.Fatal(err)
		}
	}
	segs := l.Segments()
	if len(segs) < 3 {
		t.Fatalf("%d segments", len(segs))
	}
	l.SetCleanupLimits(math.MaxInt64, segs[0].NextOffset-1)
	if n, err := l.Clean(e.clk.Now(), true); err != nil || n != 0 {
		t.Fatalf("cleaned %d segments (%v) whose records reach the clean limit", n, err)
	}
	l.SetCleanupLimits(math.MaxInt64, segs[1].NextOffset)
	n, err := l.Clean(e.clk.Now(), true)
	if err != nil || n == 0 {
		t.Fatalf("clean below the limit: %d %v", n, err)
	}
	limit := segs[1].NextOffset
	var below, above int64
	for _, r := range readRecords(t, l) {
		if r.off < limit {
			below++
		} else {
			above++
		}
	}
	if above != 200-limit || below >= limit {
		t.Fatalf("after cleaning below %d: %d records kept below, %d of %d above", limit, below, above, 200-limit)
	}
	if got := readRecords(t, l); got[len(got)-1].off != 199 {
		t.Fatalf("last record %d, want 199", got[len(got)-1].off)
	}
}

// TestCompactionTransactions: an aborted transaction's records are removed
// and never hide a committed record of the same key; a marker goes once
// its transaction has no batch left and delete.retention.ms has passed;
// the marker of a transaction with records left stays.
func TestCompactionTransactions(t *testing.T) {
	e := newEnv(t)
	l := e.log(compactOptions())
	now := e.clk.Now().UnixMilli()
	txnBatch := func(pid int64, recs []kv) record.Batch {
		rs := make([]kmsg.Record, len(recs))
		for i, r := range recs {
			rs[i] = kmsg.Record{OffsetDelta: int32(i), Key: []byte(r.key), Value: []byte(*r.val)}
		}
		b, err := buildBatch(batchHeader{BaseOffset: l.EndOffset(), Attributes: record.AttrTransactional, LastOffsetDelta: int32(len(recs) - 1),
			FirstTimestamp: now, MaxTimestamp: now, ProducerID: pid, ProducerEpoch: 0, BaseSequence: 0}, rs)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	mustAppend := func(b record.Batch) int64 {
		t.Helper()
		base := l.EndOffset()
		b.SetBaseOffset(base)
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
		return base
	}
	marker := func(pid int64, commit bool) int64 {
		b, err := record.Marker(pid, 0, commit, 0, now)
		if err != nil {
			t.Fatal(err)
		}
		return mustAppend(b)
	}
	str := func(s string) *string { return &s }
	committed := mustAppend(txnBatch(7, []kv{{"k1", str("committed")}}))
	commitMarker := marker(7, true)
	abortedOff := mustAppend(txnBatch(8, []kv{{"k1", str("aborted")}, {"k2", str("aborted")}}))
	abortMarker := marker(8, false)
	for i := 0; i < 200; i++ { // other keys: the transactions end up in cleanable segments
		v := fmt.Sprintf("v%d", i)
		mustAppend(mkKeyed(t, l.EndOffset(), []kv{{key: fmt.Sprintf("f%d", i%20), val: &v}}, now+int64(i), 0))
	}
	if segs := l.Segments(); len(segs) < 3 || segs[0].NextOffset <= abortMarker {
		t.Fatalf("the transactions are not in the first segment: %+v", segs)
	}
	controls := func() map[int64]bool {
		out := map[int64]bool{}
		for o := l.StartOffset(); o < l.EndOffset(); {
			res, err := l.Read(o, l.EndOffset(), 1<<20, true)
			if err != nil {
				t.Fatal(err)
			}
			for buf := res.Data; len(buf) > 0; {
				n, _ := record.Peek(buf)
				if b := record.Batch(buf[:n]); b.IsControl() {
					out[b.BaseOffset()] = true
				}
				buf = buf[n:]
			}
			o = res.Next
		}
		return out
	}
	byKey := func() map[string][]stored {
		out := map[string][]stored{}
		for _, r := range readRecords(t, l) {
			out[r.key] = append(out[r.key], r)
		}
		return out
	}

	if _, err := l.Clean(e.clk.Now(), true); err != nil {
		t.Fatal(err)
	}
	got := byKey()
	if len(got["k1"]) != 1 || got["k1"][0].off != committed || got["k1"][0].val != "committed" {
		t.Fatalf("k1 after compaction: %+v (the aborted write must not hide the committed one)", got["k1"])
	}
	if len(got["k2"]) != 0 {
		t.Fatalf("aborted k2 kept: %+v", got["k2"])
	}
	if c := controls(); !c[commitMarker] || !c[abortMarker] {
		t.Fatalf("markers within delete.retention.ms: %v", c)
	}
	for _, r := range readRecords(t, l) {
		if r.off == abortedOff || r.off == abortedOff+1 {
			t.Fatalf("aborted record kept: %+v", r)
		}
	}

	// Past delete.retention.ms: the abort marker has no batch left and
	// goes; the commit marker's transaction still has k1, so it stays.
	e.clk.Add(11 * time.Second)
	if _, err := l.Clean(e.clk.Now(), true); err != nil {
		t.Fatal(err)
	}
	if c := controls(); !c[commitMarker] || c[abortMarker] {
		t.Fatalf("markers past delete.retention.ms: %v (want the commit marker only)", c)
	}
	if got := byKey(); len(got["k1"]) != 1 || got["k1"][0].val != "committed" {
		t.Fatalf("k1 after the second pass: %+v", got["k1"])
	}
}
