package controller

import "slices"

// Reassign starts a reassignment of p to target (KIP-455), replacing one in
// progress. As Kafka's controller does, it starts from the current
// replicas, adding ones included: the replicas not yet assigned are added
// (Replicas becomes target + removing), and once every target replica is
// in the ISR the partition switches to the target (see
// CompleteReassignment), which may be at once. keepReplicationFactor
// refuses a target whose size differs from the replica count before the
// reassignment. It reports whether p changed (a repeated request does
// not).
func Reassign(tp TopicPartition, p Partition, target []int32, keepReplicationFactor bool, b Brokers) (Partition, bool, error) {
	if len(target) == 0 {
		return p, false, refuse(ErrInvalidReplicaAssignment, "the target replica list of %s is empty", tp)
	}
	for i, id := range target {
		if slices.Contains(target[:i], id) {
			return p, false, refuse(ErrInvalidReplicaAssignment, "duplicate replica %d in the target of %s", id, tp)
		}
		if !b.Registered(id) {
			return p, false, refuse(ErrInvalidReplicaAssignment, "broker %d in the target of %s is not registered", id, tp)
		}
	}
	if orig := p.OriginalReplicas(); keepReplicationFactor && len(target) != len(orig) {
		return p, false, refuse(ErrInvalidReplicationFactor, "the target of %s changes its replication factor from %d to %d", tp, len(orig), len(target))
	}
	cur := p.Replicas
	adding := without(target, cur)
	removing := without(cur, target)
	replicas := append(slices.Clone(target), removing...)
	if slices.Equal(replicas, p.Replicas) && slices.Equal(adding, p.AddingReplicas) && slices.Equal(removing, p.RemovingReplicas) {
		return p, false, nil
	}
	np := p.Clone()
	np.Replicas, np.AddingReplicas, np.RemovingReplicas = replicas, nilIfEmpty(adding), nilIfEmpty(removing)
	np.PartitionEpoch++
	CompleteReassignment(&np, b)
	return np, true, nil
}

// CancelReassignment reverts the reassignment in progress
// (ErrNoReassignment if none is): the original replicas come back, in the
// reassignment's order as Kafka keeps them, with the ISR members among
// them; if the leader is not one of them, the first live ISR member leads
// under a new leader epoch. It is refused (ErrInvalidReplicaAssignment) if
// no original replica is in the ISR.
func CancelReassignment(tp TopicPartition, p Partition, b Brokers) (Partition, error) {
	if !p.Reassigning() {
		return p, refuse(ErrNoReassignment, "no reassignment of %s is in progress", tp)
	}
	orig := p.OriginalReplicas()
	isr := slices.DeleteFunc(slices.Clone(p.ISR), func(id int32) bool { return !slices.Contains(orig, id) })
	if len(isr) == 0 {
		return p, refuse(ErrInvalidReplicaAssignment, "cannot cancel the reassignment of %s: none of its original replicas %v is in the ISR", tp, orig)
	}
	np := p.Clone()
	np.Replicas, np.ISR, np.AddingReplicas, np.RemovingReplicas = orig, isr, nil, nil
	if !slices.Contains(orig, np.Leader) {
		np.Leader = ElectFrom(without(isr, np.Offline), orig, b)
		np.LeaderEpoch++
	}
	np.PartitionEpoch++
	return np, nil
}

// CompleteReassignment switches p (a copy being built) to its target
// replicas once every target replica is in the ISR and a target replica
// can lead: removed replicas leave Replicas and the ISR, and the leader
// moves, under a new leader epoch, if it is being removed. It reports
// whether it switched.
func CompleteReassignment(p *Partition, b Brokers) bool {
	if !p.Reassigning() {
		return false
	}
	target := p.TargetReplicas()
	for _, r := range target {
		if !slices.Contains(p.ISR, r) {
			return false
		}
	}
	leader := p.Leader
	if !slices.Contains(target, leader) {
		if leader = ElectFrom(without(target, p.Offline), target, b); leader < 0 {
			return false
		}
	}
	p.Replicas = target
	p.ISR = slices.DeleteFunc(p.ISR, func(id int32) bool { return !slices.Contains(target, id) })
	p.AddingReplicas, p.RemovingReplicas = nil, nil
	if leader != p.Leader {
		p.Leader = leader
		p.LeaderEpoch++
	}
	p.PartitionEpoch++
	return true
}
