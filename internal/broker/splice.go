package broker

// Zero-copy fetch: a consumer's or follower's Fetch (v4+) reads with
// partition.ReadZeroCopy, which may leave record data in its segment file
// (storage.FileSlice: plaintext batches this process CRC-checked when it
// appended them, or checked just now through a mapping of the file,
// storage.Log.sliceFrom). The partition's RecordBatches then
// holds a random 16-byte marker, and the response's splices are kept
// here until the connection's writer asks for them (Splices, before it
// encodes the response): the writer sends the file's bytes in the
// marker's place, with sendfile on a plaintext TCP connection
// (internal/server writeSpliced) and through a buffer on TLS. A read
// that had to go through memory (an encrypted segment, or a short read
// of batches checked on every read) is carried the same way when it is
// large (spliceBytes), so the writer writes the read buffer itself
// instead of a copy of it inside the encoded response. Written forgets a
// response's splices (sent, or discarded by a long poll).

import (
	"encoding/binary"
	"io"
	"math/rand/v2"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/protocol"
	"github.com/tributary/tributary/internal/storage"
)

// fetchSplices are one response's splices, in the order they were read,
// their lengths by marker, and the read buffers they carry (spliceBytes).
type fetchSplices struct {
	list []protocol.Splice
	lens map[*byte]int64
	bufs [][]byte
	// markers is where the next markers are cut from, spliceSetSize at
	// a time, so a response allocates its markers together.
	markers []byte
}

// spliceSetSize is the splices a response's set has room for before its
// first growth.
const spliceSetSize = 8

// splice registers fs as record data of resp and returns its marker.
// Only the handler's goroutine adds to a response.
func (b *Broker) splice(resp *kmsg.FetchResponse, fs *storage.FileSlice) []byte {
	marker, _ := b.addSplice(resp, fs.Len(), fs)
	return marker
}

// spliceBytesMin is the smallest read buffer spliceBytes carries by
// reference: below it, copying it into the response costs less than the
// flush and write of a piece of its own.
const spliceBytesMin = 128 << 10

// spliceBytes registers data, a read buffer (storage.ReadResult.Data), as
// record data of resp and returns its marker: the connection's writer
// writes it to the socket from where it is instead of copying it into
// the encoded response. A read of an encrypted segment is decrypted and
// CRC-checked in memory (docs/DURABILITY.md); this spares it a third
// copy. The buffer is released once written
// (the writer took the splices, so Written no longer sees it) or, when
// the response is discarded unsent, by Written.
func (b *Broker) spliceBytes(resp *kmsg.FetchResponse, data []byte) []byte {
	marker, set := b.addSplice(resp, int64(len(data)), readBuffer(data))
	set.bufs = append(set.bufs, data)
	return marker
}

// readBuffer is a read buffer a splice writes, then releases.
type readBuffer []byte

func (d readBuffer) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(d)
	storage.ReleaseRead(d)
	return int64(n), err
}

// addSplice adds a splice of n bytes written by src to resp's set and
// returns its marker and the set.
func (b *Broker) addSplice(resp *kmsg.FetchResponse, n int64, src io.WriterTo) ([]byte, *fetchSplices) {
	var set *fetchSplices
	if v, ok := b.splices.Load(resp); ok {
		set = v.(*fetchSplices)
	} else {
		set = &fetchSplices{list: make([]protocol.Splice, 0, spliceSetSize), lens: make(map[*byte]int64, spliceSetSize)}
		b.splices.Store(resp, set)
	}
	if len(set.markers) < 16 {
		set.markers = make([]byte, 16*spliceSetSize)
	}
	// Each marker is a 16-byte slice of its own (capacity 16), unique
	// by address; its random bytes keep the encoder's copy of it from
	// matching record data by chance.
	marker := set.markers[:0:16]
	set.markers = set.markers[16:]
	marker = binary.LittleEndian.AppendUint64(marker, rand.Uint64())
	marker = binary.LittleEndian.AppendUint64(marker, rand.Uint64())
	set.list = append(set.list, protocol.Splice{Marker: marker, Len: n, Src: src})
	set.lens[&marker[0]] = n
	return marker, set
}

// Splices returns the splices of a fetch response, in the order of its
// partitions (protocol.Splicer).
func (b *Broker) Splices(resp kmsg.Response) []protocol.Splice {
	f, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return nil
	}
	v, ok := b.splices.LoadAndDelete(f)
	if !ok {
		return nil
	}
	return v.(*fetchSplices).list
}

// recordBytes is the length of a partition's record data in resp: a
// marker's splice length, or the bytes themselves.
func (b *Broker) recordBytes(resp *kmsg.FetchResponse, rb []byte) int {
	if len(rb) == 16 {
		if v, ok := b.splices.Load(resp); ok {
			if n, ok := v.(*fetchSplices).lens[&rb[0]]; ok {
				return int(n)
			}
		}
	}
	return len(rb)
}
