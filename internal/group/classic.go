package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client identifies the connection a request came on.
type Client struct {
	ID   string // client.id
	Host string // as Kafka shows it: "/127.0.0.1"
}

func ms(v int32) time.Duration { return time.Duration(v) * time.Millisecond }

// JoinGroup handles a JoinGroup request. State changes happen now; the
// returned function waits (until done is closed) for the response, which
// for a member that (re)joins comes when the rebalance completes. It
// returns nil if done closed first.
func (c *Coordinator) JoinGroup(req *kmsg.JoinGroupRequest, cl Client) func(done <-chan struct{}) *kmsg.JoinGroupResponse {
	fail := func(code int16, memberID string) func(<-chan struct{}) *kmsg.JoinGroupResponse {
		r := joinError(req.Version, code, memberID)
		return func(<-chan struct{}) *kmsg.JoinGroupResponse { return r }
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID.Code, req.MemberID)
	}
	session := ms(req.SessionTimeoutMillis)
	rebalance := ms(req.RebalanceTimeoutMillis)
	if req.Version == 0 {
		rebalance = session
	}
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		return fail(kerr.InvalidSessionTimeout.Code, req.MemberID)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if code := c.ownerCode(req.Group); code != 0 {
		return fail(code, req.MemberID)
	}
	g := c.groups[req.Group]
	if g == nil {
		if req.MemberID != "" {
			return fail(kerr.UnknownMemberID.Code, req.MemberID)
		}
		g = c.newGroup(req.Group, c.clock.Now())
	}
	if g.typ == typeShare {
		return fail(kerr.GroupIDNotFound.Code, req.MemberID)
	}
	if g.typ == typeConsumer {
		if len(g.cg.members) > 0 {
			// Deliberate difference from Kafka 4 (see consumer.go): no
			// classic members in a consumer group.
			return fail(kerr.GroupIDNotFound.Code, req.MemberID)
		}
		c.convertToClassic(g)
	}
	if !g.supports(req.ProtocolType, req.Protocols) {
		c.dropIfUnused(g)
		return fail(kerr.InconsistentGroupProtocol.Code, req.MemberID)
	}
	j := joinReq{req: req, cl: cl, session: session, rebalance: rebalance}
	var code int16
	var w *joinWaiter
	var immediate *kmsg.JoinGroupResponse
	if req.MemberID == "" {
		w, immediate, code = c.joinNew(g, j)
	} else {
		w, immediate, code = c.joinExisting(g, j)
	}
	switch {
	case code != 0:
		c.dropIfUnused(g)
		return fail(code, req.MemberID)
	case immediate != nil:
		return func(<-chan struct{}) *kmsg.JoinGroupResponse { return immediate }
	}
	return func(done <-chan struct{}) *kmsg.JoinGroupResponse {
		select {
		case r := <-w.ch: // a ready response wins over done
			return r
		default:
		}
		select {
		case r := <-w.ch:
			return r
		case <-done:
			return nil
		}
	}
}

type joinReq struct {
	req                *kmsg.JoinGroupRequest
	cl                 Client
	session, rebalance time.Duration
}

func joinError(version, code int16, memberID string) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = version
	r.ErrorCode = code
	r.Generation = -1
	r.MemberID = memberID
	return r
}

func newJoinWaiter(version int16) *joinWaiter {
	return &joinWaiter{ch: make(chan *kmsg.JoinGroupResponse, 1), version: version}
}

// dropIfUnused forgets a group that holds nothing (created by a join that
// then failed).
func (c *Coordinator) dropIfUnused(g *group) {
	if g.typ == typeClassic && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 && g.generation == 0 && g.state == stEmpty {
		delete(c.groups, g.id)
	}
}

func (c *Coordinator) joinNew(g *group, j joinReq) (*joinWaiter, *kmsg.JoinGroupResponse, int16) {
	if c.cfg.MaxGroupSize > 0 && len(g.members)+len(g.pending) >= c.cfg.MaxGroupSize {
		return nil, nil, kerr.GroupMaxSizeReached.Code
	}
	if inst := j.req.InstanceID; inst != nil {
		id := newMemberID(*inst)
		if old, ok := g.static[*inst]; ok {
			return c.rejoinStatic(g, g.members[old], id, j)
		}
		return c.addMemberAndRebalance(g, id, j), nil, 0
	}
	id := newMemberID(j.cl.ID)
	if j.req.Version >= 4 {
		// KIP-394: hand out the id and wait for the member to come back
		// with it, so a client that never does leaves no member behind.
		g.pending[id] = c.clock.AfterFunc(j.session, func() { c.expirePending(g, id) })
		r := joinError(j.req.Version, kerr.MemberIDRequired.Code, id)
		return nil, r, 0
	}
	return c.addMemberAndRebalance(g, id, j), nil, 0
}

