package broker

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/tributary/tributary/internal/txn"
)

// TestVerifyCodeAbortable: a partition not in the producer's transaction
// (the local coordinator's sentinel, or a remote one's
// TRANSACTION_ABORTABLE) is TRANSACTION_ABORTABLE to Produce v11+ and
// INVALID_TXN_STATE before; the retriable and fencing answers keep their
// codes.
func TestVerifyCodeAbortable(t *testing.T) {
	for _, c := range []struct {
		err     error
		version int16
		want    *kerr.Error
	}{
		{txn.ErrNotInTransaction, 3, kerr.InvalidTxnState},
		{txn.ErrNotInTransaction, 10, kerr.InvalidTxnState},
		{txn.ErrNotInTransaction, 11, kerr.TransactionAbortable},
		{txn.ErrNotInTransaction, 12, kerr.TransactionAbortable},
		{kerr.TransactionAbortable, 10, kerr.InvalidTxnState},
		{kerr.TransactionAbortable, 11, kerr.TransactionAbortable},
		{fmt.Errorf("wrapped: %w", txn.ErrNotInTransaction), 11, kerr.TransactionAbortable},
		{kerr.InvalidTxnState, 11, kerr.InvalidTxnState}, // a remote coordinator answering v4
		{txn.ErrConcurrentTransactions, 11, kerr.NotEnoughReplicas},
		{txn.ErrConcurrentTransactions, 12, kerr.ConcurrentTransactions},
		{txn.ErrProducerFenced, 11, kerr.InvalidProducerEpoch},
		{txn.ErrNotCoordinator, 11, kerr.NotEnoughReplicas},
	} {
		if got := verifyCode(c.err, c.version); got != c.want.Code {
			t.Errorf("verifyCode(%v, v%d) = %v, want %v", c.err, c.version, kerr.ErrorForCode(got), c.want)
		}
	}
	if got := abortableCode(kerr.TransactionAbortable.Code, false); got != kerr.InvalidTxnState.Code {
		t.Errorf("abortableCode for an old request: %v", kerr.ErrorForCode(got))
	}
	if got := abortableCode(kerr.ProducerFenced.Code, false); got != kerr.ProducerFenced.Code {
		t.Errorf("abortableCode changed another code: %v", kerr.ErrorForCode(got))
	}
}
