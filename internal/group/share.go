package group

// Share groups (KIP-932): members heartbeat (ShareGroupHeartbeat) with the
// topics they subscribe to and the coordinator assigns them partitions.
// Unlike consumer groups, a partition may be assigned to several members
// at once (the share-partition leader hands each record to one of them),
// so a new assignment is given at once, with no revocation step: the
// member epoch becomes the group epoch when the member receives it.
//
// The assignor (Kafka's "simple" share assignor in spirit, not its exact
// output): per subscribed topic, with S subscribers and P partitions, when
// S <= P partition k goes to subscriber (k+offset) mod S; when S > P
// subscriber j gets partition j mod P, so every partition is shared and no
// member sits idle. offset rotates across topics so single-partition
// topics do not all land on the first member. It is deterministic over
// the sorted member ids and is not sticky.
//
// Membership is soft state, as in Kafka's share groups: the group itself
// (its id and epoch, record type 11 ShareGroupMetadata in
// __consumer_offsets, the consumer-group layout of records848.go) survives
// a coordinator change, its members rejoin (a heartbeat of an unknown
// member gets UNKNOWN_MEMBER_ID and the client joins again with epoch 0).
// Members are removed after group.share.session.timeout.ms without a
// heartbeat. A share group shares the namespace of classic and consumer
// groups: a share heartbeat for one of those, or a JoinGroup,
// ConsumerGroupHeartbeat or OffsetCommit for a share group, gets
// GROUP_ID_NOT_FOUND.

