// DescribeQuorum (key 55), versions 0-2.
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
//
// v2 (KIP-853, Kafka 3.9) adds each voter's endpoint, listed under the
// first of controller.listener.names with its Raft address, and a replica
// directory id, which is the zero UUID as for Kafka's static voters (no
// dynamic quorum reconfiguration here).
package broker

import (
	"context"
	"net"
	"strconv"
	"strings"

	"github.com/tributary/tributary/internal/security"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeQuorum, 0, 2, (*Broker).handleDescribeQuorum) }

const metadataTopic = "__cluster_metadata"

func (b *Broker) handleDescribeQuorum(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.DescribeQuorumRequest)
	if !b.allowedCluster(r, security.OpDescribe) {
		resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(resp)
	}
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
		if n, ok := quorumNode(id, info.Addrs[id], b.controllerListenerName()); ok {
			resp.Nodes = append(resp.Nodes, n)
		}
	}
	for _, id := range info.Observers {
		rp.Observers = append(rp.Observers, replica(id))
	}
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	return respond(resp)
}

// controllerListenerName is the first of controller.listener.names.
func (b *Broker) controllerListenerName() string {
	name, _, _ := strings.Cut(b.cfg.Broker.Get("controller.listener.names"), ",")
	if name = strings.TrimSpace(name); name == "" {
		name = "CONTROLLER"
	}
	return name
}

// quorumNode is a voter's endpoint for DescribeQuorum v2.
func quorumNode(id int32, addr, listener string) (kmsg.DescribeQuorumResponseNode, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return kmsg.DescribeQuorumResponseNode{}, false
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return kmsg.DescribeQuorumResponseNode{}, false
	}
	n := kmsg.NewDescribeQuorumResponseNode()
	n.NodeID = id
	l := kmsg.NewDescribeQuorumResponseNodeListener()
	l.Name, l.Host, l.Port = listener, host, uint16(p)
	n.Listeners = append(n.Listeners, l)
	return n, true
}
