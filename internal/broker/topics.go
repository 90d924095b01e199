package broker

import (
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/storage"
)

const maxTopicNameLen = 249

// maxPartitionsPerRequest bounds the partitions one request may create, as
// Kafka's controller bounds the records of one operation (POLICY_VIOLATION).
const maxPartitionsPerRequest = 10000

// validateTopicName applies Kafka's topic name rules.
func validateTopicName(name string) error {
	switch {
	case name == "":
		return errors.New("topic name is empty")
	case name == "." || name == "..":
		return fmt.Errorf("topic name %q is not allowed", name)
	case len(name) > maxTopicNameLen:
		return fmt.Errorf("topic name is longer than %d characters", maxTopicNameLen)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic name %q contains a character other than ASCII alphanumerics, '.', '_' and '-'", name)
		}
	}
	return nil
}

// collisionName maps '.' to '_': Kafka refuses two topics that differ only
// there, because metric names would collide.
func collisionName(name string) string { return strings.ReplaceAll(name, ".", "_") }

// topicSpec is a topic to create.
type topicSpec struct {
	name              string
	partitions        int32 // -1: num.partitions
	replicationFactor int16 // -1: default.replication.factor
	assignment        [][]int32
	configs           map[string]string
}

// createError pairs a wire error with a message.
type createError struct {
	code *kerr.Error
	msg  string
}

func (e *createError) Error() string { return e.msg }
func (e *createError) Unwrap() error { return e.code }

func cerr(code *kerr.Error, format string, args ...any) error {
	return &createError{code: code, msg: fmt.Sprintf(format, args...)}
}

// checkTopic validates a create request and resolves defaults in place.
func (b *Broker) checkTopic(s *topicSpec) error {
	if err := validateTopicName(s.name); err != nil {
		return cerr(kerr.InvalidTopicException, "%v", err)
	}
	if b.topic(s.name) != nil {
		return cerr(kerr.TopicAlreadyExists, "topic %q already exists", s.name)
	}
	coll := collisionName(s.name)
	for _, n := range b.topicNames() {
		if collisionName(n) == coll {
			return cerr(kerr.InvalidTopicException, "topic %q collides with existing topic %q", s.name, n)
		}
	}
	if len(s.assignment) > 0 {
		if s.partitions != -1 || s.replicationFactor != -1 {
			return cerr(kerr.InvalidRequest, "both replica assignment and partitions/replication factor were set")
		}
		s.partitions = int32(len(s.assignment))
		s.replicationFactor = int16(len(s.assignment[0]))
		for _, replicas := range s.assignment {
			if err := b.checkReplicas(replicas, int(s.replicationFactor)); err != nil {
				return err
			}
		}
	}
	if s.partitions == -1 {
		s.partitions = int32(b.cfg.Broker.Int("num.partitions"))
	}
	if s.replicationFactor == -1 {
		s.replicationFactor = int16(b.cfg.Broker.Int("default.replication.factor"))
	}
	if s.partitions <= 0 {
		return cerr(kerr.InvalidPartitions, "number of partitions must be larger than 0")
	}
	if s.partitions > maxPartitionsPerRequest {
		return cerr(kerr.PolicyViolation, "creating %d partitions at once exceeds the limit of %d", s.partitions, maxPartitionsPerRequest)
	}
	if s.replicationFactor <= 0 {
		return cerr(kerr.InvalidReplicationFactor, "replication factor must be larger than 0")
	}
	if s.replicationFactor > 1 {
		return cerr(kerr.InvalidReplicationFactor, "replication factor %d is larger than the number of live brokers (1)", s.replicationFactor)
	}
	for k, v := range s.configs {
		if err := config.ValidateTopic(k, v); err != nil {
			return cerr(kerr.InvalidConfig, "%v", err)
		}
	}
	return nil
}

