package tests

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnBatch is makeBatch with the transactional attribute.
func txnBatch(pid int64, epoch int16, seq int32, values ...string) []byte {
	b := makeBatch(pid, epoch, seq, values...)
	attrs := binary.BigEndian.Uint16(b[21:])
	binary.BigEndian.PutUint16(b[21:], attrs|0x10)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

// TestTxnKIP890Wire drives KIP-890 over the wire: ApiVersions finalizes
// transaction.version 2; before Produce v12 a transactional batch for a
// partition that was never added to the transaction is refused
// (INVALID_TXN_STATE, nothing written: no hanging transaction), and
// accepted once AddPartitionsToTxn added it; from Produce v12 on the
// leader has the coordinator add the partition itself; EndTxn v5 bumps the
// epoch, answers the new one, and a retry with the old epoch gets the same
// answer; an abort with nothing open succeeds.
func TestTxnKIP890Wire(t *testing.T) {
	n := startNode(t, "", txnSettings)
	w := dial(t, n.Addr())
	mustCreate(t, w, "v", 1, nil)

	av := w.roundTrip(kmsg.NewPtrApiVersionsRequest(), 3).(*kmsg.ApiVersionsResponse)
	tv := int16(-1)
	for _, f := range av.FinalizedFeatures {
		if f.Name == "transaction.version" {
			tv = f.MaxVersionLevel
		}
	}
	if tv != 2 {
		t.Fatalf("finalized transaction.version = %d, want 2", tv)
	}

	init := func(id string) (int64, int16) { return w.mustInitTxnProducer(id, 5) }
	produce := func(id string, version int16, batch []byte) int16 {
		t.Helper()
		req := produceReq("v", 0, -1, batch)
		req.TransactionID = kmsg.StringPtr(id)
		resp := w.roundTrip(req, version).(*kmsg.ProduceResponse)
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	endOffset := func() int64 {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "v"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return w.roundTrip(req, 4).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].Offset
	}
	endTxn := func(id string, pid int64, epoch int16, commit bool, version int16) *kmsg.EndTxnResponse {
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
		return w.roundTrip(req, version).(*kmsg.EndTxnResponse)
	}

	// Part 1: not added, refused.
	pid, epoch := init("old-client")
	if code := produce("old-client", 10, txnBatch(pid, epoch, 0, "not-added")); code != kerr.InvalidTxnState.Code {
		t.Fatalf("unadded partition, Produce v10: %v", kerr.ErrorForCode(code))
	}
	if code := produce("old-client", 11, txnBatch(pid, epoch, 0, "not-added")); code != kerr.TransactionAbortable.Code {
		t.Fatalf("unadded partition, Produce v11: %v", kerr.ErrorForCode(code))
	}
	if end := endOffset(); end != 0 {
		t.Fatalf("the refused batch was written: end offset %d", end)
	}
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = "old-client", pid, epoch
	at := kmsg.NewAddPartitionsToTxnRequestTopic()
	at.Topic, at.Partitions = "v", []int32{0}
	add.Topics = append(add.Topics, at)
	if code := w.roundTrip(add, 3).(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("AddPartitionsToTxn: %v", kerr.ErrorForCode(code))
	}
	if code := produce("old-client", 11, txnBatch(pid, epoch, 0, "added")); code != 0 {
		t.Fatalf("added partition, Produce v11: %v", kerr.ErrorForCode(code))
	}
	if r := endTxn("old-client", pid, epoch, true, 3); r.ErrorCode != 0 {
		t.Fatalf("EndTxn v3: %v", kerr.ErrorForCode(r.ErrorCode))
	}

	// Part 2: Produce v12 adds the partition; EndTxn v5 bumps the epoch.
	pid, epoch = init("new-client")
	deadline := time.Now().Add(20 * time.Second)
	for code := produce("new-client", 12, txnBatch(pid, epoch, 0, "implicit")); code != 0; code = produce("new-client", 12, txnBatch(pid, epoch, 0, "implicit")) {
		if code != kerr.ConcurrentTransactions.Code && code != kerr.NotEnoughReplicas.Code || time.Now().After(deadline) {
			t.Fatalf("Produce v12 without AddPartitionsToTxn: %v", kerr.ErrorForCode(code))
		}
	}
	r := endTxn("new-client", pid, epoch, true, 5)
	if r.ErrorCode != 0 || r.ProducerID != pid || r.ProducerEpoch != epoch+1 {
		t.Fatalf("EndTxn v5: %v pid %d epoch %d, want %d/%d", kerr.ErrorForCode(r.ErrorCode), r.ProducerID, r.ProducerEpoch, pid, epoch+1)
	}
	if again := endTxn("new-client", pid, epoch, true, 5); again.ErrorCode != 0 && again.ErrorCode != kerr.ConcurrentTransactions.Code ||
		again.ErrorCode == 0 && again.ProducerEpoch != epoch+1 {
		t.Fatalf("retried EndTxn v5: %v epoch %d", kerr.ErrorForCode(again.ErrorCode), again.ProducerEpoch)
	}
	// The old epoch is fenced at the partition once the marker, which
	// carries the new one, has landed. EndTxn answers before the markers
	// are written (as Kafka's does); until then a batch with the old
	// epoch still belongs to the open transaction, so wait for the last
	// stable offset to pass the marker.
	lastStable := func() int64 {
		req := kmsg.NewPtrListOffsetsRequest()
		req.IsolationLevel = 1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "v"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return w.roundTrip(req, 4).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].Offset
	}
	for deadline := time.Now().Add(20 * time.Second); lastStable() != endOffset(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("commit marker not written: last stable offset %d, end %d", lastStable(), endOffset())
		}
	}
	if code := produce("new-client", 12, txnBatch(pid, epoch, 1, "zombie")); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("old epoch after EndTxn v5: %v", kerr.ErrorForCode(code))
	}
	epoch = r.ProducerEpoch
	for {
		r = endTxn("new-client", pid, epoch, false, 5) // nothing open
		if r.ErrorCode != kerr.ConcurrentTransactions.Code {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r.ErrorCode != 0 || r.ProducerEpoch != epoch+1 {
		t.Fatalf("empty abort v5: %v epoch %d", kerr.ErrorForCode(r.ErrorCode), r.ProducerEpoch)
	}

	// read_committed sees the two committed records only.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := newClient(t, n.Addr(), kgo.ConsumeTopics("v"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var got []string
	for len(got) < 2 {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v (got %v)", err, got)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) != 2 || got[0] != "added" || got[1] != "implicit" {
		t.Fatalf("read_committed: %v", got)
	}
}

// TestTxnFranzGoTransactionVersion2: franz-go opts into KIP-890 part 2
// when the cluster finalizes transaction.version 2 (no AddPartitionsToTxn
// or AddOffsetsToTxn, an epoch bump per EndTxn): five committed
// transactions leave the transactional id five epochs on.
func TestTxnFranzGoTransactionVersion2(t *testing.T) {
	n := startNode(t, "", txnSettings)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "tv2"); err != nil {
		t.Fatal(err)
	}
	p := newClient(t, n.Addr(), kgo.TransactionalID("tv2-producer"), kgo.DefaultProduceTopic("tv2"), kgo.TransactionTimeout(30*time.Second))
	describe := func() kadm.DescribedTransaction {
		ds, err := adm.DescribeTransactions(ctx, "tv2-producer")
		if err != nil {
			t.Fatal(err)
		}
		d, err := ds.On("tv2-producer", nil)
		if err != nil || d.Err != nil {
			t.Fatalf("describe: %v %v", err, d.Err)
		}
		return d
	}
	var first int16 = -1
	for i := range 5 {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for j := range 4 {
			if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i), byte(j)}}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
		if i == 0 {
			first = describe().ProducerEpoch
		}
		if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	if d := describe(); d.ProducerEpoch != first+5 {
		t.Fatalf("epoch after five transaction version 2 commits: %d, want %d", d.ProducerEpoch, first+5)
	}
	c := newClient(t, n.Addr(), kgo.ConsumeTopics("tv2"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	got := 0
	for got < 20 {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v (got %d)", err, got)
		}
		got += fs.NumRecords()
	}
}
