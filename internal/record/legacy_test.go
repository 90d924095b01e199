package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func legacyRecs(n int, ts0 int64) []MessageSetRecord {
	out := make([]MessageSetRecord, n)
	for i := range out {
		out[i] = MessageSetRecord{Timestamp: ts0 + int64(i), Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("value-%d", i))}
		if i == 1 {
			out[i].Key = nil // a null key survives the conversions
		}
	}
	return out
}

// A message set of either magic, compressed or not, up-converts to one v2
// batch with the same records, codec and (magic 1) timestamps.
func TestUpConvert(t *testing.T) {
	for _, magic := range []int8{0, 1} {
		for _, codec := range []int8{0, 1, 2, 3} {
			t.Run(fmt.Sprintf("magic%d-codec%d", magic, codec), func(t *testing.T) {
				in := legacyRecs(5, 1_700_000_000_000)
				set, err := EncodeMessageSet(magic, codec, in)
				if err != nil {
					t.Fatal(err)
				}
				out, err := UpConvert(set)
				if err != nil {
					t.Fatal(err)
				}
				b, err := Validate(out)
				if err != nil {
					t.Fatalf("up-converted batch does not validate: %v", err)
				}
				if b.Compression() != codec || b.RecordCount() != 5 || b.ProducerID() != -1 || b.IsLogAppendTime() {
					t.Fatalf("batch codec %d count %d pid %d", b.Compression(), b.RecordCount(), b.ProducerID())
				}
				recs, err := b.Records()
				if err != nil {
					t.Fatal(err)
				}
				for i, r := range recs {
					wantTs := in[i].Timestamp
					if magic == 0 {
						wantTs = -1
					}
					if !bytes.Equal(r.Key, in[i].Key) || (r.Key == nil) != (in[i].Key == nil) || !bytes.Equal(r.Value, in[i].Value) || b.Timestamp(&r) != wantTs {
						t.Fatalf("record %d: %q=%q ts %d, want %q=%q ts %d", i, r.Key, r.Value, b.Timestamp(&r), in[i].Key, in[i].Value, wantTs)
					}
				}
				if magic == 1 && b.MaxTimestamp() != in[4].Timestamp {
					t.Fatalf("max timestamp %d", b.MaxTimestamp())
				}
			})
		}
	}
	// A v2 batch in Produce v0-2 passes through untouched.
	v2 := validBatch("a")
	if out, err := UpConvert(v2); err != nil || !bytes.Equal(out, v2) {
		t.Fatalf("v2 batch: %v", err)
	}
}

func TestUpConvertRejects(t *testing.T) {
	good, _ := EncodeMessageSet(1, 0, legacyRecs(2, 1))
	gz, _ := EncodeMessageSet(1, 1, legacyRecs(2, 1))
	flip := append([]byte(nil), good...)
	flip[len(flip)-1] ^= 1
	zstd := appendMessage(nil, 1, 0, 4, 1, nil, []byte("x"))
	// A wrapper around a wrapper.
	nested, _ := EncodeMessageSet(1, 0, nil)
	nested = appendMessage(nested, 1, 0, 0, 1, nil, nil)
	{
		inner := appendMessage(nil, 1, 0, 1, 1, nil, []byte("zzz"))
		var buf bytes.Buffer
		z, _ := compressor(1).Compress(&buf, inner)
		nested = appendMessage(nil, 1, 0, 1, 1, nil, z)
	}
	mixed := func() []byte {
		inner := appendMessage(nil, 0, 0, 0, -1, nil, []byte("v"))
		var buf bytes.Buffer
		z, _ := compressor(1).Compress(&buf, inner)
		return appendMessage(nil, 1, 0, 1, 1, nil, z)
	}()
	badSize := append([]byte(nil), good...)
	binary.BigEndian.PutUint32(badSize[8:], uint32(binary.BigEndian.Uint32(badSize[8:])+1))
	first := legacyMsgOverhead + int(binary.BigEndian.Uint32(good[8:]))
	lenLie := append([]byte(nil), good[:first]...) // first message
	binary.BigEndian.PutUint32(lenLie[26:], 100)   // key length past the message
	binary.BigEndian.PutUint32(lenLie[12:], crc32.ChecksumIEEE(lenLie[16:]))
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"empty":           {nil, ErrTruncated},
		"partial":         {good[:len(good)-3], ErrTruncated},
		"crc":             {flip, ErrCorrupt},
		"wrapper crc":     {append(gz[:len(gz)-1:len(gz)-1], gz[len(gz)-1]^1), ErrCorrupt},
		"zstd":            {zstd, ErrUnsupportedCompression},
		"nested":          {nested, ErrInvalid},
		"mixed magic":     {mixed, ErrInvalid},
		"size past end":   {badSize, ErrCorrupt}, // the CRC then covers a byte of the next message
		"key length lies": {lenLie, ErrCorrupt},
		"magic 3":         {func() []byte { b := append([]byte(nil), good...); b[16] = 3; return b }(), ErrMagic},
	}
	for name, tc := range cases {
		if _, err := UpConvert(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
}

func buildV2(t testing.TB, base int64, codec int8, lat bool, n int) Batch {
	var recs []kmsg.Record
	for i := 0; i < n; i++ {
		recs = append(recs, kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i * 10), Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i)),
			Headers: []kmsg.Header{{Key: "h", Value: []byte("dropped")}}})
	}
	attrs := int16(codec)
	h := Header{BaseOffset: base, PartitionLeaderEpoch: 3, Attributes: attrs, LastOffsetDelta: int32(n - 1), FirstTimestamp: 1000, MaxTimestamp: 1000 + int64((n-1)*10), ProducerID: 7, ProducerEpoch: 0, BaseSequence: 0}
	b, err := Build(h, recs)
	if err != nil {
		t.Fatal(err)
	}
	if lat {
		b.SetLogAppendTime(5555)
	}
	return b
}

