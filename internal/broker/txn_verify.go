package broker

// KIP-890 on the partition side: before a client's transactional batch
// opens a transaction in a partition, its leader asks the transaction
// coordinator whether the partition is in the producer's ongoing
// transaction (AddPartitionsToTxn v4+ with VerifyOnly, part 1), or, for a
// transaction version 2 producer (Produce v12+, TxnOffsetCommit v5+), has
// the coordinator add it (part 2). The leader takes the partition's
// verification guard first (partition.BeginVerification), so a marker
// written between the coordinator's answer and the append refuses the
// append. The coordinator is asked directly when it is this broker, else
// with one AddPartitionsToTxn request to its broker over the inter-broker
// listener (the markers' clients). Deliberate difference from Kafka: the
// request is sent from the connection's reader goroutine, one per produce
// request that needs it (Kafka batches verifications of many requests per
// coordinator broker); only a transaction's first batch in a partition
// pays it.

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/record"
	"github.com/tributary/tributary/internal/security"
	"github.com/tributary/tributary/internal/txn"
)

// txnAddWait bounds how long an addition waits for the producer's
// previous transaction to finish ending (its markers) before answering
// CONCURRENT_TRANSACTIONS; Kafka's brokers retry for a while too
// (add.partitions.to.txn.retry.backoff.max.ms).
const txnAddWait = time.Second

// txnAddOrVerify asks id's transaction coordinator to verify (add false)
// or add (add true) parts in producer pid's transaction at epoch. The
// error is the coordinator's answer (a kerr error from a remote one), or
// why it could not be asked.
func (b *Broker) txnAddOrVerify(ctx context.Context, id string, pid int64, epoch int16, parts []txn.TopicPartition, add bool) error {
	br, code, err := b.txnCoordinator(id)
	if code != 0 {
		if err == nil {
			err = kerr.ErrorForCode(code)
		}
		return fmt.Errorf("%w: %v", kerr.ErrorForCode(code), err)
	}
	if br.ID == b.cfg.NodeID {
		if add {
			wctx, cancel := context.WithTimeout(ctx, txnAddWait)
			defer cancel()
			return b.txns.AddPartitionsWaiting(wctx, id, pid, epoch, parts)
		}
		return b.txns.VerifyPartitions(id, pid, epoch, parts)
	}
	cl, err := b.markerClient(br.ID)
	if err != nil {
		return fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, err)
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = id, pid, epoch, !add
	byTopic := map[string]int{}
	for _, tp := range parts {
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(tx.Topics)
			byTopic[tp.Topic] = i
			t := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			t.Topic = tp.Topic
			tx.Topics = append(tx.Topics, t)
		}
		tx.Topics[i].Partitions = append(tx.Topics[i].Partitions, tp.Partition)
	}
	req.Transactions = append(req.Transactions, tx)
	kresp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		b.dropMarkerClient(br.ID, cl)
		return fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, err)
	}
	resp := kresp.(*kmsg.AddPartitionsToTxnResponse)
	if resp.Version < 4 {
		return fmt.Errorf("%w: broker %d answered AddPartitionsToTxn v%d (v4+ needed)", kerr.CoordinatorNotAvailable, br.ID, resp.Version)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return err
	}
	for _, rt := range resp.Transactions {
		for _, t := range rt.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// produceVerification is the outcome of verifying one produce partition.
type produceVerification struct {
	guard *partition.VerificationGuard
	err   error
}

// verifyProduce runs KIP-890 verification for the partitions of a
// transactional produce request whose batch would open a transaction
// here. It returns the results by topic name and partition; partitions that need none, or that the append will refuse
// anyway, are absent.
func (b *Broker) verifyProduce(r *Request, req *kmsg.ProduceRequest, unverified bool) map[string]map[int32]produceVerification {
	if unverified {
		return nil
	}
	if req.TransactionID == nil || req.Version < 3 || !b.allowed(r, security.OpWrite, security.ResourceTransactionalID, *req.TransactionID) {
		return nil
	}
	var parts []txn.TopicPartition
	var pending []struct {
		topic string
		index int32
		g     *partition.VerificationGuard
	}
	var pid int64
	var epoch int16
	for _, rt := range req.Topics {
		var t *topic
		if req.Version >= 13 {
			t = b.topicByID(rt.TopicID)
		} else {
			t = b.topic(rt.Topic)
		}
		if t == nil || isInternalTopic(t.meta.Name) || !b.allowed(r, security.OpWrite, security.ResourceTopic, t.meta.Name) {
			continue
		}
		for _, rp := range rt.Partitions {
			p, code := leaderPartition(t, rp.Partition)
			if code != 0 || len(rp.Records) < record.HeaderSize {
				continue
			}
			bt := record.Batch(rp.Records)
			if bt.Magic() != 2 || !bt.IsTransactional() || bt.IsControl() || bt.ProducerID() < 0 {
				continue
			}
			if len(parts) > 0 && (bt.ProducerID() != pid || bt.ProducerEpoch() != epoch) {
				continue // one producer per request; the append refuses the odd one
			}
			g := p.BeginVerification(bt.ProducerID(), bt.ProducerEpoch(), req.Version >= 12)
			if g == nil {
				continue
			}
			pid, epoch = bt.ProducerID(), bt.ProducerEpoch()
			parts = append(parts, txn.TopicPartition{Topic: t.meta.Name, Partition: rp.Partition})
			pending = append(pending, struct {
				topic string
				index int32
				g     *partition.VerificationGuard
			}{t.meta.Name, rp.Partition, g})
		}
	}
	if len(parts) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), txnWriteTimeout)
	defer cancel()
	err := b.txnAddOrVerify(ctx, *req.TransactionID, pid, epoch, parts, req.Version >= 12)
	if err != nil {
		b.log.Debug("transactional produce not verified", "transactional_id", *req.TransactionID, "producer_id", pid, "epoch", epoch, "err", err)
	}
	out := map[string]map[int32]produceVerification{}
	for _, v := range pending {
		if out[v.topic] == nil {
			out[v.topic] = map[int32]produceVerification{}
		}
		out[v.topic][v.index] = produceVerification{guard: v.g, err: err}
	}
	return out
}

// produceUnverified: Produce v3-11 with transaction.partition.verification.enable
// false is not verified (Kafka before KIP-890); v12+ always is.
func (b *Broker) produceUnverified(req *kmsg.ProduceRequest) bool {
	return req.Version < 12 && !b.cfg.Broker.Bool("transaction.partition.verification.enable")
}
