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
	for _, r := range sessionAndShareSeeds() {
		for _, k := range broker.AdvertisedAPIs() {
			if k.ApiKey == r.Key() {
				f.Add(body(r, k.MaxVersion))
			}
		}
	}
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

// sessionAndShareSeeds are well-formed requests of this session's APIs
// (fetch sessions, share groups, KIP-890 verification, DescribeProducers),
// so the fuzzer starts from their deep paths and not only from empty
// requests.
func sessionAndShareSeeds() []kmsg.Request {
	var out []kmsg.Request
	tid := [16]byte{1, 2, 3}
	// A full fetch opening a session, then an incremental one that
	// forgets a partition.
	for _, epoch := range []int32{0, 1} {
		fr := kmsg.NewPtrFetchRequest()
		fr.MaxBytes, fr.SessionEpoch = 1<<20, epoch
		if epoch > 0 {
			fr.SessionID = 1
			ft := kmsg.NewFetchRequestForgottenTopic()
			ft.Topic, ft.TopicID, ft.Partitions = "fz", tid, []int32{1}
			fr.ForgottenTopics = append(fr.ForgottenTopics, ft)
		}
		t := kmsg.NewFetchRequestTopic()
		t.Topic, t.TopicID = "fz", tid
		p := kmsg.NewFetchRequestTopicPartition()
		p.PartitionMaxBytes, p.CurrentLeaderEpoch = 1<<20, -1
		t.Partitions = append(t.Partitions, p)
		fr.Topics = append(fr.Topics, t)
		out = append(out, fr)
	}
	hb := kmsg.NewPtrShareGroupHeartbeatRequest()
	hb.GroupID, hb.MemberID, hb.SubscribedTopicNames = "sg", "m1", []string{"fz"}
	out = append(out, hb)
	sf := kmsg.NewPtrShareFetchRequest()
	sf.GroupID, sf.MemberID, sf.MaxBytes, sf.MaxRecords, sf.BatchSize = kmsg.StringPtr("sg"), kmsg.StringPtr("m1"), 1<<20, 100, 10
	st := kmsg.NewShareFetchRequestTopic()
	st.TopicID = tid
	sp := kmsg.NewShareFetchRequestTopicPartition()
	sp.PartitionMaxBytes = 1 << 20
	sp.AcknowledgementBatches = []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{{FirstOffset: 0, LastOffset: 4, AcknowledgeTypes: []int8{1, 2, 3, 0, 1}}}
	st.Partitions = append(st.Partitions, sp)
	sf.Topics = append(sf.Topics, st)
	out = append(out, sf)
	sa := kmsg.NewPtrShareAcknowledgeRequest()
	sa.GroupID, sa.MemberID, sa.ShareSessionEpoch = kmsg.StringPtr("sg"), kmsg.StringPtr("m1"), 1
	at := kmsg.NewShareAcknowledgeRequestTopic()
	at.TopicID = tid
	ap := kmsg.NewShareAcknowledgeRequestTopicPartition()
	ap.AcknowledgementBatches = []kmsg.ShareAcknowledgeRequestTopicPartitionAcknowledgementBatch{{FirstOffset: 2, LastOffset: 1, AcknowledgeTypes: []int8{1}}}
	at.Partitions = append(at.Partitions, ap)
	sa.Topics = append(sa.Topics, at)
	out = append(out, sa)
	dp := kmsg.NewPtrDescribeProducersRequest()
	dp.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: "fz", Partitions: []int32{0, 7}}}
	out = append(out, dp)
	ap4 := kmsg.NewPtrAddPartitionsToTxnRequest()
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.VerifyOnly = "tx", 1, true
	tx.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "fz", Partitions: []int32{0}}}
	ap4.Transactions = append(ap4.Transactions, tx)
	out = append(out, ap4)
	return out
}
