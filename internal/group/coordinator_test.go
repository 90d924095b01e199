package group

import (
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/record"
)

// fakeClock runs timers only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers map[int]*fakeTimer
}

type fakeTimer struct {
	at  time.Time
	seq int
	f   func()
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.UnixMilli(1_700_000_000_000), timers: map[int]*fakeTimer{}}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	id := c.seq
	c.timers[id] = &fakeTimer{at: c.now.Add(d), seq: id, f: f}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.timers[id]
		delete(c.timers, id)
		return ok
	}
}

// Advance moves time forward by d, running due timers in time order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		for _, t := range c.timers {
			if !t.at.After(end) && (next == nil || t.at.Before(next.at) || t.at.Equal(next.at) && t.seq < next.seq) {
				next = t
			}
		}
		if next == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		delete(c.timers, next.seq)
		c.now = next.at
		c.mu.Unlock()
		next.f()
	}
}

// memLog is an in-memory __consumer_offsets.
type memLog struct {
	mu      sync.Mutex
	n       int32
	batches map[int32][][]byte
}

func (l *memLog) Partitions(create bool) (int32, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.batches == nil && create {
		l.batches = map[int32][][]byte{}
	}
	if l.batches == nil {
		return 0, nil
	}
	return l.n, nil
}

func (l *memLog) Append(p int32, b []byte) (int64, int32, error) {
	if _, err := record.Validate(b); err != nil {
		return 0, 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.batches[p] = append(l.batches[p], append([]byte(nil), b...))
	return int64(len(l.batches[p])), 0, nil
}

func (l *memLog) Sync(int32, int64, int32) error { return nil }

// leadAll makes c lead every partition of log (creating the topic), as the
// broker does on a single node, and waits for the loads.
func leadAll(t *testing.T, c *Coordinator, log *memLog) {
	t.Helper()
	n, err := log.Partitions(true)
	if err != nil {
		t.Fatal(err)
	}
	led := map[int32]int32{}
	for p := int32(0); p < n; p++ {
		led[p] = 0
	}
	select {
	case <-c.SetLeadership(n, led):
	case <-time.After(10 * time.Second):
		t.Fatal("offsets partitions not loaded")
	}
}

func (l *memLog) Read(p int32, fn func([]byte) error) error {
	l.mu.Lock()
	bs := l.batches[p]
	l.mu.Unlock()
	for _, b := range bs {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type memTopics map[string]int32

func (m memTopics) PartitionCount(t string) (int32, bool) { n, ok := m[t]; return n, ok }

// memTopicID is a fake topic id: the name's bytes.
func memTopicID(t string) (id [16]byte) { copy(id[:], t); id[15] = 1; return id }

func (m memTopics) TopicInfo(t string) ([16]byte, int32, bool) {
	n, ok := m[t]
	return memTopicID(t), n, ok
}

func (m memTopics) TopicByID(id [16]byte) (string, bool) {
	for t := range m {
		if memTopicID(t) == id {
			return t, true
		}
	}
	return "", false
}

func (m memTopics) TopicNames() []string { return sortedKeys(m) }

func newTestCoordinator(t *testing.T, log *memLog, clock *fakeClock, delay time.Duration) *Coordinator {
	t.Helper()
	c, err := New(Config{
		Log: log, Topics: memTopics{"t": 3}, Clock: clock,
		Logger:                slog.New(slog.NewTextHandler(io.Discard, nil)),
		InitialRebalanceDelay: delay, MinSessionTimeout: 100 * time.Millisecond,
		OffsetsRetention: time.Hour, RetentionCheck: 10 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	leadAll(t, c, log)
	return c
}

func join(c *Coordinator, group, member string, version int16) func(<-chan struct{}) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = version
	r.Group, r.MemberID, r.ProtocolType = group, member, "consumer"
	r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 1000, 10000
	r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0}}}
	return c.JoinGroup(r, Client{ID: "c", Host: "/127.0.0.1"})
}

// now returns a join's response if it is ready, else nil.
func now(w func(<-chan struct{}) *kmsg.JoinGroupResponse) *kmsg.JoinGroupResponse {
	done := make(chan struct{})
	close(done)
	return w(done)
}

func syncGroup(c *Coordinator, group, member string, gen int32, assign map[string]string) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Group, r.MemberID, r.Generation = group, member, gen
	for m, a := range assign {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m, MemberAssignment: []byte(a)})
	}
	done := make(chan struct{})
	close(done)
	return c.SyncGroup(r)(done)
}

