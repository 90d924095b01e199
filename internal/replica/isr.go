package replica

import (
	"context"
	"slices"
	"time"

	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/safe"
)

// FollowerFetched records a follower's fetch at fetchOffset on the leader
// replica p (partition.FollowerFetched) and, when the follower has caught
// up and is not in the ISR, proposes adding it (Kafka's ISR expansion).
func (m *Manager) FollowerFetched(p *partition.Partition, replica int32, fetchOffset int64, now time.Time) error {
	join, err := p.FollowerFetched(replica, fetchOffset, now)
	if err != nil || !join {
		return err
	}
	// Not EndISRExpansion when the role read here already has it: that
	// would also end the marks of another follower whose addition is in
	// flight, which must keep counting for the high watermark.
	if r := p.Role(); !slices.Contains(r.ISR, replica) {
		m.proposeISR(p, r, append(slices.Clone(r.ISR), replica))
	}
	return nil
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
// committed. Whatever the outcome, the expansion p marked ends then
// (partition.EndISRExpansion).
func (m *Manager) proposeISR(p *partition.Partition, r partition.Role, isr []int32) {
	k := Key{p.Topic, p.Index}
	m.isrMu.Lock()
	if m.isrInFlight[k] {
		m.isrMu.Unlock()
		// The change in flight ends every pending expansion when it
		// completes; this follower is marked again at its next fetch.
		return
	}
	m.isrInFlight[k] = true
	m.isrMu.Unlock()
	safe.Go(m.log, "alter-isr", func() {
		defer func() {
			m.isrMu.Lock()
			delete(m.isrInFlight, k)
			m.isrMu.Unlock()
			p.EndISRExpansion()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := m.cfg.Quorum.Propose(ctx, &metadata.Command{AlterPartition: &metadata.AlterPartition{
			Topic: p.Topic, Partition: p.Index, Leader: m.cfg.Self, LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartitionEpoch, ISR: isr}})
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			m.log.Debug("ISR change refused", "topic", p.Topic, "partition", p.Index, "err", err)
			return
		}
		m.log.Info("ISR changed", "topic", p.Topic, "partition", p.Index, "from", r.ISR, "to", isr, "partition_epoch", res.Value)
		m.cfg.Quorum.WaitApplied(ctx, res.Index)
	})
}
