// FindCoordinator (key 10), versions 0-6.
//
// This node is the coordinator of every group and transactional id. Asking
// for a group coordinator creates __consumer_offsets on first use (as Kafka
// does); if that fails the answer is COORDINATOR_NOT_AVAILABLE. v4+ batches
// keys (KIP-699). Deliberate differences from Kafka: share-group keys (type
// 2, KIP-932) get INVALID_REQUEST, as share groups are not served; a
// transactional id gets this node even though transactions are not served
// yet (InitProducerId then refuses it rather than clients retrying forever).
package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.FindCoordinator, 0, 6, (*Broker).handleFindCoordinator) }

func (b *Broker) handleFindCoordinator(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	find := func(key string) (int16, error) {
		switch req.CoordinatorType {
		case 0:
			if err := b.groups.Ready(); err != nil {
				return kerr.CoordinatorNotAvailable.Code, err
			}
		case 1:
			if key == "" {
				return kerr.InvalidRequest.Code, errors.New("transactional id is empty")
			}
		default:
			return kerr.InvalidRequest.Code, errors.New("unsupported coordinator type")
		}
		return 0, nil
	}
	if req.Version < 4 {
		code, err := find(req.CoordinatorKey)
		resp.ErrorCode, resp.ErrorMessage = code, errMsg(err)
		resp.NodeID, resp.Host, resp.Port = -1, "", -1
		if code == 0 {
			resp.NodeID, resp.Host, resp.Port = b.cfg.NodeID, b.cfg.Host, b.cfg.Port
		}
		return respond(resp)
	}
	for _, key := range req.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		code, err := find(key)
		c.ErrorCode, c.ErrorMessage = code, errMsg(err)
		c.NodeID, c.Port = -1, -1
		if code == 0 {
			c.NodeID, c.Host, c.Port = b.cfg.NodeID, b.cfg.Host, b.cfg.Port
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return respond(resp)
}
