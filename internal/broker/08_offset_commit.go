// OffsetCommit (key 8), versions 0-10, and OffsetFetch (key 9), versions 0-10.
//
// Commits are stored in __consumer_offsets and answered once fsynced and in
// every in-sync replica of the group's partition (acks=all, Kafka's
// offsets.commit.required.acks=-1); past offsets.commit.timeout.ms the
// answer is COORDINATOR_NOT_AVAILABLE, and NOT_COORDINATOR if leadership
// moved meanwhile. As for every group API, a group whose offsets partition
// this broker does not lead gets NOT_COORDINATOR, one whose partition is
// still being loaded COORDINATOR_LOAD_IN_PROGRESS (see
// 10_find_coordinator.go). Who
// may commit follows Kafka: generation -1 to an empty or unknown group
// (admin and standalone consumers), else a member of the current generation;
// unknown topics or partitions get UNKNOWN_TOPIC_OR_PARTITION, metadata over
// offset.metadata.max.bytes OFFSET_METADATA_TOO_LARGE. v1's per-partition
// commit timestamp (when not -1) and v2-4's retention time are honoured.
// OffsetFetch serves one group (v0-7) or a batch (v8+); v10 names topics by
// id on both APIs.
//
// ZooKeeper-era versions (removed in Kafka 4, KIP-896): OffsetCommit v0
// carries no generation or member id and is treated as a commit with
// generation -1 (accepted while the group has no members, like an admin or
// standalone consumer commit); OffsetFetch v0 is answered like v1.
// Deliberate difference from Kafka: Kafka 3.x in ZooKeeper mode kept v0
// commits in ZooKeeper, a namespace apart from the Kafka-stored offsets, and
// in KRaft mode answered both v0 requests with UNSUPPORTED_VERSION; with no
// ZooKeeper here, v0 reads and writes the group's offsets in
// __consumer_offsets, so a tool frozen on v0 works and sees the same
// offsets as every other client. With no transactions no commit is ever
// pending, so require_stable (v7+) never yields UNSTABLE_OFFSET_COMMIT.
//
// Consumer (KIP-848) groups: a commit from a member must be v9+
// (UNSUPPORTED_VERSION otherwise) and carries the member epoch as its
// generation; it is accepted when every partition is held by the member
// with assignment epoch <= request epoch <= member epoch (KIP-1251, Kafka
// 4.3), else STALE_MEMBER_EPOCH. OffsetFetch v9+ with a member epoch other
// than -1 checks member id (UNKNOWN_MEMBER_ID) and epoch
// (STALE_MEMBER_EPOCH) per group.
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
)

func init() {
	register(kmsg.OffsetCommit, 0, 10, (*Broker).handleOffsetCommit)
	register(kmsg.OffsetFetch, 0, 10, (*Broker).handleOffsetFetch)
}

func (b *Broker) handleOffsetCommit(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.OffsetCommitRequest)
	var unknownIDs map[int]bool
	if req.Version >= 10 {
		unknownIDs = map[int]bool{}
		for i := range req.Topics {
			if t := b.topicByID(req.Topics[i].TopicID); t != nil {
				req.Topics[i].Topic = t.meta.Name
			} else {
				req.Topics[i].Topic = ""
				unknownIDs[i] = true
			}
		}
	}
	// Authorization: READ on the group (else every partition gets
	// GROUP_AUTHORIZATION_FAILED and nothing is committed), READ on each
	// topic (a denied topic's partitions get TOPIC_AUTHORIZATION_FAILED and
	// are not committed).
	groupOK := b.allowed(r, security.OpRead, security.ResourceGroup, req.Group)
	denied := map[int]int16{}
	for i, rt := range req.Topics {
		switch {
		case !groupOK:
			denied[i] = kerr.GroupAuthorizationFailed.Code
		case !unknownIDs[i] && !b.allowed(r, security.OpRead, security.ResourceTopic, rt.Topic):
			denied[i] = kerr.TopicAuthorizationFailed.Code
		}
	}
	sub := req
	if len(denied) > 0 {
		c := *req
		c.Topics = nil
		for i, rt := range req.Topics {
			if _, ok := denied[i]; !ok {
				c.Topics = append(c.Topics, rt)
			}
		}
		sub = &c
	}
	var resp *kmsg.OffsetCommitResponse
	wait := func() {}
	if len(sub.Topics) > 0 || len(denied) == 0 {
		resp, wait = b.groups.OffsetCommit(sub)
	} else {
		resp = req.ResponseKind().(*kmsg.OffsetCommitResponse)
	}
	return func() kmsg.Response {
		wait()
		if len(denied) > 0 {
			// Put the refused topics back in request order.
			kept := resp.Topics
			resp.Topics = nil
			for i, rt := range req.Topics {
				code, refused := denied[i]
				if !refused {
					resp.Topics = append(resp.Topics, kept[0])
					kept = kept[1:]
					continue
				}
				st := kmsg.NewOffsetCommitResponseTopic()
				st.Topic, st.TopicID = rt.Topic, rt.TopicID
				for _, rp := range rt.Partitions {
					sp := kmsg.NewOffsetCommitResponseTopicPartition()
					sp.Partition, sp.ErrorCode = rp.Partition, code
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
		}
		for i := range unknownIDs {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = kerr.UnknownTopicID.Code
			}
		}
		return resp
	}
}

