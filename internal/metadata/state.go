package metadata

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
)

// Errors from applying commands; the broker maps them to wire codes.
var (
	ErrTopicExists       = errors.New("topic already exists")
	ErrUnknownTopic      = errors.New("unknown topic")
	ErrUnknownBroker     = errors.New("unknown broker")
	ErrStaleEpoch        = errors.New("stale leader or partition epoch")
	ErrIneligible        = errors.New("replica is not eligible for the ISR")
	ErrInvalidCommand    = errors.New("invalid metadata command")
	ErrNotController     = errors.New("this node is not the active controller")
	ErrNoController      = errors.New("no active controller")
	ErrInvalidPartitions = errors.New("invalid partition count")

	ErrInvalidReplicaAssignment = errors.New("invalid replica assignment")
	ErrInvalidReplicationFactor = errors.New("invalid replication factor")
	ErrNoReassignment           = errors.New("no partition reassignment is in progress")
	ErrElectionNotNeeded        = errors.New("leader election not needed")
	ErrPreferredNotAvailable    = errors.New("preferred leader is not available")
	ErrEligibleNotAvailable     = errors.New("no eligible leader is available")
)

// Broker is a registered broker.
type Broker struct {
	ID       int32  `json:"id"`
	Host     string `json:"host"`
	Port     int32  `json:"port"`
	Rack     string `json:"rack,omitempty"`
	RaftAddr string `json:"raft_addr"`
	Fenced   bool   `json:"fenced"`
	// Incarnation is random per broker process start. A registration with a
	// new incarnation is a restart: the broker first loses its leaderships
	// and ISR places, as if fenced, because its unflushed tail may be gone.
	Incarnation string `json:"incarnation"`
	// Epoch increases with every registration.
	Epoch int64 `json:"epoch"`
}

// Partition is one partition's replica assignment and leadership.
type Partition struct {
	Replicas []int32 `json:"replicas"`
	ISR      []int32 `json:"isr"`
	Leader   int32   `json:"leader"` // -1: offline
	// LeaderEpoch increases with every leader change.
	LeaderEpoch int32 `json:"leader_epoch"`
	// PartitionEpoch increases with every change of this record.
	PartitionEpoch int32 `json:"partition_epoch"`
	// AddingReplicas and RemovingReplicas are set while a reassignment
	// (KIP-455) is in progress. Replicas is then the target replicas
	// followed by the removing ones, so every replica of either set keeps
	// (or gets) a copy until the switch.
	AddingReplicas   []int32 `json:"adding_replicas,omitempty"`
	RemovingReplicas []int32 `json:"removing_replicas,omitempty"`
	// Offline are replicas whose log is offline on their broker (corrupt
	// data or an I/O error; Kafka's replicas in an offline log dir). They
	// are out of the ISR (unless the last member), never elected, and
	// return with ReplicaOffline{Online: true} once repaired.
	Offline []int32 `json:"offline_replicas,omitempty"`
}

// eligible are the ISR members that may lead: not offline.
func (p Partition) eligible() []int32 { return without(p.ISR, p.Offline) }

func (p Partition) clone() Partition {
	p.Replicas = slices.Clone(p.Replicas)
	p.ISR = slices.Clone(p.ISR)
	p.AddingReplicas = slices.Clone(p.AddingReplicas)
	p.RemovingReplicas = slices.Clone(p.RemovingReplicas)
	p.Offline = slices.Clone(p.Offline)
	return p
}

