// Package bench is the load generator behind `trib bench`: produce, consume
// and end-to-end runs on franz-go kgo against any Kafka-wire broker, in the
// manner of kafka-producer-perf-test and the OpenMessaging Benchmark.
//
// Throughput counts record values only (records × record size), in MB of
// 10^6 bytes (the unit dd reports). With a target rate, each record has an
// intended send time on a fixed schedule (start + i/rate) and latency is
// measured from that time, not from when the client got round to sending it,
// so a stalled broker shows up as latency instead of being hidden by a
// producer that slowed down (no coordinated omission). Without a rate the
// producer runs flat out and latency is measured from the Produce call.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/client"
)

// Config describes one run. Zero values mean the documented defaults.
type Config struct {
	Brokers     []string
	Topic       string
	Partitions  int32 // created if the topic does not exist
	Replication int16 // -1: broker default
	Producers   int
	Consumers   int
	RecordSize  int
	// Records is the total to produce (or consume); 0 means run for Duration.
	Records  int64
	Duration time.Duration
	Acks     string // "0", "1" or "all"
	Linger   time.Duration
	// BatchSize is the producer's max batch bytes (batch.size).
	BatchSize   int32
	Compression string // none, gzip, snappy, lz4, zstd
	// MaxInflight bounds produce requests in flight per broker when
	// idempotence is off (acks 0/1); with acks=all kgo allows 5.
	MaxInflight int
	MaxBuffered int // records buffered in the client before Produce blocks
	// Keys is the key distribution: "none" (null keys, sticky partitioner),
	// "seq" (key i mod KeyCount, round robin over keys) or "random" (uniform
	// over KeyCount keys).
	Keys     string
	KeyCount int
	// Rate is the target records/s over all producers; 0 is unlimited.
	Rate float64
	// Warmup runs the producers at Rate for this long before Duration
	// starts; records whose send time falls in it are produced (and, in
	// e2e runs, consumed) but count in no figure: connections, metadata,
	// producer ids, buffers and heaps settle first (the OpenMessaging
	// Benchmark's warm-up). Only with Duration, not Records.
	Warmup time.Duration
	// FetchMaxBytes bounds one fetch response (consumers).
	FetchMaxBytes int32
	// FetchMaxPartitionBytes bounds one partition in a fetch response
	// (max.partition.fetch.bytes; consumers).
	FetchMaxPartitionBytes int32
	// Progress receives one line per ProgressEvery; nil disables it.
	Progress      io.Writer
	ProgressEvery time.Duration
	// Label names the system under test in results (e.g. "tributary").
	Label string
}

func (c *Config) defaults() error {
	if len(c.Brokers) == 0 {
		c.Brokers = client.Brokers("")
	}
	if c.Topic == "" {
		c.Topic = "trib-bench"
	}
	if c.Partitions <= 0 {
		c.Partitions = 6
	}
	if c.Replication == 0 {
		c.Replication = -1
	}
	if c.Producers <= 0 {
		c.Producers = 1
	}
	if c.Consumers <= 0 {
		c.Consumers = 1
	}
	if c.RecordSize < 0 {
		return errors.New("record size must be >= 0")
	}
	if c.Records <= 0 && c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	switch c.Acks {
	case "":
		c.Acks = "all"
	case "0", "1", "all", "-1":
		if c.Acks == "-1" {
			c.Acks = "all"
		}
	default:
		return fmt.Errorf("acks must be 0, 1 or all, not %q", c.Acks)
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1000012
	}
	if c.Compression == "" {
		c.Compression = "none"
	}
	if _, err := codec(c.Compression); err != nil {
		return err
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = 5
	}
	if c.MaxBuffered <= 0 {
		c.MaxBuffered = 50000
	}
	switch c.Keys {
	case "":
		c.Keys = "none"
	case "none", "seq", "random":
	default:
		return fmt.Errorf("keys must be none, seq or random, not %q", c.Keys)
	}
	if c.KeyCount <= 0 {
		c.KeyCount = 1000
	}
	if c.Rate < 0 {
		return errors.New("rate must be >= 0")
	}
	if c.Warmup < 0 || (c.Warmup > 0 && c.Records > 0) {
		return errors.New("warmup must be >= 0 and needs --duration, not --records")
	}
	if c.FetchMaxBytes <= 0 {
		c.FetchMaxBytes = 50 << 20
	}
	if c.FetchMaxPartitionBytes <= 0 {
		c.FetchMaxPartitionBytes = 1 << 20
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = time.Second
	}
	if c.Label == "" {
		c.Label = "kafka-wire"
	}
	return nil
}

