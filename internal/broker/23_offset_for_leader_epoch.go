// OffsetForLeaderEpoch (key 23), versions 0-4 (v0-1, removed in Kafka 4,
// carry no current leader epoch, so they are not fenced; v0's answer has no
// leader epoch).
//
// Answers, from the leader's epoch cache (leader-epoch-checkpoint), the
// largest epoch <= the requested one and the offset where it ended (the log
// end offset for the latest epoch), or UNDEFINED (-1/-1). Followers use it
// to truncate divergent tails (KIP-101/279), consumers to detect truncation.
// Only the leader answers; CurrentLeaderEpoch is checked as in Fetch.
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
)

func init() { register(kmsg.OffsetForLeaderEpoch, 0, 4, (*Broker).handleOffsetForLeaderEpoch) }

func (b *Broker) handleOffsetForLeaderEpoch(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t := b.topic(rt.Topic)
		authorized := b.allowedEpochQuery(r, req.ReplicaID, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			p, code := leaderPartition(t, rp.Partition)
			if !authorized {
				code = kerr.TopicAuthorizationFailed.Code
			}
			switch {
			case code != 0:
				sp.ErrorCode = code
			default:
				if code := checkLeaderEpoch(p, rp.CurrentLeaderEpoch); code != 0 {
					sp.ErrorCode = code
					break
				}
				sp.LeaderEpoch, sp.EndOffset = p.EndOffsetForEpoch(rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp)
}

// allowedEpochQuery: a follower (replica id >= 0, v3+) needs CLUSTER_ACTION,
// a consumer DESCRIBE on the topic.
func (b *Broker) allowedEpochQuery(r *Request, replica int32, topic string) bool {
	if r.Version >= 3 && replica >= 0 {
		return b.allowedCluster(r, security.OpClusterAction)
	}
	return b.allowed(r, security.OpDescribe, security.ResourceTopic, topic)
}
