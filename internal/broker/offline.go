package broker

// Offline replicas: storage faults surface the way Kafka's offline log dirs
// do. A local log that meets corrupt data or an I/O error goes offline
// (internal/storage); this broker reports it to the controller
// (metadata.ReplicaOffline, the role Kafka's broker heartbeat with offline
// log dirs plays), which takes the replica out of the ISR and moves its
// leadership to an eligible ISR member, or leaves the partition leaderless
// (unavailable) when none has the data. While some other replica leads, an
// offline replica repairs itself: it cuts its log before the damage
// (storage.Log.Repair), reports itself online, and re-fetches the rest as a
// follower; it rejoins the ISR the usual way, once caught up. A replica
// marked offline whose log reads again after a restart, with no other
// replica able to lead, is reported online as it is (Kafka brings a log dir
// back on restart).
//
// Concurrency: faults.mu guards faults.busy (one background report or
// repair in flight per partition) and faults.locks, which serialize the
// reports of one partition (fetches that meet the damage at once report it
// once). localReplica.offline is read and written under reconcileMu only.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/safe"
)

// faults is the broker's offline-replica bookkeeping.
type faults struct {
	mu    sync.Mutex
	busy  map[tpKey]bool
	locks map[tpKey]*sync.Mutex // serialize reports per partition
	wake  chan struct{}
}

// faultCheckInterval is how often local logs are checked for faults to
// report, replicas to repair and replicas to bring back.
const faultCheckInterval = 500 * time.Millisecond

// applyOffline applies the metadata's offline mark for lr under
// reconcileMu. It reports whether the replica is offline (it then neither
// leads nor follows) and whether it just came back (its role must be
// applied even if the epochs did not change).
func (b *Broker) applyOffline(lr *localReplica, ps metadata.Partition) (offline, back bool) {
	marked := slices.Contains(ps.Offline, b.cfg.NodeID)
	switch {
	case marked && !lr.offline:
		lr.offline = true
		b.repl.Unfollow(lr.p)
		b.log.Warn("replica offline", "topic", lr.p.Topic, "partition", lr.p.Index, "leader", ps.Leader,
			"leader_epoch", ps.LeaderEpoch, "isr", ps.ISR, "cause", lr.p.Offline())
		b.wakeFaults()
	case !marked && lr.offline:
		lr.offline = false
		return false, true
	}
	return marked, false
}

func (b *Broker) wakeFaults() {
	select {
	case b.faults.wake <- struct{}{}:
	default:
	}
}

// faultLoop reports, repairs and brings back local replicas; see the file
// comment.
func (b *Broker) faultLoop() {
	tick := time.NewTicker(faultCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-tick.C:
		case <-b.faults.wake:
		}
		b.checkFaults()
	}
}

func (b *Broker) checkFaults() {
	if !b.Ready() {
		return
	}
	st := b.quorum.State()
	b.mu.RLock()
	local := make(map[tpKey]*localReplica, len(b.local))
	for k, lr := range b.local {
		local[k] = lr
	}
	b.mu.RUnlock()
	self := b.cfg.NodeID
	for k, lr := range local {
		t := st.Topics[k.topic]
		if t == nil || t.ID != lr.topicID || int(k.part) >= len(t.Parts) {
			continue
		}
		ps := t.Parts[k.part]
		marked := slices.Contains(ps.Offline, self)
		fault := lr.p.Offline()
		switch {
		case fault != nil && !marked:
			b.inBackground(k, func() { b.reportReplica(k, lr.p, false) })
		case marked && ps.Leader >= 0 && ps.Leader != self:
			b.inBackground(k, func() { b.repairReplica(k, lr.p, ps.Leader) })
		case marked && fault == nil && ps.Leader < 0:
			b.inBackground(k, func() { b.reportReplica(k, lr.p, true) })
		}
	}
}

// inBackground runs fn for k unless a report or repair of k is running.
func (b *Broker) inBackground(k tpKey, fn func()) {
	b.faults.mu.Lock()
	if b.faults.busy[k] {
		b.faults.mu.Unlock()
		return
	}
	b.faults.busy[k] = true
	b.faults.mu.Unlock()
	safe.Go(b.log, "replica-fault", func() {
		defer func() {
			b.faults.mu.Lock()
			delete(b.faults.busy, k)
			b.faults.mu.Unlock()
		}()
		select {
		case <-b.stop: // closing: the logs are going away
		default:
			fn()
		}
	})
}

