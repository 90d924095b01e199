package tests

// Share groups (KIP-932) with franz-go's share consumer (kgo.ShareGroup):
// cooperative consumption, RELEASE redelivery, REJECT archiving, the
// delivery-count limit, a crashed consumer's locks expiring, and the
// protocol's bad-input answers on raw kmsg requests.

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// shareSettings are groupSettings with short share-group timings: a 2 s
// acquisition lock, delivery limit 3, fast sessions.
func shareSettings() map[string]string {
	s := groupSettings()
	s["group.share.record.lock.duration.ms"] = "2000"
	s["group.share.delivery.count.limit"] = "3"
	s["group.share.session.timeout.ms"] = "3000"
	s["group.share.heartbeat.interval.ms"] = "500"
	s["share.coordinator.state.topic.num.partitions"] = "3"
	return s
}

// setShareEarliest sets share.auto.offset.reset=earliest on group (the
// GROUP config resource), as Kafka's kafka-configs.sh --entity-type groups.
func setShareEarliest(t testing.TB, cl *kgo.Client, group string) {
	t.Helper()
	setGroupConfig(t, cl, group, "share.auto.offset.reset", "earliest")
}

func setGroupConfig(t testing.TB, cl *kgo.Client, group, key, value string) {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value, c.Op = key, kmsg.StringPtr(value), kmsg.IncrementalAlterConfigOpSet
	rr.Configs = append(rr.Configs, c)
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		t.Fatalf("set %s: %v", key, err)
	}
}

func newShareConsumer(t *testing.T, addr, group, topic string, opts ...kgo.Opt) *kgo.Client {
	return newClient(t, addr, append([]kgo.Opt{kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(500 * time.Millisecond)}, opts...)...)
}

// delivery is one record delivered to one consumer.
type delivery struct {
	who   string
	count int32
}

type deliveries struct {
	mu sync.Mutex
	m  map[string][]delivery // value -> deliveries
}

func (d *deliveries) add(who string, r *kgo.Record) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := string(r.Value)
	d.m[v] = append(d.m[v], delivery{who, r.DeliveryCount()})
}

func (d *deliveries) distinct() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.m)
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestShareGroupKgo: three share consumers on a 3-partition topic
// receive every record exactly once between them (each accepted on the
// next poll), and the group describes with its members.
func TestShareGroupKgo(t *testing.T) {
	n := startNode(t, "", shareSettings())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	const topic, group, total = "share-basic", "sg", 300
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	prod := newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	setShareEarliest(t, prod, group)
	for i := 0; i < total; i++ {
		prod.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(i % 3), Value: []byte(strconv.Itoa(i))}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := &deliveries{m: map[string][]delivery{}}
	var wg sync.WaitGroup
	cctx, stop := context.WithCancel(ctx)
	per := map[string]int{}
	var perMu sync.Mutex
	for i := 0; i < 3; i++ {
		who := fmt.Sprint("c", i)
		cl := newShareConsumer(t, n.Addr(), group, topic)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cctx.Err() == nil {
				fs := cl.PollFetches(cctx)
				fs.EachRecord(func(r *kgo.Record) {
					got.add(who, r)
					perMu.Lock()
					per[who]++
					perMu.Unlock()
				})
			}
		}()
	}
	waitUntil(t, "every record consumed", 45*time.Second, func() bool { return got.distinct() == total })
	// The group describes with its three members, one partition each
	// once every member has heartbeated its new assignment.
	waitUntil(t, "the assignment to converge", 15*time.Second, func() bool {
		req := kmsg.NewPtrShareGroupDescribeRequest()
		req.GroupIDs = []string{group}
		dresp, err := req.RequestWith(ctx, prod)
		if err != nil {
			t.Fatal(err)
		}
		dg := dresp.Groups[0]
		if dg.ErrorCode != 0 || dg.GroupState != "Stable" || len(dg.Members) != 3 {
			t.Fatalf("describe: code %d state %q members %d", dg.ErrorCode, dg.GroupState, len(dg.Members))
		}
		for _, m := range dg.Members {
			if len(m.Assignment.TopicPartitions) != 1 || m.Assignment.TopicPartitions[0].Topic != topic || len(m.Assignment.TopicPartitions[0].Partitions) != 1 {
				return false
			}
		}
		return true
	})
	// Every record was accepted (auto-accept on the next poll): the
	// share-partition start offset reaches the log end on every
	// partition, so none can be redelivered.
	waitUntil(t, "every record acknowledged", 15*time.Second, func() bool {
		offs, err := adm.DescribeShareGroupOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		for p := int32(0); p < 3; p++ {
			if o, ok := offs[group].Offsets.Lookup(topic, p); !ok || o.Err != nil || o.StartOffset != total/3 || o.Lag != 0 {
				return false
			}
		}
		return true
	})
	stop()
	wg.Wait()
	got.mu.Lock()
	defer got.mu.Unlock()
	for v, ds := range got.m {
		if len(ds) != 1 {
			t.Errorf("record %s delivered %d times: %v", v, len(ds), ds)
		}
	}
	t.Logf("records per consumer: %v", per)
}