func (b *Broker) handleOffsetFetch(ctx context.Context, r *Request) Pending {
	resp := b.offsetFetch(r)
	b.authorizeOffsetFetch(r, r.Msg.(*kmsg.OffsetFetchRequest), resp)
	return respond(resp)
}

// authorizeOffsetFetch applies DESCRIBE on each group (else
// GROUP_AUTHORIZATION_FAILED and no offsets) and on each topic (left out
// when the client asked for every topic, else TOPIC_AUTHORIZATION_FAILED
// per partition) to a computed response.
func (b *Broker) authorizeOffsetFetch(r *Request, req *kmsg.OffsetFetchRequest, resp *kmsg.OffsetFetchResponse) {
	if b.authz == nil {
		return
	}
	type offsetTopic = kmsg.OffsetFetchResponseGroupTopic
	filterTopics := func(topics []offsetTopic, all bool) []offsetTopic {
		out := topics[:0]
		for _, t := range topics {
			if t.Topic == "" || b.allowed(r, security.OpDescribe, security.ResourceTopic, t.Topic) {
				out = append(out, t)
				continue
			}
			if all {
				continue
			}
			for j := range t.Partitions {
				t.Partitions[j].Offset, t.Partitions[j].LeaderEpoch, t.Partitions[j].Metadata = -1, -1, nil
				t.Partitions[j].ErrorCode = kerr.TopicAuthorizationFailed.Code
			}
			out = append(out, t)
		}
		return out
	}
	if req.Version < 8 {
		if !b.allowed(r, security.OpDescribe, security.ResourceGroup, req.Group) {
			resp.ErrorCode, resp.Topics = kerr.GroupAuthorizationFailed.Code, nil
			return
		}
		// Same shape as the v8+ group topics; convert through them.
		var ts []offsetTopic
		for _, t := range resp.Topics {
			gt := kmsg.NewOffsetFetchResponseGroupTopic()
			gt.Topic = t.Topic
			for _, p := range t.Partitions {
				gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
				gt.Partitions = append(gt.Partitions, gp)
			}
			ts = append(ts, gt)
		}
		ts = filterTopics(ts, req.Topics == nil)
		resp.Topics = resp.Topics[:0]
		for _, gt := range ts {
			t := kmsg.NewOffsetFetchResponseTopic()
			t.Topic = gt.Topic
			for _, gp := range gt.Partitions {
				p := kmsg.NewOffsetFetchResponseTopicPartition()
				p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return
	}
	for gi := range resp.Groups {
		g := &resp.Groups[gi]
		if !b.allowed(r, security.OpDescribe, security.ResourceGroup, g.Group) {
			g.ErrorCode, g.Topics = kerr.GroupAuthorizationFailed.Code, nil
			continue
		}
		all := true
		for _, rg := range req.Groups {
			if rg.Group == g.Group && rg.Topics != nil {
				all = false
			}
		}
		g.Topics = filterTopics(g.Topics, all)
	}
}

func (b *Broker) offsetFetch(r *Request) *kmsg.OffsetFetchResponse {
	req := r.Msg.(*kmsg.OffsetFetchRequest)
	if req.Version < 10 {
		return b.groups.OffsetFetch(req)
	}
	unknown := map[[16]byte]bool{}
	for gi := range req.Groups {
		for ti := range req.Groups[gi].Topics {
			rt := &req.Groups[gi].Topics[ti]
			if t := b.topicByID(rt.TopicID); t != nil {
				rt.Topic = t.meta.Name
			} else {
				unknown[rt.TopicID] = true
			}
		}
	}
	resp := b.groups.OffsetFetch(req)
	for gi := range resp.Groups {
		g := &resp.Groups[gi]
		topics := g.Topics[:0]
		for _, st := range g.Topics {
			if t := b.topic(st.Topic); t != nil && st.Topic != "" {
				st.TopicID = t.meta.ID
				topics = append(topics, st)
			}
		}
		g.Topics = topics
	}
	// Unknown ids are answered per partition with UNKNOWN_TOPIC_ID.
	for gi, rg := range req.Groups {
		for _, rt := range rg.Topics {
			if !unknown[rt.TopicID] {
				continue
			}
			st := kmsg.NewOffsetFetchResponseGroupTopic()
			st.TopicID = rt.TopicID
			for _, p := range rt.Partitions {
				sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				sp.Partition, sp.Offset, sp.ErrorCode = p, -1, kerr.UnknownTopicID.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Groups[gi].Topics = append(resp.Groups[gi].Topics, st)
		}
	}
	return resp
}
