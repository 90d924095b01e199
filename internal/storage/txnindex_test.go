package storage

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// txnModel is a random history of transactions over a log's offsets: at
// each offset a producer may open a transaction or end its open one; the
// aborted ones are the .txnindex entries, with the last stable offset
// Kafka records (the earliest other open transaction's first offset, else
// the offset after the marker).
func txnModel(rng *rand.Rand, end int64) []TxnIndexEntry {
	open := map[int64]int64{}
	var out []TxnIndexEntry
	for o := int64(0); o < end; o++ {
		pid := rng.Int64N(6)
		first, ok := open[pid]
		switch {
		case !ok && rng.IntN(3) == 0:
			open[pid] = o
		case ok && rng.IntN(4) == 0:
			delete(open, pid)
			if rng.IntN(2) == 0 {
				continue // committed
			}
			lso := o + 1
			for _, f := range open {
				lso = min(lso, f)
			}
			out = append(out, TxnIndexEntry{ProducerID: pid, FirstOffset: first, LastOffset: o, LastStableOffset: lso})
		}
	}
	return out
}

// wantAborted is the aborted transactions a fetch of [from, upto) must
// list, by brute force over every entry still in the log.
func wantAborted(all []TxnIndexEntry, logStart, from, upto int64) []TxnIndexEntry {
	var out []TxnIndexEntry
	for _, e := range all {
		if e.LastOffset >= max(from, logStart) && e.FirstOffset < upto {
			out = append(out, e)
		}
	}
	return out
}

// txnIndexFiles returns the entries of every live .txnindex file, in
// offset order, and fails on one with none.
func txnIndexFiles(t *testing.T, l *Log) []TxnIndexEntry {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(l.Dir(), "*.txnindex"))
	slices.Sort(files)
	var out []TxnIndexEntry
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		es, err := ParseTxnIndex(data)
		if err != nil || len(es) == 0 {
			t.Fatalf("%s: %v %v", filepath.Base(f), es, err)
		}
		out = append(out, es...)
	}
	return out
}

// TestAbortedTxnsFromSegmentIndexes: the aborted transactions of a random
// history are appended to the .txnindex files of the segments holding
// their markers; a fetch's list (AbortedTxns: the indexes from the
// fetch offset's segment on, stopping at a last stable offset past the
// range) equals the brute-force one for every range, after a reopen
// (read back from the files), after retention deletes the first
// segments (their .txnindex with them, renamed at once) and after
// truncation (the entries it cuts go, from memory and file).
func TestAbortedTxnsFromSegmentIndexes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	e := newEnv(t)
	o := smallSegments()
	o.FileDeleteDelayMs = 60_000
	l := e.log(o)
	appendN(t, l, 200, 5, e.clk.Now().UnixMilli())
	end := l.EndOffset()
	all := txnModel(rng, end)
	if len(all) < 20 || len(l.Segments()) < 5 {
		t.Fatalf("model too small: %d aborted transactions over %d segments", len(all), len(l.Segments()))
	}
	for _, en := range all {
		if err := l.AppendTxnIndex(en); err != nil {
			t.Fatal(err)
		}
	}
	check := func(stage string) {
		t.Helper()
		start, end := l.StartOffset(), l.EndOffset()
		for range 500 {
			from := start + rng.Int64N(end-start)
			upto := from + 1 + rng.Int64N(end-from)
			got, want := l.AbortedTxns(from, upto), wantAborted(all, start, from, upto)
			if !slices.Equal(got, want) {
				t.Fatalf("%s: fetch [%d, %d): got %v\nwant %v", stage, from, upto, got, want)
			}
		}
		var live []TxnIndexEntry
		for _, en := range all {
			if en.LastOffset >= l.Segments()[0].BaseOffset && en.LastOffset < end {
				live = append(live, en)
			}
		}
		if files := txnIndexFiles(t, l); !slices.Equal(files, live) {
			t.Fatalf("%s: .txnindex files hold %v\nwant %v", stage, files, live)
		}
	}
	check("appended")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = e.log(o)
	check("reopened")

	if _, err := l.AdvanceStart(end / 2); err != nil {
		t.Fatal(err)
	}
	if n, err := l.EnforceRetention(e.clk.Now()); err != nil || n == 0 {
		t.Fatalf("retention deleted %d segments: %v", n, err)
	}
	check("after retention")

	cut := end * 3 / 4
	if err := l.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	all = slices.DeleteFunc(all, func(en TxnIndexEntry) bool { return en.LastOffset >= l.EndOffset() })
	check("truncated")
	e.crash()
	l = e.log(o)
	check("recovered")
}

// TestRewriteTxnIndex: a rewrite replaces every segment's entries (and
// files) with the ones given, removing the files of segments left with
// none.
func TestRewriteTxnIndex(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallSegments())
	appendN(t, l, 100, 5, e.clk.Now().UnixMilli())
	segs := l.Segments()
	first := TxnIndexEntry{ProducerID: 1, FirstOffset: 0, LastOffset: 2, LastStableOffset: 3}
	last := TxnIndexEntry{ProducerID: 2, FirstOffset: segs[len(segs)-1].BaseOffset, LastOffset: l.EndOffset() - 1, LastStableOffset: l.EndOffset()}
	for _, en := range []TxnIndexEntry{first, last} {
		if err := l.AppendTxnIndex(en); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.AppendTxnIndex(TxnIndexEntry{LastOffset: l.EndOffset()}); err == nil {
		t.Fatal("an entry past the log end was accepted")
	}
	if err := l.RewriteTxnIndex([]TxnIndexEntry{last}); err != nil {
		t.Fatal(err)
	}
	if got := l.AbortedTxns(0, l.EndOffset()); !slices.Equal(got, []TxnIndexEntry{last}) {
		t.Fatalf("after rewrite: %v", got)
	}
	if files := txnIndexFiles(t, l); !slices.Equal(files, []TxnIndexEntry{last}) {
		t.Fatalf("files after rewrite: %v", files)
	}
}
