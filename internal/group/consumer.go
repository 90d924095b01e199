package group

// Consumer groups of the next-generation protocol (KIP-848): the
// coordinator owns membership and assignment. Members heartbeat
// (ConsumerGroupHeartbeat) with their subscription and the partitions they
// own; the coordinator keeps
//
//   - a group epoch, bumped whenever the membership, a subscription or the
//     metadata of a subscribed topic changes;
//   - a target assignment computed by a server-side assignor ("uniform" or
//     "range") for the group epoch (the target assignment epoch);
//   - per member a member epoch and a current assignment, reconciled towards
//     the target one step at a time: a member first revokes what it must
//     give up (state UNREVOKED_PARTITIONS, epoch unchanged), then moves to
//     the target epoch and receives the partitions nobody else holds; a
//     partition still held by another member is handed over only once that
//     member has reported it revoked (state UNRELEASED_PARTITIONS).
//
// A partition is therefore never assigned to two members at once. Members
// that stop heartbeating are removed after group.consumer.session.timeout.ms;
// members that do not revoke within their rebalance timeout are fenced.
// Static members (instance id) leave temporarily with epoch -2 and keep
// their assignment for a session timeout; another member using the same
// instance id meanwhile gets UNRELEASED_INSTANCE_ID.
//
// Mixed groups: a consumer heartbeat converts an EMPTY classic group into a
// consumer group and a classic JoinGroup converts an empty consumer group
// into a classic one, keeping committed offsets (as Kafka does). Deliberate
// difference from Kafka 4: classic members are never admitted into a
// consumer group with members, and a classic group with members is never
// upgraded online; this is Kafka's behaviour with
// group.consumer.migration.policy=disabled (a JoinGroup gets
// GROUP_ID_NOT_FOUND "not a classic group", a heartbeat GROUP_ID_NOT_FOUND
// "not a consumer group"). Per-group configs (consumer.session.timeout.ms
// via IncrementalAlterConfigs) are not served; the broker configs apply.

