package broker

// Hooks between the broker and the group coordinator (internal/group): the
// coordinator sees __consumer_offsets through offsetsLog and topics through
// groupTopics, and never imports this package. After every reconcile the
// broker tells the coordinator which offsets partitions it leads
// (syncGroupLeadership), so the coordinator loads and unloads groups as
// leadership moves, as Kafka's does.

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/tributary/tributary/internal/group"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/record"
)

// newGroupCoordinator builds the coordinator from the broker configs.
// Called once from StartGroups.
func (b *Broker) newGroupCoordinator() (*group.Coordinator, error) {
	c := b.cfg.Broker
	return group.New(group.Config{
		Log:                   offsetsLog{b},
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
	groups, t := b.groups, b.topics[group.OffsetsTopic]
	b.mu.RUnlock()
	if groups == nil {
		return nil
	}
	if t == nil {
		return groups.SetLeadership(0, nil)
	}
	led := map[int32]int32{}
	for i, p := range t.parts {
		if p == nil {
			continue
		}
		if r := p.Role(); r.Leader == b.cfg.NodeID {
			led[int32(i)] = r.LeaderEpoch
		}
	}
	return groups.SetLeadership(t.numPartitions(), led)
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

// offsetsLog is __consumer_offsets, created on first use with
// offsets.topic.num.partitions partitions and cleanup.policy=compact.
type offsetsLog struct{ b *Broker }

func (l offsetsLog) Partitions(create bool) (int32, error) {
	if t := l.b.topic(group.OffsetsTopic); t != nil {
		return t.numPartitions(), nil
	}
	if !create {
		return 0, nil
	}
	b := l.b
	b.createMu.Lock()
	defer b.createMu.Unlock()
	if t := b.topic(group.OffsetsTopic); t != nil {
		return t.numPartitions(), nil
	}
	// offsets.topic.replication.factor, capped at the live brokers so a
	// small cluster can still create it (Kafka refuses until enough brokers
	// are up).
	rf := min(int(b.cfg.Broker.Int("offsets.topic.replication.factor")), len(b.metaState().LiveBrokers()))
	s := &topicSpec{
		name:              group.OffsetsTopic,
		partitions:        int32(b.cfg.Broker.Int("offsets.topic.num.partitions")),
		replicationFactor: int16(max(rf, 1)),
		configs:           map[string]string{"cleanup.policy": "compact"},
	}
	if err := b.checkTopic(s); err != nil {
		return 0, err
	}
	t, err := b.createTopic(s)
	if err != nil {
		// Another broker may have created it meanwhile.
		if t := b.topic(group.OffsetsTopic); t != nil {
			return t.numPartitions(), nil
		}
		return 0, err
	}
	return t.numPartitions(), nil
}

// part is this broker's replica of offsets partition p; a missing one
// answers NOT_COORDINATOR (the coordinator moved away).
func (l offsetsLog) part(p int32) (*partition.Partition, error) {
	t := l.b.topic(group.OffsetsTopic)
	if t == nil {
		return nil, fmt.Errorf("%w: offsets topic does not exist", kerr.NotCoordinator)
	}
	part := t.partition(p)
	if part == nil {
		return nil, fmt.Errorf("%w: no local replica of %s-%d", kerr.NotCoordinator, group.OffsetsTopic, p)
	}
	return part, nil
}

func (l offsetsLog) Append(p int32, batch []byte) (int64, int32, error) {
	part, err := l.part(p)
	if err != nil {
		return 0, 0, err
	}
	rb, err := record.Validate(batch)
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
	part, err := l.part(p)
	if err != nil {
		return 0, 0, err
	}
	rb, err := record.Validate(batch)
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

// Sync makes the batch durable here, then waits, as acks=all
// (offsets.commit.required.acks=-1 in Kafka), until every in-sync replica
// has it or offsets.commit.timeout.ms passes (COORDINATOR_NOT_AVAILABLE, as
// Kafka 4's coordinator answers a timed-out write).
func (l offsetsLog) Sync(p int32, end int64, epoch int32) error {
	part, err := l.part(p)
	if err != nil {
		return err
	}
	return l.b.waitDurable(part, end, epoch, time.Duration(l.b.cfg.Broker.Int("offsets.commit.timeout.ms"))*time.Millisecond)
}

// waitDurable waits until offsets below end are fsynced here (else
// NOT_COORDINATOR) and in every in-sync replica while part is led under
// epoch, for at most timeout (else COORDINATOR_NOT_AVAILABLE): the
// coordinators' writes (offsets, transaction state, markers) are acks=all.
func (b *Broker) waitDurable(part *partition.Partition, end int64, epoch int32, timeout time.Duration) error {
	if err := part.Sync(end); err != nil {
		b.log.Error("fsync failed", "topic", part.Topic, "partition", part.Index, "err", err)
		return fmt.Errorf("%w: %v", kerr.NotCoordinator, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	ok, err := part.WaitCommitted(end, epoch, t.C)
	switch {
	case err != nil:
		return coordinatorErr(err)
	case !ok:
		return fmt.Errorf("%w: not replicated to the in-sync replicas within %v", kerr.CoordinatorNotAvailable, timeout)
	}
	return nil
}

func (l offsetsLog) Read(p int32, fn func([]byte) error) error {
	part, err := l.part(p)
	if err != nil {
		return err
	}
	return readBatches(part, fn)
}

// readBatches calls fn with every batch of part's log, from its start to
// its end: how a coordinator loads a partition it now leads (as Kafka does,
// up to the log end: as leader, its log is the one the followers converge
// to).
func readBatches(part *partition.Partition, fn func([]byte) error) error {
	snap := part.Snapshot()
	off, end := snap.LogStartOffset, snap.LogEndOffset
	for off < end {
		_, rr, err := part.Read(off, partition.ReadReplica, 1<<20, true)
		if err != nil {
			return err
		}
		if len(rr.Data) == 0 || rr.Next <= off {
			return nil
		}
		data := rr.Data
		for len(data) >= record.HeaderSize {
			n, err := record.Peek(data)
			if err != nil || n > len(data) {
				break
			}
			if err := fn(data[:n]); err != nil {
				return err
			}
			data = data[n:]
		}
		off = rr.Next
	}
	return nil
}
