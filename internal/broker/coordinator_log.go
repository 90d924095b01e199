package broker

// coordinatorLog: the internal topics the coordinators keep their state
// in (__consumer_offsets, __transaction_state, __share_group_state), as
// their Log interfaces see them (group.Log, txn.Log, share.StateLog).
// Each is created on first use, compacted, written only by the leader of
// a partition and acknowledged like acks=all (fsync here and the
// in-sync replicas, waitDurable); a coordinator replays a partition it
// comes to lead with Read. __consumer_offsets is offsetsLog
// (group_hooks.go), which embeds a coordinatorLog and appends
// TxnOffsetCommits itself. The leadership the coordinators serve comes
// from ledPartitions, after every reconcile.

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/record"
	"github.com/tributary/tributary/internal/share"
	"github.com/tributary/tributary/internal/txn"
)

type coordinatorLog struct {
	b     *Broker
	topic string
	// The broker configs giving the topic's partition count, replication
	// factor (capped at the live brokers, so a small cluster can still
	// create it; Kafka refuses until enough brokers are up) and
	// min.insync.replicas ("": the topic default, and appends do not
	// check it).
	partitionsConfig, replicationConfig, minISRConfig string
	// writeTimeout bounds the wait for the in-sync replicas.
	writeTimeout func() time.Duration
}

// txnStateLog is __transaction_state.
func (b *Broker) txnStateLog() coordinatorLog {
	return coordinatorLog{b: b, topic: txn.StateTopic,
		partitionsConfig: "transaction.state.log.num.partitions", replicationConfig: "transaction.state.log.replication.factor",
		minISRConfig: "transaction.state.log.min.isr", writeTimeout: func() time.Duration { return txnWriteTimeout }}
}

// shareStateLog is __share_group_state.
func (b *Broker) shareStateLog() coordinatorLog {
	return coordinatorLog{b: b, topic: share.StateTopic,
		partitionsConfig: "share.coordinator.state.topic.num.partitions", replicationConfig: "share.coordinator.state.topic.replication.factor",
		minISRConfig: "share.coordinator.state.topic.min.isr", writeTimeout: func() time.Duration { return txnWriteTimeout }}
}

func (l coordinatorLog) Partitions(create bool) (int32, error) {
	if t := l.b.topic(l.topic); t != nil {
		return t.numPartitions(), nil
	}
	if !create {
		return 0, nil
	}
	b := l.b
	b.createMu.Lock()
	defer b.createMu.Unlock()
	if t := b.topic(l.topic); t != nil {
		return t.numPartitions(), nil
	}
	rf := max(min(int(b.cfg.Broker.Int(l.replicationConfig)), len(b.metaState().LiveBrokers())), 1)
	s := &topicSpec{
		name:              l.topic,
		partitions:        int32(b.cfg.Broker.Int(l.partitionsConfig)),
		replicationFactor: int16(rf),
		configs:           map[string]string{"cleanup.policy": "compact"},
	}
	if l.minISRConfig != "" {
		s.configs["min.insync.replicas"] = fmt.Sprint(min(int(b.cfg.Broker.Int(l.minISRConfig)), rf))
	}
	if err := b.checkTopic(s); err != nil {
		return 0, err
	}
	t, err := b.createTopic(s)
	if err != nil {
		// Another broker may have created it meanwhile.
		if t := b.topic(l.topic); t != nil {
			return t.numPartitions(), nil
		}
		return 0, err
	}
	return t.numPartitions(), nil
}

// part is this broker's replica of partition p; a missing one answers
// NOT_COORDINATOR (the coordinator moved away).
func (l coordinatorLog) part(p int32) (*partition.Partition, error) {
	t := l.b.topic(l.topic)
	if t == nil {
		return nil, fmt.Errorf("%w: %s does not exist", kerr.NotCoordinator, l.topic)
	}
	part := t.partition(p)
	if part == nil {
		return nil, fmt.Errorf("%w: no local replica of %s-%d", kerr.NotCoordinator, l.topic, p)
	}
	return part, nil
}

// partBatch is this broker's replica of partition p (part) and batch
// validated, for an append.
func (l coordinatorLog) partBatch(p int32, batch []byte) (*partition.Partition, record.Batch, error) {
	part, err := l.part(p)
	if err != nil {
		return nil, nil, err
	}
	rb, err := record.Validate(batch)
	return part, rb, err
}

func (l coordinatorLog) Append(p int32, batch []byte) (int64, int32, error) {
	part, rb, err := l.partBatch(p, batch)
	if err != nil {
		return 0, 0, err
	}
	opts := partition.AppendOptions{LogAppendTime: -1}
	if l.minISRConfig != "" {
		if t := l.b.topic(l.topic); t != nil {
			opts.MinISR = int(t.cfg.Int64("min.insync.replicas"))
		}
	}
	res, err := part.Append(rb, opts)
	if err != nil {
		return 0, 0, coordinatorErr(err)
	}
	return res.End, res.Epoch, nil
}

// Sync makes the batch durable here, then waits, as acks=all, until every
// in-sync replica has it or the write timeout passes
// (COORDINATOR_NOT_AVAILABLE, as Kafka 4's coordinators answer a
// timed-out write).
func (l coordinatorLog) Sync(p int32, end int64, epoch int32) error {
	part, err := l.part(p)
	if err != nil {
		return err
	}
	return l.b.waitDurable(part, end, epoch, l.writeTimeout())
}

func (l coordinatorLog) Read(p int32, fn func([]byte) error) error {
	part, err := l.part(p)
	if err != nil {
		return err
	}
	return readBatches(part, fn)
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

// ledPartitions is the partitions of an internal topic this broker leads
// now (partition -> leader epoch) and the topic's partition count, from
// the roles applied to the local replicas; n is 0 when the topic does not
// exist here. Called with reconcileMu held, by the sync*Leadership
// functions that hand it to the coordinators.
func (b *Broker) ledPartitions(topic string) (n int32, led map[int32]int32) {
	b.mu.RLock()
	t := b.topics[topic]
	b.mu.RUnlock()
	if t == nil {
		return 0, nil
	}
	led = map[int32]int32{}
	for i, p := range t.parts {
		if p == nil {
			continue
		}
		if r := p.Role(); r.Leader == b.cfg.NodeID {
			led[int32(i)] = r.LeaderEpoch
		}
	}
	return t.numPartitions(), led
}
