package broker

// Hooks between the broker and the group coordinator (internal/group): the
// coordinator sees __consumer_offsets through offsetsLog
// (coordinator_log.go) and topics through groupTopics, and never imports
// this package. After every reconcile the
// broker tells the coordinator which offsets partitions it leads
// (syncGroupLeadership), so the coordinator loads and unloads groups as
// leadership moves, as Kafka's does.

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/tributary/tributary/internal/group"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/record"
)

// newGroupCoordinator builds the coordinator from the broker configs.
// Called once from StartGroups.
func (b *Broker) newGroupCoordinator() (*group.Coordinator, error) {
	c := b.cfg.Broker
	return group.New(group.Config{
		Log:                   newOffsetsLog(b),
		Topics:                groupTopics{b},
		Logger:                b.log.With("component", "group-coordinator"),
		InitialRebalanceDelay: time.Duration(c.Int("group.initial.rebalance.delay.ms")) * time.Millisecond,
		MinSessionTimeout:     time.Duration(c.Int("group.min.session.timeout.ms")) * time.Millisecond,
		MaxSessionTimeout:     time.Duration(c.Int("group.max.session.timeout.ms")) * time.Millisecond,
		MaxGroupSize:          int(c.Int("group.max.size")),
		OffsetsRetention:      time.Duration(c.Int("offsets.retention.minutes")) * time.Minute,
		RetentionCheck:        time.Duration(c.Int("offsets.retention.check.interval.ms")) * time.Millisecond,
		MaxMetadataBytes:      int(c.Int("offset.metadata.max.bytes")),

		ConsumerSessionTimeout:    time.Duration(c.Int("group.consumer.session.timeout.ms")) * time.Millisecond,
		ConsumerHeartbeatInterval: time.Duration(c.Int("group.consumer.heartbeat.interval.ms")) * time.Millisecond,
		ConsumerAssignors:         consumerAssignors(c.Get("group.consumer.assignors")),
		ConsumerMaxSize:           int(c.Int("group.consumer.max.size")),
	})
}

// syncGroupLeadership tells the coordinator which __consumer_offsets
// partitions this broker leads, from the roles applied to the local
// replicas. Called with reconcileMu held (so calls are ordered), after the
// topic view is published; it returns the channel closed once the loads it
// started are done.
func (b *Broker) syncGroupLeadership() <-chan struct{} {
	b.mu.RLock()
	groups := b.groups
	b.mu.RUnlock()
	if groups == nil {
		return nil
	}
	return groups.SetLeadership(b.ledPartitions(group.OffsetsTopic))
}

// Groups is the group coordinator (for tools and tests in-process).
func (b *Broker) Groups() *group.Coordinator { return b.groups }

// groupClient describes a request's client as the coordinator records it.
func groupClient(r *Request) group.Client {
	cl := group.Client{}
	if r.ClientID != nil {
		cl.ID = *r.ClientID
	}
	if r.Conn != nil {
		host := r.Conn.Remote
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		cl.Host = "/" + host
	}
	return cl
}

// consumerAssignors parses group.consumer.assignors (names, as Kafka 4
// accepts them).
func consumerAssignors(v string) []string {
	var out []string
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

type groupTopics struct{ b *Broker }

func (t groupTopics) TopicInfo(name string) ([16]byte, int32, bool) {
	tp := t.b.topic(name)
	if tp == nil {
		return [16]byte{}, 0, false
	}
	return tp.meta.ID, tp.numPartitions(), true
}

func (t groupTopics) TopicByID(id [16]byte) (string, bool) {
	tp := t.b.topicByID(id)
	if tp == nil {
		return "", false
	}
	return tp.meta.Name, true
}

func (t groupTopics) TopicNames() []string { return t.b.topicNames() }

func (t groupTopics) PartitionCount(name string) (int32, bool) {
	tp := t.b.topic(name)
	if tp == nil {
		return 0, false
	}
	return tp.numPartitions(), true
}

// offsetsLog is __consumer_offsets: a coordinatorLog (coordinator_log.go)
// whose appends also carry TxnOffsetCommits (transactional batches),
// verified with the transaction coordinator (AppendTxn) or not.
type offsetsLog struct{ coordinatorLog }

// newOffsetsLog is __consumer_offsets (offsets.commit.timeout.ms bounds a
// write, as offsets.commit.required.acks=-1 in Kafka).
func newOffsetsLog(b *Broker) offsetsLog {
	return offsetsLog{coordinatorLog{b: b, topic: group.OffsetsTopic,
		partitionsConfig: "offsets.topic.num.partitions", replicationConfig: "offsets.topic.replication.factor",
		writeTimeout: func() time.Duration {
			return time.Duration(b.cfg.Broker.Int("offsets.commit.timeout.ms")) * time.Millisecond
		}}}
}

func (l offsetsLog) Append(p int32, batch []byte) (int64, int32, error) {
	part, rb, err := l.partBatch(p, batch)
	if err != nil {
		return 0, 0, err
	}
	// A transactional batch is a TxnOffsetCommit's (txn_hooks.go),
	// here one that is not verified (AppendTxn is).
	opts := partition.AppendOptions{LogAppendTime: -1, Coordinator: rb.IsTransactional(), Unverified: true}
	return l.appendOffsets(part, rb, opts)
}

// AppendTxn writes a TxnOffsetCommit's batch with its KIP-890
// verification (verifyTxnOffsets): a transaction the batch would open
// in the partition needs the guard taken there before the coordinator
// agreed, and a marker written since refuses it (INVALID_TXN_STATE).
func (l offsetsLog) AppendTxn(p int32, batch []byte, verification any) (int64, int32, error) {
	part, rb, err := l.partBatch(p, batch)
	if err != nil {
		return 0, 0, err
	}
	v, _ := verification.(*offsetsVerification)
	opts := partition.AppendOptions{LogAppendTime: -1, Coordinator: true}
	if v != nil {
		opts.Verification = v.guard
	}
	return l.appendOffsets(part, rb, opts)
}

func (l offsetsLog) appendOffsets(part *partition.Partition, rb record.Batch, opts partition.AppendOptions) (int64, int32, error) {
	res, err := part.Append(rb, opts)
	if errors.Is(err, partition.ErrInvalidProducerEpoch) || errors.Is(err, partition.ErrTxnNotVerified) {
		return 0, 0, fmt.Errorf("%w: %v", wireErr(err), err)
	}
	if err != nil {
		return 0, 0, coordinatorErr(err)
	}
	return res.End, res.Epoch, nil
}
