package controller

import (
	"fmt"
	"slices"
	"sort"
)

// Assignment is one partition's replica list; the first replica is the
// preferred leader.
type Assignment struct {
	Topic     string
	Partition int32
	Replicas  []int32
}

// Move is a planned reassignment.
type Move struct {
	Topic     string
	Partition int32
	From, To  []int32
}

// PlanOptions steer PlanReassignment.
type PlanOptions struct {
	// Brokers are the brokers replicas may be placed on (the live ones).
	Brokers []int32
	// Racks maps brokers to racks; replicas of a partition prefer
	// distinct racks when a replacement is chosen.
	Racks map[int32]string
	// Balance evens out replica counts and preferred leaders across
	// Brokers; without it only replicas on brokers outside Brokers move.
	Balance bool
}

// PlanReassignment computes new replica lists: every replica on a broker
// outside o.Brokers moves to the least loaded eligible broker (keeping its
// position, so the replication factor and, where possible, the preferred
// leader spread stay), then, with o.Balance, replicas move from the most to
// the least loaded brokers until counts differ by at most one, and
// preferred leaders (first replicas) are reordered the same way. It returns
// only the partitions whose list changes, in topic/partition order. It is
// deterministic and moves as little as it can.
func PlanReassignment(current []Assignment, o PlanOptions) ([]Move, error) {
	if len(o.Brokers) == 0 {
		return nil, ErrNoBrokers
	}
	brokers := slices.Sorted(slices.Values(o.Brokers))
	eligible := map[int32]bool{}
	for _, b := range brokers {
		eligible[b] = true
	}
	plan := make([]Assignment, len(current))
	for i, a := range current {
		plan[i] = Assignment{a.Topic, a.Partition, slices.Clone(a.Replicas)}
	}
	sort.Slice(plan, func(i, j int) bool {
		return plan[i].Topic < plan[j].Topic || plan[i].Topic == plan[j].Topic && plan[i].Partition < plan[j].Partition
	})
	count := map[int32]int{}
	for _, b := range brokers {
		count[b] = 0
	}
	for _, a := range plan {
		for _, r := range a.Replicas {
			if eligible[r] {
				count[r]++
			}
		}
	}
	rackUsed := func(replicas []int32, skip int32, rack string) bool {
		for _, r := range replicas {
			if r != skip && rack != "" && o.Racks[r] == rack {
				return true
			}
		}
		return false
	}
	// 1. Replicas on brokers that may not hold any move away.
	for i := range plan {
		a := &plan[i]
		for j, r := range a.Replicas {
			if eligible[r] {
				continue
			}
			best := int32(-1)
			for _, b := range brokers {
				if slices.Contains(a.Replicas, b) {
					continue
				}
				if best < 0 || better(b, best, count, func(x int32) bool { return rackUsed(a.Replicas, r, o.Racks[x]) }) {
					best = b
				}
			}
			if best < 0 {
				return nil, fmt.Errorf("%s-%d: replication factor %d is larger than the %d brokers replicas may be placed on", a.Topic, a.Partition, len(a.Replicas), len(brokers))
			}
			a.Replicas[j] = best
			count[best]++
		}
	}
	if o.Balance {
		// 2. Even out replica counts: each move lowers the spread.
		for moved := true; moved; {
			moved = false
			hi := byLoad(brokers, count, true)
			lo := byLoad(brokers, count, false)
		search:
			for _, h := range hi {
				for _, l := range lo {
					if count[h]-count[l] <= 1 {
						continue
					}
					for i := range plan {
						a := &plan[i]
						j := slices.Index(a.Replicas, h)
						if j < 0 || slices.Contains(a.Replicas, l) || rackUsed(a.Replicas, h, o.Racks[l]) && !rackUsed(a.Replicas, h, o.Racks[h]) {
							continue
						}
						a.Replicas[j] = l
						count[h]--
						count[l]++
						moved = true
						break search
					}
				}
			}
		}
		// 3. Even out preferred leaders by reordering replicas.
		leaders := map[int32]int{}
		for _, b := range brokers {
			leaders[b] = 0
		}
		for _, a := range plan {
			leaders[a.Replicas[0]]++
		}
		for moved := true; moved; {
			moved = false
			hi := byLoad(brokers, leaders, true)
			lo := byLoad(brokers, leaders, false)
		lsearch:
			for _, h := range hi {
				for _, l := range lo {
					if leaders[h]-leaders[l] <= 1 {
						continue
					}
					for i := range plan {
						a := &plan[i]
						j := slices.Index(a.Replicas, l)
						if a.Replicas[0] != h || j < 0 {
							continue
						}
						a.Replicas[0], a.Replicas[j] = l, h
						leaders[h]--
						leaders[l]++
						moved = true
						break lsearch
					}
				}
			}
		}
	}
	byKey := map[string][]int32{}
	for _, a := range current {
		byKey[fmt.Sprintf("%s\x00%d", a.Topic, a.Partition)] = a.Replicas
	}
	var moves []Move
	for _, a := range plan {
		from := byKey[fmt.Sprintf("%s\x00%d", a.Topic, a.Partition)]
		if !slices.Equal(from, a.Replicas) {
			moves = append(moves, Move{Topic: a.Topic, Partition: a.Partition, From: slices.Clone(from), To: a.Replicas})
		}
	}
	return moves, nil
}

// better reports whether broker a is a better new home than b: a rack not
// yet used by the partition first, then fewer replicas, then the lower id.
func better(a, b int32, count map[int32]int, rackUsed func(int32) bool) bool {
	if ra, rb := rackUsed(a), rackUsed(b); ra != rb {
		return !ra
	}
	if count[a] != count[b] {
		return count[a] < count[b]
	}
	return a < b
}

// byLoad returns brokers ordered by load, descending or ascending, ties by
// id.
func byLoad(brokers []int32, load map[int32]int, desc bool) []int32 {
	out := slices.Clone(brokers)
	sort.SliceStable(out, func(i, j int) bool {
		if load[out[i]] != load[out[j]] {
			return (load[out[i]] > load[out[j]]) == desc
		}
		return out[i] < out[j]
	})
	return out
}
