package server

import (
	"context"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/protocol"
)

// blockingHandler answers an acks=all Produce only once release is closed
// (as one waiting for fsync and the ISR does), anything else at once.
type blockingHandler struct {
	echoHandler
	release chan struct{}
}

func (h blockingHandler) Handle(_ context.Context, r *protocol.Request) protocol.Pending {
	resp := r.Msg.ResponseKind()
	if p, ok := r.Msg.(*kmsg.ProduceRequest); ok && p.Acks == -1 {
		return func() kmsg.Response { <-h.release; return resp }
	}
	return func() kmsg.Response { return resp }
}

// TestResponseSentBeforeNextPending: of two pipelined requests, the first
// one's response reaches the client while the second one's Pending still
// waits; the writer used to flush only with no Pending queued, holding it
// back until the second was answered too.
func TestResponseSentBeforeNextPending(t *testing.T) {
	h := blockingHandler{release: make(chan struct{})}
	c := serveAndDial(t, h)
	released := false
	defer func() {
		if !released {
			close(h.release)
		}
	}()
	var frames []byte
	for _, acks := range []int16{1, -1} {
		prod := kmsg.NewPtrProduceRequest()
		prod.Acks, prod.TimeoutMillis = acks, 30_000
		b := body(prod, 9)
		frames = append(append(frames, binary.BigEndian.AppendUint32(nil, uint32(len(b)))...), b...)
	}
	if _, err := c.Write(frames); err != nil { // both at once: the second is queued behind the first
		t.Fatal(err)
	}
	read := func() error {
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return err
		}
		_, err := io.ReadFull(c, make([]byte, binary.BigEndian.Uint32(size[:])))
		return err
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := read(); err != nil {
		t.Fatalf("the first response while the second request waits: %v (held in the writer's buffer?)", err)
	}
	close(h.release)
	released = true
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := read(); err != nil {
		t.Fatalf("the second response after its Pending returned: %v", err)
	}
}
