package node

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/broker"
	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/metrics"
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
	closing    atomic.Bool
	stop       chan struct{}
	wg         sync.WaitGroup
	closeOnce  sync.Once
	closeErr   error
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
		if addr := o.kafkaAddr.Load(); len(remote) > 0 && addr != nil {
			if cl == nil {
				var err error
				if cl, err = kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(*addr), kgo.ClientID("tributary-lag-sampler")}, o.clientOpts...)...); err != nil {
					o.log.Warn("lag sampler client", "err", err)
					continue
				}
			}
			o.remoteEnds(cl, remote, ends)
		}
		for i := range committed {
			c := &committed[i]
			tp := metrics.TopicPartition{Topic: c.Topic, Partition: c.Partition}
			if end, ok := ends[tp]; ok && end > c.Offset {
				c.RecordMs, _ = o.b.RecordTimestamp(c.Topic, c.Partition, c.Offset)
			}
		}
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
