package server

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/broker"
	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/protocol"
	"github.com/tributary/tributary/internal/record"
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
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := f.TempDir()
	q, err := metadata.StartQuorum(metadata.QuorumConfig{NodeID: 1, Dir: filepath.Join(dir, "meta"), Listen: "127.0.0.1:0", Logger: logger})
	if err != nil {
		f.Fatal(err)
	}
	b, err := broker.New(broker.Config{NodeID: 1, DataDir: dir, Host: "127.0.0.1", Port: 9092, Logger: logger, Quorum: q})
	if err != nil {
		f.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	if err := b.WaitReady(rctx); err != nil {
		f.Fatal(err)
	}
	if err := b.StartGroups(); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { b.Close(); q.Close() })
	s := New(b, Options{})
	info := &protocol.ConnInfo{Remote: "fuzz", Local: "fuzz"}
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
	// Message sets through Produce v0-2 and back through Fetch v0-3.
	for _, v := range []int16{0, 2} {
		magic := int8(v / 2)
		set, err := record.EncodeMessageSet(magic, 1, []record.MessageSetRecord{{Timestamp: 1, Key: []byte("k"), Value: []byte("v")}})
		if err != nil {
			f.Fatal(err)
		}
		pr := kmsg.NewPtrProduceRequest()
		pr.Acks, pr.TimeoutMillis = 1, 1000
		pt := kmsg.NewProduceRequestTopic()
		pt.Topic = "fz"
		pp := kmsg.NewProduceRequestTopicPartition()
		pp.Records = set
		pt.Partitions = append(pt.Partitions, pp)
		pr.Topics = append(pr.Topics, pt)
		f.Add(body(pr, v))
		fr := kmsg.NewPtrFetchRequest()
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "fz"
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = append(ft.Partitions, fp)
		fr.Topics = append(fr.Topics, ft)
		f.Add(body(fr, v))
	}
	// Client quotas: an alteration and a filtered describe.
	aq := kmsg.NewPtrAlterClientQuotasRequest()
	ae := kmsg.NewAlterClientQuotasRequestEntry()
	ae.Entity = []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "user", Name: kmsg.StringPtr("u")}, {Type: "client-id"}}
	ae.Ops = []kmsg.AlterClientQuotasRequestEntryOp{{Key: "producer_byte_rate", Value: 1024}, {Key: "request_percentage", Remove: true}}
	aq.Entries = append(aq.Entries, ae)
	f.Add(body(aq, 1))
	dq := kmsg.NewPtrDescribeClientQuotasRequest()
	dq.Components = []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "user", MatchType: 0, Match: kmsg.StringPtr("u")}, {EntityType: "client-id", MatchType: 1}}
	f.Add(body(dq, 1))
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
