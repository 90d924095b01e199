package connect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/safe"
)

// The Kafka side of the worker: the internal topics as kgo-backed Logs,
// the source producer and the sink consumers. Group membership uses
// kmsg JoinGroup/SyncGroup/Heartbeat through kgo.Client.Request (kgo's own
// group consumer hard-wires consumer-style topic-partition assignments,
// so it cannot carry Connect's connector and task assignments).

const kerrMemberIDRequired = 79

func kerrFor(code int16) error { return kerr.ErrorForCode(code) }

// isMemberGone: the coordinator no longer knows this member or its
// generation; rejoin as a new member.
func isMemberGone(code int16) bool {
	return code == kerr.UnknownMemberID.Code || code == kerr.IllegalGeneration.Code || code == kerr.FencedInstanceID.Code
}

// kafkaLog is a Log over a topic: a direct consumer from the start of every
// partition plus a shared producer.
type kafkaLog struct {
	topic string
	cons  *kgo.Client
	prod  *kgo.Client
	adm   *kadm.Client
	apply ApplyFunc
	log   *slog.Logger
	stop  chan struct{}
	done  chan struct{}

	mu   sync.Mutex // guards pos; cond waits for progress
	cond *sync.Cond
	pos  map[int32]int64 // next offset to read per partition
}

func openKafkaLog(seeds []string, prod *kgo.Client, adm *kadm.Client, topic string, apply ApplyFunc, log *slog.Logger) (*kafkaLog, error) {
	// Read committed (source offsets may be written in transactions, KIP-618),
	// keeping control records so the read position passes commit markers
	// and ReadToEnd can reach the last stable offset.
	cons, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		return nil, err
	}
	l := &kafkaLog{topic: topic, cons: cons, prod: prod, adm: adm, apply: apply, log: log,
		stop: make(chan struct{}), done: make(chan struct{}), pos: map[int32]int64{}}
	l.cond = sync.NewCond(&l.mu)
	safe.Go(log, "connect log "+topic, func() {
		defer close(l.done)
		safe.Loop(log, "connect log "+topic, l.stop, l.read)
	})
	return l, nil
}

func (l *kafkaLog) read() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	safe.Go(l.log, "connect log stop "+l.topic, func() {
		select {
		case <-l.stop:
		case <-ctx.Done():
		}
		cancel()
	})
	for ctx.Err() == nil {
		fs := l.cons.PollFetches(ctx)
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
				l.log.Warn("reading connect internal topic", "topic", t, "partition", p, "err", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				l.apply(r.Partition, r.Offset, r.Key, r.Value)
			}
			l.mu.Lock()
			l.pos[r.Partition] = r.Offset + 1
			l.mu.Unlock()
		})
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	}
}

// Send waits for the acknowledgement or ctx (kgo keeps retrying a
// buffered record whatever its context, so ProduceSync would wait for a
// broker that is gone for good). The record itself is produced without
// ctx: kgo fails a canceled record and every record buffered after it in
// its partition, so a task's commit canceled by its stop would fail the
// final commit that follows it.
func (l *kafkaLog) Send(ctx context.Context, key, value []byte) error {
	done := make(chan error, 1)
	l.prod.Produce(context.Background(), &kgo.Record{Topic: l.topic, Key: key, Value: value}, func(_ *kgo.Record, err error) { done <- err })
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *kafkaLog) ReadToEnd(ctx context.Context) error {
	ends, err := l.adm.ListCommittedOffsets(ctx, l.topic)
	if err != nil {
		return err
	}
	if err := ends.Error(); err != nil {
		return err
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		behind := false
		for p, end := range want {
			if l.pos[p] < end {
				behind = true
			}
		}
		if !behind {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.cond.Wait()
	}
}

func (l *kafkaLog) Close() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
	l.cons.Close()
}

// kgoProducer sends source records on one client per worker, whose
// partitioner is sourcePartitioner.
type kgoProducer struct {
	cl *kgo.Client

	mu sync.Mutex // guards the fields below
	// known is the partition count per topic the client's metadata is
	// known to cover; seen marks topics produced to before.
	known map[string]int32
	seen  map[string]bool
}

func newKgoProducer(cl *kgo.Client) *kgoProducer {
	return &kgoProducer{cl: cl, known: map[string]int32{}, seen: map[string]bool{}}
}

