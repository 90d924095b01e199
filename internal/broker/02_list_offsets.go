// ListOffsets (key 2), versions 1-11.
//
// Special timestamps: -1 latest (high watermark, or last stable offset for
// read_committed), -2 earliest (log start), -3 max timestamp (v7+: the first
// record with the largest timestamp), -4 earliest local (v8+: the log start,
// as nothing is tiered), -5 latest tiered and -6 earliest pending upload
// (v9+/v11+: offset -1, as nothing is tiered). Any other value finds the
// first record whose timestamp is at or after it, or offset -1 if none.
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/partition"
)

func init() { register(kmsg.ListOffsets, 1, 11, (*Broker).handleListOffsets) }

func (b *Broker) handleListOffsets(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := b.topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset = -1, -1
			p, code := leaderPartition(t, rp.Partition)
			if code != 0 {
				sp.ErrorCode = code
			} else if code := checkLeaderEpoch(p, rp.CurrentLeaderEpoch); code != 0 {
				sp.ErrorCode = code
			} else {
				sp.LeaderEpoch = p.LeaderEpoch()
				sp.ErrorCode = listOffset(p, rp.Timestamp, req.IsolationLevel, &sp)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp)
}

func listOffset(p *partition.Partition, ts int64, isolation int8, sp *kmsg.ListOffsetsResponseTopicPartition) int16 {
	switch ts {
	case -1:
		sp.Offset = p.HighWatermark()
		if isolation == 1 {
			sp.Offset = p.LastStableOffset()
		}
	case -2, -4:
		sp.Offset = p.Log().StartOffset()
	case -5, -6:
	case -3:
		off, t, ok, err := p.Log().MaxTimestamp()
		if err != nil {
			return errCode(err)
		}
		if ok {
			sp.Offset, sp.Timestamp = off, t
		}
	default:
		if ts < 0 {
			return kerr.InvalidRequest.Code
		}
		off, t, ok, err := p.Log().OffsetForTimestamp(ts)
		if err != nil {
			return errCode(err)
		}
		if ok && off < p.HighWatermark() {
			sp.Offset, sp.Timestamp = off, t
		}
	}
	return 0
}
