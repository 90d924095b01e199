// DescribeShareGroupOffsets (key 90) versions 0-1, AlterShareGroupOffsets
// (key 91) version 0 and DeleteShareGroupOffsets (key 92) version 0: the
// admin view of share groups' positions (KIP-932), answered by the group's
// coordinator (NOT_COORDINATOR elsewhere) from the share-partition state
// its share coordinator keeps (share_hooks.go, the state APIs).
//
// Describe gives each share-partition's start offset, the leader epoch of
// its last writer and (v1) its lag: the high watermark minus the start
// offset minus the records in flight already acknowledged or archived; a
// partition without state has start offset -1. Without topics it lists
// every share-partition that has state. Alter and Delete need the group
// to be an empty share group (NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND
// otherwise): Alter starts each named partition over at the given offset
// with nothing in flight, under a new state epoch (the share-partition
// leader, fenced on its next write, reloads; a new share session reloads
// at once); Delete drops the state of every partition of the named
// topics, which then start over by share.auto.offset.reset. DeleteGroups
// of an empty share group deletes its state the same way.
package broker

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
)

func init() {
	register(kmsg.DescribeShareGroupOffsets, 0, 1, (*Broker).handleDescribeShareGroupOffsets)
	register(kmsg.AlterShareGroupOffsets, 0, 0, (*Broker).handleAlterShareGroupOffsets)
	register(kmsg.DeleteShareGroupOffsets, 0, 0, (*Broker).handleDeleteShareGroupOffsets)
}

// shareTopic is a topic as the share admin APIs see it.
type shareTopic struct {
	name  string
	id    [16]byte
	parts int32
}

// shareTopics resolves names (nil: every topic but internal ones).
func (b *Broker) shareTopics(names []string) (known []shareTopic, unknown []string) {
	if names == nil {
		for _, n := range b.topicNames() {
			if !strings.HasPrefix(n, "__") {
				names = append(names, n)
			}
		}
	}
	for _, n := range names {
		t := b.topic(n)
		if t == nil {
			unknown = append(unknown, n)
			continue
		}
		known = append(known, shareTopic{n, t.meta.ID, t.numPartitions()})
	}
	return known, unknown
}

// shareSummary reads the state summaries of tps for group.
func (b *Broker) shareSummary(ctx context.Context, group string, tps map[[16]byte][]int32) (*kmsg.ReadShareGroupStateSummaryResponse, error) {
	req := kmsg.NewPtrReadShareGroupStateSummaryRequest()
	req.Version = 1
	req.GroupID = group
	for id, ps := range tps {
		rt := kmsg.NewReadShareGroupStateSummaryRequestTopic()
		rt.TopicID = id
		for _, p := range ps {
			rp := kmsg.NewReadShareGroupStateSummaryRequestTopicPartition()
			rp.Partition, rp.LeaderEpoch = p, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := b.shareStateRequest(ctx, group, req, func(r kmsg.Response) int16 {
		for _, t := range r.(*kmsg.ReadShareGroupStateSummaryResponse).Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					return p.ErrorCode
				}
			}
		}
		return 0
	})
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.ReadShareGroupStateSummaryResponse), nil
}

// highWatermark is a partition's high watermark, from its leader (a
// ListOffsets to another broker); -1 when unknown.
func (b *Broker) highWatermark(ctx context.Context, name string, p int32) int64 {
	t := b.topic(name)
	if t == nil {
		return -1
	}
	if part, code := leaderPartition(t, p); code == 0 {
		return part.Snapshot().HighWatermark
	}
	st := b.metaState()
	mt, ok := st.Topics[name]
	if !ok || int(p) >= len(mt.Parts) || mt.Parts[p].Leader < 0 {
		return -1
	}
	cl, err := b.markerClient(mt.Parts[p].Leader)
	if err != nil {
		return -1
	}
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = name
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return -1
	}
	resp := kresp.(*kmsg.ListOffsetsResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		return -1
	}
	return resp.Topics[0].Partitions[0].Offset
}

