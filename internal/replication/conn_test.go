package replication

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// pipeConn is a conn over one end of a net.Pipe whose other end answers
// the request with reply (whatever bytes it holds).
func pipeConn(t *testing.T, reply []byte) *conn {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	go func() { // safe: test only
		var size [4]byte
		if _, err := io.ReadFull(b, size[:]); err != nil {
			return
		}
		if _, err := io.CopyN(io.Discard, b, int64(binary.BigEndian.Uint32(size[:]))); err != nil {
			return
		}
		b.Write(reply)
		b.Close()
	}()
	return &conn{c: a, r: bufio.NewReader(a), fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID(connClientID)),
		versions: map[int16]int16{kmsg.Fetch.Int16(): 13}}
}

// frame is a response frame for correlation id 1: size, id, body.
func frame(body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(4+len(body)))
	b = binary.BigEndian.AppendUint32(b, 1)
	return append(b, body...)
}

// TestConnReadsFlexibleResponse: a Fetch v13 response (flexible header:
// tagged fields after the correlation id) comes back decoded.
func TestConnReadsFlexibleResponse(t *testing.T) {
	want := kmsg.NewPtrFetchResponse()
	want.Version = 13
	want.SessionID = 7
	rt := kmsg.NewFetchResponseTopic()
	rt.TopicID = [16]byte{1}
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.Partition, rp.HighWatermark, rp.RecordBatches = 2, 42, []byte("batches")
	rt.Partitions = append(rt.Partitions, rp)
	want.Topics = append(want.Topics, rt)
	// A header tag (tag 5, two bytes) the reader skips.
	cn := pipeConn(t, frame(want.AppendTo([]byte{1, 5, 2, 0xaa, 0xbb})))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cn.Request(ctx, kmsg.NewPtrFetchRequest())
	if err != nil {
		t.Fatal(err)
	}
	got := resp.(*kmsg.FetchResponse)
	if got.SessionID != 7 || len(got.Topics) != 1 || len(got.Topics[0].Partitions) != 1 ||
		got.Topics[0].Partitions[0].HighWatermark != 42 || string(got.Topics[0].Partitions[0].RecordBatches) != "batches" {
		t.Fatalf("decoded %+v", got)
	}
}

// TestConnRefusesWrongCorrelation: a response for another request is an
// error, not mistaken for this one's.
func TestConnRefusesWrongCorrelation(t *testing.T) {
	b := binary.BigEndian.AppendUint32(nil, 5)
	b = binary.BigEndian.AppendUint32(b, 9)
	cn := pipeConn(t, append(b, 0))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cn.Request(ctx, kmsg.NewPtrFetchRequest()); err == nil {
		t.Fatal("a response with correlation id 9 was taken for request 1")
	}
}

// FuzzConnResponse: whatever a leader answers, the fetcher's connection
// returns a response or an error, never panics or hangs.
func FuzzConnResponse(f *testing.F) {
	ok := kmsg.NewPtrFetchResponse()
	ok.Version = 13
	f.Add(frame(ok.AppendTo([]byte{0})))
	f.Add(frame([]byte{1, 5, 2, 0xaa, 0xbb}))
	f.Add(frame([]byte{0xff, 0xff, 0xff}))
	f.Add([]byte{0, 0, 0, 2, 0, 0})
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, reply []byte) {
		cn := pipeConn(t, reply)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cn.Request(ctx, kmsg.NewPtrFetchRequest())
	})
}

// TestSkipTags: a tag section's count, tags and sizes are checked against
// the bytes there are.
func TestSkipTags(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		rest int // -1: an error
	}{
		{[]byte{0, 9}, 1},
		{[]byte{1, 5, 2, 1, 2, 9, 9}, 2},
		{[]byte{2, 5, 0, 6, 1, 7}, 0},
		{[]byte{1, 5, 3, 1}, -1},
		{[]byte{1}, -1},
		{[]byte{}, -1},
		{[]byte{1, 5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, -1},
	} {
		rest, err := skipTags(c.in)
		if c.rest < 0 {
			if err == nil {
				t.Errorf("skipTags(%v) = %v, want an error", c.in, rest)
			}
			continue
		}
		if err != nil || len(rest) != c.rest {
			t.Errorf("skipTags(%v) = %v, %v; want %d bytes left", c.in, rest, err, c.rest)
		}
	}
}
