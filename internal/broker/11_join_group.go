// JoinGroup (key 11), versions 0-9, and SyncGroup (key 14), versions 0-5.
//
// Classic group membership with Kafka's state machine (internal/group):
// KIP-394 member ids (v4+ joins without one get MEMBER_ID_REQUIRED), static
// membership (KIP-345, v5+), group.initial.rebalance.delay.ms, rebalance and
// session timeouts, protocol selection by vote, KIP-814 skipAssignment for a
// rejoining static leader (v9). The response of a join waits until the
// rebalance completes; a sync waits for the leader's assignment. Both
// registrations live here because the two requests are one protocol.
// Groups this broker does not coordinate get NOT_COORDINATOR (see
// 10_find_coordinator.go); waiting requests are answered NOT_COORDINATOR
// when the broker loses the group's offsets partition.
// Deliberate differences from Kafka: a static leader rejoining with v<9
// triggers a rebalance (Kafka answers without one and without members).
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
)

func init() {
	register(kmsg.JoinGroup, 0, 9, (*Broker).handleJoinGroup)
	register(kmsg.SyncGroup, 0, 5, (*Broker).handleSyncGroup)
}

func (b *Broker) handleJoinGroup(ctx context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.JoinGroupRequest)
	if !b.allowed(r, security.OpRead, security.ResourceGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp)
	}
	wait := b.groups.JoinGroup(req, groupClient(r))
	return func() kmsg.Response {
		if resp := wait(ctx.Done()); resp != nil {
			return resp
		}
		return nil
	}
}

func (b *Broker) handleSyncGroup(ctx context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.SyncGroupRequest)
	if !b.allowed(r, security.OpRead, security.ResourceGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp)
	}
	wait := b.groups.SyncGroup(req)
	return func() kmsg.Response {
		if resp := wait(ctx.Done()); resp != nil {
			return resp
		}
		return nil
	}
}