import (
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"regexp"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type groupType int8

const (
	typeClassic groupType = iota
	typeConsumer
	typeShare // share.go
)

// mstate is a consumer group member's reconciliation state, with Kafka's
// MemberState values.
type mstate int8

const (
	mStable     mstate = 1
	mUnrevoked  mstate = 2 // must revoke partitionsPendingRevocation first
	mUnreleased mstate = 3 // at the target epoch, waiting for partitions others hold
)

// Member epochs with a meaning in requests.
const (
	epochJoin        = 0
	epochLeave       = -1
	epochStaticLeave = -2
)

type tpKey struct {
	id [16]byte
	p  int32
}

// cgroup is the KIP-848 state of a consumer-type group.
type cgroup struct {
	epoch       int32
	targetEpoch int32
	metaHash    uint64
	members     map[string]*cmember
	static      map[string]string // instance id -> member id
	target      map[string]tpset  // member id -> target assignment
	owner       map[tpKey]string  // partition -> member holding it (assigned or pending revocation)
}

type cmember struct {
	id                   string
	instanceID, rackID   *string
	clientID, clientHost string
	names                []string
	regex                *string
	re                   *regexp.Regexp
	assignor             string
	rebalanceTimeout     time.Duration

	epoch, prevEpoch int32
	state            mstate
	assigned         tpset // owned and to keep
	pending          tpset // owned, to be revoked

	sessStop  func() bool
	sessToken uint64
	revStop   func() bool
	revToken  uint64
}

func newCGroup() *cgroup {
	return &cgroup{members: map[string]*cmember{}, static: map[string]string{}, target: map[string]tpset{}, owner: map[tpKey]string{}}
}

func newCMember(id string) *cmember {
	return &cmember{id: id, state: mStable, assigned: tpset{}, pending: tpset{}}
}

func (m *cmember) stopTimers() {
	m.sessToken++
	if m.sessStop != nil {
		m.sessStop()
		m.sessStop = nil
	}
	m.stopRevocation()
}

func (m *cmember) stopRevocation() {
	m.revToken++
	if m.revStop != nil {
		m.revStop()
		m.revStop = nil
	}
}

// stateName is the group state as Kafka names it for consumer groups.
func (cg *cgroup) stateName() string {
	switch {
	case len(cg.members) == 0:
		return "Empty"
	case cg.epoch > cg.targetEpoch:
		return "Assigning"
	}
	for _, m := range cg.members {
		if m.epoch != cg.targetEpoch || m.state != mStable {
			return "Reconciling"
		}
	}
	return "Stable"
}

func (cg *cgroup) sortedMembers() []*cmember {
	out := make([]*cmember, 0, len(cg.members))
	for _, id := range sortedKeys(cg.members) {
		out = append(out, cg.members[id])
	}
	return out
}

// isEmpty reports whether g has no members of either protocol (nor KIP-394
// members still to join).
func (g *group) isEmpty() bool {
	if g.typ == typeShare {
		return len(g.sg.members) == 0
	}
	if g.typ == typeConsumer {
		return len(g.cg.members) == 0
	}
	return g.state == stEmpty && len(g.members) == 0
}

// typeName is the group type as ListGroups shows it.
func (g *group) typeName() string { return g.typ.String() }

func (t groupType) String() string {
	switch t {
	case typeShare:
		return "share"
	case typeConsumer:
		return "consumer"
	}
	return "classic"
}

func (g *group) stateName() string {
	if g.typ == typeShare {
		return g.sg.stateName()
	}
	if g.typ == typeConsumer {
		return g.cg.stateName()
	}
	return g.state.String()
}

// toConsumer makes an empty classic (or new) group a consumer group.
func (g *group) toConsumer() {
	g.typ = typeConsumer
	g.cg = newCGroup()
	g.protocolType = "consumer"
	g.protocol = ""
	g.generation = 0
	g.leader = ""
	g.members = map[string]*member{}
	g.static = map[string]string{}
	g.state = stEmpty
}

// convertToClassic turns an empty consumer group into an empty classic
// group (offsets kept), writing tombstones for its consumer records.
func (c *Coordinator) convertToClassic(g *group) {
	c.appendRecords(g.id, []kv{{Key: cgKey(recTargetMetadata, g.id)}, {Key: cgKey(recConsumerGroupMetadata, g.id)}})
	g.typ = typeClassic
	g.cg = nil
	g.protocolType = ""
	g.state = stEmpty
	c.log.Info("converted empty consumer group to classic", "group", g.id)
}

// chbReq is a validated heartbeat.
type chbReq struct {
	*kmsg.ConsumerGroupHeartbeatRequest
	cl    Client
	re    *regexp.Regexp
	owned tpset // nil when the request did not report owned partitions
}

func hbFail(req *kmsg.ConsumerGroupHeartbeatRequest, code int16, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
	r := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	r.ErrorCode = code
	if msg != "" {
		r.ErrorMessage = &msg
	}
	return r
}

// validateHeartbeat applies Kafka's request checks; it returns a non-zero
// code and a message for a request to reject.
func (c *Coordinator) validateHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (*regexp.Regexp, int16, string) {
	inv := kerr.InvalidRequest.Code
	switch {
	case req.Group == "":
		return nil, kerr.InvalidGroupID.Code, "GroupId can't be empty."
	case req.MemberID == "" && (req.Version >= 1 || req.MemberEpoch != epochJoin):
		return nil, inv, "MemberId can't be empty."
	case req.InstanceID != nil && *req.InstanceID == "":
		return nil, inv, "InstanceId can't be empty."
	case req.RackID != nil && *req.RackID == "":
		return nil, inv, "RackId can't be empty."
	case req.MemberEpoch < epochStaticLeave:
		return nil, inv, "MemberEpoch is invalid."
	case req.MemberEpoch == epochStaticLeave && req.InstanceID == nil:
		return nil, inv, "InstanceId can't be null when leaving with epoch -2."
	case req.MemberEpoch == epochJoin && req.RebalanceTimeoutMillis == -1:
		return nil, inv, "RebalanceTimeoutMs must be provided in first request."
	case req.MemberEpoch == epochJoin && (req.Topics == nil || len(req.Topics) > 0):
		return nil, inv, "TopicPartitions must be empty when (re-)joining."
	case req.MemberEpoch == epochJoin && req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
		return nil, inv, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request."
	}
	if req.ServerAssignor != nil && !c.assignorKnown(*req.ServerAssignor) {
		return nil, kerr.UnsupportedAssignor.Code, fmt.Sprintf("ServerAssignor %s is not supported. Supported assignors: %v.", *req.ServerAssignor, c.cfg.ConsumerAssignors)
	}
	var re *regexp.Regexp
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		var err error
		if re, err = regexp.Compile("^(?:" + *req.SubscribedTopicRegex + ")$"); err != nil {
			return nil, kerr.InvalidRegularExpression.Code, fmt.Sprintf("SubscribedTopicRegex %q is not a valid regular expression: %v", *req.SubscribedTopicRegex, err)
		}
	}
	return re, 0, ""
}

func (c *Coordinator) assignorKnown(name string) bool {
	for _, a := range c.cfg.ConsumerAssignors {
		if a == name {
			return true
		}
	}
	return false
}

