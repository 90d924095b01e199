// ShareGroupHeartbeat (key 76), version 1, and ShareGroupDescribe (key
// 77), version 1: share groups (KIP-932), served by internal/group
// (share.go). Version 0 was Kafka 4.0's early access and is not served
// (Kafka 4.1 removed it too).
//
// Members join with epoch 0 and their subscribed topic names, heartbeat
// every group.share.heartbeat.interval.ms with the epoch they were given,
// and leave with -1; a member silent for group.share.session.timeout.ms
// is removed; group.share.max.size bounds the members. Partitions are
// spread over the members by a simple assignor, a partition shared by
// several members when they outnumber its topic's partitions. A heartbeat
// is answered once the group record it wrote is durable and replicated.
//
// Deliberate differences from Kafka: the assignor is not Kafka's
// SimpleAssignor output (same principle, see internal/group/share.go) and
// takes no rack into account; per-group session and heartbeat configs are
// not served (the broker configs apply).
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
)

func init() {
	register(kmsg.ShareGroupHeartbeat, 1, 1, (*Broker).handleShareGroupHeartbeat)
	register(kmsg.ShareGroupDescribe, 1, 1, (*Broker).handleShareGroupDescribe)
}

func (b *Broker) handleShareGroupHeartbeat(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.ShareGroupHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
	if !b.allowed(r, security.OpRead, security.ResourceGroup, req.GroupID) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp)
	}
	for _, t := range req.SubscribedTopicNames {
		if !b.allowed(r, security.OpDescribe, security.ResourceTopic, t) {
			resp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			return respond(resp)
		}
	}
	resp, wait := b.groups.ShareGroupHeartbeat(req, groupClient(r))
	return func() kmsg.Response { wait(); return resp }
}

func (b *Broker) handleShareGroupDescribe(_ context.Context, r *Request) Pending {
	resp := b.groups.ShareGroupDescribe(r.Msg.(*kmsg.ShareGroupDescribeRequest))
	for i := range resp.Groups {
		g := &resp.Groups[i]
		if !b.allowed(r, security.OpDescribe, security.ResourceGroup, g.GroupID) {
			gr := kmsg.NewShareGroupDescribeResponseGroup()
			gr.GroupID, gr.ErrorCode = g.GroupID, kerr.GroupAuthorizationFailed.Code
			*g = gr
		}
	}
	return respond(resp)
}
