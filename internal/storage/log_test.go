package storage

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/record"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock is an injected clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.UnixMilli(1_700_000_000_000)} }

// mkBatch builds a batch of n records with values "v<offset>", keys
// "k<offset%keys>" (keys 0: no key), timestamps ts, ts+1, ...
func mkBatch(t testing.TB, base int64, n int, ts int64, keys int) record.Batch {
	t.Helper()
	recs := make([]kmsg.Record, n)
	for i := range recs {
		o := base + int64(i)
		recs[i] = kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i), Value: []byte(fmt.Sprintf("v%d", o))}
		if keys > 0 {
			recs[i].Key = []byte(fmt.Sprintf("k%d", o%int64(keys)))
		}
	}
	b, err := buildBatch(batchHeader{BaseOffset: base, LastOffsetDelta: int32(n - 1), FirstTimestamp: ts, MaxTimestamp: ts + int64(n-1), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := record.Validate(b); err != nil {
		t.Fatal(err)
	}
	return b
}

type env struct {
	t   testing.TB
	dir string
	clk *clock
	m   *Manager
}

func newEnv(t testing.TB) *env {
	e := &env{t: t, dir: t.TempDir(), clk: newClock()}
	e.open()
	return e
}

func (e *env) open() {
	m, err := OpenManager(ManagerConfig{Dir: e.dir, Logger: quiet, Now: e.clk.Now, FlushCheckInterval: -1, RetentionCheckInterval: -1, CheckpointInterval: -1, CleanerInterval: -1, Keys: testKeys})
	if err != nil {
		e.t.Fatal(err)
	}
	e.m = m
	e.t.Cleanup(func() { m.Close() })
}

// crash abandons the manager without a clean shutdown (files stay as the
// OS has them, as after kill -9) and opens a new one.
func (e *env) crash() {
	for _, l := range e.m.liveLogs() {
		l.mu.Lock()
		l.closed = true
		for _, s := range l.segs {
			s.idx.discard() // never written: a crash loses them
			s.tidx.discard()
			s.close()
		}
		l.mu.Unlock()
	}
	e.open()
}

func (e *env) log(opts Options) *Log {
	l, err := e.m.Open("t", 0, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func appendN(t testing.TB, l *Log, batches, per int, ts int64) {
	t.Helper()
	for i := 0; i < batches; i++ {
		b := mkBatch(t, l.EndOffset(), per, ts+int64(i*per), 0)
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
	}
}

// readAll reads every record offset and value from start to end.
func readAll(t testing.TB, l *Log) (offs []int64, vals []string) {
	t.Helper()
	o := l.StartOffset()
	for o < l.EndOffset() {
		res, err := l.Read(o, l.EndOffset(), 1<<20, true)
		if err != nil {
			t.Fatalf("read at %d: %v", o, err)
		}
		if len(res.Data) == 0 {
			t.Fatalf("no data at %d (end %d)", o, l.EndOffset())
		}
		buf := res.Data
		for len(buf) > 0 {
			n, err := record.Peek(buf)
			if err != nil {
				t.Fatal(err)
			}
			b := record.Batch(buf[:n])
			recs, err := b.Records()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				off := b.BaseOffset() + int64(r.OffsetDelta)
				if off >= o {
					offs = append(offs, off)
					vals = append(vals, string(r.Value))
				}
			}
			buf = buf[n:]
		}
		o = res.Next
	}
	return
}

func checkContiguous(t testing.TB, l *Log, from, to int64) {
	t.Helper()
	offs, vals := readAll(t, l)
	if int64(len(offs)) != to-from {
		t.Fatalf("read %d records, want %d (%d..%d)", len(offs), to-from, from, to)
	}
	for i, o := range offs {
		if o != from+int64(i) || vals[i] != fmt.Sprintf("v%d", o) {
			t.Fatalf("record %d: offset %d value %q", i, o, vals[i])
		}
	}
}

func smallSegments() Options {
	o := DefaultOptions()
	o.SegmentBytes = 4096
	o.IndexIntervalBytes = 256
	o.FileDeleteDelayMs = 0
	return o
}

func TestSegmentsRollAndAreNamed(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallSegments())
	appendN(t, l, 200, 5, e.clk.Now().UnixMilli())
	segs := l.Segments()
	if len(segs) < 5 {
		t.Fatalf("only %d segments", len(segs))
	}
	for i, s := range segs {
		want := filepath.Join(l.Dir(), fmt.Sprintf("%020d.log", s.BaseOffset))
		if s.Path != want {
			t.Fatalf("segment path %s, want %s", s.Path, want)
		}
		if s.Size > 4096 {
			t.Fatalf("segment %d is %d bytes > segment.bytes", i, s.Size)
		}
		if i > 0 && s.BaseOffset != segs[i-1].NextOffset {
			t.Fatalf("segment %d base %d, previous ended at %d", i, s.BaseOffset, segs[i-1].NextOffset)
		}
		for _, ext := range []string{".index", ".timeindex"} {
			st, err := os.Stat(filepath.Join(l.Dir(), SegmentName(s.BaseOffset, ext)))
			if err != nil {
				t.Fatal(err)
			}
			if i < len(segs)-1 && st.Size() == 0 {
				t.Fatalf("segment %d %s is empty", i, ext)
			}
		}
	}
	checkContiguous(t, l, 0, 1000)
	// Random reads land on the right batch through the index.
	for _, o := range []int64{0, 1, 7, 333, 500, 998, 999} {
		res, err := l.Read(o, l.EndOffset(), 1, true)
		if err != nil {
			t.Fatal(err)
		}
		b := record.Batch(res.Data)
		if b.BaseOffset() > o || b.LastOffset() < o {
			t.Fatalf("read %d got batch %d..%d", o, b.BaseOffset(), b.LastOffset())
		}
	}
	if res, err := l.Read(1000, 1000, 100, true); err != nil || len(res.Data) != 0 || res.Next != 1000 {
		t.Fatalf("read at end: %v %d %d", err, len(res.Data), res.Next)
	}
	if _, err := l.Read(1001, 2000, 100, true); err != ErrOffsetOutOfRange {
		t.Fatalf("read past end: %v", err)
	}
}

func TestRollOnSegmentMsAndFullIndex(t *testing.T) {
	e := newEnv(t)
	o := DefaultOptions()
	o.SegmentMs = 1000
	l := e.log(o)
	now := e.clk.Now().UnixMilli()
	appendN(t, l, 3, 1, now)
	if n := len(l.Segments()); n != 1 {
		t.Fatalf("%d segments before segment.ms", n)
	}
	e.clk.Add(2 * time.Second)
	appendN(t, l, 1, 1, e.clk.Now().UnixMilli())
	if n := len(l.Segments()); n != 2 {
		t.Fatalf("%d segments after segment.ms, want 2", n)
	}
	// A full offset index rolls too: 3 entries of 8 bytes.
	e2 := newEnv(t)
	o = DefaultOptions()
	o.IndexIntervalBytes = 0
	o.SegmentIndexBytes = 24
	l2 := e2.log(o)
	appendN(t, l2, 10, 1, now)
	if n := len(l2.Segments()); n < 3 {
		t.Fatalf("%d segments with a 3-entry index", n)
	}
	checkContiguous(t, l2, 0, 10)
}

func TestReopenCleanAndUnclean(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallSegments())
	appendN(t, l, 100, 3, e.clk.Now().UnixMilli())
	if err := e.m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, cleanShutdownFile)); err != nil {
		t.Fatalf("no clean shutdown marker: %v", err)
	}
	rp, _ := os.ReadFile(filepath.Join(e.dir, recoveryPointFile))
	if string(rp) != "0\n1\nt 0 300\n" {
		t.Fatalf("recovery point checkpoint %q", rp)
	}
	e.open()
	l = e.log(smallSegments())
	if l.EndOffset() != 300 {
		t.Fatalf("end %d after clean reopen", l.EndOffset())
	}
	checkContiguous(t, l, 0, 300)
	appendN(t, l, 10, 3, e.clk.Now().UnixMilli())
	e.crash()
	l = e.log(smallSegments())
	if l.EndOffset() != 330 {
		t.Fatalf("end %d after unclean reopen", l.EndOffset())
	}
	checkContiguous(t, l, 0, 330)
}