// ConsumerGroupHeartbeat handles a KIP-848 heartbeat: join (epoch 0),
// heartbeat, or leave (-1, or -2 for a static member that will come back).
// The response is final once wait returns; wait blocks until the records
// the heartbeat wrote are durable.
func (c *Coordinator) ConsumerGroupHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, cl Client) (resp *kmsg.ConsumerGroupHeartbeatResponse, wait func()) {
	noWait := func() {}
	re, code, msg := c.validateHeartbeat(req)
	if code != 0 {
		return hbFail(req, code, msg), noWait
	}
	r := chbReq{ConsumerGroupHeartbeatRequest: req, cl: cl, re: re}
	if req.Topics != nil {
		r.owned = tpset{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				r.owned.add(t.TopicID, p, 0)
			}
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if code := c.ownerCode(req.Group); code != 0 {
		return hbFail(req, code, ""), noWait
	}
	g := c.groups[req.Group]
	switch {
	case g == nil && req.MemberEpoch != epochJoin:
		return hbFail(req, kerr.UnknownMemberID.Code, fmt.Sprintf("Group %s not found.", req.Group)), noWait
	case g == nil:
		g = c.newGroup(req.Group, c.clock.Now())
		g.toConsumer()
	case g.typ == typeShare:
		return hbFail(req, kerr.GroupIDNotFound.Code, fmt.Sprintf("Group %s is not a consumer group.", req.Group)), noWait
	case g.typ == typeClassic:
		if !g.isEmpty() || len(g.pending) > 0 {
			return hbFail(req, kerr.GroupIDNotFound.Code, fmt.Sprintf("Group %s is not a consumer group.", req.Group)), noWait
		}
		if req.MemberEpoch != epochJoin {
			return hbFail(req, kerr.UnknownMemberID.Code, ""), noWait
		}
		g.stopJoinTimer()
		g.toConsumer()
		c.log.Info("converted empty classic group to consumer group", "group", g.id)
	}

	var recs []kv
	resp = req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	switch req.MemberEpoch {
	case epochLeave, epochStaticLeave:
		code, msg = c.cgLeave(g, r, &recs)
		if code == 0 {
			resp.MemberID = &r.MemberID
			resp.MemberEpoch = req.MemberEpoch
		}
	default:
		var m *cmember
		m, code, msg = c.cgHeartbeat(g, r, &recs, resp)
		if code == 0 {
			resp.MemberID = &m.id
			resp.MemberEpoch = m.epoch
			resp.HeartbeatIntervalMillis = int32(c.cfg.ConsumerHeartbeatInterval.Milliseconds())
		}
	}
	if code != 0 {
		resp = hbFail(req, code, msg)
	}
	wr := c.appendRecords(g.id, recs)
	if len(g.cg.members) == 0 && g.cg.epoch == 0 && len(g.offsets) == 0 {
		delete(c.groups, g.id) // a failed first join leaves nothing behind
	}
	return resp, func() {
		if err := wr.Wait(); err != nil && resp.ErrorCode == 0 {
			resp.ErrorCode = writeCode(err)
			resp.Assignment = nil
		}
	}
}

// cgLeave handles epoch -1 (leave) and -2 (static member leaving for now).
func (c *Coordinator) cgLeave(g *group, r chbReq, recs *[]kv) (int16, string) {
	cg := g.cg
	var m *cmember
	if r.InstanceID != nil {
		id, ok := cg.static[*r.InstanceID]
		if !ok {
			return kerr.UnknownMemberID.Code, fmt.Sprintf("Instance id %s is unknown.", *r.InstanceID)
		}
		if id != r.MemberID {
			return kerr.FencedInstanceID.Code, fmt.Sprintf("Instance id %s is used by another member.", *r.InstanceID)
		}
		m = cg.members[id]
	} else if m = cg.members[r.MemberID]; m == nil {
		return kerr.UnknownMemberID.Code, fmt.Sprintf("Member %s is not a member of group %s.", r.MemberID, g.id)
	}
	if r.MemberEpoch == epochStaticLeave {
		// Keep the member and its assignment for a session timeout.
		if m.epoch != epochStaticLeave {
			m.prevEpoch = m.epoch
			m.epoch = epochStaticLeave
		}
		m.stopRevocation()
		*recs = append(*recs, kv{Key: cgMemberKey(recCurrentAssignment, g.id, m.id), Value: currentAssignmentValue(m)})
		c.log.Info("static member left temporarily", "group", g.id, "member", m.id, "instance", *m.instanceID)
		c.scheduleSession(g, m)
		return 0, ""
	}
	c.log.Info("member left group", "group", g.id, "member", m.id)
	*recs = append(*recs, c.removeCMember(g, m)...)
	return 0, ""
}

// removeCMember drops m, releases its partitions and bumps the group epoch;
// it returns the records to write.
func (c *Coordinator) removeCMember(g *group, m *cmember) []kv {
	cg := g.cg
	m.stopTimers()
	for _, s := range []tpset{m.assigned, m.pending} {
		for id, ps := range s {
			for p := range ps {
				if cg.owner[tpKey{id, p}] == m.id {
					delete(cg.owner, tpKey{id, p})
				}
			}
		}
	}
	delete(cg.members, m.id)
	delete(cg.target, m.id)
	if m.instanceID != nil && cg.static[*m.instanceID] == m.id {
		delete(cg.static, *m.instanceID)
	}
	cg.epoch++
	g.stateTime = c.clock.Now()
	return []kv{
		{Key: cgMemberKey(recCurrentAssignment, g.id, m.id)},
		{Key: cgMemberKey(recTargetMember, g.id, m.id)},
		{Key: cgMemberKey(recMemberMetadata, g.id, m.id)},
		{Key: cgKey(recConsumerGroupMetadata, g.id), Value: cgMetadataValue(cg.epoch, cg.metaHash)},
	}
}

// cgHeartbeat handles a join (epoch 0) or a heartbeat of a member.
func (c *Coordinator) cgHeartbeat(g *group, r chbReq, recs *[]kv, resp *kmsg.ConsumerGroupHeartbeatResponse) (*cmember, int16, string) {
	cg := g.cg
	var m *cmember
	var replaced *cmember // static member this join takes over
	bump := false
	if r.MemberEpoch == epochJoin {
		memberID := r.MemberID
		if memberID == "" { // v0: the coordinator names the member
			memberID = newCMemberID()
		}
		if r.InstanceID != nil {
			if oldID, ok := cg.static[*r.InstanceID]; ok && oldID != memberID {
				old := cg.members[oldID]
				if old.epoch != epochStaticLeave {
					return nil, kerr.UnreleasedInstanceID.Code, fmt.Sprintf("Static member %s with instance id %s is still in the group; it must leave first.", oldID, *r.InstanceID)
				}
				replaced = old
			}
		}
		m = cg.members[memberID]
		switch {
		case m != nil:
			// A member rejoining with its id (e.g. after a lost
			// response) is admitted in place.
		case replaced != nil:
			m = c.replaceStatic(g, replaced, memberID, recs)
		default:
			if len(cg.members) >= c.cfg.ConsumerMaxSize {
				return nil, kerr.GroupMaxSizeReached.Code, fmt.Sprintf("The consumer group has reached its maximum capacity of %d members.", c.cfg.ConsumerMaxSize)
			}
			m = newCMember(memberID)
			m.instanceID = r.InstanceID
			cg.members[memberID] = m
			if m.instanceID != nil {
				cg.static[*m.instanceID] = memberID
			}
			bump = true
			c.log.Info("member joined consumer group", "group", g.id, "member", memberID, "client", r.cl.ID)
		}
	} else {
		m = cg.members[r.MemberID]
		if m == nil {
			return nil, kerr.UnknownMemberID.Code, fmt.Sprintf("Member %s is not a member of group %s.", r.MemberID, g.id)
		}
		if r.InstanceID != nil && (m.instanceID == nil || *m.instanceID != *r.InstanceID) {
			return nil, kerr.FencedInstanceID.Code, "The instance id does not match the member."
		}
		if code, msg := checkMemberEpoch(m, r); code != 0 {
			return nil, code, msg
		}
	}

	before := memberMetadataValue(m)
	if c.updateMember(m, r) {
		bump = true
	}
	if after := memberMetadataValue(m); bump || string(after) != string(before) {
		*recs = append(*recs, kv{Key: cgMemberKey(recMemberMetadata, g.id, m.id), Value: after})
	}
	topics := c.subscribedTopicInfo(cg)
	if h := topicsHash(topics); h != cg.metaHash {
		cg.metaHash = h
		bump = true
	}
	if bump {
		cg.epoch++
		g.stateTime = c.clock.Now()
		*recs = append(*recs, kv{Key: cgKey(recConsumerGroupMetadata, g.id), Value: cgMetadataValue(cg.epoch, cg.metaHash)})
	}
	if cg.epoch > cg.targetEpoch {
		*recs = append(*recs, c.computeTarget(g, topics)...)
	}

	prevAssigned, prevPending := m.assigned.clone(), m.pending.clone()
	prevState, prevEpoch := m.state, m.epoch
	if m.epoch == epochStaticLeave {
		m.epoch = m.prevEpoch
	}
	owned := r.owned
	if r.MemberEpoch == epochJoin {
		owned = tpset{} // a (re)joining member owns nothing
	}
	c.reconcile(g, m, owned)
	changed := !m.assigned.sameParts(prevAssigned)
	if changed || !m.pending.sameParts(prevPending) || m.state != prevState || m.epoch != prevEpoch || replaced != nil {
		*recs = append(*recs, kv{Key: cgMemberKey(recCurrentAssignment, g.id, m.id), Value: currentAssignmentValue(m)})
	}
	c.scheduleSession(g, m)

	full := r.RebalanceTimeoutMillis != -1 && (r.SubscribedTopicNames != nil || r.SubscribedTopicRegex != nil) && r.Topics != nil
	if r.MemberEpoch == epochJoin || changed || full {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		for _, id := range m.assigned.topicIDs() {
			t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			t.TopicID, t.Partitions = id, m.assigned.partitions(id)
			a.Topics = append(a.Topics, t)
		}
		resp.Assignment = &a
	}
	return m, 0, ""
}

// checkMemberEpoch fences a heartbeat with an epoch the member does not
// have; the previous epoch is accepted when the member owns nothing beyond
// its assignment (its last response was lost).
func checkMemberEpoch(m *cmember, r chbReq) (int16, string) {
	if r.MemberEpoch == m.epoch {
		return 0, ""
	}
	if r.MemberEpoch == m.prevEpoch && r.owned != nil && m.epoch != epochStaticLeave {
		ok := true
		for id, ps := range r.owned {
			for p := range ps {
				if !m.assigned.has(id, p) {
					ok = false
				}
			}
		}
		if ok {
			return 0, ""
		}
	}
	return kerr.FencedMemberEpoch.Code, fmt.Sprintf("The member epoch %d does not match the expected epoch %d.", r.MemberEpoch, m.epoch)
}

// replaceStatic lets a new member id take over the assignment of a static
// member that left with epoch -2.
func (c *Coordinator) replaceStatic(g *group, old *cmember, newID string, recs *[]kv) *cmember {
	cg := g.cg
	old.stopTimers()
	m := *old
	m.id = newID
	m.sessStop, m.revStop = nil, nil
	m.sessToken, m.revToken = 0, 0
	nm := &m
	delete(cg.members, old.id)
	cg.members[newID] = nm
	cg.static[*nm.instanceID] = newID
	if t, ok := cg.target[old.id]; ok {
		delete(cg.target, old.id)
		cg.target[newID] = t
		*recs = append(*recs, kv{Key: cgMemberKey(recTargetMember, g.id, newID), Value: targetMemberValue(t)})
	}
	for k, id := range cg.owner {
		if id == old.id {
			cg.owner[k] = newID
		}
	}
	*recs = append(*recs,
		kv{Key: cgMemberKey(recCurrentAssignment, g.id, old.id)},
		kv{Key: cgMemberKey(recTargetMember, g.id, old.id)},
		kv{Key: cgMemberKey(recMemberMetadata, g.id, old.id)},
	)
	c.log.Info("static member rejoined", "group", g.id, "instance", *nm.instanceID, "old_member", old.id, "member", newID)
	return nm
}

// updateMember applies the request's non-null fields to m and reports
// whether its subscription changed.
func (c *Coordinator) updateMember(m *cmember, r chbReq) bool {
	m.clientID, m.clientHost = r.cl.ID, r.cl.Host
	if r.RackID != nil {
		m.rackID = r.RackID
	}
	if r.RebalanceTimeoutMillis >= 0 {
		m.rebalanceTimeout = ms(r.RebalanceTimeoutMillis)
	}
	if r.ServerAssignor != nil {
		m.assignor = *r.ServerAssignor
	}
	changed := false
	if r.SubscribedTopicNames != nil {
		names := append([]string(nil), r.SubscribedTopicNames...)
		sort.Strings(names)
		names = dedup(names)
		if fmt.Sprint(names) != fmt.Sprint(m.names) {
			m.names = names
			changed = true
		}
	}
	if r.SubscribedTopicRegex != nil {
		var rx *string
		if *r.SubscribedTopicRegex != "" {
			rx = r.SubscribedTopicRegex
		}
		if deref(rx) != deref(m.regex) || (rx == nil) != (m.regex == nil) {
			m.regex, m.re = rx, r.re
			changed = true
		}
	}
	return changed
}

func dedup(ss []string) []string {
	out := ss[:0]
	for i, s := range ss {
		if i == 0 || s != ss[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// topicInfo is a subscribed topic as the assignors see it.
type topicInfo struct {
	name  string
	id    [16]byte
	parts int32
}

// memberTopics resolves m's subscription against the existing topics.
func (c *Coordinator) memberTopics(m *cmember, all []string) map[string]bool {
	out := map[string]bool{}
	for _, n := range m.names {
		out[n] = true
	}
	if m.re != nil {
		for _, n := range all {
			if n != OffsetsTopic && m.re.MatchString(n) {
				out[n] = true
			}
		}
	}
	return out
}

// subscribedTopicInfo returns the existing topics any member subscribes
// to, sorted by name.
func (c *Coordinator) subscribedTopicInfo(cg *cgroup) []topicInfo {
	var all []string
	for _, m := range cg.members {
		if m.re != nil {
			all = c.cfg.Topics.TopicNames()
			break
		}
	}
	names := map[string]bool{}
	for _, m := range cg.members {
		for n := range c.memberTopics(m, all) {
			names[n] = true
		}
	}
	var out []topicInfo
	for _, n := range sortedKeys(names) {
		if id, parts, ok := c.cfg.Topics.TopicInfo(n); ok && parts > 0 {
			out = append(out, topicInfo{name: n, id: id, parts: parts})
		}
	}
	return out
}

// topicsHash identifies the subscribed topics' metadata: a change (topic
// created, deleted, recreated, partitions added) bumps the group epoch.
func topicsHash(ts []topicInfo) uint64 {
	if len(ts) == 0 {
		return 0
	}
	h := fnv.New64a()
	for _, t := range ts {
		fmt.Fprintf(h, "%s/%x/%d;", t.name, t.id, t.parts)
	}
	return h.Sum64()
}

// computeTarget computes the target assignment of the current group epoch
// and returns the records of what changed.
func (c *Coordinator) computeTarget(g *group, topics []topicInfo) []kv {
	cg := g.cg
	var all []string
	for _, m := range cg.members {
		if m.re != nil {
			all = c.cfg.Topics.TopicNames()
			break
		}
	}
	byName := map[string]topicInfo{}
	for _, t := range topics {
		byName[t.name] = t
	}
	members := sortedKeys(cg.members)
	subs := map[string][]topicInfo{}
	for _, id := range members {
		for n := range c.memberTopics(cg.members[id], all) {
			if t, ok := byName[n]; ok {
				subs[id] = append(subs[id], t)
			}
		}
	}
	name := c.pickAssignor(cg)
	var target map[string]tpset
	if name == "range" {
		target = assignRange(members, subs)
	} else {
		target = assignUniform(members, subs, cg.target)
	}
	var recs []kv
	for _, id := range members {
		if old, ok := cg.target[id]; !ok || !old.sameParts(target[id]) {
			recs = append(recs, kv{Key: cgMemberKey(recTargetMember, g.id, id), Value: targetMemberValue(target[id])})
		}
	}
	cg.target = target
	cg.targetEpoch = cg.epoch
	recs = append(recs, kv{Key: cgKey(recTargetMetadata, g.id), Value: targetMetadataValue(cg.targetEpoch)})
	c.log.Info("computed target assignment", "group", g.id, "epoch", cg.epoch, "assignor", name, "members", len(members))
	return recs
}

// pickAssignor is the assignor most members ask for (ties go to the first
// in group.consumer.assignors), else the first configured.
func (c *Coordinator) pickAssignor(cg *cgroup) string {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.assignor != "" {
			votes[m.assignor]++
		}
	}
	best := c.cfg.ConsumerAssignors[0]
	for _, a := range c.cfg.ConsumerAssignors {
		if votes[a] > votes[best] {
			best = a
		}
	}
	return best
}

// reconcile moves m towards its target assignment; owned is what the
// member reported owning (nil: not reported).
func (c *Coordinator) reconcile(g *group, m *cmember, owned tpset) {
	cg := g.cg
	switch m.state {
	case mUnrevoked:
		if owned == nil {
			return
		}
		for id, ps := range m.pending {
			for p := range ps {
				if owned.has(id, p) {
					return // not revoked yet
				}
			}
		}
		for id, ps := range m.pending {
			for p := range ps {
				if cg.owner[tpKey{id, p}] == m.id {
					delete(cg.owner, tpKey{id, p})
				}
			}
		}
		m.pending = tpset{}
		m.state = mStable
		c.nextAssignment(g, m)
	case mUnreleased:
		c.nextAssignment(g, m)
	default:
		if m.epoch != cg.targetEpoch {
			c.nextAssignment(g, m)
		}
	}
}

// nextAssignment computes m's next current assignment from the target:
// first revoke what the target takes away; once nothing is left to
// revoke, move to the target epoch and take every target partition nobody
// else holds.
func (c *Coordinator) nextAssignment(g *group, m *cmember) {
	cg := g.cg
	target := cg.target[m.id]
	keep, revoke := tpset{}, tpset{}
	for id, ps := range m.assigned {
		for p, e := range ps {
			if target.has(id, p) {
				keep.add(id, p, e)
			} else {
				revoke.add(id, p, e)
			}
		}
	}
	if revoke.size() > 0 {
		m.assigned, m.pending, m.state = keep, revoke, mUnrevoked
		c.scheduleRevocation(g, m)
		return
	}
	if m.epoch != cg.targetEpoch {
		m.prevEpoch, m.epoch = m.epoch, cg.targetEpoch
	}
	unreleased := false
	for id, ps := range target {
		for p := range ps {
			if keep.has(id, p) {
				continue
			}
			k := tpKey{id, p}
			if o := cg.owner[k]; o == "" || o == m.id {
				cg.owner[k] = m.id
				keep.add(id, p, m.epoch)
			} else {
				unreleased = true
			}
		}
	}
	m.assigned = keep
	m.state = mStable
	if unreleased {
		m.state = mUnreleased
	}
	m.stopRevocation()
}

func (c *Coordinator) scheduleSession(g *group, m *cmember) {
	m.sessToken++
	if m.sessStop != nil {
		m.sessStop()
	}
	token := m.sessToken
	m.sessStop = c.clock.AfterFunc(c.cfg.ConsumerSessionTimeout, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed || c.groups[g.id] != g || g.cg == nil || g.cg.members[m.id] != m || m.sessToken != token {
			return
		}
		c.log.Info("consumer group member session expired", "group", g.id, "member", m.id, "session_timeout", c.cfg.ConsumerSessionTimeout)
		c.appendRecords(g.id, c.removeCMember(g, m))
	})
}

// scheduleRevocation fences m if it has not revoked its partitions within
// its rebalance timeout.
func (c *Coordinator) scheduleRevocation(g *group, m *cmember) {
	if m.revStop != nil {
		return // already counting since the revocation started
	}
	token := m.revToken
	d := m.rebalanceTimeout
	if d <= 0 {
		d = c.cfg.ConsumerSessionTimeout
	}
	m.revStop = c.clock.AfterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed || c.groups[g.id] != g || g.cg == nil || g.cg.members[m.id] != m || m.revToken != token || m.state != mUnrevoked {
			return
		}
		c.log.Info("consumer group member fenced: partitions not revoked within the rebalance timeout", "group", g.id, "member", m.id, "rebalance_timeout", d)
		c.appendRecords(g.id, c.removeCMember(g, m))
	})
}