func heartbeat(c *Coordinator, group, member string, gen int32) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Group, r.MemberID, r.Generation = group, member, gen
	return c.Heartbeat(r).ErrorCode
}

func TestPartitionFor(t *testing.T) {
	for _, tc := range []struct {
		id   string
		n    int32
		want int32
	}{
		{"hello", 50, 99162322 % 50}, // "hello".hashCode() == 99162322
		{"", 50, 0},
		{"polygenelubricants", 50, 0}, // hashCode is Integer.MIN_VALUE; Utils.abs maps it to 0
		{"Aa", 7, 2112 % 7},           // "Aa" and "BB" collide in Java
		{"BB", 7, 2112 % 7},
		{"é", 50, 233 % 50},                // UTF-16 code unit, not UTF-8 bytes
		{"😀", 50, (55357*31 + 56832) % 50}, // surrogate pair
	} {
		if got := PartitionFor(tc.id, tc.n); got != tc.want {
			t.Errorf("PartitionFor(%q, %d) = %d, want %d", tc.id, tc.n, got, tc.want)
		}
	}
}

func TestRebalanceAndSessionExpiry(t *testing.T) {
	clock := newFakeClock()
	c := newTestCoordinator(t, &memLog{n: 3}, clock, 0)
	a := now(join(c, "g", "", 3))
	if a == nil || a.ErrorCode != 0 || a.Generation != 1 || a.LeaderID != a.MemberID {
		t.Fatalf("first join: %+v", a)
	}
	if r := syncGroup(c, "g", a.MemberID, 1, map[string]string{a.MemberID: "all"}); r.ErrorCode != 0 || string(r.MemberAssignment) != "all" {
		t.Fatalf("leader sync: %+v", r)
	}
	bw := join(c, "g", "", 3)
	if now(bw) != nil {
		t.Fatal("second member's join completed before the leader rejoined")
	}
	if code := heartbeat(c, "g", a.MemberID, 1); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat during rebalance: %v", kerr.ErrorForCode(code))
	}
	a2 := now(join(c, "g", a.MemberID, 3))
	b := now(bw)
	if a2 == nil || b == nil || a2.Generation != 2 || b.Generation != 2 || len(a2.Members) != 2 || len(b.Members) != 0 {
		t.Fatalf("generation 2: leader %+v member %+v", a2, b)
	}
	// The follower's sync waits for the leader's.
	bs := kmsg.NewPtrSyncGroupRequest()
	bs.Group, bs.MemberID, bs.Generation = "g", b.MemberID, 2
	bwait := c.SyncGroup(bs)
	syncGroup(c, "g", a.MemberID, 2, map[string]string{a.MemberID: "p0", b.MemberID: "p1,p2"})
	if r := bwait(nil); r.ErrorCode != 0 || string(r.MemberAssignment) != "p1,p2" {
		t.Fatalf("follower sync: %+v", r)
	}
	// Only a heartbeats; b's session expires and the group rebalances.
	for i := 0; i < 5; i++ {
		clock.Advance(300 * time.Millisecond)
		if code := heartbeat(c, "g", a.MemberID, 2); i < 3 && code != 0 {
			t.Fatalf("heartbeat %d: %v", i, kerr.ErrorForCode(code))
		}
	}
	if code := heartbeat(c, "g", a.MemberID, 2); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat after b expired: %v", kerr.ErrorForCode(code))
	}
	if code := heartbeat(c, "g", b.MemberID, 2); code != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member heartbeat: %v", kerr.ErrorForCode(code))
	}
	a3 := now(join(c, "g", a.MemberID, 3))
	if a3 == nil || a3.Generation != 3 || len(a3.Members) != 1 {
		t.Fatalf("generation 3: %+v", a3)
	}
	// A member that never rejoins is dropped at the rebalance timeout.
	cw := join(c, "g", "", 3)
	for i := 0; i < 25; i++ {
		heartbeat(c, "g", a.MemberID, 3) // keeps a's session alive, but a never rejoins
		clock.Advance(500 * time.Millisecond)
	}
	cr := now(cw)
	if cr == nil || cr.Generation != 4 || cr.LeaderID != cr.MemberID {
		t.Fatalf("after rebalance timeout: %+v", cr)
	}
}