// damage applies fn to the named file of the last segment, then reopens
// after an unclean stop.
func damage(t *testing.T, ext string, fn func(path string)) (*env, *Log, int64) {
	e := newEnv(t)
	l := e.log(smallSegments())
	appendN(t, l, 60, 4, e.clk.Now().UnixMilli())
	if err := l.Sync(l.EndOffset()); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	last := segs[len(segs)-1]
	e.crash()
	fn(filepath.Join(e.dir, "t-0", SegmentName(last.BaseOffset, ext)))
	l = e.log(smallSegments())
	return e, l, last.BaseOffset
}

func TestRecoverTornTails(t *testing.T) {
	cases := map[string]func(string){
		"truncated": func(p string) {
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-7)
		},
		"bitflip": func(p string) {
			b, _ := os.ReadFile(p)
			b[len(b)-20] ^= 0x10
			os.WriteFile(p, b, 0o644)
		},
		"zerofill": func(p string) {
			f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			f.Write(make([]byte, 4096))
			f.Close()
		},
		"garbage": func(p string) {
			f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			f.Write(bytes.Repeat([]byte{0xff}, 100))
			f.Close()
		},
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			_, l, _ := damage(t, ".log", fn)
			end := l.EndOffset()
			if end > 240 || end < 230 {
				t.Fatalf("end %d after recovery", end)
			}
			checkContiguous(t, l, 0, end)
			appendN(t, l, 5, 4, 0)
			checkContiguous(t, l, 0, end+20)
		})
	}
}

