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
// client may get: TxnOffsetCommit v4 gets it when the group's offsets
// partition is not in the producer's transaction (below);
// AddOffsetsToTxn never does, in Kafka either. TxnOffsetCommit v5+ is
// transaction version 2 (KIP-890 part 2): the client sends no
// AddOffsetsToTxn, and the broker has the transaction coordinator add the group's offsets
// partition first (txn_verify.go), answering its refusal for every
// partition (CONCURRENT_TRANSACTIONS while the previous transaction ends:
// the client retries). Before v5 the leader verifies that the partition
// is in the transaction (KIP-890 part 1, as for Produce; off with
// transaction.partition.verification.enable=false): a late
// TxnOffsetCommit of an ended transaction cannot open a hanging one in
// __consumer_offsets. Either way the partition's verification guard is
// taken first, so a marker written meanwhile refuses the write
// (INVALID_TXN_STATE).
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/group"
	"github.com/tributary/tributary/internal/partition"
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
	verification, code := b.verifyTxnOffsets(req)
	if code != 0 {
		return respond(all(func(string) int16 { return code }))
	}
	resp, wait := b.groups.TxnOffsetCommitVerified(req, verification)
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

// offsetsVerification is what the group coordinator's append of a
// TxnOffsetCommit batch carries (offsetsLog.AppendTxn): the offsets
// partition's verification guard, nil when the producer's transaction
// was already open there.
type offsetsVerification struct {
	guard *partition.VerificationGuard
}

// verifyTxnOffsets runs KIP-890 for a TxnOffsetCommit whose batch would
// open the producer's transaction in the group's __consumer_offsets
// partition, as txn_verify.go does for Produce: it takes the partition's
// verification guard, then has the transaction coordinator add the
// partition (v5+, transaction version 2: the client sends no
// AddOffsetsToTxn) or verify that AddOffsetsToTxn added it (v0-4, unless
// transaction.partition.verification.enable is false). It returns what
// the append carries (nil: not verified) and the error code for every
// partition of the request, 0 to go on. A group this broker does not
// coordinate is left to the group coordinator's answer.
func (b *Broker) verifyTxnOffsets(req *kmsg.TxnOffsetCommitRequest) (any, int16) {
	add := req.Version >= 5
	if !add && !b.cfg.Broker.Bool("transaction.partition.verification.enable") {
		return nil, 0
	}
	if req.Group == "" {
		return nil, kerr.InvalidGroupID.Code
	}
	if err := b.groups.Ready(); err != nil {
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	p := b.groups.PartitionFor(req.Group)
	if p < 0 {
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	part, err := newOffsetsLog(b).part(p)
	if err != nil || !part.IsLeader() {
		return nil, 0
	}
	g := part.BeginVerification(req.ProducerID, req.ProducerEpoch, add)
	if g == nil {
		return &offsetsVerification{}, 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), txnWriteTimeout)
	defer cancel()
	err = b.txnAddOrVerify(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, []txn.TopicPartition{{Topic: group.OffsetsTopic, Partition: p}}, add)
	if err == nil {
		return &offsetsVerification{guard: g}, 0
	}
	if add {
		switch code := errCode(err); code {
		case kerr.ConcurrentTransactions.Code, kerr.ProducerFenced.Code, kerr.InvalidProducerEpoch.Code, kerr.InvalidProducerIDMapping.Code,
			kerr.InvalidTxnState.Code, kerr.NotCoordinator.Code, kerr.CoordinatorLoadInProgress.Code:
			return nil, code
		}
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	return nil, txnOffsetVerifyCode(err, req.Version)
}
