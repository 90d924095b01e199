package broker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/controller"
	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/partition"
)

func randInt(n int) int {
	if n <= 0 {
		return 0
	}
	return rand.IntN(n)
}

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
	if live := len(b.metaState().LiveBrokers()); int(s.replicationFactor) > live {
		return cerr(kerr.InvalidReplicationFactor, "replication factor %d is larger than the number of live brokers (%d)", s.replicationFactor, live)
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
		if _, ok := b.metaState().Brokers[r]; !ok {
			return cerr(kerr.InvalidReplicaAssignment, "unknown broker %d in replica assignment", r)
		}
	}
	return nil
}

// createTopic creates a checked topic through the controller, placing its
// replicas on the live brokers, and waits until this broker has applied it.
func (b *Broker) createTopic(s *topicSpec) (*topic, error) {
	mt, err := b.layoutTopic(s)
	if err != nil {
		return nil, err
	}
	if err := b.propose(&metadata.Command{CreateTopic: mt, MaxBrokerPartitions: b.maxBrokerPartitions()}); err != nil {
		return nil, err
	}
	t := b.topic(s.name)
	if t == nil {
		return nil, fmt.Errorf("%w: topic %q not visible after creation", metadata.ErrNoController, s.name)
	}
	b.log.Info("topic created", "topic", s.name, "partitions", s.partitions, "replication_factor", s.replicationFactor, "configs", s.configs)
	return t, nil
}

// layoutTopic places a checked topic's partitions (or takes its manual
// assignment) and checks them against max.broker.partitions, so a topic
// beyond capacity is refused before anything is proposed (the quorum
// checks again when it applies the command, against concurrent creates).
func (b *Broker) layoutTopic(s *topicSpec) (*metadata.Topic, error) {
	mt := &metadata.Topic{Name: s.name, ID: metadata.NewTopicID(), ReplicationFactor: s.replicationFactor, Configs: s.configs}
	if len(s.assignment) > 0 {
		for _, replicas := range s.assignment {
			mt.Parts = append(mt.Parts, newPartition(replicas))
		}
	} else {
		var err error
		if mt.Parts, err = b.place(s.partitions, int(s.replicationFactor), 0); err != nil {
			return nil, err
		}
	}
	if err := b.checkCapacity(mt.Parts); err != nil {
		return nil, err
	}
	return mt, nil
}

// maxBrokerPartitions is max.broker.partitions.
func (b *Broker) maxBrokerPartitions() int { return int(b.cfg.Broker.Int("max.broker.partitions")) }

// checkCapacity refuses new partitions that would make a broker host more
// than max.broker.partitions replicas (controller.CheckCapacity).
func (b *Broker) checkCapacity(parts []metadata.Partition) error {
	return controller.CheckCapacity(b.metaState().HostedReplicas(), parts, b.maxBrokerPartitions())
}

func newPartition(replicas []int32) metadata.Partition { return controller.NewPartition(replicas) }

// place assigns n partitions (numbered from first) to rf live brokers each
// (controller.Place), from a random start so topics do not all begin on the
// same broker.
func (b *Broker) place(n int32, rf int, first int32) ([]metadata.Partition, error) {
	live := b.metaState().LiveBrokers()
	brokers := make([]controller.PlacementBroker, len(live))
	for i, br := range live {
		brokers[i] = controller.PlacementBroker{ID: br.ID, Rack: br.Rack}
	}
	return controller.Place(brokers, n, rf, first, randInt(len(brokers)))
}

// propose applies cmd through the controller and waits until this broker's
// view includes it.
func (b *Broker) propose(cmd *metadata.Command) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := b.quorum.Propose(ctx, cmd)
	if err != nil {
		return err
	}
	if err := res.Error(); err != nil {
		if errors.Is(err, metadata.ErrConfigConflict) && b.quorum.WaitApplied(ctx, res.Index) == nil {
			// The caller reads the configs again and retries: first
			// apply the change this one lost to.
			b.reconcile(b.quorum.State())
		}
		return err
	}
	if err := b.quorum.WaitApplied(ctx, res.Index); err != nil {
		return err
	}
	// The reconcile loop may not have run yet; run it now.
	b.reconcile(b.quorum.State())
	return nil
}

// awaitVisible waits until every live broker answers from a metadata view
// that includes this broker's (so it includes the changes this broker
// just committed; see metadata/visible.go), at most timeoutMillis from
// start. A timeout <= 0 does not wait: Kafka answers such a request without
// waiting for the change to complete.
func (b *Broker) awaitVisible(start time.Time, timeoutMillis int32) error {
	if timeoutMillis <= 0 {
		return nil
	}
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(time.Duration(timeoutMillis)*time.Millisecond))
	defer cancel()
	return b.quorum.WaitVisibleEverywhere(ctx, b.metaState().Index)
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
	t, err := b.createTopic(s)
	if errors.Is(err, metadata.ErrTopicExists) {
		if t := b.topic(name); t != nil {
			return t, nil
		}
	}
	return t, err
}

// deleteTopic deletes a topic through the controller; every replica's data
// is removed as brokers apply it.
func (b *Broker) deleteTopic(t *topic) error {
	if err := b.propose(&metadata.Command{DeleteTopic: &metadata.DeleteTopic{Name: t.meta.Name}}); err != nil {
		return err
	}
	b.log.Info("topic deleted", "topic", t.meta.Name)
	return nil
}

// addPartitions grows t to n partitions (with validateOnly, only checks).
func (b *Broker) addPartitions(t *topic, n int32, assignment [][]int32, validateOnly bool) error {
	cur := t.numPartitions()
	var parts []metadata.Partition
	if len(assignment) > 0 {
		for _, a := range assignment {
			parts = append(parts, newPartition(a))
		}
	} else {
		var err error
		if parts, err = b.place(n-cur, int(t.meta.ReplicationFactor), cur); err != nil {
			return err
		}
	}
	if err := b.checkCapacity(parts); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	if err := b.propose(&metadata.Command{CreatePartitions: &metadata.CreatePartitions{Name: t.meta.Name, Parts: parts},
		MaxBrokerPartitions: b.maxBrokerPartitions()}); err != nil {
		return err
	}
	b.log.Info("partitions added", "topic", t.meta.Name, "partitions", n)
	return nil
}

// setTopicConfigs replaces t's explicit configs if they are still from
// (metadata.ErrConfigConflict otherwise).
func (b *Broker) setTopicConfigs(t *topic, configs, from map[string]string) error {
	expect := metadata.ExpectConfigs{Check: true, Configs: from}
	if err := b.propose(&metadata.Command{SetTopicConfigs: &metadata.SetTopicConfigs{Name: t.meta.Name, Configs: configs, Expect: expect}}); err != nil {
		return err
	}
	b.log.Info("topic configs changed", "topic", t.meta.Name, "configs", configs)
	return nil
}

// isInternalTopic reports Kafka's internal topics.
func isInternalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}

// leaderPartition returns the local leader replica of t's partition i, or
// the wire error: UNKNOWN_TOPIC_OR_PARTITION for a partition that does not
// exist, NOT_LEADER_OR_FOLLOWER when this broker does not lead it.
func leaderPartition(t *topic, i int32) (*partition.Partition, int16) {
	if t == nil || i < 0 || i >= t.numPartitions() {
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	p := t.partition(i)
	if p == nil || !p.IsLeader() {
		if code := offlineCode(t, i, p); code != 0 {
			return nil, code
		}
		return nil, kerr.NotLeaderForPartition.Code
	}
	return p, 0
}