// reportReplica tells the controller that the local replica of k is
// offline (or, with online, back) and waits until this node has applied
// the change. It returns the partition as the applied state has it.
func (b *Broker) reportReplica(k tpKey, p *partition.Partition, online bool) (metadata.Partition, error) {
	b.faults.mu.Lock()
	lock := b.faults.locks[k]
	if lock == nil {
		lock = &sync.Mutex{}
		b.faults.locks[k] = lock
	}
	b.faults.mu.Unlock()
	lock.Lock()
	defer lock.Unlock()
	if ps, ok := b.appliedPartition(k); ok && slices.Contains(ps.Offline, b.cfg.NodeID) != online {
		return ps, nil // already recorded
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := b.quorum.Propose(ctx, &metadata.Command{ReplicaOffline: &metadata.ReplicaOffline{
		Broker: b.cfg.NodeID, Topic: k.topic, Partition: k.part, Online: online}})
	if err == nil {
		err = res.Error()
	}
	if err == nil {
		err = b.quorum.WaitApplied(ctx, res.Index)
	}
	if err != nil {
		b.log.Warn("reporting replica state to the controller failed; will retry", "topic", k.topic, "partition", k.part, "online", online, "err", err)
		return metadata.Partition{}, err
	}
	ps, _ := b.appliedPartition(k)
	switch {
	case online:
		b.log.Info("replica back online", "topic", k.topic, "partition", k.part, "leader", ps.Leader, "log_end_offset", p.Snapshot().LogEndOffset)
	case p != nil:
		b.log.Error("replica offline after a storage error; reported to the controller", "topic", k.topic, "partition", k.part,
			"new_leader", ps.Leader, "isr", ps.ISR, "cause", p.Offline())
	}
	return ps, nil
}

// repairReplica cuts the local log of k before its damage and reports it
// online, so it re-fetches the rest from leader as a follower.
func (b *Broker) repairReplica(k tpKey, p *partition.Partition, leader int32) {
	before := p.Snapshot().LogEndOffset
	end, err := p.Repair()
	if err != nil {
		b.log.Error("repairing offline replica failed; will retry", "topic", k.topic, "partition", k.part, "err", err)
		b.sleep(5 * time.Second)
		return
	}
	b.log.Warn("repaired offline replica; re-fetching from the leader", "topic", k.topic, "partition", k.part,
		"leader", leader, "log_end_offset_before", before, "log_end_offset", end)
	b.reportReplica(k, p, true)
}

func (b *Broker) sleep(d time.Duration) {
	select {
	case <-b.stop:
	case <-time.After(d):
	}
}

// storageFault handles a read or write of p that failed because its log is
// offline: it reports the replica offline at once and answers with what
// the client should do next: find the new leader (ErrNotLeader), or give
// up (partition.ErrOffline) when no replica can lead.
func (b *Broker) storageFault(p *partition.Partition, cause error) error {
	k := tpKey{p.Topic, p.Index}
	ps, err := b.reportReplica(k, p, false)
	if err != nil {
		return cause
	}
	if ps.Leader >= 0 && ps.Leader != b.cfg.NodeID {
		return partition.ErrNotLeader
	}
	// Only ErrOffline's code: the cause's (KAFKA_STORAGE_ERROR) would be
	// retried.
	return fmt.Errorf("%w: %v", partition.ErrOffline, cause)
}

// offlineCode is the answer for a request to a partition without a leader
// whose data no replica can serve: the replica here is offline (a storage
// fault the controller may not have recorded yet), or every ISR member's
// log is. 0 otherwise (a partition whose ISR members are merely down may
// come back: NOT_LEADER_OR_FOLLOWER, which clients retry).
func offlineCode(t *topic, i int32, p *partition.Partition) int16 {
	if int(i) >= len(t.meta.Parts) {
		return 0
	}
	ps := t.meta.Parts[i]
	switch {
	case ps.Leader >= 0:
		return 0
	case p != nil && p.Offline() != nil,
		len(ps.ISR) > 0 && len(without(ps.ISR, ps.Offline)) == 0:
		return errCode(partition.ErrOffline)
	}
	return 0
}

func without(s, drop []int32) []int32 {
	var out []int32
	for _, x := range s {
		if !slices.Contains(drop, x) {
			out = append(out, x)
		}
	}
	return out
}

// openFailed reports a replica whose log could not be opened (an
// unreadable segment, an I/O error) as offline, so its leadership moves
// and the partition does not stay led by a broker that cannot serve it.
// The reconcile retries the open; once it succeeds the replica is
// repaired or brought back like any offline one.
func (b *Broker) openFailed(k tpKey, cause error) {
	if ps, ok := b.appliedPartition(k); !ok || slices.Contains(ps.Offline, b.cfg.NodeID) {
		return // already recorded
	}
	b.inBackground(k, func() {
		if ps, err := b.reportReplica(k, nil, false); err == nil {
			b.log.Error("replica offline: its log cannot be opened; reported to the controller", "topic", k.topic, "partition", k.part,
				"new_leader", ps.Leader, "isr", ps.ISR, "err", cause)
		}
	})
}

// appliedPartition is k's record in the state this node has applied.
func (b *Broker) appliedPartition(k tpKey) (metadata.Partition, bool) {
	if t := b.quorum.State().Topics[k.topic]; t != nil && int(k.part) < len(t.Parts) {
		return t.Parts[k.part], true
	}
	return metadata.Partition{}, false
}