func (b *Broker) handleDescribeShareGroupOffsets(ctx context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.DescribeShareGroupOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeShareGroupOffsetsResponse)
	return func() kmsg.Response {
		for _, rg := range req.Groups {
			g := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
			g.GroupID = rg.GroupID
			fail := func(code int16, msg string) {
				g.ErrorCode, g.ErrorMessage = code, &msg
				resp.Groups = append(resp.Groups, g)
			}
			if !b.allowed(r, security.OpDescribe, security.ResourceGroup, rg.GroupID) {
				fail(kerr.GroupAuthorizationFailed.Code, "not authorized to describe the group")
				continue
			}
			if _, code := b.groups.ShareGroupTopics(rg.GroupID); code != 0 {
				fail(code, kerr.ErrorForCode(code).Error())
				continue
			}
			var names []string
			parts := map[string][]int32{}
			if rg.Topics != nil {
				for _, t := range rg.Topics {
					names = append(names, t.Topic)
					parts[t.Topic] = t.Partitions
				}
			}
			known, unknown := b.shareTopics(names)
			tps := map[[16]byte][]int32{}
			for _, t := range known {
				ps := parts[t.name]
				if rg.Topics == nil {
					ps = nil
					for p := int32(0); p < t.parts; p++ {
						ps = append(ps, p)
					}
				}
				tps[t.id] = ps
			}
			sum, err := b.shareSummary(ctx, rg.GroupID, tps)
			if err != nil {
				fail(errCode(err), err.Error())
				continue
			}
			byID := map[[16]byte]map[int32]kmsg.ReadShareGroupStateSummaryResponseTopicPartition{}
			for _, t := range sum.Topics {
				m := map[int32]kmsg.ReadShareGroupStateSummaryResponseTopicPartition{}
				for _, p := range t.Partitions {
					m[p.Partition] = p
				}
				byID[t.TopicID] = m
			}
			for _, t := range known {
				rt := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
				rt.Topic, rt.TopicID = t.name, t.id
				for _, p := range tps[t.id] {
					s, ok := byID[t.id][p]
					if rg.Topics == nil && (!ok || s.StartOffset < 0) {
						continue // listing: only share-partitions with state
					}
					rp := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
					rp.Partition, rp.StartOffset, rp.LeaderEpoch, rp.Lag = p, -1, -1, -1
					switch {
					case !ok || p < 0 || p >= t.parts:
						rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
					case s.ErrorCode != 0:
						rp.ErrorCode = s.ErrorCode
					case s.StartOffset >= 0:
						rp.StartOffset, rp.LeaderEpoch = s.StartOffset, s.LeaderEpoch
						if hw := b.highWatermark(ctx, t.name, p); hw >= 0 {
							rp.Lag = max(hw-s.StartOffset-int64(max(s.DeliveryCompleteCount, 0)), 0)
						}
					}
					rt.Partitions = append(rt.Partitions, rp)
				}
				if len(rt.Partitions) > 0 || rg.Topics != nil {
					g.Topics = append(g.Topics, rt)
				}
			}
			for _, n := range unknown {
				rt := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
				rt.Topic = n
				for _, p := range parts[n] {
					rp := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
					rp.Partition, rp.StartOffset, rp.LeaderEpoch, rp.Lag = p, -1, -1, -1
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				g.Topics = append(g.Topics, rt)
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	}
}

func (b *Broker) handleAlterShareGroupOffsets(ctx context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.AlterShareGroupOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.AlterShareGroupOffsetsResponse)
	fail := func(code int16, msg string) Pending {
		resp.ErrorCode, resp.ErrorMessage = code, &msg
		return respond(resp)
	}
	if !b.allowed(r, security.OpRead, security.ResourceGroup, req.GroupID) {
		return fail(kerr.GroupAuthorizationFailed.Code, "not authorized on the group")
	}
	if code := b.groups.ShareGroupEmpty(req.GroupID); code != 0 {
		return fail(code, kerr.ErrorForCode(code).Error())
	}
	return func() kmsg.Response {
		tps := map[[16]byte][]int32{}
		var names []string
		for _, t := range req.Topics {
			names = append(names, t.Topic)
		}
		known, _ := b.shareTopics(names)
		ids := map[string]shareTopic{}
		for _, t := range known {
			ids[t.name] = t
		}
		for _, t := range req.Topics {
			if st, ok := ids[t.Topic]; ok {
				for _, p := range t.Partitions {
					if p.Partition >= 0 && p.Partition < st.parts {
						tps[st.id] = append(tps[st.id], p.Partition)
					}
				}
			}
		}
		sum, err := b.shareSummary(ctx, req.GroupID, tps)
		if err != nil {
			resp.ErrorCode, resp.ErrorMessage = errCode(err), kmsg.StringPtr(err.Error())
			return resp
		}
		epochs := map[[16]byte]map[int32]int32{}
		for _, t := range sum.Topics {
			epochs[t.TopicID] = map[int32]int32{}
			for _, p := range t.Partitions {
				epochs[t.TopicID][p.Partition] = p.StateEpoch
			}
		}
		ini := kmsg.NewPtrInitializeShareGroupStateRequest()
		ini.GroupID = req.GroupID
		for _, t := range req.Topics {
			st, ok := ids[t.Topic]
			if !ok {
				continue
			}
			it := kmsg.NewInitializeShareGroupStateRequestTopic()
			it.TopicID = st.id
			for _, p := range t.Partitions {
				if p.Partition < 0 || p.Partition >= st.parts || p.StartOffset < 0 {
					continue
				}
				ip := kmsg.NewInitializeShareGroupStateRequestTopicPartition()
				ip.Partition, ip.StateEpoch, ip.StartOffset = p.Partition, epochs[st.id][p.Partition]+1, p.StartOffset
				it.Partitions = append(it.Partitions, ip)
			}
			if len(it.Partitions) > 0 {
				ini.Topics = append(ini.Topics, it)
			}
		}
		codes := map[[16]byte]map[int32]int16{}
		if len(ini.Topics) > 0 {
			kresp, err := b.shareStateRequest(ctx, req.GroupID, ini, func(r kmsg.Response) int16 {
				for _, t := range r.(*kmsg.InitializeShareGroupStateResponse).Topics {
					for _, p := range t.Partitions {
						if p.ErrorCode != 0 {
							return p.ErrorCode
						}
					}
				}
				return 0
			})
			if err != nil {
				resp.ErrorCode, resp.ErrorMessage = errCode(err), kmsg.StringPtr(err.Error())
				return resp
			}
			for _, t := range kresp.(*kmsg.InitializeShareGroupStateResponse).Topics {
				codes[t.TopicID] = map[int32]int16{}
				for _, p := range t.Partitions {
					codes[t.TopicID][p.Partition] = p.ErrorCode
				}
			}
		}
		b.shares.Reset(req.GroupID)
		for _, t := range req.Topics {
			rt := kmsg.NewAlterShareGroupOffsetsResponseTopic()
			rt.Topic = t.Topic
			st, ok := ids[t.Topic]
			rt.TopicID = st.id
			for _, p := range t.Partitions {
				rp := kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
				rp.Partition = p.Partition
				switch {
				case !ok || p.Partition < 0 || p.Partition >= st.parts:
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case p.StartOffset < 0:
					rp.ErrorCode, rp.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(fmt.Sprintf("start offset %d", p.StartOffset))
				default:
					rp.ErrorCode = codes[st.id][p.Partition]
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
}

// deleteShareState deletes group's share-partition state on every
// partition of topics; it returns the error code per topic id.
func (b *Broker) deleteShareState(ctx context.Context, group string, topics []shareTopic) (map[[16]byte]int16, error) {
	del := kmsg.NewPtrDeleteShareGroupStateRequest()
	del.GroupID = group
	for _, t := range topics {
		dt := kmsg.NewDeleteShareGroupStateRequestTopic()
		dt.TopicID = t.id
		for p := int32(0); p < t.parts; p++ {
			dp := kmsg.NewDeleteShareGroupStateRequestTopicPartition()
			dp.Partition = p
			dt.Partitions = append(dt.Partitions, dp)
		}
		del.Topics = append(del.Topics, dt)
	}
	out := map[[16]byte]int16{}
	if len(del.Topics) == 0 {
		return out, nil
	}
	kresp, err := b.shareStateRequest(ctx, group, del, func(r kmsg.Response) int16 {
		for _, t := range r.(*kmsg.DeleteShareGroupStateResponse).Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					return p.ErrorCode
				}
			}
		}
		return 0
	})
	if err != nil {
		return nil, err
	}
	for _, t := range kresp.(*kmsg.DeleteShareGroupStateResponse).Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				out[t.TopicID] = p.ErrorCode
			}
		}
	}
	b.shares.Reset(group)
	return out, nil
}

