package broker

// Offline replicas (a storage fault) are the replica manager's
// (internal/replica/offline.go); this file has the answer a request gets
// for a partition whose data no replica can serve.

import (
	"slices"

	"github.com/tributary/tributary/internal/partition"
)

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
