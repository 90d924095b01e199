// DeleteGroups (key 42), versions 0-2, and OffsetDelete (key 47), version 0.
//
// DeleteGroups removes empty groups (NON_EMPTY_GROUP otherwise) and writes
// tombstones for their offsets and metadata; an empty share group's
// share-partition state is deleted first (90_share_offsets.go). OffsetDelete (KIP-496) removes
// committed offsets of partitions the group does not subscribe to
// (GROUP_SUBSCRIBED_TO_TOPIC otherwise). Responses are sent once the
// tombstones are durable and replicated. Groups this broker does not
// coordinate get NOT_COORDINATOR.
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
)

func init() {
	register(kmsg.DeleteGroups, 0, 2, (*Broker).handleDeleteGroups)
	register(kmsg.OffsetDelete, 0, 0, (*Broker).handleOffsetDelete)
}

func (b *Broker) handleDeleteGroups(ctx context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.DeleteGroupsRequest)
	var denied []string
	if b.authz != nil {
		c := *req
		c.Groups = nil
		for _, g := range req.Groups {
			if b.allowed(r, security.OpDelete, security.ResourceGroup, g) {
				c.Groups = append(c.Groups, g)
			} else {
				denied = append(denied, g)
			}
		}
		req = &c
	}
	return func() kmsg.Response {
		// An empty share group's share-partition state goes first
		// (90_share_offsets.go); a group whose state cannot be deleted
		// stays.
		var failed []kmsg.DeleteGroupsResponseGroup
		keep := req.Groups[:0:0]
		for _, g := range req.Groups {
			if b.groups.ShareGroupEmpty(g) != 0 {
				keep = append(keep, g)
				continue
			}
			known, _ := b.shareTopics(nil)
			codes, err := b.deleteShareState(ctx, g, known)
			code := errCode(err)
			for _, c := range codes {
				code = max(code, c)
			}
			if code != 0 {
				gr := kmsg.NewDeleteGroupsResponseGroup()
				gr.Group, gr.ErrorCode = g, code
				failed = append(failed, gr)
				continue
			}
			keep = append(keep, g)
		}
		c := *req
		c.Groups = keep
		resp, wait := b.groups.DeleteGroups(&c)
		wait()
		resp.Groups = append(resp.Groups, failed...)
		for _, g := range denied {
			gr := kmsg.NewDeleteGroupsResponseGroup()
			gr.Group, gr.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, gr)
		}
		return resp
	}
}

func (b *Broker) handleOffsetDelete(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.OffsetDeleteRequest)
	if !b.allowed(r, security.OpDelete, security.ResourceGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp)
	}
	var denied []kmsg.OffsetDeleteRequestTopic
	if b.authz != nil {
		c := *req
		c.Topics = nil
		for _, t := range req.Topics {
			if b.allowed(r, security.OpRead, security.ResourceTopic, t.Topic) {
				c.Topics = append(c.Topics, t)
			} else {
				denied = append(denied, t)
			}
		}
		req = &c
	}
	resp, wait := b.groups.OffsetDelete(req)
	return func() kmsg.Response {
		wait()
		for _, t := range denied {
			st := kmsg.NewOffsetDeleteResponseTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewOffsetDeleteResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}
}
