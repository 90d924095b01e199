package server

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/broker"
)

// body encodes req at version v as a request frame without the size prefix.
func body(req kmsg.Request, v int16) []byte {
	req.SetVersion(v)
	b := []byte{byte(req.Key() >> 8), byte(req.Key()), byte(v >> 8), byte(v), 0, 0, 0, 1, 0, 1, 'c'}
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

// FuzzDecodeAndHandle feeds arbitrary request frames through header
// parsing, kmsg decoding and the real broker's handlers. Nothing may panic:
// handlers run here without the server's panic guard.
func FuzzDecodeAndHandle(f *testing.F) {
	b, err := broker.New(broker.Config{NodeID: 1, DataDir: f.TempDir(), Host: "127.0.0.1", Port: 9092, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { b.Close() })
	s := New(b, Options{})
	info := &broker.ConnInfo{Remote: "fuzz", Local: "fuzz"}
	for _, k := range broker.AdvertisedAPIs() {
		for _, v := range []int16{k.MinVersion, k.MaxVersion} {
			req := kmsg.RequestForKey(k.ApiKey)
			f.Add(body(req, v))
		}
	}
	ct := kmsg.NewPtrCreateTopicsRequest()
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = "fz", 2, 1
	ct.Topics = append(ct.Topics, t)
	f.Add(body(ct, 7))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // fetches must not wait in a fuzz run
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 8 {
			return
		}
		req, pr, err := s.decode(data, info)
		if err != nil {
			return
		}
		if req == nil {
			pr.fn()
			return
		}
		// Bound the disk work a single input can ask for.
		switch m := req.Msg.(type) {
		case *kmsg.CreateTopicsRequest:
			for _, t := range m.Topics {
				if t.NumPartitions > 8 || len(t.ReplicaAssignment) > 8 {
					return
				}
			}
		case *kmsg.CreatePartitionsRequest:
			for _, t := range m.Topics {
				if t.Count > 8 {
					return
				}
			}
		}
		if p := b.Handle(ctx, req); p != nil {
			if resp := p(); resp != nil {
				resp.AppendTo(nil)
			}
		}
	})
}