import (
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// recShareGroupMetadata is Kafka's ShareGroupMetadata record type.
const recShareGroupMetadata = 11

// sgroup is the share-group state of a group of typeShare.
type sgroup struct {
	epoch   int32
	members map[string]*smember
}

type smember struct {
	id                   string
	rackID               *string
	clientID, clientHost string
	names                []string
	epoch                int32
	assigned             tpset

	sessStop  func() bool
	sessToken uint64
}

func (m *smember) stopTimers() {
	m.sessToken++
	if m.sessStop != nil {
		m.sessStop()
		m.sessStop = nil
	}
}

func (sg *sgroup) stateName() string {
	if len(sg.members) == 0 {
		return "Empty"
	}
	return "Stable"
}

func (sg *sgroup) sortedMembers() []*smember {
	out := make([]*smember, 0, len(sg.members))
	for _, id := range sortedKeys(sg.members) {
		out = append(out, sg.members[id])
	}
	return out
}

// toShare makes a new group a share group.
func (g *group) toShare() {
	g.typ = typeShare
	g.sg = &sgroup{members: map[string]*smember{}}
	g.protocolType = "share"
}

func shareMetadataRecord(g *group) kv {
	return kv{Key: cgKey(recShareGroupMetadata, g.id), Value: cgMetadataValue(g.sg.epoch, 0)}
}

func sfail(req *kmsg.ShareGroupHeartbeatRequest, code int16, msg string) *kmsg.ShareGroupHeartbeatResponse {
	r := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
	r.ErrorCode = code
	if msg != "" {
		r.ErrorMessage = &msg
	}
	return r
}

// ShareGroupHeartbeat serves a share group member's heartbeat: join
// (epoch 0), heartbeat, or leave (epoch -1). wait returns once the
// records it wrote are durable; a failed write turns the answer into an
// error.
func (c *Coordinator) ShareGroupHeartbeat(req *kmsg.ShareGroupHeartbeatRequest, cl Client) (resp *kmsg.ShareGroupHeartbeatResponse, wait func()) {
	noWait := func() {}
	inv := kerr.InvalidRequest.Code
	switch {
	case req.GroupID == "":
		return sfail(req, kerr.InvalidGroupID.Code, "GroupId can't be empty."), noWait
	case req.MemberID == "":
		return sfail(req, inv, "MemberId can't be empty."), noWait
	case req.RackID != nil && *req.RackID == "":
		return sfail(req, inv, "RackId can't be empty."), noWait
	case req.MemberEpoch < epochLeave:
		return sfail(req, inv, "MemberEpoch is invalid."), noWait
	case req.MemberEpoch == epochJoin && len(req.SubscribedTopicNames) == 0:
		return sfail(req, inv, "SubscribedTopicNames must be set in first request."), noWait
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if code := c.ownerCode(req.GroupID); code != 0 {
		return sfail(req, code, ""), noWait
	}
	g := c.groups[req.GroupID]
	var recs []kv
	switch {
	case g == nil && req.MemberEpoch != epochJoin:
		return sfail(req, kerr.GroupIDNotFound.Code, fmt.Sprintf("Group %s not found.", req.GroupID)), noWait
	case g == nil:
		g = c.newGroup(req.GroupID, c.clock.Now())
		g.toShare()
		c.log.Info("share group created", "group", g.id)
	case g.typ != typeShare:
		return sfail(req, kerr.GroupIDNotFound.Code, fmt.Sprintf("Group %s is not a share group.", req.GroupID)), noWait
	}
	sg := g.sg
	resp = req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
	resp.HeartbeatIntervalMillis = int32(c.cfg.ShareHeartbeatInterval.Milliseconds())
	m := sg.members[req.MemberID]
	switch {
	case req.MemberEpoch == epochLeave:
		if m == nil {
			return sfail(req, kerr.UnknownMemberID.Code, fmt.Sprintf("Member %s is not a member of group %s.", req.MemberID, g.id)), noWait
		}
		c.log.Info("share group member left", "group", g.id, "member", m.id)
		recs = append(recs, c.removeSMember(g, m)...)
		resp.MemberID, resp.MemberEpoch = &req.MemberID, epochLeave
	case req.MemberEpoch == epochJoin:
		if m == nil {
			if len(sg.members) >= c.cfg.ShareMaxSize {
				return sfail(req, kerr.GroupMaxSizeReached.Code, fmt.Sprintf("The share group has reached its maximum size of %d.", c.cfg.ShareMaxSize)), noWait
			}
			m = &smember{id: req.MemberID, assigned: tpset{}}
			sg.members[m.id] = m
			c.log.Info("share group member joined", "group", g.id, "member", m.id)
		}
		m.epoch = 0 // a rejoin with a known id starts over
		m.assigned = tpset{}
		m.clientID, m.clientHost = cl.ID, cl.Host
		m.rackID = req.RackID
		m.names = sortedCopy(req.SubscribedTopicNames)
		sg.epoch++
		recs = append(recs, shareMetadataRecord(g))
	default:
		switch {
		case m == nil:
			return sfail(req, kerr.UnknownMemberID.Code, fmt.Sprintf("Member %s is not a member of group %s.", req.MemberID, g.id)), noWait
		case req.MemberEpoch != m.epoch:
			return sfail(req, kerr.FencedMemberEpoch.Code, fmt.Sprintf("The share group member has epoch %d, not %d.", m.epoch, req.MemberEpoch)), noWait
		}
		if req.RackID != nil {
			m.rackID = req.RackID
		}
		if req.SubscribedTopicNames != nil {
			if names := sortedCopy(req.SubscribedTopicNames); !equalStrings(names, m.names) {
				m.names = names
				sg.epoch++
				recs = append(recs, shareMetadataRecord(g))
			}
		}
	}
	if req.MemberEpoch != epochLeave {
		target := c.shareTarget(sg)
		if a := target[m.id]; m.epoch == 0 || !a.sameParts(m.assigned) {
			m.assigned = a
			m.epoch = sg.epoch
			resp.Assignment = c.shareAssignment(a)
		}
		resp.MemberID, resp.MemberEpoch = &m.id, m.epoch
		c.scheduleShareSession(g, m)
	}
	wr := c.appendRecords(g.id, recs)
	return resp, func() {
		if err := wr.Wait(); err != nil && resp.ErrorCode == 0 {
			resp.ErrorCode = writeCode(err)
			resp.Assignment = nil
		}
	}
}

func sortedCopy(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (c *Coordinator) shareAssignment(s tpset) *kmsg.ShareGroupHeartbeatResponseAssignment {
	a := kmsg.NewShareGroupHeartbeatResponseAssignment()
	a.TopicPartitions = []kmsg.ShareGroupHeartbeatResponseAssignmentTopicPartition{}
	for _, id := range s.topicIDs() {
		tp := kmsg.NewShareGroupHeartbeatResponseAssignmentTopicPartition()
		tp.TopicID = id
		tp.Partitions = s.partitions(id)
		a.TopicPartitions = append(a.TopicPartitions, tp)
	}
	return &a
}

// removeSMember drops m and bumps the group epoch.
func (c *Coordinator) removeSMember(g *group, m *smember) []kv {
	m.stopTimers()
	delete(g.sg.members, m.id)
	g.sg.epoch++
	g.stateTime = c.clock.Now()
	return []kv{shareMetadataRecord(g)}
}

// shareTarget computes every member's assignment (see the file comment).
func (c *Coordinator) shareTarget(sg *sgroup) map[string]tpset {
	out := map[string]tpset{}
	subs := map[string][]string{}
	for _, m := range sg.sortedMembers() {
		out[m.id] = tpset{}
		for _, t := range m.names {
			subs[t] = append(subs[t], m.id)
		}
	}
	rot := 0
	for _, t := range sortedKeys(subs) {
		id, n, ok := c.cfg.Topics.TopicInfo(t)
		if !ok || n <= 0 {
			continue
		}
		ms := subs[t]
		if len(ms) <= int(n) {
			for k := int32(0); k < n; k++ {
				out[ms[(int(k)+rot)%len(ms)]].add(id, k, 0)
			}
			rot += int(n)
		} else {
			for j, mid := range ms {
				out[mid].add(id, int32(j)%n, 0)
			}
		}
	}
	return out
}

func (c *Coordinator) scheduleShareSession(g *group, m *smember) {
	m.sessToken++
	if m.sessStop != nil {
		m.sessStop()
	}
	token := m.sessToken
	m.sessStop = c.clock.AfterFunc(c.cfg.ShareSessionTimeout, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed || c.groups[g.id] != g || g.sg == nil || g.sg.members[m.id] != m || m.sessToken != token {
			return
		}
		c.log.Info("share group member session expired", "group", g.id, "member", m.id, "session_timeout", c.cfg.ShareSessionTimeout)
		c.appendRecords(g.id, c.removeSMember(g, m))
	})
}

// ShareGroupDescribe describes share groups.
func (c *Coordinator) ShareGroupDescribe(req *kmsg.ShareGroupDescribeRequest) *kmsg.ShareGroupDescribeResponse {
	resp := req.ResponseKind().(*kmsg.ShareGroupDescribeResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range req.GroupIDs {
		dg := kmsg.NewShareGroupDescribeResponseGroup()
		dg.GroupID = id
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = authorizedGroupOps
		}
		g, code, msg := c.describedGroup(id, typeShare)
		if code != 0 {
			dg.ErrorCode, dg.ErrorMessage = code, &msg
		} else {
			sg := g.sg
			dg.GroupState = sg.stateName()
			dg.GroupEpoch = sg.epoch
			dg.AssignmentEpoch = sg.epoch
			dg.Assignor = "simple"
			for _, m := range sg.sortedMembers() {
				dm := kmsg.NewShareGroupDescribeResponseGroupMember()
				dm.MemberID, dm.RackID, dm.MemberEpoch = m.id, m.rackID, m.epoch
				dm.ClientID, dm.ClientHost = m.clientID, m.clientHost
				dm.SubscribedTopicNames = append([]string{}, m.names...)
				for _, tid := range m.assigned.topicIDs() {
					tp := kmsg.NewShareGroupDescribeResponseGroupMemberAssignmentTopicPartition()
					tp.TopicID = tid
					tp.Topic, _ = c.cfg.Topics.TopicByID(tid)
					tp.Partitions = m.assigned.partitions(tid)
					dm.Assignment.TopicPartitions = append(dm.Assignment.TopicPartitions, tp)
				}
				dg.Members = append(dg.Members, dm)
			}
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// ShareGroupTopics returns a share group's subscribed topics (the union
// over its members), and whether id is a share group coordinated here
// (else the error code).
func (c *Coordinator) ShareGroupTopics(id string) ([]string, int16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if code := c.ownerCode(id); code != 0 {
		return nil, code
	}
	g := c.groups[id]
	if g == nil || g.typ != typeShare {
		return nil, kerr.GroupIDNotFound.Code
	}
	set := map[string]bool{}
	for _, m := range g.sg.members {
		for _, t := range m.names {
			set[t] = true
		}
	}
	return sortedKeys(set), 0
}

// ShareGroupEmpty reports whether id is a share group coordinated here
// without members (an admin may alter or delete its offsets); else the
// error code (NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, NOT_COORDINATOR, ...).
func (c *Coordinator) ShareGroupEmpty(id string) int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if code := c.ownerCode(id); code != 0 {
		return code
	}
	g := c.groups[id]
	switch {
	case g == nil || g.typ != typeShare:
		return kerr.GroupIDNotFound.Code
	case len(g.sg.members) > 0:
		return kerr.NonEmptyGroup.Code
	}
	return 0
}

// replayShare applies a ShareGroupMetadata record.
func replayShare(groups map[string]*group, r kv, now time.Time) {
	typ, gid, _, err := decodeCGKey(r.Key)
	if err != nil || typ != recShareGroupMetadata {
		return
	}
	g := groups[gid]
	if r.Value == nil {
		if g != nil && g.typ == typeShare {
			delete(groups, gid)
		}
		return
	}
	epoch, _, err := readCGMetadataValue(r.Value)
	if err != nil {
		return
	}
	if g == nil || g.typ != typeShare {
		g = makeGroup(gid, now)
		g.toShare()
		groups[gid] = g
	}
	g.sg.epoch = epoch
}
