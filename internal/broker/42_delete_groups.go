// DeleteGroups (key 42), versions 0-2, and OffsetDelete (key 47), version 0.
//
// DeleteGroups removes empty groups (NON_EMPTY_GROUP otherwise) and writes
// tombstones for their offsets and metadata. OffsetDelete (KIP-496) removes
// committed offsets of partitions the group does not subscribe to
// (GROUP_SUBSCRIBED_TO_TOPIC otherwise). Responses are sent once the
// tombstones are durable and replicated. Groups this broker does not
// coordinate get NOT_COORDINATOR.
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(kmsg.DeleteGroups, 0, 2, (*Broker).handleDeleteGroups)
	register(kmsg.OffsetDelete, 0, 0, (*Broker).handleOffsetDelete)
}

func (b *Broker) handleDeleteGroups(_ context.Context, r *Request) Pending {
	resp, wait := b.groups.DeleteGroups(r.Msg.(*kmsg.DeleteGroupsRequest))
	return func() kmsg.Response { wait(); return resp }
}

func (b *Broker) handleOffsetDelete(_ context.Context, r *Request) Pending {
	resp, wait := b.groups.OffsetDelete(r.Msg.(*kmsg.OffsetDeleteRequest))
	return func() kmsg.Response { wait(); return resp }
}
