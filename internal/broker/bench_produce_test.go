package broker

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkProducePath runs Produce requests through the real handler (the
// append stage included) on one node: one v2 batch of 16 x 1 KiB records
// per partition, for 1 and 6 partitions, acks=1 and acks=all (which also
// fsyncs). Its allocs/op is the check that the hot path allocates per
// request, not per batch: the 6-partition figure must not be 6 times the
// 1-partition one's per-batch share.
func BenchmarkProducePath(b *testing.B) {
	for _, parts := range []int{1, 6} {
		for _, acks := range []int16{1, -1} {
			b.Run(fmt.Sprintf("partitions=%d/acks=%d", parts, acks), func(b *testing.B) {
				benchProduce(b, parts, acks)
			})
		}
	}
}

func benchProduce(b *testing.B, parts int, acks int16) {
	br := benchBroker(b)
	ctx := context.Background()
	batch := v2Batch(16, 1024)
	req := benchTopic(b, br, "p", parts, acks, batch)
	b.SetBytes(int64(parts * len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		resp := br.Handle(ctx, req)().(*kmsg.ProduceResponse)
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != 0 {
				b.Fatalf("produce: %d", p.ErrorCode)
			}
		}
		br.Written(resp)
	}
}

// benchTopic creates topic name with parts partitions on br and returns a
// Produce request (v9) of batch to each of them with acks. The append
// stamps offsets into the request's records in place, so it can be sent
// again and again.
func benchTopic(b *testing.B, br *Broker, name string, parts int, acks int16, batch []byte) *Request {
	ctx := context.Background()
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.SetVersion(7)
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = name, int32(parts), 1
	ct.Topics = append(ct.Topics, t)
	if resp := br.Handle(ctx, &Request{Key: ct.Key(), Version: 7, Msg: ct, Conn: &ConnInfo{}})().(*kmsg.CreateTopicsResponse); resp.Topics[0].ErrorCode != 0 {
		b.Fatalf("create: %d", resp.Topics[0].ErrorCode)
	}
	pr := kmsg.NewPtrProduceRequest()
	pr.SetVersion(9)
	pr.Acks, pr.TimeoutMillis = acks, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = name
	for i := range parts {
		p := kmsg.NewProduceRequestTopicPartition()
		p.Partition = int32(i)
		p.Records = append([]byte(nil), batch...)
		rt.Partitions = append(rt.Partitions, p)
	}
	pr.Topics = append(pr.Topics, rt)
	return &Request{Key: pr.Key(), Version: 9, Msg: pr, Conn: &ConnInfo{}}
}
