package metadata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/raft"
)

// A proposal applied again (its answer was lost and Propose retried) gets
// its first result and changes nothing; another proposal of the same
// command is applied as usual. Snapshots keep the memory.
func TestProposalAppliedOnce(t *testing.T) {
	f := newFSM()
	index := uint64(0)
	apply := func(cmd Command) Result {
		t.Helper()
		data, err := json.Marshal(&cmd)
		if err != nil {
			t.Fatal(err)
		}
		index++
		return f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data}).(Result)
	}
	apply(Command{ID: "r1", RegisterBroker: &Broker{ID: 1, Incarnation: "a"}})
	create := Command{ID: "p1", CreateTopic: &Topic{Name: "t", ReplicationFactor: 1, Parts: []Partition{{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}}}}
	first := apply(create)
	if err := first.Error(); err != nil {
		t.Fatal(err)
	}
	again := apply(create)
	if again != first {
		t.Fatalf("retried proposal: %+v, want the first result %+v", again, first)
	}
	if f.state().Index != index {
		t.Fatalf("state index %d, want %d", f.state().Index, index)
	}
	create.ID = "p2"
	if err := apply(create).Error(); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("a new proposal creating the same topic: %v", err)
	}

	// Through a snapshot.
	var buf sink
	snap, _ := f.Snapshot()
	if err := snap.Persist(&buf); err != nil {
		t.Fatal(err)
	}
	g := newFSM()
	if err := g.Restore(io.NopCloser(&buf.Buffer)); err != nil {
		t.Fatal(err)
	}
	f = g
	create.ID = "p1"
	if again := apply(create); again != first {
		t.Fatalf("retried proposal after a snapshot: %+v, want %+v", again, first)
	}

	// Only the last recentProposals are remembered.
	for i := 0; i < recentProposals+10; i++ {
		apply(Command{ID: fmt.Sprintf("x%d", i), AllocateIDs: &AllocateIDs{Count: 1}})
	}
	if n := len(f.state().Recent); n != recentProposals {
		t.Fatalf("%d proposals remembered, want %d", n, recentProposals)
	}
}

// sink is an in-memory raft.SnapshotSink.
type sink struct{ bytes.Buffer }

func (s *sink) ID() string    { return "test" }
func (s *sink) Cancel() error { return nil }
func (s *sink) Close() error  { return nil }
