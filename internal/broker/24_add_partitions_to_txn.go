// AddPartitionsToTxn (key 24), versions 0-3.
//
// The transaction coordinator (internal/txn) adds the partitions to the
// producer's open transaction, starting one if none is open, once the
// __transaction_state record is replicated. Every partition gets the same
// answer; a topic or partition that does not exist gets
// UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED, as in
// Kafka. Before v2, PRODUCER_FENCED is answered INVALID_PRODUCER_EPOCH
// (KIP-588). Not served: v4+ (KIP-890 part 1, batched and broker-to-broker
// verification), so a partition leader does not verify that a
// transactional batch's partition was added.
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
	"github.com/tributary/tributary/internal/txn"
)

func init() { register(kmsg.AddPartitionsToTxn, 0, 3, (*Broker).handleAddPartitionsToTxn) }

func (b *Broker) handleAddPartitionsToTxn(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
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