// TestShareGroupAckTypes: RELEASE redelivers with a higher delivery
// count, REJECT archives, and a record released every time is archived
// after group.share.delivery.count.limit (3) deliveries.
func TestShareGroupAckTypes(t *testing.T) {
	n := startNode(t, "", shareSettings())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	const topic, group = "share-acks", "sg-acks"
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	prod := newClient(t, n.Addr())
	setShareEarliest(t, prod, group)
	for i := 0; i < 30; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl := newShareConsumer(t, n.Addr(), group, topic)
	// Record i: i%3 == 0 accepted at once, i%3 == 1 rejected at once,
	// i%3 == 2 released every time (the bomb).
	counts := map[int]int{}
	maxCount := map[int]int32{}
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		fs.EachRecord(func(r *kgo.Record) {
			i, _ := strconv.Atoi(string(r.Value))
			counts[i]++
			maxCount[i] = max(maxCount[i], r.DeliveryCount())
			switch i % 3 {
			case 0:
				r.Ack(kgo.AckAccept)
			case 1:
				r.Ack(kgo.AckReject)
			case 2:
				r.Ack(kgo.AckRelease)
			}
		})
		if err := cl.FlushAcks(ctx); err != nil {
			t.Fatal(err)
		}
		done := len(counts) == 30
		for i := 2; i < 30; i += 3 {
			done = done && counts[i] >= 3
		}
		if done {
			break
		}
	}
	// A little longer: nothing more may come.
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); {
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollFetches(pctx)
		pcancel()
		fs.EachRecord(func(r *kgo.Record) {
			i, _ := strconv.Atoi(string(r.Value))
			counts[i]++
			r.Ack(kgo.AckRelease)
		})
		_ = cl.FlushAcks(ctx)
	}
	for i := 0; i < 30; i++ {
		want := 1
		if i%3 == 2 {
			want = 3
		}
		if counts[i] != want {
			t.Errorf("record %d delivered %d times, want %d (max delivery count %d)", i, counts[i], want, maxCount[i])
		}
		if i%3 == 2 && maxCount[i] != 3 {
			t.Errorf("record %d: last delivery count %d, want 3", i, maxCount[i])
		}
	}
}