// Stored v2 batches down-convert to message sets an old client reads back
// with the same offsets, keys, values and timestamps, from the fetch offset
// on, compressed batches as one wrapper with the same codec.
func TestDownConvert(t *testing.T) {
	for _, magic := range []int8{0, 1} {
		for _, codec := range []int8{0, 1, 2, 3} {
			for _, lat := range []bool{false, true} {
				t.Run(fmt.Sprintf("magic%d-codec%d-lat%v", magic, codec, lat), func(t *testing.T) {
					data := append(buildV2(t, 100, codec, lat, 4), buildV2(t, 104, codec, lat, 3)...)
					data = append(data, buildV2(t, 107, codec, lat, 2)[:30]...) // partial batch at the end
					set, err := DownConvert(nil, data, magic, 102)
					if err != nil {
						t.Fatal(err)
					}
					if m, _ := Magic(set); m != magic {
						t.Fatalf("magic %d", m)
					}
					if codec != 0 {
						// One wrapper per batch: the first message is compressed.
						if set[17]&msgAttrCompression != byte(codec) {
							t.Fatalf("wrapper attributes %#x", set[17])
						}
					}
					got, err := ReadMessageSet(set)
					if err != nil {
						t.Fatal(err)
					}
					want := []int64{102, 103, 104, 105, 106}
					if len(got) != len(want) {
						t.Fatalf("got %d records, want %d", len(got), len(want))
					}
					for i, r := range got {
						delta := want[i] - 100
						if want[i] >= 104 {
							delta = want[i] - 104
						}
						wantTs := 1000 + delta*10
						if lat {
							wantTs = 5555
						}
						if magic == 0 {
							wantTs = -1
						}
						if r.Offset != want[i] || string(r.Key) != fmt.Sprintf("k%d", delta) || string(r.Value) != fmt.Sprintf("v%d", delta) || r.Timestamp != wantTs {
							t.Fatalf("record %d: %+v, want offset %d ts %d", i, r, want[i], wantTs)
						}
					}
				})
			}
		}
	}
}

