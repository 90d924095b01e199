// CreateTopics (key 19), versions 0-7; DeleteTopics (key 20), versions 0-6;
// CreatePartitions (key 37), versions 0-3. CreateTopics v0-1 and DeleteTopics
// v0 (removed in Kafka 4, KIP-896) differ from later versions only in the
// fields kmsg leaves out (v0 has no validate_only, so it always creates).
//
// Names, partition counts, replication factors, manual assignments and
// configs are checked as Kafka does (see checkTopic); ValidateOnly checks
// without creating. Deleting a topic removes its data.
//
// A change is answered once every live broker serves metadata that includes
// it (metadata/visible.go), so a Metadata request to any broker right after
// sees it; if that takes longer than the request's timeout, the change
// stays committed and its result is REQUEST_TIMED_OUT, as in Kafka. A
// timeout <= 0 answers without waiting.
package broker

import (
	"context"
	"maps"
	"time"

	"github.com/tributary/tributary/internal/security"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(kmsg.CreateTopics, 0, 7, (*Broker).handleCreateTopics)
	register(kmsg.DeleteTopics, 0, 6, (*Broker).handleDeleteTopics)
	register(kmsg.CreatePartitions, 0, 3, (*Broker).handleCreatePartitions)
}

func (b *Broker) handleCreateTopics(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	start := time.Now()
	clusterCreate := b.probeCluster(r, security.OpCreate)
	mq := b.mutations(r, req.Version >= 6, req.ValidateOnly) // controller_mutation_rate (quotas.go)
	b.createTopics(req, resp, func(name string) bool {
		return clusterCreate || b.allowed(r, security.OpCreate, security.ResourceTopic, name)
	}, mq)
	resp.ThrottleMillis = mq.done()
	if !req.ValidateOnly {
		b.answerWhenVisible(start, req.TimeoutMillis, func(yield func(*int16, **string)) {
			for i := range resp.Topics {
				yield(&resp.Topics[i].ErrorCode, &resp.Topics[i].ErrorMessage)
			}
		})
	}
	return respond(resp)
}

// answerWhenVisible waits until the changes a request made are visible on
// every live broker (awaitVisible); if the wait times out, the results that
// succeeded get REQUEST_TIMED_OUT, as Kafka answers when a change did not
// complete within the request's timeout.
func (b *Broker) answerWhenVisible(start time.Time, timeoutMillis int32, results func(yield func(code *int16, msg **string))) {
	changed := false
	results(func(code *int16, _ **string) { changed = changed || *code == 0 })
	if !changed {
		return
	}
	if err := b.awaitVisible(start, timeoutMillis); err != nil {
		b.log.Warn("admin change not yet applied by every live broker", "err", err)
		results(func(code *int16, msg **string) {
			if *code == 0 {
				*code, *msg = errCode(err), errMsg(err)
			}
		})
	}
}

// allow reports whether the requester may create a topic (CREATE on the
// cluster or the topic); a refused one gets TOPIC_AUTHORIZATION_FAILED.
func (b *Broker) createTopics(req *kmsg.CreateTopicsRequest, resp *kmsg.CreateTopicsResponse, allow func(string) bool, mq *mutations) {
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	b.createMu.Lock()
	defer b.createMu.Unlock()
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		if !allow(rt.Topic) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			st.ErrorMessage = strp("not authorized to create topic " + rt.Topic)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if seen[rt.Topic] > 1 {
			st.ErrorCode = kerr.InvalidRequest.Code
			st.ErrorMessage = strp("topic " + rt.Topic + " appears more than once in the request")
			resp.Topics = append(resp.Topics, st)
			continue
		}
		s := &topicSpec{name: rt.Topic, partitions: rt.NumPartitions, replicationFactor: rt.ReplicationFactor, configs: map[string]string{}}
		for _, a := range rt.ReplicaAssignment {
			s.assignment = append(s.assignment, a.Replicas)
		}
		for _, c := range rt.Configs {
			if c.Value != nil {
				s.configs[c.Name] = *c.Value
			}
		}
		err := b.checkTopic(s)
		if err == nil && mq.refused() {
			err = errThrottled
		}
		if err == nil && req.ValidateOnly {
			_, err = b.layoutTopic(s)
		} else if err == nil {
			var t *topic
			if t, err = b.createTopic(s); err == nil {
				st.TopicID = t.meta.ID
				mq.record(s.partitions)
			}
		}
		if err != nil {
			st.ErrorCode = errCode(err)
			st.ErrorMessage = errMsg(err)
		} else {
			st.NumPartitions, st.ReplicationFactor = s.partitions, s.replicationFactor
			st.Configs = b.createdConfigs(s.configs)
		}
		resp.Topics = append(resp.Topics, st)
	}
}

// createdConfigs lists a new topic's effective configs (CreateTopics v5+).
func (b *Broker) createdConfigs(explicit map[string]string) []kmsg.CreateTopicsResponseTopicConfig {
	var out []kmsg.CreateTopicsResponseTopicConfig
	for _, e := range b.describeTopicConfigs(maps.Clone(explicit), nil, false, false) {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = e.Name, e.Value, e.ReadOnly, int8(e.Source), e.IsSensitive
		out = append(out, c)
	}
	return out
}

