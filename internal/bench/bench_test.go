package bench

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tributary/tributary/internal/node"
)

// startNode runs a real Tributary node in-process on a free port.
func startNode(t *testing.T) string {
	t.Helper()
	n, err := node.Start(context.Background(), node.Config{NodeID: 1, DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n.Addr()
}

func TestProduceThenConsumeCountsEveryRecord(t *testing.T) {
	addr := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := Config{Brokers: []string{addr}, Topic: "counts", Partitions: 3, Producers: 2, RecordSize: 100,
		Records: 3001, Acks: "all", Keys: "random", KeyCount: 50, Label: "test"}
	res, err := Produce(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 3001 || res.Errors != 0 || res.Bytes != 300100 {
		t.Fatalf("produce: records %d bytes %d errors %d (%s)", res.Records, res.Bytes, res.Errors, res.FirstError)
	}
	if res.ProduceLatency == nil || res.ProduceLatency.Count != 3001 || res.ProduceLatency.Max < res.ProduceLatency.P50 {
		t.Fatalf("produce latency: %+v", res.ProduceLatency)
	}
	if res.Partitions != 3 || res.Acks != "all" {
		t.Fatalf("result config: %+v", res)
	}

	res, err = Consume(ctx, Config{Brokers: []string{addr}, Topic: "counts", Consumers: 2, Label: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 3001 || res.Bytes != 300100 || res.RecordSize != 100 || res.Errors != 0 {
		t.Fatalf("consume: records %d bytes %d size %d errors %d (%s)", res.Records, res.Bytes, res.RecordSize, res.Errors, res.FirstError)
	}

	// --records stops a consume early; an empty topic is an error.
	res, err = Consume(ctx, Config{Brokers: []string{addr}, Topic: "counts", Records: 500, Label: "test"})
	if err != nil || res.Records < 500 {
		t.Fatalf("consume --records 500: %v, %+v", err, res)
	}
	if err := ensureTopic(ctx, &Config{Brokers: []string{addr}, Topic: "empty", Partitions: 1, Replication: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := Consume(ctx, Config{Brokers: []string{addr}, Topic: "empty"}); err == nil {
		t.Fatal("consuming an empty topic to its end: want an error")
	}
}

func TestE2EWithRateSeesEveryRecord(t *testing.T) {
	addr := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := E2E(ctx, Config{Brokers: []string{addr}, Topic: "e2e", Partitions: 2, RecordSize: 64, Records: 1000,
		Rate: 4000, Acks: "1", Linger: time.Millisecond, Keys: "seq", Label: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Produced != 1000 || res.Records != 1000 || res.Errors != 0 {
		t.Fatalf("e2e: produced %d received %d errors %d (%s)", res.Produced, res.Records, res.Errors, res.FirstError)
	}
	if res.E2ELatency == nil || res.E2ELatency.Count != 1000 || res.ProduceLatency.Count != 1000 {
		t.Fatalf("latency counts: %+v %+v", res.E2ELatency, res.ProduceLatency)
	}
	if res.TargetRate != 4000 {
		t.Fatalf("target rate %v", res.TargetRate)
	}
}

// A warm-up's records are written and read but counted in no figure: the
// counts and histograms cover Duration only, and the topic holds both.
func TestE2EWarmupCountsNothing(t *testing.T) {
	addr := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := Config{Brokers: []string{addr}, Topic: "warm", Partitions: 2, RecordSize: 64, Duration: time.Second,
		Warmup: time.Second, Rate: 2000, Acks: "all", Linger: time.Millisecond, Label: "test"}
	res, err := E2E(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Records != res.Produced || res.WarmupSeconds != 1 {
		t.Fatalf("e2e: produced %d received %d errors %d warmup %v (%s)", res.Produced, res.Records, res.Errors, res.WarmupSeconds, res.FirstError)
	}
	if res.Produced < 1900 || res.Produced > 2100 || res.E2ELatency.Count != res.Produced || res.ProduceLatency.Count != res.Produced {
		t.Fatalf("measured: produced %d, latency counts %d %d; want about 2000 each", res.Produced, res.ProduceLatency.Count, res.E2ELatency.Count)
	}
	if res.Seconds < 0.9 || res.Seconds > 1.5 {
		t.Fatalf("measured %.2f s; want about the 1 s duration", res.Seconds)
	}
	ends, err := endOffsets(ctx, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	var written int64
	for _, o := range ends {
		written += o
	}
	if warm := written - res.Produced; warm < 1900 || warm > 2100 {
		t.Fatalf("topic holds %d records, %d measured: want about 2000 warm-up records besides", written, res.Produced)
	}
	if err := (&Config{Records: 10, Warmup: time.Second}).defaults(); err == nil {
		t.Fatal("warm-up with --records: want an error")
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	for _, c := range []Config{
		{Acks: "2"},
		{Compression: "brotli"},
		{Keys: "zipf"},
		{Rate: -1},
		{RecordSize: -1},
	} {
		if err := c.defaults(); err == nil {
			t.Errorf("%+v: want an error", c)
		}
	}
	c := Config{Acks: "-1"}
	if err := c.defaults(); err != nil || c.Acks != "all" || c.Partitions != 6 || c.RecordSize != 0 {
		t.Fatalf("defaults: %v %+v", err, c)
	}
}

func TestHistogramPercentiles(t *testing.T) {
	h := newHist()
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	l := h.summary()
	if l.Count != 1000 || l.P50 < 499 || l.P50 > 501 || l.P99 < 989 || l.P99 > 991 || l.Max < 999 || l.Max > 1001 {
		t.Fatalf("summary: %+v", l)
	}
	if iv := h.drainInterval(); iv.Count != 1000 {
		t.Fatalf("interval: %+v", iv)
	}
	if iv := h.drainInterval(); iv.Count != 0 {
		t.Fatalf("interval after drain: %+v", iv)
	}
}

// hiccup counts from the intended wake-up times: one wake-up 30 ms late
// with a 1 ms interval also records the 29, 28, ... 1 ms by which the
// wake-ups it stood for were late, so the ~30 records of that stall
// carry the p99 of a 300 ms run and its max (recorded once, the stall
// alone would be under 1 % of ~280 records).
func TestHiccupCountsMissedWakeups(t *testing.T) {
	calls := 0
	sleep := func(d time.Duration) {
		calls++
		if calls == 50 {
			d += 30 * time.Millisecond
		}
		time.Sleep(d)
	}
	res, err := hiccup(context.Background(), time.Millisecond, 300*time.Millisecond, nil, sleep)
	if err != nil {
		t.Fatal(err)
	}
	h := res.Hiccup
	if h == nil || res.Mode != "hiccup" || res.IntervalMs != 1 {
		t.Fatalf("result %+v", res)
	}
	if h.Max < 30 || h.P99 < 20 {
		t.Fatalf("max %.2f ms, p99 %.2f ms: the 30 ms stall and its missed wake-ups were not recorded", h.Max, h.P99)
	}
	// At most one record per 1 ms of the run (a wake-up late by less than
	// the interval stands for one), at least one per two or so.
	if got := float64(h.Count) / (res.Seconds * 1000); got < 0.3 || got > 1.05 {
		t.Fatalf("%d records over %.3f s: %.2f per intended wake-up", h.Count, res.Seconds, got)
	}
	if _, err := Hiccup(context.Background(), 0, time.Second, nil); err == nil {
		t.Fatal("a zero interval was accepted")
	}
}
