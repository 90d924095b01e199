package node

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/broker"
	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/metrics"
	"github.com/tributary/tributary/internal/record"
	"github.com/tributary/tributary/internal/safe"
)

// observer runs a node's observability when admin.listen is set: the
// metrics registry, the admin HTTP listener and the consumer lag sampler.
// Every method is safe on a nil observer (admin.listen unset), so the node
// calls them unconditionally.
//
// The lag sampler runs on its own goroutine every
// consumer.lag.sample.interval.ms: it reads the committed offsets of the
// groups this broker coordinates, the high watermarks of the partitions
// they read (from the local replica where this broker leads, else with
// ListOffsets through a Kafka client on this broker's own listener, which
// routes each partition to its leader), and feeds the lag tracker. So
// each group's lag is reported once in the cluster, by its coordinator.
type observer struct {
	m        *metrics.Metrics
	admin    *metrics.Admin
	listen   string
	interval time.Duration
	log      *slog.Logger

	b         *broker.Broker
	kafkaAddr atomic.Pointer[string] // set once the Kafka listener serves
	// clientOpts secure the sampler's client (set with kafkaAddr).
	clientOpts []kgo.Opt
	// times caches the timestamp of the record at a committed offset,
	// so only new commits cost a read; owned by the sampler goroutine.
	times     map[recordAt]int64
	closing   atomic.Bool
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

func newObserver(bcfg *config.Broker, log *slog.Logger) *observer {
	listen := bcfg.Get("admin.listen")
	if listen == "" {
		return nil
	}
	return &observer{
		m: metrics.New(metrics.Options{PerPartition: bcfg.Bool("metrics.partition.series.enable"),
			LagWindow: int(bcfg.Int("consumer.lag.window.commits"))}),
		listen:   listen,
		interval: time.Duration(bcfg.Int("consumer.lag.sample.interval.ms")) * time.Millisecond,
		log:      log,
		stop:     make(chan struct{}),
	}
}

// start attaches the broker and opens the admin listener.
func (o *observer) start(b *broker.Broker) error {
	o.b = b
	o.m.SetSource(b)
	a, err := metrics.StartAdmin(metrics.AdminConfig{Addr: o.listen, Metrics: o.m, Ready: o.notReady, Logger: o.log})
	if err != nil {
		return err
	}
	o.admin = a
	o.log.Info("admin listener started", "admin_listen", a.Addr())
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		safe.Loop(o.log, "lag-sampler", o.stop, o.sampleLoop)
	}()
	return nil
}

// serving records the Kafka listener's address once it accepts clients.
func (o *observer) serving(addr string, opts []kgo.Opt) {
	if o != nil {
		o.clientOpts = opts
		o.kafkaAddr.Store(&addr)
	}
}

func (o *observer) requests() *metrics.Requests {
	if o == nil {
		return nil
	}
	return o.m.Requests
}

func (o *observer) notReady() []string {
	if o.closing.Load() {
		return []string{"shutting down"}
	}
	reasons := o.b.NotReady()
	if o.kafkaAddr.Load() == nil {
		reasons = append(reasons, "Kafka listener not serving yet")
	}
	return reasons
}

// stopping makes /readyz answer not ready (a controlled shutdown began).
func (o *observer) stopping() {
	if o != nil {
		o.closing.Store(true)
	}
}

// close stops the sampler and the admin listener.
func (o *observer) close() error {
	if o == nil {
		return nil
	}
	o.closeOnce.Do(func() {
		o.closing.Store(true)
		close(o.stop)
		o.wg.Wait()
		if o.admin != nil {
			o.closeErr = o.admin.Close()
		}
	})
	return o.closeErr
}

