// Command report turns one bench/run output directory into bench/RESULTS.md
// and an SVG plot. It only formats what the run measured: every figure comes
// from a JSON result or a file the run wrote; a missing one is shown as
// "n/a" together with the step's recorded status.
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tributary/tributary/internal/bench"
)

type run struct {
	dir     string
	results map[string]*bench.Result
	steps   []step
	extra   map[string]string
}

type step struct{ name, status, secs, note string }

// manyPartitions is what bench/partitions printed (partitions.txt): NaN
// for a figure it did not print.
type manyPartitions struct {
	partitions                          int
	createSecs, kibEach, idleCPUPercent float64
	cleanReady, crashReady              float64 // seconds until every partition had a leader
}

var (
	reCreate = regexp.MustCompile(`^create (\d+) × (\d+) partitions: ([\d.]+) s`)
	reRSS    = regexp.MustCompile(`^RSS: .* with (\d+) partitions: (-?\d+) KiB per partition`)
	reIdle   = regexp.MustCompile(`^idle CPU over \d+s: ([\d.]+) % of one core`)
	reClean  = regexp.MustCompile(`^clean restart: banner [\d.]+ s, every partition led ([\d.]+) s`)
	reCrash  = regexp.MustCompile(`^restart after kill -9: banner [\d.]+ s, every partition led ([\d.]+) s`)
)

// manyPartitions parses $dir/partitions.txt; nil if it is missing.
func (r *run) manyPartitions() *manyPartitions {
	b, err := os.ReadFile(filepath.Join(r.dir, "partitions.txt"))
	if err != nil {
		return nil
	}
	nan := math.NaN()
	m := &manyPartitions{createSecs: nan, kibEach: nan, idleCPUPercent: nan, cleanReady: nan, crashReady: nan}
	for _, line := range strings.Split(string(b), "\n") {
		if g := reCreate.FindStringSubmatch(line); g != nil {
			topics, _ := strconv.Atoi(g[1])
			parts, _ := strconv.Atoi(g[2])
			m.partitions, m.createSecs = topics*parts, num(g[3])
		} else if g := reRSS.FindStringSubmatch(line); g != nil {
			m.kibEach = num(g[2])
		} else if g := reIdle.FindStringSubmatch(line); g != nil {
			m.idleCPUPercent = num(g[1])
		} else if g := reClean.FindStringSubmatch(line); g != nil {
			m.cleanReady = num(g[1])
		} else if g := reCrash.FindStringSubmatch(line); g != nil {
			m.crashReady = num(g[1])
		}
	}
	return m
}

// fsyncFloor is what fio measured in a bench/run fsync_floor step: the
// disk's own fdatasync latency (ms) while appending at a rate (MB/s).
type fsyncFloor struct {
	mbps, p50, p99, p999 float64
	files                int
}

// fsyncFloor reads $dir/fio/NAME.json (fio --output-format=json,
// --group_reporting: one job entry for all files); nil if absent or
// unreadable.
func (r *run) fsyncFloor(name string) *fsyncFloor {
	b, err := os.ReadFile(filepath.Join(r.dir, "fio", name+".json"))
	if err != nil {
		return nil
	}
	var out struct {
		Jobs []struct {
			Options map[string]string `json:"job options"`
			Write   struct {
				BWBytes float64 `json:"bw_bytes"`
			} `json:"write"`
			Sync struct {
				Lat struct {
					N          int64              `json:"N"`
					Percentile map[string]float64 `json:"percentile"`
				} `json:"lat_ns"`
			} `json:"sync"`
		} `json:"jobs"`
	}
	if json.Unmarshal(b, &out) != nil || len(out.Jobs) == 0 || out.Jobs[0].Sync.Lat.N == 0 {
		return nil
	}
	j := out.Jobs[0]
	ms := func(q string) float64 {
		if v, ok := j.Sync.Lat.Percentile[q]; ok {
			return v / 1e6
		}
		return math.NaN()
	}
	files, _ := strconv.Atoi(j.Options["numjobs"])
	return &fsyncFloor{mbps: j.Write.BWBytes / 1e6, p50: ms("50.000000"), p99: ms("99.000000"), p999: ms("99.900000"), files: files}
}