func codec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("unknown compression %q (none, gzip, snappy, lz4, zstd)", name)
}

// Result is one run's outcome; `trib bench --json` prints it.
type Result struct {
	Mode        string  `json:"mode"`
	Label       string  `json:"label"`
	Topic       string  `json:"topic"`
	Partitions  int32   `json:"partitions"`
	Producers   int     `json:"producers,omitempty"`
	Consumers   int     `json:"consumers,omitempty"`
	RecordSize  int     `json:"record_size"`
	Acks        string  `json:"acks,omitempty"`
	Compression string  `json:"compression,omitempty"`
	TargetRate  float64 `json:"target_rate,omitempty"`
	// WarmupSeconds is the warm-up left out of every figure (Config.Warmup).
	WarmupSeconds float64 `json:"warmup_seconds,omitempty"`

	// Records and Bytes count what was acknowledged (produce) or received
	// (consume, e2e); Bytes counts record values only.
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"`
	Errors        int64   `json:"errors"`
	FirstError    string  `json:"first_error,omitempty"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`

	// ProduceLatency is send (intended send with a rate) → ack.
	ProduceLatency *Latency `json:"produce_latency,omitempty"`
	// E2ELatency is send (intended) → received by a consumer.
	E2ELatency *Latency `json:"e2e_latency,omitempty"`
	// Produced is the number of records acknowledged in an e2e run.
	Produced int64 `json:"produced,omitempty"`
	// Hiccup is how late a thread that only sleeps was woken (mode
	// "hiccup"), each IntervalMs apart.
	Hiccup     *Latency `json:"hiccup,omitempty"`
	IntervalMs float64  `json:"interval_ms,omitempty"`
}

func (r *Result) finish(elapsed time.Duration) {
	r.Seconds = elapsed.Seconds()
	if r.Seconds > 0 {
		r.RecordsPerSec = float64(r.Records) / r.Seconds
		r.MBPerSec = float64(r.Bytes) / 1e6 / r.Seconds
	}
}

// WriteText prints a human summary.
func (r *Result) WriteText(w io.Writer) {
	if r.Hiccup != nil {
		r.writeHiccupText(w)
		return
	}
	fmt.Fprintf(w, "%s %s: %d records in %.2fs: %.0f records/s, %.1f MB/s (%d B records, %d partitions",
		r.Label, r.Mode, r.Records, r.Seconds, r.RecordsPerSec, r.MBPerSec, r.RecordSize, r.Partitions)
	if r.Acks != "" {
		fmt.Fprintf(w, ", acks=%s", r.Acks)
	}
	if r.TargetRate > 0 {
		fmt.Fprintf(w, ", target %.0f records/s", r.TargetRate)
	}
	if r.WarmupSeconds > 0 {
		fmt.Fprintf(w, ", after a %gs warm-up", r.WarmupSeconds)
	}
	fmt.Fprintln(w, ")")
	if r.Errors > 0 {
		fmt.Fprintf(w, "errors: %d (first: %s)\n", r.Errors, r.FirstError)
	}
	if l := r.ProduceLatency; l != nil {
		fmt.Fprintf(w, "produce-ack latency ms: p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f\n", l.P50, l.P99, l.P999, l.Max, l.Mean)
	}
	if l := r.E2ELatency; l != nil {
		fmt.Fprintf(w, "end-to-end latency ms: p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f\n", l.P50, l.P99, l.P999, l.Max, l.Mean)
	}
}

