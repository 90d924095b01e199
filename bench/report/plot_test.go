package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// bench/run's cpu_use turns two /proc/stat "cpu" lines into "STEAL BUSY"
// percentages of the CPU time between them, and the report shows the
// steal. The lines have /proc/stat's layout (user nice system idle iowait
// irq softirq steal guest guest_nice), with deltas chosen to check each
// field's place.
func TestStealFromProcStat(t *testing.T) {
	src, err := os.ReadFile("../run")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(src), "\ncpu_use() {")
	if i < 0 {
		t.Fatal("bench/run has no cpu_use function")
	}
	fn, _, ok := strings.Cut(string(src)[i:], "\n}\n")
	if !ok {
		t.Fatal("bench/run: cpu_use has no end")
	}
	before := "cpu  4000 10 2000 90000 300 0 100 500 0 0"
	after := "cpu  4800 10 3000 90500 300 0 200 2100 0 0"
	script := fn + "\n}\ncpu_use \"$1\" \"$2\"\n"
	out, err := exec.Command("bash", "-c", script, "bash", before, after).Output()
	if err != nil {
		t.Fatal(err)
	}
	// 4000 ticks in all: 1600 stolen, 1900 busy (user 800, system 1000,
	// softirq 100), 500 idle.
	if got := strings.TrimSpace(string(out)); got != "40.0 47.5" {
		t.Fatalf("cpu_use printed %q, want \"40.0 47.5\"", got)
	}
	r := &run{extra: map[string]string{"cpu_trib-lat-acks1-50": strings.TrimSpace(string(out))}}
	if got := r.steal("trib-lat-acks1-50"); got != "40.0 %" {
		t.Fatalf("steal %q, want \"40.0 %%\"", got)
	}
	if got := r.busy("trib-lat-acks1-50"); got != "47.5 %" {
		t.Fatalf("busy %q, want \"47.5 %%\"", got)
	}
	if got := r.steal("trib-lat-acks1-25"); got != "" {
		t.Fatalf("a step without a record shows steal %q", got)
	}
}