func main() {
	in := flag.String("in", "", "bench/run output directory")
	md := flag.String("md", "bench/RESULTS.md", "markdown output")
	svg := flag.String("svg", "bench/results.svg", "SVG output")
	flag.Parse()
	r, err := load(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*svg, []byte(r.plot()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*md, []byte(r.markdown(filepath.Base(*svg))), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func load(dir string) (*run, error) {
	r := &run{dir: dir, results: map[string]*bench.Result{}, extra: map[string]string{}}
	files, err := filepath.Glob(filepath.Join(dir, "results", "*.json"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var res bench.Result
		if err := json.Unmarshal(b, &res); err != nil {
			continue // a failed step may leave a partial file; its status says so
		}
		r.results[strings.TrimSuffix(filepath.Base(f), ".json")] = &res
	}
	eachLine(filepath.Join(dir, "steps.tsv"), func(f []string) {
		for len(f) < 4 {
			f = append(f, "")
		}
		r.steps = append(r.steps, step{f[0], f[1], f[2], f[3]})
	})
	eachLine(filepath.Join(dir, "extra.tsv"), func(f []string) {
		if len(f) >= 2 {
			r.extra[f[0]] = f[1]
		}
	})
	return r, nil
}

func eachLine(path string, fn func([]string)) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			fn(strings.Split(line, "\t"))
		}
	}
}

func (r *run) file(name string) string {
	b, err := os.ReadFile(filepath.Join(r.dir, name))
	if err != nil {
		return "(not recorded: " + err.Error() + ")\n"
	}
	return string(b)
}

func (r *run) mbps(name string) float64 {
	if res := r.results[name]; res != nil && res.Records+res.Bytes > 0 {
		return res.MBPerSec
	}
	return math.NaN()
}

func (r *run) status(name string) string {
	for _, s := range r.steps {
		if s.name == name {
			return s.status
		}
	}
	return "not run"
}

func f1(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func f2(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64) + "×"
}

type row struct{ name, system, what string }

var produceRows = []row{
	{"trib-produce-acks1", "Tributary 1 node", "produce acks=1"},
	{"trib-produce-acksall", "Tributary 1 node", "produce acks=all (fsync)"},
	{"trib3-produce-acksall", "Tributary 3 nodes RF=3", "produce acks=all"},
	{"kfake-mem-produce", "kfake in-memory", "produce acks=1"},
	{"kfake-disk-produce", "kfake DataDir (no fsync)", "produce acks=1"},
	{"nats-produce", "NATS JetStream file", "publish (stream ack)"},
}

var consumeRows = []row{
	{"trib-consume", "Tributary 1 node", "consume (page cache)"},
	{"kfake-mem-consume", "kfake in-memory", "consume"},
	{"kfake-disk-consume", "kfake DataDir", "consume"},
	{"nats-consume", "NATS JetStream file", "consume (pull, no ack)"},
}

func (r *run) markdown(svgName string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	disk, tcp := r.mbps("disk-dd"), r.mbps("tcp-loopback")
	w("# Tributary benchmark results\n\n")
	w("Generated by `bench/run` from one run (all figures below come from that run; nothing is copied\n")
	w("from elsewhere). **The machine was shared with other engineers compiling and testing during the\n")
	w("run, so absolute figures are noisy and ratios between steps run minutes apart carry that noise.**\n\n")
	w("Each step starts after `sync`, so dirty pages from earlier steps are written back first.\n")
	w("MB = 10^6 bytes of record values; 1 KiB records unless stated; one client process on the same\n")
	w("2-core machine as the server. Latencies are milliseconds from an HDR histogram.\n\n")
	w("## Machine and command\n\n```\n%s```\n\n", r.file("machine.txt"))
	w("Command: `%s`\n\n", strings.TrimSpace(r.file("command.txt")))

	w("## Limits of this machine\n\n| limit | MB/s | steal | status |\n|---|---:|---:|---|\n")
	w("| disk: `dd bs=1M conv=fdatasync` sequential write | %s | %s | %s |\n", f1(disk), r.steal("disk-dd"), r.status("disk-dd"))
	w("| loopback TCP, one connection | %s | %s | %s |\n\n", f1(tcp), r.steal("tcp-loopback"), r.status("tcp-loopback"))
	w("The disk's own fdatasync latency (fio: appends of 64 KiB, each followed by `fdatasync`, into as many\n")
	w("new files as the partitions' logs, at the rate of the named 50 %% latency point, nothing else running).\n")
	w("An acks=all answer waits for at least one fdatasync of its partitions' logs, so this bounds the\n")
	w("acks=all latency of any broker with Tributary's durability on this machine.\n\n")
	w("| at the write rate of | files | MB/s written | fdatasync p50 | p99 | p99.9 | status |\n|---|---:|---:|---:|---:|---:|---|\n")
	for _, fl := range []struct{ name, what string }{
		{"disk-fsync-acksall-50", "1 node, acks=all, 50 % of peak"},
		{"disk-fsync-rf3-50", "3 nodes RF=3, 50 % of peak (3 replicas, one disk)"},
	} {
		if f := r.fsyncFloor(fl.name); f != nil {
			w("| %s | %d | %s | %s | %s | %s | %s |\n", fl.what, f.files, f1(f.mbps), f2(f.p50), f2(f.p99), f2(f.p999), r.status(fl.name))
		} else {
			w("| %s | | | | | | %s |\n", fl.what, r.status(fl.name))
		}
	}
	w("\n")
	w("How late the machine wakes a thread that only sleeps (`trib bench hiccup`: 1 ms at a time, counted\n")
	w("from the intended wake-up times), with nothing else of this run going. Those delays are the\n")
	w("machine's own (mostly other virtual machines on the same host: steal), and every process here,\n")
	w("broker and client alike, sees at least them. The latency table shows the same during each point.\n\n")
	w("| late by (ms) | p50 | p99 | p99.9 | max | steal | status |\n|---|---:|---:|---:|---:|---:|---|\n")
	if h := r.hiccup("hiccup-idle"); h != nil {
		w("| nothing else running, %.0f s | %s | %s | %s | %s | %s | %s |\n\n", r.results["hiccup-idle"].Seconds, f2(h.P50), f2(h.P99), f2(h.P999), f2(h.Max), r.steal("hiccup-idle"), r.status("hiccup-idle"))
	} else {
		w("| nothing else running | | | | | | %s |\n\n", r.status("hiccup-idle"))
	}

	pk := []string{"kfake-mem-produce", "kfake-disk-produce", "nats-produce"}
	w("## Produce (6 partitions, 1 producer, unlimited rate)\n\n")
	w("| system | mode | MB/s | records/s | ack p50 | ack p99 | ack p99.9 | ack max | vs disk | vs kfake mem | vs kfake DataDir | vs NATS | steal | status |\n")
	w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, rw := range produceRows {
		res := r.results[rw.name]
		m := r.mbps(rw.name)
		recs, p50, p99, p999, mx := math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()
		if res != nil {
			recs = res.RecordsPerSec
			if l := res.ProduceLatency; l != nil {
				p50, p99, p999, mx = l.P50, l.P99, l.P999, l.Max
			}
		}
		w("| %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", rw.system, rw.what, f1(m), recs,
			f2(p50), f2(p99), f2(p999), f2(mx), ratio(m, disk), ratio(m, r.mbps(pk[0])), ratio(m, r.mbps(pk[1])), ratio(m, r.mbps(pk[2])), r.steal(rw.name), r.status(rw.name))
	}
	w("\nUnlimited-rate ack latency is mostly time queued in the client's buffer (50,000 records);\n")
	w("see the rate-limited latency table for broker latency. steal: the share of the machine's CPU time\n")
	w("the hypervisor gave to other virtual machines during that step (/proc/stat), in which nothing here ran.\n\n")

	ck := []string{"kfake-mem-consume", "kfake-disk-consume", "nats-consume"}
	w("## Consume (from the start of what the produce step wrote)\n\n")
	if res := r.results["trib-consume"]; res != nil {
		w("%d kgo consumers (partitions split among them), the same for kfake; see the command line for fetch sizes.\n\n", res.Consumers)
	}
	w("| system | mode | MB/s | records/s | vs loopback TCP | vs kfake mem | vs kfake DataDir | vs NATS | steal | status |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, rw := range consumeRows {
		res := r.results[rw.name]
		m := r.mbps(rw.name)
		recs := math.NaN()
		if res != nil {
			recs = res.RecordsPerSec
		}
		w("| %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s |\n", rw.system, rw.what, f1(m), recs, ratio(m, tcp),
			ratio(m, r.mbps(ck[0])), ratio(m, r.mbps(ck[1])), ratio(m, r.mbps(ck[2])), r.steal(rw.name), r.status(rw.name))
	}

	w("\n## Latency vs load (Tributary, e2e runs with a rate-limited producer, linger 1 ms)\n\n")
	w("Rates are fractions of the peak: the records/s consumed by an unlimited-rate e2e run with the same\n")
	w("acks (producer and consumer at once, on the same 2 cores as the broker).\n")
	w("Latency counts from each record's intended send time (no coordinated omission).\n")
	if res := r.results["trib-lat-acksall-50"]; res != nil && res.WarmupSeconds > 0 {
		w("Each point first runs %gs at its rate as a warm-up that counts in no figure (the OpenMessaging Benchmark's warm-up).\n", res.WarmupSeconds)
	}
	if v := num(r.extra["data_dir_bytes_at_latency"]); !math.IsNaN(v) {
		w("The broker's data dir held %.1f GB when the latency points started.\n", v/1e9)
	}
	w("\n")
	for _, acks := range []string{"acks1", "acksall"} {
		name := "trib-e2e-peak-" + acks
		if res := r.results[name]; res != nil {
			w("- peak %s: %.0f records/s (%s MB/s) consumed, %d acknowledged; e2e p99 %s ms at that saturation (%s)\n",
				acks, res.RecordsPerSec, f1(res.MBPerSec), res.Produced, f2(latP99(res.E2ELatency)), r.status(name))
		} else {
			w("- peak %s: n/a (%s)\n", acks, r.status(name))
		}
	}
	w("\n")
	w("broker p50 / p99 is the brokers' own time for the Produce requests of that point (arrival to response\n")
	w("written, warm-up included), read from their request-time histogram: the upper bound, in ms, of the\n")
	w("bucket holding that quantile (buckets 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25 ms...). The rest of a\n")
	w("produce-ack latency is the producer's linger (up to 1 ms), loopback TCP and the client itself, on the\n")
	w("same 2 cores. hiccup p99: how late the machine woke a thread that only sleeps 1 ms at a time, during\n")
	w("that run (see \"Limits of this machine\"); no latency measured here can be steadily below it.\n")
	w("busy: the share of the machine's CPU time (both cores) spent running anything,\n")
	w("broker, client and kernel, during that run; steal: as in the produce table. The peak runs use the\n")
	w("client's default linger (10 ms), the points 1 ms: smaller batches cost more CPU per record, so a\n")
	w("point's busy share can be well above its fraction of the peak.\n\n")
	w("| acks | load | target rec/s | achieved rec/s | ack p50 | ack p99 | ack p99.9 | broker p50 / p99 | e2e p50 | e2e p99 | e2e p99.9 | e2e max | hiccup p99 | busy | steal | status |\n")
	w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, acks := range []string{"acks1", "acksall"} {
		for _, pct := range []int{25, 50, 75, 100} {
			name, res := r.lat(fmt.Sprintf("trib-lat-%s-%d", acks, pct))
			if res == nil || res.ProduceLatency == nil || res.E2ELatency == nil {
				w("| %s | %d%% | | | | | | | | | | | | | | %s |\n", acks, pct, r.status(name))
				continue
			}
			pl, el := res.ProduceLatency, res.E2ELatency
			w("| %s | %d%% | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", res.Acks, pct, res.TargetRate, res.RecordsPerSec,
				f2(pl.P50), f2(pl.P99), f2(pl.P999), r.brokerProduce(name), f2(el.P50), f2(el.P99), f2(el.P999), f2(el.Max), r.hiccupP99(name), r.busy(name), r.steal(name), r.status(name))
		}
	}

	if name, res := r.lat("trib3-lat-50"); res != nil && res.ProduceLatency != nil && res.E2ELatency != nil {
		pl, el := res.ProduceLatency, res.E2ELatency
		w("| 3 nodes RF=3, all | 50%% | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", res.TargetRate, res.RecordsPerSec,
			f2(pl.P50), f2(pl.P99), f2(pl.P999), r.brokerProduce(name), f2(el.P50), f2(el.P99), f2(el.P999), f2(el.Max), r.hiccupP99(name), r.busy(name), r.steal(name), r.status(name))
	} else {
		w("| 3 nodes RF=3, all | 50%% | | | | | | | | | | | | | | %s |\n", r.status("trib3-lat-50"))
	}
	var reps []string
	for _, pt := range latPoints {
		if runs := r.latRuns(pt.base); len(runs) > 1 {
			var p99s []string
			for _, run := range runs {
				p := f2(run.res.ProduceLatency.P99) + " / " + f2(run.res.E2ELatency.P99)
				var ctx []string
				if h := r.hiccupP99(run.name); h != "" {
					ctx = append(ctx, "hiccup p99 "+h)
				}
				if st := r.steal(run.name); st != "" {
					ctx = append(ctx, "busy "+r.busy(run.name), "steal "+st)
				}
				if len(ctx) > 0 {
					p += " (" + strings.Join(ctx, ", ") + ")"
				}
				p99s = append(p99s, p)
			}
			reps = append(reps, fmt.Sprintf("%s %s", pt.label, strings.Join(p99s, ", ")))
		}
	}
	if len(reps) > 0 {
		w("\nThe 50 %% points ran %d times each, one after the other; each row shows the run with the median\n", len(r.latRuns("trib-lat-acks1-50")))
		w("produce-ack p99. Every run's ack p99 / e2e p99 (ms): %s.\n", strings.Join(reps, "; "))
	}
	w("\nQuiet runs: the 50 %% runs in which the machine's CPU steal stayed under 2 %% (bench/run's QUIET_STEAL),\n")
	w("among the runs above and up to 3 more made only while none of them was quiet (QUIET_TRIES). They show\n")
	w("what the code does when the host is not taking CPU away; the headline above stays the median of all runs.\n\n")
	w("| point | run | ack p99 | e2e p99 | hiccup p99 | busy | steal |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, pt := range latPoints {
		all := r.allLatRuns(pt.base)
		qs := r.quietRuns(pt.base)
		if len(qs) == 0 {
			w("| %s | none quiet of %d runs | | | | | |\n", pt.label, len(all))
			continue
		}
		for _, q := range qs {
			w("| %s | %s | %s | %s | %s | %s | %s |\n", pt.label, q.name, f2(q.res.ProduceLatency.P99), f2(q.res.E2ELatency.P99),
				r.hiccupP99(q.name), r.busy(q.name), r.steal(q.name))
		}
	}
	if res := r.results["trib3-e2e-peak"]; res != nil {
		w("\n3-node peak (unlimited e2e, acks=all, RF=3): %.0f records/s (%s MB/s) consumed.\n", res.RecordsPerSec, f1(res.MBPerSec))
	}
	w("\n## Partition scaling (Tributary 1 node, produce acks=1, unlimited rate)\n\n")
	base, baseN := r.mbps("trib-scale-6"), 6
	if math.IsNaN(base) {
		base, baseN = r.mbps("trib-scale-1"), 1
	}
	w("| partitions | MB/s | records/s | vs %d partitions | broker RSS after run (MiB) | steal | status |\n|---:|---:|---:|---:|---:|---:|---|\n", baseN)
	for _, p := range scalePoints(r) {
		name := "trib-scale-" + strconv.Itoa(p)
		res := r.results[name]
		recs := math.NaN()
		if res != nil {
			recs = res.RecordsPerSec
		}
		w("| %d | %s | %.0f | %s | %s | %s | %s |\n", p, f1(r.mbps(name)), recs, ratio(r.mbps(name), base), kibToMiB(r.extra["rss_scale_"+strconv.Itoa(p)]), r.steal(name), r.status(name))
	}
	pairs := r.scalePairs()
	if len(pairs) > 1 {
		var ps []string
		for _, pr := range pairs {
			ps = append(ps, fmt.Sprintf("%s (%s / %s MB/s, steal %s / %s)", ratio(pr.many, pr.few), f1(pr.many), f1(pr.few), or(r.steal(pr.manyStep), "?"), or(r.steal(pr.fewStep), "?")))
		}
		w("\n1,000 against 6 partitions, %d pairs run one right after the other (the first is the table's): %s; median **%s**.\n",
			len(pairs), strings.Join(ps, ", "), ratio(medianRatio(pairs), 1))
	}
	before, after, n := num(r.extra["rss_idle_before"]), num(r.extra["rss_idle_after"]), num(r.extra["idle_partitions"])
	w("\nIdle partitions: broker RSS %s MiB before and %s MiB after creating a %s-partition topic (fresh broker):\n",
		kibToMiB(r.extra["rss_idle_before"]), kibToMiB(r.extra["rss_idle_after"]), r.extra["idle_partitions"])
	w("**%s KiB per idle partition**.\n\n", f1((after-before)/n))

	w("## Many idle partitions (`bench/partitions`, one broker, `ulimit -n 20000`)\n\n")
	if mp := r.manyPartitions(); mp != nil {
		w("| partitions | create | memory per partition | idle broker CPU | every partition led after a clean restart | after kill -9 | status |\n")
		w("|---:|---:|---:|---:|---:|---:|---|\n")
		w("| %d | %s s | %s KiB | %s %% of one core | %s s | %s s | %s |\n\n", mp.partitions, f2(mp.createSecs), f1(mp.kibEach),
			f2(mp.idleCPUPercent), f2(mp.cleanReady), f2(mp.crashReady), r.status("partitions-10k"))
	} else {
		w("Not measured: %s.\n\n", r.status("partitions-10k"))
	}

	w("## Targets from issue 20 (same run)\n\n| target | measured | verdict |\n|---|---|---|\n")
	t := func(name string, measured, goal float64, unit string, higherBetter bool) {
		verdict := "n/a (step failed or missing)"
		if !math.IsNaN(measured) && !math.IsNaN(goal) {
			ok := measured >= goal
			if !higherBetter {
				ok = measured <= goal
			}
			if ok {
				verdict = "met"
			} else if higherBetter {
				verdict = fmt.Sprintf("MISSED by %.0f%%", 100*(1-measured/goal))
			} else {
				verdict = fmt.Sprintf("MISSED: %.1f× the goal", measured/goal)
			}
		}
		w("| %s | %s %s (goal %s) | %s |\n", name, f2(measured), unit, f2(goal), verdict)
	}
	// floor: a context row, no verdict: the disk's fdatasync p99 at the
	// same write rate, and the measured p99 as a multiple of it.
	floor := func(measured float64, name string) {
		f := r.fsyncFloor(name)
		if f == nil {
			w("| (context) the disk's own fdatasync p99 at this rate | n/a | %s |\n", r.status(name))
			return
		}
		times := "n/a"
		if x := measured / f.p99; !math.IsNaN(x) {
			times = f2(x) + "×"
		}
		w("| (context) the disk's own fdatasync p99 at this rate (fio, above) | %s ms; the ack p99 is %s it | no target |\n", f2(f.p99), times)
	}
	// hiccupRow: a context row, no verdict: how late the machine woke a
	// sleeping thread during the latency run shown (trib bench hiccup).
	hiccupRow := func(name string, _ *bench.Result) {
		if h := r.hiccup("hiccup-" + name); h != nil {
			w("| (context) the machine's own wake-up delay during that run (hiccup, above) | p99 %s ms, max %s ms | no target |\n", f2(h.P99), f2(h.Max))
		}
	}
	// quietRow: a context row, no verdict: the p99s of the point's quiet
	// runs (under 2 % steal), if any.
	quietRow := func(base string) {
		qs := r.quietRuns(base)
		var ps []string
		for _, q := range qs {
			ps = append(ps, f2(q.res.ProduceLatency.P99)+" / "+f2(q.res.E2ELatency.P99))
		}
		got := "none"
		if len(ps) > 0 {
			got = strings.Join(ps, ", ") + " ms"
		}
		w("| (context) ack / e2e p99 of the runs with < 2 %% steal (quiet runs, above) | %s (%d of %d runs) | no target |\n",
			got, len(qs), len(r.allLatRuns(base)))
	}
	t("acks=all 1 node ≥ 85% of dd fdatasync", r.mbps("trib-produce-acksall"), 0.85*disk, "MB/s", true)
	t("acks=1 ≥ 1.0× kfake DataDir produce", r.mbps("trib-produce-acks1"), r.mbps("kfake-disk-produce"), "MB/s", true)
	t("acks=1 ≥ 3× NATS JetStream publish", r.mbps("trib-produce-acks1"), 3*r.mbps("nats-produce"), "MB/s", true)
	t("consume ≥ 1.5× kfake DataDir consume", r.mbps("trib-consume"), 1.5*r.mbps("kfake-disk-consume"), "MB/s", true)
	t("consume ≥ 1.5 GB/s", r.mbps("trib-consume"), 1500, "MB/s", true)
	for _, acks := range []string{"acks1", "acksall"} {
		_, res := r.lat("trib-lat-" + acks + "-50")
		pa, pe := math.NaN(), math.NaN()
		if res != nil && res.ProduceLatency != nil && res.E2ELatency != nil {
			pa, pe = res.ProduceLatency.P99, res.E2ELatency.P99
		}
		t("p99 produce-ack ≤ 5 ms at 50% peak ("+acks+")", pa, 5, "ms", false)
		t("p99 end-to-end ≤ 5 ms at 50% peak ("+acks+")", pe, 5, "ms", false)
		hiccupRow(r.lat("trib-lat-" + acks + "-50"))
		quietRow("trib-lat-" + acks + "-50")
		if acks == "acksall" {
			floor(pa, "disk-fsync-acksall-50")
		}
	}
	if pairs := r.scalePairs(); len(pairs) > 0 {
		t(fmt.Sprintf("throughput at 1000 partitions within 20%% of 6 partitions (median of %d pairs)", len(pairs)), medianRatio(pairs), 0.8, "×", true)
	} else if pts := scalePoints(r); len(pts) > 0 {
		last := "trib-scale-" + strconv.Itoa(pts[len(pts)-1])
		t(fmt.Sprintf("throughput at %d partitions within 20%% of %d partitions", pts[len(pts)-1], baseN), r.mbps(last), 0.8*base, "MB/s", true)
	}
	t("≤ 100 KiB memory per idle partition", (after-before)/n, 100, "KiB", false)
	{
		mp := r.manyPartitions()
		if mp == nil {
			nan := math.NaN()
			mp = &manyPartitions{partitions: 10000, kibEach: nan, idleCPUPercent: nan, cleanReady: nan, crashReady: nan}
		}
		n := strconv.Itoa(mp.partitions)
		t(n+" idle partitions: broker CPU < 2% of one core", mp.idleCPUPercent, 2, "%", false)
		t(n+" idle partitions: ≤ 100 KiB memory each", mp.kibEach, 100, "KiB", false)
		t(n+" partitions: start-up < 10 s (slower of clean and kill -9)", math.Max(mp.cleanReady, mp.crashReady), 10, "s", false)
	}
	{
		_, res := r.lat("trib3-lat-50")
		pa, pe := math.NaN(), math.NaN()
		if res != nil && res.ProduceLatency != nil && res.E2ELatency != nil {
			pa, pe = res.ProduceLatency.P99, res.E2ELatency.P99
		}
		t("3 nodes RF=3: p99 produce-ack ≤ 10 ms at 50% peak", pa, 10, "ms", false)
		t("3 nodes RF=3: p99 end-to-end ≤ 10 ms at 50% peak", pe, 10, "ms", false)
		hiccupRow(r.lat("trib3-lat-50"))
		quietRow("trib3-lat-50")
		floor(pa, "disk-fsync-rf3-50")
	}
	w("\n")

	w("## Plot\n\n![throughput and latency](%s)\n\n", svgName)
	for _, pf := range []struct{ file, what string }{
		{"pprof-produce-acks1.txt", "the acks=1 produce run"},
		{"pprof-consume.txt", "the consume run (first 8 s)"},
		{"pprof-produce-acksall.txt", "the acks=all produce run"},
	} {
		w("## Profile: broker CPU during %s (`go tool pprof -top`)\n\n```\n%s```\n\n", pf.what, r.file(pf.file))
	}
	w("## Micro-benchmarks (`go test -bench`, allocations per op)\n\n```\n%s```\n\n", r.file("microbench.txt"))
	w("## Steps\n\nEvery step of the run with its outcome; a failed step is listed, not dropped.\n\n")
	w("| step | status | seconds | note |\n|---|---|---:|---|\n")
	for _, s := range r.steps {
		w("| %s | %s | %s | %s |\n", s.name, s.status, s.secs, s.note)
	}
	return b.String()
}

func scalePoints(r *run) []int {
	var pts []int
	for name := range r.results {
		if p, ok := strings.CutPrefix(name, "trib-scale-"); ok {
			if n, err := strconv.Atoi(p); err == nil {
				pts = append(pts, n)
			}
		}
	}
	for _, s := range r.steps {
		if p, ok := strings.CutPrefix(s.name, "trib-scale-"); ok {
			if n, err := strconv.Atoi(p); err == nil && r.results[s.name] == nil {
				pts = append(pts, n)
			}
		}
	}
	sort.Ints(pts)
	return pts
}

func num(s string) float64 {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

func kibToMiB(s string) string { return f1(num(s) / 1024) }

func latP99(l *bench.Latency) float64 {
	if l == nil {
		return math.NaN()
	}
	return l.P99
}

// brokerProduce renders bench/run's broker_produce_<step> extra ("P50 P99
// P99.9 N": bucket upper bounds in ms and the request count) as
// "≤P50 / ≤P99"; empty when it was not recorded.
func (r *run) brokerProduce(step string) string {
	f := strings.Fields(r.extra["broker_produce_"+step])
	if len(f) < 2 {
		return ""
	}
	return "≤" + f[0] + " / ≤" + f[1]
}

// scalePair is one run of 6 partitions and the run of 1,000 right after
// it (bench/run's trib-scale-6[-rN], trib-scale-1000[-rN]): MB/s each.
type scalePair struct {
	fewStep, manyStep string
	few, many         float64
}

// scalePairs returns the complete 6-then-1,000 pairs of the run, the
// sweep's first.
func (r *run) scalePairs() []scalePair {
	var out []scalePair
	for i := 1; ; i++ {
		suffix := ""
		if i > 1 {
			suffix = "-r" + strconv.Itoa(i)
		}
		few, many := "trib-scale-6"+suffix, "trib-scale-1000"+suffix
		_, okF := r.results[few]
		_, okM := r.results[many]
		if !okF && !okM && i > 1 {
			return out
		}
		if pr := (scalePair{few, many, r.mbps(few), r.mbps(many)}); pr.few > 0 && pr.many > 0 {
			out = append(out, pr)
		}
	}
}

// medianRatio is the median of the pairs' 1,000-over-6 ratios (the lower
// middle one for an even count); NaN for none.
func medianRatio(pairs []scalePair) float64 {
	if len(pairs) == 0 {
		return math.NaN()
	}
	rs := make([]float64, len(pairs))
	for i, p := range pairs {
		rs[i] = p.many / p.few
	}
	slices.Sort(rs)
	return rs[(len(rs)-1)/2]
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// hiccup returns what `trib bench hiccup` measured in result name, or nil.
func (r *run) hiccup(name string) *bench.Latency {
	if res := r.results[name]; res != nil {
		return res.Hiccup
	}
	return nil
}

// hiccupP99 renders the machine's wake-up delay p99 (ms) during latency
// step name; empty when it was not measured.
func (r *run) hiccupP99(step string) string {
	if h := r.hiccup("hiccup-" + step); h != nil {
		return f2(h.P99)
	}
	return ""
}

// steal and busy render bench/run's cpu_<step> extra ("STEAL BUSY",
// percentages of the machine's CPU time during the step) as "N %"; empty
// when it was not recorded.
func (r *run) steal(step string) string { return r.cpuField(step, 0) }
func (r *run) busy(step string) string  { return r.cpuField(step, 1) }

func (r *run) cpuField(step string, i int) string {
	f := strings.Fields(r.extra["cpu_"+step])
	if len(f) < 2 {
		return ""
	}
	return f[i] + " %"
}

// latPoints are the repeated 50 % latency points (the issue-20 targets).
var latPoints = []struct{ base, label string }{{"trib-lat-acks1-50", "acks=1"}, {"trib-lat-acksall-50", "acks=all"}, {"trib3-lat-50", "RF=3"}}

// quietSteal is bench/run's QUIET_STEAL: a run with less CPU steal (%)
// is quiet.
const quietSteal = 2.0

// allLatRuns returns latency point base's complete runs: latRuns, then
// the extra tries bench/run made while none was quiet (base-q1, -q2, ...).
func (r *run) allLatRuns(base string) []latRun {
	out := r.latRuns(base)
	for i := 1; ; i++ {
		name := base + "-q" + strconv.Itoa(i)
		res, ok := r.results[name]
		if !ok {
			return out
		}
		if res.ProduceLatency != nil && res.E2ELatency != nil {
			out = append(out, latRun{name, res})
		}
	}
}

// quietRuns returns the runs of allLatRuns whose recorded CPU steal was
// under quietSteal.
func (r *run) quietRuns(base string) []latRun {
	var out []latRun
	for _, lr := range r.allLatRuns(base) {
		f := strings.Fields(r.extra["cpu_"+lr.name])
		if len(f) < 2 {
			continue
		}
		if st, err := strconv.ParseFloat(f[0], 64); err == nil && st < quietSteal {
			out = append(out, lr)
		}
	}
	return out
}

// latRun is one complete run of a latency point: its step name and result.
type latRun struct {
	name string
	res  *bench.Result
}

// latRuns returns the complete runs of latency point base: base itself and
// its repeats base-r2, base-r3, ... (bench/run's LAT_REPEAT), in order.
func (r *run) latRuns(base string) []latRun {
	var out []latRun
	for i := 1; ; i++ {
		name := base
		if i > 1 {
			name = base + "-r" + strconv.Itoa(i)
		}
		res, ok := r.results[name]
		if !ok && i > 1 {
			return out
		}
		if ok && res.ProduceLatency != nil && res.E2ELatency != nil {
			out = append(out, latRun{name, res})
		}
	}
}

// lat returns latency point base's run with the median produce-ack p99
// and its step name (base and its result, if any, when no run completed).
func (r *run) lat(base string) (string, *bench.Result) {
	runs := r.latRuns(base)
	if len(runs) == 0 {
		return base, r.results[base]
	}
	slices.SortStableFunc(runs, func(a, b latRun) int { return cmp.Compare(a.res.ProduceLatency.P99, b.res.ProduceLatency.P99) })
	m := runs[(len(runs)-1)/2]
	return m.name, m.res
}
