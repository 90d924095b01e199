// DescribeTransactions (key 65), version 0, and ListTransactions (key 66),
// versions 0-1 (kafka-transactions.sh describe / list).
//
// DescribeTransactions answers, per transactional id, the coordinator's
// state (internal/txn): NOT_COORDINATOR when another broker coordinates it,
// COORDINATOR_LOAD_IN_PROGRESS while its partition loads,
// TRANSACTIONAL_ID_NOT_FOUND when unknown. ListTransactions lists the ids
// of the state partitions this broker coordinates (the client asks every
// broker), filtered by state names, producer ids and (v1, KIP-994) a
// minimum running time; unknown state names come back in
// unknown_state_filters. With the authorizer on, DescribeTransactions needs
// DESCRIBE on each id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and
// ListTransactions leaves out the ids the caller may not describe. Not
// served: v2's id pattern (Java regular
// expressions).
package broker

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
	"github.com/tributary/tributary/internal/txn"
)

func init() {
	register(kmsg.DescribeTransactions, 0, 0, (*Broker).handleDescribeTransactions)
	register(kmsg.ListTransactions, 0, 1, (*Broker).handleListTransactions)
}

func (b *Broker) handleDescribeTransactions(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		s := kmsg.NewDescribeTransactionsResponseTransactionState()
		s.TransactionalID = id
		d, err := b.txns.Describe(id)
		if !b.allowed(r, security.OpDescribe, security.ResourceTransactionalID, id) {
			err = kerr.TransactionalIDAuthorizationFailed
		}
		if err != nil {
			s.ErrorCode = errCode(err)
			s.ProducerID, s.ProducerEpoch, s.StartTimestamp = -1, -1, -1
			resp.TransactionStates = append(resp.TransactionStates, s)
			continue
		}
		s.State = d.State.String()
		s.TimeoutMillis = int32(d.Timeout.Milliseconds())
		s.StartTimestamp = -1
		if !d.Start.IsZero() {
			s.StartTimestamp = d.Start.UnixMilli()
		}
		s.ProducerID, s.ProducerEpoch = d.ProducerID, d.Epoch
		for _, tp := range d.Partitions {
			if n := len(s.Topics); n > 0 && s.Topics[n-1].Topic == tp.Topic {
				s.Topics[n-1].Partitions = append(s.Topics[n-1].Partitions, tp.Partition)
				continue
			}
			t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
			t.Topic, t.Partitions = tp.Topic, []int32{tp.Partition}
			s.Topics = append(s.Topics, t)
		}
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	return respond(resp)
}

// txnStates are the state names ListTransactions filters on.
var txnStates = []string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

func (b *Broker) handleListTransactions(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	var states []string
	for _, s := range req.StateFilters {
		if slices.Contains(txnStates, s) {
			states = append(states, s)
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
		}
	}
	if len(req.StateFilters) > 0 && len(states) == 0 {
		return respond(resp) // only unknown states: nothing matches
	}
	now := b.now()
	for _, d := range b.txns.List() {
		if len(states) > 0 && !slices.Contains(states, d.State.String()) {
			continue
		}
		if len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, d.ProducerID) {
			continue
		}
		if !b.authorize(r, security.OpDescribe, security.ResourceTransactionalID, d.ID, false) {
			continue // as Kafka: ids the caller may not describe are left out
		}
		if req.Version >= 1 && req.DurationFilterMillis >= 0 {
			if !running(d) || now.Sub(d.Start).Milliseconds() < req.DurationFilterMillis {
				continue
			}
		}
		s := kmsg.NewListTransactionsResponseTransactionState()
		s.TransactionalID, s.ProducerID, s.TransactionState = d.ID, d.ProducerID, d.State.String()
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	return respond(resp)
}

// running reports a transaction that has started and not completed.
func running(d txn.Transaction) bool {
	return !d.Start.IsZero() && (d.State == txn.Ongoing || d.State == txn.PrepareCommit || d.State == txn.PrepareAbort)
}