// The 1,000-against-6-partitions target is the median of the pairs'
// ratios, each pair run one right after the other: a pair whose 6-partition
// run met a busier machine (here the first, 0.5×) moves no verdict.
func TestScalePairsMedian(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "results"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, mbps := range map[string]float64{
		"trib-scale-6": 400, "trib-scale-1000": 200, // 0.50
		"trib-scale-6-r2": 600, "trib-scale-1000-r2": 510, // 0.85
		"trib-scale-6-r3": 500, "trib-scale-1000-r3": 410, // 0.82
		"trib-scale-6-r4": 500, // no 1,000 run: not a pair
	} {
		b, _ := json.Marshal(map[string]any{"mode": "produce", "records": 1, "mb_per_sec": mbps})
		if err := os.WriteFile(filepath.Join(dir, "results", name+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := load(dir)
	if err != nil {
		t.Fatal(err)
	}
	pairs := r.scalePairs()
	if len(pairs) != 3 || pairs[1].fewStep != "trib-scale-6-r2" || pairs[1].many != 510 {
		t.Fatalf("pairs %+v", pairs)
	}
	if m := medianRatio(pairs); math.Abs(m-0.82) > 1e-9 {
		t.Fatalf("median ratio %.3f, want 0.82", m)
	}
	md := r.markdown("x.svg")
	if !strings.Contains(md, "| throughput at 1000 partitions within 20% of 6 partitions (median of 3 pairs) | 0.82 × (goal 0.80) | met |") {
		t.Fatalf("no met target row for the median of the pairs in:\n%s", md)
	}
	if !strings.Contains(md, "0.50× (200.0 / 400.0 MB/s") {
		t.Fatal("the first pair is not listed")
	}
	if !math.IsNaN(medianRatio(nil)) {
		t.Fatal("the median of no pairs is a number")
	}
}

// Quiet runs are the 50 % runs with under 2 % CPU steal, the extra tries
// (-qN) included; the headline median ignores the tries, so runs made only
// while the machine was busy cannot pull it down.
func TestQuietRuns(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "results"), 0o755); err != nil {
		t.Fatal(err)
	}
	var extra strings.Builder
	for _, run := range []struct {
		name  string
		p99   float64
		steal string
	}{
		{"trib-lat-acks1-50", 40, "8.6"},
		{"trib-lat-acks1-50-r2", 90, "15.1"},
		{"trib-lat-acks1-50-r3", 30, "2.0"}, // 2.0 is not under 2
		{"trib-lat-acks1-50-q1", 20, "3.5"},
		{"trib-lat-acks1-50-q2", 6, "0.4"},
	} {
		b, _ := json.Marshal(map[string]any{"mode": "e2e", "records": 1, "mb_per_sec": 100,
			"produce_latency": map[string]any{"p99_ms": run.p99}, "e2e_latency": map[string]any{"p99_ms": run.p99 + 1}})
		if err := os.WriteFile(filepath.Join(dir, "results", run.name+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		extra.WriteString("cpu_" + run.name + "\t" + run.steal + " 60.0\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "extra.tsv"), []byte(extra.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if qs := r.quietRuns("trib-lat-acks1-50"); len(qs) != 1 || qs[0].name != "trib-lat-acks1-50-q2" {
		t.Fatalf("quiet runs %v, want only trib-lat-acks1-50-q2", qs)
	}
	if n := len(r.allLatRuns("trib-lat-acks1-50")); n != 5 {
		t.Fatalf("%d runs in all, want 5", n)
	}
	if name, res := r.lat("trib-lat-acks1-50"); name != "trib-lat-acks1-50" || res.ProduceLatency.P99 != 40 {
		t.Fatalf("headline %s, want the median of the three repeats (40 ms)", name)
	}
	md := r.markdown("x.svg")
	for _, want := range []string{
		"| acks=1 | trib-lat-acks1-50-q2 | 6.00 | 7.00 |",
		"| (context) ack / e2e p99 of the runs with < 2 % steal (quiet runs, above) | 6.00 / 7.00 ms (1 of 5 runs) | no target |",
		"| acks=all | none quiet of 0 runs |",
	} {
		if !strings.Contains(md, want) {
			t.Fatalf("report lacks %q:\n%s", want, md)
		}
	}
}

// bench/ab's B/A at equal steal: rounds made so that B's p99 is 1.5× A's
// at any steal, while B's rounds met more steal (each 1 % of it adds 5 %).
// The plain medians then say B/A is far above 1.5; the fit must say 1.5.
func TestABEqualSteal(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	src, err := os.ReadFile("../ab")
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := strings.Cut(string(src), "<<'EOF'\n")
	if !ok {
		t.Fatal("bench/ab has no python part")
	}
	body, _, ok = strings.Cut(body, "\nEOF\n")
	if !ok {
		t.Fatal("bench/ab: the python part has no end")
	}
	dir := t.TempDir()
	steals := map[string][]float64{"a": {0, 2, 5, 10}, "b": {10, 15, 20, 30}}
	for who, ss := range steals {
		for i, st := range ss {
			p99 := 10 * math.Exp(0.05*st) * (1 + 0.01*float64(i%2)) // a little noise
			if who == "b" {
				p99 *= 1.5
			}
			name := filepath.Join(dir, fmt.Sprintf("%s-%d", who, i+1))
			js := fmt.Sprintf(`{"records_per_sec": 1000, "produce_latency": {"p99_ms": %g}}`, p99)
			if err := os.WriteFile(name+".json", []byte(js), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name+".cpu", []byte(fmt.Sprintf("800 100 %g\n", st)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	out, err := exec.Command(py, "-c", body, dir, "").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var median, fitted float64
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "produce_latency.p99_ms" {
			continue
		}
		v, err := strconv.ParseFloat(f[3], 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if median == 0 {
			median = v
		} else {
			fitted = v
		}
	}
	if median < 2.5 {
		t.Fatalf("plain median B/A %.3f: the rounds do not confound steal as meant\n%s", median, out)
	}
	if math.Abs(fitted-1.5) > 0.05 {
		t.Fatalf("B/A at equal steal %.3f, want 1.5\n%s", fitted, out)
	}
}