// checkReplicas validates one partition's manual replica assignment.
func (b *Broker) checkReplicas(replicas []int32, rf int) error {
	if len(replicas) != rf {
		return cerr(kerr.InvalidReplicaAssignment, "all partitions must have the same number of replicas")
	}
	seen := map[int32]bool{}
	for _, r := range replicas {
		if seen[r] {
			return cerr(kerr.InvalidReplicaAssignment, "duplicate replica %d", r)
		}
		seen[r] = true
		if r != b.cfg.NodeID {
			return cerr(kerr.InvalidReplicaAssignment, "unknown broker %d in replica assignment", r)
		}
	}
	return nil
}

// createTopic creates a checked topic and opens its partitions.
func (b *Broker) createTopic(s *topicSpec) (*topic, error) {
	mt := &metadata.Topic{Name: s.name, ID: metadata.NewTopicID(), Partitions: s.partitions, ReplicationFactor: s.replicationFactor, Configs: s.configs}
	t, err := b.openTopic(mt)
	if err != nil {
		return nil, err
	}
	if err := b.meta.CreateTopic(mt); err != nil {
		for _, p := range t.parts {
			p.Delete()
		}
		return nil, err
	}
	b.publish(t)
	b.log.Info("topic created", "topic", s.name, "partitions", s.partitions, "configs", s.configs)
	return t, nil
}

// autoCreate creates name with broker defaults if auto.create.topics.enable.
func (b *Broker) autoCreate(name string) (*topic, error) {
	if t := b.topic(name); t != nil {
		return t, nil
	}
	b.createMu.Lock()
	defer b.createMu.Unlock()
	s := &topicSpec{name: name, partitions: -1, replicationFactor: -1}
	if err := b.checkTopic(s); err != nil {
		if t := b.topic(name); t != nil {
			return t, nil
		}
		return nil, err
	}
	return b.createTopic(s)
}

// deleteTopic removes a topic and its data.
func (b *Broker) deleteTopic(t *topic) error {
	if err := b.meta.DeleteTopic(t.meta.Name); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.topics, t.meta.Name)
	delete(b.byID, t.meta.ID)
	b.mu.Unlock()
	for _, p := range t.parts {
		if err := p.Delete(); err != nil {
			b.log.Error("deleting partition data", "topic", t.meta.Name, "partition", p.Index, "err", err)
		}
	}
	if b.groups != nil {
		b.groups.TopicDeleted(t.meta.Name)
	}
	b.log.Info("topic deleted", "topic", t.meta.Name)
	return nil
}

// addPartitions grows t to n partitions.
func (b *Broker) addPartitions(t *topic, n int32) error {
	nt := &topic{meta: t.meta.Clone(), cfg: t.cfg, parts: append([]*partition.Partition(nil), t.parts...)}
	for i := int32(len(t.parts)); i < n; i++ {
		p, err := b.openPartition(t.meta.Name, i, t.cfg)
		if err != nil {
			return err
		}
		nt.parts = append(nt.parts, p)
	}
	if err := b.meta.SetPartitions(t.meta.Name, n); err != nil {
		return err
	}
	nt.meta.Partitions = n
	b.publish(nt)
	b.log.Info("partitions added", "topic", t.meta.Name, "partitions", n)
	return nil
}

// setTopicConfigs replaces t's explicit configs.
func (b *Broker) setTopicConfigs(t *topic, configs map[string]string) error {
	if err := b.meta.SetTopicConfigs(t.meta.Name, configs); err != nil {
		return err
	}
	nt := &topic{meta: t.meta.Clone(), parts: t.parts}
	nt.meta.Configs = configs
	nt.cfg = config.NewTopicConfig(configs, b.cfg.Broker)
	for _, p := range nt.parts {
		p.Log().SetOptions(storage.FromConfig(nt.cfg.Get))
	}
	b.publish(nt)
	b.log.Info("topic configs changed", "topic", t.meta.Name, "configs", configs)
	return nil
}

// isInternalTopic reports Kafka's internal topics.
func isInternalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}