// TestShareGroupCrashedConsumer: a consumer cut off the network with
// records acquired (never acknowledged) loses them when their locks
// expire; another consumer then receives them (delivery count 2).
func TestShareGroupCrashedConsumer(t *testing.T) {
	n := startNode(t, "", shareSettings())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	const topic, group = "share-crash", "sg-crash"
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	prod := newClient(t, n.Addr())
	setShareEarliest(t, prod, group)
	for i := 0; i < 10; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	kd := &killableDialer{}
	a := newShareConsumer(t, n.Addr(), group, topic, kgo.Dialer(kd.dial))
	held := map[string]bool{}
	waitUntil(t, "consumer a acquires every record", 20*time.Second, func() bool {
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer pcancel()
		a.PollFetches(pctx).EachRecord(func(r *kgo.Record) { held[string(r.Value)] = true })
		return len(held) == 10
	})
	kd.kill() // a crashes: no acknowledgement, no leave
	start := time.Now()
	b := newShareConsumer(t, n.Addr(), group, topic)
	got := map[string]int32{}
	waitUntil(t, "consumer b receives a's records", 30*time.Second, func() bool {
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer pcancel()
		b.PollFetches(pctx).EachRecord(func(r *kgo.Record) { got[string(r.Value)] = r.DeliveryCount() })
		return len(got) == 10
	})
	for v, c := range got {
		if c != 2 {
			t.Errorf("record %s redelivered with delivery count %d, want 2", v, c)
		}
	}
	t.Logf("redelivered %v after the crash", time.Since(start).Round(time.Millisecond))
}

