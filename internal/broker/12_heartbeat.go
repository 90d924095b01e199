// Heartbeat (key 12), versions 0-4, and LeaveGroup (key 13), versions 0-5.
//
// Heartbeats keep a classic group member's session alive and tell it when
// to rejoin (REBALANCE_IN_PROGRESS). LeaveGroup removes one member (v0-2) or
// a batch of members by member id or group.instance.id (v3+, KIP-345).
// Groups this broker does not coordinate get NOT_COORDINATOR, and
// COORDINATOR_LOAD_IN_PROGRESS while their offsets partition loads; after a
// coordinator change members heartbeat the new one with their generation.
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
)

func init() {
	register(kmsg.Heartbeat, 0, 4, (*Broker).handleHeartbeat)
	register(kmsg.LeaveGroup, 0, 5, (*Broker).handleLeaveGroup)
}

func (b *Broker) handleHeartbeat(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.HeartbeatRequest)
	if !b.allowed(r, security.OpRead, security.ResourceGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp)
	}
	return respond(b.groups.Heartbeat(req))
}

func (b *Broker) handleLeaveGroup(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.LeaveGroupRequest)
	if !b.allowed(r, security.OpRead, security.ResourceGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp)
	}
	return respond(b.groups.LeaveGroup(req))
}
