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

// CheckCapacity refuses new partitions that would make a broker host more
// than max replicas (max.broker.partitions), given the replicas each
// broker hosts now (hosted). The whole set is refused, so nothing is
// created half-way. max <= 0 is no limit.
func CheckCapacity(hosted map[int32]int, parts []Partition, max int) error {
	if max <= 0 {
		return nil
	}
	adding := map[int32]int{}
	for _, p := range parts {
		for _, r := range p.Replicas {
			adding[r]++
		}
	}
	ids := make([]int32, 0, len(adding))
	for id := range adding {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if n := hosted[id] + adding[id]; n > max {
			return refuse(ErrBrokerCapacity, "broker %d hosts %d partition replicas; %d more would exceed its capacity of %d (max.broker.partitions)",
				id, hosted[id], adding[id], max)
		}
	}
	return nil
}