func (c *Coordinator) expirePending(g *group, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.groups[g.id] != g {
		return
	}
	if _, ok := g.pending[id]; !ok {
		return
	}
	delete(g.pending, id)
	if g.state == stPreparing {
		c.tryCompleteJoin(g)
	}
	c.dropIfUnused(g)
}

func (c *Coordinator) joinExisting(g *group, j joinReq) (*joinWaiter, *kmsg.JoinGroupResponse, int16) {
	id := j.req.MemberID
	if stop, ok := g.pending[id]; ok {
		stop()
		delete(g.pending, id)
		return c.addMemberAndRebalance(g, id, j), nil, 0
	}
	if inst := j.req.InstanceID; inst != nil {
		if cur, ok := g.static[*inst]; ok && cur != id {
			return nil, nil, kerr.FencedInstanceID.Code
		}
	}
	m := g.members[id]
	if m == nil {
		return nil, nil, kerr.UnknownMemberID.Code
	}
	switch g.state {
	case stPreparing:
		return c.updateMemberAndRebalance(g, m, j), nil, 0
	case stCompleting:
		if m.sameProtocols(j.req.Protocols) {
			// The member missed its JoinGroup response: repeat it.
			return nil, c.joinResponse(g, m, j.req.Version), 0
		}
		return c.updateMemberAndRebalance(g, m, j), nil, 0
	case stStable:
		if m.id == g.leader || !m.sameProtocols(j.req.Protocols) {
			return c.updateMemberAndRebalance(g, m, j), nil, 0
		}
		c.scheduleHeartbeat(g, m)
		return nil, c.joinResponse(g, m, j.req.Version), 0
	}
	return nil, nil, kerr.UnknownMemberID.Code
}

// rejoinStatic replaces a static member's id with a fresh one (KIP-345):
// the old id is fenced, the member keeps its assignment, and a stable group
// does not rebalance unless the member's protocols changed.
func (c *Coordinator) rejoinStatic(g *group, m *member, newID string, j joinReq) (*joinWaiter, *kmsg.JoinGroupResponse, int16) {
	c.respondJoins(m, joinError(0, kerr.FencedInstanceID.Code, m.id))
	c.respondSyncs(g, m, kerr.FencedInstanceID.Code)
	old := m.id
	delete(g.members, old)
	m.id = newID
	g.members[newID] = m
	g.static[*j.req.InstanceID] = newID
	if g.leader == old {
		g.leader = newID
	}
	m.clientID, m.clientHost = j.cl.ID, j.cl.Host
	m.sessionTimeout, m.rebalanceTimeout = j.session, j.rebalance
	c.log.Info("static member rejoined", "group", g.id, "instance", *j.req.InstanceID, "old_member", old, "member", newID)
	if g.state == stStable && m.sameProtocols(j.req.Protocols) && (g.leader != newID || j.req.Version >= 9) {
		c.storeGroup(g)
		c.scheduleHeartbeat(g, m)
		r := c.joinResponse(g, m, j.req.Version)
		// KIP-814: a rejoining static leader learns the members but must
		// not compute a new assignment.
		r.SkipAssignment = g.leader == newID
		return nil, r, 0
	}
	return c.updateMemberAndRebalance(g, m, j), nil, 0
}

func (c *Coordinator) addMemberAndRebalance(g *group, id string, j joinReq) *joinWaiter {
	m := &member{
		id: id, instanceID: j.req.InstanceID, clientID: j.cl.ID, clientHost: j.cl.Host,
		sessionTimeout: j.session, rebalanceTimeout: j.rebalance,
		protocolType: j.req.ProtocolType, protocols: j.req.Protocols, isNew: true,
	}
	w := newJoinWaiter(j.req.Version)
	m.joins = []joinWaiter{*w}
	if len(g.members) == 0 {
		g.protocolType = j.req.ProtocolType
	}
	g.members[id] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = id
	}
	if g.leader == "" {
		g.leader = id
	}
	if g.state == stPreparing && g.initialJoin {
		g.newMemberAdded = true
	}
	c.scheduleHeartbeat(g, m)
	c.maybePrepareRebalance(g, "member "+id+" joined")
	c.tryCompleteJoin(g)
	return w
}

