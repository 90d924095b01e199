package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/record"
)

func txnCommit(t *testing.T, c *Coordinator, group string, pid int64, offsets map[int32]int64) {
	t.Helper()
	r := kmsg.NewPtrTxnOffsetCommitRequest()
	r.Version = 3
	r.TransactionalID, r.Group, r.ProducerID, r.ProducerEpoch, r.Generation = "tx", group, pid, 0, -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = "t"
	for p, o := range offsets {
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, o
		rt.Partitions = append(rt.Partitions, rp)
	}
	r.Topics = append(r.Topics, rt)
	resp, wait := c.TxnOffsetCommit(r)
	wait()
	for _, st := range resp.Topics {
		for _, sp := range st.Partitions {
			if sp.ErrorCode != 0 {
				t.Fatalf("TxnOffsetCommit partition %d: %v", sp.Partition, kerr.ErrorForCode(sp.ErrorCode))
			}
		}
	}
}

// stableFetch is OffsetFetch v7 with require_stable: offset or error code
// per partition.
func stableFetch(c *Coordinator, group string) map[int32][2]int64 {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version, r.Group, r.RequireStable = 7, group, true
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "t", []int32{0, 1}
	r.Topics = append(r.Topics, rt)
	out := map[int32][2]int64{}
	for _, t := range c.OffsetFetch(r).Topics {
		for _, p := range t.Partitions {
			out[p.Partition] = [2]int64{p.Offset, int64(p.ErrorCode)}
		}
	}
	return out
}

// marker appends the transaction coordinator's marker for pid to the
// group's offsets partition, as the partition leader does, and tells the
// coordinator.
func marker(t *testing.T, c *Coordinator, log *memLog, group string, pid int64, commit bool) {
	t.Helper()
	b, err := record.Marker(pid, 0, commit, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := PartitionFor(group, log.n)
	if _, _, err := log.Append(p, b); err != nil {
		t.Fatal(err)
	}
	c.CompleteTxn(p, pid, commit)
}

// TestTxnOffsetCommit: transactional offsets stay pending (OffsetFetch
// answers the old offsets, and UNSTABLE_OFFSET_COMMIT with require_stable)
// until the COMMIT marker; an ABORT drops them; a reload from the log
// (leadership moved) reaches the same state, and keeps an open
// transaction's offsets pending.
func TestTxnOffsetCommit(t *testing.T) {
	clock := newFakeClock()
	log := &memLog{n: 3}
	c := newTestCoordinator(t, log, clock, 0)
	commit(c, "g", -1, "", map[int32]int64{0: 5, 1: 5})

	txnCommit(t, c, "g", 7, map[int32]int64{0: 10})
	if got := fetch(c, "g"); got[0] != 5 {
		t.Fatalf("pending offset visible: %v", got)
	}
	unstable := int64(kerr.UnstableOffsetCommit.Code)
	if got := stableFetch(c, "g"); got[0] != [2]int64{-1, unstable} || got[1] != [2]int64{5, 0} {
		t.Fatalf("require_stable while pending: %v", got)
	}
	marker(t, c, log, "g", 7, true)
	if got := stableFetch(c, "g"); got[0] != [2]int64{10, 0} {
		t.Fatalf("after commit: %v", got)
	}

	txnCommit(t, c, "g", 8, map[int32]int64{1: 30})
	marker(t, c, log, "g", 8, false)
	if got := stableFetch(c, "g"); got[1] != [2]int64{5, 0} {
		t.Fatalf("after abort: %v", got)
	}

	txnCommit(t, c, "g", 9, map[int32]int64{1: 40}) // left open

	c2 := newTestCoordinator(t, log, clock, 0)
	if got := stableFetch(c2, "g"); got[0] != [2]int64{10, 0} || got[1] != [2]int64{-1, unstable} {
		t.Fatalf("after reload: %v", got)
	}
	if got := fetch(c2, "g"); got[1] != 5 {
		t.Fatalf("after reload, the open transaction's offset is visible: %v", got)
	}
	marker(t, c2, log, "g", 9, true)
	if got := stableFetch(c2, "g"); got[1] != [2]int64{40, 0} {
		t.Fatalf("after reload and commit: %v", got)
	}
}

// TestTxnMarkerDuringLoad: a marker that reaches an offsets partition
// while it loads (the load may have read past it) is applied when the
// load ends.
func TestTxnMarkerDuringLoad(t *testing.T) {
	clock := newFakeClock()
	log := &memLog{n: 3}
	c := newTestCoordinator(t, log, clock, 0)
	txnCommit(t, c, "g", 7, map[int32]int64{0: 10})
	p := PartitionFor("g", log.n)

	// The partition is led again under a new epoch: unloaded, then
	// loading; the marker arrives before the load runs (and is not in
	// the log it reads).
	c.mu.Lock()
	c.unload(p)
	op := &ownedPart{epoch: 1, done: make(chan struct{})}
	c.owned[p] = op
	c.mu.Unlock()
	c.CompleteTxn(p, 7, true)
	c.load(p, op)
	if got := stableFetch(c, "g"); got[0] != [2]int64{10, 0} {
		t.Fatalf("marker during load not applied: %v", got)
	}
}
