package controller

import "slices"

// ISRChange is a partition leader's request to change the ISR
// (AlterPartition). It names the leader and epochs it saw, so a request
// from a deposed leader or about an older record is refused.
type ISRChange struct {
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// AlterISR applies an ISR change to p: the requester must still lead at
// both epochs (ErrStaleEpoch), the new ISR must contain the leader
// (ErrInvalidISR), and every member must be a replica and, if it is being
// added, live and not offline (ErrIneligible). The partition epoch increases, and a
// reassignment in progress completes if the change brings its last target
// replica in sync.
func AlterISR(tp TopicPartition, p Partition, c ISRChange, b Brokers) (Partition, error) {
	if p.Leader != c.Leader || p.LeaderEpoch != c.LeaderEpoch || p.PartitionEpoch != c.PartitionEpoch {
		return p, refuse(ErrStaleEpoch, "partition %s is at leader %d epoch %d/%d, request was for %d epoch %d/%d",
			tp, p.Leader, p.LeaderEpoch, p.PartitionEpoch, c.Leader, c.LeaderEpoch, c.PartitionEpoch)
	}
	if !slices.Contains(c.ISR, c.Leader) {
		return p, refuse(ErrInvalidISR, "the ISR must contain the leader")
	}
	for _, r := range c.ISR {
		if !slices.Contains(p.Replicas, r) {
			return p, refuse(ErrIneligible, "broker %d is not a replica of %s", r, tp)
		}
		if !slices.Contains(p.ISR, r) && !b.Live(r) {
			return p, refuse(ErrIneligible, "broker %d is fenced", r)
		}
		if !slices.Contains(p.ISR, r) && slices.Contains(p.Offline, r) {
			return p, refuse(ErrIneligible, "broker %d's replica of %s is offline", r, tp)
		}
	}
	np := p.Clone()
	np.ISR = slices.Clone(c.ISR)
	np.PartitionEpoch++
	CompleteReassignment(&np, b)
	return np, nil
}
