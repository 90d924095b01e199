package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/record"
)

var (
	castagnoli  = crc32.MakeTable(crc32.Castagnoli)
	compOnce    sync.Once
	compressors = map[int8]kgo.Compressor{}
)

func compressor(codec int8) kgo.Compressor {
	compOnce.Do(func() {
		for c, cc := range map[int8]kgo.CompressionCodec{1: kgo.GzipCompression(), 2: kgo.SnappyCompression(), 3: kgo.Lz4Compression(), 4: kgo.ZstdCompression()} {
			if comp, err := kgo.DefaultCompressor(cc); err == nil && comp != nil {
				compressors[c] = comp
			}
		}
	})
	return compressors[codec]
}

// batchHeader is the header of a batch to build; Attributes carry the
// compression codec to apply.
type batchHeader struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
}

func headerOf(b record.Batch) batchHeader {
	return batchHeader{
		BaseOffset: b.BaseOffset(), PartitionLeaderEpoch: b.PartitionLeaderEpoch(), Attributes: b.Attributes(),
		LastOffsetDelta: b.LastOffsetDelta(), FirstTimestamp: b.FirstTimestamp(), MaxTimestamp: b.MaxTimestamp(),
		ProducerID: b.ProducerID(), ProducerEpoch: b.ProducerEpoch(), BaseSequence: b.BaseSequence(),
	}
}

// encodeRecord appends r (its Length computed here) to dst.
func encodeRecord(dst []byte, r kmsg.Record) []byte {
	r.Length = 0
	body := r.AppendTo(nil)[1:] // a zero Length is one varint byte
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

// buildBatch encodes recs into a v2 batch with header h, compressing with
// the codec in h.Attributes, and computes length and CRC.
func buildBatch(h batchHeader, recs []kmsg.Record) (record.Batch, error) {
	var raw []byte
	for _, r := range recs {
		raw = encodeRecord(raw, r)
	}
	codec := int8(h.Attributes & record.AttrCompressionMask)
	if codec != 0 {
		comp := compressor(codec)
		if comp == nil {
			return nil, fmt.Errorf("compression codec %d unavailable", codec)
		}
		var buf bytes.Buffer
		out, used := comp.Compress(&buf, raw)
		if int8(used) != codec || out == nil {
			return nil, fmt.Errorf("compressing with codec %d failed", codec)
		}
		raw = append([]byte(nil), out...)
	}
	rb := kmsg.RecordBatch{
		FirstOffset: h.BaseOffset, PartitionLeaderEpoch: h.PartitionLeaderEpoch, Magic: 2,
		Attributes: h.Attributes, LastOffsetDelta: h.LastOffsetDelta, FirstTimestamp: h.FirstTimestamp,
		MaxTimestamp: h.MaxTimestamp, ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch,
		FirstSequence: h.BaseSequence, NumRecords: int32(len(recs)), Records: raw,
	}
	out := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-record.LogOverhead))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], castagnoli))
	return record.Batch(out), nil
}
