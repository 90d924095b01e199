package broker

import (
	"bytes"
	"context"
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
					if n, err := sp.Src.WriteTo(&buf); err != nil || n != sp.Len {
						t.Fatalf("splice: %d of %d bytes: %v", n, sp.Len, err)
					}
					f.Topics[i].Partitions[j].RecordBatches = buf.Bytes()
				}
			}
		}
	}
	return resp
}

// A follower's Fetch (v4+) gets what the leader appended by reference (a
// splice the server sends with sendfile), as a consumer's does, and the
// bytes are the ones a consumer gets.
func TestFollowerFetchIsSpliced(t *testing.T) {
	f := newHandlerFixture(t)
	f.call(t, produceRequest(1, map[int32][]byte{0: v2Batch(3, 10)}), 9)
	req := fetchRequest(2, 0, 5)
	req.SetVersion(12)
	pending := f.b.Handle(context.Background(), &Request{Key: req.Key(), Version: 12, Msg: req, Conn: &ConnInfo{}})
	resp := pending().(*kmsg.FetchResponse)
	sps := f.b.Splices(resp)
	if rp := resp.Topics[0].Partitions[0]; rp.ErrorCode != 0 || len(sps) != 1 {
		t.Fatalf("follower fetch: error %d, %d splices, want 0 and 1", rp.ErrorCode, len(sps))
	}
	var sent bytes.Buffer
	if n, err := sps[0].Src.WriteTo(&sent); err != nil || n != sps[0].Len {
		t.Fatalf("splice: %d of %d bytes: %v", n, sps[0].Len, err)
	}
	f.call(t, fetchRequest(2, 3, 5), 12) // the follower has it all: the high watermark moves
	consumer := f.call(t, fetchRequest(-1, 0, 5), 12).(*kmsg.FetchResponse)
	if want := consumer.Topics[0].Partitions[0].RecordBatches; len(want) == 0 || !bytes.Equal(sent.Bytes(), want) {
		t.Fatalf("follower got %d bytes, a consumer %d; equal %v", sent.Len(), len(want), bytes.Equal(sent.Bytes(), want))
	}
}
