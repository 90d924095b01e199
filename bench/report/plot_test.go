package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

// A log axis over a range that reaches 0 (a failed latency step measured
// nothing) draws its default decades instead of looping from log10(0).
func TestAxesLogRangeWithZero(t *testing.T) {
	for _, r := range [][2]float64{{0, 10}, {0, 0}, {1, 1}} {
		var b strings.Builder
		done := make(chan struct{})
		go func() {
			axes(&b, 0, 0, 100, 100, r[0], r[1], true, "ms")
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("range %v: axes did not return", r)
		}
		if n := strings.Count(b.String(), "<line"); n == 0 || n > 10 {
			t.Fatalf("range %v: %d tick lines", r, n)
		}
	}
}

// fsyncFloor reads the percentiles from a fio JSON report (testdata: the
// output of the fio command bench/run's fsync_floor runs, 2 files at
// 5 MB/s for 1 s) and reports a missing one as absent.
func TestFsyncFloorFromFio(t *testing.T) {
	r := &run{dir: "testdata"}
	f := r.fsyncFloor("disk-fsync-acksall-50")
	if f == nil {
		t.Fatal("no floor read from testdata/fio/disk-fsync-acksall-50.json")
	}
	if f.files != 2 || f.mbps < 9 || f.mbps > 11 {
		t.Fatalf("files %d, %.2f MB/s; want 2 files, about 10 MB/s", f.files, f.mbps)
	}
	if !(f.p50 > 0 && f.p50 <= f.p99 && f.p99 <= f.p999 && f.p999 < 1000) {
		t.Fatalf("percentiles p50 %.3f p99 %.3f p99.9 %.3f ms: not ordered in (0, 1000)", f.p50, f.p99, f.p999)
	}
	if math.Abs(f.p99-0.937984) > 1e-9 {
		t.Fatalf("p99 %.6f ms, want 0.937984 (the file's 99.000000 percentile in ns / 1e6)", f.p99)
	}
	if r.fsyncFloor("disk-fsync-rf3-50") != nil {
		t.Fatal("a step without a fio file read as a floor")
	}
}

// manyPartitions reads bench/partitions' printed figures (testdata: its
// output from one run of the default 10 topics × 1,000 partitions).
func TestManyPartitionsFromOutput(t *testing.T) {
	mp := (&run{dir: "testdata"}).manyPartitions()
	if mp == nil {
		t.Fatal("testdata/partitions.txt not read")
	}
	got := []float64{float64(mp.partitions), mp.createSecs, mp.kibEach, mp.idleCPUPercent, mp.cleanReady, mp.crashReady}
	want := []float64{10000, 2.318805496, 5, 1.80, 1.249554141, 1.668646203}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Fatalf("read %v, want %v", got, want)
		}
	}
	if (&run{dir: t.TempDir()}).manyPartitions() != nil {
		t.Fatal("a run without partitions.txt read as measured")
	}
}
