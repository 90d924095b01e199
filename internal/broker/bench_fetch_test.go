package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkFetchPath runs consumer Fetch requests (v12) through the real
// handler on one node: 6 partitions, one 16 x 1 KiB batch read from each
// per request, without a fetch session and in an incremental one (KIP-227;
// every partition's offset changes, so each is in the request). Its
// allocs/op is what a fetch allocates per request.
func BenchmarkFetchPath(b *testing.B) {
	for _, session := range []bool{false, true} {
		name := "session=none"
		if session {
			name = "session=incremental"
		}
		b.Run(name, func(b *testing.B) { benchFetch(b, session) })
	}
}

func benchFetch(b *testing.B, session bool) {
	const parts, batches = 6, 256
	br := benchBroker(b)
	ctx := context.Background()
	batch := v2Batch(16, 1024)
	produce := benchTopic(b, br, "f", parts, 1, batch)
	for range batches {
		resp := br.Handle(ctx, produce)().(*kmsg.ProduceResponse)
		if c := resp.Topics[0].Partitions[0].ErrorCode; c != 0 {
			b.Fatalf("produce: %d", c)
		}
	}

	fr := kmsg.NewPtrFetchRequest()
	fr.SetVersion(12)
	fr.ReplicaID, fr.MaxBytes, fr.MinBytes, fr.SessionEpoch = -1, 1<<20, 1, -1
	if session {
		fr.SessionEpoch = 0 // a full fetch opens the session
	}
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "f"
	for i := range parts {
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition, fp.PartitionMaxBytes = int32(i), int32(len(batch))
		ft.Partitions = append(ft.Partitions, fp)
	}
	fr.Topics = append(fr.Topics, ft)
	req := &Request{Key: fr.Key(), Version: 12, Msg: fr, Conn: &ConnInfo{}}
	offset := int64(0)
	b.SetBytes(int64(parts * len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		for i := range fr.Topics[0].Partitions {
			fr.Topics[0].Partitions[i].FetchOffset = offset
		}
		resp := br.Handle(ctx, req)().(*kmsg.FetchResponse)
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != parts {
			b.Fatalf("fetch: error %d, %d topics", resp.ErrorCode, len(resp.Topics))
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
				b.Fatalf("partition %d: error %d, %d bytes", p.Partition, p.ErrorCode, len(p.RecordBatches))
			}
		}
		if session {
			fr.SessionID, fr.SessionEpoch = resp.SessionID, fr.SessionEpoch+1
		}
		br.Written(resp)
		if offset += 16; offset == batches*16 {
			offset = 0
		}
	}
}
