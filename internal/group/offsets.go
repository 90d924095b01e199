package group

import (
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit commits offsets (topics named by name; the broker resolves
// v10 topic ids first). The response is final once wait returns; wait
// blocks until the records are durable.
func (c *Coordinator) OffsetCommit(req *kmsg.OffsetCommitRequest) (resp *kmsg.OffsetCommitResponse, wait func()) {
	resp = req.ResponseKind().(*kmsg.OffsetCommitResponse)
	type ref struct{ ti, pi int }
	var refs []ref
	var recs []kv
	var offs []*offset
	setAll := func(code int16) {
		for ti := range resp.Topics {
			for pi := range resp.Topics[ti].Partitions {
				if resp.Topics[ti].Partitions[pi].ErrorCode == 0 {
					resp.Topics[ti].Partitions[pi].ErrorCode = code
				}
			}
		}
	}
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.Group == "" {
		setAll(kerr.InvalidGroupID.Code)
		return resp, func() {}
	}
	if code := c.ownerCode(req.Group); code != 0 {
		setAll(code)
		return resp, func() {}
	}
	now := c.clock.Now()
	g := c.groups[req.Group]
	created := false
	var groupCode int16
	if g == nil {
		if req.Generation < 0 {
			g, created = c.newGroup(req.Group, now), true
		} else {
			groupCode = kerr.IllegalGeneration.Code
		}
	} else if g.typ == typeShare {
		groupCode = kerr.GroupIDNotFound.Code // share groups commit no offsets
	} else if g.typ == typeConsumer {
		groupCode = c.checkConsumerCommit(g, req)
	} else {
		groupCode = c.checkCommit(g, req.MemberID, req.InstanceID, req.Generation)
	}
	for ti, rt := range req.Topics {
		n, known := c.cfg.Topics.PartitionCount(rt.Topic)
		for pi, rp := range rt.Partitions {
			sp := &resp.Topics[ti].Partitions[pi]
			switch {
			case !known || rp.Partition < 0 || rp.Partition >= n:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.Metadata != nil && len(*rp.Metadata) > c.cfg.MaxMetadataBytes:
				sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			case groupCode != 0:
				sp.ErrorCode = groupCode
			default:
				o := &offset{offset: rp.Offset, epoch: rp.LeaderEpoch, metadata: deref(rp.Metadata), commitMs: now.UnixMilli(), expireMs: -1}
				if req.Version == 1 && rp.Timestamp != -1 {
					// v1 lets the client set the commit time (Kafka 3.x
					// honoured it; retention counts from it).
					o.commitMs = rp.Timestamp
				}
				if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis >= 0 {
					o.expireMs = o.commitMs + req.RetentionTimeMillis
				}
				refs = append(refs, ref{ti, pi})
				offs = append(offs, o)
				recs = append(recs, kv{Key: offsetKey(req.Group, rt.Topic, rp.Partition), Value: offsetValue(o)})
			}
		}
	}
	wr := c.appendRecords(req.Group, recs)
	if wr != nil && wr.err != nil {
		for _, r := range refs {
			resp.Topics[r.ti].Partitions[r.pi].ErrorCode = writeCode(wr.err)
		}
		refs = nil
	}
	for i, r := range refs {
		g.setOffset(req.Topics[r.ti].Topic, req.Topics[r.ti].Partitions[r.pi].Partition, offs[i])
	}
	if created {
		c.dropIfUnused(g)
	}
	return resp, func() {
		if err := wr.Wait(); err != nil {
			for _, r := range refs {
				resp.Topics[r.ti].Partitions[r.pi].ErrorCode = writeCode(err)
			}
		}
	}
}

// checkCommit applies Kafka's rules for who may commit to an existing group:
// anyone with generation -1 while the group is empty (admin tools), else
// only a member of the current generation, and not mid-assignment.
func (c *Coordinator) checkCommit(g *group, memberID string, instanceID *string, generation int32) int16 {
	if code := g.checkStatic(memberID, instanceID); code != 0 {
		return code
	}
	if generation < 0 && g.state == stEmpty {
		return 0
	}
	if g.state == stCompleting {
		return kerr.RebalanceInProgress.Code
	}
	m := g.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	c.scheduleHeartbeat(g, m)
	return 0
}

// fetched is one topic's committed offsets (-1 where none).
type fetched struct {
	topic string
	parts []kmsg.OffsetFetchResponseGroupTopicPartition
}

// OffsetFetch returns committed offsets, for one group (v0-7) or many
// (v8+). With require_stable (v7+), a partition with a transactional
// commit pending (txn.go) answers UNSTABLE_OFFSET_COMMIT; the client
// retries.
func (c *Coordinator) OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.Version < 8 {
		if code := c.ownerCode(req.Group); code != 0 {
			// v0-1 have no top-level error: each partition carries it.
			resp.ErrorCode = code
			for _, t := range req.Topics {
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition, rp.Offset, rp.ErrorCode = p, -1, code
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return resp
		}
		var topics map[string][]int32
		if req.Topics != nil || req.Version < 2 {
			topics = map[string][]int32{}
			for _, t := range req.Topics {
				topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
			}
		}
		for _, f := range c.fetchGroup(req.Group, topics) {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = f.topic
			for _, p := range f.parts {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
				if req.RequireStable && c.pendingOffset(req.Group, f.topic, p.Partition) {
					rp.Offset, rp.ErrorCode = -1, kerr.UnstableOffsetCommit.Code
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, rg := range req.Groups {
		sg := kmsg.NewOffsetFetchResponseGroup()
		sg.Group = rg.Group
		var topics map[string][]int32
		if rg.Topics != nil {
			topics = map[string][]int32{}
			for _, t := range rg.Topics {
				topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
			}
		}
		if code := c.ownerCode(rg.Group); code != 0 {
			sg.ErrorCode = code
			resp.Groups = append(resp.Groups, sg)
			continue
		}
		if code := checkConsumerFetch(c.groups[rg.Group], rg.MemberID, rg.MemberEpoch); code != 0 {
			sg.ErrorCode = code
			resp.Groups = append(resp.Groups, sg)
			continue
		}
		for _, f := range c.fetchGroup(rg.Group, topics) {
			st := kmsg.NewOffsetFetchResponseGroupTopic()
			st.Topic = f.topic
			st.Partitions = f.parts
			for i := range st.Partitions {
				if req.RequireStable && c.pendingOffset(rg.Group, f.topic, st.Partitions[i].Partition) {
					st.Partitions[i].Offset, st.Partitions[i].ErrorCode = -1, kerr.UnstableOffsetCommit.Code
				}
			}
			sg.Topics = append(sg.Topics, st)
		}
		resp.Groups = append(resp.Groups, sg)
	}
	return resp
}

// fetchGroup returns the offsets of the requested partitions (nil: every
// committed one), sorted by topic and partition.
func (c *Coordinator) fetchGroup(id string, topics map[string][]int32) []fetched {
	g := c.groups[id]
	part := func(topic string, p int32) kmsg.OffsetFetchResponseGroupTopicPartition {
		rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		rp.Partition = p
		rp.Offset = -1
		rp.Metadata = strp("")
		if g != nil {
			if o := g.offsets[topic][p]; o != nil {
				rp.Offset, rp.LeaderEpoch, rp.Metadata = o.offset, o.epoch, strp(o.metadata)
			}
		}
		return rp
	}
	if topics == nil {
		topics = map[string][]int32{}
		if g != nil {
			for t, ps := range g.offsets {
				for p := range ps {
					topics[t] = append(topics[t], p)
				}
			}
		}
	}
	var out []fetched
	for _, t := range sortedKeys(topics) {
		ps := append([]int32(nil), topics[t]...)
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		f := fetched{topic: t}
		for _, p := range ps {
			f.parts = append(f.parts, part(t, p))
		}
		out = append(out, f)
	}
	return out
}

// OffsetDelete deletes committed offsets of partitions the group is not
// consuming (KIP-496).
func (c *Coordinator) OffsetDelete(req *kmsg.OffsetDeleteRequest) (*kmsg.OffsetDeleteResponse, func()) {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	done := func() {}
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[req.Group]
	code := c.ownerCode(req.Group)
	switch {
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, done
	case code != 0:
		resp.ErrorCode = code
		return resp, done
	case g == nil:
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp, done
	}
	var subs map[string]bool
	if g.typ == typeConsumer {
		subs = c.consumerSubscribedTopics(g)
	} else if g.state != stEmpty {
		var ok bool
		if subs, ok = g.subscribedTopics(); !ok {
			resp.ErrorCode = kerr.NonEmptyGroup.Code
			return resp, done
		}
	}
	type tp struct {
		t string
		p int32
	}
	var dels []tp
	var recs []kv
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		n, known := c.cfg.Topics.PartitionCount(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case !known || rp.Partition < 0 || rp.Partition >= n:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case subs[rt.Topic]:
				sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				if g.offsets[rt.Topic][rp.Partition] != nil {
					dels = append(dels, tp{rt.Topic, rp.Partition})
					recs = append(recs, kv{Key: offsetKey(g.id, rt.Topic, rp.Partition)})
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	wr := c.appendRecords(g.id, recs)
	if wr != nil && wr.err != nil {
		resp.ErrorCode = writeCode(wr.err)
		resp.Topics = nil
		return resp, done
	}
	for _, d := range dels {
		g.deleteOffset(d.t, d.p)
	}
	return resp, func() {
		if err := wr.Wait(); err != nil {
			resp.ErrorCode = writeCode(err)
		}
	}
}

// DeleteGroups deletes empty groups and their offsets.
func (c *Coordinator) DeleteGroups(req *kmsg.DeleteGroupsRequest) (*kmsg.DeleteGroupsResponse, func()) {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	var writes []*write
	var idx []int
	for _, id := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = id
		g := c.groups[id]
		switch code := c.ownerCode(id); {
		case id == "":
			rg.ErrorCode = kerr.InvalidGroupID.Code
		case code != 0:
			rg.ErrorCode = code
		case g == nil:
			rg.ErrorCode = kerr.GroupIDNotFound.Code
		case !g.isEmpty():
			rg.ErrorCode = kerr.NonEmptyGroup.Code
		default:
			if wr := c.deleteGroup(g); wr != nil && wr.err != nil {
				rg.ErrorCode = writeCode(wr.err)
			} else {
				writes = append(writes, wr)
				idx = append(idx, len(resp.Groups))
			}
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, func() {
		for i, w := range writes {
			if err := w.Wait(); err != nil {
				resp.Groups[idx[i]].ErrorCode = writeCode(err)
			}
		}
	}
}

// deleteGroup writes tombstones for g's offsets and metadata and forgets g.
func (c *Coordinator) deleteGroup(g *group) *write {
	var recs []kv
	for _, t := range sortedKeys(g.offsets) {
		for p := range g.offsets[t] {
			recs = append(recs, kv{Key: offsetKey(g.id, t, p)})
		}
	}
	recs = append(recs, consumerTombstones(g)...)
	if g.typ == typeShare {
		recs = append(recs, kv{Key: cgKey(recShareGroupMetadata, g.id)})
		for _, m := range g.sg.members {
			m.stopTimers()
		}
	}
	recs = append(recs, kv{Key: groupKey(g.id)})
	wr := c.appendRecords(g.id, recs)
	if wr != nil && wr.err != nil {
		return wr
	}
	g.stopJoinTimer()
	for _, stop := range g.pending {
		stop()
	}
	g.state = stDead
	delete(c.groups, g.id)
	c.log.Info("group deleted", "group", g.id)
	return wr
}

const authorizedGroupOps = 1<<3 | 1<<6 | 1<<8 // READ, DELETE, DESCRIBE

// DescribeGroups describes classic groups. Member metadata and assignments
// are shown only when the group is Stable, as in Kafka.
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = authorizedGroupOps
		}
		g := c.groups[id]
		switch code := c.ownerCode(id); {
		case id == "":
			dg.ErrorCode = kerr.InvalidGroupID.Code
		case code != 0:
			dg.ErrorCode = code
		case g == nil:
			dg.State = stDead.String()
			if req.Version >= 6 {
				dg.ErrorCode = kerr.GroupIDNotFound.Code
			}
		case g.typ == typeConsumer || g.typ == typeShare:
			// As Kafka: a consumer group is described by
			// ConsumerGroupDescribe (a share group by
			// ShareGroupDescribe), not here.
			dg.State = stDead.String()
			if req.Version >= 6 {
				dg.ErrorCode = kerr.GroupIDNotFound.Code
				dg.ErrorMessage = strp("Group " + id + " is not a classic group.")
			}
		default:
			dg.State = g.state.String()
			dg.ProtocolType = g.protocolType
			dg.Protocol = g.protocol
			for _, m := range g.sortedMembers() {
				dm := kmsg.NewDescribeGroupsResponseGroupMember()
				dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
				dm.ProtocolMetadata, dm.MemberAssignment = []byte{}, []byte{}
				if g.state == stStable {
					dm.ProtocolMetadata = m.metadataFor(g.protocol)
					dm.MemberAssignment = m.assignment
				}
				dg.Members = append(dg.Members, dm)
			}
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// ListGroups lists groups, filtered by state (v4+) and type (v5+,
// "classic" or "consumer").
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	match := func(filter []string, v string) bool {
		if len(filter) == 0 {
			return true
		}
		for _, f := range filter {
			if strings.EqualFold(f, v) {
				return true
			}
		}
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	if c.loading() {
		// As Kafka: the groups of loaded partitions are listed, with the
		// error telling the client the list is incomplete.
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
	}
	for _, id := range sortedKeys(c.groups) {
		g := c.groups[id]
		if !match(req.StatesFilter, g.stateName()) || !match(req.TypesFilter, g.typeName()) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = id, g.protocolType, g.stateName(), g.typeName()
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

func (c *Coordinator) scheduleExpiry() {
	if c.closed {
		return
	}
	c.stopGC = c.clock.AfterFunc(c.cfg.RetentionCheck, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.expireOffsets()
		c.scheduleExpiry()
	})
}

// ExpireOffsets runs one offsets.retention pass now (tests call it).
func (c *Coordinator) ExpireOffsets() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireOffsets()
}

// expireOffsets removes offsets older than the retention (KIP-211): for a
// consumer group, once it has been empty that long (or, while it has
// members, for topics it no longer subscribes to); for a commit-only group,
// by commit time; an explicit v2-4 retention wins. An empty group left with
// no offsets is deleted.
func (c *Coordinator) expireOffsets() {
	if c.closed || c.nparts == 0 {
		return
	}
	now := c.clock.Now().UnixMilli()
	ret := c.cfg.OffsetsRetention.Milliseconds()
	for _, id := range sortedKeys(c.groups) {
		g := c.groups[id]
		if g.typ == typeShare {
			continue // no committed offsets; deleted only by DeleteGroups
		}
		subs, haveSubs := g.subscribedTopics()
		if g.typ == typeConsumer {
			subs, haveSubs = c.consumerSubscribedTopics(g), true
		}
		type tp struct {
			t string
			p int32
		}
		var dels []tp
		var recs []kv
		for t, ps := range g.offsets {
			for p, o := range ps {
				var expired bool
				switch {
				case o.expireMs >= 0:
					expired = now >= o.expireMs
				case g.protocolType == "":
					expired = now >= o.commitMs+ret
				case g.isEmpty():
					expired = now >= max(o.commitMs, g.stateTime.UnixMilli())+ret
				case haveSubs && !subs[t]:
					expired = now >= o.commitMs+ret
				}
				if expired {
					dels = append(dels, tp{t, p})
					recs = append(recs, kv{Key: offsetKey(g.id, t, p)})
				}
			}
		}
		if len(recs) > 0 {
			if wr := c.appendRecords(g.id, recs); wr != nil && wr.err != nil {
				continue
			}
			for _, d := range dels {
				g.deleteOffset(d.t, d.p)
			}
			c.log.Info("expired committed offsets", "group", g.id, "partitions", len(dels))
		}
		if g.isEmpty() && len(g.offsets) == 0 && len(g.pending) == 0 {
			c.deleteGroup(g)
		}
	}
}

// TopicDeleted removes every group's committed offsets for a deleted topic
// (tombstones included), as Kafka does when a topic goes away. The broker
// calls it after deleting the topic.
func (c *Coordinator) TopicDeleted(topic string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	for _, id := range sortedKeys(c.groups) {
		g := c.groups[id]
		ps := g.offsets[topic]
		if len(ps) == 0 {
			continue
		}
		var recs []kv
		for p := range ps {
			recs = append(recs, kv{Key: offsetKey(id, topic, p)})
		}
		if wr := c.appendRecords(id, recs); wr != nil && wr.err != nil {
			continue
		}
		delete(g.offsets, topic)
	}
}
