package server

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/broker"
	"github.com/tributary/tributary/internal/protocol"
)

// benchProduceRequest frames a Produce v9 (flexible) request body, as read
// off the wire after the size prefix: header v2 then one partition with one
// batch of n records of size bytes.
func benchProduceRequest(n, size int) []byte {
	var recs []byte
	val := make([]byte, size)
	for i := range n {
		r := kmsg.Record{OffsetDelta: int32(i), Value: val}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	rb := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(n - 1), FirstTimestamp: 1, MaxTimestamp: 1,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(n), Records: recs}
	batch := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(batch[8:], uint32(len(batch)-12))
	binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)))

	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks = 1
	req.TimeoutMillis = 30000
	t := kmsg.NewProduceRequestTopic()
	t.Topic = "bench"
	p := kmsg.NewProduceRequestTopicPartition()
	p.Records = batch
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)

	buf := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, 7)
	buf = binary.BigEndian.AppendUint16(buf, 5)
	buf = append(buf, "bench"...)
	buf = append(buf, 0) // no header tags
	return req.AppendTo(buf)
}

// registryOnly answers Versions from the broker's real API registry (what
// ApiVersions advertises); decode calls nothing else, so the benchmark needs
// no running broker.
type registryOnly map[int16][2]int16

func (r registryOnly) Versions(key int16) (int16, int16, bool) {
	v, ok := r[key]
	return v[0], v[1], ok
}
func (registryOnly) Handle(context.Context, *protocol.Request) protocol.Pending { panic("not called") }
func (registryOnly) UnsupportedApiVersions() kmsg.Response                      { panic("not called") }
func (registryOnly) Written(kmsg.Response)                                      {}

// BenchmarkDecodeProduce measures header parse plus kmsg decode of a
// Produce request carrying 16 × 1 KiB records (the batch bytes are aliased,
// not copied).
func BenchmarkDecodeProduce(b *testing.B) {
	reg := registryOnly{}
	for _, k := range broker.AdvertisedAPIs() {
		reg[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	s := New(reg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	buf := benchProduceRequest(16, 1024)
	info := &protocol.ConnInfo{}
	if _, _, err := s.decode(buf, info); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.decode(buf, info); err != nil {
			b.Fatal(err)
		}
	}
}
