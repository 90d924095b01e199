// ShareFetch (key 78), versions 1-2, and ShareAcknowledge (key 79),
// versions 1-2: the share-partition leader side of share groups
// (KIP-932), served by internal/share (manager.go, partition.go).
//
// A ShareFetch acknowledges what it carries, then acquires records for
// the member from every partition of its share session (the leader of
// each: others answer NOT_LEADER_OR_FOLLOWER), waiting up to
// MaxWaitMillis when none are acquirable. Records are acquired within the
// in-flight window of group.share.partition.max.record.locks records from
// the share-partition start offset, locked for
// group.share.record.lock.duration.ms, and archived once delivered
// group.share.delivery.count.limit times without acceptance. Acknowledge
// types: 0 gap and 3 reject archive, 1 accept acknowledges, 2 release
// makes the record available again, 4 renew (v2, IsRenewAck) extends the
// lock. An acknowledgement of a record this member has not acquired is
// INVALID_RECORD_STATE, malformed batches (out of order, overlapping,
// first > last, a wrong number of types, an unknown type) are
// INVALID_REQUEST; either way nothing of that partition's batches
// applies. Acknowledgements are answered once the share-partition's state
// is written to its share coordinator (__share_group_state). Session
// rules are in internal/share/manager.go.
//
// v2 (Kafka 4.2): ShareAcquireMode is accepted in both modes and the
// broker always acquires at most MaxRecords (Kafka's record-limit mode;
// batch-optimized mode may acquire up to a batch boundary in Kafka), and
// BatchSize is ignored. The group config share.isolation.level
// read_committed reads up to the last stable offset and archives the
// records of aborted transactions and the transaction markers before
// acquiring (never delivered). A partition answered
// NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH carries its current
// leader and epoch, with the leader's address on the request's listener
// in NodeEndpoints (KIP-951). A share session is tied to the connection
// that opened it: when the connection closes, the session closes and the
// member's acquired records are released at once (KIP-932).
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
	"github.com/tributary/tributary/internal/share"
)

func init() {
	register(kmsg.ShareFetch, 1, 2, (*Broker).handleShareFetch)
	register(kmsg.ShareAcknowledge, 1, 2, (*Broker).handleShareAcknowledge)
}

// shareTopicDenied reports whether the requester may not READ a topic
// named by id (an unknown id is left to the manager).
func (b *Broker) shareTopicDenied(r *Request, id [16]byte) bool {
	if b.authz == nil {
		return false
	}
	t := b.topicByID(id)
	return t != nil && !b.allowed(r, security.OpRead, security.ResourceTopic, t.meta.Name)
}

func (b *Broker) handleShareFetch(ctx context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.ShareFetchRequest)
	if req.GroupID != nil && !b.allowed(r, security.OpRead, security.ResourceGroup, *req.GroupID) {
		resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp)
	}
	var denied []kmsg.ShareFetchResponseTopic
	kept := req.Topics[:0:0]
	for _, t := range req.Topics {
		if !b.shareTopicDenied(r, t.TopicID) {
			kept = append(kept, t)
			continue
		}
		rt := kmsg.NewShareFetchResponseTopic()
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewShareFetchResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.AcknowledgeErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code, kerr.TopicAuthorizationFailed.Code
			rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		denied = append(denied, rt)
	}
	req.Topics = kept
	return func() kmsg.Response {
		var conn share.Conn
		if r.Conn != nil {
			conn = r.Conn
		}
		resp := b.shares.ShareFetchOn(ctx, req, conn)
		if resp.ErrorCode == 0 {
			resp.Topics = append(resp.Topics, denied...)
		}
		leaders := map[int32]bool{}
		for i := range resp.Topics {
			t := &resp.Topics[i]
			for j := range t.Partitions {
				p := &t.Partitions[j]
				p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = b.shareLeaderHint(t.TopicID, p.Partition, p.ErrorCode, leaders)
			}
		}
		resp.NodeEndpoints = b.shareNodeEndpoints(r, leaders)
		return resp
	}
}

// shareLeaderHint is leaderHint (leader_hint.go) for a share request's
// partition, named by topic id.
func (b *Broker) shareLeaderHint(id [16]byte, p int32, code int16, leaders map[int32]bool) (int32, int32) {
	return b.leaderHint(b.topicByID(id), p, code, leaders)
}

// shareNodeEndpoints are the addresses, on the request's listener, of the
// leaders named in CurrentLeader hints.
func (b *Broker) shareNodeEndpoints(r *Request, leaders map[int32]bool) []kmsg.ShareFetchResponseNodeEndpoint {
	var out []kmsg.ShareFetchResponseNodeEndpoint
	for _, ep := range b.leaderEndpoints(r, leaders) {
		out = append(out, kmsg.ShareFetchResponseNodeEndpoint{NodeID: ep.NodeID, Host: ep.Host, Port: ep.Port, Rack: ep.Rack})
	}
	return out
}

func (b *Broker) handleShareAcknowledge(ctx context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.ShareAcknowledgeRequest)
	if req.GroupID != nil && !b.allowed(r, security.OpRead, security.ResourceGroup, *req.GroupID) {
		resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp)
	}
	var denied []kmsg.ShareAcknowledgeResponseTopic
	kept := req.Topics[:0:0]
	for _, t := range req.Topics {
		if !b.shareTopicDenied(r, t.TopicID) {
			kept = append(kept, t)
			continue
		}
		rt := kmsg.NewShareAcknowledgeResponseTopic()
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewShareAcknowledgeResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		denied = append(denied, rt)
	}
	req.Topics = kept
	return func() kmsg.Response {
		resp := b.shares.ShareAcknowledge(ctx, req)
		if resp.ErrorCode == 0 {
			resp.Topics = append(resp.Topics, denied...)
		}
		leaders := map[int32]bool{}
		for i := range resp.Topics {
			t := &resp.Topics[i]
			for j := range t.Partitions {
				p := &t.Partitions[j]
				p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = b.shareLeaderHint(t.TopicID, p.Partition, p.ErrorCode, leaders)
			}
		}
		for _, ep := range b.shareNodeEndpoints(r, leaders) {
			resp.NodeEndpoints = append(resp.NodeEndpoints, kmsg.ShareAcknowledgeResponseNodeEndpoint{NodeID: ep.NodeID, Host: ep.Host, Port: ep.Port, Rack: ep.Rack})
		}
		return resp
	}
}
