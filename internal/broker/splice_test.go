package broker

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// unsplice puts the record data a fetch response carries by reference
// (splice.go) into it, as the connection's writer sends it, for tests
// that call handlers without a server.
func unsplice(t testing.TB, b *Broker, resp kmsg.Response) kmsg.Response {
	t.Helper()
	f, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return resp
	}
	sps := b.Splices(f)
	for i := range f.Topics {
		for j := range f.Topics[i].Partitions {
			rb := f.Topics[i].Partitions[j].RecordBatches
			for _, sp := range sps {
				if len(rb) == len(sp.Marker) && &sp.Marker[0] == &rb[0] {
					var buf bytes.Buffer
					if n, err := sp.WriteTo(&buf); err != nil || n != sp.Len {
						t.Fatalf("splice: %d of %d bytes: %v", n, sp.Len, err)
					}
					f.Topics[i].Partitions[j].RecordBatches = buf.Bytes()
				}
			}
		}
	}
	return resp
}
