package record

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Header is the header of a batch to build; the codec in Attributes is
// applied to the records.
type Header struct {
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

// HeaderOf returns b's header fields.
func HeaderOf(b Batch) Header {
	return Header{
		BaseOffset: b.BaseOffset(), PartitionLeaderEpoch: b.PartitionLeaderEpoch(), Attributes: b.Attributes(),
		LastOffsetDelta: b.LastOffsetDelta(), FirstTimestamp: b.FirstTimestamp(), MaxTimestamp: b.MaxTimestamp(),
		ProducerID: b.ProducerID(), ProducerEpoch: b.ProducerEpoch(), BaseSequence: b.BaseSequence(),
	}
}

var (
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

// EncodeRecord appends r, with its Length computed, to dst.
func EncodeRecord(dst []byte, r kmsg.Record) []byte {
	r.Length = 0
	body := r.AppendTo(nil)[1:] // a zero Length is one varint byte
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

// Build encodes recs into a v2 batch with header h, compressing with the
// codec in h.Attributes, and computes the length and CRC.
func Build(h Header, recs []kmsg.Record) (Batch, error) {
	var raw []byte
	for _, r := range recs {
		raw = EncodeRecord(raw, r)
	}
	return assemble(h, int32(len(recs)), raw)
}

// assemble compresses the encoded records raw with h's codec and frames
// them as a batch.
func assemble(h Header, count int32, raw []byte) (Batch, error) {
	codec := int8(h.Attributes & AttrCompressionMask)
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
		FirstSequence: h.BaseSequence, NumRecords: count, Records: raw,
	}
	out := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(out[offBatchLength:], uint32(len(out)-LogOverhead))
	binary.BigEndian.PutUint32(out[offCRC:], crc32.Checksum(out[offAttributes:], castagnoli))
	return Batch(out), nil
}

// Recompress returns b with its records compressed by codec instead (0:
// none), as a broker does for a topic whose compression.type is not
// "producer". Records are not decoded, only decompressed; a batch already
// in codec is returned as is.
func (b Batch) Recompress(codec int8) (Batch, error) {
	if b.Compression() == codec {
		return b, nil
	}
	raw := []byte(b[HeaderSize:])
	if c := b.Compression(); c != 0 {
		decompOnce.Do(func() { decomp = kgo.DefaultDecompressor() })
		var err error
		if raw, err = decomp.Decompress(raw, kgo.CompressionCodecType(c)); err != nil {
			return nil, fmt.Errorf("%w: decompress: %v", ErrCorrupt, err)
		}
	}
	h := HeaderOf(b)
	h.Attributes = h.Attributes&^AttrCompressionMask | int16(codec)
	return assemble(h, b.RecordCount(), raw)
}

// CodecByName maps Kafka's compression.type names to codec ids; "producer"
// maps to -1 (keep the producer's codec).
func CodecByName(name string) int8 {
	switch name {
	case "uncompressed", "none":
		return 0
	case "gzip":
		return 1
	case "snappy":
		return 2
	case "lz4":
		return 3
	case "zstd":
		return 4
	}
	return -1
}

// KV is one record's key and value; a nil Value is a tombstone.
type KV struct{ Key, Value []byte }

// CoordinatorHeader is the header of a batch a coordinator writes to its
// internal topic (__consumer_offsets, __transaction_state,
// __share_group_state) at nowMs: base offset 0 (the partition assigns
// offsets), no producer, uncompressed.
func CoordinatorHeader(nowMs int64) Header {
	return Header{PartitionLeaderEpoch: -1, FirstTimestamp: nowMs, MaxTimestamp: nowMs, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
}

// BuildKV encodes kvs as one uncompressed batch under h (its
// LastOffsetDelta is set from kvs).
func BuildKV(h Header, kvs []KV) []byte {
	recs := make([]kmsg.Record, len(kvs))
	for i, r := range kvs {
		recs[i] = kmsg.Record{OffsetDelta: int32(i), Key: r.Key, Value: r.Value}
	}
	h.LastOffsetDelta = int32(len(kvs) - 1)
	b, err := Build(h, recs)
	if err != nil {
		panic(err) // uncompressed: Build cannot fail
	}
	return b
}

// KVs returns the keys and values of a stored batch, as a coordinator
// replays its internal topic: none for a control batch (transaction
// markers carry no state), ErrCorrupt for a short or malformed one.
func KVs(raw []byte) ([]KV, error) {
	if len(raw) < HeaderSize {
		return nil, fmt.Errorf("%w: short batch", ErrCorrupt)
	}
	b := Batch(raw)
	if b.IsControl() {
		return nil, nil
	}
	recs, err := b.Records()
	if err != nil {
		return nil, err
	}
	out := make([]KV, len(recs))
	for i, r := range recs {
		out[i] = KV{Key: r.Key, Value: r.Value}
	}
	return out, nil
}
