package schemaregistry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultTopic is where schemas are stored (Confluent's kafkastore.topic).
const DefaultTopic = "_schemas"

// KafkaLog is the Log on a Kafka cluster: partition 0 of a compacted
// one-partition topic, written with acks=all by an idempotent producer and
// read from the start by a direct (group-less) consumer. Every registry
// instance reads the whole topic.
type KafkaLog struct {
	cl     *kgo.Client
	adm    *kadm.Client
	topic  string
	logger *slog.Logger
}

// OpenKafkaLog connects to the cluster, creates the topic if it is missing
// (one partition, cleanup.policy=compact, replication factor
// min(3, brokers)) and starts reading it from the beginning.
func OpenKafkaLog(ctx context.Context, topic string, logger *slog.Logger, opts ...kgo.Opt) (*KafkaLog, error) {
	if topic == "" {
		topic = DefaultTopic
	}
	admCl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(admCl)
	defer adm.Close()
	if err := ensureTopic(ctx, adm, topic); err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
	)...)
	if err != nil {
		return nil, err
	}
	return &KafkaLog{cl: cl, adm: kadm.NewClient(cl), topic: topic, logger: logger}, nil
}

func ensureTopic(ctx context.Context, adm *kadm.Client, topic string) error {
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return fmt.Errorf("reaching the cluster: %w", err)
	}
	rf := int16(min(3, len(md.Brokers)))
	compact := "compact"
	resp, err := adm.CreateTopic(ctx, 1, rf, map[string]*string{"cleanup.policy": &compact}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}
	return nil
}

// Client returns the underlying client (the election shares it).
func (l *KafkaLog) Client() *kgo.Client { return l.cl }

// Close closes the client.
func (l *KafkaLog) Close() { l.cl.Close() }

// Append implements Log.
func (l *KafkaLog) Append(ctx context.Context, key, value []byte) (int64, error) {
	r := &kgo.Record{Topic: l.topic, Partition: 0, Key: key, Value: value}
	if err := l.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return 0, err
	}
	return r.Offset, nil
}

// EndOffset implements Log: the high watermark of partition 0. Failures
// (the partition's leader gone, an election under way) are retried with
// fresh metadata until ctx is done.
func (l *KafkaLog) EndOffset(ctx context.Context) (int64, error) {
	for {
		off, err := l.endOffset(ctx)
		if err == nil {
			return off, nil
		}
		l.cl.ForceMetadataRefresh()
		select {
		case <-ctx.Done():
			return 0, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (l *KafkaLog) endOffset(ctx context.Context) (int64, error) {
	offs, err := l.adm.ListEndOffsets(ctx, l.topic)
	if err != nil {
		return 0, err
	}
	o, ok := offs.Lookup(l.topic, 0)
	if !ok {
		return 0, fmt.Errorf("no end offset for %s", l.topic)
	}
	if o.Err != nil {
		return 0, o.Err
	}
	return o.Offset, nil
}

// Fetch implements Log.
func (l *KafkaLog) Fetch(ctx context.Context) ([]Record, error) {
	fs := l.cl.PollFetches(ctx)
	if fs.IsClientClosed() {
		return nil, kgo.ErrClientClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	errs := fs.Errors()
	for _, fe := range errs {
		l.logger.Warn("reading the schemas topic", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
	}
	var out []Record
	fs.EachRecord(func(r *kgo.Record) {
		out = append(out, Record{Offset: r.Offset, Key: r.Key, Value: r.Value})
	})
	if len(out) == 0 && len(errs) > 0 {
		// Back off so a lasting failure is not a busy loop.
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	return out, nil
}
