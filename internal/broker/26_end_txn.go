// EndTxn (key 26), versions 0-5.
//
// The transaction coordinator (internal/txn) writes PrepareCommit or
// PrepareAbort to __transaction_state and answers once it is replicated;
// the markers are then written by the partition leaders in the background
// and the transaction becomes CompleteCommit/CompleteAbort. A retried end
// of a completed transaction succeeds; until the markers are written, the
// next AddPartitionsToTxn or InitProducerId gets CONCURRENT_TRANSACTIONS
// and the client retries. Before v2, PRODUCER_FENCED is answered
// INVALID_PRODUCER_EPOCH (KIP-588). v4 only adds TRANSACTION_ABORTABLE to
// the codes a client may get (Kafka's coordinator does not answer it to
// EndTxn either; Produce v11+ gets it, errors.go). v5+ is transaction
// version 2 (KIP-890 part 2, txn.Coordinator.EndTxnV2): every end bumps
// the producer epoch, the markers carry the bumped epoch, the response
// carries the producer id and epoch to continue with (a new producer id
// at epoch 0 when the epochs ran out), a retry is recognized by the epoch
// before the bump, and an abort with no transaction open succeeds (and
// bumps the epoch). A commit with the epoch before the bump of the
// coordinator's own timeout abort is PRODUCER_FENCED (KAFKA-20785), not
// INVALID_TXN_STATE, which clients treat as fatal.
package broker

import (
	"context"

	"github.com/tributary/tributary/internal/security"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.EndTxn, 0, 5, (*Broker).handleEndTxn) }

func (b *Broker) handleEndTxn(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	if !b.allowed(r, security.OpWrite, security.ResourceTransactionalID, req.TransactionalID) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return respond(resp)
	}
	if req.Version >= 5 {
		return func() kmsg.Response {
			next, err := b.txns.EndTxnV2(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
			resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = errCode(err), -1, -1
			if err == nil {
				resp.ProducerID, resp.ProducerEpoch = next.ProducerID, next.Epoch
			}
			return resp
		}
	}
	return func() kmsg.Response {
		err := b.txns.EndTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
		resp.ErrorCode = fencedCode(errCode(err), req.Version >= 2)
		return resp
	}
}
