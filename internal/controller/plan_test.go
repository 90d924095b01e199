package controller

import (
	"fmt"
	"slices"
	"testing"
)

// loads applies moves to current and returns replicas and preferred
// leaders per broker, checking every list keeps its size and has no
// duplicate.
func loads(t *testing.T, current []Assignment, moves []Move) (replicas, leaders map[int32]int) {
	t.Helper()
	after := map[string][]int32{}
	for _, m := range moves {
		after[fmt.Sprint(m.Topic, m.Partition)] = m.To
	}
	replicas, leaders = map[int32]int{}, map[int32]int{}
	for _, a := range current {
		to, ok := after[fmt.Sprint(a.Topic, a.Partition)]
		if !ok {
			to = a.Replicas
		}
		if len(to) != len(a.Replicas) {
			t.Fatalf("%s-%d: replication factor changed: %v -> %v", a.Topic, a.Partition, a.Replicas, to)
		}
		s := slices.Clone(to)
		slices.Sort(s)
		if len(slices.Compact(s)) != len(to) {
			t.Fatalf("%s-%d: duplicate replica in %v", a.Topic, a.Partition, to)
		}
		for i, r := range to {
			replicas[r]++
			if i == 0 {
				leaders[r]++
			}
		}
	}
	return replicas, leaders
}

func spread(m map[int32]int, brokers []int32) int {
	lo, hi := 1<<30, 0
	for _, b := range brokers {
		lo, hi = min(lo, m[b]), max(hi, m[b])
	}
	return hi - lo
}

func TestPlanRebalanceAfterAddingABroker(t *testing.T) {
	var current []Assignment
	for p := int32(0); p < 12; p++ {
		current = append(current, Assignment{"a", p, []int32{1 + p%2, 2 - p%2}})
	}
	for p := int32(0); p < 5; p++ {
		current = append(current, Assignment{"b", p, []int32{1, 2}})
	}
	brokers := []int32{1, 2, 3}
	moves, err := PlanReassignment(current, PlanOptions{Brokers: brokers, Balance: true})
	if err != nil {
		t.Fatal(err)
	}
	replicas, leaders := loads(t, current, moves)
	if spread(replicas, brokers) > 1 || spread(leaders, brokers) > 1 {
		t.Fatalf("uneven after rebalance: replicas %v leaders %v", replicas, leaders)
	}
	// 34 replicas over 3 brokers: broker 3 gets 11, so at least 11 moves.
	if replicas[3] != 11 && replicas[3] != 12 {
		t.Fatalf("broker 3 got %d replicas", replicas[3])
	}
	again, err := PlanReassignment(applyMoves(current, moves), PlanOptions{Brokers: brokers, Balance: true})
	if err != nil || len(again) != 0 {
		t.Fatalf("a balanced cluster should plan no move, got %v (%v)", again, err)
	}
}

func applyMoves(current []Assignment, moves []Move) []Assignment {
	out := slices.Clone(current)
	for i, a := range out {
		for _, m := range moves {
			if m.Topic == a.Topic && m.Partition == a.Partition {
				out[i].Replicas = m.To
			}
		}
	}
	return out
}

func TestPlanDrain(t *testing.T) {
	current := []Assignment{
		{"t", 0, []int32{1, 2, 3}}, {"t", 1, []int32{2, 3, 4}}, {"t", 2, []int32{3, 4, 1}}, {"t", 3, []int32{4, 1, 2}},
		{"u", 0, []int32{1}},
	}
	moves, err := PlanReassignment(current, PlanOptions{Brokers: []int32{1, 2, 4}})
	if err != nil {
		t.Fatal(err)
	}
	replicas, _ := loads(t, current, moves)
	if replicas[3] != 0 {
		t.Fatalf("broker 3 still holds %d replicas: %v", replicas[3], moves)
	}
	if len(moves) != 3 {
		t.Fatalf("only the 3 partitions on broker 3 should move: %v", moves)
	}
	// Too few brokers for the replication factor.
	if _, err := PlanReassignment(current, PlanOptions{Brokers: []int32{1, 2}}); err == nil {
		t.Fatal("draining to fewer brokers than the replication factor should fail")
	}
}

func TestPlanPrefersOtherRacks(t *testing.T) {
	current := []Assignment{{"t", 0, []int32{1, 3}}}
	racks := map[int32]string{1: "a", 2: "a", 3: "b", 4: "c"}
	moves, err := PlanReassignment(current, PlanOptions{Brokers: []int32{1, 2, 4}, Racks: racks})
	if err != nil || len(moves) != 1 || !slices.Equal(moves[0].To, []int32{1, 4}) {
		t.Fatalf("got %v %v, want [1 4] (rack c, not broker 2 on rack a with broker 1)", moves, err)
	}
}
