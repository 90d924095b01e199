package bench

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"
)

// sendTimeHeader carries the intended send time (Unix ns, big endian) in
// e2e runs; consumers compute end-to-end latency from it.
const sendTimeHeader = "trib-bench-t"

// prec is a pooled record. Record must stay the first field: the promise
// gets *kgo.Record back and converts it to *prec.
type prec struct {
	kgo.Record
	ts  [8]byte
	hdr [1]kgo.RecordHeader
	// at is the intended send time at full precision: kgo truncates
	// Record.Timestamp to milliseconds (the wire's unit) when it is
	// produced, which would add up to 1 ms to every latency.
	at time.Time
}

var precPool = sync.Pool{New: func() any { return new(prec) }}

// producerSet runs cfg.Producers kgo clients, each with its share of the
// records and of the rate.
type producerSet struct {
	cfg     *Config
	clients []*kgo.Client
	hists   []*hist
	acked   atomic.Int64
	errs    errSink
	value   []byte
	keys    [][]byte
	header  bool // stamp sendTimeHeader (e2e)
	// from: records sent before it are warm-up, counted nowhere.
	from time.Time
}

func newProducerSet(cfg *Config, header bool) (*producerSet, error) {
	ps := &producerSet{cfg: cfg, header: header}
	comp, _ := codec(cfg.Compression)
	// Printable pseudo-random payload, like kafka-producer-perf-test's.
	ps.value = make([]byte, cfg.RecordSize)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range ps.value {
		ps.value[i] = byte('A' + rnd.IntN(26))
	}
	if cfg.Keys != "none" {
		ps.keys = make([][]byte, cfg.KeyCount)
		for i := range ps.keys {
			ps.keys[i] = []byte("key-" + strconv.Itoa(i))
		}
	}
	for i := 0; i < cfg.Producers; i++ {
		opts := []kgo.Opt{
			kgo.SeedBrokers(cfg.Brokers...),
			kgo.ClientID("trib-bench-producer-" + strconv.Itoa(i)),
			kgo.DefaultProduceTopic(cfg.Topic),
			kgo.ProducerLinger(cfg.Linger),
			kgo.ProducerBatchMaxBytes(cfg.BatchSize),
			kgo.ProducerBatchCompression(comp),
			kgo.MaxBufferedRecords(cfg.MaxBuffered),
		}
		switch cfg.Acks {
		case "0":
			opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(cfg.MaxInflight))
		case "1":
			opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(cfg.MaxInflight))
		default:
			opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			ps.close()
			return nil, err
		}
		ps.clients = append(ps.clients, cl)
		ps.hists = append(ps.hists, newHist())
	}
	return ps, nil
}

func (ps *producerSet) close() {
	for _, cl := range ps.clients {
		cl.Close()
	}
}

// run produces until the record quota is met or the deadline passes, then
// flushes. It returns the time from start to the last ack.
func (ps *producerSet) run(ctx context.Context, start time.Time, deadline time.Time) time.Duration {
	cfg := ps.cfg
	var wg sync.WaitGroup
	for i, cl := range ps.clients {
		quota := int64(-1)
		if cfg.Records > 0 {
			quota = cfg.Records / int64(cfg.Producers)
			if int64(i) < cfg.Records%int64(cfg.Producers) {
				quota++
			}
		}
		rate := cfg.Rate / float64(cfg.Producers)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ps.produceLoop(ctx, i, cl, quota, rate, start, deadline)
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func (ps *producerSet) produceLoop(ctx context.Context, idx int, cl *kgo.Client, quota int64, rate float64, start, deadline time.Time) {
	cfg := ps.cfg
	h := ps.hists[idx]
	promise := func(r *kgo.Record, err error) {
		p := (*prec)(unsafe.Pointer(r))
		if err != nil {
			ps.errs.add(err)
		} else if !p.at.Before(ps.from) {
			h.record(time.Since(p.at))
			ps.acked.Add(1)
		}
		*p = prec{}
		precPool.Put(p)
	}
	rnd := rand.New(rand.NewPCG(uint64(idx), uint64(start.UnixNano())))
	var nsPerRecord float64
	if rate > 0 {
		nsPerRecord = float64(time.Second) / rate
	}
	hasDeadline := !deadline.IsZero()
	for i := int64(0); quota < 0 || i < quota; i++ {
		if ctx.Err() != nil {
			break
		}
		var at time.Time
		if rate > 0 {
			at = start.Add(time.Duration(float64(i) * nsPerRecord))
			if d := time.Until(at); d > 0 {
				time.Sleep(d)
			}
		} else {
			at = time.Now()
		}
		if hasDeadline && at.After(deadline) {
			break
		}
		p := precPool.Get().(*prec)
		p.Value = ps.value
		// The intended send time: CreateTime on the wire, and in p.at for
		// the promise.
		p.Timestamp, p.at = at, at
		switch cfg.Keys {
		case "seq":
			p.Key = ps.keys[i%int64(len(ps.keys))]
		case "random":
			p.Key = ps.keys[rnd.IntN(len(ps.keys))]
		}
		if ps.header {
			binary.BigEndian.PutUint64(p.ts[:], uint64(at.UnixNano()))
			p.hdr[0] = kgo.RecordHeader{Key: sendTimeHeader, Value: p.ts[:]}
			p.Headers = p.hdr[:]
		}
		cl.Produce(ctx, &p.Record, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		ps.errs.add(err)
	}
}

// Produce runs a produce benchmark.
func Produce(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := ensureTopic(ctx, &cfg); err != nil {
		return nil, err
	}
	ps, err := newProducerSet(&cfg, false)
	if err != nil {
		return nil, err
	}
	defer ps.close()
	// Warm the clients up (metadata, connections) before the clock starts.
	for _, cl := range ps.clients {
		if err := cl.Ping(ctx); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	ps.from = start.Add(cfg.Warmup)
	var deadline time.Time
	if cfg.Records <= 0 {
		deadline = ps.from.Add(cfg.Duration)
	}
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	go progress(pctx, &cfg, "produce", func() (int64, int64) {
		n := ps.acked.Load()
		return n, n * int64(cfg.RecordSize)
	}, func() (string, Latency) {
		return "ack", mergeIntervals(ps.hists)
	})
	elapsed := ps.run(ctx, start, deadline) - cfg.Warmup
	stop()
	res := &Result{Mode: "produce", Label: cfg.Label, Topic: cfg.Topic, Partitions: cfg.Partitions, Producers: cfg.Producers,
		RecordSize: cfg.RecordSize, Acks: cfg.Acks, Compression: cfg.Compression, TargetRate: cfg.Rate,
		WarmupSeconds: cfg.Warmup.Seconds()}
	res.Records = ps.acked.Load()
	res.Bytes = res.Records * int64(cfg.RecordSize)
	ps.errs.into(res)
	l := mergeHists(ps.hists...)
	res.ProduceLatency = &l
	res.finish(elapsed)
	return res, ctx.Err()
}

func mergeIntervals(hs []*hist) Latency {
	if len(hs) == 1 {
		return hs[0].drainInterval()
	}
	// Report the worst producer's interval view; merging intervals would
	// need a copy under each lock.
	var worst Latency
	for _, h := range hs {
		if l := h.drainInterval(); l.P99 >= worst.P99 {
			worst = l
		}
	}
	return worst
}
