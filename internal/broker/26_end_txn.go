// EndTxn (key 26), versions 0-3.
//
// The transaction coordinator (internal/txn) writes PrepareCommit or
// PrepareAbort to __transaction_state and answers once it is replicated;
// the markers are then written by the partition leaders in the background
// and the transaction becomes CompleteCommit/CompleteAbort. A retried end
// of a completed transaction succeeds; until the markers are written, the
// next AddPartitionsToTxn or InitProducerId gets CONCURRENT_TRANSACTIONS
// and the client retries. Before v2, PRODUCER_FENCED is answered
// INVALID_PRODUCER_EPOCH (KIP-588). Not served: v4+ (KIP-890's
// TRANSACTION_ABORTABLE and v5's per-transaction epoch bump).
package broker

import (
	"context"

	"github.com/tributary/tributary/internal/security"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.EndTxn, 0, 3, (*Broker).handleEndTxn) }

func (b *Broker) handleEndTxn(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	if !b.allowed(r, security.OpWrite, security.ResourceTransactionalID, req.TransactionalID) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return respond(resp)
	}
	return func() kmsg.Response {
		err := b.txns.EndTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
		resp.ErrorCode = fencedCode(errCode(err), req.Version >= 2)
		return resp
	}
}
