// ListOffsets (key 2), versions 0-11.
//
// v0 (removed in Kafka 4, KIP-896; Burrow 1.2 and other ZooKeeper-era tools
// still send it) answers old_style_offsets, up to max_num_offsets of them,
// largest first, as Kafka 3.x did: the candidates are every segment's base
// offset (raised to the log start offset), each stamped with its file's
// modification time, plus the log end offset stamped now if the active
// segment is not empty. -1 (latest) returns them from the newest, -2
// (earliest) the oldest only, any other timestamp those whose time is at or
// before it. For a consumer (replica id -1) an offset above the high
// watermark is replaced by the high watermark.
//
// Special timestamps: -1 latest (high watermark, or last stable offset for
// read_committed), -2 earliest (log start), -3 max timestamp (v7+: the first
// record with the largest timestamp), -4 earliest local (v8+: the log start,
// as nothing is tiered), -5 latest tiered and -6 earliest pending upload
// (v9+/v11+: offset -1, as nothing is tiered). Any other value finds the
// first record whose timestamp is at or after it, or offset -1 if none.
package broker

import (
	"cmp"
	"context"
	"os"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/partition"

	"github.com/tributary/tributary/internal/security"
)

func init() { register(kmsg.ListOffsets, 0, 11, (*Broker).handleListOffsets) }

func (b *Broker) handleListOffsets(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := b.topic(rt.Topic)
		authorized := b.allowed(r, security.OpDescribe, security.ResourceTopic, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset = -1, -1
			p, code := leaderPartition(t, rp.Partition)
			if !authorized {
				code = kerr.TopicAuthorizationFailed.Code
			}
			if code != 0 {
				sp.ErrorCode = code
			} else if code := checkLeaderEpoch(p, rp.CurrentLeaderEpoch); code != 0 {
				sp.ErrorCode = code
			} else if req.Version == 0 {
				offs, err := oldStyleOffsets(p, rp.Timestamp, rp.MaxNumOffsets, req.ReplicaID == -1, b.now())
				if err != nil {
					sp.ErrorCode = errCode(err)
				}
				sp.OldStyleOffsets = offs
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
		sp.Offset = p.Snapshot().LogStartOffset
	case -5, -6:
	case -3:
		off, t, ok, err := p.MaxTimestamp()
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
		limit := partition.ReadUncommitted
		if isolation == 1 {
			limit = partition.ReadCommitted
		}
		off, t, ok, err := p.OffsetForTimestamp(ts, limit)
		if err != nil {
			return errCode(err)
		}
		if ok {
			sp.Offset, sp.Timestamp = off, t
		}
	}
	return 0
}

// oldStyleOffsets answers ListOffsets v0 for one partition (see the file
// comment). consumer caps the answer at the high watermark.
func oldStyleOffsets(p *partition.Partition, ts int64, maxNum int32, consumer bool, now time.Time) ([]int64, error) {
	if maxNum < 0 {
		return nil, kerr.InvalidRequest
	}
	type stamped struct{ offset, ms int64 }
	snap := p.Snapshot()
	start := snap.LogStartOffset
	segs := p.Segments()
	var cands []stamped
	for _, s := range segs {
		fi, err := os.Stat(s.Path)
		if err != nil {
			continue // deleted by retention meanwhile
		}
		cands = append(cands, stamped{max(s.BaseOffset, start), fi.ModTime().UnixMilli()})
	}
	if len(segs) > 0 && segs[len(segs)-1].Size > 0 {
		cands = append(cands, stamped{snap.LogEndOffset, now.UnixMilli()})
	}
	from := -1 // index of the newest candidate to return
	switch ts {
	case -1:
		from = len(cands) - 1
	case -2:
		if len(cands) > 0 {
			from = 0
		}
	default:
		for i := len(cands) - 1; i >= 0; i-- {
			if cands[i].ms <= ts {
				from = i
				break
			}
		}
	}
	n := min(int(maxNum), from+1)
	out := make([]int64, 0, max(n, 0))
	for i := from; i > from-n; i-- {
		out = append(out, cands[i].offset)
	}
	slices.SortFunc(out, func(a, b int64) int { return cmp.Compare(b, a) })
	if consumer {
		hw := p.HighWatermark()
		i := 0
		for i < len(out) && out[i] > hw {
			i++
		}
		if i > 0 {
			out = append([]int64{hw}, out[i:]...)
		}
	}
	return out, nil
}
