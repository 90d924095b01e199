package replica

// Offline replicas: storage faults surface the way Kafka's offline log dirs
// do. A local log that meets corrupt data or an I/O error goes offline
// (internal/storage); this broker reports it to the controller
// (metadata.ReplicaOffline, the role Kafka's broker heartbeat with offline
// log dirs plays), which takes the replica out of the ISR and moves its
// leadership to an eligible ISR member, or leaves the partition leaderless
// (unavailable) when none has the data. While some other replica leads, an
// offline replica repairs itself: it cuts its log before the damage
// (partition.Repair), reports itself online, and re-fetches the rest as a
// follower; it rejoins the ISR the usual way, once caught up. A replica
// marked offline whose log reads again after a restart, with no other
// replica able to lead, is reported online as it is (Kafka brings a log dir
// back on restart).
//
// Concurrency: faults.mu guards faults.busy (one background report or
// repair in flight per partition) and faults.locks, which serialize the
// reports of one partition (fetches that meet the damage at once report it
// once). local.offline is read and written under reconcileMu only;
// faults.marked, its count, is stored under reconcileMu and read by the
// fault loop without a lock.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/safe"
)

// faults is the offline-replica bookkeeping.
type faults struct {
	mu    sync.Mutex
	busy  map[Key]bool
	locks map[Key]*sync.Mutex // serialize reports per partition
	wake  chan struct{}
	// marked counts the local replicas the metadata marks offline
	// (local.offline), stored by Reconcile under reconcileMu, read by
	// the fault loop without a lock.
	marked atomic.Int64
}

// faultCheckInterval is how often local logs are checked for faults to
// report, replicas to repair and replicas to bring back.
const faultCheckInterval = 500 * time.Millisecond

// applyOffline applies the metadata's offline mark for l under
// reconcileMu. It reports whether the replica is offline (it then neither
// leads nor follows) and whether it just came back (its role must be
// applied even if the epochs did not change).
func (m *Manager) applyOffline(l *local, ps metadata.Partition) (offline, back bool) {
	marked := slices.Contains(ps.Offline, m.cfg.Self)
	switch {
	case marked && !l.offline:
		l.offline = true
		m.repl.Unfollow(l.p)
		m.log.Warn("replica offline", "topic", l.p.Topic, "partition", l.p.Index, "leader", ps.Leader,
			"leader_epoch", ps.LeaderEpoch, "isr", ps.ISR, "cause", l.p.Offline())
		m.WakeFaults()
	case !marked && l.offline:
		l.offline = false
		return false, true
	}
	return marked, false
}

// WakeFaults asks the fault loop to check the replicas now (an append met
// an offline log).
func (m *Manager) WakeFaults() {
	select {
	case m.faults.wake <- struct{}{}:
	default:
	}
}

// checkFaults reports, repairs and brings back local replicas (the fault
// loop, every faultCheckInterval and at WakeFaults); see the file comment.
func (m *Manager) checkFaults() {
	if !m.isReady() {
		return
	}
	// Only a log that is offline (the store counts them) or a replica
	// the metadata marks offline (Reconcile counts them) has work: when
	// there are none, an idle broker with 10,000 partitions does not walk
	// them twice a second (most of its idle CPU before).
	if s := m.cfg.Store; s != nil && s.OfflineLogs() == 0 && m.faults.marked.Load() == 0 {
		return
	}
	st := m.cfg.Quorum.State()
	self := m.cfg.Self
	// Only replicas with a fault or an offline mark have work: pick them
	// without allocating or locking per replica, so an idle broker with
	// many partitions spends next to nothing here.
	type cand struct {
		r      Replica
		ps     metadata.Partition
		marked bool
		fault  error
	}
	var cands []cand
	m.mu.RLock()
	for k, l := range m.local {
		t := st.Topics[k.Topic]
		if t == nil || t.ID != l.topicID || int(k.Partition) >= len(t.Parts) {
			continue
		}
		ps := t.Parts[k.Partition]
		marked := len(ps.Offline) > 0 && slices.Contains(ps.Offline, self)
		fault := l.p.Offline()
		if marked || fault != nil {
			cands = append(cands, cand{Replica{Key: k, TopicID: l.topicID, P: l.p}, ps, marked, fault})
		}
	}
	m.mu.RUnlock()
	for _, c := range cands {
		k, p, ps, marked, fault := c.r.Key, c.r.P, c.ps, c.marked, c.fault
		switch {
		case fault != nil && !marked:
			m.inBackground(k, func() { m.reportReplica(k, p, false) })
		case marked && ps.Leader >= 0 && ps.Leader != self:
			m.inBackground(k, func() { m.repairReplica(k, p, ps.Leader) })
		case marked && fault == nil && ps.Leader < 0:
			m.inBackground(k, func() { m.reportReplica(k, p, true) })
		}
	}
}

