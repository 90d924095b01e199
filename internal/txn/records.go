package txn

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/record"
)

// Records in __transaction_state follow Kafka's layout: the key is
// TxnMetadataKey v0 (the transactional id), the value TxnMetadataValue v1
// (producer id and epoch, timeout, state, partitions, timestamps, and
// KIP-890's tagged fields: the previous and next producer id and the
// client's transaction version); v0 values are read too; a nil value is a
// tombstone. The encodings are kmsg's. The last record of a
// transactional id wins, so the topic is compacted.

const (
	keyVersion   = 0
	valueVersion = 1
)

func stateKey(id string) []byte {
	k := kmsg.TxnMetadataKey{Version: keyVersion, TransactionalID: id}
	return k.AppendTo(nil)
}

func stateValue(t *txnMeta) []byte {
	v := kmsg.NewTxnMetadataValue()
	v.Version = valueVersion
	v.ProducerID, v.ProducerEpoch = t.pid, t.epoch
	v.TimeoutMillis = int32(t.timeout.Milliseconds())
	v.State = kmsg.TransactionState(t.state)
	v.PreviousProducerID, v.NextProducerID = t.prevPID, t.nextPID
	if t.tv2 {
		v.ClientTransactionVersion = 2
	}
	v.LastUpdateTimestamp, v.StartTimestamp = t.lastUpdate.UnixMilli(), -1
	if !t.start.IsZero() {
		v.StartTimestamp = t.start.UnixMilli()
	}
	byTopic := map[string][]int32{}
	for tp := range t.parts {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
	}
	topics := make([]string, 0, len(byTopic))
	for topic := range byTopic {
		topics = append(topics, topic)
	}
	sort.Strings(topics)
	for _, topic := range topics {
		ps := byTopic[topic]
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		vt := kmsg.NewTxnMetadataValueTopic()
		vt.Topic, vt.Partitions = topic, ps
		v.Topics = append(v.Topics, vt)
	}
	return v.AppendTo(nil)
}

// stateBatch is one uncompressed v2 batch holding id's record, base offset
// 0 (the partition assigns offsets).
func stateBatch(id string, value []byte, nowMs int64) []byte {
	return record.BuildKV(record.CoordinatorHeader(nowMs), []record.KV{{Key: stateKey(id), Value: value}})
}

// decodeState applies one stored batch of __transaction_state to into
// (replay). Control batches and records of other key versions are skipped.
func decodeState(raw []byte, into map[string]*txnMeta) error {
	recs, err := record.KVs(raw)
	if err != nil {
		return err
	}
	for _, r := range recs {
		var k kmsg.TxnMetadataKey
		if err := k.ReadFrom(r.Key); err != nil || k.Version != keyVersion {
			continue
		}
		if r.Value == nil {
			delete(into, k.TransactionalID)
			continue
		}
		var v kmsg.TxnMetadataValue
		if err := v.ReadFrom(r.Value); err != nil {
			return err
		}
		t := &txnMeta{id: k.TransactionalID, pid: v.ProducerID, epoch: v.ProducerEpoch, lastEpoch: -1,
			timeout: msDuration(v.TimeoutMillis), state: State(v.State), parts: map[TopicPartition]struct{}{},
			lastUpdate: msTime(v.LastUpdateTimestamp), prevPID: -1, nextPID: -1}
		if v.Version >= 1 {
			t.prevPID, t.nextPID, t.tv2 = v.PreviousProducerID, v.NextProducerID, v.ClientTransactionVersion >= 2
		}
		if t.tv2 && t.state != Ongoing && t.state != Empty && t.epoch > 0 {
			// The end bumped the epoch: the one before is the producer's
			// (KIP-360 recovery after a lost EndTxn answer).
			t.lastEpoch = t.epoch - 1
		}
		if v.StartTimestamp >= 0 {
			t.start = msTime(v.StartTimestamp)
		}
		for _, vt := range v.Topics {
			for _, p := range vt.Partitions {
				t.parts[TopicPartition{vt.Topic, p}] = struct{}{}
			}
		}
		into[k.TransactionalID] = t
	}
	return nil
}
