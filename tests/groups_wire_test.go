package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

func joinReq(group, member string, instance *string, session int32, protoType string, protos ...string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Group, r.MemberID, r.InstanceID = group, member, instance
	r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = session, 5000
	r.ProtocolType = protoType
	for _, p := range protos {
		jp := kmsg.NewJoinGroupRequestProtocol()
		jp.Name, jp.Metadata = p, consumerMeta("wire")
		r.Protocols = append(r.Protocols, jp)
	}
	return r
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	var w int16
	if want != nil {
		w = want.Code
	}
	if got != w {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

// TestGroupProtocolErrors checks the coordinator's answers to bad and
// out-of-turn requests at the wire level, at fixed versions.
func TestGroupProtocolErrors(t *testing.T) {
	n := startNode(t, "", groupSettings())
	if _, err := newAdmin(t, n.Addr()).CreateTopic(context.Background(), 2, 1, nil, "wire"); err != nil {
		t.Fatal(err)
	}
	w := dial(t, n.Addr())
	rt := func(r kmsg.Request, v int16) kmsg.Response { return w.roundTrip(r, v) }

	// FindCoordinator, batched (v4+) and single.
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKeys = []string{"g", "other"}
	fcr := rt(fc, 4).(*kmsg.FindCoordinatorResponse)
	if len(fcr.Coordinators) != 2 || fcr.Coordinators[0].NodeID != 1 || fcr.Coordinators[1].ErrorCode != 0 {
		t.Fatalf("batched FindCoordinator: %+v", fcr.Coordinators)
	}
	fc = kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = "g"
	if r := rt(fc, 2).(*kmsg.FindCoordinatorResponse); r.ErrorCode != 0 || r.NodeID != 1 || r.Port <= 0 {
		t.Fatalf("FindCoordinator v2: %+v", r)
	}

	// The coordinator answers COORDINATOR_LOAD_IN_PROGRESS (retriable)
	// until it has read its __consumer_offsets partition, which was just
	// created: wait for that as a client's retry would, so the answers
	// below are the ones under test.
	deadline := time.Now().Add(30 * time.Second)
	for {
		dg := kmsg.NewPtrDescribeGroupsRequest()
		dg.Groups = []string{"g"}
		r := rt(dg, 0).(*kmsg.DescribeGroupsResponse)
		if len(r.Groups) == 1 && r.Groups[0].ErrorCode != kerr.CoordinatorLoadInProgress.Code {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group coordinator is still loading after 30s: %+v", r.Groups)
		}
		time.Sleep(20 * time.Millisecond)
	}

	wantCode(t, "join without group id", rt(joinReq("", "", nil, 1000, "consumer", "range"), 5).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InvalidGroupID)
	wantCode(t, "join with session below min", rt(joinReq("g", "", nil, 10, "consumer", "range"), 5).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InvalidSessionTimeout)
	wantCode(t, "join unknown member into new group", rt(joinReq("g", "nobody", nil, 1000, "consumer", "range"), 5).(*kmsg.JoinGroupResponse).ErrorCode, kerr.UnknownMemberID)

	// KIP-394: v4+ joins without an id get one back first.
	jr := rt(joinReq("g", "", nil, 10000, "consumer", "range", "roundrobin"), 6).(*kmsg.JoinGroupResponse)
	wantCode(t, "first join v6", jr.ErrorCode, kerr.MemberIDRequired)
	if !strings.HasPrefix(jr.MemberID, "test-") {
		t.Fatalf("member id %q", jr.MemberID)
	}
	me := jr.MemberID
	jr = rt(joinReq("g", me, nil, 10000, "consumer", "range", "roundrobin"), 6).(*kmsg.JoinGroupResponse)
	wantCode(t, "second join", jr.ErrorCode, nil)
	if jr.Generation != 1 || jr.LeaderID != me || jr.Protocol == nil || *jr.Protocol != "range" || len(jr.Members) != 1 {
		t.Fatalf("join response: gen %d leader %s protocol %v members %d", jr.Generation, jr.LeaderID, jr.Protocol, len(jr.Members))
	}

	// No shared protocol, or another protocol type: INCONSISTENT_GROUP_PROTOCOL.
	wantCode(t, "join with no common protocol", rt(joinReq("g", "", nil, 10000, "consumer", "sticky"), 3).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)
	wantCode(t, "join with other protocol type", rt(joinReq("g", "", nil, 10000, "connect", "range"), 3).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)

	sync := func(gen int32, member string, v int16) *kmsg.SyncGroupResponse {
		s := kmsg.NewPtrSyncGroupRequest()
		s.Group, s.Generation, s.MemberID = "g", gen, member
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID, a.MemberAssignment = me, []byte("assignment")
		s.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{a}
		return rt(s, v).(*kmsg.SyncGroupResponse)
	}
	wantCode(t, "sync with wrong generation", sync(7, me, 3).ErrorCode, kerr.IllegalGeneration)
	wantCode(t, "sync from unknown member", sync(1, "x", 3).ErrorCode, kerr.UnknownMemberID)
	sr := sync(1, me, 5)
	wantCode(t, "leader sync", sr.ErrorCode, nil)
	if string(sr.MemberAssignment) != "assignment" || sr.Protocol == nil || *sr.Protocol != "range" {
		t.Fatalf("sync response: %q %v", sr.MemberAssignment, sr.Protocol)
	}

	hb := func(gen int32, member string, inst *string) int16 {
		h := kmsg.NewPtrHeartbeatRequest()
		h.Group, h.Generation, h.MemberID, h.InstanceID = "g", gen, member, inst
		return rt(h, 4).(*kmsg.HeartbeatResponse).ErrorCode
	}
	wantCode(t, "heartbeat", hb(1, me, nil), nil)
	wantCode(t, "heartbeat with old generation", hb(0, me, nil), kerr.IllegalGeneration)
	wantCode(t, "heartbeat from unknown member", hb(1, "x", nil), kerr.UnknownMemberID)

	commit := func(group string, gen int32, member, topic string, part int32, meta string) int16 {
		c := kmsg.NewPtrOffsetCommitRequest()
		c.Group, c.Generation, c.MemberID = group, gen, member
		ct := kmsg.NewOffsetCommitRequestTopic()
		ct.Topic = topic
		cp := kmsg.NewOffsetCommitRequestTopicPartition()
		cp.Partition, cp.Offset, cp.Metadata = part, 5, &meta
		ct.Partitions = append(ct.Partitions, cp)
		c.Topics = append(c.Topics, ct)
		return rt(c, 8).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	wantCode(t, "commit by member", commit("g", 1, me, "wire", 1, "m"), nil)
	wantCode(t, "commit by non-member", commit("g", 1, "x", "wire", 1, ""), kerr.UnknownMemberID)
	wantCode(t, "commit with old generation", commit("g", 0, me, "wire", 1, ""), kerr.IllegalGeneration)
	wantCode(t, "admin commit to non-empty group", commit("g", -1, "", "wire", 1, ""), kerr.UnknownMemberID)
	wantCode(t, "commit to missing partition", commit("g", 1, me, "wire", 9, ""), kerr.UnknownTopicOrPartition)
	wantCode(t, "commit to missing topic", commit("g", 1, me, "nope", 0, ""), kerr.UnknownTopicOrPartition)
	wantCode(t, "commit with oversized metadata", commit("g", 1, me, "wire", 0, strings.Repeat("x", 5000)), kerr.OffsetMetadataTooLarge)
	wantCode(t, "generation commit to unknown group", commit("ghost", 3, "m", "wire", 0, ""), kerr.IllegalGeneration)
	wantCode(t, "admin commit to new group", commit("standalone", -1, "", "wire", 0, ""), nil)

	// OffsetFetch: v8 batched groups, including one that does not exist.
	of := kmsg.NewPtrOffsetFetchRequest()
	for _, g := range []string{"g", "standalone", "ghost"} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g
		rtp := kmsg.NewOffsetFetchRequestGroupTopic()
		rtp.Topic, rtp.Partitions = "wire", []int32{0, 1}
		rg.Topics = append(rg.Topics, rtp)
		of.Groups = append(of.Groups, rg)
	}
	of.RequireStable = true
	ofr := rt(of, 8).(*kmsg.OffsetFetchResponse)
	got := map[string][2]int64{}
	for _, g := range ofr.Groups {
		if g.ErrorCode != 0 || len(g.Topics) != 1 || len(g.Topics[0].Partitions) != 2 {
			t.Fatalf("offset fetch group %s: %+v", g.Group, g)
		}
		ps := g.Topics[0].Partitions
		got[g.Group] = [2]int64{ps[0].Offset, ps[1].Offset}
	}
	if got["g"] != [2]int64{-1, 5} || got["standalone"] != [2]int64{5, -1} || got["ghost"] != [2]int64{-1, -1} {
		t.Fatalf("offset fetch: %v", got)
	}

	// Offsets of a subscribed topic cannot be deleted; a non-empty group
	// cannot be deleted; an unknown one is not found.
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "g"
	odt := kmsg.NewOffsetDeleteRequestTopic()
	odt.Topic = "wire"
	odt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 1}}
	od.Topics = append(od.Topics, odt)
	odr := rt(od, 0).(*kmsg.OffsetDeleteResponse)
	wantCode(t, "offset delete top level", odr.ErrorCode, nil)
	wantCode(t, "offset delete of subscribed topic", odr.Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic)
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"g", "ghost", "standalone"}
	dgr := rt(dg, 2).(*kmsg.DeleteGroupsResponse)
	wantCode(t, "delete non-empty group", dgr.Groups[0].ErrorCode, kerr.NonEmptyGroup)
	wantCode(t, "delete unknown group", dgr.Groups[1].ErrorCode, kerr.GroupIDNotFound)
	wantCode(t, "delete empty group", dgr.Groups[2].ErrorCode, nil)

	// ListGroups state filter (v4) and DescribeGroups (v6: unknown groups
	// are GROUP_ID_NOT_FOUND).
	lg := kmsg.NewPtrListGroupsRequest()
	lg.StatesFilter = []string{"stable"}
	lgr := rt(lg, 4).(*kmsg.ListGroupsResponse)
	if len(lgr.Groups) != 1 || lgr.Groups[0].Group != "g" || lgr.Groups[0].GroupState != "Stable" {
		t.Fatalf("list stable groups: %+v", lgr.Groups)
	}
	lg.StatesFilter = []string{"Empty"}
	if lgr := rt(lg, 5).(*kmsg.ListGroupsResponse); len(lgr.Groups) != 0 {
		t.Fatalf("list empty groups: %+v", lgr.Groups)
	}
	dsc := kmsg.NewPtrDescribeGroupsRequest()
	dsc.Groups = []string{"g", "ghost"}
	dscr := rt(dsc, 6).(*kmsg.DescribeGroupsResponse)
	if g := dscr.Groups[0]; g.ErrorCode != 0 || g.State != "Stable" || g.Protocol != "range" || len(g.Members) != 1 || string(g.Members[0].MemberAssignment) != "assignment" || g.Members[0].ClientHost != "/127.0.0.1" {
		t.Fatalf("describe g: %+v", g)
	}
	wantCode(t, "describe unknown group", dscr.Groups[1].ErrorCode, kerr.GroupIDNotFound)

	// Static membership: the same instance id joining again fences the
	// old member id.
	inst := "instance-1"
	sj := rt(joinReq("static", "", &inst, 10000, "consumer", "range"), 5).(*kmsg.JoinGroupResponse)
	wantCode(t, "static join", sj.ErrorCode, nil)
	old := sj.MemberID
	if !strings.HasPrefix(old, inst+"-") {
		t.Fatalf("static member id %q", old)
	}
	s := kmsg.NewPtrSyncGroupRequest()
	s.Group, s.Generation, s.MemberID, s.InstanceID = "static", sj.Generation, old, &inst
	wantCode(t, "static sync", rt(s, 3).(*kmsg.SyncGroupResponse).ErrorCode, nil)
	// The rejoining static leader (v9) keeps the generation and is told to
	// skip assignment (KIP-814).
	sj2 := rt(joinReq("static", "", &inst, 10000, "consumer", "range"), 9).(*kmsg.JoinGroupResponse)
	wantCode(t, "static rejoin", sj2.ErrorCode, nil)
	if sj2.MemberID == old || sj2.Generation != sj.Generation || !sj2.SkipAssignment || sj2.LeaderID != sj2.MemberID {
		t.Fatalf("static rejoin: member %s (old %s), generation %d (was %d)", sj2.MemberID, old, sj2.Generation, sj.Generation)
	}
	h := kmsg.NewPtrHeartbeatRequest()
	h.Group, h.Generation, h.MemberID, h.InstanceID = "static", sj.Generation, old, &inst
	wantCode(t, "heartbeat from fenced static member", rt(h, 3).(*kmsg.HeartbeatResponse).ErrorCode, kerr.FencedInstanceID)

	// LeaveGroup v3+ batch: per-member errors.
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Group = "static"
	lv.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "x"}, {MemberID: old, InstanceID: &inst}, {MemberID: sj2.MemberID, InstanceID: &inst}}
	lvr := rt(lv, 4).(*kmsg.LeaveGroupResponse)
	wantCode(t, "leave unknown member", lvr.Members[0].ErrorCode, kerr.UnknownMemberID)
	wantCode(t, "leave fenced static member", lvr.Members[1].ErrorCode, kerr.FencedInstanceID)
	wantCode(t, "leave static member", lvr.Members[2].ErrorCode, nil)
	dsc.Groups = []string{"static"}
	if g := rt(dsc, 5).(*kmsg.DescribeGroupsResponse).Groups[0]; g.State != "Empty" || len(g.Members) != 0 {
		t.Fatalf("static group after leave: %s, %d members", g.State, len(g.Members))
	}
	// A v0-2 leave reports the member error at the top level.
	lv0 := kmsg.NewPtrLeaveGroupRequest()
	lv0.Group, lv0.MemberID = "g", "x"
	wantCode(t, "v1 leave of unknown member", rt(lv0, 1).(*kmsg.LeaveGroupResponse).ErrorCode, kerr.UnknownMemberID)
}
