package metadata

import (
	"errors"
	"fmt"
	"maps"
	"sort"

	"github.com/tributary/tributary/internal/controller"
	"github.com/tributary/tributary/internal/security"
)

// Errors from applying commands and from the quorum; the broker maps them
// to wire codes. The controller's policies refuse with the errors of
// internal/controller (ErrStaleEpoch, ErrElectionNotNeeded, ...), which
// command results carry too.
var (
	ErrTopicExists       = errors.New("topic already exists")
	ErrUnknownTopic      = errors.New("unknown topic")
	ErrUnknownBroker     = errors.New("unknown broker")
	ErrInvalidCommand    = errors.New("invalid metadata command")
	ErrNotController     = errors.New("this node is not the active controller")
	ErrNoController      = errors.New("no active controller")
	ErrInvalidPartitions = errors.New("invalid partition count")
	// ErrConfigConflict: a config change computed from configs that
	// another change replaced meanwhile (IncrementalAlterConfigs sent to
	// two brokers at once); the proposer reads the configs again and
	// retries.
	ErrConfigConflict = errors.New("configs changed meanwhile")
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
	// Endpoints are the broker's advertised Kafka listeners by name, as
	// Kafka's broker registration; Host and Port are the inter-broker
	// one's. Empty in registrations from before listeners were named.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
}

// Endpoint is one advertised listener.
type Endpoint struct {
	Name string `json:"name"`
	Host string `json:"host"`
	Port int32  `json:"port"`
}

// Endpoint returns the broker's advertised address on listener. A broker
// registered without endpoints, or asked for no listener, answers its
// inter-broker address; ok is false when it does not have that listener.
func (b Broker) Endpoint(listener string) (host string, port int32, ok bool) {
	if listener == "" || len(b.Endpoints) == 0 {
		return b.Host, b.Port, true
	}
	for _, e := range b.Endpoints {
		if e.Name == listener {
			return e.Host, e.Port, true
		}
	}
	return "", 0, false
}

// Partition is one partition's replica assignment and leadership; the
// controller's policies (internal/controller) define and change it.
type Partition = controller.Partition

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
		c.Parts[i] = p.Clone()
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
	// BrokerConfigs are dynamic broker configs (AlterConfigs on the broker
	// resource), explicitly set keys only, by resource name: "" for the
	// cluster-wide default, a node id for one broker.
	BrokerConfigs map[string]map[string]string `json:"broker_configs,omitempty"`
	// GroupConfigs are dynamic group configs (the GROUP config resource,
	// KIP-848/KIP-932), explicitly set keys only, by group id.
	GroupConfigs map[string]map[string]string `json:"group_configs,omitempty"`
	// Scram are the SCRAM credentials by user and mechanism
	// (SCRAM-SHA-256, SCRAM-SHA-512): salt, iterations and derived keys,
	// never a password.
	Scram map[string]map[string]security.ScramCredential `json:"scram,omitempty"`
	// ACLs are the access control entries the authorizer checks
	// (CreateAcls, DeleteAcls), in creation order, without duplicates.
	ACLs []security.ACL `json:"acls,omitempty"`
	// Quotas are the client quotas (AlterClientQuotas), sorted by entity
	// key, each with at least one value.
	Quotas []security.ClientQuota `json:"quotas,omitempty"`
	// Index is the Raft log index of the last applied command.
	Index uint64 `json:"index"`
	// Recent holds the results of the last proposals by id, so a proposal
	// sent again is applied once (proposals.go).
	Recent []ProposalResult `json:"recent,omitempty"`
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

// Live reports a registered, unfenced broker (controller.Brokers).
func (s *State) Live(id int32) bool {
	b, ok := s.Brokers[id]
	return ok && !b.Fenced
}

// Registered reports a registered broker (controller.Brokers).
func (s *State) Registered(id int32) bool {
	_, ok := s.Brokers[id]
	return ok
}

func (s *State) live(id int32) bool { return s.Live(id) }

