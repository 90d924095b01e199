package record

import (
	"encoding/binary"
	"math/bits"
)

// Kafka 0.8-0.9 framed LZ4 in magic 0 messages with a wrong frame header
// checksum (KAFKA-3160): the xxHash32 of the descriptor was taken from the
// frame's magic number on instead of from the FLG byte. Kafka 3.x accepted
// it on magic 0 and wrote it that way when down-converting to magic 0, and
// clients of that era (librdkafka with broker.version.fallback < 0.10, the
// 0.9 Java client) write or expect it. lz4FrameChecksum rewrites the header
// checksum of an LZ4 frame to the correct value (before decompressing) or
// to Kafka's legacy one (after compressing for magic 0).

const lz4FrameMagic = 0x184D2204

// lz4FrameChecksum returns frame with its header checksum byte recomputed,
// the legacy way if legacy. A frame it cannot parse is returned unchanged
// (the decompressor then reports it).
func lz4FrameChecksum(frame []byte, legacy bool) []byte {
	if len(frame) < 7 || binary.LittleEndian.Uint32(frame) != lz4FrameMagic {
		return frame
	}
	flg := frame[4]
	hc := 6 // FLG, BD
	if flg&0x08 != 0 {
		hc += 8 // content size
	}
	if flg&0x01 != 0 {
		hc += 4 // dictionary id
	}
	if hc >= len(frame) {
		return frame
	}
	from := 4
	if legacy {
		from = 0
	}
	out := append([]byte(nil), frame...)
	out[hc] = byte(xxh32(frame[from:hc]) >> 8)
	return out
}

const (
	xxhPrime1 uint32 = 2654435761
	xxhPrime2 uint32 = 2246822519
	xxhPrime3 uint32 = 3266489917
	xxhPrime4 uint32 = 668265263
	xxhPrime5 uint32 = 374761393
)

// xxh32 is xxHash32 with seed 0 (the descriptor checksum's hash).
func xxh32(b []byte) uint32 {
	n := uint32(len(b))
	var h uint32
	if len(b) >= 16 {
		round := func(v, lane uint32) uint32 { return bits.RotateLeft32(v+lane*xxhPrime2, 13) * xxhPrime1 }
		p1 := xxhPrime1 // a variable: the sums wrap at run time
		v1, v2, v3, v4 := p1+xxhPrime2, xxhPrime2, uint32(0), 0-p1
		for ; len(b) >= 16; b = b[16:] {
			v1 = round(v1, binary.LittleEndian.Uint32(b[0:]))
			v2 = round(v2, binary.LittleEndian.Uint32(b[4:]))
			v3 = round(v3, binary.LittleEndian.Uint32(b[8:]))
			v4 = round(v4, binary.LittleEndian.Uint32(b[12:]))
		}
		h = bits.RotateLeft32(v1, 1) + bits.RotateLeft32(v2, 7) + bits.RotateLeft32(v3, 12) + bits.RotateLeft32(v4, 18)
	} else {
		h = xxhPrime5
	}
	h += n
	for ; len(b) >= 4; b = b[4:] {
		h += binary.LittleEndian.Uint32(b) * xxhPrime3
		h = bits.RotateLeft32(h, 17) * xxhPrime4
	}
	for _, c := range b {
		h += uint32(c) * xxhPrime5
		h = bits.RotateLeft32(h, 11) * xxhPrime1
	}
	h ^= h >> 15
	h *= xxhPrime2
	h ^= h >> 13
	h *= xxhPrime3
	h ^= h >> 16
	return h
}