func TestInitialRebalanceDelay(t *testing.T) {
	clock := newFakeClock()
	c := newTestCoordinator(t, &memLog{n: 3}, clock, 3*time.Second)
	aw := join(c, "g", "", 3)
	clock.Advance(2 * time.Second)
	bw := join(c, "g", "", 3)
	clock.Advance(2 * time.Second) // t=4s: the first delay ended with a new member; extended
	if now(aw) != nil {
		t.Fatal("join completed although a member arrived during the initial delay")
	}
	clock.Advance(2 * time.Second) // t=6s
	a, b := now(aw), now(bw)
	if a == nil || b == nil || a.Generation != 1 || b.Generation != 1 {
		t.Fatalf("initial join: %+v %+v", a, b)
	}
	if len(a.Members)+len(b.Members) != 2 {
		t.Fatalf("leader should see both members")
	}
}

func TestKIP394PendingMemberExpires(t *testing.T) {
	clock := newFakeClock()
	c := newTestCoordinator(t, &memLog{n: 3}, clock, 0)
	r := now(join(c, "g", "", 4))
	if r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID == "" {
		t.Fatalf("v4 first join: %+v", r)
	}
	clock.Advance(2 * time.Second)
	if r2 := now(join(c, "g", r.MemberID, 4)); r2 == nil || r2.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("join with an expired pending id: %+v", r2)
	}
}

