// DeleteRecords (key 21), versions 0-2.
//
// Moves a partition's log start offset forward (-1 means the high
// watermark). An offset above the high watermark is OFFSET_OUT_OF_RANGE;
// one at or below the current start changes nothing. Consumers below the new
// start get OFFSET_OUT_OF_RANGE and reset by their policy.
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
)

func init() { register(kmsg.DeleteRecords, 0, 2, (*Broker).handleDeleteRecords) }

func (b *Broker) handleDeleteRecords(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t := b.topic(rt.Topic)
		authorized := b.allowed(r, security.OpDelete, security.ResourceTopic, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			p, code := leaderPartition(t, rp.Partition)
			if !authorized {
				code = kerr.TopicAuthorizationFailed.Code
			}
			if code != 0 {
				sp.ErrorCode = code
			} else {
				if lw, err := p.DeleteRecords(rp.Offset); err != nil {
					sp.ErrorCode = errCode(err)
				} else {
					sp.LowWatermark = lw
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp)
}
