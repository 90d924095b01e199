package txn

import (
	"reflect"
	"testing"
	"time"
)

// FuzzDecodeState: a __transaction_state batch read back at load never
// panics, and what it yields is stable: written again and read back, each
// transaction is the same.
func FuzzDecodeState(f *testing.F) {
	now := time.UnixMilli(1700000000123)
	for _, m := range []*txnMeta{
		{id: "tx", pid: 7, epoch: 3, lastEpoch: -1, prevPID: -1, nextPID: -1, timeout: time.Minute, state: Ongoing, start: now, lastUpdate: now,
			parts: map[TopicPartition]struct{}{{"a", 0}: {}, {"a", 2}: {}, {"b", 1}: {}}},
		{id: "tx2", pid: 9, epoch: 32767, lastEpoch: 32766, tv2: true, prevPID: 8, nextPID: 10, timeout: time.Second, state: CompleteCommit, lastUpdate: now,
			parts: map[TopicPartition]struct{}{}},
		{id: "", pid: -1, epoch: -1, lastEpoch: -1, prevPID: -1, nextPID: -1, state: PrepareEpochFence, lastUpdate: now, parts: map[TopicPartition]struct{}{}},
	} {
		f.Add(stateBatch(m.id, stateValue(m), now.UnixMilli()), stateValue(m))
	}
	f.Add(stateBatch("gone", nil, now.UnixMilli()), []byte(nil))
	// raw is a whole batch (its CRC stops most mutations); value is a
	// record value inside a valid batch, where the fuzzer reaches the
	// TxnMetadataValue decoding.
	f.Fuzz(func(t *testing.T, raw, value []byte) {
		got := map[string]*txnMeta{}
		if err := decodeState(raw, got); err != nil {
			got = map[string]*txnMeta{}
		}
		if err := decodeState(stateBatch("v", value, 0), got); err != nil {
			return
		}
		for id, m := range got {
			again := map[string]*txnMeta{}
			if err := decodeState(stateBatch(id, stateValue(m), 0), again); err != nil {
				t.Fatalf("%s: %+v written again is unreadable: %v", id, m, err)
			}
			if !reflect.DeepEqual(again[id], m) {
				t.Fatalf("%s: read %+v, written and read again %+v", id, m, again[id])
			}
		}
	})
}