// awaitPartition waits (up to a minute, as Kafka's max.block.ms) until the
// client's metadata has an explicitly chosen partition: kgo fails a record
// for a partition beyond its cached count at once, and a mirror's new
// partitions appear on the target moments before its records do.
func (p *kgoProducer) awaitPartition(ctx context.Context, topic string, partition int32) {
	p.mu.Lock()
	ok, seen := partition < p.known[topic], p.seen[topic]
	p.seen[topic] = true
	p.mu.Unlock()
	if ok || !seen {
		return // a topic's first record loads fresh metadata
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if leader, _, _ := p.cl.PartitionLeader(topic, partition); leader >= 0 {
			p.mu.Lock()
			p.known[topic] = max(p.known[topic], partition+1)
			p.mu.Unlock()
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		p.cl.ForceMetadataRefresh()
		sleepCtx(ctx, 100*time.Millisecond)
	}
}

func (p *kgoProducer) Produce(ctx context.Context, r ProducerRecord, done func(int32, int64, error)) {
	if r.Partition >= 0 {
		p.awaitPartition(ctx, r.Topic, r.Partition)
	}
	kr := &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
	for _, h := range r.Headers {
		kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	p.cl.Produce(ctx, kr, func(kr *kgo.Record, err error) { done(kr.Partition, kr.Offset, err) })
}

// kgoTxnProducer is a source task's transactional producer (exactly-once
// sources, KIP-618): its transactional id fences an earlier instance of
// the same task.
type kgoTxnProducer struct{ *kgoProducer }

func newKgoTxnProducer(seeds []string, transactionalID string) (TxnProducer, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.TransactionalID(transactionalID), kgo.ProducerLinger(5*time.Millisecond),
		kgo.AllowAutoTopicCreation(), kgo.RecordPartitioner(newSourcePartitioner()))
	if err != nil {
		return nil, err
	}
	return kgoTxnProducer{newKgoProducer(cl)}, nil
}

func (p kgoTxnProducer) Begin() error { return p.cl.BeginTransaction() }

func (p kgoTxnProducer) Commit(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		return err
	}
	return p.cl.EndTransaction(ctx, kgo.TryCommit)
}

func (p kgoTxnProducer) Abort(ctx context.Context) error {
	if err := p.cl.AbortBufferedRecords(ctx); err != nil {
		return err
	}
	return p.cl.EndTransaction(ctx, kgo.TryAbort)
}

func (p kgoTxnProducer) Close() { p.cl.Close() }

// sourcePartitioner honours a record's Partition when it is >= 0 (a source
// record that names its partition; an out-of-range one fails the record)
// and otherwise uses kgo's default partitioner (murmur2 of the key, sticky
// for null keys: Kafka's).
type sourcePartitioner struct{ def kgo.Partitioner }

func newSourcePartitioner() kgo.Partitioner {
	return sourcePartitioner{def: kgo.UniformBytesPartitioner(64<<10, true, true, nil)}
}

func (p sourcePartitioner) ForTopic(t string) kgo.TopicPartitioner {
	return &sourceTopicPartitioner{def: p.def.ForTopic(t)}
}

type sourceTopicPartitioner struct{ def kgo.TopicPartitioner }

func (s *sourceTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return r.Partition >= 0 || s.def.RequiresConsistency(r)
}

func (s *sourceTopicPartitioner) Partition(r *kgo.Record, n int) int {
	return s.PartitionByBackup(r, n, nil)
}

func (s *sourceTopicPartitioner) PartitionByBackup(r *kgo.Record, n int, it kgo.TopicBackupIter) int {
	if r.Partition >= 0 {
		return int(r.Partition)
	}
	if b, ok := s.def.(kgo.TopicBackupPartitioner); ok && it != nil {
		return b.PartitionByBackup(r, n, it)
	}
	return s.def.Partition(r, n)
}

func (s *sourceTopicPartitioner) OnNewBatch() {
	if nb, ok := s.def.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}

func (p *kgoProducer) Flush(ctx context.Context) error { return p.cl.Flush(ctx) }

// kgoSinkConsumer is a sink task's group consumer.
type kgoSinkConsumer struct {
	cl  *kgo.Client
	log *slog.Logger
}

func newKgoSinkConsumer(seeds []string, log *slog.Logger, c SinkConsumerConfig) (SinkConsumer, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ConsumerGroup(c.Group), kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			if c.BeforeRevoke != nil {
				c.BeforeRevoke()
			}
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				log.Warn("sink commit before revocation", "group", c.Group, "err", err)
			}
		})}
	if c.Regex != "" {
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(c.Regex))
	} else {
		opts = append(opts, kgo.ConsumeTopics(c.Topics...))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	return &kgoSinkConsumer{cl: cl, log: log}, nil
}

func (s *kgoSinkConsumer) Poll(ctx context.Context) ([]ConsumedRecord, error) {
	fs := s.cl.PollRecords(ctx, 10000)
	fs.EachError(func(t string, p int32, err error) {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, kgo.ErrClientClosed) {
			s.log.Warn("sink consumer", "topic", t, "partition", p, "err", err)
		}
	})
	var out []ConsumedRecord
	fs.EachRecord(func(r *kgo.Record) {
		cr := ConsumedRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
		for _, h := range r.Headers {
			cr.Headers = append(cr.Headers, Header{Key: h.Key, Value: h.Value})
		}
		out = append(out, cr)
	})
	return out, nil
}

