package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/client"
)

// TestTxnHangingFoundAndAborted: with KIP-890 verification off
// (transaction.partition.verification.enable=false, Kafka before 3.6), a
// transactional batch written to a partition never added to the
// transaction opens a transaction no coordinator will end: it holds the
// last stable offset back. DescribeProducers shows it, find-hanging
// (client.FindHanging, trib txn find-hanging) lists it, and the admin
// abort (WriteTxnMarkers, KIP-664) ends it: the LSO moves on and
// read_committed readers see the later records but never the hanging
// one. A transaction timeout above transaction.max.timeout.ms is refused.
func TestTxnHangingFoundAndAborted(t *testing.T) {
	settings := map[string]string{"transaction.partition.verification.enable": "false", "transaction.max.timeout.ms": "60000"}
	for k, v := range txnSettings {
		settings[k] = v
	}
	n := startNode(t, "", settings)
	w := dial(t, n.Addr())
	mustCreate(t, w, "h", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())

	initReq := func(timeoutMs int32) *kmsg.InitProducerIDResponse { return w.initTxnProducer("hang", timeoutMs, 4) }
	if r := initReq(120000); r.ErrorCode != kerr.InvalidTransactionTimeout.Code {
		t.Fatalf("timeout above transaction.max.timeout.ms: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	r := initReq(30000)
	if r.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	req := produceReq("h", 0, -1, txnBatch(r.ProducerID, r.ProducerEpoch, 0, "hanging"))
	req.TransactionID = kmsg.StringPtr("hang")
	if code := w.roundTrip(req, 11).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("unverified transactional produce: %v", kerr.ErrorForCode(code))
	}
	plain := newClient(t, n.Addr(), kgo.DefaultProduceTopic("h"))
	if err := plain.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	lso := func() int64 {
		req := kmsg.NewPtrListOffsetsRequest()
		req.IsolationLevel = 1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "h"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return w.roundTrip(req, 4).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].Offset
	}
	if got := lso(); got != 0 {
		t.Fatalf("last stable offset with the hanging transaction: %d, want 0", got)
	}

	ds, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"h": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	d, ok := ds["h"].Partitions[0].ActiveProducers[r.ProducerID]
	if !ok || d.CurrentTxnStartOffset != 0 || d.ProducerEpoch != r.ProducerEpoch || d.LastSequence != 0 {
		t.Fatalf("DescribeProducers: %+v", ds["h"].Partitions[0])
	}
	var out strings.Builder
	if err := client.DescribeProducers(ctx, adm, []string{"h"}, nil, &out); err != nil || !strings.Contains(out.String(), "TXN-START-OFFSET") {
		t.Fatalf("trib producers describe: %v\n%s", err, out.String())
	}

	// Not hanging yet under a long timeout; hanging past a short one.
	if hs, err := client.FindHanging(ctx, adm, nil, time.Hour, time.Now()); err != nil || len(hs) != 0 {
		t.Fatalf("find-hanging within the timeout: %+v %v", hs, err)
	}
	hs, err := client.FindHanging(ctx, adm, nil, time.Minute, time.Now().Add(2*time.Minute))
	if err != nil || len(hs) != 1 || hs[0].Topic != "h" || hs[0].StartOffset != 0 || hs[0].ProducerID != r.ProducerID {
		t.Fatalf("find-hanging: %+v %v", hs, err)
	}
	t.Logf("hanging: %+v", hs[0])

	if _, err := client.AbortTransaction(ctx, adm, "h", 0, 0); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if got := lso(); got != 3 {
		t.Fatalf("last stable offset after the abort: %d, want 3 (record, record, marker)", got)
	}
	c := newClient(t, n.Addr(), kgo.ConsumeTopics("h"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	fs := c.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatal(err)
	}
	var got []string
	fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	if len(got) != 1 || got[0] != "after" {
		t.Fatalf("read_committed after the abort: %v", got)
	}
	if hs, err := client.FindHanging(ctx, adm, nil, time.Minute, time.Now().Add(2*time.Minute)); err != nil || len(hs) != 0 {
		t.Fatalf("find-hanging after the abort: %+v %v", hs, err)
	}
}
