package group

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newCGCoordinator(t *testing.T, log *memLog, clock *fakeClock, maxSize int) *Coordinator {
	t.Helper()
	c, err := New(Config{
		Log: log, Topics: memTopics{"t": 3, "u": 2, "other": 1}, Clock: clock,
		Logger:                 slog.New(slog.NewTextHandler(io.Discard, nil)),
		ConsumerSessionTimeout: 3 * time.Second, ConsumerHeartbeatInterval: 500 * time.Millisecond,
		ConsumerMaxSize: maxSize, MinSessionTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	leadAll(t, c, log)
	return c
}

// cgMember is a test-side consumer: what it owns and its epoch, updated
// from responses as a client would (revoking at once).
type cgMember struct {
	id    string
	inst  *string
	epoch int32
	owned tpset
}

func (m *cgMember) req(topics ...string) *kmsg.ConsumerGroupHeartbeatRequest {
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.Version = 1
	r.Group, r.MemberID, r.MemberEpoch, r.InstanceID = "g", m.id, m.epoch, m.inst
	r.RebalanceTimeoutMillis = 5000
	if topics == nil {
		topics = []string{"t"}
	}
	r.SubscribedTopicNames = topics
	r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for _, id := range m.owned.topicIDs() {
		r.Topics = append(r.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: id, Partitions: m.owned.partitions(id)})
	}
	return r
}

func (m *cgMember) hb(t *testing.T, c *Coordinator, r *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	t.Helper()
	resp, wait := c.ConsumerGroupHeartbeat(r, Client{ID: m.id, Host: "/127.0.0.1"})
	wait()
	if resp.ErrorCode == 0 {
		m.epoch = resp.MemberEpoch
		if resp.Assignment != nil {
			m.owned = tpset{}
			for _, tp := range resp.Assignment.Topics {
				for _, p := range tp.Partitions {
					m.owned.add(tp.TopicID, p, 0)
				}
			}
		}
	}
	return resp
}

// checkDisjoint fails if two members own one partition.
func checkDisjoint(t *testing.T, ms ...*cgMember) {
	t.Helper()
	seen := map[tpKey]string{}
	for _, m := range ms {
		for id, ps := range m.owned {
			for p := range ps {
				if o, ok := seen[tpKey{id, p}]; ok {
					t.Fatalf("partition %d owned by %s and %s", p, o, m.id)
				}
				seen[tpKey{id, p}] = m.id
			}
		}
	}
}

func TestConsumerGroupIncrementalReconciliation(t *testing.T) {
	clock := newFakeClock()
	c := newCGCoordinator(t, &memLog{n: 3}, clock, 0)
	a, b, d := &cgMember{id: "a"}, &cgMember{id: "b"}, &cgMember{id: "d"}
	if r := a.hb(t, c, a.req()); r.ErrorCode != 0 || a.owned.size() != 3 || a.epoch != 1 {
		t.Fatalf("a join: code %d, owns %d, epoch %d", r.ErrorCode, a.owned.size(), a.epoch)
	}
	// b joins: the target gives it one of a's partitions, but a still
	// holds it.
	if r := b.hb(t, c, b.req()); r.ErrorCode != 0 || b.owned.size() != 0 || b.epoch != 2 {
		t.Fatalf("b join: code %d, owns %d, epoch %d", r.ErrorCode, b.owned.size(), b.epoch)
	}
	checkDisjoint(t, a, b)
	// a learns it must revoke one partition: epoch unchanged.
	a.hb(t, c, a.req())
	if a.owned.size() != 2 || a.epoch != 1 {
		t.Fatalf("a after b joined: owns %d, epoch %d", a.owned.size(), a.epoch)
	}
	// Until a reports the revocation, b gets nothing.
	if desc := c.ConsumerGroupDescribe(&kmsg.ConsumerGroupDescribeRequest{Groups: []string{"g"}}); desc.Groups[0].State != "Reconciling" {
		t.Fatalf("state %s, want Reconciling", desc.Groups[0].State)
	}
	b.hb(t, c, b.req())
	if b.owned.size() != 0 {
		t.Fatal("b got a partition a has not revoked")
	}
	// a revokes (its next full heartbeat owns only 2): epoch moves on.
	a.hb(t, c, a.req())
	if a.epoch != 2 {
		t.Fatalf("a epoch %d after revoking, want 2", a.epoch)
	}
	b.hb(t, c, b.req())
	if b.owned.size() != 1 {
		t.Fatalf("b owns %d after a revoked, want 1", b.owned.size())
	}
	checkDisjoint(t, a, b)
	// A third member: 1 each, never overlapping.
	d.hb(t, c, d.req())
	for i := 0; i < 4; i++ {
		for _, m := range []*cgMember{a, b, d} {
			m.hb(t, c, m.req())
			checkDisjoint(t, a, b, d)
		}
	}
	if a.owned.size() != 1 || b.owned.size() != 1 || d.owned.size() != 1 {
		t.Fatalf("sizes %d/%d/%d, want 1/1/1", a.owned.size(), b.owned.size(), d.owned.size())
	}
	desc := c.ConsumerGroupDescribe(&kmsg.ConsumerGroupDescribeRequest{Groups: []string{"g"}})
	if g := desc.Groups[0]; g.State != "Stable" || g.Epoch != 3 || g.AssignmentEpoch != 3 || g.AssignorName != "uniform" || len(g.Members) != 3 {
		t.Fatalf("describe: %+v", g)
	}

	// d stops heartbeating: after the session timeout its partition moves.
	for i := 0; i < 8; i++ {
		clock.Advance(500 * time.Millisecond)
		a.hb(t, c, a.req())
		b.hb(t, c, b.req())
	}
	checkDisjoint(t, a, b)
	if a.owned.size()+b.owned.size() != 3 {
		t.Fatalf("after d expired a and b own %d+%d", a.owned.size(), b.owned.size())
	}
	// d comes back with its old epoch: fenced; unknown once removed.
	if r := d.hb(t, c, d.req()); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member heartbeat: code %d", r.ErrorCode)
	}

	// a leaves: b gets everything.
	la := a.req()
	la.MemberEpoch = -1
	if r := a.hb(t, c, la); r.ErrorCode != 0 || r.MemberEpoch != -1 {
		t.Fatalf("leave: code %d epoch %d", r.ErrorCode, r.MemberEpoch)
	}
	b.hb(t, c, b.req())
	b.hb(t, c, b.req())
	if b.owned.size() != 3 {
		t.Fatalf("b owns %d after a left", b.owned.size())
	}
}

