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
	resp, wait := b.groups.OffsetCommit(req)
	return func() kmsg.Response {
		wait()
		for i := range unknownIDs {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = kerr.UnknownTopicID.Code
			}
		}
		return resp
	}
}

func (b *Broker) handleOffsetFetch(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.OffsetFetchRequest)
	if req.Version < 10 {
		return respond(b.groups.OffsetFetch(req))
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
	return respond(resp)
}
