// InitializeShareGroupState (key 83) version 0, ReadShareGroupState
// (key 84) version 0, WriteShareGroupState (key 85) versions 0-1,
// DeleteShareGroupState (key 86) version 0 and ReadShareGroupStateSummary
// (key 87) versions 0-1: the share coordinator's internal
// APIs (KIP-932), served by internal/share (coordinator.go) for the
// groups whose __share_group_state partition this broker leads
// (NOT_COORDINATOR elsewhere). Share-partition leaders call them
// (share_hooks.go); they need CLUSTER_ACTION, as Kafka's brokers-only
// APIs.
//
// Deliberate differences from Kafka: a group's whole state lives in one
// state partition (share.PartitionFor hashes the group id, not
// "group:topicId:partition"); Write's DeliveryCompleteCount (v1) is
// ignored and recomputed from the state batches.
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
)

func init() {
	register(kmsg.InitializeShareGroupState, 0, 0, (*Broker).handleShareState)
	register(kmsg.ReadShareGroupState, 0, 0, (*Broker).handleShareState)
	register(kmsg.WriteShareGroupState, 0, 1, (*Broker).handleShareState)
	register(kmsg.DeleteShareGroupState, 0, 0, (*Broker).handleShareState)
	register(kmsg.ReadShareGroupStateSummary, 0, 1, (*Broker).handleShareState)
}

func (b *Broker) handleShareState(ctx context.Context, r *Request) Pending {
	if !b.allowedCluster(r, security.OpClusterAction) {
		return respond(shareStateError(r.Msg, kerr.ClusterAuthorizationFailed.Code))
	}
	st := b.shareStore
	return func() kmsg.Response {
		switch req := r.Msg.(type) {
		case *kmsg.InitializeShareGroupStateRequest:
			return st.Initialize(ctx, req)
		case *kmsg.ReadShareGroupStateRequest:
			return st.Read(ctx, req)
		case *kmsg.WriteShareGroupStateRequest:
			return st.Write(ctx, req)
		case *kmsg.DeleteShareGroupStateRequest:
			return st.Delete(ctx, req)
		case *kmsg.ReadShareGroupStateSummaryRequest:
			return st.Summary(ctx, req)
		}
		return nil
	}
}

// shareStateError answers every partition of a state request with code.
func shareStateError(msg kmsg.Request, code int16) kmsg.Response {
	switch req := msg.(type) {
	case *kmsg.InitializeShareGroupStateRequest:
		resp := req.ResponseKind().(*kmsg.InitializeShareGroupStateResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewInitializeShareGroupStateResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewInitializeShareGroupStateResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.ReadShareGroupStateRequest:
		resp := req.ResponseKind().(*kmsg.ReadShareGroupStateResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewReadShareGroupStateResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewReadShareGroupStateResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.WriteShareGroupStateRequest:
		resp := req.ResponseKind().(*kmsg.WriteShareGroupStateResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewWriteShareGroupStateResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteShareGroupStateResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.DeleteShareGroupStateRequest:
		resp := req.ResponseKind().(*kmsg.DeleteShareGroupStateResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewDeleteShareGroupStateResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewDeleteShareGroupStateResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.ReadShareGroupStateSummaryRequest:
		resp := req.ResponseKind().(*kmsg.ReadShareGroupStateSummaryResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewReadShareGroupStateSummaryResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewReadShareGroupStateSummaryResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	return nil
}