// newCMemberID names a member for a v0 join (v1 clients name themselves).
func newCMemberID() string {
	id := newMemberID("x")
	return base64.RawURLEncoding.EncodeToString([]byte(id))[:22]
}

// describedGroup is the group a ConsumerGroupDescribe or
// ShareGroupDescribe names, or the error code and message for it: an
// empty id, a group not coordinated here, missing, or of another type.
// Under c.mu.
func (c *Coordinator) describedGroup(id string, typ groupType) (*group, int16, string) {
	g := c.groups[id]
	switch code := c.ownerCode(id); {
	case id == "":
		return nil, kerr.InvalidGroupID.Code, "GroupId can't be empty."
	case code != 0:
		return nil, code, kerr.ErrorForCode(code).(*kerr.Error).Description
	case g == nil:
		return nil, kerr.GroupIDNotFound.Code, fmt.Sprintf("Group %s not found.", id)
	case g.typ != typ:
		return nil, kerr.GroupIDNotFound.Code, fmt.Sprintf("Group %s is not a %s group.", id, typ)
	}
	return g, 0, ""
}

// ConsumerGroupDescribe describes consumer groups (KIP-848).
func (c *Coordinator) ConsumerGroupDescribe(req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range req.Groups {
		dg := kmsg.NewConsumerGroupDescribeResponseGroup()
		dg.Group = id
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = authorizedGroupOps
		}
		g, code, msg := c.describedGroup(id, typeConsumer)
		if code != 0 {
			dg.ErrorCode, dg.ErrorMessage = code, &msg
		} else {
			cg := g.cg
			dg.State = cg.stateName()
			dg.Epoch = cg.epoch
			dg.AssignmentEpoch = cg.targetEpoch
			dg.AssignorName = c.pickAssignor(cg)
			for _, m := range cg.sortedMembers() {
				dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
				dm.MemberID, dm.InstanceID, dm.RackID = m.id, m.instanceID, m.rackID
				dm.MemberEpoch = m.epoch
				dm.ClientID, dm.ClientHost = m.clientID, m.clientHost
				dm.SubscribedTopics = append([]string{}, m.names...)
				dm.SubscribedTopicRegex = m.regex
				dm.Assignment = c.describeAssignment(m.assigned)
				dm.TargetAssignment = c.describeAssignment(cg.target[m.id])
				dm.MemberType = 1 // consumer protocol
				dg.Members = append(dg.Members, dm)
			}
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) describeAssignment(s tpset) kmsg.Assignment {
	a := kmsg.NewAssignment()
	for _, id := range s.topicIDs() {
		tp := kmsg.NewAssignmentTopicPartition()
		tp.TopicID = id
		tp.Topic, _ = c.cfg.Topics.TopicByID(id)
		tp.Partitions = s.partitions(id)
		a.TopicPartitions = append(a.TopicPartitions, tp)
	}
	return a
}

// checkConsumerCommit applies Kafka's rules for an OffsetCommit to a
// consumer group: epoch -1 while the group is empty (admin tools), else a
// member at v9+ committing partitions it holds, with assignmentEpoch <=
// the request's epoch <= the member epoch (KIP-1251).
func (c *Coordinator) checkConsumerCommit(g *group, req *kmsg.OffsetCommitRequest) int16 {
	cg := g.cg
	if req.Generation < 0 && len(cg.members) == 0 {
		return 0
	}
	m := cg.members[req.MemberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if req.Version < 9 {
		return kerr.UnsupportedVersion.Code
	}
	if req.Generation == m.epoch {
		return 0
	}
	if req.Generation > m.epoch || req.Generation < 0 {
		return kerr.StaleMemberEpoch.Code
	}
	for _, t := range req.Topics {
		id, _, ok := c.cfg.Topics.TopicInfo(t.Topic)
		if !ok {
			continue // answered UNKNOWN_TOPIC_OR_PARTITION per partition
		}
		for _, p := range t.Partitions {
			e, held := m.assigned[id][p.Partition]
			if !held {
				e, held = m.pending[id][p.Partition]
			}
			if !held || e > req.Generation {
				return kerr.StaleMemberEpoch.Code
			}
		}
	}
	return 0
}

// checkConsumerFetch validates the member of a v9+ OffsetFetch to a
// consumer group; epoch -1 (admin tools) is always allowed.
func checkConsumerFetch(g *group, memberID *string, epoch int32) int16 {
	if g == nil || g.typ != typeConsumer || epoch < 0 {
		return 0
	}
	m := g.cg.members[deref(memberID)]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if m.epoch != epoch {
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// replayConsumer applies one consumer group record (types 3..8) to groups.
func replayConsumer(groups map[string]*group, r kv, now time.Time) {
	typ, gid, mid, err := decodeCGKey(r.Key)
	if err != nil || typ == recPartitionMetadata {
		return
	}
	g := groups[gid]
	if r.Value == nil {
		if g == nil || g.typ != typeConsumer {
			return
		}
		cg := g.cg
		switch typ {
		case recConsumerGroupMetadata:
			g.typ, g.cg, g.protocolType = typeClassic, nil, ""
			if len(g.offsets) == 0 {
				delete(groups, gid)
			}
		case recMemberMetadata:
			delete(cg.members, mid)
			delete(cg.target, mid)
		case recTargetMember:
			delete(cg.target, mid)
		case recCurrentAssignment:
			if m := cg.members[mid]; m != nil {
				m.assigned, m.pending, m.state = tpset{}, tpset{}, mStable
			}
		}
		return
	}
	if g == nil {
		g = makeGroup(gid, now)
		groups[gid] = g
	}
	if g.typ != typeConsumer {
		g.toConsumer()
	}
	cg := g.cg
	member := func() *cmember {
		m := cg.members[mid]
		if m == nil {
			m = newCMember(mid)
			cg.members[mid] = m
		}
		return m
	}
	switch typ {
	case recConsumerGroupMetadata:
		if e, h, err := readCGMetadataValue(r.Value); err == nil {
			cg.epoch, cg.metaHash = e, h
		}
	case recTargetMetadata:
		if e, err := readTargetMetadataValue(r.Value); err == nil {
			cg.targetEpoch = e
		}
	case recMemberMetadata:
		m := member()
		if readMemberMetadataValue(r.Value, m) != nil {
			return
		}
		m.re = nil
		if m.regex != nil {
			m.re, _ = regexp.Compile("^(?:" + *m.regex + ")$")
		}
	case recTargetMember:
		if s, err := readTargetMemberValue(r.Value); err == nil {
			cg.target[mid] = s
		}
	case recCurrentAssignment:
		readCurrentAssignmentValue(r.Value, member())
	}
}

// finishLoad rebuilds derived state of replayed consumer groups and starts
// their members' session timers.
func (c *Coordinator) finishLoad(g *group) {
	cg := g.cg
	cg.static = map[string]string{}
	cg.owner = map[tpKey]string{}
	for _, m := range cg.sortedMembers() {
		if m.instanceID != nil {
			cg.static[*m.instanceID] = m.id
		}
		for _, s := range []tpset{m.assigned, m.pending} {
			for id, ps := range s {
				for p := range ps {
					cg.owner[tpKey{id, p}] = m.id
				}
			}
		}
		c.scheduleSession(g, m)
		if m.state == mUnrevoked {
			c.scheduleRevocation(g, m)
		}
	}
	for id := range cg.target {
		if cg.members[id] == nil {
			delete(cg.target, id)
		}
	}
}

// consumerSubscribedTopics is the union of the members' subscriptions.
func (c *Coordinator) consumerSubscribedTopics(g *group) map[string]bool {
	out := map[string]bool{}
	for _, t := range c.subscribedTopicInfo(g.cg) {
		out[t.name] = true
	}
	for _, m := range g.cg.members {
		for _, n := range m.names {
			out[n] = true
		}
	}
	return out
}

// consumerRecordsTombstones are the tombstones that delete a consumer
// group's records.
func consumerTombstones(g *group) []kv {
	var recs []kv
	if g.typ != typeConsumer {
		return nil
	}
	for _, id := range sortedKeys(g.cg.members) {
		recs = append(recs,
			kv{Key: cgMemberKey(recCurrentAssignment, g.id, id)},
			kv{Key: cgMemberKey(recTargetMember, g.id, id)},
			kv{Key: cgMemberKey(recMemberMetadata, g.id, id)})
	}
	return append(recs, kv{Key: cgKey(recTargetMetadata, g.id)}, kv{Key: cgKey(recConsumerGroupMetadata, g.id)})
}
