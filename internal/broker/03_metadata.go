// Metadata (key 3), versions 0-13.
//
// Brokers are the live (unfenced) brokers; partitions carry the leader,
// replicas, ISR and leader epoch from the metadata quorum, with
// LEADER_NOT_AVAILABLE for a partition without a leader. Unknown topics are
// auto-created when the request allows it (v4+) and the broker's
// auto.create.topics.enable is true; creation is synchronous, so the first
// answer already carries the leader (Kafka answers LEADER_NOT_AVAILABLE
// once first). v10+ topics may be named by id.
package broker

import (
	"context"
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
)

func init() { register(kmsg.Metadata, 0, 13, (*Broker).handleMetadata) }

// brokerList is the live (unfenced) brokers.
// Each is described by its address on the listener the request came in
// on; as in Kafka, a broker without that listener is left out.
func (b *Broker) brokerList(listener string) []kmsg.MetadataResponseBroker {
	var out []kmsg.MetadataResponseBroker
	for _, mb := range b.metaState().LiveBrokers() {
		host, port, ok := mb.Endpoint(listener)
		if !ok {
			continue
		}
		br := kmsg.NewMetadataResponseBroker()
		br.NodeID, br.Host, br.Port = mb.ID, host, port
		if mb.Rack != "" {
			br.Rack = kmsg.StringPtr(mb.Rack)
		}
		out = append(out, br)
	}
	return out
}

// controllerID is the active controller's node id, or -1.
func (b *Broker) controllerID() int32 { return b.quorum.LeaderID() }

func (b *Broker) handleMetadata(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	resp.Brokers = b.brokerList(r.ListenerName())
	cid := b.ClusterID()
	resp.ClusterID = &cid
	resp.ControllerID = b.controllerID()

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, name := range b.topicNames() {
			if !b.allowed(r, security.OpDescribe, security.ResourceTopic, name) {
				continue // as Kafka: unauthorized topics are left out
			}
			if t := b.topic(name); t != nil {
				resp.Topics = append(resp.Topics, b.metadataTopic(t))
			}
		}
		return respond(resp)
	}
	allowAuto := req.Version < 4 || req.AllowAutoTopicCreation
	for _, rt := range req.Topics {
		var t *topic
		switch {
		case rt.Topic != nil:
			if !b.allowed(r, security.OpDescribe, security.ResourceTopic, *rt.Topic) {
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic, mt.ErrorCode = rt.Topic, kerr.TopicAuthorizationFailed.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			t = b.topic(*rt.Topic)
			if t == nil && allowAuto && b.cfg.Broker.Bool("auto.create.topics.enable") &&
				!b.probeCluster(r, security.OpCreate) && !b.allowed(r, security.OpCreate, security.ResourceTopic, *rt.Topic) {
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic, mt.ErrorCode = rt.Topic, kerr.TopicAuthorizationFailed.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			if t == nil && allowAuto && b.cfg.Broker.Bool("auto.create.topics.enable") {
				var err error
				t, err = b.autoCreate(*rt.Topic)
				if err != nil {
					mt := kmsg.NewMetadataResponseTopic()
					mt.Topic = rt.Topic
					mt.ErrorCode = errCode(err)
					var ce *createError
					if errors.As(err, &ce) && ce.code == kerr.TopicAlreadyExists {
						mt.ErrorCode = kerr.LeaderNotAvailable.Code
					}
					resp.Topics = append(resp.Topics, mt)
					continue
				}
			}
			if t == nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic = rt.Topic
				mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
				if validateTopicName(*rt.Topic) != nil {
					mt.ErrorCode = kerr.InvalidTopicException.Code
				}
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		default:
			t = b.topicByID(rt.TopicID)
			if t != nil && !b.allowed(r, security.OpDescribe, security.ResourceTopic, t.meta.Name) {
				t = nil // as Kafka: an id the client may not describe is unknown
			}
			if t == nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		}
		resp.Topics = append(resp.Topics, b.metadataTopic(t))
	}
	return respond(resp)
}

func (b *Broker) metadataTopic(t *topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.meta.Name
	mt.Topic = &name
	mt.TopicID = t.meta.ID
	mt.IsInternal = isInternalTopic(name)
	st := b.metaState()
	for i, ps := range t.meta.Parts {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = int32(i)
		mp.Leader = ps.Leader
		mp.LeaderEpoch = ps.LeaderEpoch
		mp.Replicas = slices.Clone(ps.Replicas)
		mp.ISR = slices.Clone(ps.ISR)
		mp.OfflineReplicas = []int32{}
		for _, r := range ps.Replicas {
			if br, ok := st.Brokers[r]; !ok || br.Fenced || slices.Contains(ps.Offline, r) {
				mp.OfflineReplicas = append(mp.OfflineReplicas, r)
			}
		}
		if ps.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
