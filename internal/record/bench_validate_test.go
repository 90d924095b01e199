package record

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// benchBatch encodes an uncompressed v2 batch of n records of size bytes
// with kmsg, then fills in the batch length and CRC.
func benchBatch(n, size int) []byte {
	var recs []byte
	val := make([]byte, size)
	for i := range n {
		r := kmsg.Record{OffsetDelta: int32(i), Value: val}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // body size: AppendTo wrote a 1-byte varint(0)
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(n - 1), FirstTimestamp: 1, MaxTimestamp: 1,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(n), Records: recs}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	return out
}

// BenchmarkValidate measures produce-path batch validation (lengths, magic,
// CRC-32C over the whole batch) for 16 × 1 KiB records.
func BenchmarkValidate(b *testing.B) {
	buf := benchBatch(16, 1024)
	if _, err := Validate(buf); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Validate(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecords measures the cold-path decode of every record.
func BenchmarkRecords(b *testing.B) {
	buf := benchBatch(16, 1024)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		rs, err := Batch(buf).Records()
		if err != nil || len(rs) != 16 {
			b.Fatal(len(rs), err)
		}
	}
}