func (s *kgoSinkConsumer) Done() { s.cl.AllowRebalance() }
func (s *kgoSinkConsumer) Commit(ctx context.Context) error {
	return s.cl.CommitUncommittedOffsets(ctx)
}

// Pause stops fetching (the group membership and heartbeats go on).
func (s *kgoSinkConsumer) Pause(paused bool) {
	topics := s.cl.GetConsumeTopics()
	if paused {
		s.cl.PauseFetchTopics(topics...)
	} else {
		s.cl.ResumeFetchTopics(topics...)
	}
}

func (s *kgoSinkConsumer) Close() { s.cl.Close() }

// EnsureTopics creates the internal topics (compacted) if missing and checks
// that the config topic has one partition.
func EnsureTopics(ctx context.Context, adm *kadm.Client, s Settings) error {
	compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	for _, t := range []struct {
		name       string
		partitions int32
		rf         int16
	}{
		{s.ConfigTopic, 1, s.ConfigRF},
		{s.OffsetTopic, s.OffsetPartitions, s.OffsetRF},
		{s.StatusTopic, s.StatusPartitions, s.StatusRF},
	} {
		resp, err := adm.CreateTopic(ctx, t.partitions, t.rf, compact, t.name)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("creating %s: %w", t.name, err)
		}
		if resp.Err != nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("creating %s: %w", t.name, resp.Err)
		}
	}
	td, err := adm.ListTopics(ctx, s.ConfigTopic)
	if err != nil {
		return err
	}
	if d, ok := td[s.ConfigTopic]; ok && d.Err == nil && len(d.Partitions) != 1 {
		return fmt.Errorf("topic %s (config.storage.topic) has %d partitions; it must have exactly 1", s.ConfigTopic, len(d.Partitions))
	}
	return nil
}

// sinkOffsets reads a sink connector's consumer group offsets in Connect's shape.
func sinkOffsets(adm *kadm.Client) func(ctx context.Context, group string) ([]ConnectorOffset, error) {
	return func(ctx context.Context, group string) ([]ConnectorOffset, error) {
		resp, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return nil, err
		}
		var out []ConnectorOffset
		for _, o := range resp.Sorted() {
			if o.Err != nil {
				continue
			}
			out = append(out, ConnectorOffset{
				Partition: map[string]any{"kafka_topic": o.Topic, "kafka_partition": o.Partition},
				Offset:    map[string]any{"kafka_offset": o.At},
			})
		}
		return out, nil
	}
}

// alterSinkOffsets changes a sink connector's consumer group offsets (the
// group has no members: the connector is STOPPED). A STOPPED connector's
// tasks leave the group on the rebalance after the stop, so a request
// right after it can still find a member; that error says the request
// may be retried, as Kafka's worker does (KIP-875).
func alterSinkOffsets(adm *kadm.Client) func(ctx context.Context, group string, offsets map[string]map[int32]int64, reset bool) error {
	alter := func(ctx context.Context, group string, offsets map[string]map[int32]int64, reset bool) error {
		if reset {
			resp, err := adm.DeleteGroup(ctx, group)
			if err != nil {
				return err
			}
			if resp.Err != nil && !errors.Is(resp.Err, kerr.GroupIDNotFound) {
				return resp.Err
			}
			return nil
		}
		set := kadm.Offsets{}
		del := kadm.TopicsSet{}
		for t, ps := range offsets {
			for p, o := range ps {
				if o < 0 {
					del.Add(t, p)
				} else {
					set.Add(kadm.Offset{Topic: t, Partition: p, At: o, LeaderEpoch: -1})
				}
			}
		}
		if len(set) > 0 {
			resp, err := adm.CommitOffsets(ctx, group, set)
			if err != nil {
				return err
			}
			if err := resp.Error(); err != nil {
				return err
			}
		}
		if len(del) > 0 {
			resp, err := adm.DeleteOffsets(ctx, group, del)
			if err != nil {
				return err
			}
			if err := resp.Error(); err != nil {
				return err
			}
		}
		return nil
	}
	return func(ctx context.Context, group string, offsets map[string]map[int32]int64, reset bool) error {
		err := alter(ctx, group, offsets, reset)
		if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.GroupSubscribedToTopic) || errors.Is(err, kerr.NonEmptyGroup) {
			return fmt.Errorf("consumer group %s still has a member: the connector's tasks have not all stopped yet, or it was resumed meanwhile; if the connector is STOPPED, retry the request (%w)", group, err)
		}
		return err
	}
}

// forwardHTTP sends an internal request with a JSON body; non-2xx answers
// are errors.
func forwardHTTP(hc *http.Client) func(ctx context.Context, method, url string, body []byte, header map[string]string) error {
	return func(ctx context.Context, method, url string, body []byte, header map[string]string) error {
		req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s: %s: %s", url, resp.Status, b)
		}
		return nil
	}
}
