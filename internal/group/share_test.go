package group

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newShareCoordinator(t *testing.T, log *memLog, clock *fakeClock) *Coordinator {
	t.Helper()
	c, err := New(Config{
		Log: log, Topics: memTopics{"t": 3, "u": 1}, Clock: clock,
		Logger:              slog.New(slog.NewTextHandler(io.Discard, nil)),
		ShareSessionTimeout: 3 * time.Second, ShareHeartbeatInterval: 500 * time.Millisecond, ShareMaxSize: 4,
		MinSessionTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	leadAll(t, c, log)
	return c
}

type sMember struct {
	id    string
	epoch int32
	owned tpset
}

func (m *sMember) hb(t *testing.T, c *Coordinator, topics ...string) *kmsg.ShareGroupHeartbeatResponse {
	t.Helper()
	r := kmsg.NewPtrShareGroupHeartbeatRequest()
	r.GroupID, r.MemberID, r.MemberEpoch = "sg", m.id, m.epoch
	if m.epoch == 0 || topics != nil {
		if topics == nil {
			topics = []string{"t"}
		}
		r.SubscribedTopicNames = topics
	}
	resp, wait := c.ShareGroupHeartbeat(r, Client{ID: m.id})
	wait()
	if resp.ErrorCode == 0 {
		m.epoch = resp.MemberEpoch
		if resp.Assignment != nil {
			m.owned = tpset{}
			for _, tp := range resp.Assignment.TopicPartitions {
				for _, p := range tp.Partitions {
					m.owned.add(tp.TopicID, p, 0)
				}
			}
		}
	}
	return resp
}

// TestShareGroupAssignAndExpire: members get the partitions spread over
// them at once, extra members share partitions, a silent member is
// removed after the session timeout, stale epochs are fenced, and the
// group (not its members) survives a coordinator change.
func TestShareGroupAssignAndExpire(t *testing.T) {
	log, clock := &memLog{n: 3}, newFakeClock()
	c := newShareCoordinator(t, log, clock)
	a, b := &sMember{id: "a"}, &sMember{id: "b"}
	if r := a.hb(t, c); r.ErrorCode != 0 || a.owned.size() != 3 {
		t.Fatalf("a joins: code %d owns %d", r.ErrorCode, a.owned.size())
	}
	b.hb(t, c)
	a.hb(t, c) // a learns its smaller share
	if a.owned.size()+b.owned.size() != 3 || a.owned.size() == 0 || b.owned.size() == 0 {
		t.Fatalf("a owns %d, b owns %d", a.owned.size(), b.owned.size())
	}
	// Four members on three partitions: every member gets one, one
	// partition is shared.
	m3, m4 := &sMember{id: "c"}, &sMember{id: "d"}
	m3.hb(t, c)
	m4.hb(t, c)
	for _, m := range []*sMember{a, b, m3, m4} {
		m.hb(t, c)
		if m.owned.size() != 1 {
			t.Fatalf("member %s owns %d partitions, want 1", m.id, m.owned.size())
		}
	}
	if r := (&sMember{id: "e"}).hb(t, c); r.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("fifth member: code %d, want GROUP_MAX_SIZE_REACHED", r.ErrorCode)
	}
	stale := &sMember{id: "a", epoch: a.epoch - 1}
	if r := stale.hb(t, c); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("stale epoch: code %d, want FENCED_MEMBER_EPOCH", r.ErrorCode)
	}
	// Only a keeps heartbeating: the others expire.
	for i := 0; i < 8; i++ {
		clock.Advance(500 * time.Millisecond)
		a.hb(t, c)
	}
	d := c.ShareGroupDescribe(&kmsg.ShareGroupDescribeRequest{GroupIDs: []string{"sg"}}).Groups[0]
	if len(d.Members) != 1 || d.Members[0].MemberID != "a" || a.owned.size() != 3 {
		t.Fatalf("after expiry: members %d, a owns %d", len(d.Members), a.owned.size())
	}
	// The group id is a share group: classic and consumer protocols are
	// refused, and a share heartbeat for a classic group too.
	if jr := now(join(c, "sg", "", 4)); jr.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("JoinGroup of a share group: code %d", jr.ErrorCode)
	}
	// A coordinator that replays the log knows the group (type share,
	// its epoch), not its members: a member heartbeating there rejoins.
	c2 := newShareCoordinator(t, log, clock)
	lg := c2.ListGroups(&kmsg.ListGroupsRequest{Version: 5, TypesFilter: []string{"share"}})
	if len(lg.Groups) != 1 || lg.Groups[0].Group != "sg" || lg.Groups[0].GroupState != "Empty" {
		t.Fatalf("replayed share groups: %+v", lg.Groups)
	}
	if r := a.hb(t, c2); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat after failover: code %d, want UNKNOWN_MEMBER_ID", r.ErrorCode)
	}
	a.epoch = 0
	if r := a.hb(t, c2); r.ErrorCode != 0 || r.MemberEpoch <= d.GroupEpoch {
		t.Fatalf("rejoin: code %d epoch %d (group epoch was %d)", r.ErrorCode, r.MemberEpoch, d.GroupEpoch)
	}
	// Leaving empties the group; DeleteGroups then removes it.
	a.epoch = -1
	if r := a.hb(t, c2); r.ErrorCode != 0 {
		t.Fatalf("leave: %d", r.ErrorCode)
	}
	dr, wait := c2.DeleteGroups(&kmsg.DeleteGroupsRequest{Groups: []string{"sg"}})
	wait()
	if dr.Groups[0].ErrorCode != 0 {
		t.Fatalf("delete: %d", dr.Groups[0].ErrorCode)
	}
	if c3 := newShareCoordinator(t, log, clock); len(c3.ListGroups(kmsg.NewPtrListGroupsRequest()).Groups) != 0 {
		t.Fatal("deleted share group came back on replay")
	}
}
