package metadata

import (
	"errors"
	"slices"
	"testing"

	"github.com/tributary/tributary/internal/controller"
)

// threeBrokers is a state with live brokers 1-3 and topic "t" with one
// partition on replicas, all in the ISR, led by the first.
func threeBrokers(t *testing.T, replicas ...int32) *State {
	t.Helper()
	s := emptyState()
	for id := int32(1); id <= 3; id++ {
		s = mustApply(t, s, &Command{RegisterBroker: &Broker{ID: id, Incarnation: "a"}})
	}
	return mustApply(t, s, &Command{CreateTopic: &Topic{Name: "t", ReplicationFactor: int16(len(replicas)),
		Parts: []Partition{{Replicas: replicas, ISR: slices.Clone(replicas), Leader: replicas[0]}}}})
}

func mustApply(t *testing.T, s *State, cmd *Command) *State {
	t.Helper()
	n, res := s.apply(cmd)
	if err := res.Error(); err != nil {
		t.Fatalf("apply %+v: %v", cmd, err)
	}
	return n
}

func applyErr(s *State, cmd *Command) error {
	_, res := s.apply(cmd)
	return res.Error()
}

func alterISR(t *testing.T, s *State, isr ...int32) *State {
	p := s.Topics["t"].Parts[0]
	return mustApply(t, s, &Command{AlterPartition: &AlterPartition{Topic: "t", Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: isr}})
}

func TestReassignAddsCatchesUpAndSwitches(t *testing.T) {
	s := threeBrokers(t, 1, 2)
	s = mustApply(t, s, &Command{Reassign: &Reassign{Topic: "t", Target: []int32{2, 3}}})
	p := s.Topics["t"].Parts[0]
	if !slices.Equal(p.Replicas, []int32{2, 3, 1}) || !slices.Equal(p.AddingReplicas, []int32{3}) || !slices.Equal(p.RemovingReplicas, []int32{1}) || p.Leader != 1 {
		t.Fatalf("while reassigning: %+v", p)
	}
	// Replica 3 joins the ISR: the switch happens in the same command, and
	// the leader (1, removed) moves to a target replica under a new epoch.
	s = alterISR(t, s, 1, 2, 3)
	q := s.Topics["t"].Parts[0]
	if !slices.Equal(q.Replicas, []int32{2, 3}) || !slices.Equal(q.ISR, []int32{2, 3}) || q.Reassigning() || q.Leader != 2 || q.LeaderEpoch != p.LeaderEpoch+1 {
		t.Fatalf("after catch-up: %+v", q)
	}
	if err := applyErr(s, &Command{Reassign: &Reassign{Topic: "t", Cancel: true}}); !errors.Is(err, controller.ErrNoReassignment) {
		t.Fatalf("cancel with none in progress: %v", err)
	}
}

func TestReassignCancelReverts(t *testing.T) {
	s := threeBrokers(t, 1, 2)
	before := s.Topics["t"].Parts[0]
	s = mustApply(t, s, &Command{Reassign: &Reassign{Topic: "t", Target: []int32{3, 2}}})
	if p := s.Topics["t"].Parts[0]; !slices.Equal(p.Replicas, []int32{3, 2, 1}) {
		t.Fatalf("reassigning: %+v", p)
	}
	s = mustApply(t, s, &Command{Reassign: &Reassign{Topic: "t", Cancel: true}})
	p := s.Topics["t"].Parts[0]
	// As in Kafka, the reverted replicas keep their order in the
	// reassignment's list (target first), not the original order.
	if !slices.Equal(p.Replicas, []int32{2, 1}) || !slices.Equal(p.ISR, before.ISR) || p.Leader != 1 || p.Reassigning() || p.LeaderEpoch != before.LeaderEpoch {
		t.Fatalf("after cancel: %+v (before %+v)", p, before)
	}
}

func TestReassignSubsetOfISRCompletesAtOnce(t *testing.T) {
	s := threeBrokers(t, 1, 2, 3)
	s = mustApply(t, s, &Command{Reassign: &Reassign{Topic: "t", Target: []int32{3, 2}}})
	p := s.Topics["t"].Parts[0]
	if !slices.Equal(p.Replicas, []int32{3, 2}) || p.Reassigning() || p.Leader != 3 || p.LeaderEpoch != 1 {
		t.Fatalf("got %+v", p)
	}
}