func (c *Coordinator) updateMemberAndRebalance(g *group, m *member, j joinReq) *joinWaiter {
	m.protocols = j.req.Protocols
	m.sessionTimeout, m.rebalanceTimeout = j.session, j.rebalance
	w := newJoinWaiter(j.req.Version)
	m.joins = append(m.joins, *w)
	c.maybePrepareRebalance(g, "member "+m.id+" rejoined")
	c.tryCompleteJoin(g)
	return w
}

func (c *Coordinator) maybePrepareRebalance(g *group, reason string) {
	switch g.state {
	case stStable, stCompleting, stEmpty:
		c.prepareRebalance(g, reason)
	}
}

func (c *Coordinator) prepareRebalance(g *group, reason string) {
	if g.state == stCompleting {
		c.resetAssignments(g, kerr.RebalanceInProgress.Code)
	}
	g.stopJoinTimer()
	initial := g.state == stEmpty && c.cfg.InitialRebalanceDelay > 0
	g.transition(stPreparing, c.clock.Now())
	token := g.joinToken
	fire := func() { c.onJoinTimer(g, token) }
	g.initialJoin = initial
	if initial {
		delay := c.cfg.InitialRebalanceDelay
		g.newMemberAdded = false
		g.initialLeft = max(g.rebalanceTimeout()-delay, 0)
		g.joinStop = c.clock.AfterFunc(delay, fire)
	} else {
		g.joinStop = c.clock.AfterFunc(g.rebalanceTimeout(), fire)
	}
	c.log.Info("preparing to rebalance group", "group", g.id, "generation", g.generation, "reason", reason)
}

// onJoinTimer ends the join phase: the rebalance timeout, or a step of the
// initial delay (extended while new members keep arriving, KIP-134).
func (c *Coordinator) onJoinTimer(g *group, token uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.groups[g.id] != g || g.joinToken != token || g.state != stPreparing {
		return
	}
	if g.initialJoin && g.newMemberAdded && g.initialLeft > 0 {
		g.newMemberAdded = false
		d := min(c.cfg.InitialRebalanceDelay, g.initialLeft)
		g.initialLeft -= d
		g.joinStop = c.clock.AfterFunc(d, func() { c.onJoinTimer(g, token) })
		return
	}
	c.completeJoin(g)
}

// tryCompleteJoin completes the join phase early once every member has
// rejoined and no KIP-394 member is still to come.
func (c *Coordinator) tryCompleteJoin(g *group) {
	if g.state != stPreparing || g.initialJoin || len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if !m.awaitingJoin() {
			return
		}
	}
	c.completeJoin(g)
}

// completeJoin starts the next generation: members that did not rejoin are
// removed, a protocol is chosen, and every joined member gets its response
// (the leader with the member list).
func (c *Coordinator) completeJoin(g *group) {
	g.stopJoinTimer()
	g.initialJoin = false
	for _, m := range g.sortedMembers() {
		if !m.awaitingJoin() {
			c.log.Info("member removed: did not rejoin in time", "group", g.id, "member", m.id)
			c.removeMember(g, m)
		}
	}
	if _, ok := g.members[g.leader]; !ok {
		g.leader = ""
		if ms := g.sortedMembers(); len(ms) > 0 {
			g.leader = ms[0].id
		}
	}
	g.generation++
	now := c.clock.Now()
	if len(g.members) == 0 {
		g.protocol = ""
		g.transition(stEmpty, now)
		c.storeGroup(g)
		c.log.Info("group is empty", "group", g.id, "generation", g.generation)
		return
	}
	g.protocol = g.selectProtocol()
	g.transition(stCompleting, now)
	for _, m := range g.members {
		c.respondJoins(m, c.joinResponse(g, m, 0))
		m.isNew = false
		c.scheduleHeartbeat(g, m)
	}
	c.log.Info("group rebalanced", "group", g.id, "generation", g.generation, "protocol", g.protocol, "leader", g.leader, "members", len(g.members))
}

// joinResponse is the successful JoinGroup answer for m in the current
// generation; the leader gets the member list.
func (c *Coordinator) joinResponse(g *group, m *member, version int16) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = version
	r.Generation = g.generation
	r.ProtocolType = strp(g.protocolType)
	r.Protocol = strp(g.protocol)
	r.LeaderID = g.leader
	r.MemberID = m.id
	if m.id == g.leader {
		for _, o := range g.sortedMembers() {
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID = o.id
			jm.InstanceID = o.instanceID
			jm.ProtocolMetadata = o.metadataFor(g.protocol)
			r.Members = append(r.Members, jm)
		}
	}
	return r
}

