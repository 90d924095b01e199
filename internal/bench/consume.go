package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// consumerSet runs cfg.Consumers kgo clients over disjoint partition sets,
// assigned directly (no consumer group), each fetching from given offsets.
type consumerSet struct {
	cfg      *Config
	clients  []*kgo.Client
	parts    []map[int32]int64 // per client: partition → stop offset (exclusive); -1 none
	hists    []*hist
	received atomic.Int64
	bytes    atomic.Int64
	errs     errSink
	lastRecv atomic.Int64 // Unix ns of the last record received
	// from (e2e): records sent before it are warm-up, counted nowhere.
	from time.Time
}

// newConsumerSet starts at from[p] and, when stop is non-nil, stops each
// partition at stop[p].
func newConsumerSet(cfg *Config, from, stop map[int32]int64) (*consumerSet, error) {
	n := cfg.Consumers
	if n > int(cfg.Partitions) {
		n = int(cfg.Partitions)
	}
	cs := &consumerSet{cfg: cfg}
	assign := make([]map[string]map[int32]kgo.Offset, n)
	for i := range n {
		assign[i] = map[string]map[int32]kgo.Offset{cfg.Topic: {}}
		cs.parts = append(cs.parts, map[int32]int64{})
		cs.hists = append(cs.hists, newHist())
	}
	for p := int32(0); p < cfg.Partitions; p++ {
		i := int(p) % n
		off, ok := from[p]
		if !ok {
			off = 0
		}
		assign[i][cfg.Topic][p] = kgo.NewOffset().At(off)
		end := int64(-1)
		if stop != nil {
			end = stop[p]
		}
		cs.parts[i][p] = end
	}
	for i := range n {
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(cfg.Brokers...),
			kgo.ClientID("trib-bench-consumer-"+strconv.Itoa(i)),
			kgo.ConsumePartitions(assign[i]),
			kgo.FetchMaxBytes(cfg.FetchMaxBytes),
			kgo.FetchMaxPartitionBytes(cfg.FetchMaxPartitionBytes),
		)
		if err != nil {
			cs.close()
			return nil, err
		}
		cs.clients = append(cs.clients, cl)
	}
	return cs, nil
}

func (cs *consumerSet) close() {
	for _, cl := range cs.clients {
		cl.Close()
	}
}

// run consumes until ctx ends or, with stop offsets, every partition
// reached its stop offset. limit > 0 ends the run after that many records.
func (cs *consumerSet) run(ctx context.Context, limit int64, e2e bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i, cl := range cs.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs.loop(ctx, cancel, i, cl, limit, e2e)
		}()
	}
	wg.Wait()
}

func (cs *consumerSet) loop(ctx context.Context, cancel context.CancelFunc, idx int, cl *kgo.Client, limit int64, e2e bool) {
	h := cs.hists[idx]
	pending := 0 // partitions with a stop offset not yet reached
	next := map[int32]int64{}
	for p, end := range cs.parts[idx] {
		if end > 0 {
			pending++
		}
		next[p] = 0
	}
	if pending == 0 && cs.anyStop(idx) {
		return // every partition was empty
	}
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) {
				cs.errs.add(err)
			}
		})
		var n, b int64
		now := time.Now()
		fs.EachRecord(func(r *kgo.Record) {
			counted := true
			if e2e {
				for _, hd := range r.Headers {
					if hd.Key == sendTimeHeader && len(hd.Value) == 8 {
						sent := time.Unix(0, int64(binary.BigEndian.Uint64(hd.Value)))
						if counted = !sent.Before(cs.from); counted {
							h.record(now.Sub(sent))
						}
					}
				}
			}
			if counted {
				n++
				b += int64(len(r.Value))
			}
			if end := cs.parts[idx][r.Partition]; end > 0 {
				if next[r.Partition] < end && r.Offset+1 >= end {
					pending--
				}
			}
			next[r.Partition] = r.Offset + 1
		})
		if n > 0 {
			cs.lastRecv.Store(now.UnixNano())
		}
		total := cs.received.Add(n)
		cs.bytes.Add(b)
		if limit > 0 && total >= limit {
			cancel()
			return
		}
		if pending <= 0 && cs.anyStop(idx) {
			return
		}
	}
}

func (cs *consumerSet) counts() (int64, int64) { return cs.received.Load(), cs.bytes.Load() }

func (cs *consumerSet) anyStop(idx int) bool {
	for _, end := range cs.parts[idx] {
		if end >= 0 {
			return true
		}
	}
	return false
}