// TestShareGroupBadInput drives the protocol with raw requests, as a
// misbehaving client would: stale member epochs, share sessions that do
// not exist or are at another epoch, acknowledgements of records never
// acquired, malformed acknowledgement batches.
func TestShareGroupBadInput(t *testing.T) {
	n := startNode(t, "", shareSettings())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	const topic, group = "share-bad", "sg-bad"
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, n.Addr())
	setShareEarliest(t, cl, group)
	for i := 0; i < 5; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	tid := td[topic].ID
	// share.version 1 is advertised (clients gate share groups on it).
	av, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	finalized := false
	for _, f := range av.FinalizedFeatures {
		finalized = finalized || f.Name == "share.version" && f.MaxVersionLevel == 1
	}
	if !finalized {
		t.Fatalf("share.version not finalized at 1: %+v", av.FinalizedFeatures)
	}
	coord := func() *kgo.Broker {
		return cl.Broker(1)
	}
	hb := func(member string, epoch int32, topics []string) *kmsg.ShareGroupHeartbeatResponse {
		req := kmsg.NewPtrShareGroupHeartbeatRequest()
		req.GroupID, req.MemberID, req.MemberEpoch, req.SubscribedTopicNames = group, member, epoch, topics
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// Join; the join answers epoch 1 and the topic's partition.
	j := hb("m1", 0, []string{topic})
	if j.ErrorCode != 0 || j.MemberEpoch < 1 || j.Assignment == nil || len(j.Assignment.TopicPartitions) != 1 {
		t.Fatalf("join: %+v", j)
	}
	if r := hb("m1", j.MemberEpoch+5, nil); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("heartbeat at a future epoch: code %d, want FENCED_MEMBER_EPOCH", r.ErrorCode)
	}
	if r := hb("m1", 0, nil); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("join without topics: code %d, want INVALID_REQUEST", r.ErrorCode)
	}
	if r := hb("nobody", 3, nil); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: code %d, want UNKNOWN_MEMBER_ID", r.ErrorCode)
	}
	fetch := func(epoch int32, acks []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch) *kmsg.ShareFetchResponse {
		req := kmsg.NewPtrShareFetchRequest()
		req.GroupID, req.MemberID = kmsg.StringPtr(group), kmsg.StringPtr("m1")
		req.ShareSessionEpoch, req.MaxWaitMillis, req.MaxRecords, req.BatchSize = epoch, 200, 100, 100
		rt := kmsg.NewShareFetchRequestTopic()
		rt.TopicID = tid
		rp := kmsg.NewShareFetchRequestTopicPartition()
		rp.AcknowledgementBatches = acks
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, coord())
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	ack := func(first, last int64, types ...int8) kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch {
		return kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{FirstOffset: first, LastOffset: last, AcknowledgeTypes: types}
	}
	if r := fetch(3, nil); r.ErrorCode != kerr.ShareSessionNotFound.Code {
		t.Fatalf("fetch without a session: code %d, want SHARE_SESSION_NOT_FOUND", r.ErrorCode)
	}
	if r := fetch(0, []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{ack(0, 0, 1)}); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("acks while opening a session: code %d, want INVALID_REQUEST", r.ErrorCode)
	}
	r := fetch(0, nil)
	if r.ErrorCode != 0 || len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		t.Fatalf("open session: %+v", r)
	}
	p := r.Topics[0].Partitions[0]
	if len(p.AcquiredRecords) != 1 || p.AcquiredRecords[0].FirstOffset != 0 || p.AcquiredRecords[0].LastOffset != 4 || p.AcquiredRecords[0].DeliveryCount != 1 {
		t.Fatalf("acquired %+v, want offsets 0-4 at delivery count 1", p.AcquiredRecords)
	}
	if r := fetch(5, nil); r.ErrorCode != kerr.InvalidShareSessionEpoch.Code {
		t.Fatalf("wrong session epoch: code %d, want INVALID_SHARE_SESSION_EPOCH", r.ErrorCode)
	}
	ackCode := func(r *kmsg.ShareFetchResponse) int16 {
		t.Helper()
		if r.ErrorCode != 0 || len(r.Topics) == 0 || len(r.Topics[0].Partitions) == 0 {
			t.Fatalf("fetch: %+v", r)
		}
		return r.Topics[0].Partitions[0].AcknowledgeErrorCode
	}
	epoch := int32(1)
	next := func() int32 { e := epoch; epoch++; return e }
	for _, tc := range []struct {
		name string
		acks []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch
		want int16
	}{
		{"overlapping batches", []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{ack(0, 2, 1), ack(2, 3, 1)}, kerr.InvalidRequest.Code},
		{"out of order batches", []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{ack(3, 3, 1), ack(0, 1, 1)}, kerr.InvalidRequest.Code},
		{"first after last", []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{ack(3, 1, 1)}, kerr.InvalidRequest.Code},
		{"wrong number of types", []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{ack(0, 2, 1, 1)}, kerr.InvalidRequest.Code},
		{"unknown type", []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{ack(0, 0, 9)}, kerr.InvalidRequest.Code},
		{"records never delivered", []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{ack(4, 7, 1)}, kerr.InvalidRecordState.Code},
		{"accept", []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{ack(0, 4, 1)}, 0},
		{"accepted twice", []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{ack(0, 0, 1)}, kerr.InvalidRecordState.Code},
	} {
		if got := ackCode(fetch(next(), tc.acks)); got != tc.want {
			t.Errorf("%s: acknowledge code %d, want %d", tc.name, got, tc.want)
		}
	}
	// Another member cannot acknowledge m1's records: m2 opens its own
	// session, a new record is acquired by m1, m2's ack is refused.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("5")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if r := fetch(next(), nil); len(r.Topics) != 1 || len(r.Topics[0].Partitions[0].AcquiredRecords) != 1 {
		t.Fatalf("m1 fetch of offset 5: %+v", r)
	}
	ackReq := kmsg.NewPtrShareAcknowledgeRequest()
	ackReq.GroupID, ackReq.MemberID, ackReq.ShareSessionEpoch = kmsg.StringPtr(group), kmsg.StringPtr("m2"), 1
	if resp, err := ackReq.RequestWith(ctx, coord()); err != nil || resp.ErrorCode != kerr.ShareSessionNotFound.Code {
		t.Fatalf("m2 ack without a session: %v code %v", err, resp)
	}
}

// TestShareGroupReadCommitted: with share.isolation.level=read_committed
// a share consumer receives the records of committed transactions only;
// aborted ones (and the markers) are archived, never delivered.
func TestShareGroupReadCommitted(t *testing.T) {
	n := startNode(t, "", shareSettings())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	const topic, group = "share-txn", "sg-txn"
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	admCl := newClient(t, n.Addr())
	setShareEarliest(t, admCl, group)
	setGroupConfig(t, admCl, group, "share.isolation.level", "read_committed")
	prod := newClient(t, n.Addr(), kgo.TransactionalID("share-txn-producer"), kgo.DefaultProduceTopic(topic))
	txn := func(prefix string, commit bool) {
		t.Helper()
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			prod.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("%s%d", prefix, i))}, nil)
		}
		if err := prod.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := prod.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	txn("c", true)
	txn("a", false)
	txn("d", true)
	txn("b", false)
	txn("e", true)
	cl := newShareConsumer(t, n.Addr(), group, topic)
	got := map[string]bool{}
	waitUntil(t, "the committed records", 20*time.Second, func() bool {
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer pcancel()
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			if v := string(r.Value); v[0] == 'a' || v[0] == 'b' {
				t.Errorf("aborted record %s delivered", v)
			}
			got[string(r.Value)] = true
		})
		return len(got) >= 15
	})
	if len(got) != 15 {
		t.Fatalf("got %d records: %v", len(got), got)
	}
}

