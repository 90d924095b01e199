package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-951 leader discovery: a partition answered NOT_LEADER_OR_FOLLOWER
// or FENCED_LEADER_EPOCH names its current leader and leader epoch as
// this broker's metadata knows them (CurrentLeader), and the response
// carries those leaders' addresses on the request's listener
// (NodeEndpoints), so a client moves to the new leader without a
// metadata round trip. Without it franz-go waits for its next metadata
// refresh (kgo.MetadataMinAge, 5s by default) before retrying a batch:
// seen as 3-5s produce stalls while a resize moved leaders or bumped their
// epochs. Served by
// Produce v10+, Fetch v12+ (the leader; v16+ with the addresses) and
// ShareFetch/ShareAcknowledge (older versions do not encode the fields).

// leaderHint is the current leader and epoch of partition p of t when
// code is NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH and the partition
// has a leader, else -1, -1. A leader named is added to leaders. The
// leader may be this broker: an acks=all produce that was waiting when
// its partition's leader epoch moved on (a reassignment changed the
// replicas, the leader stayed) is answered NOT_LEADER_OR_FOLLOWER
// (partition.WaitCommitted), and the newer epoch lets the client retry
// here at once instead of after a metadata refresh.
func (b *Broker) leaderHint(t *topic, p int32, code int16, leaders map[int32]bool) (int32, int32) {
	if code != kerr.NotLeaderForPartition.Code && code != kerr.FencedLeaderEpoch.Code {
		return -1, -1
	}
	if t == nil || p < 0 || int(p) >= len(t.meta.Parts) {
		return -1, -1
	}
	mp := t.meta.Parts[p]
	if mp.Leader < 0 {
		return -1, -1
	}
	leaders[mp.Leader] = true
	return mp.Leader, mp.LeaderEpoch
}

// nodeEndpoint is one broker's address in a response's NodeEndpoints.
type nodeEndpoint struct {
	NodeID int32
	Host   string
	Port   int32
	Rack   *string
}

// leaderEndpoints are the addresses, on r's listener, of the brokers in
// leaders (those named in CurrentLeader hints).
func (b *Broker) leaderEndpoints(r *Request, leaders map[int32]bool) []nodeEndpoint {
	st := b.metaState()
	var out []nodeEndpoint
	for id := range leaders {
		br, ok := st.Brokers[id]
		if !ok {
			continue
		}
		ep := nodeEndpoint{NodeID: id, Host: br.Host, Port: br.Port}
		if h, p, ok := br.Endpoint(r.ListenerName()); ok {
			ep.Host, ep.Port = h, p
		}
		if br.Rack != "" {
			ep.Rack = kmsg.StringPtr(br.Rack)
		}
		out = append(out, ep)
	}
	return out
}

// produceLeaderHints fills a Produce response's KIP-951 hints.
func (b *Broker) produceLeaderHints(r *Request, req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse) {
	leaders := map[int32]bool{}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		var t *topic
		for j := range rt.Partitions {
			p := &rt.Partitions[j]
			if p.ErrorCode != kerr.NotLeaderForPartition.Code && p.ErrorCode != kerr.FencedLeaderEpoch.Code {
				continue
			}
			if t == nil {
				if req.Version >= 13 {
					t = b.topicByID(rt.TopicID)
				} else {
					t = b.topic(rt.Topic)
				}
			}
			p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = b.leaderHint(t, p.Partition, p.ErrorCode, leaders)
		}
	}
	for _, ep := range b.leaderEndpoints(r, leaders) {
		resp.Brokers = append(resp.Brokers, kmsg.ProduceResponseBroker{NodeID: ep.NodeID, Host: ep.Host, Port: ep.Port, Rack: ep.Rack})
	}
}

// fetchLeaderHints fills a Fetch response's KIP-951 hints: CurrentLeader
// from v12, the leaders' addresses (NodeEndpoints) from v16.
func (b *Broker) fetchLeaderHints(r *Request, req *kmsg.FetchRequest, resp *kmsg.FetchResponse) {
	if req.Version < 12 {
		return
	}
	leaders := map[int32]bool{}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		var t *topic
		for j := range rt.Partitions {
			p := &rt.Partitions[j]
			if p.ErrorCode != kerr.NotLeaderForPartition.Code && p.ErrorCode != kerr.FencedLeaderEpoch.Code {
				continue
			}
			if t == nil {
				if req.Version >= 13 {
					t = b.topicByID(rt.TopicID)
				} else {
					t = b.topic(rt.Topic)
				}
			}
			p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = b.leaderHint(t, p.Partition, p.ErrorCode, leaders)
		}
	}
	if req.Version < 16 {
		return
	}
	for _, ep := range b.leaderEndpoints(r, leaders) {
		resp.Brokers = append(resp.Brokers, kmsg.FetchResponseBroker{NodeID: ep.NodeID, Host: ep.Host, Port: ep.Port, Rack: ep.Rack})
	}
}
