package metadata

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startThree(t *testing.T) ([]*Quorum, []string) {
	voters := map[int32]string{}
	var dirs []string
	for i := int32(1); i <= 3; i++ {
		voters[i] = freeAddr(t)
		dirs = append(dirs, t.TempDir())
	}
	qs := make([]*Quorum, 3)
	for i := int32(1); i <= 3; i++ {
		q, err := StartQuorum(QuorumConfig{NodeID: i, Dir: dirs[i-1], Listen: voters[i], Voters: voters,
			SessionTimeout: 600 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		qs[i-1] = q
		t.Cleanup(func() { q.Close() })
	}
	return qs, dirs
}

func TestQuorumReplicatesFencesAndSurvivesLeaderLoss(t *testing.T) {
	qs, _ := startThree(t)
	waitFor(t, "cluster id on all nodes", func() bool {
		for _, q := range qs {
			if q.State().ClusterID == "" {
				return false
			}
		}
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	beat := func(q *Quorum, id int32) error {
		return q.Heartbeat(Broker{ID: id, Host: "127.0.0.1", Port: 9000 + id, RaftAddr: q.Addr(), Incarnation: "x"})
	}
	for i, q := range qs {
		if err := beat(q, int32(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	// Proposed from a follower: forwarded to the leader.
	var follower *Quorum
	for _, q := range qs {
		if !q.IsLeader() {
			follower = q
		}
	}
	topic := &Topic{Name: "t", ID: NewTopicID(), ReplicationFactor: 3, Parts: []Partition{{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1}}}
	if res, err := follower.Propose(ctx, &Command{CreateTopic: topic}); err != nil || res.Error() != nil {
		t.Fatalf("create: %v %v", err, res.Error())
	}
	if res, _ := follower.Propose(ctx, &Command{CreateTopic: topic}); res.Error() == nil {
		t.Fatal("second create of the same topic succeeded")
	}
	waitFor(t, "topic everywhere", func() bool {
		for _, q := range qs {
			if _, ok := q.State().Topic("t"); !ok {
				return false
			}
		}
		return true
	})
	// Broker 1 stops heartbeating; 2 and 3 go on. Broker 1 is fenced and
	// its leadership moves within the ISR with a new epoch.
	stopBeats := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopBeats:
				return
			case <-time.After(100 * time.Millisecond):
			}
			for i := 1; i < 3; i++ {
				beat(qs[i], int32(i+1))
			}
		}
	}()
	defer close(stopBeats)
	// On both nodes read below: the partition epoch proposed next comes
	// from qs[1]'s state, which may apply the fencing after qs[2]'s.
	waitFor(t, "broker 1 fenced and leadership moved", func() bool {
		for _, q := range qs[1:] {
			st := q.State()
			p := st.Topics["t"].Parts[0]
			if !st.Brokers[1].Fenced || p.Leader != 2 || p.LeaderEpoch != 1 || fmt.Sprint(p.ISR) != "[2 3]" {
				return false
			}
		}
		return true
	})
	// Stale ISR change refused, current one applied.
	if res, _ := qs[1].Propose(ctx, &Command{AlterPartition: &AlterPartition{Topic: "t", Leader: 2, LeaderEpoch: 0, ISR: []int32{2}}}); res.Error() == nil {
		t.Fatal("stale AlterPartition applied")
	}
	p := qs[1].State().Topics["t"].Parts[0]
	if res, err := qs[1].Propose(ctx, &Command{AlterPartition: &AlterPartition{Topic: "t", Leader: 2, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{2}}}); err != nil || res.Error() != nil {
		t.Fatalf("alter: %v %v", err, res.Error())
	}
	// Kill the active controller: a new one is elected and commands go on.
	var leader int
	for i, q := range qs {
		if q.IsLeader() {
			leader = i
		}
	}
	qs[leader].Close()
	other := qs[(leader+1)%3]
	if res, err := other.Propose(ctx, &Command{AllocateIDs: &AllocateIDs{Count: 10}}); err != nil || res.Error() != nil || res.Value < 1000 {
		t.Fatalf("allocate after controller loss: %v %v %d", err, res.Error(), res.Value)
	}
}

func TestQuorumRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	start := func() *Quorum {
		q, err := StartQuorum(QuorumConfig{NodeID: 1, Dir: dir, Listen: addr, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	q := start()
	waitFor(t, "cluster id", func() bool { return q.State().ClusterID != "" })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q.Propose(ctx, &Command{CreateTopic: &Topic{Name: "keep", ID: NewTopicID(), Parts: []Partition{{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}}}})
	id := q.State().ClusterID
	q.Close()
	q = start()
	defer q.Close()
	waitFor(t, "state replayed", func() bool { _, ok := q.State().Topic("keep"); return ok })
	if q.State().ClusterID != id {
		t.Fatalf("cluster id changed across restart")
	}
}