// Command is one change to the state. Exactly one field is set.
type Command struct {
	// ID names a proposal (Quorum.Propose sets it); a command whose ID is
	// among State.Recent is not applied again (proposals.go).
	ID               string            `json:"id,omitempty"`
	InitCluster      *InitCluster      `json:"init_cluster,omitempty"`
	RegisterBroker   *Broker           `json:"register_broker,omitempty"`
	FenceBroker      *FenceBroker      `json:"fence_broker,omitempty"`
	CreateTopic      *Topic            `json:"create_topic,omitempty"`
	DeleteTopic      *DeleteTopic      `json:"delete_topic,omitempty"`
	CreatePartitions *CreatePartitions `json:"create_partitions,omitempty"`
	SetTopicConfigs  *SetTopicConfigs  `json:"set_topic_configs,omitempty"`
	SetBrokerConfigs *SetBrokerConfigs `json:"set_broker_configs,omitempty"`
	SetGroupConfigs  *SetGroupConfigs  `json:"set_group_configs,omitempty"`
	AlterPartition   *AlterPartition   `json:"alter_partition,omitempty"`
	AllocateIDs      *AllocateIDs      `json:"allocate_ids,omitempty"`
	ElectLeader      *ElectLeader      `json:"elect_leader,omitempty"`
	Reassign         *Reassign         `json:"reassign,omitempty"`
	ReplicaOffline   *ReplicaOffline   `json:"replica_offline,omitempty"`
	AlterScram       *AlterScram       `json:"alter_scram,omitempty"`
	CreateACLs       *CreateACLs       `json:"create_acls,omitempty"`
	DeleteACLs       *DeleteACLs       `json:"delete_acls,omitempty"`
	AlterQuotas      *AlterQuotas      `json:"alter_quotas,omitempty"`
	// MaxBrokerPartitions is the proposer's max.broker.partitions for a
	// CreateTopic or CreatePartitions: the command is refused whole if
	// it would make a broker host more replicas (controller.CheckCapacity).
	// Carried in the command so every node applies the same rule.
	MaxBrokerPartitions int `json:"max_broker_partitions,omitempty"`
}

// HostedReplicas counts the partition replicas each broker hosts.
func (s *State) HostedReplicas() map[int32]int {
	out := map[int32]int{}
	for _, t := range s.Topics {
		for _, p := range t.Parts {
			for _, r := range p.Replicas {
				out[r]++
			}
		}
	}
	return out
}

// AlterQuotas sets and removes client quota values (AlterClientQuotas).
// Every entity and value must pass security's checks or the command is
// refused whole; an entity left without values is removed.
type AlterQuotas struct {
	Entries []QuotaAlteration `json:"entries"`
}

// QuotaAlteration changes one entity's values: Set first, then Remove.
type QuotaAlteration struct {
	Entity security.QuotaEntity `json:"entity"`
	Set    map[string]float64   `json:"set,omitempty"`
	Remove []string             `json:"remove,omitempty"`
}

// CreateACLs adds ACLs; each must pass ACL.Validate or the command is
// refused whole. An ACL already present is not added twice.
type CreateACLs struct {
	ACLs []security.ACL `json:"acls"`
}

// DeleteACLs removes every ACL any filter matches; Result.Value is how
// many were removed.
type DeleteACLs struct {
	Filters []security.Filter `json:"filters"`
}

// AlterScram stores and deletes SCRAM credentials
// (AlterUserScramCredentials). Every upsertion must pass
// controller.CheckScramUpsert, or the command is refused whole; deleting a
// credential that is already gone changes nothing.
type AlterScram struct {
	Upserts   []ScramUpsert   `json:"upserts,omitempty"`
	Deletions []ScramDeletion `json:"deletions,omitempty"`
}

type ScramUpsert struct {
	User       string                   `json:"user"`
	Mechanism  string                   `json:"mechanism"`
	Credential security.ScramCredential `json:"credential"`
}

type ScramDeletion struct {
	User      string `json:"user"`
	Mechanism string `json:"mechanism"`
}

// ScramCredential returns user's credential for mechanism.
func (s *State) ScramCredential(user, mechanism string) (security.ScramCredential, bool) {
	c, ok := s.Scram[user][mechanism]
	return c, ok
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
	Expect  ExpectConfigs     `json:"expect,omitzero"`
}

// ExpectConfigs makes a config change conditional: with Check, it applies
// only if the resource's configs are still Configs (the ones the change
// was computed from), else it fails with ErrConfigConflict. Commands
// written before it existed carry none and apply as they did.
type ExpectConfigs struct {
	Check   bool              `json:"check,omitempty"`
	Configs map[string]string `json:"configs,omitempty"`
}

// SetBrokerConfigs replaces the dynamic configs of a broker resource (""
// for the cluster-wide default, else a node id); empty Configs removes
// them. The proposer validates the keys and values.
type SetBrokerConfigs struct {
	Resource string            `json:"resource"`
	Configs  map[string]string `json:"configs"`
	Expect   ExpectConfigs     `json:"expect,omitzero"`
}

// SetGroupConfigs replaces a group's dynamic configs; empty Configs
// removes them. The proposer validates the keys and values.
type SetGroupConfigs struct {
	Group   string            `json:"group"`
	Configs map[string]string `json:"configs"`
	Expect  ExpectConfigs     `json:"expect,omitzero"`
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
// with Report, fails with controller.ErrElectionNotNeeded, ErrPreferredNotAvailable or
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
	for _, e := range append([]error{ErrTopicExists, ErrUnknownTopic, ErrUnknownBroker, ErrInvalidCommand, ErrNotController, ErrNoController, ErrInvalidPartitions, ErrConfigConflict},
		controller.Sentinels...) {
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