func TestReassignErrors(t *testing.T) {
	s := threeBrokers(t, 1, 2)
	for _, c := range []struct {
		r    Reassign
		want error
	}{
		{Reassign{Topic: "nope", Target: []int32{1}}, ErrUnknownTopic},
		{Reassign{Topic: "t", Partition: 1, Target: []int32{1}}, ErrUnknownTopic},
		{Reassign{Topic: "t", Target: []int32{1, 1}}, controller.ErrInvalidReplicaAssignment},
		{Reassign{Topic: "t", Target: []int32{1, 9}}, controller.ErrInvalidReplicaAssignment},
		{Reassign{Topic: "t"}, controller.ErrInvalidReplicaAssignment},
		{Reassign{Topic: "t", Target: []int32{1, 2, 3}, KeepReplicationFactor: true}, controller.ErrInvalidReplicationFactor},
		{Reassign{Topic: "t", Cancel: true}, controller.ErrNoReassignment},
	} {
		if err := applyErr(s, &Command{Reassign: &c.r}); !errors.Is(err, c.want) {
			t.Errorf("%+v: got %v, want %v", c.r, err, c.want)
		}
	}
}

func TestElectLeaderReports(t *testing.T) {
	s := threeBrokers(t, 1, 2, 3)
	elect := func(s *State, unclean bool) error {
		return applyErr(s, &Command{ElectLeader: &ElectLeader{Topic: "t", Unclean: unclean, Report: true}})
	}
	if err := elect(s, false); !errors.Is(err, controller.ErrElectionNotNeeded) {
		t.Fatalf("preferred already leads: %v", err)
	}
	if err := elect(s, true); !errors.Is(err, controller.ErrElectionNotNeeded) {
		t.Fatalf("unclean with a live leader: %v", err)
	}
	// Broker 1 fails: 2 leads; the preferred leader is fenced.
	s = mustApply(t, s, &Command{FenceBroker: &FenceBroker{ID: 1}})
	if err := elect(s, false); !errors.Is(err, controller.ErrPreferredNotAvailable) {
		t.Fatalf("fenced preferred: %v", err)
	}
	// It comes back (same incarnation) but is not in the ISR yet.
	s = mustApply(t, s, &Command{RegisterBroker: &Broker{ID: 1, Incarnation: "a"}})
	if err := elect(s, false); !errors.Is(err, controller.ErrPreferredNotAvailable) {
		t.Fatalf("preferred out of the ISR: %v", err)
	}
	s = alterISR(t, s, 2, 3, 1)
	s = mustApply(t, s, &Command{ElectLeader: &ElectLeader{Topic: "t", Report: true}})
	if p := s.Topics["t"].Parts[0]; p.Leader != 1 || p.LeaderEpoch != 2 {
		t.Fatalf("after preferred election: %+v", p)
	}
	// Every ISR member fenced but the last keeps its place: unclean
	// election finds no eligible leader while it is down, then elects
	// a live out-of-sync replica.
	s = mustApply(t, s, &Command{FenceBroker: &FenceBroker{ID: 2}})
	s = mustApply(t, s, &Command{FenceBroker: &FenceBroker{ID: 3}})
	s = mustApply(t, s, &Command{FenceBroker: &FenceBroker{ID: 1}})
	if p := s.Topics["t"].Parts[0]; p.Leader != -1 || !slices.Equal(p.ISR, []int32{1}) {
		t.Fatalf("all fenced: %+v", p)
	}
	if err := elect(s, true); !errors.Is(err, controller.ErrEligibleNotAvailable) {
		t.Fatalf("no live replica: %v", err)
	}
	s = mustApply(t, s, &Command{RegisterBroker: &Broker{ID: 3, Incarnation: "a"}})
	s = mustApply(t, s, &Command{ElectLeader: &ElectLeader{Topic: "t", Unclean: true, Report: true}})
	if p := s.Topics["t"].Parts[0]; p.Leader != 3 || !slices.Equal(p.ISR, []int32{3}) {
		t.Fatalf("after unclean election: %+v", p)
	}
}