func TestConsumerGroupErrors(t *testing.T) {
	clock := newFakeClock()
	c := newCGCoordinator(t, &memLog{n: 3}, clock, 2)
	a := &cgMember{id: "a"}
	a.hb(t, c, a.req())
	for _, tc := range []struct {
		name string
		mod  func(r *kmsg.ConsumerGroupHeartbeatRequest)
		code int16
	}{
		{"empty group", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "" }, kerr.InvalidGroupID.Code},
		{"empty member id", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = ""; r.MemberEpoch = 0 }, kerr.InvalidRequest.Code},
		{"join without rebalance timeout", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberID = "x"
			r.MemberEpoch = 0
			r.RebalanceTimeoutMillis = -1
		}, kerr.InvalidRequest.Code},
		{"join owning partitions", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberID = "x"
			r.MemberEpoch = 0
			r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: memTopicID("t"), Partitions: []int32{0}}}
		}, kerr.InvalidRequest.Code},
		{"join without subscription", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberID = "x"
			r.MemberEpoch = 0
			r.SubscribedTopicNames = nil
		}, kerr.InvalidRequest.Code},
		{"epoch below -2", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -3 }, kerr.InvalidRequest.Code},
		{"static leave without instance", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -2 }, kerr.InvalidRequest.Code},
		{"unknown assignor", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.ServerAssignor = strp("sticky") }, kerr.UnsupportedAssignor.Code},
		{"bad regex", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicRegex = strp("(") }, kerr.InvalidRegularExpression.Code},
		{"unknown member", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "nobody" }, kerr.UnknownMemberID.Code},
		{"epoch ahead", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = 7 }, kerr.FencedMemberEpoch.Code},
		{"unknown group", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "nope" }, kerr.UnknownMemberID.Code},
	} {
		r := a.req()
		tc.mod(r)
		resp, wait := c.ConsumerGroupHeartbeat(r, Client{})
		wait()
		if resp.ErrorCode != tc.code {
			t.Errorf("%s: code %d, want %d", tc.name, resp.ErrorCode, tc.code)
		}
	}
	b := &cgMember{id: "b"}
	if r := b.hb(t, c, b.req()); r.ErrorCode != 0 {
		t.Fatalf("b join: %d", r.ErrorCode)
	}
	x := &cgMember{id: "x"}
	if r := x.hb(t, c, x.req()); r.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("third member in a group of max 2: code %d", r.ErrorCode)
	}
	// An old epoch is fenced unless it is the previous one and the member
	// owns no more than its assignment (lost response).
	a.hb(t, c, a.req())
	a.hb(t, c, a.req())
	stale := a.req()
	stale.MemberEpoch = a.epoch - 1
	stale.Topics = append(stale.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: memTopicID("u"), Partitions: []int32{0}})
	if resp, wait := c.ConsumerGroupHeartbeat(stale, Client{}); wait == nil || resp.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("stale epoch owning more: code %d", resp.ErrorCode)
	}

	// Classic protocol into a consumer group with members, and back.
	if jr := now(join(c, "g", "", 9)); jr.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("classic join into consumer group: code %d", jr.ErrorCode)
	}
	if jr := now(join(c, "classic", "", 3)); jr.ErrorCode != 0 {
		t.Fatalf("classic join: %d", jr.ErrorCode)
	}
	cl := &cgMember{id: "z"}
	r := cl.req()
	r.Group = "classic"
	if resp, wait := c.ConsumerGroupHeartbeat(r, Client{}); wait == nil || resp.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("consumer heartbeat into classic group: code %d", resp.ErrorCode)
	}
	dg := c.DescribeGroups(&kmsg.DescribeGroupsRequest{Version: 6, Groups: []string{"g"}})
	if g := dg.Groups[0]; g.ErrorCode != kerr.GroupIDNotFound.Code || g.State != "Dead" {
		t.Fatalf("DescribeGroups of a consumer group: code %d state %s", g.ErrorCode, g.State)
	}
	lg := c.ListGroups(&kmsg.ListGroupsRequest{Version: 5, TypesFilter: []string{"consumer"}})
	if len(lg.Groups) != 1 || lg.Groups[0].Group != "g" || lg.Groups[0].GroupType != "consumer" {
		t.Fatalf("ListGroups consumer: %+v", lg.Groups)
	}
}