func commit(c *Coordinator, group string, gen int32, member string, offsets map[int32]int64) *kmsg.OffsetCommitResponse {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 8
	r.Group, r.Generation, r.MemberID = group, gen, member
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	var ps []int32
	for p := range offsets {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	for _, p := range ps {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, offsets[p]
		rt.Partitions = append(rt.Partitions, rp)
	}
	r.Topics = append(r.Topics, rt)
	resp, wait := c.OffsetCommit(r)
	wait()
	return resp
}

func fetch(c *Coordinator, group string) map[int32]int64 {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 7
	r.Group = group
	r.Topics = nil
	out := map[int32]int64{}
	for _, t := range c.OffsetFetch(r).Topics {
		for _, p := range t.Partitions {
			out[p.Partition] = p.Offset
		}
	}
	return out
}

func TestOffsetsReplayAndExpiry(t *testing.T) {
	clock := newFakeClock()
	log := &memLog{n: 3}
	c := newTestCoordinator(t, log, clock, 0)
	commit(c, "standalone", -1, "", map[int32]int64{0: 10, 1: 20})
	commit(c, "standalone", -1, "", map[int32]int64{1: 21})
	a := now(join(c, "cg", "", 3))
	syncGroup(c, "cg", a.MemberID, 1, map[string]string{a.MemberID: "x"})
	commit(c, "cg", 1, a.MemberID, map[int32]int64{2: 7})
	c.Close()

	c2 := newTestCoordinator(t, log, clock, 0)
	if got := fetch(c2, "standalone"); len(got) != 2 || got[0] != 10 || got[1] != 21 {
		t.Fatalf("standalone offsets after replay: %v", got)
	}
	if got := fetch(c2, "cg"); got[2] != 7 {
		t.Fatalf("cg offsets after replay: %v", got)
	}
	// The member survived the restart: its heartbeat is accepted.
	if code := heartbeat(c2, "cg", a.MemberID, 1); code != 0 {
		t.Fatalf("heartbeat after replay: %v", kerr.ErrorForCode(code))
	}
	// Standalone offsets expire by commit time; a consumer group's only
	// once it has been empty for the retention.
	for i := 0; i < 61*60*2; i++ {
		heartbeat(c2, "cg", a.MemberID, 1)
		clock.Advance(500 * time.Millisecond)
	}
	c2.ExpireOffsets()
	if got := fetch(c2, "standalone"); len(got) != 0 {
		t.Fatalf("standalone offsets not expired: %v", got)
	}
	if got := fetch(c2, "cg"); got[2] != 7 {
		t.Fatalf("active group's offsets expired: %v", got)
	}
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Group, lv.MemberID = "cg", a.MemberID
	c2.LeaveGroup(lv)
	c2.ExpireOffsets()
	if got := fetch(c2, "cg"); got[2] != 7 {
		t.Fatalf("offsets expired as soon as the group emptied: %v", got)
	}
	clock.Advance(61 * time.Minute)
	c2.ExpireOffsets()
	if got := fetch(c2, "cg"); len(got) != 0 {
		t.Fatalf("empty group's offsets not expired: %v", got)
	}
	lg := c2.ListGroups(kmsg.NewPtrListGroupsRequest())
	if len(lg.Groups) != 0 {
		t.Fatalf("expired groups still listed: %+v", lg.Groups)
	}
	c2.Close()
	c3 := newTestCoordinator(t, log, clock, 0)
	if lg := c3.ListGroups(kmsg.NewPtrListGroupsRequest()); len(lg.Groups) != 0 {
		t.Fatalf("tombstoned groups came back after replay: %+v", lg.Groups)
	}
}

func TestRecordLayout(t *testing.T) {
	// Offset commit key v1: int16 version, string group, string topic,
	// int32 partition (Kafka's OffsetCommitKey).
	k := offsetKey("g", "t", 7)
	want := []byte{0, 1, 0, 1, 'g', 0, 1, 't', 0, 0, 0, 7}
	if string(k) != string(want) {
		t.Fatalf("offset key % x, want % x", k, want)
	}
	b := buildBatch([]kv{{Key: k, Value: offsetValue(&offset{offset: 5, epoch: -1, commitMs: 1})}, {Key: groupKey("g")}}, 1)
	rb, err := record.Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := decodeBatch(rb)
	if err != nil || len(recs) != 2 || recs[1].Value != nil || string(recs[0].Key) != string(k) {
		t.Fatalf("decoded %v, %v", recs, err)
	}
}

func TestTopicDeletedDropsOffsets(t *testing.T) {
	clock := newFakeClock()
	log := &memLog{n: 3}
	c := newTestCoordinator(t, log, clock, 0)
	commit(c, "a", -1, "", map[int32]int64{0: 1, 2: 3})
	commit(c, "b", -1, "", map[int32]int64{1: 2})
	c.TopicDeleted("t")
	if got := fetch(c, "a"); len(got) != 0 {
		t.Fatalf("offsets of a deleted topic: %v", got)
	}
	c.Close()
	c2 := newTestCoordinator(t, log, clock, 0)
	if got := fetch(c2, "b"); len(got) != 0 {
		t.Fatalf("offsets of a deleted topic after replay: %v", got)
	}
}

// OffsetCommit v1 carries the commit time per partition (Kafka 3.x honoured
// it, and retention counts from it); v0 carries no generation and commits
// like an admin (generation -1) to an empty group.
func TestOffsetCommitV0V1(t *testing.T) {
	clock := newFakeClock()
	log := &memLog{n: 3}
	c := newTestCoordinator(t, log, clock, 0)
	defer c.Close()
	send := func(v int16, p int32, off, ts int64) int16 {
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Version, r.Group = v, "zk"
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Timestamp = p, off, ts
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		resp, wait := c.OffsetCommit(r)
		wait()
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := send(0, 0, 10, -1); code != 0 {
		t.Fatalf("v0 commit: %v", kerr.ErrorForCode(code))
	}
	if code := send(1, 1, 20, clock.Now().Add(-50*time.Minute).UnixMilli()); code != 0 {
		t.Fatalf("v1 commit: %v", kerr.ErrorForCode(code))
	}
	if got := fetch(c, "zk"); got[0] != 10 || got[1] != 20 {
		t.Fatalf("offsets %v", got)
	}
	clock.Advance(11 * time.Minute) // past the 60 minute retention for the v1 stamp only
	c.ExpireOffsets()
	if got := fetch(c, "zk"); len(got) != 1 || got[0] != 10 {
		t.Fatalf("after 11 minutes: %v, want only partition 0 (the v1 commit dated 50 minutes back expired)", got)
	}
}
