package connect

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// MM2's record formats, byte for byte: Kafka protocol types (int16
// length-prefixed strings, big-endian integers), version 0 headers on
// checkpoint and heartbeat values.
func TestMirrorFormats(t *testing.T) {
	for _, c := range []struct {
		name string
		got  []byte
		want string
	}{
		{"offset sync key", offsetSyncKey("orders", 2), "00066f726465727300000002"},
		{"offset sync value", offsetSyncValue(5, 7), "00000000000000050000000000000007"},
		{"checkpoint key", Checkpoint{Group: "g", Topic: "a.t", Partition: 1}.key(), "0001670003612e7400000001"},
		{"checkpoint value", Checkpoint{Upstream: 10, Downstream: 9, Metadata: "m"}.value(), "0000" + "000000000000000a" + "0000000000000009" + "00016d"},
		{"heartbeat key", heartbeatKey("src", "dst"), "0003737263" + "0003647374"},
		{"heartbeat value", heartbeatValue(1700000000000), "0000" + "0000018bcfe56800"},
	} {
		if h := hex.EncodeToString(c.got); h != c.want {
			t.Errorf("%s: %s, want %s", c.name, h, c.want)
		}
	}
	s, err := DecodeOffsetSync(offsetSyncKey("orders", 2), offsetSyncValue(5, 7))
	if err != nil || s != (OffsetSync{"orders", 2, 5, 7}) {
		t.Errorf("offset sync round trip: %+v %v", s, err)
	}
	cp := Checkpoint{Group: "g", Topic: "a.t", Partition: 1, Upstream: 10, Downstream: 9, Metadata: "m"}
	if got, err := DecodeCheckpoint(cp.key(), cp.value()); err != nil || got != cp {
		t.Errorf("checkpoint round trip: %+v %v", got, err)
	}
	if _, err := DecodeOffsetSync([]byte{0, 9, 'a'}, nil); err == nil {
		t.Error("a truncated offset sync decoded")
	}
}

func TestMirrorTopicChoice(t *testing.T) {
	m := parseMirrorConfig(map[string]string{"source.cluster.alias": "src", "target.cluster.alias": "dst"}, mirrorSourcePlugin().Config)
	for topic, want := range map[string]bool{
		"orders": true, "heartbeats": true, "other.heartbeats": true, "x.orders": true,
		"dst.orders": false, "x.dst.orders": false, "__consumer_offsets": false, "app-internal": false,
		"mm2-offset-syncs.dst.internal": false, "a.replica": false, "src.checkpoints.internal": false,
	} {
		if got := m.replicates(topic); got != want {
			t.Errorf("replicates(%q) = %v, want %v", topic, got, want)
		}
	}
	if r := m.remoteTopic("orders"); r != "src.orders" {
		t.Errorf("remote topic %s", r)
	}
	id := parseMirrorConfig(map[string]string{"source.cluster.alias": "src", "replication.policy.class": "IdentityReplicationPolicy"}, mirrorSourcePlugin().Config)
	if r, h := id.remoteTopic("orders"), id.remoteTopic("heartbeats"); r != "orders" || h != "src.heartbeats" {
		t.Errorf("identity policy: %s %s", r, h)
	}
}

// The offset-sync rules and the translation of consumer offsets.
func TestMirrorOffsetSyncs(t *testing.T) {
	st := &mirrorPartitionState{lastSyncDownstream: -1, prevUpstream: -1, prevDownstream: -1}
	var due []int64
	for up := int64(0); up < 10; up++ {
		if st.update(up, up+100, 3) {
			due = append(due, up)
		}
	}
	// First record, then every time the downstream offset is 3 past the
	// last sync + 1.
	if want := []int64{0, 4, 8}; !equalInts(due, want) {
		t.Errorf("syncs at %v, want %v", due, want)
	}
	if !st.update(12, 112, 3) { // a gap upstream (compaction)
		t.Error("no sync after an upstream gap")
	}

	var s offsetSyncStore
	s.syncs = map[topicPartition][]OffsetSync{}
	tp := topicPartition{"t", 0}
	for _, o := range []OffsetSync{{"t", 0, 0, 100}, {"t", 0, 10, 105}, {"t", 0, 20, 130}} {
		s.add(o)
	}
	for up, want := range map[int64]int64{0: 100, 5: 101, 10: 105, 19: 106, 20: 130, 500: 131} {
		if got, ok := s.translate(tp, up); !ok || got != want {
			t.Errorf("translate(%d) = %d %v, want %d", up, got, ok, want)
		}
	}
	if _, ok := s.translate(topicPartition{"t", 1}, 3); ok {
		t.Error("translated without a sync")
	}
	s.add(OffsetSync{"t", 0, 5, 200}) // the source was reset
	if got, _ := s.translate(tp, 20); got != 201 {
		t.Errorf("after a reset, translate(20) = %d, want 201", got)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func FuzzMirrorRecords(f *testing.F) {
	f.Add(offsetSyncKey("orders", 2), offsetSyncValue(5, 7))
	cp := Checkpoint{Group: "g", Topic: "a.t", Partition: 1, Upstream: 10, Downstream: 9, Metadata: "m"}
	f.Add(cp.key(), cp.value())
	f.Fuzz(func(t *testing.T, k, v []byte) {
		if s, err := DecodeOffsetSync(k, v); err == nil {
			if !bytes.HasPrefix(k, offsetSyncKey(s.Topic, s.Partition)) || !bytes.HasPrefix(v, offsetSyncValue(s.Upstream, s.Downstream)) {
				t.Fatalf("offset sync %+v does not re-encode to its input", s)
			}
		}
		if c, err := DecodeCheckpoint(k, v); err == nil {
			if !bytes.HasPrefix(k, c.key()) || !bytes.HasPrefix(v, c.value()) {
				t.Fatalf("checkpoint %+v does not re-encode to its input", c)
			}
		}
	})
}
