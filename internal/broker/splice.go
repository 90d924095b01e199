package broker

// Zero-copy fetch: a consumer's Fetch (v4+) reads with
// partition.ReadZeroCopy, which may leave record data in its segment file
// (storage.FileSlice: plaintext segments whose batches this process has
// CRC-checked, storage/segment.go). The partition's RecordBatches then
// holds a random 16-byte marker, and the response's splices are kept
// here until the connection's writer asks for them (Splices, before it
// encodes the response): the writer sends the file's bytes in the
// marker's place, with sendfile on a plaintext TCP connection
// (internal/server writeSpliced) and through a buffer on TLS. Written
// forgets a response's splices (sent, or discarded by a long poll).

import (
	"math/rand/v2"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/protocol"
	"github.com/tributary/tributary/internal/storage"
)

// splice registers fs as record data of resp and returns its marker.
func (b *Broker) splice(resp *kmsg.FetchResponse, fs *storage.FileSlice) []byte {
	marker := make([]byte, 16)
	for i := 0; i < 16; i += 8 {
		v := rand.Uint64()
		for k := 0; k < 8; k++ {
			marker[i+k] = byte(v >> (8 * k))
		}
	}
	sp := protocol.Splice{Marker: marker, Len: fs.Len(), WriteTo: fs.WriteTo}
	if v, ok := b.splices.Load(resp); ok {
		b.splices.Store(resp, append(v.([]protocol.Splice), sp))
	} else {
		b.splices.Store(resp, []protocol.Splice{sp})
	}
	return marker
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
	return v.([]protocol.Splice)
}

// recordBytes is the length of a partition's record data in resp: a
// marker's splice length, or the bytes themselves.
func (b *Broker) recordBytes(resp *kmsg.FetchResponse, rb []byte) int {
	if len(rb) == 16 {
		if v, ok := b.splices.Load(resp); ok {
			for _, sp := range v.([]protocol.Splice) {
				if &sp.Marker[0] == &rb[0] {
					return int(sp.Len)
				}
			}
		}
	}
	return len(rb)
}
