// Package record reads and checks the fixed header of Kafka record batches
// (magic v2) without decoding the records inside them.
//
// Contract: a Batch is a view over bytes owned by the caller. Accessors read
// fixed header offsets; the only writers are SetBaseOffset, SetPartitionLeaderEpoch
// (both outside the CRC) and SetLogAppendTime (which recomputes the CRC).
package record

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// Header layout of a v2 record batch (offsets in bytes).
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	// HeaderSize is the size of a v2 batch header; records follow it.
	HeaderSize = 61
	// LogOverhead is the part of a batch not counted in its batchLength field.
	LogOverhead = 12
)

// Attribute bits.
const (
	AttrCompressionMask = 0x07
	AttrTimestampType   = 0x08 // set: LogAppendTime
	AttrTransactional   = 0x10
	AttrControl         = 0x20
	AttrDeleteHorizon   = 0x40
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Validation errors; the broker maps them to wire codes in one place.
var (
	ErrCorrupt      = errors.New("record batch is corrupt")             // CORRUPT_MESSAGE
	ErrInvalid      = errors.New("record batch is invalid")             // INVALID_RECORD
	ErrMagic        = errors.New("unsupported record batch magic")      // UNSUPPORTED_FOR_MESSAGE_FORMAT
	ErrTruncated    = errors.New("record batch is truncated")           // CORRUPT_MESSAGE
	ErrMultiBatches = errors.New("produce carries more than one batch") // INVALID_RECORD
)

// Batch is one v2 record batch, header and records.
type Batch []byte

func (b Batch) BaseOffset() int64  { return int64(binary.BigEndian.Uint64(b[offBaseOffset:])) }
func (b Batch) BatchLength() int32 { return int32(binary.BigEndian.Uint32(b[offBatchLength:])) }
func (b Batch) PartitionLeaderEpoch() int32 {
	return int32(binary.BigEndian.Uint32(b[offLeaderEpoch:]))
}
func (b Batch) Magic() int8            { return int8(b[offMagic]) }
func (b Batch) CRC() uint32            { return binary.BigEndian.Uint32(b[offCRC:]) }
func (b Batch) Attributes() int16      { return int16(binary.BigEndian.Uint16(b[offAttributes:])) }
func (b Batch) LastOffsetDelta() int32 { return int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])) }
func (b Batch) FirstTimestamp() int64  { return int64(binary.BigEndian.Uint64(b[offFirstTimestamp:])) }
func (b Batch) MaxTimestamp() int64    { return int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])) }
func (b Batch) ProducerID() int64      { return int64(binary.BigEndian.Uint64(b[offProducerID:])) }
func (b Batch) ProducerEpoch() int16   { return int16(binary.BigEndian.Uint16(b[offProducerEpoch:])) }
func (b Batch) BaseSequence() int32    { return int32(binary.BigEndian.Uint32(b[offBaseSequence:])) }
func (b Batch) RecordCount() int32     { return int32(binary.BigEndian.Uint32(b[offRecordCount:])) }
func (b Batch) LastOffset() int64      { return b.BaseOffset() + int64(b.LastOffsetDelta()) }
func (b Batch) Compression() int8      { return int8(b.Attributes() & AttrCompressionMask) }
func (b Batch) IsTransactional() bool  { return b.Attributes()&AttrTransactional != 0 }
func (b Batch) IsControl() bool        { return b.Attributes()&AttrControl != 0 }
func (b Batch) IsLogAppendTime() bool  { return b.Attributes()&AttrTimestampType != 0 }

// CodecOf returns the compression codec of the v2 batch at the start of
// buf, without validating it; ok is false if buf is not one.
func CodecOf(buf []byte) (codec int8, ok bool) {
	if len(buf) < HeaderSize || int8(buf[offMagic]) != 2 {
		return 0, false
	}
	return Batch(buf).Compression(), true
}

// Size is the batch's total size on the wire and on disk.
func (b Batch) Size() int { return int(b.BatchLength()) + LogOverhead }

// LastSequence is the sequence of the batch's last record, wrapping at int32 max.
func (b Batch) LastSequence() int32 {
	s := int64(b.BaseSequence()) + int64(b.LastOffsetDelta())
	if s > 0x7fffffff {
		s -= 0x80000000
	}
	return int32(s)
}

// SetBaseOffset assigns the batch's first offset (outside the CRC).
func (b Batch) SetBaseOffset(o int64) { binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(o)) }

// SetPartitionLeaderEpoch stamps the leader epoch (outside the CRC).
func (b Batch) SetPartitionLeaderEpoch(e int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(e))
}

// SetLogAppendTime marks the batch as LogAppendTime with max timestamp ts and
// recomputes the CRC, as a broker does for topics with
// message.timestamp.type=LogAppendTime.
func (b Batch) SetLogAppendTime(ts int64) {
	attrs := uint16(b.Attributes()) | AttrTimestampType
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}

// CheckCRC reports whether the stored CRC matches the batch contents.
func (b Batch) CheckCRC() bool {
	return crc32.Checksum(b[offAttributes:], castagnoli) == b.CRC()
}

// Peek returns the size of the first batch in buf if its header is readable,
// without checking the CRC. It is what log recovery and fetch readers use to
// walk batches.
func Peek(buf []byte) (int, error) {
	if len(buf) < HeaderSize {
		return 0, ErrTruncated
	}
	n := int(int32(binary.BigEndian.Uint32(buf[offBatchLength:])))
	if n < HeaderSize-LogOverhead {
		return 0, ErrCorrupt
	}
	if int8(buf[offMagic]) != 2 {
		return 0, ErrMagic
	}
	if n+LogOverhead > len(buf) {
		return n + LogOverhead, ErrTruncated
	}
	return n + LogOverhead, nil
}

// Validate checks that buf is exactly one well-formed v2 batch: lengths,
// magic, CRC, record count against offset delta. It does not decompress.
func Validate(buf []byte) (Batch, error) {
	n, err := Peek(buf)
	if err != nil {
		return nil, err
	}
	if n != len(buf) {
		return nil, ErrMultiBatches
	}
	b := Batch(buf)
	if !b.CheckCRC() {
		return nil, ErrCorrupt
	}
	if b.RecordCount() <= 0 || b.LastOffsetDelta() != b.RecordCount()-1 {
		return nil, ErrInvalid
	}
	if c := b.Compression(); c > 4 {
		return nil, ErrInvalid
	}
	return b, nil
}
