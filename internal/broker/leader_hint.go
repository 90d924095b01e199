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

// hints collects one response's KIP-951 hints: the leaders named
// (allocated with the first hint: most responses need none), and the
// topic of the partitions being hinted, looked up only for a partition
// that needs a hint.
type hints struct {
	b        *Broker
	byID     bool // the request names topics by ID (v13+)
	leaders  map[int32]bool
	id       [16]byte
	name     string
	t        *topic
	resolved bool
}

// topic makes the topic of id or name the one the next hints are for.
func (h *hints) topic(id [16]byte, name string) {
	h.id, h.name, h.t, h.resolved = id, name, nil, false
}

// hint is a partition's CurrentLeader (leader, epoch) for its answer
// code: -1, -1 when the code takes no hint (leaderHint).
func (h *hints) hint(part int32, code int16) (int32, int32) {
	if code != kerr.NotLeaderForPartition.Code && code != kerr.FencedLeaderEpoch.Code {
		return -1, -1
	}
	if h.leaders == nil {
		h.leaders = map[int32]bool{}
	}
	if !h.resolved {
		if h.byID {
			h.t = h.b.topicByID(h.id)
		} else {
			h.t = h.b.topic(h.name)
		}
		h.resolved = true
	}
	return h.b.leaderHint(h.t, part, code, h.leaders)
}

// produceLeaderHints fills a Produce response's KIP-951 hints.
func (b *Broker) produceLeaderHints(r *Request, req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse) {
	h := hints{b: b, byID: req.Version >= 13}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		h.topic(rt.TopicID, rt.Topic)
		for j := range rt.Partitions {
			p := &rt.Partitions[j]
			p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = h.hint(p.Partition, p.ErrorCode)
		}
	}
	for _, ep := range b.leaderEndpoints(r, h.leaders) {
		resp.Brokers = append(resp.Brokers, kmsg.ProduceResponseBroker{NodeID: ep.NodeID, Host: ep.Host, Port: ep.Port, Rack: ep.Rack})
	}
}

// fetchLeaderHints fills a Fetch response's KIP-951 hints: CurrentLeader
// from v12, the leaders' addresses (NodeEndpoints) from v16.
func (b *Broker) fetchLeaderHints(r *Request, req *kmsg.FetchRequest, resp *kmsg.FetchResponse) {
	if req.Version < 12 {
		return
	}
	h := hints{b: b, byID: req.Version >= 13}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		h.topic(rt.TopicID, rt.Topic)
		for j := range rt.Partitions {
			p := &rt.Partitions[j]
			p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = h.hint(p.Partition, p.ErrorCode)
		}
	}
	if req.Version < 16 {
		return
	}
	for _, ep := range b.leaderEndpoints(r, h.leaders) {
		resp.Brokers = append(resp.Brokers, kmsg.FetchResponseBroker{NodeID: ep.NodeID, Host: ep.Host, Port: ep.Port, Rack: ep.Rack})
	}
}