// writeHiccupText is WriteText for mode "hiccup".
func (r *Result) writeHiccupText(w io.Writer) {
	l := r.Hiccup
	fmt.Fprintf(w, "hiccup: %d wake-ups of a thread sleeping %g ms at a time, over %.2fs\n", l.Count, r.IntervalMs, r.Seconds)
	fmt.Fprintf(w, "late by ms: p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f\n", l.P50, l.P99, l.P999, l.Max, l.Mean)
}

// WriteJSON prints the result as one JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// errSink counts errors and keeps the first.
type errSink struct {
	n     atomic.Int64
	first atomic.Pointer[string]
}

func (e *errSink) add(err error) {
	e.n.Add(1)
	s := err.Error()
	e.first.CompareAndSwap(nil, &s)
}

func (e *errSink) into(r *Result) {
	r.Errors += e.n.Load()
	if p := e.first.Load(); p != nil && r.FirstError == "" {
		r.FirstError = *p
	}
}

// ensureTopic creates the topic unless it exists.
func ensureTopic(ctx context.Context, cfg *Config) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, cfg.Partitions, cfg.Replication, nil, cfg.Topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %s: %w", cfg.Topic, err)
	}
	// Wait until metadata shows every partition with a leader.
	deadline := time.Now().Add(10 * time.Second)
	for {
		td, err := adm.ListTopics(ctx, cfg.Topic)
		if err == nil {
			if t, ok := td[cfg.Topic]; ok && t.Err == nil && len(t.Partitions) > 0 {
				ready := true
				for _, p := range t.Partitions {
					if p.Leader < 0 || p.Err != nil {
						ready = false
					}
				}
				if ready {
					cfg.Partitions = int32(len(t.Partitions))
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %s has no leaders after 10s", cfg.Topic)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// endOffsets lists the topic's current end offsets by partition. Retriable
// errors (a new topic's leaders still starting in a cluster) are retried
// for up to 10 s.
func endOffsets(ctx context.Context, cfg *Config) (map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(10 * time.Second)
	for {
		lo, err := adm.ListEndOffsets(ctx, cfg.Topic)
		out := map[int32]int64{}
		if err == nil {
			lo.Each(func(o kadm.ListedOffset) {
				if o.Err != nil && err == nil {
					err = o.Err
				}
				out[o.Partition] = o.Offset
			})
		}
		if err == nil && len(out) == 0 {
			err = fmt.Errorf("topic %s not found", cfg.Topic)
		}
		if err == nil {
			return out, nil
		}
		if !kerr.IsRetriable(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return nil, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// progress prints a line every cfg.ProgressEvery until ctx ends. count
// returns the running totals of records and value bytes; lat (optional)
// drains an interval latency summary.
func progress(ctx context.Context, cfg *Config, mode string, count func() (int64, int64), lat func() (string, Latency)) {
	if cfg.Progress == nil {
		return
	}
	start := time.Now()
	t := time.NewTicker(cfg.ProgressEvery)
	defer t.Stop()
	last, lastB, lastT := int64(0), int64(0), start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n, nb := count()
			d := now.Sub(lastT).Seconds()
			line := fmt.Sprintf("[%s %s] %6.1fs %10.0f rec/s %8.1f MB/s  total %d",
				cfg.Label, mode, now.Sub(start).Seconds(), float64(n-last)/d, float64(nb-lastB)/1e6/d, n)
			if lat != nil {
				name, l := lat()
				if l.Count > 0 {
					line += fmt.Sprintf("  %s p50 %.2fms p99 %.2fms max %.2fms", name, l.P50, l.P99, l.Max)
				}
			}
			fmt.Fprintln(cfg.Progress, line)
			last, lastB, lastT = n, nb, now
		}
	}
}
