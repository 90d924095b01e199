// AddOffsetsToTxn (key 25), versions 0-4, and TxnOffsetCommit (key 28),
// versions 0-5: offsets committed inside a transaction
// (consume-transform-produce, sendOffsetsToTransaction).
//
// AddOffsetsToTxn adds the group's partition of __consumer_offsets to the
// producer's transaction (transaction coordinator); TxnOffsetCommit then
// writes the offsets there as a transactional batch of the producer (group
// coordinator), pending until the transaction's COMMIT marker reaches that
// partition (they become the group's offsets) or ABORT (dropped).
// OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT for a
// pending one. A producer epoch older than the partition's is
// INVALID_PRODUCER_EPOCH. Before v2, PRODUCER_FENCED is answered
// INVALID_PRODUCER_EPOCH (KIP-588). Authorization: WRITE on the
// transactional id, READ on the group, READ on each topic (TxnOffsetCommit);
// deliberate difference from Kafka: when a topic is denied, nothing is
// committed (the others get OPERATION_NOT_ATTEMPTED). AddOffsetsToTxn v4
// and TxnOffsetCommit v4 only add TRANSACTION_ABORTABLE to the codes a
// client may get: Kafka answers it to TxnOffsetCommit v4 when the
// offsets partition's verification fails, which this broker does not do
// before v5 (below); AddOffsetsToTxn never gets it, in Kafka either. TxnOffsetCommit v5+ is transaction
// version 2 (KIP-890 part 2): the client sends no AddOffsetsToTxn, and the
// broker has the transaction coordinator add the group's offsets
// partition first (txn_verify.go), answering its refusal for every
// partition (CONCURRENT_TRANSACTIONS while the previous transaction ends:
// the client retries). Deliberate difference from Kafka: before v5 the
// offsets partition is not verified (AddOffsetsToTxn added it).
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/group"
	"github.com/tributary/tributary/internal/security"
	"github.com/tributary/tributary/internal/txn"
)

func init() {
	register(kmsg.AddOffsetsToTxn, 0, 4, (*Broker).handleAddOffsetsToTxn)
	register(kmsg.TxnOffsetCommit, 0, 5, (*Broker).handleTxnOffsetCommit)
}

func (b *Broker) handleAddOffsetsToTxn(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case !b.allowed(r, security.OpWrite, security.ResourceTransactionalID, req.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return respond(resp)
	case !b.allowed(r, security.OpRead, security.ResourceGroup, req.Group):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp)
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return respond(resp)
	}
	return func() kmsg.Response {
		if err := b.groups.Ready(); err != nil {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp
		}
		p := b.groups.PartitionFor(req.Group)
		if p < 0 {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp
		}
		err := b.txns.AddPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, []txn.TopicPartition{{Topic: group.OffsetsTopic, Partition: p}})
		resp.ErrorCode = fencedCode(errCode(err), req.Version >= 2)
		return resp
	}
}

func (b *Broker) handleTxnOffsetCommit(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.TxnOffsetCommitRequest)
	all := func(code func(topic string) int16) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewTxnOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, code(rt.Topic)
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}
	if !b.allowed(r, security.OpWrite, security.ResourceTransactionalID, req.TransactionalID) {
		return respond(all(func(string) int16 { return kerr.TransactionalIDAuthorizationFailed.Code }))
	}
	if !b.allowed(r, security.OpRead, security.ResourceGroup, req.Group) {
		return respond(all(func(string) int16 { return kerr.GroupAuthorizationFailed.Code }))
	}
	denied := map[string]bool{}
	for _, rt := range req.Topics {
		if !b.allowed(r, security.OpRead, security.ResourceTopic, rt.Topic) {
			denied[rt.Topic] = true
		}
	}
	if len(denied) > 0 {
		return respond(all(func(t string) int16 {
			if denied[t] {
				return kerr.TopicAuthorizationFailed.Code
			}
			return kerr.OperationNotAttempted.Code
		}))
	}
	if req.Version >= 5 {
		if code := b.addOffsetsPartition(req); code != 0 {
			return respond(all(func(string) int16 { return code }))
		}
	}
	resp, wait := b.groups.TxnOffsetCommit(req)
	return func() kmsg.Response {
		wait()
		if req.Version < 2 {
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					p := &resp.Topics[i].Partitions[j]
					p.ErrorCode = fencedCode(p.ErrorCode, false)
				}
			}
		}
		return resp
	}
}

// addOffsetsPartition has the transaction coordinator add the group's
// __consumer_offsets partition to the producer's transaction
// (TxnOffsetCommit v5+, transaction version 2). It returns the error code
// for every partition of the request, 0 when added.
func (b *Broker) addOffsetsPartition(req *kmsg.TxnOffsetCommitRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	if err := b.groups.Ready(); err != nil {
		return kerr.CoordinatorNotAvailable.Code
	}
	p := b.groups.PartitionFor(req.Group)
	if p < 0 {
		return kerr.CoordinatorNotAvailable.Code
	}
	ctx, cancel := context.WithTimeout(context.Background(), txnWriteTimeout)
	defer cancel()
	err := b.txnAddOrVerify(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, []txn.TopicPartition{{Topic: group.OffsetsTopic, Partition: p}}, true)
	switch code := errCode(err); code {
	case 0, kerr.ConcurrentTransactions.Code, kerr.ProducerFenced.Code, kerr.InvalidProducerEpoch.Code, kerr.InvalidProducerIDMapping.Code,
		kerr.InvalidTxnState.Code, kerr.NotCoordinator.Code, kerr.CoordinatorLoadInProgress.Code:
		return code
	}
	return kerr.CoordinatorNotAvailable.Code
}