func TestDownConvertZstdAndControl(t *testing.T) {
	if _, err := DownConvert(nil, buildV2(t, 0, 4, false, 2), 1, 0); !errors.Is(err, ErrUnsupportedCompression) {
		t.Fatalf("zstd: %v", err)
	}
	ctl := buildV2(t, 0, 0, false, 1)
	binary.BigEndian.PutUint16(ctl[offAttributes:], uint16(AttrControl|AttrTransactional))
	binary.BigEndian.PutUint32(ctl[offCRC:], crc32.Checksum(ctl[offAttributes:], castagnoli))
	data := append(ctl, buildV2(t, 1, 0, false, 1)...)
	set, err := DownConvert(nil, data, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadMessageSet(set)
	if err != nil || len(got) != 1 || got[0].Offset != 1 {
		t.Fatalf("control batch not skipped: %v %+v", err, got)
	}
}

// FuzzUpConvert: any produced bytes either fail with an error or become a
// valid v2 batch whose records down-convert back to the same values.
func FuzzUpConvert(f *testing.F) {
	for _, magic := range []int8{0, 1} {
		for _, codec := range []int8{0, 1, 2, 3} {
			set, err := EncodeMessageSet(magic, codec, legacyRecs(3, 42))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(set)
		}
	}
	f.Add(validBatch("a", "b"))
	f.Fuzz(func(t *testing.T, in []byte) {
		upConvertProperty(t, in)
		// Again with the outer CRCs made right, so the fuzzer explores
		// what lies behind them.
		upConvertProperty(t, fixCRCs(append([]byte(nil), in...)))
	})
}

// fixCRCs rewrites the CRC of every whole top-level message in buf.
func fixCRCs(buf []byte) []byte {
	for rest := buf; len(rest) >= legacyMsgOverhead+5; {
		n := legacyMsgOverhead + int(int32(binary.BigEndian.Uint32(rest[8:])))
		if n < legacyMsgOverhead+5 || n > len(rest) {
			break
		}
		binary.BigEndian.PutUint32(rest[12:], crc32.ChecksumIEEE(rest[16:n]))
		rest = rest[n:]
	}
	return buf
}

func upConvertProperty(t *testing.T, in []byte) {
	{
		out, err := UpConvert(in)
		if err != nil {
			return
		}
		if m, _ := Magic(in); m == 2 {
			return // passed through; Validate is fuzzed elsewhere
		}
		b, err := Validate(out)
		if err != nil {
			t.Fatalf("up-converted batch invalid: %v", err)
		}
		recs, err := b.Records()
		if err != nil {
			t.Fatalf("records: %v", err)
		}
		if b.Compression() == 4 {
			return
		}
		for _, magic := range []int8{0, 1} {
			set, err := DownConvert(nil, out, magic, 0)
			if err != nil {
				t.Fatalf("down-convert magic %d: %v", magic, err)
			}
			back, err := ReadMessageSet(set)
			if err != nil || len(back) != len(recs) {
				t.Fatalf("magic %d: %v, %d records, want %d", magic, err, len(back), len(recs))
			}
			for i := range back {
				if back[i].Offset != int64(i) || !bytes.Equal(back[i].Key, recs[i].Key) || !bytes.Equal(back[i].Value, recs[i].Value) {
					t.Fatalf("magic %d record %d differs", magic, i)
				}
			}
		}
	}
}

// FuzzDownConvert: arbitrary stored bytes never panic the down-converter.
func FuzzDownConvert(f *testing.F) {
	f.Add(validBatch("a", "b"), int64(0))
	f.Add([]byte(buildV2(f, 5, 1, false, 3)), int64(6))
	f.Fuzz(func(t *testing.T, in []byte, from int64) {
		for _, magic := range []int8{0, 1} {
			if set, err := DownConvert(nil, in, magic, from); err == nil {
				if _, err := ReadMessageSet(set); err != nil {
					t.Fatalf("down-converted set unreadable: %v", err)
				}
			}
		}
	})
}

func TestXXH32(t *testing.T) {
	for in, want := range map[string]uint32{
		"": 0x02cc5d05, "a": 0x550d7456, "abc": 0x32d153ff,
		"Nobody inspects the spammish repetition": 0xe2293b2f,
	} {
		if got := xxh32([]byte(in)); got != want {
			t.Errorf("xxh32(%q) = %#x, want %#x", in, got, want)
		}
	}
}

// The LZ4 frames franz-go writes carry the correct header checksum, which
// lz4FrameChecksum reproduces; the legacy one differs, and a frame with it
// decompresses once fixed.
func TestLZ4LegacyChecksum(t *testing.T) {
	var buf bytes.Buffer
	frame, _ := compressor(3).Compress(&buf, bytes.Repeat([]byte("kafka 0.9 "), 50))
	frame = append([]byte(nil), frame...)
	if fixed := lz4FrameChecksum(frame, false); !bytes.Equal(fixed, frame) {
		t.Fatal("recomputed header checksum differs from the compressor's")
	}
	legacy := lz4FrameChecksum(frame, true)
	if bytes.Equal(legacy, frame) {
		t.Fatal("legacy checksum equals the correct one")
	}
	if _, err := decompress(legacy, 3); err == nil {
		t.Fatal("decompressor accepted the legacy checksum; the fix-up would be untested")
	}
	set, err := EncodeMessageSet(0, 3, legacyRecs(3, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UpConvert(set); err != nil {
		t.Fatalf("magic 0 LZ4 with the legacy checksum: %v", err)
	}
	for _, junk := range [][]byte{nil, {4, 0x22, 0x4d, 0x18}, {4, 0x22, 0x4d, 0x18, 0x09, 0x40}} {
		lz4FrameChecksum(junk, true) // no panic on short frames
	}
}

// The cost of serving old clients, per 16 x 1 KiB records (cold path).
func BenchmarkUpConvert(b *testing.B) {
	recs := make([]MessageSetRecord, 16)
	for i := range recs {
		recs[i] = MessageSetRecord{Timestamp: 1, Value: bytes.Repeat([]byte{'v'}, 1024)}
	}
	for _, codec := range []int8{0, 1} {
		set, err := EncodeMessageSet(1, codec, recs)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("codec%d", codec), func(b *testing.B) {
			b.SetBytes(int64(len(set)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := UpConvert(set); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDownConvert(b *testing.B) {
	for _, codec := range []int8{0, 1} {
		var krs []kmsg.Record
		for i := 0; i < 16; i++ {
			krs = append(krs, kmsg.Record{OffsetDelta: int32(i), Value: bytes.Repeat([]byte{'v'}, 1024)})
		}
		batch, err := Build(Header{Attributes: int16(codec), LastOffsetDelta: 15, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, krs)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("codec%d", codec), func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			var dst []byte
			for b.Loop() {
				if dst, err = DownConvert(dst[:0], batch, 1, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
