package record

// Message format conversion for pre-0.11 clients (cold path).
//
// Produce v0-2 carry message sets of magic 0 or 1: a sequence of messages
// (offset, size, CRC-32 (IEEE) over the rest, magic, attributes, magic 1
// only: timestamp, key, value). A compressed message is a wrapper whose
// value is a compressed message set of the same magic (magic 0: inner
// offsets are absolute; magic 1: relative, and the wrapper carries the last
// inner offset). Fetch v0-1 read magic 0 and v2-3 magic 1.
//
// As Kafka 3.x did, the broker stores only v2 batches: UpConvert turns a
// produced message set into one v2 batch on write, DownConvert turns stored
// v2 batches into a message set on read. Neither is on the v2 path: produce
// v3+ and fetch v4+ never call them. Encoding and decoding of single
// messages is kmsg's (MessageV0, MessageV1); this file frames, checks CRCs,
// (de)compresses and maps fields.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrUnsupportedCompression is a codec the target format cannot carry:
// zstd in a message set (magic 0/1), for produce or for a down-converted
// fetch. Kafka answers UNSUPPORTED_COMPRESSION_TYPE.
var ErrUnsupportedCompression = errors.New("compression codec not supported by this message format")

// Message attribute bits (magic 0 and 1).
const (
	msgAttrCompression   = 0x07
	msgAttrLogAppendTime = 0x08 // magic 1 only
)

// legacyMsgOverhead is offset + size; the size counts the rest.
const legacyMsgOverhead = 12

// minMessageSize is the smallest message body (CRC onward) per magic:
// crc, magic, attributes, [timestamp], key length, value length.
func minMessageSize(magic int8) int {
	if magic == 0 {
		return 4 + 1 + 1 + 4 + 4
	}
	return 4 + 1 + 1 + 8 + 4 + 4
}

// Magic returns the format of the first message or batch in buf: the magic
// byte sits at offset 16 in every format (after offset and size, then the
// v0/v1 CRC or the v2 partition leader epoch). ok is false if buf is
// shorter.
func Magic(buf []byte) (magic int8, ok bool) {
	if len(buf) <= offMagic {
		return 0, false
	}
	return int8(buf[offMagic]), true
}

// legacyRecord is one record read from a message set.
type legacyRecord struct {
	key, value []byte
	timestamp  int64 // -1 for magic 0
}

// message is one decoded message of either magic.
type message struct {
	offset     int64
	magic      int8
	attrs      int8
	timestamp  int64
	key, value []byte
}