func TestConsumerGroupStaticMembership(t *testing.T) {
	clock := newFakeClock()
	c := newCGCoordinator(t, &memLog{n: 3}, clock, 0)
	inst := strp("i1")
	a := &cgMember{id: "a", inst: inst}
	b := &cgMember{id: "b"}
	a.hb(t, c, a.req())
	b.hb(t, c, b.req())
	for i := 0; i < 3; i++ {
		a.hb(t, c, a.req())
		b.hb(t, c, b.req())
	}
	held := a.owned.clone()
	if held.size() == 0 {
		t.Fatal("a owns nothing")
	}
	// Another process with the same instance id while a is live.
	a2 := &cgMember{id: "a2", inst: inst}
	if r := a2.hb(t, c, a2.req()); r.ErrorCode != kerr.UnreleasedInstanceID.Code {
		t.Fatalf("duplicate instance: code %d", r.ErrorCode)
	}
	// a leaves temporarily; a2 takes over its assignment without a
	// rebalance.
	l := a.req()
	l.MemberEpoch = -2
	if r := a.hb(t, c, l); r.ErrorCode != 0 || r.MemberEpoch != -2 {
		t.Fatalf("static leave: code %d epoch %d", r.ErrorCode, r.MemberEpoch)
	}
	epoch := c.groups["g"].cg.epoch
	if r := a2.hb(t, c, a2.req()); r.ErrorCode != 0 || !a2.owned.sameParts(held) {
		t.Fatalf("static rejoin: code %d, owns %v, held %v", r.ErrorCode, a2.owned, held)
	}
	if c.groups["g"].cg.epoch != epoch {
		t.Fatal("static rejoin bumped the group epoch")
	}
	// The old member id is gone: fenced as the instance's owner, unknown
	// as a member.
	if r := a.hb(t, c, l); r.ErrorCode != kerr.FencedInstanceID.Code {
		t.Fatalf("replaced member leaving: code %d", r.ErrorCode)
	}
	a.epoch = 2
	if r := a.hb(t, c, a.req()); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("replaced member: code %d", r.ErrorCode)
	}
}

