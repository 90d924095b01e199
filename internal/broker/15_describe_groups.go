// DescribeGroups (key 15), versions 0-6, and ListGroups (key 16), versions
// 0-5.
//
// DescribeGroups shows member metadata and assignments only while a group is
// Stable, as Kafka does; an unknown group is "Dead", with GROUP_ID_NOT_FOUND
// from v6. Authorized operations (v3+) are READ, DELETE and DESCRIBE, as
// there is no authorizer yet. ListGroups filters by state (v4+) and type
// (v5+, "classic" or "consumer"). A consumer (KIP-848) group is described by
// ConsumerGroupDescribe (68_consumer_group.go); here, as in Kafka, it is
// "Dead", with GROUP_ID_NOT_FOUND "not a classic group" from v6. A group
// this broker does not coordinate gets NOT_COORDINATOR. ListGroups lists
// the groups coordinated here only (clients ask every broker), with
// COORDINATOR_LOAD_IN_PROGRESS while some offsets partition still loads.
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/tributary/tributary/internal/security"
)

func init() {
	register(kmsg.DescribeGroups, 0, 6, (*Broker).handleDescribeGroups)
	register(kmsg.ListGroups, 0, 5, (*Broker).handleListGroups)
}

func (b *Broker) handleDescribeGroups(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.DescribeGroupsRequest)
	resp := b.groups.DescribeGroups(req)
	for i := range resp.Groups {
		g := &resp.Groups[i]
		if !b.allowed(r, security.OpDescribe, security.ResourceGroup, g.Group) {
			gr := kmsg.NewDescribeGroupsResponseGroup()
			gr.Group, gr.ErrorCode = g.Group, kerr.GroupAuthorizationFailed.Code
			*g = gr
		}
	}
	return respond(resp)
}

func (b *Broker) handleListGroups(_ context.Context, r *Request) Pending {
	resp := b.groups.ListGroups(r.Msg.(*kmsg.ListGroupsRequest))
	if b.authz != nil && !b.probeCluster(r, security.OpDescribe) {
		// As Kafka: without DESCRIBE on the cluster, only the groups the
		// principal may describe.
		resp.Groups = slices.DeleteFunc(resp.Groups, func(g kmsg.ListGroupsResponseGroup) bool {
			return !b.allowed(r, security.OpDescribe, security.ResourceGroup, g.Group)
		})
	}
	return respond(resp)
}