// respondJoins answers every waiting JoinGroup of m with a copy of r at the
// waiter's version.
func (c *Coordinator) respondJoins(m *member, r *kmsg.JoinGroupResponse) {
	for _, w := range m.joins {
		cp := *r
		cp.Version = w.version
		w.ch <- &cp
	}
	m.joins = nil
}

func (c *Coordinator) respondSyncs(g *group, m *member, code int16) {
	for _, w := range m.syncs {
		r := c.syncResponse(g, m, w.version)
		r.ErrorCode = code
		if code != 0 {
			r.MemberAssignment = nil
		}
		w.ch <- r
	}
	m.syncs = nil
}

func (c *Coordinator) syncResponse(g *group, m *member, version int16) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	r.Version = version
	r.ProtocolType = strp(g.protocolType)
	r.Protocol = strp(g.protocol)
	r.MemberAssignment = m.assignment
	if r.MemberAssignment == nil {
		r.MemberAssignment = []byte{}
	}
	return r
}

// resetAssignments drops the assignments of a generation that will not
// become stable and fails its waiting SyncGroups with code.
func (c *Coordinator) resetAssignments(g *group, code int16) {
	for _, m := range g.members {
		m.assignment = nil
		c.respondSyncs(g, m, code)
	}
}

// failWaiters answers m's waiting requests with err's code.
func (c *Coordinator) failWaiters(g *group, m *member, err error) {
	code := codeOf(err)
	c.respondJoins(m, joinError(0, code, m.id))
	c.respondSyncs(g, m, code)
}

// removeMember drops m without changing the group state.
func (c *Coordinator) removeMember(g *group, m *member) {
	m.stopHeartbeat()
	c.respondJoins(m, joinError(0, kerr.UnknownMemberID.Code, m.id))
	c.respondSyncs(g, m, kerr.UnknownMemberID.Code)
	delete(g.members, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		if ms := g.sortedMembers(); len(ms) > 0 {
			g.leader = ms[0].id
		}
	}
}

// removeMemberAndUpdate drops m and moves the group on: a stable or
// completing group rebalances; a rebalancing one may now complete.
func (c *Coordinator) removeMemberAndUpdate(g *group, m *member, reason string) {
	c.removeMember(g, m)
	switch g.state {
	case stStable, stCompleting:
		c.prepareRebalance(g, reason)
		c.tryCompleteJoin(g)
	case stPreparing:
		c.tryCompleteJoin(g)
	}
}

func (c *Coordinator) scheduleHeartbeat(g *group, m *member) {
	m.stopHeartbeat()
	token := m.hbToken
	m.hbStop = c.clock.AfterFunc(m.sessionTimeout, func() { c.onSessionTimeout(g, m, token) })
}

func (c *Coordinator) onSessionTimeout(g *group, m *member, token uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.groups[g.id] != g || g.members[m.id] != m || m.hbToken != token {
		return
	}
	if m.awaitingJoin() || len(m.syncs) > 0 {
		// Blocked in JoinGroup or SyncGroup: the member cannot heartbeat,
		// and the rebalance timeout bounds the wait.
		c.scheduleHeartbeat(g, m)
		return
	}
	c.log.Info("member session expired", "group", g.id, "member", m.id, "session_timeout", m.sessionTimeout)
	c.removeMemberAndUpdate(g, m, "member "+m.id+" session expired")
}

