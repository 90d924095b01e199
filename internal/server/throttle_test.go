package server

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/protocol"
)

// throttleHandler answers Produce with a fixed throttle time.
type throttleHandler struct {
	echoHandler
	throttle int32
}

func (h throttleHandler) Handle(_ context.Context, r *protocol.Request) protocol.Pending {
	resp := r.Msg.ResponseKind()
	if p, ok := resp.(*kmsg.ProduceResponse); ok {
		p.ThrottleMillis = h.throttle
	}
	return func() kmsg.Response { return resp }
}

// TestThrottleMutesConnection (KIP-219): a throttled response of a version
// whose client throttles itself (Produce v6+) is sent at once and the
// connection's next request waits out the throttle; an older version's
// response is held back for the throttle time instead.
func TestThrottleMutesConnection(t *testing.T) {
	const throttle = 300 * time.Millisecond
	c := serveAndDial(t, throttleHandler{throttle: int32(throttle / time.Millisecond)})
	c.SetDeadline(time.Now().Add(30 * time.Second))
	roundTrip := func(req kmsg.Request, v int16) time.Duration {
		start := time.Now()
		b := body(req, v)
		if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)); err != nil {
			t.Fatal(err)
		}
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, binary.BigEndian.Uint32(size[:]))); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	prod := kmsg.NewPtrProduceRequest()
	prod.Acks = 1
	md := kmsg.NewPtrMetadataRequest()
	if d := roundTrip(prod, 5); d < throttle {
		t.Errorf("Produce v5 throttled %v answered after %v: an old client's response is held back", throttle, d)
	}
	start := time.Now()
	roundTrip(prod, 9) // answered at once, then the connection is muted
	if d := roundTrip(md, 9); time.Since(start) < throttle {
		t.Errorf("the request after a throttled Produce v9 was answered %v after it (%v in all), inside the throttle", d, time.Since(start))
	}
}

// serveAndDial serves h on a loopback listener for the test's lifetime and
// returns a client connection to it, closed at the test's end.
func serveAndDial(t *testing.T, h Handler) net.Conn {
	t.Helper()
	s := New(h, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(context.Background(), ln) // safe: test only
	t.Cleanup(s.Close)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
