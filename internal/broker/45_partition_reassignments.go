// AlterPartitionReassignments (key 45), versions 0-1;
// ListPartitionReassignments (key 46), version 0.
//
// Reassignment follows KIP-455: the target replicas not yet assigned are
// added (the partition's replicas are the target followed by the removing
// ones while it moves), they catch up as followers through the replica fetch
// path and join the ISR, and the metadata command that brings the last
// target replica into the ISR switches the partition to the target (see
// metadata.Reassign): the leader moves, under a new leader epoch, if it was
// removed, and removed replicas delete their copies when they apply it. A
// null replica list cancels the reassignment in progress
// (NO_REASSIGNMENT_IN_PROGRESS if there is none). A new target for a
// partition that is moving replaces the old one, starting from the current
// replicas, as Kafka's controller does. Targets may name any registered
// broker; v1's AllowReplicationFactorChange=false refuses a target of
// another size (INVALID_REPLICATION_FACTOR).
//
// Any broker answers (it forwards to the active controller), so
// NOT_CONTROLLER is returned only when no controller is reachable. The
// response is sent once each change is committed and every live broker
// serves metadata that includes it (REQUEST_TIMED_OUT if that takes longer
// than the request's timeout; see 19_create_topics.go), not when the data
// has moved. Deliberate difference: cancelling is
// refused (INVALID_REPLICA_ASSIGNMENT) when none of the original replicas is
// left in the ISR, where Kafka would fall back to an unclean election.
// ListPartitionReassignments omits unknown topics and partitions and those
// not moving, as Kafka does.
package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/security"
)

func init() {
	register(kmsg.AlterPartitionAssignments, 0, 1, (*Broker).handleAlterPartitionAssignments)
	register(kmsg.ListPartitionReassignments, 0, 0, (*Broker).handleListPartitionReassignments)
}

func (b *Broker) handleAlterPartitionAssignments(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.AlterPartitionAssignmentsRequest)
	if !b.allowedCluster(r, security.OpAlter) {
		resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(resp)
	}
	start := time.Now()
	return func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
		resp.AllowReplicationFactorChange = req.Version < 1 || req.AllowReplicationFactorChange
		for _, rt := range req.Topics {
			st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			st.Topic = rt.Topic
			seen := map[int32]bool{}
			for _, rp := range rt.Partitions {
				sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
				sp.Partition = rp.Partition
				var err error
				if seen[rp.Partition] {
					err = cerr(kerr.InvalidRequest, "partition %s-%d appears more than once in the request", rt.Topic, rp.Partition)
				} else {
					seen[rp.Partition] = true
					err = b.propose(&metadata.Command{Reassign: &metadata.Reassign{Topic: rt.Topic, Partition: rp.Partition,
						Target: rp.Replicas, Cancel: rp.Replicas == nil, KeepReplicationFactor: !resp.AllowReplicationFactorChange}})
				}
				if err != nil {
					sp.ErrorCode, sp.ErrorMessage = errCode(err), errMsg(err)
				} else if rp.Replicas == nil {
					b.log.Info("partition reassignment cancelled", "topic", rt.Topic, "partition", rp.Partition)
				} else {
					b.log.Info("partition reassignment started", "topic", rt.Topic, "partition", rp.Partition, "target", rp.Replicas)
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		b.answerWhenVisible(start, req.TimeoutMillis, func(yield func(*int16, **string)) {
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					p := &resp.Topics[i].Partitions[j]
					yield(&p.ErrorCode, &p.ErrorMessage)
				}
			}
		})
		return resp
	}
}

func (b *Broker) handleListPartitionReassignments(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.ListPartitionReassignmentsRequest)
	if !b.allowedCluster(r, security.OpDescribe) {
		resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(resp)
	}
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	st := b.metaState()
	add := func(t *metadata.Topic, i int32) *kmsg.ListPartitionReassignmentsResponseTopicPartition {
		if i < 0 || int(i) >= len(t.Parts) || !t.Parts[i].Reassigning() {
			return nil
		}
		p := t.Parts[i]
		sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		sp.Partition = i
		sp.Replicas = append([]int32{}, p.Replicas...)
		sp.AddingReplicas = append([]int32{}, p.AddingReplicas...)
		sp.RemovingReplicas = append([]int32{}, p.RemovingReplicas...)
		return &sp
	}
	list := func(name string, parts []int32, all bool) {
		t, ok := st.Topic(name)
		if !ok {
			return
		}
		rt := kmsg.NewListPartitionReassignmentsResponseTopic()
		rt.Topic = name
		if all {
			parts = nil
			for i := range t.Parts {
				parts = append(parts, int32(i))
			}
		}
		for _, i := range parts {
			if sp := add(t, i); sp != nil {
				rt.Partitions = append(rt.Partitions, *sp)
			}
		}
		if len(rt.Partitions) > 0 {
			resp.Topics = append(resp.Topics, rt)
		}
	}
	if req.Topics == nil {
		for _, name := range st.TopicNames() {
			list(name, nil, true)
		}
	} else {
		for _, rt := range req.Topics {
			list(rt.Topic, rt.Partitions, false)
		}
	}
	return respond(resp)
}