func (b *Broker) handleDeleteTopics(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	targets := req.Topics
	if req.Version < 6 {
		for _, n := range req.TopicNames {
			targets = append(targets, kmsg.DeleteTopicsRequestTopic{Topic: &n})
		}
	}
	start := time.Now()
	mq := b.mutations(r, req.Version >= 5, false)
	b.deleteTopics(targets, resp, func(name string) bool { return b.allowed(r, security.OpDelete, security.ResourceTopic, name) }, mq)
	resp.ThrottleMillis = mq.done()
	b.answerWhenVisible(start, req.TimeoutMillis, func(yield func(*int16, **string)) {
		for i := range resp.Topics {
			yield(&resp.Topics[i].ErrorCode, &resp.Topics[i].ErrorMessage)
		}
	})
	return respond(resp)
}

// allow reports whether the requester may delete a topic (DELETE on it).
func (b *Broker) deleteTopics(targets []kmsg.DeleteTopicsRequestTopic, resp *kmsg.DeleteTopicsResponse, allow func(string) bool, mq *mutations) {
	b.createMu.Lock()
	defer b.createMu.Unlock()
	for _, rt := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var t *topic
		if rt.Topic != nil {
			t = b.topic(*rt.Topic)
		} else {
			t = b.topicByID(rt.TopicID)
		}
		switch {
		case rt.Topic != nil && !allow(*rt.Topic), t != nil && rt.Topic == nil && !allow(t.meta.Name):
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
		case t == nil && rt.Topic == nil:
			st.ErrorCode = kerr.UnknownTopicID.Code
		case t == nil:
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		case !b.cfg.Broker.Bool("delete.topic.enable"):
			st.ErrorCode = kerr.TopicDeletionDisabled.Code
		case mq.refused():
			st.ErrorCode, st.ErrorMessage = errCode(errThrottled), errMsg(errThrottled)
		default:
			name := t.meta.Name
			st.Topic, st.TopicID = &name, t.meta.ID
			if err := b.deleteTopic(t); err != nil {
				st.ErrorCode, st.ErrorMessage = errCode(err), errMsg(err)
			} else {
				mq.record(t.numPartitions())
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
}

func (b *Broker) handleCreatePartitions(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	start := time.Now()
	mq := b.mutations(r, req.Version >= 3, req.ValidateOnly)
	func() {
		b.createMu.Lock()
		defer b.createMu.Unlock()
		for _, rt := range req.Topics {
			st := kmsg.NewCreatePartitionsResponseTopic()
			st.Topic = rt.Topic
			if !b.allowed(r, security.OpAlter, security.ResourceTopic, rt.Topic) {
				st.ErrorCode = kerr.TopicAuthorizationFailed.Code
				resp.Topics = append(resp.Topics, st)
				continue
			}
			var cur int32
			if t := b.topic(rt.Topic); t != nil {
				cur = t.numPartitions()
			}
			var err error
			if mq.refused() {
				err = errThrottled
			} else if err = b.createPartitions(rt, req.ValidateOnly); err == nil && !req.ValidateOnly {
				mq.record(rt.Count - cur)
			}
			st.ErrorCode, st.ErrorMessage = errCode(err), errMsg(err)
			resp.Topics = append(resp.Topics, st)
		}
	}()
	resp.ThrottleMillis = mq.done()
	if !req.ValidateOnly {
		b.answerWhenVisible(start, req.TimeoutMillis, func(yield func(*int16, **string)) {
			for i := range resp.Topics {
				yield(&resp.Topics[i].ErrorCode, &resp.Topics[i].ErrorMessage)
			}
		})
	}
	return respond(resp)
}

func (b *Broker) createPartitions(rt kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	t := b.topic(rt.Topic)
	if t == nil {
		return cerr(kerr.UnknownTopicOrPartition, "topic %q does not exist", rt.Topic)
	}
	cur := t.numPartitions()
	if rt.Count <= cur {
		return cerr(kerr.InvalidPartitions, "topic %q has %d partitions; the new count must be larger", rt.Topic, cur)
	}
	if rt.Count-cur > maxPartitionsPerRequest {
		return cerr(kerr.PolicyViolation, "adding %d partitions at once exceeds the limit of %d", rt.Count-cur, maxPartitionsPerRequest)
	}
	var assignment [][]int32
	if rt.Assignment != nil {
		if int32(len(rt.Assignment)) != rt.Count-cur {
			return cerr(kerr.InvalidReplicaAssignment, "assignment has %d partitions, %d are being added", len(rt.Assignment), rt.Count-cur)
		}
		for _, a := range rt.Assignment {
			if err := b.checkReplicas(a.Replicas, int(t.meta.ReplicationFactor)); err != nil {
				return err
			}
			assignment = append(assignment, a.Replicas)
		}
	}
	return b.addPartitions(t, rt.Count, assignment, validateOnly)
}

func strp(s string) *string { return &s }
