package storage

import "testing"

func TestTruncateToAcrossSegmentsAndReopen(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallSegments())
	// 60 batches of 5 records: several segments.
	for i := 0; i < 60; i++ {
		b := mkBatch(t, l.EndOffset(), 5, int64(i*5), 0)
		b.SetPartitionLeaderEpoch(int32(i / 20)) // epochs 0,1,2 start at 0,100,200
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	if len(l.Segments()) < 3 {
		t.Fatalf("want several segments, got %d", len(l.Segments()))
	}
	// Cut inside a batch: the whole batch holding 152 goes.
	if err := l.TruncateTo(152); err != nil {
		t.Fatal(err)
	}
	if l.EndOffset() != 150 {
		t.Fatalf("end %d after truncating to 152, want 150", l.EndOffset())
	}
	checkContiguous(t, l, 0, 150)
	if es := l.LeaderEpochs(); len(es) != 2 || es[1].Epoch != 1 {
		t.Fatalf("epochs after truncation: %+v", es)
	}
	if ep, end := l.EndOffsetForEpoch(2); ep != 1 || end != 150 {
		t.Fatalf("EndOffsetForEpoch(2) = %d,%d", ep, end)
	}
	// Appends continue at the new end and survive a crash.
	b := mkBatch(t, 150, 5, 999, 0)
	b.SetPartitionLeaderEpoch(3)
	if _, err := l.Append(b); err != nil {
		t.Fatal(err)
	}
	l.Sync(l.EndOffset())
	e.crash()
	l = e.log(smallSegments())
	checkContiguous(t, l, 0, 155)
	if es := l.LeaderEpochs(); len(es) != 3 || es[2].Epoch != 3 || es[2].StartOffset != 150 {
		t.Fatalf("epochs after reopen: %+v", es)
	}
	// Truncating to the log start empties the log and restarts it there.
	if err := l.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	if l.EndOffset() != 0 || l.StartOffset() != 0 || len(l.LeaderEpochs()) != 0 {
		t.Fatalf("after full truncation: start %d end %d", l.StartOffset(), l.EndOffset())
	}
	if err := l.ResetTo(500); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(mkBatch(t, 500, 2, 0, 0)); err != nil {
		t.Fatal(err)
	}
	checkContiguous(t, l, 500, 502)
}
