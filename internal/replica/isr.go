package replica

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/tributary/tributary/internal/controller"
	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/safe"
)

// FollowerFetched records a follower's fetch at fetchOffset on the leader
// replica p (partition.FollowerFetched) and, when the follower has caught
// up and is not in the ISR, proposes adding it (Kafka's ISR expansion):
// with every other follower marked as joining, against the role the marks
// were made under (partition.PendingExpansion). A follower the metadata
// shows fenced (or not registered) is not proposed, as KIP-841's leader
// does: the controller would refuse it, and a fenced broker's last long
// poll, re-read at every wake, proposed it hundreds of times a second.
// refetch is partition.FollowerFetched's: read this fetch checked.
func (m *Manager) FollowerFetched(p *partition.Partition, replica int32, fetchOffset int64, now time.Time) (refetch bool, err error) {
	join, refetch, err := p.FollowerFetched(replica, fetchOffset, now, m.cfg.Quorum.State().Live(replica))
	if err != nil || !join {
		return refetch, err
	}
	m.proposeExpansion(p)
	return refetch, nil
}

// proposeExpansion proposes adding the followers p has marked as joining,
// if any.
func (m *Manager) proposeExpansion(p *partition.Partition) {
	if r, ids := p.PendingExpansion(); len(ids) > 0 {
		m.proposeISR(p, r, append(slices.Clone(r.ISR), ids...))
	}
}

// shrinkISRs proposes dropping, from the ISR of each partition this
// broker leads, the followers that have not caught up within
// replica.lag.time.max.ms (the ISR loop, every MaxLag/4).
func (m *Manager) shrinkISRs() {
	now := m.cfg.Now()
	for _, r := range m.Local() {
		if lag := r.P.LaggingISR(now, m.cfg.MaxLag); len(lag) > 0 {
			role := r.P.Role()
			isr := slices.DeleteFunc(slices.Clone(role.ISR), func(id int32) bool { return slices.Contains(lag, id) })
			m.proposeISR(r.P, role, isr)
		}
	}
}

// proposeISR asks the controller to change p's ISR from r's to isr, once at
// a time per partition, in the background; the change is logged once it is
// committed.
//
// The expansion marks p holds (partition.FollowerFetched) end only when the
// outcome is known here: a commit, or a refusal for a stale epoch, reaches
// p as a newer partition epoch (SetRole ends them then); another refusal
// ends them at once (EndISRExpansion). A proposal whose outcome is unknown
// (no controller answered in time: it may still commit) is made again
// against the same role until one answers or the role moves on.
//
// A follower marked while another change was in flight waits for it
// (one change at a time); once the flag is down, the marks still pending
// are proposed, unless a newer partition epoch is on its way here (the
// change committed, or was refused as stale), whose SetRole ends them.
// A mark must never outlive every proposal and role that could settle
// it: it holds the high watermark at that follower's offset, and a
// follower that never fetches again (a broker stopped for a rolling
// upgrade) held it there for good: acks=all produce hung, and no ISR
// shrink could help, since the follower was not in the ISR.
func (m *Manager) proposeISR(p *partition.Partition, r partition.Role, isr []int32) {
	k := Key{p.Topic, p.Index}
	m.isrMu.Lock()
	if m.isrInFlight[k] {
		m.isrMu.Unlock()
		return // proposed when the change in flight is settled
	}
	m.isrInFlight[k] = true
	m.isrMu.Unlock()
	safe.Go(m.log, "alter-isr", func() {
		newerEpoch := m.alterISR(p, r, isr)
		m.isrMu.Lock()
		delete(m.isrInFlight, k)
		m.isrMu.Unlock()
		select {
		case <-m.stop:
			return // halted: no more proposals
		default:
		}
		if now := p.Role(); newerEpoch && now.LeaderEpoch == r.LeaderEpoch && now.PartitionEpoch == r.PartitionEpoch {
			return // that SetRole ends the marks
		}
		m.proposeExpansion(p)
	})
}

// alterISR proposes one ISR change and settles p's expansion marks (see
// proposeISR). It reports whether the controller is past r's partition
// epoch (the change committed, or was refused as stale).
func (m *Manager) alterISR(p *partition.Partition, r partition.Role, isr []int32) (newerEpoch bool) {
	cmd := &metadata.Command{AlterPartition: &metadata.AlterPartition{
		Topic: p.Topic, Partition: p.Index, Leader: m.cfg.Self, LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartitionEpoch, ISR: isr}}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := m.cfg.Quorum.Propose(ctx, cmd)
		if err == nil {
			if err = res.Error(); err == nil {
				m.log.Info("ISR changed", "topic", p.Topic, "partition", p.Index, "from", r.ISR, "to", isr, "partition_epoch", res.Value)
				m.cfg.Quorum.WaitApplied(ctx, res.Index)
				newerEpoch = true
			} else {
				m.log.Debug("ISR change refused", "topic", p.Topic, "partition", p.Index, "err", err)
				if newerEpoch = errors.Is(err, controller.ErrStaleEpoch); !newerEpoch {
					p.EndISRExpansion(r.PartitionEpoch)
				}
			}
			cancel()
			return newerEpoch
		}
		cancel()
		m.log.Info("ISR change not answered; proposing it again", "topic", p.Topic, "partition", p.Index, "to", isr, "err", err)
		if now := p.Role(); now.LeaderEpoch != r.LeaderEpoch || now.PartitionEpoch != r.PartitionEpoch || now.Leader != m.cfg.Self {
			return false // the role moved on: SetRole ended the marks
		}
		select {
		case <-m.stop:
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
}
