// ElectLeaders (key 43), versions 0-2.
//
// ElectionType 0 (v0 always) is a preferred election: the first replica
// leads if it is live and in the ISR (ELECTION_NOT_NEEDED if it already
// leads, PREFERRED_LEADER_NOT_AVAILABLE otherwise). ElectionType 1 is an
// unclean election for partitions without a live leader: the first live
// ISR member, else any live replica, which becomes the only ISR member and
// may lack acknowledged records (ELECTION_NOT_NEEDED if a leader is live,
// ELIGIBLE_LEADERS_NOT_AVAILABLE if no replica is). Each partition's
// election is one metadata command through the active controller; the
// response is sent once they are committed and applied on this broker.
//
// Null topics elect for every partition and, as Kafka does, leave out of
// the response the partitions whose election was not needed. Unknown topics
// and partitions get UNKNOWN_TOPIC_OR_PARTITION. Deliberate difference: a v0
// response reports ELECTION_NOT_NEEDED as success (NONE), because that code
// came after v0 (KIP-460).
package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/controller"
	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/security"
)

func init() { register(kmsg.ElectLeaders, 0, 2, (*Broker).handleElectLeaders) }

func (b *Broker) handleElectLeaders(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.ElectLeadersRequest)
	if !b.allowedCluster(r, security.OpAlter) {
		resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(resp)
	}
	return func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
		unclean := req.Version >= 1 && req.ElectionType == 1
		if req.Version >= 1 && req.ElectionType != 0 && req.ElectionType != 1 {
			resp.ErrorCode = kerr.InvalidRequest.Code
			return resp
		}
		topics := req.Topics
		all := topics == nil
		if all {
			st := b.metaState()
			for _, name := range st.TopicNames() {
				rt := kmsg.NewElectLeadersRequestTopic()
				rt.Topic = name
				for i, p := range st.Topics[name].Parts {
					// Skip, without a metadata command, the partitions
					// this broker's view already shows as not needing one.
					if (!unclean && p.Leader == p.Replicas[0]) || (unclean && p.Leader >= 0) {
						continue
					}
					rt.Partitions = append(rt.Partitions, int32(i))
				}
				topics = append(topics, rt)
			}
		}
		for _, rt := range topics {
			st := kmsg.NewElectLeadersResponseTopic()
			st.Topic = rt.Topic
			for _, i := range rt.Partitions {
				sp := kmsg.NewElectLeadersResponseTopicPartition()
				sp.Partition = i
				err := b.propose(&metadata.Command{ElectLeader: &metadata.ElectLeader{Topic: rt.Topic, Partition: i, Unclean: unclean, Report: true}})
				switch {
				case errors.Is(err, controller.ErrElectionNotNeeded) && all:
					continue
				case errors.Is(err, controller.ErrElectionNotNeeded) && req.Version == 0:
				case err != nil:
					sp.ErrorCode, sp.ErrorMessage = errCode(err), errMsg(err)
				default:
					b.log.Info("leader elected", "topic", rt.Topic, "partition", i, "unclean", unclean)
				}
				st.Partitions = append(st.Partitions, sp)
			}
			if !all || len(st.Partitions) > 0 {
				resp.Topics = append(resp.Topics, st)
			}
		}
		return resp
	}
}
