// ConsumerGroupHeartbeat (key 68), versions 0-1, and ConsumerGroupDescribe
// (key 69), versions 0-1: consumer groups of the next-generation protocol
// (KIP-848), served by internal/group (consumer.go).
//
// The coordinator assigns partitions with the `uniform` or `range` assignor
// (group.consumer.assignors, the first is the default) and reconciles
// members incrementally: a partition goes to its new owner only after the
// previous owner reported it revoked. Members are removed after
// group.consumer.session.timeout.ms without a heartbeat and told to
// heartbeat every group.consumer.heartbeat.interval.ms. v0 joins without a
// member id get one from the coordinator; v1 members name themselves and
// may subscribe by regular expression (RE2 syntax, matched against the
// whole topic name, internal topics excluded). A heartbeat is answered once
// the records it wrote to __consumer_offsets are durable and replicated.
// Groups this broker does not coordinate get NOT_COORDINATOR (the member
// finds the coordinator again and heartbeats it with its epoch).
//
// Deliberate differences from Kafka: classic members are never admitted
// into a consumer group with members, and a classic group with members is
// never upgraded online (Kafka's group.consumer.migration.policy=disabled);
// empty groups convert either way. Per-group configs
// (consumer.session.timeout.ms etc. on GROUP resources) are not served.
// The range assignor is not sticky.
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
)

func init() {
	register(kmsg.ConsumerGroupHeartbeat, 0, 1, (*Broker).handleConsumerGroupHeartbeat)
	register(kmsg.ConsumerGroupDescribe, 0, 1, (*Broker).handleConsumerGroupDescribe)
}

func (b *Broker) handleConsumerGroupHeartbeat(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.ConsumerGroupHeartbeatRequest)
	if !b.allowed(r, security.OpRead, security.ResourceGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp)
	}
	resp, wait := b.groups.ConsumerGroupHeartbeat(req, groupClient(r))
	return func() kmsg.Response { wait(); return resp }
}

func (b *Broker) handleConsumerGroupDescribe(_ context.Context, r *Request) Pending {
	resp := b.groups.ConsumerGroupDescribe(r.Msg.(*kmsg.ConsumerGroupDescribeRequest))
	for i := range resp.Groups {
		g := &resp.Groups[i]
		if !b.allowed(r, security.OpDescribe, security.ResourceGroup, g.Group) {
			gr := kmsg.NewConsumerGroupDescribeResponseGroup()
			gr.Group, gr.ErrorCode = g.Group, kerr.GroupAuthorizationFailed.Code
			*g = gr
		}
	}
	return respond(resp)
}
