package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/record"
	"github.com/tributary/tributary/internal/replica"
	"github.com/tributary/tributary/internal/storage"
)

// Handler tests: the real Produce, Fetch and Metadata handlers over fakes
// of the broker's two dependencies (deps.go): a metadata source holding a
// fixed state, and a replica manager holding real partitions on temporary
// logs. No quorum, no listener, no fetchers.

// fakeMetadata serves a fixed state and refuses proposals.
type fakeMetadata struct {
	st       *metadata.State
	leaderID int32

	mu       sync.Mutex
	proposed []*metadata.Command
}

var errFakeProposal = errors.New("fake metadata: proposals are not applied")

func (f *fakeMetadata) State() *metadata.State   { return f.st }
func (f *fakeMetadata) Changed() <-chan struct{} { return make(chan struct{}) }
func (f *fakeMetadata) Propose(_ context.Context, cmd *metadata.Command) (metadata.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.proposed = append(f.proposed, cmd)
	return metadata.Result{}, errFakeProposal
}
func (f *fakeMetadata) WaitApplied(context.Context, uint64) error           { return nil }
func (f *fakeMetadata) SetVisible(uint64)                                   {}
func (f *fakeMetadata) WaitVisibleEverywhere(context.Context, uint64) error { return nil }
func (f *fakeMetadata) Heartbeat(metadata.Broker) error                     { return nil }
func (f *fakeMetadata) Fence(context.Context, int32) error                  { return nil }
func (f *fakeMetadata) Addr() string                                        { return "127.0.0.1:0" }
func (f *fakeMetadata) LeaderID() int32                                     { return f.leaderID }
func (f *fakeMetadata) IsLeader() bool                                      { return f.leaderID == 1 }
func (f *fakeMetadata) Info() metadata.QuorumInfo                           { return metadata.QuorumInfo{} }

// fakeReplicas holds fixed replicas and records what the handlers ask of
// the replica manager.
type fakeReplicas struct {
	parts map[replica.Key]*partition.Partition

	mu         sync.Mutex
	fetches    []followerFetch
	wakeFaults int
}

type followerFetch struct {
	key      replica.Key
	follower int32
	offset   int64
}

func (f *fakeReplicas) Reconcile(*metadata.State, bool, bool, func(string) (storage.Options, bool)) replica.Reconciled {
	return replica.Reconciled{Parts: f.parts}
}
func (f *fakeReplicas) Local() []replica.Replica {
	var out []replica.Replica
	for k, p := range f.parts {
		out = append(out, replica.Replica{Key: k, P: p})
	}
	return out
}
func (f *fakeReplicas) DiskUsage() storage.DiskUsage { return storage.DiskUsage{} }
func (f *fakeReplicas) FollowerFetched(p *partition.Partition, follower int32, offset int64, now time.Time) (bool, error) {
	f.mu.Lock()
	f.fetches = append(f.fetches, followerFetch{replica.Key{Topic: p.Topic, Partition: p.Index}, follower, offset})
	f.mu.Unlock()
	_, refetch, err := p.FollowerFetched(follower, offset, now, true)
	return refetch, err
}
func (f *fakeReplicas) StorageFault(_ *partition.Partition, cause error) error { return cause }
func (f *fakeReplicas) WakeFaults() {
	f.mu.Lock()
	f.wakeFaults++
	f.mu.Unlock()
}
func (f *fakeReplicas) Halt()          {}
func (f *fakeReplicas) CloseFetchers() {}
func (f *fakeReplicas) Close() error {
	for _, p := range f.parts {
		p.Close()
	}
	return nil
}

// handlerFixture is a broker (node 1) of a three-broker cluster (broker 3
// fenced) with topic "t": partition 0 led here (replicas 1,2, ISR 1,2,
// leader epoch 5), partition 1 led by broker 2, partition 2 without a
// leader.
type handlerFixture struct {
	b    *Broker
	meta *fakeMetadata
	reps *fakeReplicas
	p0   *partition.Partition
}

