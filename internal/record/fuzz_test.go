package record

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func validBatch(values ...string) []byte {
	rb := kmsg.RecordBatch{Magic: 2, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, LastOffsetDelta: int32(len(values) - 1), NumRecords: int32(len(values))}
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Key: []byte("k"), Value: []byte(v)}
		body := r.AppendTo(nil)[1:]
		rb.Records = binary.AppendVarint(rb.Records, int64(len(body)))
		rb.Records = append(rb.Records, body...)
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

func TestValidate(t *testing.T) {
	good := validBatch("a", "bb", "ccc")
	b, err := Validate(good)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := b.Records()
	if err != nil || len(recs) != 3 || string(recs[2].Value) != "ccc" {
		t.Fatalf("records: %v %+v", err, recs)
	}
	mut := func(f func([]byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"empty":            {nil, ErrTruncated},
		"short header":     {good[:40], ErrTruncated},
		"short body":       {good[:len(good)-1], ErrTruncated},
		"crc":              {mut(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrCorrupt},
		"magic":            {mut(func(b []byte) []byte { b[16] = 1; return b }), ErrMagic},
		"length too small": {mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 3); return b }), ErrCorrupt},
		"trailing bytes":   {append(append([]byte(nil), good...), 0), ErrMultiBatches},
		"count mismatch": {mut(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[57:], 9)
			binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
			return b
		}), ErrInvalid},
		"bad codec": {mut(func(b []byte) []byte {
			b[22] |= 7
			binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
			return b
		}), ErrInvalid},
	}
	for name, tc := range cases {
		if _, err := Validate(tc.b); err != tc.want {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
}

func TestSetLogAppendTimeKeepsCRCValid(t *testing.T) {
	b := Batch(validBatch("x"))
	b.SetLogAppendTime(12345)
	if !b.CheckCRC() || !b.IsLogAppendTime() || b.MaxTimestamp() != 12345 {
		t.Fatal("log append time stamping broke the batch")
	}
	recs, _ := b.Records()
	if b.Timestamp(&recs[0]) != 12345 {
		t.Fatal("record timestamp does not follow LogAppendTime")
	}
}

// FuzzValidate: any input is either refused or is exactly one batch whose
// CRC holds; decoding its records never panics.
func FuzzValidate(f *testing.F) {
	f.Add(validBatch("a"))
	f.Add(validBatch("a", "b", "c"))
	f.Add([]byte{})
	f.Add(make([]byte, 61))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Validate(data)
		if err != nil {
			return
		}
		if b.Size() != len(data) || !b.CheckCRC() {
			t.Fatal("accepted a batch that does not hold together")
		}
		b.Records()
		_ = b.LastSequence()
	})
}

// FuzzRecordsDecode fixes up the length and CRC of arbitrary bytes so the
// fuzzer reaches record decoding and decompression behind the CRC check.
func FuzzRecordsDecode(f *testing.F) {
	f.Add(validBatch("a", "b"))
	f.Add(validBatch("x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < HeaderSize {
			return
		}
		data[16] = 2
		binary.BigEndian.PutUint32(data[8:], uint32(len(data)-LogOverhead))
		binary.BigEndian.PutUint32(data[17:], crc32.Checksum(data[21:], castagnoli))
		b, err := Validate(data)
		if err != nil {
			return
		}
		recs, err := b.Records()
		if err == nil && len(recs) != int(b.RecordCount()) {
			t.Fatalf("decoded %d records, header says %d", len(recs), b.RecordCount())
		}
	})
}
