package tests

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestTxnAbortableWire: a KIP-890 verification of a partition that is not
// in the producer's transaction (never added, or the transaction was
// aborted meanwhile) is TRANSACTION_ABORTABLE to the requests that know
// the code (Produce v11+, the partition leaders' AddPartitionsToTxn v5)
// and INVALID_TXN_STATE to older ones (Produce v3-10, AddPartitionsToTxn
// v4); nothing is written either way.
func TestTxnAbortableWire(t *testing.T) {
	n := startNode(t, "", txnSettings)
	w := dial(t, n.Addr())
	mustCreate(t, w, "ab", 1, nil)
	const id = "abortable"
	pid, epoch := w.mustInitTxnProducer(id, 4)
	produce := func(version int16, seq int32) int16 {
		t.Helper()
		req := produceReq("ab", 0, -1, txnBatch(pid, epoch, seq, "v"))
		req.TransactionID = kmsg.StringPtr(id)
		return w.roundTrip(req, version).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	verify := func(version int16) int16 {
		t.Helper()
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = id, pid, epoch, true
		tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
		tt.Topic, tt.Partitions = "ab", []int32{0}
		tx.Topics = append(tx.Topics, tt)
		req.Transactions = append(req.Transactions, tx)
		resp := w.roundTrip(req, version).(*kmsg.AddPartitionsToTxnResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("AddPartitionsToTxn v%d: top-level %v", version, kerr.ErrorForCode(resp.ErrorCode))
		}
		return resp.Transactions[0].Topics[0].Partitions[0].ErrorCode
	}
	want := func(what string, got int16, want int16) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: %v, want %v", what, kerr.ErrorForCode(got), kerr.ErrorForCode(want))
		}
	}
	endOffset := func(level int8) int64 {
		req := kmsg.NewPtrListOffsetsRequest()
		req.IsolationLevel = level
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "ab"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return w.roundTrip(req, 4).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].Offset
	}
	abortable, invalid := kerr.TransactionAbortable.Code, kerr.InvalidTxnState.Code

	// No transaction open.
	want("verify v5, nothing open", verify(5), abortable)
	want("verify v4, nothing open", verify(4), invalid)
	want("Produce v10, never added", produce(10, 0), invalid)
	want("Produce v11, never added", produce(11, 0), abortable)
	if end := endOffset(0); end != 0 {
		t.Fatalf("a refused batch was written: end offset %d", end)
	}

	// Added: verified and written.
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, pid, epoch
	at := kmsg.NewAddPartitionsToTxnRequestTopic()
	at.Topic, at.Partitions = "ab", []int32{0}
	add.Topics = append(add.Topics, at)
	want("AddPartitionsToTxn v3", w.roundTrip(add, 3).(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode, 0)
	want("verify v5, added", verify(5), 0)
	want("Produce v11, added", produce(11, 0), 0)

	// Aborted (transaction version 0-1: the epoch stays): a late batch of
	// the aborted transaction may not open a new one.
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, pid, epoch, false
	want("EndTxn v4 abort", w.roundTrip(end, 4).(*kmsg.EndTxnResponse).ErrorCode, 0)
	for deadline := time.Now().Add(20 * time.Second); endOffset(1) != endOffset(0); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("abort marker not written")
		}
	}
	written := endOffset(0)
	// The coordinator completes the abort once the markers are written:
	// until then CONCURRENT_TRANSACTIONS.
	for deadline := time.Now().Add(20 * time.Second); verify(5) == kerr.ConcurrentTransactions.Code && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	want("verify v5, aborted", verify(5), abortable)
	want("Produce v11, after the abort", produce(11, 1), abortable)
	want("Produce v10, after the abort", produce(10, 1), invalid)
	if end := endOffset(0); end != written {
		t.Fatalf("a late batch was written: end offset %d, want %d", end, written)
	}
}

