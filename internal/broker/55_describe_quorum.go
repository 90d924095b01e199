// DescribeQuorum (key 55), versions 0-1.
//
// Describes the Raft metadata quorum (hashicorp/raft) as the KRaft
// partition __cluster_metadata-0: LeaderID is the active controller,
// LeaderEpoch the Raft term, HighWatermark the commit index, CurrentVoters
// the voters of --controllers and Observers the other brokers (Raft
// non-voters). A request naming anything but __cluster_metadata-0 gets
// UNKNOWN_TOPIC_OR_PARTITION.
//
// Deliberate differences: every node answers from its own view instead of
// forwarding to the active controller, so a lagging node may report an
// older commit index. Raft does not expose followers' log positions: a
// replica's LogEndOffset is known (its last log index) only for the
// answering node itself, and -1 ("unknown", as Kafka allows) for the
// others; LastFetchTimestamp and LastCaughtUpTimestamp are always -1.
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeQuorum, 0, 1, (*Broker).handleDescribeQuorum) }

const metadataTopic = "__cluster_metadata"

func (b *Broker) handleDescribeQuorum(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.DescribeQuorumRequest)
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	if len(req.Topics) != 1 || req.Topics[0].Topic != metadataTopic || len(req.Topics[0].Partitions) != 1 || req.Topics[0].Partitions[0].Partition != 0 {
		resp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return respond(resp)
	}
	info := b.quorum.Info()
	rt := kmsg.NewDescribeQuorumResponseTopic()
	rt.Topic = metadataTopic
	rp := kmsg.NewDescribeQuorumResponseTopicPartition()
	rp.LeaderID = info.Leader
	rp.LeaderEpoch = int32(info.Term)
	rp.HighWatermark = int64(info.CommitIndex)
	replica := func(id int32) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
		s := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		s.ReplicaID = id
		s.LogEndOffset = -1
		if id == b.cfg.NodeID {
			s.LogEndOffset = int64(info.LastIndex)
		}
		return s
	}
	for _, id := range info.Voters {
		rp.CurrentVoters = append(rp.CurrentVoters, replica(id))
	}
	for _, id := range info.Observers {
		rp.Observers = append(rp.Observers, replica(id))
	}
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	return respond(resp)
}
