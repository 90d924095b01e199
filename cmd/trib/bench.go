package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tributary/tributary/internal/bench"
	"github.com/tributary/tributary/internal/client"
)

func init() {
	c := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark a Kafka-wire cluster: produce, consume, end-to-end",
		Long: "Load generator on franz-go (like kafka-producer-perf-test). Reports records/s,\n" +
			"MB/s (10^6 bytes of record values) and latency percentiles from an HDR\n" +
			"histogram. With --rate, latency is measured from each record's intended send\n" +
			"time, so a stalled broker is not hidden by a stalled producer.\n\n" +
			"The load generator runs with GOGC=400 unless GOGC is set: a kgo consumer\n" +
			"allocates per record and per fetch response, and at the default of 100 the\n" +
			"client's own garbage collector took ~16% of its CPU and showed up in its\n" +
			"tail latency.",
	}
	c.AddCommand(benchCmd("produce", "Produce records and report produce-ack latency", bench.Produce))
	c.AddCommand(benchCmd("consume", "Consume a topic from the start (up to its end at start, --records, or --duration)", bench.Consume))
	c.AddCommand(benchCmd("e2e", "Produce and consume at once; report end-to-end latency", bench.E2E))
	c.AddCommand(hiccupCmd())
	root.AddCommand(c)
}

// hiccupCmd is "trib bench hiccup": the machine's own scheduling delays,
// with no broker involved (bench.Hiccup).
func hiccupCmd() *cobra.Command {
	var (
		interval, duration time.Duration
		asJSON             bool
	)
	c := &cobra.Command{
		Use:   "hiccup",
		Short: "Measure how late this machine wakes a thread that only sleeps (no broker involved)",
		Long: "Sleeps --interval at a time for --duration and reports how much later than\n" +
			"intended each wake-up came (jHiccup's idea), counted from the intended times.\n" +
			"These are the machine's own delays (other virtual machines on the same host,\n" +
			"the kernel, other load): a broker and its clients here see at least these.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := bench.Hiccup(ctx, interval, duration, nil)
			return printResult(res, err, asJSON)
		},
	}
	f := c.Flags()
	f.DurationVar(&interval, "interval", time.Millisecond, "sleep between wake-ups")
	f.DurationVar(&duration, "duration", 10*time.Second, "run time")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON on stdout")
	return c
}

// benchGCPercent is the load generator's GOGC when the environment sets
// none. Paired e2e runs at 174k records/s, acks=1 (3 rounds): e2e p99
// 4.75 -> 3.95 ms; the client's memory is bounded by --max-buffered and the
// fetch sizes, so a larger heap goal costs little.
const benchGCPercent = 400

func benchCmd(name, short string, run func(context.Context, bench.Config) (*bench.Result, error)) *cobra.Command {
	var (
		cfg      bench.Config
		brokers  string
		asJSON   bool
		quiet    bool
		replicas int16
	)
	c := &cobra.Command{
		Use:   name,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(benchGCPercent)
			}
			cfg.Brokers = client.Brokers(brokers)
			cfg.Replication = replicas
			if !quiet {
				cfg.Progress = os.Stderr
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := run(ctx, cfg)
			return printResult(res, err, asJSON)
		},
	}
	f := c.Flags()
	f.StringVarP(&brokers, "brokers", "b", "", "comma separated seed brokers (env "+client.EnvBrokers+", default "+client.DefaultBrokers+")")
	f.StringVar(&brokers, "bootstrap-server", "", "same as --brokers (the kafka-*.sh name)")
	f.StringVar(&cfg.Topic, "topic", "trib-bench", "topic (created if missing)")
	f.Int32Var(&cfg.Partitions, "partitions", 6, "partitions when creating the topic")
	f.Int16Var(&replicas, "replication-factor", -1, "replication factor when creating the topic (-1: broker default)")
	f.StringVar(&cfg.Label, "label", "tributary", "name of the system under test, echoed in results")
	f.Int64Var(&cfg.Records, "records", 0, "records to send/receive in total (0: run for --duration)")
	if name == "consume" {
		f.DurationVar(&cfg.Duration, "duration", 0, "run time (0: read up to the end offsets the topic had at start)")
	} else {
		f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "run time when --records is 0")
	}
	f.BoolVar(&asJSON, "json", false, "print the result as JSON on stdout")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress lines on stderr")
	f.DurationVar(&cfg.ProgressEvery, "progress", time.Second, "progress line interval")
	if name != "consume" {
		f.IntVar(&cfg.RecordSize, "record-size", 1024, "record value size in bytes")
		f.IntVar(&cfg.Producers, "producers", 1, "producer clients")
		f.StringVar(&cfg.Acks, "acks", "all", "acks: 0, 1 or all")
		f.DurationVar(&cfg.Linger, "linger", 10*time.Millisecond, "producer linger (linger.ms)")
		f.Int32Var(&cfg.BatchSize, "batch-size", 1000012, "max batch bytes (batch.size)")
		f.StringVar(&cfg.Compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
		f.IntVar(&cfg.MaxInflight, "max-inflight", 5, "produce requests in flight per broker for acks 0/1")
		f.IntVar(&cfg.MaxBuffered, "max-buffered", 50000, "records buffered in a producer before sends block")
		f.StringVar(&cfg.Keys, "keys", "none", "key distribution: none (null keys), seq (key-i round robin) or random (uniform)")
		f.IntVar(&cfg.KeyCount, "key-count", 1000, "distinct keys for --keys seq/random")
		f.Float64Var(&cfg.Rate, "rate", 0, "target records/s over all producers (0: unlimited)")
		f.DurationVar(&cfg.Warmup, "warmup", 0, "produce (at --rate) for this long before --duration starts; those records count in no figure")
	}
	if name != "produce" {
		f.IntVar(&cfg.Consumers, "consumers", 1, "consumer clients (partitions are split among them; no group)")
		f.Int32Var(&cfg.FetchMaxBytes, "fetch-max-bytes", 50<<20, "max bytes per fetch response (fetch.max.bytes)")
		f.Int32Var(&cfg.FetchMaxPartitionBytes, "fetch-max-partition-bytes", 1<<20, "max bytes per partition in a fetch response (max.partition.fetch.bytes)")
	}
	return c
}

// printResult prints a bench result (if any) as JSON or text on stdout
// and returns the run's error, or the printing's.
func printResult(res *bench.Result, err error, asJSON bool) error {
	if res == nil {
		return err
	}
	if asJSON {
		if jerr := res.WriteJSON(os.Stdout); jerr != nil {
			return jerr
		}
	} else {
		res.WriteText(os.Stdout)
	}
	return err
}
