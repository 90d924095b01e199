package tests

import (
	"context"
	"io"
	"net/http"
	"slices"
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