// TestShareSessionConnectionClosed: a share session is tied to the
// connection that opened it (KIP-932). A raw client acquires every record
// with a 30 s acquisition lock and its connection closes without
// acknowledging or closing the session: the records go to another member
// at once, long before the lock would expire, at delivery count 2.
func TestShareSessionConnectionClosed(t *testing.T) {
	settings := shareSettings()
	settings["group.share.record.lock.duration.ms"] = "30000"
	n := startNode(t, "", settings)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	const topic, group = "share-connclose", "sg-connclose"
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	prod := newClient(t, n.Addr())
	setShareEarliest(t, prod, group)
	for i := 0; i < 5; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	tid := td[topic].ID
	fetch := func(cl *kgo.Client, member string, epoch int32) *kmsg.ShareFetchResponse {
		t.Helper()
		return rawShareFetch(ctx, t, cl, group, member, tid, epoch)
	}
	acquired := shareAcquired
	kd := &killableDialer{}
	a := newClient(t, n.Addr(), kgo.Dialer(kd.dial))
	if got, _ := acquired(fetch(a, "m1", 0)); got != 5 {
		t.Fatalf("m1 acquired %d records, want 5", got)
	}
	b := newClient(t, n.Addr())
	if got, _ := acquired(fetch(b, "m2", 0)); got != 0 {
		t.Fatalf("m2 acquired %d records locked by m1", got)
	}
	kd.kill()
	start := time.Now()
	epoch := int32(1)
	var counts []int16
	waitUntil(t, "m2 acquires the records of m1's closed connection", 10*time.Second, func() bool {
		got, c := acquired(fetch(b, "m2", epoch))
		epoch++
		counts = append(counts, c...)
		return got == 5
	})
	for _, c := range counts {
		if c != 2 {
			t.Errorf("redelivered at delivery count %d, want 2", c)
		}
	}
	t.Logf("redelivered %v after the connection closed (lock duration 30 s)", time.Since(start).Round(time.Millisecond))
}

// rawShareFetch sends one ShareFetch of partition 0 of topic tid for
// member at epoch and fails the test on a top-level error.
func rawShareFetch(ctx context.Context, t *testing.T, cl *kgo.Client, group, member string, tid [16]byte, epoch int32) *kmsg.ShareFetchResponse {
	t.Helper()
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID = kmsg.StringPtr(group), kmsg.StringPtr(member)
	req.ShareSessionEpoch, req.MaxWaitMillis, req.MaxRecords, req.BatchSize = epoch, 200, 100, 100
	rt := kmsg.NewShareFetchRequestTopic()
	rt.TopicID = tid
	rt.Partitions = append(rt.Partitions, kmsg.NewShareFetchRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(1))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("%s fetch at epoch %d: code %d", member, epoch, resp.ErrorCode)
	}
	return resp
}

// shareAcquired counts the records a ShareFetch acquired, with the
// delivery count of each run.
func shareAcquired(r *kmsg.ShareFetchResponse) (n int64, counts []int16) {
	for _, rt := range r.Topics {
		for _, p := range rt.Partitions {
			for _, a := range p.AcquiredRecords {
				n += a.LastOffset - a.FirstOffset + 1
				counts = append(counts, a.DeliveryCount)
			}
		}
	}
	return n, counts
}

