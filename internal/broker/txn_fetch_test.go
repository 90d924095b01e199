package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/record"
)

// TestFetchReadCommitted drives the real Fetch and ListOffsets handlers on
// a partition holding a committed, an aborted and an open transaction (the
// markers written as WriteTxnMarkers writes them): read_uncommitted reads
// to the high watermark with no aborted list; read_committed stops at the
// last stable offset (the open transaction's first offset) and lists the
// aborted transaction it overlaps, so the client can drop its records.
func TestFetchReadCommitted(t *testing.T) {
	br := benchBroker(t)
	p := br.topic("bench").partition(0)
	if p == nil || !p.IsLeader() {
		t.Fatal("bench-0 not led here")
	}
	now := time.Now().UnixMilli() // not 0: an old timestamp rolls the segment
	txnBatch := func(pid int64, n int) record.Batch {
		recs := make([]kmsg.Record, n)
		for i := range recs {
			recs[i] = kmsg.Record{OffsetDelta: int32(i), Value: []byte("v")}
		}
		b, err := record.Build(record.Header{Attributes: record.AttrTransactional, FirstTimestamp: now, MaxTimestamp: now, LastOffsetDelta: int32(n - 1), ProducerID: pid, BaseSequence: 0}, recs)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	mustAppend := func(b record.Batch) {
		// As after the coordinator's KIP-890 verification.
		g := p.BeginVerification(b.ProducerID(), b.ProducerEpoch(), false)
		if _, err := p.Append(b, partition.AppendOptions{LogAppendTime: -1, Verification: g}); err != nil {
			t.Fatal(err)
		}
	}
	marker := func(pid int64, commit bool) {
		if _, err := p.AppendMarker(partition.MarkerOptions{ProducerID: pid, Commit: commit, Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	mustAppend(txnBatch(1, 2)) // 0-1 committed by 2
	marker(1, true)
	mustAppend(txnBatch(2, 3)) // 3-5 aborted by 6
	marker(2, false)
	mustAppend(txnBatch(3, 1)) // 7, open
	if hw, lso := p.HighWatermark(), p.LastStableOffset(); hw != 8 || lso != 7 {
		t.Fatalf("hw %d lso %d, want 8 and 7", hw, lso)
	}

	fetch := func(isolation int8, version int16) kmsg.FetchResponseTopicPartition {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(version)
		req.ReplicaID, req.MaxBytes, req.IsolationLevel = -1, 1<<20, isolation
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "bench", br.topic("bench").meta.ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 1<<20, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := unsplice(t, br, br.Handle(context.Background(), &Request{Key: req.Key(), Version: version, Msg: req, Conn: &ConnInfo{}})()).(*kmsg.FetchResponse)
		return resp.Topics[0].Partitions[0]
	}
	lastOffset := func(data []byte) int64 {
		last := int64(-1)
		for len(data) > 0 {
			n, err := record.Peek(data)
			if err != nil {
				t.Fatal(err)
			}
			last = record.Batch(data[:n]).LastOffset()
			data = data[n:]
		}
		return last
	}
	for _, v := range []int16{4, 12, 16} {
		u := fetch(0, v)
		if u.ErrorCode != 0 || u.HighWatermark != 8 || u.LastStableOffset != 7 || lastOffset(u.RecordBatches) != 7 || len(u.AbortedTransactions) != 0 {
			t.Fatalf("v%d read_uncommitted: code %d hw %d lso %d last %d aborted %v", v, u.ErrorCode, u.HighWatermark, u.LastStableOffset, lastOffset(u.RecordBatches), u.AbortedTransactions)
		}
		c := fetch(1, v)
		if c.ErrorCode != 0 || c.LastStableOffset != 7 || lastOffset(c.RecordBatches) != 6 {
			t.Fatalf("v%d read_committed: code %d lso %d last %d", v, c.ErrorCode, c.LastStableOffset, lastOffset(c.RecordBatches))
		}
		if len(c.AbortedTransactions) != 1 || c.AbortedTransactions[0].ProducerID != 2 || c.AbortedTransactions[0].FirstOffset != 3 {
			t.Fatalf("v%d read_committed aborted list: %+v", v, c.AbortedTransactions)
		}
	}

	list := func(isolation int8) int64 {
		req := kmsg.NewPtrListOffsetsRequest()
		req.SetVersion(7)
		req.ReplicaID, req.IsolationLevel = -1, isolation
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "bench"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp, rp.CurrentLeaderEpoch = -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := br.Handle(context.Background(), &Request{Key: req.Key(), Version: 7, Msg: req, Conn: &ConnInfo{}})().(*kmsg.ListOffsetsResponse)
		return resp.Topics[0].Partitions[0].Offset
	}
	if u, c := list(0), list(1); u != 8 || c != 7 {
		t.Fatalf("ListOffsets latest: read_uncommitted %d, read_committed %d; want 8 and 7", u, c)
	}

	// The open transaction commits: the LSO reaches the high watermark.
	marker(3, true)
	if c := fetch(1, 12); c.LastStableOffset != 9 || lastOffset(c.RecordBatches) != 8 {
		t.Fatalf("after commit: lso %d last %d", c.LastStableOffset, lastOffset(c.RecordBatches))
	}
}
