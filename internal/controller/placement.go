package controller

import "slices"

// PlacementBroker is a live broker new replicas may go to.
type PlacementBroker struct {
	ID   int32
	Rack string
}

// Place lays out n new partitions (numbered from first) with rf replicas
// each over the live brokers (sorted by id): consecutive brokers from a
// rotating start, so leaders (the first replica) and replicas spread
// evenly; with racks set, replicas of a partition prefer distinct racks.
// start is the rotation's origin (the caller draws it at random, so topics
// do not all begin on the same broker). A partition gets fewer than rf
// replicas when there are fewer brokers. Each partition starts with all
// replicas in sync and the first leading.
func Place(live []PlacementBroker, n int32, rf int, first int32, start int) ([]Partition, error) {
	if len(live) == 0 {
		return nil, ErrNoBrokers
	}
	if rf <= 0 {
		return nil, refuse(ErrInvalidReplicationFactor, "replication factor must be larger than 0")
	}
	ids := make([]int32, len(live))
	racks := map[int32]string{}
	for i, br := range live {
		ids[i] = br.ID
		racks[br.ID] = br.Rack
	}
	var out []Partition
	for i := int32(0); i < n; i++ {
		var replicas []int32
		used := map[string]bool{}
		for j := 0; len(replicas) < rf && j < 2*len(ids); j++ {
			id := ids[(start+int(first+i)+j)%len(ids)]
			if slices.Contains(replicas, id) {
				continue
			}
			if r := racks[id]; r != "" && used[r] && j < len(ids) {
				continue // try a broker on another rack first
			}
			used[racks[id]] = true
			replicas = append(replicas, id)
		}
		out = append(out, NewPartition(replicas))
	}
	return out, nil
}
