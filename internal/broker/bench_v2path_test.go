package broker

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/metadata"
)

// benchBroker starts a single-node broker with one topic "bench".
func benchBroker(b testing.TB) *Broker {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := b.TempDir()
	q, err := metadata.StartQuorum(metadata.QuorumConfig{NodeID: 1, Dir: filepath.Join(dir, "meta"), Listen: "127.0.0.1:0", Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	br, err := New(Config{NodeID: 1, DataDir: dir, Host: "127.0.0.1", Port: 9092, Logger: logger, Quorum: q})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { br.Close(); q.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := br.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.SetVersion(7)
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = "bench", 1, 1
	ct.Topics = append(ct.Topics, t)
	resp := br.Handle(ctx, &Request{Key: ct.Key(), Version: 7, Msg: ct, Conn: &ConnInfo{}})().(*kmsg.CreateTopicsResponse)
	if resp.Topics[0].ErrorCode != 0 {
		b.Fatalf("create: %d", resp.Topics[0].ErrorCode)
	}
	return br
}

// v2Batch is one v2 batch of n records of size bytes.
func v2Batch(n, size int) []byte {
	var recs []byte
	val := make([]byte, size)
	for i := range n {
		r := kmsg.Record{OffsetDelta: int32(i), Value: val}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	rb := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(n - 1), FirstTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli(),
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(n), Records: recs}
	batch := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(batch[8:], uint32(len(batch)-12))
	binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)))
	return batch
}

// BenchmarkProduceFetchV2Path runs the v2 hot path through the real
// handlers: a Produce v9 (acks=1) of one 16 x 1 KiB batch, then a Fetch v12
// of it, and checks the fetched bytes are the stored batch unconverted.
// Compare with the same benchmark on a build without message-format
// conversion to see that serving Produce v0-2 / Fetch v0-3 costs the v2
// path nothing (the only addition there is a version comparison).
func BenchmarkProduceFetchV2Path(b *testing.B) {
	br := benchBroker(b)
	ctx := context.Background()
	batch := v2Batch(16, 1024)
	conn := &ConnInfo{}
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	var offset int64
	for b.Loop() {
		pr := kmsg.NewPtrProduceRequest()
		pr.SetVersion(9)
		pr.Acks, pr.TimeoutMillis = 1, 30000
		t := kmsg.NewProduceRequestTopic()
		t.Topic = "bench"
		p := kmsg.NewProduceRequestTopicPartition()
		p.Records = append([]byte(nil), batch...) // the append stamps offsets in place
		t.Partitions = append(t.Partitions, p)
		pr.Topics = append(pr.Topics, t)
		presp := br.Handle(ctx, &Request{Key: pr.Key(), Version: 9, Msg: pr, Conn: conn})().(*kmsg.ProduceResponse)
		if c := presp.Topics[0].Partitions[0].ErrorCode; c != 0 {
			b.Fatalf("produce: %d", c)
		}

		fr := kmsg.NewPtrFetchRequest()
		fr.SetVersion(12)
		fr.ReplicaID, fr.MaxBytes, fr.SessionEpoch = -1, 1<<20, -1
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "bench"
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.FetchOffset, fp.PartitionMaxBytes = offset, 1<<20
		ft.Partitions = append(ft.Partitions, fp)
		fr.Topics = append(fr.Topics, ft)
		fresp := unsplice(b, br, br.Handle(ctx, &Request{Key: fr.Key(), Version: 12, Msg: fr, Conn: conn})()).(*kmsg.FetchResponse)
		got := fresp.Topics[0].Partitions[0].RecordBatches
		if len(got) != len(batch) || got[16] != 2 {
			b.Fatalf("fetched %d bytes (magic %d), want the %d-byte v2 batch", len(got), got[16], len(batch))
		}
		br.Written(fresp)
		offset += 16
	}
}
