package controller

import "slices"

// ElectFrom returns the first live ISR member in replica order (the
// replica order is the preference order), or -1 when none is live.
func ElectFrom(isr, replicas []int32, b Brokers) int32 {
	for _, r := range replicas {
		if slices.Contains(isr, r) && b.Live(r) {
			return r
		}
	}
	return -1
}

// Elect runs a leader election on p. A preferred election makes the first
// replica the leader if it is live and in the ISR. An unclean election is
// for a partition without a live leader: it elects the first live ISR
// member, else any live replica, which becomes the only ISR member (the
// records only it has become the partition's history). Offline replicas are
// never elected. A new leader bumps
// the leader and partition epochs and may complete a reassignment in
// progress. When there is nothing to do, Elect returns p unchanged and the
// reason: ErrElectionNotNeeded, ErrPreferredNotAvailable or
// ErrEligibleNotAvailable.
func Elect(p Partition, unclean bool, b Brokers) (Partition, error) {
	np := p.Clone()
	leader := np.Leader
	if unclean {
		switch {
		case np.Leader >= 0 && b.Live(np.Leader):
			return p, ErrElectionNotNeeded
		case ElectFrom(np.eligible(), np.Replicas, b) >= 0:
			leader = ElectFrom(np.eligible(), np.Replicas, b)
		default:
			i := slices.IndexFunc(np.Replicas, func(r int32) bool { return b.Live(r) && !slices.Contains(np.Offline, r) })
			if i < 0 {
				return p, ErrEligibleNotAvailable
			}
			leader = np.Replicas[i]
			np.ISR = []int32{leader}
		}
	} else {
		switch pref := np.Replicas[0]; {
		case np.Leader == pref:
			return p, ErrElectionNotNeeded
		case !PreferredAvailable(np, b):
			return p, ErrPreferredNotAvailable
		default:
			leader = pref
		}
	}
	np.Leader = leader
	np.LeaderEpoch++
	np.PartitionEpoch++
	CompleteReassignment(&np, b)
	return np, nil
}

// PreferredAvailable reports whether p's preferred replica (the first) is
// live, in the ISR and not offline, so it may lead.
func PreferredAvailable(p Partition, b Brokers) bool {
	pref := p.Replicas[0]
	return b.Live(pref) && slices.Contains(p.eligible(), pref)
}

// PreferredImbalanced reports a partition whose leader is not its preferred
// replica although that replica could lead: the preferred leader balance
// (auto.leader.rebalance.enable) elects it.
func PreferredImbalanced(p Partition, b Brokers) bool {
	return len(p.Replicas) > 0 && p.Leader != p.Replicas[0] && PreferredAvailable(p, b)
}