func (o *observer) sampleLoop() {
	var cl *kgo.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	o.times = map[recordAt]int64{}
	for {
		select {
		case <-o.stop:
			return
		case <-tick.C:
		}
		committed := o.b.CommittedOffsets()
		ends := map[metrics.TopicPartition]int64{}
		remote := map[string][]int32{}
		for _, tp := range metrics.EndOffsetsWanted(committed) {
			if hw, ok := o.b.HighWatermark(tp.Topic, tp.Partition); ok {
				ends[tp] = hw
			} else {
				remote[tp.Topic] = append(remote[tp.Topic], tp.Partition)
			}
		}
		if addr := o.kafkaAddr.Load(); addr != nil && cl == nil && len(remote) > 0 {
			var err error
			if cl, err = kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(*addr), kgo.ClientID("tributary-lag-sampler")}, o.clientOpts...)...); err != nil {
				o.log.Warn("lag sampler client", "err", err)
				cl = nil
			}
		}
		if len(remote) > 0 && cl != nil {
			o.remoteEnds(cl, remote, ends)
		}
		o.recordTimes(cl, committed, ends)
		o.m.Lag.Observe(time.Now().UnixMilli(), committed, ends)
	}
}

// remoteEnds asks the partitions' leaders for their high watermarks.
func (o *observer) remoteEnds(cl *kgo.Client, parts map[string][]int32, ends map[metrics.TopicPartition]int64) {
	ctx, cancel := context.WithTimeout(context.Background(), max(o.interval, 2*time.Second))
	defer cancel()
	go func() { // safe: only waits on channels
		select {
		case <-o.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	topics := make([]string, 0, len(parts))
	for t := range parts {
		topics = append(topics, t)
	}
	res, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err != nil {
		o.log.Debug("lag sampler: listing end offsets", "err", err)
	}
	res.Each(func(l kadm.ListedOffset) {
		if l.Err == nil {
			ends[metrics.TopicPartition{Topic: l.Topic, Partition: l.Partition}] = l.Offset
		}
	})
}

// recordAt is a record's position.
type recordAt struct {
	tp     metrics.TopicPartition
	offset int64
}

// maxRemoteTimestampFetches bounds the fetches one sample makes for
// record timestamps on other brokers; the rest wait for the next sample
// (their lag in seconds comes from the end-offset history meanwhile).
const maxRemoteTimestampFetches = 64

// recordTimes fills RecordMs for lagging group partitions: the timestamp
// of the first unconsumed record, read from the local log where this
// broker leads the partition, else fetched from the leader (one batch);
// cached by position, so only new commits cost a read.
func (o *observer) recordTimes(cl *kgo.Client, committed []metrics.CommittedOffset, ends map[metrics.TopicPartition]int64) {
	used := make(map[recordAt]bool, len(committed))
	fetches := 0
	for i := range committed {
		c := &committed[i]
		at := recordAt{metrics.TopicPartition{Topic: c.Topic, Partition: c.Partition}, c.Offset}
		if end, ok := ends[at.tp]; !ok || end <= c.Offset {
			continue
		}
		used[at] = true
		if ts, ok := o.times[at]; ok {
			c.RecordMs = ts
			continue
		}
		ts, ok := o.b.RecordTimestamp(c.Topic, c.Partition, c.Offset)
		if !ok && cl != nil && fetches < maxRemoteTimestampFetches {
			fetches++
			ts, ok = o.fetchTimestamp(cl, at)
		}
		if ok {
			o.times[at] = ts
			c.RecordMs = ts
		}
	}
	for at := range o.times {
		if !used[at] {
			delete(o.times, at)
		}
	}
}

// fetchTimestamp fetches the batch at a position from the partition's
// leader (a consumer fetch of at most one batch) and returns its
// timestamp.
func (o *observer) fetchTimestamp(cl *kgo.Client, at recordAt) (int64, bool) {
	leader, id, ok := o.b.PartitionLeader(at.tp.Topic, at.tp.Partition)
	if !ok {
		return 0, false
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 0
	req.MaxBytes = 1 // the first batch is returned whole (KIP-74)
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = at.tp.Topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = at.tp.Partition, at.offset, 1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, false
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || len(p.RecordBatches) < record.HeaderSize {
		return 0, false
	}
	b := record.Batch(p.RecordBatches)
	ts := b.FirstTimestamp()
	if b.IsLogAppendTime() {
		ts = b.MaxTimestamp()
	}
	return ts, ts > 0
}