func TestConsumerGroupReplay(t *testing.T) {
	clock := newFakeClock()
	log := &memLog{n: 3}
	c := newCGCoordinator(t, log, clock, 0)
	a, b := &cgMember{id: "a"}, &cgMember{id: "b"}
	a.hb(t, c, a.req("t", "u"))
	b.hb(t, c, b.req("t", "u"))
	for i := 0; i < 3; i++ {
		a.hb(t, c, a.req("t", "u"))
		b.hb(t, c, b.req("t", "u"))
	}
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Version, oc.Group, oc.MemberID, oc.Generation = 9, "g", "a", a.epoch
	for _, id := range a.owned.topicIDs() {
		name, _ := memTopics{"t": 3, "u": 2}.TopicByID(id)
		ot := kmsg.OffsetCommitRequestTopic{Topic: name}
		for _, p := range a.owned.partitions(id) {
			ot.Partitions = append(ot.Partitions, kmsg.OffsetCommitRequestTopicPartition{Partition: p, Offset: 42})
		}
		oc.Topics = append(oc.Topics, ot)
	}
	resp, wait := c.OffsetCommit(oc)
	wait()
	if resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("member commit: code %d", resp.Topics[0].Partitions[0].ErrorCode)
	}
	oc.Generation = a.epoch + 1
	if resp, wait = c.OffsetCommit(oc); resp.Topics[0].Partitions[0].ErrorCode != kerr.StaleMemberEpoch.Code {
		t.Fatalf("commit with a future epoch: code %d", resp.Topics[0].Partitions[0].ErrorCode)
	}
	wait()
	before := c.ConsumerGroupDescribe(&kmsg.ConsumerGroupDescribeRequest{Groups: []string{"g"}})
	c.Close()

	c2 := newCGCoordinator(t, log, clock, 0)
	after := c2.ConsumerGroupDescribe(&kmsg.ConsumerGroupDescribeRequest{Groups: []string{"g"}})
	bg, ag := before.Groups[0], after.Groups[0]
	if ag.ErrorCode != 0 || ag.Epoch != bg.Epoch || ag.AssignmentEpoch != bg.AssignmentEpoch || ag.State != bg.State || len(ag.Members) != 2 {
		t.Fatalf("after replay %+v, before %+v", ag, bg)
	}
	for i := range bg.Members {
		bm, am := bg.Members[i], ag.Members[i]
		if am.MemberID != bm.MemberID || am.MemberEpoch != bm.MemberEpoch || len(am.Assignment.TopicPartitions) != len(bm.Assignment.TopicPartitions) || len(am.SubscribedTopics) != 2 {
			t.Fatalf("member after replay %+v, before %+v", am, bm)
		}
	}
	// Members keep heartbeating at their epochs after the restart.
	if r := a.hb(t, c2, a.req("t", "u")); r.ErrorCode != 0 {
		t.Fatalf("heartbeat after replay: code %d", r.ErrorCode)
	}
	of := c2.OffsetFetch(&kmsg.OffsetFetchRequest{Version: 9, Groups: []kmsg.OffsetFetchRequestGroup{{Group: "g", MemberEpoch: -1}}})
	if len(of.Groups[0].Topics) == 0 || of.Groups[0].Topics[0].Partitions[0].Offset != 42 {
		t.Fatalf("offsets after replay: %+v", of.Groups[0])
	}
	// Without heartbeats the replayed members expire.
	clock.Advance(4 * time.Second)
	after = c2.ConsumerGroupDescribe(&kmsg.ConsumerGroupDescribeRequest{Groups: []string{"g"}})
	if g := after.Groups[0]; g.State != "Empty" || len(g.Members) != 0 {
		t.Fatalf("after session timeout: state %s members %d", g.State, len(g.Members))
	}
}

func TestAssignUniform(t *testing.T) {
	tt := topicInfo{name: "t", id: memTopicID("t"), parts: 7}
	u := topicInfo{name: "u", id: memTopicID("u"), parts: 2}
	subs := map[string][]topicInfo{"a": {tt, u}, "b": {tt, u}, "c": {tt}}
	got := assignUniform([]string{"a", "b", "c"}, subs, nil)
	total := 0
	for _, m := range []string{"a", "b", "c"} {
		n := got[m].size()
		total += n
		if n != 3 {
			t.Errorf("%s got %d partitions, want 3", m, n)
		}
	}
	if total != 9 {
		t.Fatalf("assigned %d of 9", total)
	}
	if got["c"].has(u.id, 0) || got["c"].has(u.id, 1) {
		t.Fatal("c got a partition of a topic it does not subscribe to")
	}
	// Sticky: removing c moves only c's partitions.
	next := assignUniform([]string{"a", "b"}, subs, got)
	for _, m := range []string{"a", "b"} {
		for id, ps := range got[m] {
			for p := range ps {
				if !next[m].has(id, p) {
					t.Errorf("%s lost partition %d of a topic when c left", m, p)
				}
			}
		}
	}
	r := assignRange([]string{"a", "b"}, map[string][]topicInfo{"a": {tt}, "b": {tt}})
	if r["a"].size() != 4 || r["b"].size() != 3 || !r["a"].has(tt.id, 0) || !r["b"].has(tt.id, 6) {
		t.Fatalf("range: a %v b %v", r["a"], r["b"])
	}
}
