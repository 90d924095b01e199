// InitProducerId (key 22), versions 0-5.
//
// Idempotent producers (no transactional id) get a fresh producer id with
// epoch 0 on every call, as Kafka does; ids are never reused (the counter is
// persisted in metadata). Transactional ids are refused until the
// transaction coordinator exists: NOT_COORDINATOR would make clients retry
// forever, so the answer is TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.InitProducerID, 0, 5, (*Broker).handleInitProducerID) }

func (b *Broker) handleInitProducerID(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return respond(resp)
	}
	id, err := b.meta.AllocateProducerID()
	if err != nil {
		resp.ErrorCode = kerr.KafkaStorageError.Code
		return respond(resp)
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return respond(resp)
}
