package metadata

import (
	"errors"
	"slices"
	"testing"

	"github.com/tributary/tributary/internal/controller"
)

// An offline leader leaves the ISR and its leadership moves to an eligible
// ISR member; it cannot rejoin the ISR or be elected until it reports
// itself online, and then rejoins only through the leader's ISR change.
func TestReplicaOfflineMovesLeadershipAndBlocksISR(t *testing.T) {
	s := threeBrokers(t, 1, 2, 3)
	before := s.Topics["t"].Parts[0]
	s = mustApply(t, s, &Command{ReplicaOffline: &ReplicaOffline{Broker: 1, Topic: "t"}})
	p := s.Topics["t"].Parts[0]
	if p.Leader != 2 || p.LeaderEpoch != before.LeaderEpoch+1 || !slices.Equal(p.ISR, []int32{2, 3}) || !slices.Equal(p.Offline, []int32{1}) {
		t.Fatalf("after offline: %+v", p)
	}
	// Reporting it again changes nothing.
	if n := mustApply(t, s, &Command{ReplicaOffline: &ReplicaOffline{Broker: 1, Topic: "t"}}); n != s {
		t.Fatal("a repeated report changed the state")
	}
	if err := applyErr(s, &Command{AlterPartition: &AlterPartition{Topic: "t", Leader: 2, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{1, 2, 3}}}); !errors.Is(err, controller.ErrIneligible) {
		t.Fatalf("offline replica joined the ISR: %v", err)
	}
	if err := applyErr(s, &Command{ElectLeader: &ElectLeader{Topic: "t", Report: true}}); !errors.Is(err, controller.ErrPreferredNotAvailable) {
		t.Fatalf("preferred election of an offline replica: %v", err)
	}
	s = mustApply(t, s, &Command{ReplicaOffline: &ReplicaOffline{Broker: 1, Topic: "t", Online: true}})
	p = s.Topics["t"].Parts[0]
	if p.Leader != 2 || len(p.Offline) != 0 || slices.Contains(p.ISR, 1) {
		t.Fatalf("after online: %+v", p)
	}
	s = alterISR(t, s, 2, 3, 1)
	if p = s.Topics["t"].Parts[0]; !slices.Contains(p.ISR, 1) {
		t.Fatalf("did not rejoin: %+v", p)
	}
}

// The last ISR member going offline leaves the partition leaderless (it
// stays in the ISR: nobody else has the data); a broker restart does not
// elect it, reporting it online does.
func TestLastReplicaOfflineLeavesPartitionLeaderless(t *testing.T) {
	s := threeBrokers(t, 1)
	s = mustApply(t, s, &Command{ReplicaOffline: &ReplicaOffline{Broker: 1, Topic: "t"}})
	p := s.Topics["t"].Parts[0]
	if p.Leader != -1 || !slices.Equal(p.ISR, []int32{1}) {
		t.Fatalf("after offline: %+v", p)
	}
	s = mustApply(t, s, &Command{RegisterBroker: &Broker{ID: 1, Incarnation: "b"}})
	if p = s.Topics["t"].Parts[0]; p.Leader != -1 {
		t.Fatalf("restart elected an offline replica: %+v", p)
	}
	if err := applyErr(s, &Command{ElectLeader: &ElectLeader{Topic: "t", Unclean: true, Report: true}}); !errors.Is(err, controller.ErrEligibleNotAvailable) {
		t.Fatalf("unclean election of an offline replica: %v", err)
	}
	s = mustApply(t, s, &Command{ReplicaOffline: &ReplicaOffline{Broker: 1, Topic: "t", Online: true}})
	if p = s.Topics["t"].Parts[0]; p.Leader != 1 || len(p.Offline) != 0 {
		t.Fatalf("after online: %+v", p)
	}
	if err := applyErr(s, &Command{ReplicaOffline: &ReplicaOffline{Broker: 3, Topic: "t"}}); !errors.Is(err, controller.ErrIneligible) {
		t.Fatalf("a non-replica reported offline: %v", err)
	}
}