// TestShareGroupConfigOverrides: group.share.record.lock.duration.ms and
// group.share.delivery.count.limit set on the GROUP config resource
// override the broker's for that group, within the broker's min/max
// bounds (outside is INVALID_CONFIG): a 30 s broker lock becomes 2 s, and
// with a limit of 2 a record whose lock expires twice is archived.
func TestShareGroupConfigOverrides(t *testing.T) {
	settings := shareSettings()
	settings["group.share.record.lock.duration.ms"] = "30000"
	settings["group.share.delivery.count.limit"] = "5"
	settings["group.share.min.record.lock.duration.ms"] = "1000"
	n := startNode(t, "", settings)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	const topic, group = "share-overrides", "sg-overrides"
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, n.Addr())
	setShareEarliest(t, cl, group)
	for key, bad := range map[string]string{"group.share.record.lock.duration.ms": "61000", "group.share.delivery.count.limit": "11"} {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value, c.Op = key, kmsg.StringPtr(bad), kmsg.IncrementalAlterConfigOpSet
		rr.Configs = append(rr.Configs, c)
		req.Resources = append(req.Resources, rr)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Resources[0].ErrorCode != kerr.InvalidConfig.Code {
			t.Errorf("%s=%s above the broker's max: code %d, want INVALID_CONFIG", key, bad, resp.Resources[0].ErrorCode)
		}
	}
	setGroupConfig(t, cl, group, "group.share.record.lock.duration.ms", "2000")
	setGroupConfig(t, cl, group, "group.share.delivery.count.limit", "2")
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	tid := td[topic].ID
	r := rawShareFetch(ctx, t, cl, group, "m1", tid, 0)
	if r.AcquisitionLockTimeoutMillis != 2000 {
		t.Errorf("acquisition lock timeout %d ms, want the group's 2000", r.AcquisitionLockTimeoutMillis)
	}
	if got, c := shareAcquired(r); got != 1 || c[0] != 1 {
		t.Fatalf("first fetch acquired %d records %v, want 1 at delivery count 1", got, c)
	}
	start := time.Now()
	epoch := int32(1)
	waitUntil(t, "the record is redelivered after the group's 2 s lock", 15*time.Second, func() bool {
		got, c := shareAcquired(rawShareFetch(ctx, t, cl, group, "m1", tid, epoch))
		epoch++
		if got == 1 && c[0] != 2 {
			t.Fatalf("redelivered at delivery count %d, want 2", c[0])
		}
		return got == 1
	})
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("redelivered after %v, the broker's 30 s lock rather than the group's 2 s", d)
	}
	// Limit 2: once the second lock expires the record is archived.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if got, c := shareAcquired(rawShareFetch(ctx, t, cl, group, "m1", tid, epoch)); got != 0 {
			t.Fatalf("delivered again at count %v past the group's delivery limit 2", c)
		}
		epoch++
	}
}

// TestShareGroupResetByDuration: share.auto.offset.reset=by_duration:PT1H
// starts a new share-partition at the first record at most an hour old;
// older records are never delivered.
func TestShareGroupResetByDuration(t *testing.T) {
	n := startNode(t, "", shareSettings())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	const topic, group = "share-byduration", "sg-byduration"
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, n.Addr())
	old := time.Now().Add(-2 * time.Hour)
	for i := 0; i < 3; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("old"), Timestamp: old}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("new"), Timestamp: time.Now()}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	setGroupConfig(t, cl, group, "share.auto.offset.reset", "by_duration:PT1H")
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	r := rawShareFetch(ctx, t, cl, group, "m1", td[topic].ID, 0)
	var firsts []int64
	var got int64
	for _, rt := range r.Topics {
		for _, p := range rt.Partitions {
			for _, a := range p.AcquiredRecords {
				firsts = append(firsts, a.FirstOffset)
				got += a.LastOffset - a.FirstOffset + 1
			}
		}
	}
	if got != 2 || len(firsts) == 0 || firsts[0] != 3 {
		t.Fatalf("acquired %d records from offsets %v, want the 2 recent ones from offset 3", got, firsts)
	}
}