// readMessage decodes the message at the start of buf and returns it with
// its total size. The CRC is checked. A partial message is ErrTruncated.
func readMessage(buf []byte) (message, int, error) {
	if len(buf) < legacyMsgOverhead+5 {
		return message{}, 0, ErrTruncated
	}
	size := int(int32(binary.BigEndian.Uint32(buf[8:])))
	magic := int8(buf[16])
	if magic != 0 && magic != 1 {
		return message{}, 0, ErrMagic
	}
	if size < minMessageSize(magic) {
		return message{}, 0, ErrCorrupt
	}
	total := legacyMsgOverhead + size
	if total > len(buf) {
		return message{}, 0, ErrTruncated
	}
	buf = buf[:total]
	if crc32.ChecksumIEEE(buf[16:]) != binary.BigEndian.Uint32(buf[12:]) {
		return message{}, 0, ErrCorrupt
	}
	var m message
	var used int
	if magic == 0 {
		var v kmsg.MessageV0
		if err := v.ReadFrom(buf); err != nil {
			return message{}, 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		m = message{offset: v.Offset, magic: 0, attrs: v.Attributes, timestamp: -1, key: v.Key, value: v.Value}
		used = legacyMsgOverhead + 4 + 1 + 1 + 4 + len(v.Key) + 4 + len(v.Value)
	} else {
		var v kmsg.MessageV1
		if err := v.ReadFrom(buf); err != nil {
			return message{}, 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		m = message{offset: v.Offset, magic: 1, attrs: v.Attributes, timestamp: v.Timestamp, key: v.Key, value: v.Value}
		used = legacyMsgOverhead + 4 + 1 + 1 + 8 + 4 + len(v.Key) + 4 + len(v.Value)
	}
	if used != total {
		// Key and value lengths disagree with the message size.
		return message{}, 0, ErrCorrupt
	}
	return m, total, nil
}

// readMessageSet decodes every record of a produced message set, unwrapping
// compressed messages (one level, as Kafka allows). It returns the records
// and the codec of the last wrapper (0 if none). Every byte must belong to
// a whole message.
func readMessageSet(buf []byte) ([]legacyRecord, int8, error) {
	var out []legacyRecord
	codec := int8(0)
	for len(buf) > 0 {
		m, n, err := readMessage(buf)
		if err != nil {
			return nil, 0, err
		}
		buf = buf[n:]
		c := m.attrs & msgAttrCompression
		if c == 0 {
			out = append(out, legacyRecord{key: m.key, value: m.value, timestamp: m.timestamp})
			continue
		}
		switch {
		case c == 4:
			return nil, 0, ErrUnsupportedCompression
		case c > 4:
			return nil, 0, ErrInvalid
		}
		codec = c
		inner, err := decompressWrapper(m, c)
		if err != nil {
			return nil, 0, err
		}
		for len(inner) > 0 {
			im, n, err := readMessage(inner)
			if err != nil {
				return nil, 0, err
			}
			inner = inner[n:]
			if im.attrs&msgAttrCompression != 0 || im.magic != m.magic {
				// Kafka refuses nested compression and mixed magic.
				return nil, 0, ErrInvalid
			}
			ts := im.timestamp
			if m.magic == 1 && m.attrs&msgAttrLogAppendTime != 0 {
				ts = m.timestamp
			}
			out = append(out, legacyRecord{key: im.key, value: im.value, timestamp: ts})
		}
	}
	if len(out) == 0 {
		return nil, 0, ErrTruncated
	}
	return out, codec, nil
}

// decompressWrapper decompresses a wrapper message's value; an LZ4 frame
// in magic 0 may carry Kafka 0.8-0.9's header checksum (lz4legacy.go).
func decompressWrapper(m message, codec int8) ([]byte, error) {
	v := m.value
	if codec == 3 && m.magic == 0 {
		v = lz4FrameChecksum(v, false)
	}
	return decompress(v, codec)
}

func decompress(b []byte, codec int8) ([]byte, error) {
	decompOnce.Do(func() { decomp = kgo.DefaultDecompressor() })
	out, err := decomp.Decompress(b, kgo.CompressionCodecType(codec))
	if err != nil {
		return nil, fmt.Errorf("%w: decompress: %v", ErrCorrupt, err)
	}
	return out, nil
}

// UpConvert turns a produced message set (magic 0 or 1, Produce v0-2) into
// one v2 batch, as Kafka 3.x's log validator did: every record, wrappers
// unwrapped, goes into a single batch compressed with the last wrapper's
// codec (none if there was none); magic 0 records get no timestamp (-1);
// no producer id; offsets are the broker's to assign. Every message's CRC
// is checked (ErrCorrupt). Data that already is a v2 batch is returned
// unchanged: Kafka did not check the magic of Produce v0-2.
func UpConvert(set []byte) ([]byte, error) {
	if m, ok := Magic(set); ok && m == 2 {
		return set, nil
	}
	recs, codec, err := readMessageSet(set)
	if err != nil {
		return nil, err
	}
	first, maxTs := recs[0].timestamp, int64(-1)
	krs := make([]kmsg.Record, len(recs))
	for i, r := range recs {
		maxTs = max(maxTs, r.timestamp)
		krs[i] = kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: r.timestamp - first, Key: r.key, Value: r.value}
	}
	h := Header{
		PartitionLeaderEpoch: -1, Attributes: int16(codec), LastOffsetDelta: int32(len(recs) - 1),
		FirstTimestamp: first, MaxTimestamp: maxTs, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}
	b, err := Build(h, krs)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// appendMessage encodes one message of magic 0 or 1 with its size and CRC.
func appendMessage(dst []byte, magic int8, offset int64, attrs int8, ts int64, key, value []byte) []byte {
	start := len(dst)
	if magic == 0 {
		m := kmsg.MessageV0{Offset: offset, Magic: 0, Attributes: attrs, Key: key, Value: value}
		dst = m.AppendTo(dst)
	} else {
		m := kmsg.MessageV1{Offset: offset, Magic: 1, Attributes: attrs, Timestamp: ts, Key: key, Value: value}
		dst = m.AppendTo(dst)
	}
	msg := dst[start:]
	binary.BigEndian.PutUint32(msg[8:], uint32(len(msg)-legacyMsgOverhead))
	binary.BigEndian.PutUint32(msg[12:], crc32.ChecksumIEEE(msg[16:]))
	return dst
}

// DownConvert appends to dst the records with offset >= from of the v2
// batches in data, as a message set of magic 0 (Fetch v0-1) or 1 (Fetch
// v2-3), as Kafka 3.x did for old fetchers. An uncompressed batch becomes
// one message per record; a compressed batch one wrapper message with the
// same codec around its records (magic 1: relative inner offsets, the
// wrapper carrying the last offset and the largest timestamp; magic 0 LZ4
// with Kafka 0.8-0.9's frame checksum, see lz4legacy.go). Headers are
// dropped (the old formats have none), control batches skipped, and a
// LogAppendTime batch marks its messages so (magic 1). A zstd batch cannot
// be expressed: ErrUnsupportedCompression. data must hold whole batches, as
// storage.Log.Read returns them (already CRC-checked); a partial batch at
// the end is ignored.
func DownConvert(dst, data []byte, magic int8, from int64) ([]byte, error) {
	if magic != 0 && magic != 1 {
		return nil, ErrMagic
	}
	for len(data) > 0 {
		n, err := Peek(data)
		if errors.Is(err, ErrTruncated) {
			break
		}
		if err != nil {
			return nil, err
		}
		b := Batch(data[:n])
		data = data[n:]
		if b.IsControl() || b.LastOffset() < from {
			continue
		}
		codec := b.Compression()
		if codec == 4 {
			return nil, ErrUnsupportedCompression
		}
		recs, err := b.Records()
		if err != nil {
			return nil, err
		}
		var attrs int8
		if magic == 1 && b.IsLogAppendTime() {
			attrs = msgAttrLogAppendTime
		}
		if codec == 0 {
			for i := range recs {
				off := b.BaseOffset() + int64(recs[i].OffsetDelta)
				if off < from {
					continue
				}
				dst = appendMessage(dst, magic, off, attrs, b.Timestamp(&recs[i]), recs[i].Key, recs[i].Value)
			}
			continue
		}
		var inner []byte
		var first, last, maxTs int64 = -1, -1, -1
		for i := range recs {
			off := b.BaseOffset() + int64(recs[i].OffsetDelta)
			if off < from {
				continue
			}
			if first < 0 {
				first = off
			}
			last = off
			ts := b.Timestamp(&recs[i])
			maxTs = max(maxTs, ts)
			innerOff := off
			if magic == 1 {
				innerOff = off - first
			}
			inner = appendMessage(inner, magic, innerOff, attrs, ts, recs[i].Key, recs[i].Value)
		}
		if last < 0 {
			continue
		}
		comp := compressor(codec)
		if comp == nil {
			return nil, fmt.Errorf("compression codec %d unavailable", codec)
		}
		var buf bytes.Buffer
		z, used := comp.Compress(&buf, inner)
		if int8(used) != codec || z == nil {
			return nil, fmt.Errorf("compressing with codec %d failed", codec)
		}
		if codec == 3 && magic == 0 {
			z = lz4FrameChecksum(z, true)
		}
		if b.IsLogAppendTime() {
			maxTs = b.MaxTimestamp()
		}
		dst = appendMessage(dst, magic, last, attrs|codec, maxTs, nil, z)
	}
	return dst, nil
}

// MessageSetRecord is one record of a message set, for tests and tools.
type MessageSetRecord struct {
	Offset     int64
	Timestamp  int64 // -1 for magic 0
	Key, Value []byte
}

// ReadMessageSet decodes a fetched message set (magic 0 or 1) the way an
// old client does: wrappers are unwrapped, inner offsets made absolute
// (magic 1: relative to the wrapper's last offset), and a partial message
// at the end is ignored. CRCs are checked.
func ReadMessageSet(buf []byte) ([]MessageSetRecord, error) {
	var out []MessageSetRecord
	for len(buf) > 0 {
		m, n, err := readMessage(buf)
		if errors.Is(err, ErrTruncated) {
			break
		}
		if err != nil {
			return nil, err
		}
		buf = buf[n:]
		c := m.attrs & msgAttrCompression
		if c == 0 {
			out = append(out, MessageSetRecord{Offset: m.offset, Timestamp: m.timestamp, Key: m.key, Value: m.value})
			continue
		}
		if c >= 4 {
			return nil, ErrUnsupportedCompression
		}
		raw, err := decompressWrapper(m, c)
		if err != nil {
			return nil, err
		}
		var inner []message
		for len(raw) > 0 {
			im, n, err := readMessage(raw)
			if err != nil {
				return nil, err
			}
			raw = raw[n:]
			inner = append(inner, im)
		}
		if len(inner) == 0 {
			continue
		}
		lastRel := inner[len(inner)-1].offset
		for _, im := range inner {
			off := im.offset
			if m.magic == 1 {
				off = m.offset - lastRel + im.offset
			}
			ts := im.timestamp
			if m.magic == 1 && m.attrs&msgAttrLogAppendTime != 0 {
				ts = m.timestamp
			}
			out = append(out, MessageSetRecord{Offset: off, Timestamp: ts, Key: im.key, Value: im.value})
		}
	}
	return out, nil
}

// EncodeMessageSet builds a message set of magic 0 or 1 from recs, wrapped
// in one compressed message when codec is 1-3, the way a pre-0.11 producer
// sends it (offsets 0..n-1; magic 1 inner offsets relative). For tests and
// tools.
func EncodeMessageSet(magic int8, codec int8, recs []MessageSetRecord) ([]byte, error) {
	if codec == 0 {
		var out []byte
		for i, r := range recs {
			out = appendMessage(out, magic, int64(i), 0, r.Timestamp, r.Key, r.Value)
		}
		return out, nil
	}
	if codec > 3 {
		return nil, ErrUnsupportedCompression
	}
	var inner []byte
	maxTs := int64(-1)
	for i, r := range recs {
		inner = appendMessage(inner, magic, int64(i), 0, r.Timestamp, r.Key, r.Value)
		maxTs = max(maxTs, r.Timestamp)
	}
	comp := compressor(codec)
	if comp == nil {
		return nil, fmt.Errorf("compression codec %d unavailable", codec)
	}
	var buf bytes.Buffer
	z, _ := comp.Compress(&buf, inner)
	if codec == 3 && magic == 0 {
		z = lz4FrameChecksum(z, true) // as 0.8-0.9 clients framed it
	}
	return appendMessage(nil, magic, int64(len(recs)-1), codec, maxTs, nil, z), nil
}