func (b *Broker) handleDeleteShareGroupOffsets(ctx context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.DeleteShareGroupOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteShareGroupOffsetsResponse)
	fail := func(code int16, msg string) Pending {
		resp.ErrorCode, resp.ErrorMessage = code, &msg
		return respond(resp)
	}
	if !b.allowed(r, security.OpDelete, security.ResourceGroup, req.GroupID) {
		return fail(kerr.GroupAuthorizationFailed.Code, "not authorized to delete the group's offsets")
	}
	if code := b.groups.ShareGroupEmpty(req.GroupID); code != 0 {
		return fail(code, kerr.ErrorForCode(code).Error())
	}
	return func() kmsg.Response {
		var names []string
		for _, t := range req.Topics {
			names = append(names, t.Topic)
		}
		known, unknown := b.shareTopics(names)
		codes, err := b.deleteShareState(ctx, req.GroupID, known)
		if err != nil {
			resp.ErrorCode, resp.ErrorMessage = errCode(err), kmsg.StringPtr(err.Error())
			return resp
		}
		for _, t := range known {
			rt := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
			rt.Topic, rt.TopicID, rt.ErrorCode = t.name, t.id, codes[t.id]
			resp.Topics = append(resp.Topics, rt)
		}
		for _, n := range unknown {
			rt := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
			rt.Topic, rt.ErrorCode = n, kerr.UnknownTopicOrPartition.Code
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
}
