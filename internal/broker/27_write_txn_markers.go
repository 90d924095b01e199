// WriteTxnMarkers (key 27), versions 0-1.
//
// Sent by a transaction coordinator to the leaders of a transaction's
// partitions: each leader appends the COMMIT or ABORT control batch
// (partition.AppendMarker) and answers once it is fsynced and in every
// in-sync replica (as acks=all), or REQUEST_TIMED_OUT. A marker from an
// older producer epoch is INVALID_PRODUCER_EPOCH, from an older
// coordinator epoch TRANSACTION_COORDINATOR_FENCED; a partition not led
// here NOT_LEADER_OR_FOLLOWER, an unknown one UNKNOWN_TOPIC_OR_PARTITION.
// A marker in __consumer_offsets completes the producer's transactional
// offset commits there (group coordinator); __transaction_state takes
// none (UNKNOWN_TOPIC_OR_PARTITION). Like Kafka without an
// authorizer, any connection may send it (Kafka requires CLUSTER_ACTION
// when ACLs are on).
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/security"
	"github.com/tributary/tributary/internal/txn"
)

func init() { register(kmsg.WriteTxnMarkers, 0, 1, (*Broker).handleWriteTxnMarkers) }

func (b *Broker) handleWriteTxnMarkers(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.WriteTxnMarkersRequest)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	type wait struct {
		p    *partition.Partition
		res  partition.AppendResult
		code *int16
	}
	var waits []*wait
	clusterAction := b.allowedCluster(r, security.OpClusterAction)
	for _, m := range req.Markers {
		sm := kmsg.NewWriteTxnMarkersResponseMarker()
		sm.ProducerID = m.ProducerID
		for _, mt := range m.Topics {
			st := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			st.Topic = mt.Topic
			st.Partitions = make([]kmsg.WriteTxnMarkersResponseMarkerTopicPartition, len(mt.Partitions))
			t := b.topic(mt.Topic)
			for i, idx := range mt.Partitions {
				sp := &st.Partitions[i]
				sp.Default()
				sp.Partition = idx
				if t != nil && mt.Topic == txn.StateTopic {
					t = nil
				}
				p, code := leaderPartition(t, idx)
				if !clusterAction {
					code = kerr.ClusterAuthorizationFailed.Code
				}
				if code != 0 {
					sp.ErrorCode = code
					continue
				}
				res, err := p.AppendMarker(partition.MarkerOptions{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch,
					Commit: m.Committed, CoordinatorEpoch: m.CoordinatorEpoch, Now: b.now()})
				if err != nil {
					sp.ErrorCode = errCode(err)
					continue
				}
				b.markerWritten(mt.Topic, idx, m.ProducerID, m.Committed)
				waits = append(waits, &wait{p: p, res: res, code: &sp.ErrorCode})
			}
			sm.Topics = append(sm.Topics, st)
		}
		resp.Markers = append(resp.Markers, sm)
	}
	if len(waits) == 0 {
		return respond(resp)
	}
	return func() kmsg.Response {
		for _, w := range waits {
			if err := b.waitDurable(w.p, w.res.End, w.res.Epoch, txnWriteTimeout); err != nil {
				// kerr from waitDurable: NOT_COORDINATOR is the
				// coordinator's word; a leader answers as Produce does.
				*w.code = kerr.RequestTimedOut.Code
				if errCode(err) == kerr.NotCoordinator.Code {
					*w.code = kerr.NotLeaderForPartition.Code
				}
			}
		}
		return resp
	}
}