// Reassigning reports whether a reassignment is in progress.
func (p Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// TargetReplicas are the replicas once the reassignment in progress
// completes (Replicas when none is).
func (p Partition) TargetReplicas() []int32 { return without(p.Replicas, p.RemovingReplicas) }

// OriginalReplicas are the replicas from before the reassignment in
// progress, which cancelling it restores (Replicas when none is).
func (p Partition) OriginalReplicas() []int32 { return without(p.Replicas, p.AddingReplicas) }

// without returns the members of s not in drop, in s's order.
func without(s, drop []int32) []int32 {
	out := make([]int32, 0, len(s))
	for _, r := range s {
		if !slices.Contains(drop, r) {
			out = append(out, r)
		}
	}
	return out
}

// Topic is the metadata of one topic.
type Topic struct {
	Name              string            `json:"name"`
	ID                [16]byte          `json:"id"`
	ReplicationFactor int16             `json:"replication_factor"`
	Configs           map[string]string `json:"configs,omitempty"` // explicitly set keys only
	Parts             []Partition       `json:"partitions"`
}

// NumPartitions is the topic's partition count.
func (t *Topic) NumPartitions() int32 { return int32(len(t.Parts)) }

// Clone returns a deep copy.
func (t *Topic) Clone() *Topic {
	c := *t
	c.Configs = maps.Clone(t.Configs)
	c.Parts = make([]Partition, len(t.Parts))
	for i, p := range t.Parts {
		c.Parts[i] = p.clone()
	}
	return &c
}

// State is the replicated cluster metadata. A *State handed out by the
// quorum is immutable: applying a command builds a new State that shares
// unchanged topics and brokers with the old one.
type State struct {
	ClusterID      string            `json:"cluster_id"`
	Brokers        map[int32]*Broker `json:"brokers"`
	Topics         map[string]*Topic `json:"topics"`
	NextProducerID int64             `json:"next_producer_id"`
	// Index is the Raft log index of the last applied command.
	Index uint64 `json:"index"`
}

func emptyState() *State {
	return &State{Brokers: map[int32]*Broker{}, Topics: map[string]*Topic{}, NextProducerID: 1000}
}

func (s *State) shallow() *State {
	c := *s
	c.Brokers = maps.Clone(s.Brokers)
	c.Topics = maps.Clone(s.Topics)
	return &c
}

// Topic returns the named topic.
func (s *State) Topic(name string) (*Topic, bool) {
	t, ok := s.Topics[name]
	return t, ok
}

// TopicByID returns the topic with id.
func (s *State) TopicByID(id [16]byte) (*Topic, bool) {
	for _, t := range s.Topics {
		if t.ID == id {
			return t, true
		}
	}
	return nil, false
}

// TopicNames returns every topic name, sorted.
func (s *State) TopicNames() []string {
	names := make([]string, 0, len(s.Topics))
	for n := range s.Topics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LiveBrokers returns the unfenced brokers, sorted by id.
func (s *State) LiveBrokers() []*Broker {
	var out []*Broker
	for _, b := range s.Brokers {
		if !b.Fenced {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// AllBrokers returns every registered broker, sorted by id.
func (s *State) AllBrokers() []*Broker {
	out := make([]*Broker, 0, len(s.Brokers))
	for _, b := range s.Brokers {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *State) live(id int32) bool {
	b, ok := s.Brokers[id]
	return ok && !b.Fenced
}

// Command is one change to the state. Exactly one field is set.
type Command struct {
	InitCluster      *InitCluster      `json:"init_cluster,omitempty"`
	RegisterBroker   *Broker           `json:"register_broker,omitempty"`
	FenceBroker      *FenceBroker      `json:"fence_broker,omitempty"`
	CreateTopic      *Topic            `json:"create_topic,omitempty"`
	DeleteTopic      *DeleteTopic      `json:"delete_topic,omitempty"`
	CreatePartitions *CreatePartitions `json:"create_partitions,omitempty"`
	SetTopicConfigs  *SetTopicConfigs  `json:"set_topic_configs,omitempty"`
	AlterPartition   *AlterPartition   `json:"alter_partition,omitempty"`
	AllocateIDs      *AllocateIDs      `json:"allocate_ids,omitempty"`
	ElectLeader      *ElectLeader      `json:"elect_leader,omitempty"`
	Reassign         *Reassign         `json:"reassign,omitempty"`
	ReplicaOffline   *ReplicaOffline   `json:"replica_offline,omitempty"`
}

// ReplicaOffline is a broker reporting that its replica of a partition is
// offline (its log met corrupt data or an I/O error), or, with Online,
// back after repair. Offline: the replica leaves the ISR unless it is the
// last member, and if it led, leadership moves to an eligible ISR member
// under a new leader epoch (none: the partition is leaderless). Online:
// the replica may rejoin the ISR the usual way (caught up with the
// leader); a leaderless partition whose ISR holds it elects it.
type ReplicaOffline struct {
	Broker    int32  `json:"broker"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Online    bool   `json:"online,omitempty"`
}

type InitCluster struct {
	ClusterID string `json:"cluster_id"`
}

// FenceBroker takes a broker out of service: it leaves every ISR it is not
// the last member of, and its leaderships move to live ISR members.
type FenceBroker struct {
	ID int32 `json:"id"`
}

type DeleteTopic struct {
	Name string `json:"name"`
}

type CreatePartitions struct {
	Name  string      `json:"name"`
	Parts []Partition `json:"partitions"` // the new partitions only
}

type SetTopicConfigs struct {
	Name    string            `json:"name"`
	Configs map[string]string `json:"configs"`
}

// AlterPartition is a partition leader's ISR change. It applies only if the
// leader and both epochs match the current record.
type AlterPartition struct {
	Topic          string  `json:"topic"`
	Partition      int32   `json:"partition"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
	ISR            []int32 `json:"isr"`
}

type AllocateIDs struct {
	Count int64 `json:"count"`
}

// ElectLeader elects a leader: preferred (the first replica, if it is live
// and in the ISR) or unclean (for a partition without a live leader: the
// first live ISR member, else any live replica, which becomes the only ISR
// member). An election that changes nothing succeeds without effect, or,
// with Report, fails with ErrElectionNotNeeded, ErrPreferredNotAvailable or
// ErrEligibleNotAvailable (ElectLeaders' per-partition errors).
type ElectLeader struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Unclean   bool   `json:"unclean"`
	Report    bool   `json:"report,omitempty"`
}

// Reassign starts a partition reassignment to Target (KIP-455), replacing
// one in progress, or, with Cancel, reverts the one in progress. The
// replicas not yet assigned are added (Replicas = target + removing); once
// every target replica is in the ISR the partition switches to the target
// (the leader moves, under a new leader epoch, if it is not a target) and
// the removed replicas drop their copies. KeepReplicationFactor refuses a
// target whose size differs from the current replica count. Cancelling
// keeps the remaining replicas in the reassignment's order, as Kafka does.
type Reassign struct {
	Topic                 string  `json:"topic"`
	Partition             int32   `json:"partition"`
	Target                []int32 `json:"target,omitempty"`
	Cancel                bool    `json:"cancel,omitempty"`
	KeepReplicationFactor bool    `json:"keep_replication_factor,omitempty"`
}

// Result is what applying a command returned.
type Result struct {
	Err   string `json:"err,omitempty"`
	Code  string `json:"code,omitempty"` // sentinel name, see Error
	Value int64  `json:"value,omitempty"`
	// Index is the Raft index the command was applied at; a node has seen
	// the command's effect once its State().Index reaches it.
	Index uint64 `json:"index,omitempty"`
}

var sentinels = map[string]error{}

func init() {
	for _, e := range []error{ErrTopicExists, ErrUnknownTopic, ErrUnknownBroker, ErrStaleEpoch, ErrIneligible, ErrInvalidCommand, ErrNotController, ErrNoController, ErrInvalidPartitions,
		ErrInvalidReplicaAssignment, ErrInvalidReplicationFactor, ErrNoReassignment, ErrElectionNotNeeded, ErrPreferredNotAvailable, ErrEligibleNotAvailable} {
		sentinels[e.Error()] = e
	}
}

// Error turns a failed result back into an error wrapping its sentinel.
func (r Result) Error() error {
	if r.Err == "" {
		return nil
	}
	if s, ok := sentinels[r.Code]; ok {
		if r.Err == r.Code {
			return s
		}
		return fmt.Errorf("%w: %s", s, r.Err)
	}
	return errors.New(r.Err)
}

func fail(sentinel error, format string, args ...any) (*State, Result) {
	msg := sentinel.Error()
	if format != "" {
		msg = fmt.Sprintf(format, args...)
	}
	return nil, Result{Err: msg, Code: sentinel.Error()}
}

// apply returns the state after cmd, or nil and a failed result (the state
// is then unchanged). It is deterministic: every replica computes the same.
func (s *State) apply(cmd *Command) (*State, Result) {
	switch {
	case cmd.InitCluster != nil:
		if s.ClusterID != "" {
			return s, Result{}
		}
		n := s.shallow()
		n.ClusterID = cmd.InitCluster.ClusterID
		return n, Result{}

	case cmd.RegisterBroker != nil:
		rb := *cmd.RegisterBroker
		n := s.shallow()
		if old, ok := s.Brokers[rb.ID]; ok {
			rb.Epoch = old.Epoch + 1
			if old.Incarnation != rb.Incarnation && !old.Fenced {
				fenced := *old
				fenced.Fenced = true
				n.Brokers[rb.ID] = &fenced
				n.evacuate(rb.ID)
			}
		} else {
			rb.Epoch = 1
		}
		rb.Fenced = false
		n.Brokers[rb.ID] = &rb
		n.electOffline(rb.ID)
		return n, Result{Value: rb.Epoch}

	case cmd.FenceBroker != nil:
		id := cmd.FenceBroker.ID
		old, ok := s.Brokers[id]
		if !ok {
			return fail(ErrUnknownBroker, "broker %d is not registered", id)
		}
		n := s.shallow()
		b := *old
		b.Fenced = true
		n.Brokers[id] = &b
		n.evacuate(id)
		return n, Result{}

	case cmd.CreateTopic != nil:
		t := cmd.CreateTopic
		if _, ok := s.Topics[t.Name]; ok {
			return fail(ErrTopicExists, "topic %q already exists", t.Name)
		}
		if len(t.Parts) == 0 {
			return fail(ErrInvalidPartitions, "topic %q has no partitions", t.Name)
		}
		n := s.shallow()
		n.Topics[t.Name] = t.Clone()
		return n, Result{}

	case cmd.DeleteTopic != nil:
		if _, ok := s.Topics[cmd.DeleteTopic.Name]; !ok {
			return fail(ErrUnknownTopic, "topic %q does not exist", cmd.DeleteTopic.Name)
		}
		n := s.shallow()
		delete(n.Topics, cmd.DeleteTopic.Name)
		return n, Result{}

	case cmd.CreatePartitions != nil:
		c := cmd.CreatePartitions
		t, ok := s.Topics[c.Name]
		if !ok {
			return fail(ErrUnknownTopic, "topic %q does not exist", c.Name)
		}
		nt := t.Clone()
		for _, p := range c.Parts {
			nt.Parts = append(nt.Parts, p.clone())
		}
		n := s.shallow()
		n.Topics[c.Name] = nt
		return n, Result{Value: int64(len(nt.Parts))}

	case cmd.SetTopicConfigs != nil:
		c := cmd.SetTopicConfigs
		t, ok := s.Topics[c.Name]
		if !ok {
			return fail(ErrUnknownTopic, "topic %q does not exist", c.Name)
		}
		nt := t.Clone()
		nt.Configs = maps.Clone(c.Configs)
		n := s.shallow()
		n.Topics[c.Name] = nt
		return n, Result{}

	case cmd.AlterPartition != nil:
		a := cmd.AlterPartition
		t, ok := s.Topics[a.Topic]
		if !ok || a.Partition < 0 || int(a.Partition) >= len(t.Parts) {
			return fail(ErrUnknownTopic, "unknown partition %s-%d", a.Topic, a.Partition)
		}
		p := t.Parts[a.Partition]
		if p.Leader != a.Leader || p.LeaderEpoch != a.LeaderEpoch || p.PartitionEpoch != a.PartitionEpoch {
			return fail(ErrStaleEpoch, "partition %s-%d is at leader %d epoch %d/%d, request was for %d epoch %d/%d",
				a.Topic, a.Partition, p.Leader, p.LeaderEpoch, p.PartitionEpoch, a.Leader, a.LeaderEpoch, a.PartitionEpoch)
		}
		if !slices.Contains(a.ISR, a.Leader) {
			return fail(ErrInvalidCommand, "the ISR must contain the leader")
		}
		for _, r := range a.ISR {
			if !slices.Contains(p.Replicas, r) {
				return fail(ErrIneligible, "broker %d is not a replica of %s-%d", r, a.Topic, a.Partition)
			}
			if !slices.Contains(p.ISR, r) && !s.live(r) {
				return fail(ErrIneligible, "broker %d is fenced", r)
			}
			if !slices.Contains(p.ISR, r) && slices.Contains(p.Offline, r) {
				return fail(ErrIneligible, "broker %d's replica of %s-%d is offline", r, a.Topic, a.Partition)
			}
		}
		nt := t.Clone()
		np := &nt.Parts[a.Partition]
		np.ISR = slices.Clone(a.ISR)
		np.PartitionEpoch++
		s.completeReassignment(np)
		n := s.shallow()
		n.Topics[a.Topic] = nt
		return n, Result{Value: int64(np.PartitionEpoch)}

	case cmd.AllocateIDs != nil:
		if cmd.AllocateIDs.Count <= 0 {
			return fail(ErrInvalidCommand, "")
		}
		n := s.shallow()
		first := n.NextProducerID
		n.NextProducerID += cmd.AllocateIDs.Count
		return n, Result{Value: first}

	case cmd.ElectLeader != nil:
		e := cmd.ElectLeader
		t, ok := s.Topics[e.Topic]
		if !ok || e.Partition < 0 || int(e.Partition) >= len(t.Parts) {
			return fail(ErrUnknownTopic, "unknown partition %s-%d", e.Topic, e.Partition)
		}
		nt := t.Clone()
		p := &nt.Parts[e.Partition]
		leader := p.Leader
		var why error
		if e.Unclean {
			switch {
			case p.Leader >= 0 && s.live(p.Leader):
				why = ErrElectionNotNeeded
			case s.electFrom(p.eligible(), p.Replicas) >= 0:
				leader = s.electFrom(p.eligible(), p.Replicas)
			default:
				why = ErrEligibleNotAvailable
				for _, r := range p.Replicas {
					if s.live(r) && !slices.Contains(p.Offline, r) {
						p.ISR = []int32{r}
						leader, why = r, nil
						break
					}
				}
			}
		} else {
			switch pref := p.Replicas[0]; {
			case p.Leader == pref:
				why = ErrElectionNotNeeded
			case !s.live(pref) || !slices.Contains(p.eligible(), pref):
				why = ErrPreferredNotAvailable
			default:
				leader = pref
			}
		}
		if why != nil {
			if e.Report {
				return fail(why, "%s-%d: %v", e.Topic, e.Partition, why)
			}
			return s, Result{}
		}
		p.Leader = leader
		p.LeaderEpoch++
		p.PartitionEpoch++
		s.completeReassignment(p)
		n := s.shallow()
		n.Topics[e.Topic] = nt
		return n, Result{Value: int64(leader)}

	case cmd.Reassign != nil:
		return s.reassign(cmd.Reassign)

	case cmd.ReplicaOffline != nil:
		return s.replicaOffline(cmd.ReplicaOffline)
	}
	return fail(ErrInvalidCommand, "empty command")
}

// electFrom returns the first live ISR member in replica order, or -1.
func (s *State) electFrom(isr, replicas []int32) int32 {
	for _, r := range replicas {
		if slices.Contains(isr, r) && s.live(r) {
			return r
		}
	}
	return -1
}

// evacuate removes fenced broker id from ISRs (unless it is the last member)
// and moves its leaderships. Called on a shallow copy.
func (s *State) evacuate(id int32) {
	for _, name := range s.TopicNames() {
		t := s.Topics[name]
		var nt *Topic
		for i, p := range t.Parts {
			if !slices.Contains(p.Replicas, id) {
				continue
			}
			inISR := slices.Contains(p.ISR, id)
			if p.Leader != id && (!inISR || len(p.ISR) == 1) {
				continue
			}
			if nt == nil {
				nt = t.Clone()
			}
			np := &nt.Parts[i]
			if inISR && len(np.ISR) > 1 {
				np.ISR = slices.DeleteFunc(np.ISR, func(r int32) bool { return r == id })
			}
			if np.Leader == id {
				np.Leader = s.electFrom(np.eligible(), np.Replicas)
				np.LeaderEpoch++
			}
			np.PartitionEpoch++
		}
		if nt != nil {
			s.Topics[name] = nt
		}
	}
}

// electOffline gives leaderless partitions whose ISR holds the newly live
// broker id a leader. Called on a shallow copy.
func (s *State) electOffline(id int32) {
	for _, name := range s.TopicNames() {
		t := s.Topics[name]
		var nt *Topic
		for i, p := range t.Parts {
			if p.Leader >= 0 || !slices.Contains(p.eligible(), id) {
				continue
			}
			if nt == nil {
				nt = t.Clone()
			}
			np := &nt.Parts[i]
			np.Leader = s.electFrom(np.eligible(), np.Replicas)
			np.LeaderEpoch++
			np.PartitionEpoch++
		}
		if nt != nil {
			s.Topics[name] = nt
		}
	}
}

// reassign applies a Reassign command.
func (s *State) reassign(r *Reassign) (*State, Result) {
	t, ok := s.Topics[r.Topic]
	if !ok || r.Partition < 0 || int(r.Partition) >= len(t.Parts) {
		return fail(ErrUnknownTopic, "unknown partition %s-%d", r.Topic, r.Partition)
	}
	nt := t.Clone()
	p := &nt.Parts[r.Partition]
	if r.Cancel {
		if !p.Reassigning() {
			return fail(ErrNoReassignment, "no reassignment of %s-%d is in progress", r.Topic, r.Partition)
		}
		orig := p.OriginalReplicas()
		isr := slices.DeleteFunc(slices.Clone(p.ISR), func(id int32) bool { return !slices.Contains(orig, id) })
		if len(isr) == 0 {
			return fail(ErrInvalidReplicaAssignment, "cannot cancel the reassignment of %s-%d: none of its original replicas %v is in the ISR", r.Topic, r.Partition, orig)
		}
		p.Replicas, p.ISR, p.AddingReplicas, p.RemovingReplicas = orig, isr, nil, nil
		if !slices.Contains(orig, p.Leader) {
			p.Leader = s.electFrom(without(isr, p.Offline), orig)
			p.LeaderEpoch++
		}
		p.PartitionEpoch++
	} else {
		if len(r.Target) == 0 {
			return fail(ErrInvalidReplicaAssignment, "the target replica list of %s-%d is empty", r.Topic, r.Partition)
		}
		for i, id := range r.Target {
			if slices.Contains(r.Target[:i], id) {
				return fail(ErrInvalidReplicaAssignment, "duplicate replica %d in the target of %s-%d", id, r.Topic, r.Partition)
			}
			if _, ok := s.Brokers[id]; !ok {
				return fail(ErrInvalidReplicaAssignment, "broker %d in the target of %s-%d is not registered", id, r.Topic, r.Partition)
			}
		}
		if r.KeepReplicationFactor && len(r.Target) != len(p.OriginalReplicas()) {
			return fail(ErrInvalidReplicationFactor, "the target of %s-%d changes its replication factor from %d to %d", r.Topic, r.Partition, len(p.OriginalReplicas()), len(r.Target))
		}
		// As Kafka's controller does, the new reassignment starts from
		// the current replicas, adding ones included.
		cur := p.Replicas
		adding := without(r.Target, cur)
		removing := without(cur, r.Target)
		replicas := append(slices.Clone(r.Target), removing...)
		if slices.Equal(replicas, p.Replicas) && slices.Equal(adding, p.AddingReplicas) && slices.Equal(removing, p.RemovingReplicas) {
			return s, Result{}
		}
		p.Replicas, p.AddingReplicas, p.RemovingReplicas = replicas, nilIfEmpty(adding), nilIfEmpty(removing)
		p.PartitionEpoch++
		s.completeReassignment(p)
	}
	n := s.shallow()
	n.Topics[r.Topic] = nt
	return n, Result{}
}

func nilIfEmpty(s []int32) []int32 {
	if len(s) == 0 {
		return nil
	}
	return s
}

// completeReassignment switches p (a copy being built) to its target
// replicas once every target replica is in the ISR and a target replica can
// lead: removed replicas leave Replicas and the ISR, and the leader moves,
// under a new leader epoch, if it is being removed. It reports whether it
// switched.
func (s *State) completeReassignment(p *Partition) bool {
	if !p.Reassigning() {
		return false
	}
	target := p.TargetReplicas()
	for _, r := range target {
		if !slices.Contains(p.ISR, r) {
			return false
		}
	}
	leader := p.Leader
	if !slices.Contains(target, leader) {
		if leader = s.electFrom(without(target, p.Offline), target); leader < 0 {
			return false
		}
	}
	p.Replicas = target
	p.ISR = slices.DeleteFunc(p.ISR, func(id int32) bool { return !slices.Contains(target, id) })
	p.AddingReplicas, p.RemovingReplicas = nil, nil
	if leader != p.Leader {
		p.Leader = leader
		p.LeaderEpoch++
	}
	p.PartitionEpoch++
	return true
}

// replicaOffline applies a ReplicaOffline command.
func (s *State) replicaOffline(c *ReplicaOffline) (*State, Result) {
	t, ok := s.Topics[c.Topic]
	if !ok || c.Partition < 0 || int(c.Partition) >= len(t.Parts) {
		return fail(ErrUnknownTopic, "unknown partition %s-%d", c.Topic, c.Partition)
	}
	p := t.Parts[c.Partition]
	if !slices.Contains(p.Replicas, c.Broker) {
		return fail(ErrIneligible, "broker %d is not a replica of %s-%d", c.Broker, c.Topic, c.Partition)
	}
	if slices.Contains(p.Offline, c.Broker) != c.Online {
		return s, Result{} // already so
	}
	nt := t.Clone()
	np := &nt.Parts[c.Partition]
	if c.Online {
		np.Offline = nilIfEmpty(without(np.Offline, []int32{c.Broker}))
		if np.Leader < 0 && slices.Contains(np.ISR, c.Broker) && s.live(c.Broker) {
			np.Leader = s.electFrom(np.eligible(), np.Replicas)
			np.LeaderEpoch++
		}
	} else {
		np.Offline = append(np.Offline, c.Broker)
		if len(np.ISR) > 1 {
			np.ISR = without(np.ISR, []int32{c.Broker})
		}
		if np.Leader == c.Broker {
			np.Leader = s.electFrom(np.eligible(), np.Replicas)
			np.LeaderEpoch++
		}
	}
	np.PartitionEpoch++
	n := s.shallow()
	n.Topics[c.Topic] = nt
	return n, Result{Value: int64(np.Leader)}
}
