// InitProducerId (key 22), versions 0-5.
//
// Idempotent producers (no transactional id) get a fresh producer id with
// epoch 0 on every call, as Kafka does; ids are never reused (the counter is
// persisted in metadata). A transactional id goes to the transaction
// coordinator (internal/txn): the id keeps its producer id and gets a
// bumped epoch, fencing older producers; an open transaction is aborted
// first (CONCURRENT_TRANSACTIONS meanwhile); v3+ carries the caller's
// producer id and epoch for KIP-360 recovery; a timeout above
// transaction.max.timeout.ms is INVALID_TRANSACTION_TIMEOUT. Before v4,
// PRODUCER_FENCED is answered INVALID_PRODUCER_EPOCH (KIP-588).
package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/security"
)

func init() { register(kmsg.InitProducerID, 0, 5, (*Broker).handleInitProducerID) }

func (b *Broker) handleInitProducerID(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		if !b.allowed(r, security.OpWrite, security.ResourceTransactionalID, *req.TransactionalID) {
			resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			return respond(resp)
		}
		pid, epoch := int64(-1), int16(-1)
		if req.Version >= 3 {
			pid, epoch = req.ProducerID, req.ProducerEpoch
		}
		return func() kmsg.Response {
			res, err := b.txns.InitProducerID(*req.TransactionalID, time.Duration(req.TransactionTimeoutMillis)*time.Millisecond, pid, epoch)
			if err != nil {
				resp.ErrorCode = fencedCode(errCode(err), req.Version >= 4)
				return resp
			}
			resp.ProducerID, resp.ProducerEpoch = res.ProducerID, res.Epoch
			return resp
		}
	}
	if !b.allowedIdempotent(r) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(resp)
	}
	id, err := b.allocateProducerID()
	if err != nil {
		resp.ErrorCode = kerr.KafkaStorageError.Code
		return respond(resp)
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return respond(resp)
}

// producerIDBlock is how many producer ids a broker takes from the
// controller at a time.
const producerIDBlock = 1000

// allocateProducerID hands out ids from this broker's block, taking a new
// block from the controller when it runs out; ids are never reused.
func (b *Broker) allocateProducerID() (int64, error) {
	b.pidMu.Lock()
	defer b.pidMu.Unlock()
	if b.pidNext >= b.pidEnd {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := b.quorum.Propose(ctx, &metadata.Command{AllocateIDs: &metadata.AllocateIDs{Count: producerIDBlock}})
		if err != nil {
			return 0, err
		}
		if err := res.Error(); err != nil {
			return 0, err
		}
		b.pidNext, b.pidEnd = res.Value, res.Value+producerIDBlock
	}
	id := b.pidNext
	b.pidNext++
	return id, nil
}
