package connect

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestConfigStateTaskCommit(t *testing.T) {
	s := newConfigState()
	off := int64(0)
	put := func(k string, v []byte) {
		s.apply(off, []byte(k), v)
		off++
	}
	put("connector-a", encodeProperties(map[string]string{"connector.class": "FileStreamSource"}))
	put("task-a-0", encodeProperties(map[string]string{"n": "0"}))
	put("task-a-1", encodeProperties(map[string]string{"n": "1"}))
	if len(s.tasks["a"]) != 0 {
		t.Fatal("task configs visible before their commit record")
	}
	put("commit-a", []byte(`{"tasks":2}`))
	if got := s.taskIDs(); !reflect.DeepEqual(got, []TaskID{{"a", 0}, {"a", 1}}) {
		t.Fatalf("tasks %v", got)
	}
	// A commit naming a task whose config was not read (compacted away)
	// leaves the last consistent set and marks the connector.
	put("task-a-0", encodeProperties(map[string]string{"n": "0b"}))
	put("commit-a", []byte(`{"tasks":2}`))
	if !s.inconsistent["a"] || s.tasks["a"][0]["n"] != "0" {
		t.Fatalf("inconsistent commit applied: %v %v", s.inconsistent, s.tasks["a"])
	}
	put("target-state-a", encodeTargetState(TargetStopped))
	if s.targetState("a") != TargetStopped {
		t.Fatal("state.v2 STOPPED not read")
	}
	put("target-state-a", []byte(`{"state":"PAUSED"}`)) // a v1 writer
	if s.targetState("a") != TargetPaused {
		t.Fatal("v1 target state not read")
	}
	put("garbage", []byte("{"))
	put("task-a-x", []byte("{}"))
	put("connector-a", nil)
	if len(s.connectors)+len(s.tasks)+len(s.targetStates) != 0 || s.offset != off {
		t.Fatalf("tombstone left %v %v %v (offset %d)", s.connectors, s.tasks, s.targetStates, s.offset)
	}
}

func TestTargetStateEncoding(t *testing.T) {
	// Readers from before STOPPED existed see PAUSED.
	if got := string(encodeTargetState(TargetStopped)); got != `{"state":"PAUSED","state.v2":"STOPPED"}` {
		t.Fatal(got)
	}
}

func TestStatusGenerations(t *testing.T) {
	s := newStatusState()
	val := func(state, worker string, gen int32) []byte {
		b, _ := json.Marshal(statusValue{State: state, WorkerID: worker, Generation: gen})
		return b
	}
	s.apply([]byte("status-task-a-0"), val(StateRunning, "w2", 5))
	s.apply([]byte("status-task-a-0"), val(StateUnassigned, "w1", 4)) // a zombie's late write
	if s.tasks[TaskID{"a", 0}].State != StateRunning {
		t.Fatal("an older generation from another worker overwrote the status")
	}
	s.apply([]byte("status-task-a-0"), val(StateFailed, "w2", 5))
	if s.tasks[TaskID{"a", 0}].State != StateFailed {
		t.Fatal("the owner's own update was dropped")
	}
	s.apply([]byte("status-topic-t1:connector-a"), []byte(`{"topic":{"name":"t1"}}`))
	if !s.topics["a"]["t1"] {
		t.Fatal("topic status not read")
	}
}

func TestOffsetKey(t *testing.T) {
	k := offsetKey("src", map[string]any{"filename": "/tmp/x"})
	if string(k) != `["src",{"filename":"/tmp/x"}]` {
		t.Fatal(string(k))
	}
	s := &offsetState{offsets: map[string]map[string]any{}}
	s.apply(k, []byte(`{"position":12345678901}`))
	s.apply([]byte(`["other",{"filename":"/tmp/x"}]`), []byte(`{"position":1}`))
	got := s.connectorOffsets("src")
	if len(got) != 1 || got[0].Partition["filename"] != "/tmp/x" {
		t.Fatalf("%v", got)
	}
	if p, err := offsetPosition(got[0].Offset["position"]); err != nil || p != 12345678901 {
		t.Fatalf("position %v %v", p, err)
	}
}

// The memoized offsets-topic key follows the partition's content, not the
// map's identity.
func TestOffsetKeysMemo(t *testing.T) {
	k := offsetKeys{connector: "c"}
	p := map[string]any{"filename": "a"}
	if got := string(k.of(p)); got != string(offsetKey("c", p)) {
		t.Fatalf("key %s", got)
	}
	p["filename"] = "b" // a task reusing its map
	if got := string(k.of(p)); got != `["c",{"filename":"b"}]` {
		t.Errorf("after a change: %s", got)
	}
	if got := string(k.of(map[string]any{"filename": "b", "n": map[string]any{}})); got != `["c",{"filename":"b","n":{}}]` {
		t.Errorf("nested: %s", got)
	}
}

// TestConfigStateFencing: a commit leaves the connector pending fencing
// until a tasks-fencing record follows it; the ids to fence cover every
// generation whose tasks may have run.
func TestConfigStateFencing(t *testing.T) {
	s := newConfigState()
	off := int64(0)
	put := func(k string, v []byte) {
		s.apply(off, []byte(k), v)
		off++
	}
	gen := func(n int) {
		for i := range n {
			put("task-a-"+string(rune('0'+i)), encodeProperties(map[string]string{}))
		}
		b, _ := json.Marshal(commitValue{Tasks: n})
		put("commit-a", b)
	}
	put("connector-a", encodeProperties(map[string]string{"connector.class": "MirrorSourceConnector"}))
	gen(3)
	if !s.fencePending["a"] || s.fenceCount["a"] != 0 {
		t.Fatalf("first generation: pending %v count %d", s.fencePending["a"], s.fenceCount["a"])
	}
	put("tasks-fencing-a", []byte(`{"task-count":3}`))
	if s.fencePending["a"] || s.fenceCount["a"] != 3 {
		t.Fatalf("after fencing: pending %v count %d", s.fencePending["a"], s.fenceCount["a"])
	}
	// Two generations without fencing in between (tasks of neither ran):
	// the ids of the last fenced generation still need fencing.
	gen(1)
	gen(2)
	if !s.fencePending["a"] || s.fenceCount["a"] != 3 {
		t.Fatalf("shrunk: pending %v count %d", s.fencePending["a"], s.fenceCount["a"])
	}
	put("tasks-fencing-a", []byte(`{"task-count":"x"}`)) // malformed: ignored
	put("tasks-fencing-a", nil)
	if !s.fencePending["a"] {
		t.Fatal("a malformed task-count record cleared the pending fencing")
	}
	put("tasks-fencing-a", []byte(`{"task-count":2}`))
	if s.fencePending["a"] || s.fenceCount["a"] != 2 {
		t.Fatalf("after the second fencing: pending %v count %d", s.fencePending["a"], s.fenceCount["a"])
	}
	put("connector-a", nil)
	if len(s.fencePending)+len(s.fenceCount) != 0 {
		t.Fatal("the connector's tombstone left fencing state")
	}
}