// inBackground runs fn for k unless a report or repair of k is running.
func (m *Manager) inBackground(k Key, fn func()) {
	m.faults.mu.Lock()
	if m.faults.busy[k] {
		m.faults.mu.Unlock()
		return
	}
	m.faults.busy[k] = true
	m.faults.mu.Unlock()
	safe.Go(m.log, "replica-fault", func() {
		defer func() {
			m.faults.mu.Lock()
			delete(m.faults.busy, k)
			m.faults.mu.Unlock()
		}()
		select {
		case <-m.stop: // closing: the logs are going away
		default:
			fn()
		}
	})
}

// reportReplica tells the controller that the local replica of k is
// offline (or, with online, back) and waits until this node has applied
// the change. It returns the partition as the applied state has it.
func (m *Manager) reportReplica(k Key, p *partition.Partition, online bool) (metadata.Partition, error) {
	m.faults.mu.Lock()
	lock := m.faults.locks[k]
	if lock == nil {
		lock = &sync.Mutex{}
		m.faults.locks[k] = lock
	}
	m.faults.mu.Unlock()
	lock.Lock()
	defer lock.Unlock()
	if ps, ok := m.appliedPartition(k); ok && slices.Contains(ps.Offline, m.cfg.Self) != online {
		return ps, nil // already recorded
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := m.cfg.Quorum.Propose(ctx, &metadata.Command{ReplicaOffline: &metadata.ReplicaOffline{
		Broker: m.cfg.Self, Topic: k.Topic, Partition: k.Partition, Online: online}})
	if err == nil {
		err = res.Error()
	}
	if err == nil {
		err = m.cfg.Quorum.WaitApplied(ctx, res.Index)
	}
	if err != nil {
		m.log.Warn("reporting replica state to the controller failed; will retry", "topic", k.Topic, "partition", k.Partition, "online", online, "err", err)
		return metadata.Partition{}, err
	}
	ps, _ := m.appliedPartition(k)
	switch {
	case online:
		m.log.Info("replica back online", "topic", k.Topic, "partition", k.Partition, "leader", ps.Leader, "log_end_offset", p.Snapshot().LogEndOffset)
	case p != nil:
		m.log.Error("replica offline after a storage error; reported to the controller", "topic", k.Topic, "partition", k.Partition,
			"new_leader", ps.Leader, "isr", ps.ISR, "cause", p.Offline())
	}
	return ps, nil
}

// repairReplica cuts the local log of k before its damage and reports it
// online, so it re-fetches the rest from leader as a follower.
func (m *Manager) repairReplica(k Key, p *partition.Partition, leader int32) {
	before := p.Snapshot().LogEndOffset
	end, err := p.Repair()
	if err != nil {
		m.log.Error("repairing offline replica failed; will retry", "topic", k.Topic, "partition", k.Partition, "err", err)
		m.sleep(5 * time.Second)
		return
	}
	m.log.Warn("repaired offline replica; re-fetching from the leader", "topic", k.Topic, "partition", k.Partition,
		"leader", leader, "log_end_offset_before", before, "log_end_offset", end)
	m.reportReplica(k, p, true)
}

// StorageFault handles a read or write of p that failed because its log
// is offline: it reports the replica offline at once and returns what the
// client should do next: find the new leader (partition.ErrNotLeader), or
// give up (partition.ErrOffline) when no replica can lead. It returns
// cause when the report failed.
func (m *Manager) StorageFault(p *partition.Partition, cause error) error {
	k := Key{p.Topic, p.Index}
	ps, err := m.reportReplica(k, p, false)
	if err != nil {
		return cause
	}
	if ps.Leader >= 0 && ps.Leader != m.cfg.Self {
		return partition.ErrNotLeader
	}
	// Only ErrOffline's code: the cause's (KAFKA_STORAGE_ERROR) would be
	// retried.
	return fmt.Errorf("%w: %v", partition.ErrOffline, cause)
}

// openFailed reports a replica whose log could not be opened (an
// unreadable segment, an I/O error) as offline, so its leadership moves
// and the partition does not stay led by a broker that cannot serve it.
// The reconcile retries the open; once it succeeds the replica is
// repaired or brought back like any offline one.
func (m *Manager) openFailed(k Key, cause error) {
	if ps, ok := m.appliedPartition(k); !ok || slices.Contains(ps.Offline, m.cfg.Self) {
		return // already recorded
	}
	m.inBackground(k, func() {
		if ps, err := m.reportReplica(k, nil, false); err == nil {
			m.log.Error("replica offline: its log cannot be opened; reported to the controller", "topic", k.Topic, "partition", k.Partition,
				"new_leader", ps.Leader, "isr", ps.ISR, "err", cause)
		}
	})
}

// appliedPartition is k's record in the state this node has applied.
func (m *Manager) appliedPartition(k Key) (metadata.Partition, bool) {
	if t := m.cfg.Quorum.State().Topics[k.Topic]; t != nil && int(k.Partition) < len(t.Parts) {
		return t.Parts[k.Partition], true
	}
	return metadata.Partition{}, false
}