func TestRecoverBrokenIndexes(t *testing.T) {
	for _, ext := range []string{".index", ".timeindex"} {
		for name, fn := range map[string]func(string){
			"torn":    func(p string) { os.Truncate(p, 5) },
			"garbage": func(p string) { os.WriteFile(p, bytes.Repeat([]byte{0x7f}, 64), 0o644) },
			"zeros":   func(p string) { os.WriteFile(p, make([]byte, 96), 0o644) },
			"missing": func(p string) { os.Remove(p) },
		} {
			t.Run(ext+"/"+name, func(t *testing.T) {
				_, l, _ := damage(t, ext, fn)
				if l.EndOffset() != 240 {
					t.Fatalf("end %d", l.EndOffset())
				}
				checkContiguous(t, l, 0, 240)
				off, _, ok, err := l.OffsetForTimestamp(newClock().Now().UnixMilli() + 100)
				if err != nil || !ok || off != 100 {
					t.Fatalf("offset for timestamp: %d %v %v", off, ok, err)
				}
			})
		}
	}
}

// A broken index of a segment below the recovery point (clean shutdown)
// is detected by the sanity check on open and rebuilt.
func TestCleanShutdownBrokenIndexRebuilt(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallSegments())
	appendN(t, l, 60, 4, e.clk.Now().UnixMilli())
	if err := e.m.Close(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(e.dir, "t-0", SegmentName(0, ".index")), bytes.Repeat([]byte{0xff}, 16), 0o644)
	os.Truncate(filepath.Join(e.dir, "t-0", SegmentName(l.Segments()[len(l.Segments())-1].BaseOffset, ".index")), 3)
	e.open()
	l = e.log(smallSegments())
	checkContiguous(t, l, 0, 240)
}

func TestOffsetForTimestampUsesTimeIndex(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallSegments())
	base := e.clk.Now().UnixMilli()
	appendN(t, l, 100, 5, base) // offset o has timestamp base+o
	for _, o := range []int64{0, 1, 4, 5, 77, 250, 499} {
		off, ts, ok, err := l.OffsetForTimestamp(base + o)
		if err != nil || !ok || off != o || ts != base+o {
			t.Fatalf("ts %d: offset %d ts %d ok %v err %v", base+o, off, ts, ok, err)
		}
	}
	if _, _, ok, _ := l.OffsetForTimestamp(base + 500); ok {
		t.Fatal("found an offset past the last timestamp")
	}
	off, ts, ok, err := l.MaxTimestamp()
	if err != nil || !ok || off != 499 || ts != base+499 {
		t.Fatalf("max timestamp %d %d %v %v", off, ts, ok, err)
	}
}