func newHandlerFixture(t *testing.T) *handlerFixture {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	const inc = "test-incarnation"
	topicID := [16]byte{1, 2, 3}
	st := &metadata.State{ClusterID: "cluster-1", Index: 7,
		Brokers: map[int32]*metadata.Broker{
			1: {ID: 1, Host: "h1", Port: 9001, Incarnation: inc},
			2: {ID: 2, Host: "h2", Port: 9002, Rack: "r2"},
			3: {ID: 3, Host: "h3", Port: 9003, Fenced: true},
		},
		Topics: map[string]*metadata.Topic{"t": {Name: "t", ID: topicID, ReplicationFactor: 2,
			Configs: map[string]string{"min.insync.replicas": "2"},
			Parts: []metadata.Partition{
				{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 5, PartitionEpoch: 9},
				{Replicas: []int32{2, 1}, ISR: []int32{2, 1}, Leader: 2, LeaderEpoch: 4, PartitionEpoch: 4},
				{Replicas: []int32{2, 3}, ISR: []int32{3}, Leader: -1, LeaderEpoch: 6, PartitionEpoch: 6},
			}}},
	}
	open := func(i int32, ps metadata.Partition) *partition.Partition {
		l, err := storage.Open(filepath.Join(t.TempDir(), "t-"+string(rune('0'+i))), logger)
		if err != nil {
			t.Fatal(err)
		}
		p, err := partition.Open("t", i, 1, l)
		if err != nil {
			t.Fatal(err)
		}
		p.SetRole(partition.Role{Leader: ps.Leader, LeaderEpoch: ps.LeaderEpoch, PartitionEpoch: ps.PartitionEpoch, Replicas: ps.Replicas, ISR: ps.ISR}, time.Now())
		return p
	}
	parts := st.Topics["t"].Parts
	reps := &fakeReplicas{parts: map[replica.Key]*partition.Partition{
		{Topic: "t", Partition: 0}: open(0, parts[0]),
		{Topic: "t", Partition: 1}: open(1, parts[1]),
	}}
	meta := &fakeMetadata{st: st, leaderID: 2}
	bc, err := config.NewBroker(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &Broker{cfg: Config{NodeID: 1, Broker: bc, Logger: logger, Now: time.Now}, log: logger, quorum: meta, replicas: reps,
		incarnation: inc, topics: map[string]*topic{}, byID: map[[16]byte]*topic{}, stop: make(chan struct{})}
	b.reconcile(st)
	t.Cleanup(func() { b.Close() })
	if !b.Ready() {
		t.Fatal("broker not ready after reconciling its own registration")
	}
	return &handlerFixture{b: b, meta: meta, reps: reps, p0: reps.parts[replica.Key{Topic: "t", Partition: 0}]}
}

// call runs a request through the broker's dispatch and its Pending.
func (f *handlerFixture) call(t *testing.T, req kmsg.Request, version int16) kmsg.Response {
	t.Helper()
	req.SetVersion(version)
	pending := f.b.Handle(context.Background(), &Request{Key: req.Key(), Version: version, Msg: req, Conn: &ConnInfo{}})
	if pending == nil {
		return nil
	}
	return unsplice(t, f.b, pending())
}

func produceRequest(acks int16, parts map[int32][]byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "t"
	for _, i := range slices.Sorted(func(yield func(int32) bool) {
		for i := range parts {
			if !yield(i) {
				return
			}
		}
	}) {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = i, parts[i]
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

func fetchRequest(replicaID int32, offset int64, leaderEpoch int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes, req.MinBytes, req.MaxWaitMillis, req.SessionEpoch = replicaID, 1<<20, 1, 0, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes, rp.LogStartOffset = 0, offset, leaderEpoch, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestProduceHandler: offsets assigned by the leader replica, the wire
// codes of partitions not led here, min.insync.replicas, and an acks=all
// answer that waits until the follower's fetch moves the high watermark.
func TestProduceHandler(t *testing.T) {
	f := newHandlerFixture(t)
	resp := f.call(t, produceRequest(1, map[int32][]byte{0: v2Batch(3, 10), 1: v2Batch(1, 10), 2: v2Batch(1, 10), 7: v2Batch(1, 10)}), 9).(*kmsg.ProduceResponse)
	got := map[int32]kmsg.ProduceResponseTopicPartition{}
	for _, rp := range resp.Topics[0].Partitions {
		got[rp.Partition] = rp
	}
	if rp := got[0]; rp.ErrorCode != 0 || rp.BaseOffset != 0 || rp.LogStartOffset != 0 {
		t.Fatalf("partition 0: %+v, want offset 0 and no error", rp)
	}
	for i, want := range map[int32]*kerr.Error{1: kerr.NotLeaderForPartition, 2: kerr.NotLeaderForPartition, 7: kerr.UnknownTopicOrPartition} {
		if got[i].ErrorCode != want.Code {
			t.Errorf("partition %d: error %d, want %s", i, got[i].ErrorCode, want.Message)
		}
	}
	if s := f.p0.Snapshot(); s.LogEndOffset != 3 || s.HighWatermark != 0 {
		t.Fatalf("after acks=1: %+v, want log end 3 and high watermark 0 (follower 2 has not fetched)", s)
	}

	// acks=all waits for the ISR (1,2): it answers once follower 2's
	// fetch reports it holds offset 5.
	done := make(chan *kmsg.ProduceResponse, 1)
	go func() {
		done <- f.call(t, produceRequest(-1, map[int32][]byte{0: v2Batch(2, 10)}), 9).(*kmsg.ProduceResponse)
	}()
	waitFor(t, "the acks=all batch appended", func() bool { return f.p0.Snapshot().LogEndOffset == 5 })
	select {
	case r := <-done:
		t.Fatalf("acks=all answered before the follower had the batch: %+v", r.Topics[0].Partitions[0])
	case <-time.After(50 * time.Millisecond):
	}
	fr := f.call(t, fetchRequest(2, 5, 5), 12).(*kmsg.FetchResponse)
	if rp := fr.Topics[0].Partitions[0]; rp.ErrorCode != 0 || rp.HighWatermark != 5 {
		t.Fatalf("follower fetch: error %d high watermark %d, want 0 and 5", rp.ErrorCode, rp.HighWatermark)
	}
	select {
	case r := <-done:
		if rp := r.Topics[0].Partitions[0]; rp.ErrorCode != 0 || rp.BaseOffset != 3 {
			t.Fatalf("acks=all: %+v, want offset 3 and no error", rp)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("acks=all not answered after the follower caught up")
	}

	// min.insync.replicas=2 with the ISR shrunk to the leader: refused.
	f.p0.SetRole(partition.Role{Leader: 1, LeaderEpoch: 5, PartitionEpoch: 10, Replicas: []int32{1, 2}, ISR: []int32{1}}, time.Now())
	r := f.call(t, produceRequest(-1, map[int32][]byte{0: v2Batch(1, 10)}), 9).(*kmsg.ProduceResponse)
	if rp := r.Topics[0].Partitions[0]; rp.ErrorCode != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all with ISR 1 < min.insync.replicas 2: error %d, want NOT_ENOUGH_REPLICAS", rp.ErrorCode)
	}
	// acks=1 is not bound by min.insync.replicas.
	r = f.call(t, produceRequest(1, map[int32][]byte{0: v2Batch(1, 10)}), 9).(*kmsg.ProduceResponse)
	if rp := r.Topics[0].Partitions[0]; rp.ErrorCode != 0 || rp.BaseOffset != 5 {
		t.Fatalf("acks=1 with a short ISR: %+v, want offset 5", rp)
	}
}

// TestFetchHandler: consumers read below the high watermark, followers to
// the log end (and their fetch goes to the replica manager), and the
// leader epoch a client sends is checked against the replica's.
func TestFetchHandler(t *testing.T) {
	f := newHandlerFixture(t)
	if r := f.call(t, produceRequest(1, map[int32][]byte{0: v2Batch(4, 10)}), 9).(*kmsg.ProduceResponse); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("produce: %+v", r.Topics[0].Partitions[0])
	}
	batches := func(rp kmsg.FetchResponseTopicPartition) int {
		n := 0
		for data := rp.RecordBatches; len(data) > 0; n++ {
			sz, err := record.Peek(data)
			if err != nil {
				t.Fatal(err)
			}
			data = data[sz:]
		}
		return n
	}

	// A consumer sees nothing yet: the high watermark is 0.
	rp := f.call(t, fetchRequest(-1, 0, 5), 12).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if rp.ErrorCode != 0 || rp.HighWatermark != 0 || batches(rp) != 0 {
		t.Fatalf("consumer fetch before replication: error %d hw %d batches %d, want 0, 0, 0", rp.ErrorCode, rp.HighWatermark, batches(rp))
	}
	// The follower reads to the log end; its fetch is reported.
	rp = f.call(t, fetchRequest(2, 0, 5), 12).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if rp.ErrorCode != 0 || batches(rp) != 1 {
		t.Fatalf("follower fetch: error %d batches %d, want 0 and 1", rp.ErrorCode, batches(rp))
	}
	// Its next fetch (offset 4) says it holds the batch: committed.
	rp = f.call(t, fetchRequest(2, 4, 5), 12).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if rp.HighWatermark != 4 {
		t.Fatalf("after the follower's fetch at 4: high watermark %d, want 4", rp.HighWatermark)
	}
	want := []followerFetch{{replica.Key{Topic: "t", Partition: 0}, 2, 0}, {replica.Key{Topic: "t", Partition: 0}, 2, 4}}
	if !slices.Equal(f.reps.fetches, want) {
		t.Fatalf("replica manager told of %v, want %v", f.reps.fetches, want)
	}
	rp = f.call(t, fetchRequest(-1, 0, 5), 12).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if rp.ErrorCode != 0 || rp.HighWatermark != 4 || rp.LastStableOffset != 4 || batches(rp) != 1 {
		t.Fatalf("consumer fetch after replication: %d %d %d %d, want error 0, hw 4, lso 4, 1 batch", rp.ErrorCode, rp.HighWatermark, rp.LastStableOffset, batches(rp))
	}

	for _, c := range []struct {
		name   string
		offset int64
		epoch  int32
		want   *kerr.Error
	}{
		{"older leader epoch", 0, 4, kerr.FencedLeaderEpoch},
		{"newer leader epoch", 0, 6, kerr.UnknownLeaderEpoch},
		{"offset past the log end", 9, 5, kerr.OffsetOutOfRange},
	} {
		rp := f.call(t, fetchRequest(-1, c.offset, c.epoch), 12).(*kmsg.FetchResponse).Topics[0].Partitions[0]
		if rp.ErrorCode != c.want.Code {
			t.Errorf("%s: error %d, want %s", c.name, rp.ErrorCode, c.want.Message)
		}
	}
}

// TestMetadataHandler: live brokers, the controller, and each partition's
// leader, replicas, ISR and epoch as the metadata source has them.
func TestMetadataHandler(t *testing.T) {
	f := newHandlerFixture(t)
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range []string{"t", "missing"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	resp := f.call(t, req, 12).(*kmsg.MetadataResponse)
	if resp.ClusterID == nil || *resp.ClusterID != "cluster-1" || resp.ControllerID != 2 {
		t.Fatalf("cluster id %v controller %d, want cluster-1 and 2", resp.ClusterID, resp.ControllerID)
	}
	var brokers []int32
	for _, br := range resp.Brokers {
		brokers = append(brokers, br.NodeID)
		if br.NodeID == 2 && (br.Host != "h2" || br.Port != 9002 || br.Rack == nil || *br.Rack != "r2") {
			t.Errorf("broker 2: %+v", br)
		}
	}
	if !slices.Equal(brokers, []int32{1, 2}) {
		t.Fatalf("brokers %v, want the live ones, 1 and 2 (3 is fenced)", brokers)
	}
	if len(resp.Topics) != 2 {
		t.Fatalf("%d topics, want 2", len(resp.Topics))
	}
	for _, rt := range resp.Topics {
		switch *rt.Topic {
		case "missing":
			if rt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
				t.Errorf("missing topic: error %d, want UNKNOWN_TOPIC_OR_PARTITION", rt.ErrorCode)
			}
		case "t":
			if rt.ErrorCode != 0 || rt.TopicID != [16]byte{1, 2, 3} || len(rt.Partitions) != 3 {
				t.Fatalf("topic t: error %d id %v %d partitions", rt.ErrorCode, rt.TopicID, len(rt.Partitions))
			}
			for _, p := range rt.Partitions {
				ps := f.meta.st.Topics["t"].Parts[p.Partition]
				wantCode := int16(0)
				if ps.Leader < 0 {
					wantCode = kerr.LeaderNotAvailable.Code
				}
				if p.ErrorCode != wantCode || p.Leader != ps.Leader || p.LeaderEpoch != ps.LeaderEpoch ||
					!slices.Equal(p.Replicas, ps.Replicas) || !slices.Equal(p.ISR, ps.ISR) {
					t.Errorf("partition %d: %+v, want %+v (error %d)", p.Partition, p, ps, wantCode)
				}
			}
		}
	}
	if len(f.meta.proposed) != 0 {
		t.Errorf("metadata with auto-creation off proposed %d commands", len(f.meta.proposed))
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFetchLeaderHint (KIP-951): a consumer's fetch of a partition led
// elsewhere names its current leader and epoch from v12, with the
// leader's address from v16; before v12 the fields do not exist.
func TestFetchLeaderHint(t *testing.T) {
	f := newHandlerFixture(t)
	fetch := func(version int16) *kmsg.FetchResponse {
		req := fetchRequest(-1, 0, -1)
		req.Topics[0].TopicID = f.b.topic("t").meta.ID
		req.Topics[0].Partitions[0].Partition = 1 // led by broker 2, epoch 4
		return f.call(t, req, version).(*kmsg.FetchResponse)
	}
	for _, v := range []int16{11, 12, 16} {
		resp := fetch(v)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("v%d: %+v", v, resp.Topics)
		}
		rp := resp.Topics[0].Partitions[0]
		if rp.ErrorCode != kerr.NotLeaderForPartition.Code {
			t.Fatalf("v%d: error %d, want NOT_LEADER_OR_FOLLOWER", v, rp.ErrorCode)
		}
		wantID, wantEpoch := int32(2), int32(4)
		if v < 12 {
			wantID, wantEpoch = -1, -1
		}
		if rp.CurrentLeader.LeaderID != wantID || rp.CurrentLeader.LeaderEpoch != wantEpoch {
			t.Errorf("v%d: current leader %+v, want %d epoch %d", v, rp.CurrentLeader, wantID, wantEpoch)
		}
		if v < 16 {
			if len(resp.Brokers) != 0 {
				t.Errorf("v%d: node endpoints %+v, want none", v, resp.Brokers)
			}
			continue
		}
		if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 2 || resp.Brokers[0].Host != "h2" || resp.Brokers[0].Port != 9002 ||
			resp.Brokers[0].Rack == nil || *resp.Brokers[0].Rack != "r2" {
			t.Errorf("v%d: node endpoints %+v, want broker 2 at h2:9002 in rack r2", v, resp.Brokers)
		}
		back := kmsg.NewPtrFetchResponse()
		back.SetVersion(v)
		if err := back.ReadFrom(resp.AppendTo(nil)); err != nil || len(back.Brokers) != 1 ||
			back.Topics[0].Partitions[0].CurrentLeader.LeaderID != 2 {
			t.Fatalf("v%d round trip: %v %+v", v, err, back)
		}
	}
}

// TestProduceLeaderHint (KIP-951): a partition led elsewhere is answered
// NOT_LEADER_OR_FOLLOWER with its current leader and epoch, and the
// response carries that leader's address; a partition without a leader
// gets no hint, nor does one answered without an error.
func TestProduceLeaderHint(t *testing.T) {
	f := newHandlerFixture(t)
	resp := f.call(t, produceRequest(1, map[int32][]byte{0: v2Batch(1, 10), 1: v2Batch(1, 10), 2: v2Batch(1, 10)}), 10).(*kmsg.ProduceResponse)
	got := map[int32]kmsg.ProduceResponseTopicPartition{}
	for _, rp := range resp.Topics[0].Partitions {
		got[rp.Partition] = rp
	}
	if rp := got[1]; rp.ErrorCode != kerr.NotLeaderForPartition.Code || rp.CurrentLeader.LeaderID != 2 || rp.CurrentLeader.LeaderEpoch != 4 {
		t.Errorf("partition 1 (led by broker 2, epoch 4): code %d, current leader %+v", rp.ErrorCode, rp.CurrentLeader)
	}
	for _, i := range []int32{0, 2} {
		if rp := got[i]; rp.CurrentLeader.LeaderID != -1 || rp.CurrentLeader.LeaderEpoch != -1 {
			t.Errorf("partition %d: current leader %+v, want none (-1, -1)", i, rp.CurrentLeader)
		}
	}
	if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 2 || resp.Brokers[0].Host != "h2" || resp.Brokers[0].Port != 9002 ||
		resp.Brokers[0].Rack == nil || *resp.Brokers[0].Rack != "r2" {
		t.Errorf("node endpoints: %+v, want broker 2 at h2:9002 in rack r2", resp.Brokers)
	}
	// A partition led here whose answer is NOT_LEADER_OR_FOLLOWER (an
	// acks=all wait that saw the leader epoch move on) names this broker
	// with the epoch from metadata, so the client retries here at once.
	leaders := map[int32]bool{}
	if id, epoch := f.b.leaderHint(f.b.topic("t"), 0, kerr.NotLeaderForPartition.Code, leaders); id != 1 || epoch != 5 || !leaders[1] {
		t.Errorf("hint for partition 0 led here: leader %d epoch %d (%v), want 1 and 5", id, epoch, leaders)
	}
	// The hint survives the wire at v10 (tagged fields).
	raw := resp.AppendTo(nil)
	back := kmsg.NewPtrProduceResponse()
	back.SetVersion(10)
	if err := back.ReadFrom(raw); err != nil || len(back.Brokers) != 1 {
		t.Fatalf("v10 round trip: %v %+v", err, back.Brokers)
	}
}
