// AddPartitionsToTxn (key 24), versions 0-5.
//
// The transaction coordinator (internal/txn) adds the partitions to the
// producer's open transaction, starting one if none is open, once the
// __transaction_state record is replicated. Every partition gets the same
// answer; a topic or partition that does not exist gets
// UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED, as in
// Kafka. Before v2, PRODUCER_FENCED is answered INVALID_PRODUCER_EPOCH
// (KIP-588).
//
// v4+ are sent by partition leaders, not clients (KIP-890,
// txn_verify.go): a batch of transactions, each with VerifyOnly (answer
// whether every partition is in the producer's ongoing transaction:
// TRANSACTION_ABORTABLE for one that is not, INVALID_TXN_STATE to v4) or
// not (add them, for transaction version 2 producers that send no
// AddPartitionsToTxn themselves).
// Errors are per partition; the top-level error is
// CLUSTER_AUTHORIZATION_FAILED without CLUSTER_ACTION on the cluster (as
// in Kafka). An addition waits (up to a second) for the producer's
// previous transaction to finish ending rather than answering
// CONCURRENT_TRANSACTIONS at once. v5 adds TRANSACTION_ABORTABLE, the
// answer to a verification of a partition not in the transaction; the
// leader passes it on to Produce v11+ and answers INVALID_TXN_STATE to
// older clients (errors.go, abortableCode). Deliberate difference from
// Kafka, whose coordinator answers it to v4 requests as well: a v4
// requester (a broker from before KIP-890's new error) gets
// INVALID_TXN_STATE, a code its clients know.
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
	"github.com/tributary/tributary/internal/txn"
)

func init() { register(kmsg.AddPartitionsToTxn, 0, 5, (*Broker).handleAddPartitionsToTxn) }

func (b *Broker) handleAddPartitionsToTxn(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version >= 4 {
		return b.handleAddPartitionsToTxnBroker(r, req, resp)
	}
	answer := func(code func(topic string, p int32) int16) kmsg.Response {
		for _, rt := range req.Topics {
			st := kmsg.NewAddPartitionsToTxnResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p, code(rt.Topic, p)
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}
	if !b.allowed(r, security.OpWrite, security.ResourceTransactionalID, req.TransactionalID) {
		return respond(answer(func(string, int32) int16 { return kerr.TransactionalIDAuthorizationFailed.Code }))
	}
	deniedTopics := map[string]bool{}
	for _, rt := range req.Topics {
		if !b.allowed(r, security.OpWrite, security.ResourceTopic, rt.Topic) {
			deniedTopics[rt.Topic] = true
		}
	}
	if len(deniedTopics) > 0 {
		return respond(answer(func(topic string, _ int32) int16 {
			if deniedTopics[topic] {
				return kerr.TopicAuthorizationFailed.Code
			}
			return kerr.OperationNotAttempted.Code
		}))
	}
	var parts []txn.TopicPartition
	unknown := map[txn.TopicPartition]bool{}
	for _, rt := range req.Topics {
		t := b.topic(rt.Topic)
		for _, p := range rt.Partitions {
			tp := txn.TopicPartition{Topic: rt.Topic, Partition: p}
			if t == nil || p < 0 || p >= t.numPartitions() || isInternalTopic(rt.Topic) {
				unknown[tp] = true
			}
			parts = append(parts, tp)
		}
	}
	if len(unknown) > 0 {
		return respond(answer(func(topic string, p int32) int16 {
			if unknown[txn.TopicPartition{Topic: topic, Partition: p}] {
				return kerr.UnknownTopicOrPartition.Code
			}
			return kerr.OperationNotAttempted.Code
		}))
	}
	return func() kmsg.Response {
		err := b.txns.AddPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, parts)
		code := fencedCode(errCode(err), req.Version >= 2)
		return answer(func(string, int32) int16 { return code })
	}
}

// fencedCode answers PRODUCER_FENCED as INVALID_PRODUCER_EPOCH to clients
// that predate it (KIP-588).
func fencedCode(code int16, knowsFenced bool) int16 {
	if code == kerr.ProducerFenced.Code && !knowsFenced {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}

// handleAddPartitionsToTxnBroker serves v4+: a partition leader's batch
// of verifications (VerifyOnly) and additions.
func (b *Broker) handleAddPartitionsToTxnBroker(r *Request, req *kmsg.AddPartitionsToTxnRequest, resp *kmsg.AddPartitionsToTxnResponse) Pending {
	if !b.allowedCluster(r, security.OpClusterAction) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(resp)
	}
	return func() kmsg.Response {
		for _, rt := range req.Transactions {
			var parts []txn.TopicPartition
			for _, t := range rt.Topics {
				for _, p := range t.Partitions {
					parts = append(parts, txn.TopicPartition{Topic: t.Topic, Partition: p})
				}
			}
			var err error
			if rt.VerifyOnly {
				err = b.txns.VerifyPartitions(rt.TransactionalID, rt.ProducerID, rt.ProducerEpoch, parts)
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), txnAddWait)
				err = b.txns.AddPartitionsWaiting(ctx, rt.TransactionalID, rt.ProducerID, rt.ProducerEpoch, parts)
				cancel()
			}
			code := abortableCode(errCode(err), req.Version >= 5)
			st := kmsg.NewAddPartitionsToTxnResponseTransaction()
			st.TransactionalID = rt.TransactionalID
			for _, t := range rt.Topics {
				stt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
				stt.Topic = t.Topic
				for _, p := range t.Partitions {
					sp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
					sp.Partition, sp.ErrorCode = p, code
					stt.Partitions = append(stt.Partitions, sp)
				}
				st.Topics = append(st.Topics, stt)
			}
			resp.Transactions = append(resp.Transactions, st)
		}
		return resp
	}
}