// Index entries are written indexBatch at a time: lookups of offsets and
// timestamps past the written ones walk the batch headers, a truncation
// among them and a clean close leave whole files, and a crash loses only
// entries recovery rebuilds.
func TestIndexEntriesWrittenInBatches(t *testing.T) {
	e := newEnv(t)
	o := DefaultOptions()
	o.IndexIntervalBytes = 1 // an entry per batch
	l := e.log(o)
	base := e.clk.Now().UnixMilli()
	const batches = 2*indexBatch + 5
	appendN(t, l, batches, 5, base) // offset o has timestamp base+o
	act := l.segs[len(l.segs)-1]
	if act.idx.n != batches-1 || act.idx.written() != 2*indexBatch {
		t.Fatalf("index entries %d, written %d", act.idx.n, act.idx.written())
	}
	check := func(end int64) {
		t.Helper()
		for o := end - 1; o >= 0; o-- { // backwards: no read hint helps
			res, err := l.Read(o, end, 1, true)
			if err != nil || len(res.Data) == 0 {
				t.Fatalf("read at %d: %v", o, err)
			}
			if b := record.Batch(res.Data); b.BaseOffset() > o || b.LastOffset() < o {
				t.Fatalf("read at %d got batch %d..%d", o, b.BaseOffset(), b.LastOffset())
			}
			off, ts, ok, err := l.OffsetForTimestamp(base + o)
			if err != nil || !ok || off != o || ts != base+o {
				t.Fatalf("ts %d: offset %d ts %d ok %v err %v", base+o, off, ts, ok, err)
			}
		}
	}
	check(batches * 5)
	cut := int64(2*indexBatch+2) * 5
	if err := l.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	check(cut)
	appendN(t, l, 3, 5, base+cut)
	end := cut + 15
	check(end)
	type files struct {
		idx, tidx *index
		want      [2]int64
	}
	var segs []files
	for _, s := range l.segs {
		segs = append(segs, files{s.idx, s.tidx, [2]int64{int64(s.idx.n * offsetEntrySize), int64(s.tidx.n * timeEntrySize)}})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range segs {
		for i, x := range []*index{f.idx, f.tidx} {
			st, err := os.Stat(x.f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() < f.want[i] {
				t.Fatalf("%s after a clean close: %d bytes, want %d", x.f.Name(), st.Size(), f.want[i])
			}
		}
	}
	e.m.Close()
	e.open()
	l = e.log(o)
	check(end)
	appendN(t, l, indexBatch+3, 5, base+end)
	end += (indexBatch + 3) * 5
	e.crash()
	l = e.log(o)
	check(end)
}

func TestRetentionByTime(t *testing.T) {
	e := newEnv(t)
	o := smallSegments()
	o.RetentionMs = 60_000
	l := e.log(o)
	old := e.clk.Now().UnixMilli()
	appendN(t, l, 100, 5, old)
	e.clk.Add(time.Minute)
	appendN(t, l, 100, 5, e.clk.Now().UnixMilli())
	before := len(l.Segments())
	if n, err := l.EnforceRetention(e.clk.Now()); err != nil || n != 0 {
		t.Fatalf("deleted %d (%v) before expiry", n, err)
	}
	e.clk.Add(1500 * time.Millisecond)
	n, err := l.EnforceRetention(e.clk.Now())
	if err != nil || n == 0 {
		t.Fatalf("deleted %d (%v)", n, err)
	}
	segs := l.Segments()
	if len(segs) != before-n || l.StartOffset() != segs[0].BaseOffset {
		t.Fatalf("%d segments, start %d, first base %d", len(segs), l.StartOffset(), segs[0].BaseOffset)
	}
	if l.StartOffset() > 500 || segs[0].NextOffset <= 500 {
		t.Fatalf("start %d: deleted new data or kept a whole old segment", l.StartOffset())
	}
	if _, err := os.Stat(filepath.Join(l.Dir(), SegmentName(0, ".log"))); !os.IsNotExist(err) {
		t.Fatalf("old segment still on disk: %v", err)
	}
	if _, err := l.Read(0, l.EndOffset(), 100, true); err != ErrOffsetOutOfRange {
		t.Fatalf("read below start: %v", err)
	}
	checkContiguous(t, l, l.StartOffset(), 1000)
	// Everything expires, but segments holding offsets at or above the
	// deletion limit (the high watermark) stay.
	e.clk.Add(time.Hour)
	l.SetCleanupLimits(700, 700)
	l.EnforceRetention(e.clk.Now())
	if segs := l.Segments(); segs[0].NextOffset <= 700 || segs[0].BaseOffset > 700 || l.StartOffset() > 700 {
		t.Fatalf("with deletion limit 700: first segment [%d, %d), start %d", segs[0].BaseOffset, segs[0].NextOffset, l.StartOffset())
	}
	// And the active segment always stays.
	l.SetCleanupLimits(math.MaxInt64, math.MaxInt64)
	l.EnforceRetention(e.clk.Now())
	if segs := l.Segments(); len(segs) != 1 || l.EndOffset() != 1000 {
		t.Fatalf("%d segments left, end %d", len(segs), l.EndOffset())
	}
	// The start survives a restart through the checkpoint.
	start := l.StartOffset()
	e.crash()
	l = e.log(o)
	if l.StartOffset() != start {
		t.Fatalf("start %d after restart, want %d", l.StartOffset(), start)
	}
}

func TestRetentionBySize(t *testing.T) {
	e := newEnv(t)
	o := smallSegments()
	o.RetentionBytes = 10_000
	l := e.log(o)
	appendN(t, l, 300, 5, e.clk.Now().UnixMilli())
	if _, err := l.EnforceRetention(e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	// As in Kafka, a segment goes only if the log stays at or above
	// retention.bytes without it.
	size, first := l.Size(), l.Segments()[0].Size
	if size < 10_000 || size-first >= 10_000 || l.StartOffset() == 0 {
		t.Fatalf("size %d (first segment %d) after retention.bytes=10000", size, first)
	}
	checkContiguous(t, l, l.StartOffset(), 1500)
}

func TestAdvanceStartPersists(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallSegments())
	appendN(t, l, 100, 5, e.clk.Now().UnixMilli())
	if got, err := l.AdvanceStart(321); err != nil || got != 321 {
		t.Fatalf("advance: %d %v", got, err)
	}
	b, _ := os.ReadFile(filepath.Join(e.dir, logStartFile))
	if string(b) != "0\n1\nt 0 321\n" {
		t.Fatalf("log-start-offset-checkpoint %q", b)
	}
	if _, err := l.Read(320, 500, 100, true); err != ErrOffsetOutOfRange {
		t.Fatalf("read below start: %v", err)
	}
	offs, _ := readAll(t, l)
	if offs[0] != 321 {
		t.Fatalf("first record read %d", offs[0])
	}
	e.crash()
	l = e.log(smallSegments())
	if l.StartOffset() != 321 {
		t.Fatalf("start %d after restart", l.StartOffset())
	}
	n, _ := l.EnforceRetention(e.clk.Now())
	if n == 0 || l.Segments()[0].BaseOffset > 321 {
		t.Fatalf("retention after DeleteRecords deleted %d segments, first base %d", n, l.Segments()[0].BaseOffset)
	}
}

func TestLeaderEpochCheckpoint(t *testing.T) {
	e := newEnv(t)
	l := e.log(DefaultOptions())
	for epoch := int32(0); epoch < 3; epoch++ {
		for i := 0; i < 2; i++ {
			b := mkBatch(t, l.EndOffset(), 3, 0, 0)
			b.SetPartitionLeaderEpoch(epoch)
			if _, err := l.Append(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, _ := os.ReadFile(filepath.Join(l.Dir(), leaderEpochFile))
	if string(got) != "0\n3\n0 0\n1 6\n2 12\n" {
		t.Fatalf("leader-epoch-checkpoint %q", got)
	}
	if ep, end := l.EndOffsetForEpoch(1); ep != 1 || end != 12 {
		t.Fatalf("end for epoch 1: %d %d", ep, end)
	}
	os.Remove(filepath.Join(l.Dir(), leaderEpochFile))
	e.crash()
	l = e.log(DefaultOptions())
	if es := l.LeaderEpochs(); len(es) != 3 || es[2] != (EpochEntry{2, 12}) {
		t.Fatalf("epochs rebuilt by recovery: %v", es)
	}
}

func TestGroupCommitAndFlushMessages(t *testing.T) {
	e := newEnv(t)
	o := DefaultOptions()
	o.FlushMessages = 10
	l := e.log(o)
	appendN(t, l, 20, 1, 0)
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		go func() { errs <- l.Sync(l.EndOffset()) }()
	}
	for i := 0; i < 20; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	l.smu.Lock()
	d := l.durable
	l.smu.Unlock()
	if d != 20 {
		t.Fatalf("durable %d", d)
	}
	// flush.messages=10 started background flushes; the unflushed count
	// was reset by them.
	l.mu.Lock()
	u := l.unflushed
	l.mu.Unlock()
	if u != 0 {
		t.Fatalf("unflushed %d after sync", u)
	}
}

func TestDeleteRenamesThenRemoves(t *testing.T) {
	e := newEnv(t)
	l := e.log(DefaultOptions())
	appendN(t, l, 3, 1, 0)
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(e.dir)
	for _, en := range ents {
		if strings.HasPrefix(en.Name(), "t-0") {
			t.Fatalf("left %s", en.Name())
		}
	}
	// A leftover -delete dir from a crash is removed on start.
	os.MkdirAll(filepath.Join(e.dir, "t-1.abc"+deleteSuffix), 0o755)
	e.open()
	if _, err := os.Stat(filepath.Join(e.dir, "t-1.abc"+deleteSuffix)); !os.IsNotExist(err) {
		t.Fatal("leftover delete dir kept")
	}
	l = e.log(DefaultOptions())
	if l.EndOffset() != 0 {
		t.Fatalf("recreated log ends at %d", l.EndOffset())
	}
}

func TestStandaloneOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x-3")
	l, err := Open(dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 5, 2, 0)
	if _, err := l.AdvanceStart(4); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, err = Open(dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.StartOffset() != 4 || l.EndOffset() != 10 {
		t.Fatalf("start %d end %d", l.StartOffset(), l.EndOffset())
	}
	var seen []int64
	l.ScanHeaders(3, func(b record.Batch) bool { seen = append(seen, b.BaseOffset()); return true })
	if !sort.SliceIsSorted(seen, func(i, j int) bool { return seen[i] < seen[j] }) || len(seen) != 4 || seen[0] != 2 {
		t.Fatalf("scan headers %v", seen)
	}
}

// Finding a read's first batch steps over batch headers from the index
// entry below it; in a plaintext log none of that allocates (each step
// allocated a header).
func TestFindAllocatesNothing(t *testing.T) {
	e := newEnv(t)
	o := DefaultOptions()
	o.IndexIntervalBytes = 1 << 20 // no entry but the first: find walks
	l := e.log(o)
	appendN(t, l, 40, 3, e.clk.Now().UnixMilli())
	l.mu.RLock()
	if len(l.segs) != 1 {
		t.Fatalf("%d segments, want 1", len(l.segs))
	}
	s := l.segs[0]
	l.mu.RUnlock()
	var pos int64
	allocs := testing.AllocsPerRun(50, func() {
		p, ok, err := s.find(100, s.size, s.idx.n)
		if err != nil || !ok {
			t.Fatalf("find: %v %v", ok, err)
		}
		pos = p
	})
	if allocs != 0 && testKeys == nil { // decrypting a header allocates (crypt.go)
		t.Fatalf("find allocates %.1f times", allocs)
	}
	h, _, err := s.header(pos, s.size, getHeaderBuf())
	if err != nil || h.BaseOffset() > 100 || h.LastOffset() < 100 {
		t.Fatalf("find(100) found the batch at %d: %v", pos, err)
	}
}
