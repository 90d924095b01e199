// Metadata (key 3), versions 0-13.
//
// This node is every partition's leader and only replica. Unknown topics are
// auto-created when the request allows it (v4+) and the broker's
// auto.create.topics.enable is true; creation is synchronous, so the first
// answer already carries the leader (Kafka answers LEADER_NOT_AVAILABLE
// once first). v10+ topics may be named by id.
package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.Metadata, 0, 13, (*Broker).handleMetadata) }

func (b *Broker) brokerList() []kmsg.MetadataResponseBroker {
	br := kmsg.NewMetadataResponseBroker()
	br.NodeID = b.cfg.NodeID
	br.Host = b.cfg.Host
	br.Port = b.cfg.Port
	return []kmsg.MetadataResponseBroker{br}
}

func (b *Broker) handleMetadata(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	resp.Brokers = b.brokerList()
	cid := b.ClusterID()
	resp.ClusterID = &cid
	resp.ControllerID = b.cfg.NodeID

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, name := range b.topicNames() {
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
			t = b.topic(*rt.Topic)
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
	for _, p := range t.parts {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.Index
		mp.Leader = b.cfg.NodeID
		mp.LeaderEpoch = p.LeaderEpoch()
		mp.Replicas = []int32{b.cfg.NodeID}
		mp.ISR = []int32{b.cfg.NodeID}
		mp.OfflineReplicas = []int32{}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