// SyncGroup handles a SyncGroup request; see JoinGroup for the returned
// function. The leader's assignment completes the rebalance.
func (c *Coordinator) SyncGroup(req *kmsg.SyncGroupRequest) func(done <-chan struct{}) *kmsg.SyncGroupResponse {
	fail := func(code int16) func(<-chan struct{}) *kmsg.SyncGroupResponse {
		r := kmsg.NewPtrSyncGroupResponse()
		r.Version = req.Version
		r.ErrorCode = code
		return func(<-chan struct{}) *kmsg.SyncGroupResponse { return r }
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if code := c.ownerCode(req.Group); code != 0 {
		return fail(code)
	}
	g := c.groups[req.Group]
	if g == nil {
		return fail(kerr.UnknownMemberID.Code)
	}
	if code := g.checkStatic(req.MemberID, req.InstanceID); code != 0 {
		return fail(code)
	}
	m := g.members[req.MemberID]
	if m == nil {
		return fail(kerr.UnknownMemberID.Code)
	}
	if req.Generation != g.generation {
		return fail(kerr.IllegalGeneration.Code)
	}
	if req.ProtocolType != nil && *req.ProtocolType != g.protocolType || req.Protocol != nil && *req.Protocol != g.protocol {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	switch g.state {
	case stPreparing:
		return fail(kerr.RebalanceInProgress.Code)
	case stStable:
		c.scheduleHeartbeat(g, m)
		r := c.syncResponse(g, m, req.Version)
		return func(<-chan struct{}) *kmsg.SyncGroupResponse { return r }
	case stCompleting:
	default:
		return fail(kerr.UnknownMemberID.Code)
	}
	w := syncWaiter{ch: make(chan *kmsg.SyncGroupResponse, 1), version: req.Version}
	m.syncs = append(m.syncs, w)
	c.scheduleHeartbeat(g, m)
	var wr *write
	if m.id == g.leader {
		assign := map[string][]byte{}
		for _, a := range req.GroupAssignment {
			assign[a.MemberID] = a.MemberAssignment
		}
		for _, o := range g.members {
			o.assignment = assign[o.id]
		}
		g.transition(stStable, c.clock.Now())
		wr = c.storeGroup(g)
		for _, o := range g.members {
			c.respondSyncs(g, o, 0)
		}
	}
	return func(done <-chan struct{}) *kmsg.SyncGroupResponse {
		var r *kmsg.SyncGroupResponse
		select {
		case r = <-w.ch: // a ready response wins over done
		default:
			select {
			case r = <-w.ch:
			case <-done:
				return nil
			}
		}
		if err := wr.Wait(); err != nil && r.ErrorCode == 0 {
			r.ErrorCode = writeCode(err)
			r.MemberAssignment = nil
		}
		return r
	}
}

// checkStatic fences a request that names a static instance now owned by
// another member id.
func (g *group) checkStatic(memberID string, instanceID *string) int16 {
	if instanceID == nil {
		return 0
	}
	if cur, ok := g.static[*instanceID]; ok && cur != memberID {
		return kerr.FencedInstanceID.Code
	}
	return 0
}

// Heartbeat handles a Heartbeat request.
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	r := kmsg.NewPtrHeartbeatResponse()
	r.Version = req.Version
	r.ErrorCode = c.heartbeat(req)
	return r
}

func (c *Coordinator) heartbeat(req *kmsg.HeartbeatRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if code := c.ownerCode(req.Group); code != 0 {
		return code
	}
	g := c.groups[req.Group]
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	if code := g.checkStatic(req.MemberID, req.InstanceID); code != 0 {
		return code
	}
	m := g.members[req.MemberID]
	if g.state == stEmpty || m == nil {
		return kerr.UnknownMemberID.Code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	c.scheduleHeartbeat(g, m)
	if g.state == stPreparing {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// LeaveGroup handles a LeaveGroup request (one member before v3, a batch
// after).
func (c *Coordinator) LeaveGroup(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	r := kmsg.NewPtrLeaveGroupResponse()
	r.Version = req.Version
	if req.Group == "" {
		r.ErrorCode = kerr.InvalidGroupID.Code
		return r
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if code := c.ownerCode(req.Group); code != 0 {
		r.ErrorCode = code
		return r
	}
	g := c.groups[req.Group]
	if req.Version < 3 {
		r.ErrorCode = c.leave(g, req.MemberID, nil, "")
		return r
	}
	for _, lm := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		rm.ErrorCode = c.leave(g, lm.MemberID, lm.InstanceID, deref(lm.Reason))
		r.Members = append(r.Members, rm)
	}
	return r
}

func (c *Coordinator) leave(g *group, id string, inst *string, reason string) int16 {
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	if reason == "" {
		reason = "left the group"
	}
	if inst != nil {
		cur, ok := g.static[*inst]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if id != "" && cur != id {
			return kerr.FencedInstanceID.Code
		}
		c.log.Info("member left group", "group", g.id, "member", cur, "instance", *inst, "reason", reason)
		c.removeMemberAndUpdate(g, g.members[cur], "member "+cur+" "+reason)
		return 0
	}
	if stop, ok := g.pending[id]; ok {
		stop()
		delete(g.pending, id)
		c.tryCompleteJoin(g)
		return 0
	}
	m := g.members[id]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	c.log.Info("member left group", "group", g.id, "member", id, "reason", reason)
	c.removeMemberAndUpdate(g, m, "member "+id+" "+reason)
	return 0
}