// Consume reads the topic from the start: up to the end offsets it had when
// the run began, or --records records, or for --duration.
func Consume(ctx context.Context, cfg Config) (*Result, error) {
	recordsSet, durSet := cfg.Records > 0, cfg.Duration > 0
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	ends, err := endOffsets(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	cfg.Partitions = int32(len(ends))
	var stop map[int32]int64
	if !recordsSet && !durSet {
		stop = ends
		var total int64
		for _, e := range ends {
			total += e
		}
		if total == 0 {
			return nil, fmt.Errorf("topic %s is empty: produce first, or pass --records/--duration", cfg.Topic)
		}
	}
	cs, err := newConsumerSet(&cfg, nil, stop)
	if err != nil {
		return nil, err
	}
	defer cs.close()
	for _, cl := range cs.clients {
		if err := cl.Ping(ctx); err != nil {
			return nil, err
		}
	}
	rctx, cancel := ctx, context.CancelFunc(func() {})
	if durSet && !recordsSet {
		rctx, cancel = context.WithTimeout(ctx, cfg.Duration)
	}
	defer cancel()
	pctx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	start := time.Now()
	go progress(pctx, &cfg, "consume", cs.counts, nil)
	limit := int64(0)
	if recordsSet {
		limit = cfg.Records
	}
	cs.run(rctx, limit, false)
	elapsed := time.Since(start)
	if durSet && !recordsSet {
		elapsed = min(elapsed, cfg.Duration)
	}
	stopProgress()
	res := &Result{Mode: "consume", Label: cfg.Label, Topic: cfg.Topic, Partitions: cfg.Partitions, Consumers: len(cs.clients), RecordSize: cfg.RecordSize}
	res.Records = cs.received.Load()
	res.Bytes = cs.bytes.Load()
	if res.Records > 0 {
		res.RecordSize = int(res.Bytes / res.Records)
	}
	cs.errs.into(res)
	res.finish(elapsed)
	return res, ctx.Err()
}

// E2E produces and consumes at once: consumers start at the topic's end,
// producers send (at --rate, if given), and each record's latency is taken
// from its intended send time to its arrival at a consumer.
func E2E(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := ensureTopic(ctx, &cfg); err != nil {
		return nil, err
	}
	ends, err := endOffsets(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	cs, err := newConsumerSet(&cfg, ends, nil)
	if err != nil {
		return nil, err
	}
	defer cs.close()
	ps, err := newProducerSet(&cfg, true)
	if err != nil {
		return nil, err
	}
	defer ps.close()
	for _, cl := range append(append([]*kgo.Client{}, cs.clients...), ps.clients...) {
		if err := cl.Ping(ctx); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	ps.from, cs.from = start.Add(cfg.Warmup), start.Add(cfg.Warmup)
	cctx, stopConsumers := context.WithCancel(ctx)
	defer stopConsumers()
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		cs.run(cctx, 0, true)
	}()
	pctx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	var deadline time.Time
	if cfg.Records <= 0 {
		deadline = ps.from.Add(cfg.Duration)
	}
	go progress(pctx, &cfg, "e2e", cs.counts, func() (string, Latency) {
		return "e2e", mergeIntervals(cs.hists)
	})
	ps.run(ctx, start, deadline)
	// Wait (bounded) for the consumers to see everything acknowledged.
	grace := time.NewTimer(10 * time.Second)
	defer grace.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
wait:
	for cs.received.Load() < ps.acked.Load() {
		select {
		case <-grace.C:
			break wait
		case <-ctx.Done():
			break wait
		case <-tick.C:
		}
	}
	stopProgress()
	stopConsumers()
	<-consumed
	res := &Result{Mode: "e2e", Label: cfg.Label, Topic: cfg.Topic, Partitions: cfg.Partitions, Producers: cfg.Producers,
		Consumers: len(cs.clients), RecordSize: cfg.RecordSize, Acks: cfg.Acks, Compression: cfg.Compression, TargetRate: cfg.Rate,
		WarmupSeconds: cfg.Warmup.Seconds()}
	res.Records = cs.received.Load()
	res.Bytes = cs.bytes.Load()
	res.Produced = ps.acked.Load()
	ps.errs.into(res)
	cs.errs.into(res)
	if res.Records < res.Produced && res.FirstError == "" {
		res.FirstError = fmt.Sprintf("consumers received %d of %d acknowledged records", res.Records, res.Produced)
	}
	pl := mergeHists(ps.hists...)
	el := mergeHists(cs.hists...)
	res.ProduceLatency, res.E2ELatency = &pl, &el
	elapsed := time.Duration(cs.lastRecv.Load() - ps.from.UnixNano())
	if elapsed <= 0 {
		elapsed = time.Since(ps.from)
	}
	res.finish(elapsed)
	return res, ctx.Err()
}
