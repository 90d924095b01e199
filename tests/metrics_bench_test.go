package tests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkProduceMetrics measures the cost of metrics on the produce
// path as a paired A/B in one run: two brokers in this process, one with
// the admin listener and metrics on (admin.listen) and one without, take
// turns (the order alternating) producing the same records with acks=1
// (so the broker's CPU path, not fsync, dominates). It reports both
// throughputs and the difference; a scraper reads the metrics broker
// every second meanwhile (Prometheus defaults to 15 s or more).
//
//	go test -run XXX -bench BenchmarkProduceMetrics -benchtime 20x ./tests/
func BenchmarkProduceMetrics(b *testing.B) {
	const records, size = 10000, 100
	on := startNode(b, "", map[string]string{"admin.listen": "127.0.0.1:0"})
	off := startNode(b, "", nil)
	value := make([]byte, size)
	clients := map[string]*kgo.Client{}
	for name, addr := range map[string]string{"on": on.Addr(), "off": off.Addr()} {
		clients[name] = newClient(b, addr, kgo.DefaultProduceTopic("bench"), kgo.AllowAutoTopicCreation(),
			kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.ProducerLinger(time.Millisecond))
	}
	ctx := context.Background()
	round := func(cl *kgo.Client) time.Duration {
		start := time.Now()
		for range records {
			cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					b.Error(err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	// Warm up both (topic creation, connections).
	round(clients["on"])
	round(clients["off"])
	stop := make(chan struct{})
	scraped := make(chan struct{})
	go func() {
		defer close(scraped)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
			if resp, err := http.Get("http://" + on.AdminAddr() + "/metrics"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	// Each iteration is one adjacent pair; the reported difference is
	// the median of the pairs' differences, so a burst of load from
	// elsewhere on the machine, which hits one pair, does not decide it.
	var tOn, tOff time.Duration
	var diffs []float64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		var dOn, dOff time.Duration
		if i%2 == 0 {
			dOn = round(clients["on"])
			dOff = round(clients["off"])
		} else {
			dOff = round(clients["off"])
			dOn = round(clients["on"])
		}
		tOn += dOn
		tOff += dOff
		diffs = append(diffs, 100*(dOn.Seconds()-dOff.Seconds())/dOn.Seconds())
	}
	b.StopTimer()
	close(stop)
	<-scraped
	slices.Sort(diffs)
	b.ReportMetric(float64(records*b.N)/tOn.Seconds(), "rec/s-metrics")
	b.ReportMetric(float64(records*b.N)/tOff.Seconds(), "rec/s-no-metrics")
	b.ReportMetric(diffs[len(diffs)/2], "%-slower-median")
}

// BenchmarkScrapeBroker1000Partitions: one GET /metrics from a broker with
// 1,000 partitions (one topic), broker-level series only and with the
// per-partition series.
//
//	go test -run XXX -bench BenchmarkScrapeBroker -benchtime 50x ./tests/
func BenchmarkScrapeBroker1000Partitions(b *testing.B) {
	for _, per := range []string{"false", "true"} {
		b.Run("per-partition="+per, func(b *testing.B) {
			n := startNode(b, "", map[string]string{"admin.listen": "127.0.0.1:0", "metrics.partition.series.enable": per})
			adm := newAdmin(b, n.Addr())
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if _, err := adm.CreateTopic(ctx, 1000, 1, nil, "wide"); err != nil {
				b.Fatal(err)
			}
			url := "http://" + n.AdminAddr() + "/metrics"
			for deadline := time.Now().Add(2 * time.Minute); ; {
				_, body, _ := scrape(b, url)
				if v, _ := metricValue(body, "kafka_server_replicamanager_leadercount"); v == 1000 {
					break
				}
				if time.Now().After(deadline) {
					b.Fatal("the 1,000 partitions did not come up")
				}
				time.Sleep(100 * time.Millisecond)
			}
			var size int64
			for b.Loop() {
				resp, err := http.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				size, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}

// procCPU is a process's user+system CPU time from /proc/PID/stat (Linux;
// clock ticks of 10 ms, the kernel's USER_HZ of 100).
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) start at ")".
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// BenchmarkProduceMetricsCPU is the paired A/B by CPU time instead of
// throughput, which a loaded machine disturbs far less: two `trib dev`
// processes, one with the admin listener and metrics (scraped every
// second) and one with admin.listen empty, take alternating rounds of the
// same produce load; the broker process's CPU time per record is compared.
// The clock ticks are 10 ms, so runs need a few seconds of broker CPU.
//
//	go test -run XXX -bench BenchmarkProduceMetricsCPU -benchtime 40x ./tests/
func BenchmarkProduceMetricsCPU(b *testing.B) {
	const records, size = 50000, 100
	on := startTribProcess(b, "", "--set", "admin.listen=127.0.0.1:0")
	off := startTribProcess(b, "", "--set", "admin.listen=")
	adminAddr := ""
	for deadline := time.Now().Add(10 * time.Second); adminAddr == ""; {
		if m := regexp.MustCompile(`admin_listen=(\S+)`).FindStringSubmatch(on.stderrString()); m != nil {
			adminAddr = m[1]
		} else if time.Now().After(deadline) {
			b.Fatal("no admin listener logged")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(off.stderrString(), "admin listener started") {
		b.Fatal("admin.listen= did not turn the admin listener off")
	}
	value := make([]byte, size)
	type side struct {
		p   *tribProcess
		cl  *kgo.Client
		cpu time.Duration
	}
	sides := []*side{{p: on}, {p: off}}
	// Small batches (about 20 records, 2 KiB): many requests, where the
	// per-request metrics cost shows most.
	for _, s := range sides {
		s.cl = newClient(b, s.p.Addr, kgo.DefaultProduceTopic("bench"), kgo.AllowAutoTopicCreation(),
			kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.ProducerBatchMaxBytes(2<<10))
	}
	ctx := context.Background()
	round := func(s *side, count bool) {
		before := procCPU(b, s.p.cmd.Process.Pid)
		for range records {
			s.cl.Produce(ctx, &kgo.Record{Value: value}, nil)
		}
		if err := s.cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		if count {
			s.cpu += procCPU(b, s.p.cmd.Process.Pid) - before
		}
	}
	round(sides[0], false)
	round(sides[1], false)
	stop := make(chan struct{})
	scraped := make(chan struct{})
	go func() {
		defer close(scraped)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
			tryGet("http://" + adminAddr + "/metrics")
		}
	}()
	for i := 0; b.Loop(); i++ {
		round(sides[i%2], true)
		round(sides[(i+1)%2], true)
	}
	close(stop)
	<-scraped
	per := func(s *side) float64 { return float64(s.cpu.Microseconds()) / float64(records*b.N) * 1000 }
	b.ReportMetric(per(sides[0]), "cpu-µs/1k-rec-metrics")
	b.ReportMetric(per(sides[1]), "cpu-µs/1k-rec-no-metrics")
	b.ReportMetric(100*(per(sides[0])-per(sides[1]))/per(sides[1]), "%-more-cpu")
}

// stderrString is what the process logged so far.
func (p *tribProcess) stderrString() string {
	lw := p.cmd.Stderr.(*lockedWriter)
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.String()
}
