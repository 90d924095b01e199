package share

import (
	"testing"

	"github.com/tributary/tributary/internal/record"
)

// FuzzStateRecord: replaying arbitrary __share_group_state records never
// panics, and a decoded snapshot re-encodes to what was read.
func FuzzStateRecord(f *testing.F) {
	k := encodeKey(stateKey{"g", [16]byte{1}, 3})
	v := encodeValue(&snapshot{stateEpoch: 1, leaderEpoch: 2, start: 5, batches: []StateBatch{{5, 9, Acknowledged, 1}}})
	f.Add(k, v)
	f.Add(k, []byte(nil))
	f.Add([]byte{0, 0, 0xff, 0xff}, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		states := map[stateKey]*snapshot{}
		replayState(states, record.KV{Key: key, Value: value})
		for _, s := range states {
			again, err := decodeValue(encodeValue(s))
			if err != nil || again.start != s.start || len(again.batches) != len(s.batches) {
				t.Fatalf("re-encode: %v", err)
			}
			Restore(lim, s.start, s.batches) // must not panic or allocate unbounded
		}
	})
}

// FuzzSplitBatches: walking arbitrary bytes as stored batches never
// panics and yields spans inside the input.
func FuzzSplitBatches(f *testing.F) {
	f.Add(make([]byte, 61))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		spans, _ := SplitBatches(data)
		for _, s := range spans {
			if s.Pos < 0 || s.Pos+s.Size > len(data) {
				t.Fatalf("span %+v outside %d bytes", s, len(data))
			}
		}
	})
}

// FuzzAcknowledge: arbitrary acknowledgement batches either fail
// validation or apply without breaking the partition's invariants.
func FuzzAcknowledge(f *testing.F) {
	f.Add(int64(0), int64(3), []byte{1}, int64(5), int64(5), []byte{2})
	f.Fuzz(func(t *testing.T, f1, l1 int64, t1 []byte, f2, l2 int64, t2 []byte) {
		p := NewPartition(lim, 0)
		p.Acquire("a", 0, 8, 8, t0)
		conv := func(b []byte) []int8 {
			out := make([]int8, len(b))
			for i, x := range b {
				out[i] = int8(x)
			}
			return out
		}
		batches := []AckBatch{{f1, l1, conv(t1)}, {f2, l2, conv(t2)}}
		if ValidateAcks(batches, true) != nil {
			return
		}
		p.Acknowledge("a", batches, t0)
		if p.Start() < 0 || p.End() < p.Start() || p.End()-p.Start() != int64(len(p.recs)) {
			t.Fatalf("broken window: start %d end %d recs %d", p.Start(), p.End(), len(p.recs))
		}
	})
}