// TestTxnAbortableFranzGoRecovers: a franz-go transactional producer on
// transaction version 1 (Produce capped at v11, as Kafka 3.8-3.9 clients)
// has its transaction aborted behind its back (an operator's EndTxn, as
// after a coordinator-side abort that keeps the epoch). Its next batch to
// a partition it believes is in the transaction is refused with
// TRANSACTION_ABORTABLE; the producer aborts, begins a new transaction
// with the same producer and commits it. read_committed consumers see the
// committed record only.
func TestTxnAbortableFranzGoRecovers(t *testing.T) {
	n := startNode(t, "", txnSettings)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "abf"); err != nil {
		t.Fatal(err)
	}
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(int16(kmsg.Produce), 11)
	const id = "abf-producer"
	p := newClient(t, n.Addr(), kgo.TransactionalID(id), kgo.DefaultProduceTopic("abf"), kgo.MaxVersions(versions),
		kgo.TransactionTimeout(30*time.Second))
	produce := func(v string) error {
		return p.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr()
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := produce("aborted-1"); err != nil {
		t.Fatal(err)
	}

	// Abort it behind the producer's back with its own id and epoch.
	described, err := adm.DescribeTransactions(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := described[id]
	if !ok || d.Err != nil || d.State != "Ongoing" {
		t.Fatalf("describe %s: %+v %v", id, d, d.Err)
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, d.ProducerID, d.ProducerEpoch, false
	v4 := kversion.Stable()
	v4.SetMaxKeyVersion(int16(kmsg.EndTxn), 4) // v5 would bump the epoch (transaction version 2)
	resp, err := end.RequestWith(ctx, newClient(t, n.Addr(), kgo.MaxVersions(v4)))
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("EndTxn abort: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
	}
	for {
		described, err := adm.DescribeTransactions(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if s := described[id].State; s == "CompleteAbort" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the abort did not complete: %+v", described[id])
		case <-time.After(10 * time.Millisecond):
		}
	}

	if err := produce("aborted-2"); !errors.Is(err, kerr.TransactionAbortable) {
		t.Fatalf("produce after the outside abort: %v, want TRANSACTION_ABORTABLE", err)
	}
	if err := p.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatalf("abort after TRANSACTION_ABORTABLE: %v", err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := produce("committed"); err != nil {
		t.Fatalf("produce in the next transaction: %v", err)
	}
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if got := readIsolated(t, ctx, n.Addr(), "abf", kgo.ReadCommitted(), 1); len(got) != 1 || got[0] != "committed" {
		t.Fatalf("read_committed: %v", got)
	}
}

// TestTxnOffsetCommitVerified: KIP-890 part 1 for transactional offset
// commits. A TxnOffsetCommit v0-4 whose group's offsets partition is not
// in the producer's transaction (no AddOffsetsToTxn, or the transaction
// was aborted meanwhile) is refused, TRANSACTION_ABORTABLE to v4 and
// INVALID_TXN_STATE before, and writes nothing (no pending offset, no
// hanging transaction in __consumer_offsets); after AddOffsetsToTxn it is
// accepted.
func TestTxnOffsetCommitVerified(t *testing.T) {
	n := startNode(t, "", txnSettings)
	w := dial(t, n.Addr())
	mustCreate(t, w, "abo", 1, nil)
	const id, grp = "abo-producer", "abo-group"
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey, fc.CoordinatorType = grp, 0
	w.roundTrip(fc, 3) // creates __consumer_offsets (commit below retries while it loads)
	pid, epoch := w.mustInitTxnProducer(id, 4)
	commit := func(version int16, offset int64) int16 {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			req := kmsg.NewPtrTxnOffsetCommitRequest()
			req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch, req.Generation = id, grp, pid, epoch, -1
			rt := kmsg.NewTxnOffsetCommitRequestTopic()
			rt.Topic = "abo"
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = 0, offset
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			code := w.roundTrip(req, version).(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
			if code != kerr.CoordinatorLoadInProgress.Code && code != kerr.CoordinatorNotAvailable.Code || time.Now().After(deadline) {
				return code
			}
		}
	}
	// pending reports whether the group has a transactional offset
	// commit pending (OffsetFetch require_stable: UNSTABLE_OFFSET_COMMIT).
	pending := func() bool {
		t.Helper()
		req := kmsg.NewPtrOffsetFetchRequest()
		req.RequireStable = true
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = grp
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.Partitions = "abo", []int32{0}
		g.Topics = append(g.Topics, gt)
		req.Groups = append(req.Groups, g)
		resp := w.roundTrip(req, 8).(*kmsg.OffsetFetchResponse)
		code := resp.Groups[0].ErrorCode
		for _, rt := range resp.Groups[0].Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != 0 {
					code = rp.ErrorCode
				}
			}
		}
		return code == kerr.UnstableOffsetCommit.Code
	}
	want := func(what string, got, want int16) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: %v, want %v", what, kerr.ErrorForCode(got), kerr.ErrorForCode(want))
		}
	}

	want("TxnOffsetCommit v3, no AddOffsetsToTxn", commit(3, 5), kerr.InvalidTxnState.Code)
	want("TxnOffsetCommit v4, no AddOffsetsToTxn", commit(4, 5), kerr.TransactionAbortable.Code)
	if pending() {
		t.Fatal("a refused TxnOffsetCommit left a pending offset commit")
	}

	addOffsets := kmsg.NewPtrAddOffsetsToTxnRequest()
	addOffsets.TransactionalID, addOffsets.ProducerID, addOffsets.ProducerEpoch, addOffsets.Group = id, pid, epoch, grp
	want("AddOffsetsToTxn", w.roundTrip(addOffsets, 3).(*kmsg.AddOffsetsToTxnResponse).ErrorCode, 0)
	want("TxnOffsetCommit v4, added", commit(4, 7), 0)
	if !pending() {
		t.Fatal("no pending offset commit after an accepted TxnOffsetCommit")
	}

	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, pid, epoch, false
	want("EndTxn v4 abort", w.roundTrip(end, 4).(*kmsg.EndTxnResponse).ErrorCode, 0)
	for deadline := time.Now().Add(20 * time.Second); pending(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the abort marker did not reach the offsets partition")
		}
	}
	// A late TxnOffsetCommit of the aborted transaction (the coordinator
	// answers CONCURRENT_TRANSACTIONS until it completes the abort).
	code := commit(4, 9)
	for deadline := time.Now().Add(20 * time.Second); code == kerr.ConcurrentTransactions.Code && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		code = commit(4, 9)
	}
	want("late TxnOffsetCommit v4", code, kerr.TransactionAbortable.Code)
	if pending() {
		t.Fatal("a late TxnOffsetCommit opened a transaction in __consumer_offsets")
	}
}
