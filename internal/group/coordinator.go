// Package group is the group coordinator: classic consumer groups (JoinGroup,
// SyncGroup, Heartbeat, LeaveGroup with Kafka's state machine), consumer
// groups of the next-generation protocol (KIP-848, consumer.go), committed
// offsets, and their storage in the compacted internal topic
// __consumer_offsets. This node coordinates every group.
//
// The coordinator speaks kmsg request and response types; the broker's API
// files are thin wrappers. It does not import the broker: the broker hands it
// a Log (the __consumer_offsets partitions) and a Topics view.
//
// Concurrency: Coordinator.mu guards every group and member and is held for
// each whole operation, including the page-cache append of the records the
// operation writes (so records reach the log in the order their state
// changes happened). Waiting for fsync, and waiting for a rebalance to
// complete (JoinGroup, SyncGroup), happens outside mu. Timer callbacks take
// mu and check a token, so a timer that fired after being superseded does
// nothing.
package group

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetsTopic is the internal topic holding offsets and group metadata.
const OffsetsTopic = "__consumer_offsets"

// Log is the __consumer_offsets topic as the coordinator uses it.
type Log interface {
	// Partitions returns the topic's partition count. With create it
	// creates the topic if missing; without, it returns 0 if missing.
	Partitions(create bool) (int32, error)
	// Append writes one v2 batch (base offset 0) to partition p and returns
	// the log end offset after it. The data is not yet durable.
	Append(p int32, batch []byte) (int64, error)
	// Sync returns once every offset of p below end is durable.
	Sync(p int32, end int64) error
	// Read calls fn with every stored batch of p, in offset order.
	Read(p int32, fn func(batch []byte) error) error
}

// Topics is the coordinator's view of the broker's topics.
type Topics interface {
	// PartitionCount returns the partition count, or false if the topic
	// does not exist.
	PartitionCount(topic string) (int32, bool)
	// TopicInfo returns a topic's id and partition count, or false if it
	// does not exist.
	TopicInfo(topic string) (id [16]byte, partitions int32, ok bool)
	// TopicByID returns the name of the topic with id.
	TopicByID(id [16]byte) (string, bool)
	// TopicNames returns every topic name.
	TopicNames() []string
}

// Clock is the time source; tests inject one.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f after d on its own goroutine; stop cancels it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// Config configures a coordinator. Zero durations take Kafka's defaults
// except InitialRebalanceDelay, where zero means no delay.
type Config struct {
	Log    Log
	Topics Topics
	Clock  Clock
	Logger *slog.Logger

	InitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms
	MinSessionTimeout     time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout     time.Duration // group.max.session.timeout.ms
	MaxGroupSize          int           // group.max.size; 0 = unlimited
	OffsetsRetention      time.Duration // offsets.retention.minutes
	RetentionCheck        time.Duration // offsets.retention.check.interval.ms
	MaxMetadataBytes      int           // offset.metadata.max.bytes

	// Consumer groups (KIP-848).
	ConsumerSessionTimeout    time.Duration // group.consumer.session.timeout.ms
	ConsumerHeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms
	ConsumerAssignors         []string      // group.consumer.assignors; the first is the default
	ConsumerMaxSize           int           // group.consumer.max.size; 0 = unlimited
}

// Coordinator coordinates every group on this node.
type Coordinator struct {
	cfg   Config
	clock Clock
	log   *slog.Logger

	// openMu serializes creating/counting the offsets topic.
	openMu sync.Mutex
	nparts int32 // 0 until the offsets topic exists

	mu     sync.Mutex
	groups map[string]*group
	closed bool
	stopGC func() bool
}

// New returns a coordinator and, if the offsets topic exists, rebuilds every
// group and committed offset from it.
func New(cfg Config) (*Coordinator, error) {
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MinSessionTimeout == 0 {
		cfg.MinSessionTimeout = 6 * time.Second
	}
	if cfg.MaxSessionTimeout == 0 {
		cfg.MaxSessionTimeout = 30 * time.Minute
	}
	if cfg.OffsetsRetention == 0 {
		cfg.OffsetsRetention = 7 * 24 * time.Hour
	}
	if cfg.RetentionCheck == 0 {
		cfg.RetentionCheck = 10 * time.Minute
	}
	if cfg.MaxMetadataBytes == 0 {
		cfg.MaxMetadataBytes = 4096
	}
	if cfg.ConsumerSessionTimeout == 0 {
		cfg.ConsumerSessionTimeout = 45 * time.Second
	}
	if cfg.ConsumerHeartbeatInterval == 0 {
		cfg.ConsumerHeartbeatInterval = 5 * time.Second
	}
	if len(cfg.ConsumerAssignors) == 0 {
		cfg.ConsumerAssignors = []string{"uniform", "range"}
	}
	if cfg.ConsumerMaxSize <= 0 {
		cfg.ConsumerMaxSize = 1<<31 - 1
	}
	c := &Coordinator{cfg: cfg, clock: cfg.Clock, log: cfg.Logger, groups: map[string]*group{}}
	n, err := cfg.Log.Partitions(false)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		c.nparts = n
		if err := c.load(n); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	c.scheduleExpiry()
	c.mu.Unlock()
	return c, nil
}

// Close stops timers and fails waiting requests with COORDINATOR_NOT_AVAILABLE.
func (c *Coordinator) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.stopGC != nil {
		c.stopGC()
	}
	for _, g := range c.groups {
		g.stopJoinTimer()
		if g.cg != nil {
			for _, m := range g.cg.members {
				m.stopTimers()
			}
		}
		for _, m := range g.members {
			m.stopHeartbeat()
			c.failWaiters(g, m, errCoordinatorNotAvailable)
		}
		for _, p := range g.pending {
			p()
		}
	}
}

// Ready makes sure the offsets topic exists, so this node can coordinate.
func (c *Coordinator) Ready() error {
	_, err := c.partitions()
	return err
}

func (c *Coordinator) partitions() (int32, error) {
	c.openMu.Lock()
	defer c.openMu.Unlock()
	if c.nparts > 0 {
		return c.nparts, nil
	}
	n, err := c.cfg.Log.Partitions(true)
	if err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, errors.New("offsets topic has no partitions")
	}
	c.nparts = n
	return n, nil
}

// PartitionFor is the offsets topic partition of groupID, or -1 if the topic
// does not exist yet.
func (c *Coordinator) PartitionFor(groupID string) int32 {
	c.openMu.Lock()
	n := c.nparts
	c.openMu.Unlock()
	if n == 0 {
		return -1
	}
	return PartitionFor(groupID, n)
}

// write is a pending durable write: Wait returns once it is fsynced.
type write struct {
	c    *Coordinator
	part int32
	end  int64
	err  error
}

// Wait blocks until the write is durable; nil-safe.
func (w *write) Wait() error {
	if w == nil {
		return nil
	}
	if w.err != nil {
		return w.err
	}
	return w.c.cfg.Log.Sync(w.part, w.end)
}

// appendRecords writes recs for groupID's partition. Called with mu held,
// after partitions() succeeded.
func (c *Coordinator) appendRecords(groupID string, recs []kv) *write {
	if len(recs) == 0 {
		return nil
	}
	n := c.nparts
	if n == 0 {
		return &write{err: errCoordinatorNotAvailable}
	}
	p := PartitionFor(groupID, n)
	end, err := c.cfg.Log.Append(p, buildBatch(recs, c.clock.Now().UnixMilli()))
	if err != nil {
		c.log.Error("writing to offsets topic", "group", groupID, "partition", p, "err", err)
		return &write{err: fmt.Errorf("%w: %v", errCoordinatorNotAvailable, err)}
	}
	return &write{c: c, part: p, end: end}
}

var errCoordinatorNotAvailable = errors.New("coordinator not available")

// load replays every offsets partition. Later records win; nil values are
// tombstones.
func (c *Coordinator) load(n int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	nrec := 0
	for p := int32(0); p < n; p++ {
		err := c.cfg.Log.Read(p, func(raw []byte) error {
			recs, err := decodeBatch(raw)
			if err != nil {
				c.log.Warn("skipping unreadable offsets batch", "partition", p, "err", err)
				return nil
			}
			for _, r := range recs {
				nrec++
				c.replay(r, now)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading %s-%d: %w", OffsetsTopic, p, err)
		}
	}
	for _, g := range c.groups {
		if g.typ == typeConsumer {
			c.finishLoad(g)
			continue
		}
		if len(g.members) > 0 {
			g.state = stStable
			for _, m := range g.members {
				c.scheduleHeartbeat(g, m)
			}
		}
	}
	c.log.Info("group coordinator loaded", "groups", len(c.groups), "records", nrec)
	return nil
}

func (c *Coordinator) replay(r kv, now time.Time) {
	if len(r.key) < 2 {
		return
	}
	version := int16(r.key[0])<<8 | int16(r.key[1])
	switch version {
	case 3, 4, 5, 6, 7, 8:
		c.replayConsumer(r, now)
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if k.ReadFrom(r.key) != nil {
			return
		}
		g := c.groups[k.Group]
		if r.value == nil {
			if g != nil {
				g.deleteOffset(k.Topic, k.Partition)
			}
			return
		}
		var v kmsg.OffsetCommitValue
		if v.ReadFrom(r.value) != nil {
			return
		}
		if g == nil {
			g = c.newGroup(k.Group, now)
		}
		o := &offset{offset: v.Offset, epoch: -1, metadata: v.Metadata, commitMs: v.CommitTimestamp, expireMs: -1}
		if v.Version >= 3 {
			o.epoch = v.LeaderEpoch
		}
		if v.Version == 1 && v.ExpireTimestamp > 0 {
			o.expireMs = v.ExpireTimestamp
		}
		g.setOffset(k.Topic, k.Partition, o)
	case 2:
		var k kmsg.GroupMetadataKey
		if k.ReadFrom(r.key) != nil {
			return
		}
		if r.value == nil {
			if g := c.groups[k.Group]; g != nil && g.typ == typeClassic {
				delete(c.groups, k.Group)
			}
			return
		}
		var v kmsg.GroupMetadataValue
		if v.ReadFrom(r.value) != nil {
			return
		}
		g := c.groups[k.Group]
		if g == nil {
			g = c.newGroup(k.Group, now)
		}
		g.typ, g.cg = typeClassic, nil
		g.protocolType = v.ProtocolType
		g.generation = v.Generation
		g.protocol = deref(v.Protocol)
		g.leader = deref(v.Leader)
		if v.CurrentStateTimestamp > 0 {
			g.stateTime = time.UnixMilli(v.CurrentStateTimestamp)
		}
		g.members = map[string]*member{}
		g.static = map[string]string{}
		for _, vm := range v.Members {
			m := &member{
				id: vm.MemberID, instanceID: vm.InstanceID, clientID: vm.ClientID, clientHost: vm.ClientHost,
				sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
				rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
				protocolType:     v.ProtocolType,
				protocols:        []kmsg.JoinGroupRequestProtocol{{Name: g.protocol, Metadata: vm.Subscription}},
				assignment:       vm.Assignment,
			}
			if m.rebalanceTimeout <= 0 {
				m.rebalanceTimeout = m.sessionTimeout
			}
			g.members[m.id] = m
			if m.instanceID != nil {
				g.static[*m.instanceID] = m.id
			}
		}
		g.state = stEmpty
	}
}

// groupRecord is the group metadata record for g's current generation.
func (c *Coordinator) groupRecord(g *group) kv {
	v := kmsg.GroupMetadataValue{Version: groupValueVersion, ProtocolType: g.protocolType, Generation: g.generation, CurrentStateTimestamp: g.stateTime.UnixMilli()}
	if g.protocol != "" {
		v.Protocol = strp(g.protocol)
	}
	if g.leader != "" {
		v.Leader = strp(g.leader)
	}
	for _, m := range g.sortedMembers() {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.InstanceID, vm.ClientID, vm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout / time.Millisecond)
		vm.SessionTimeoutMillis = int32(m.sessionTimeout / time.Millisecond)
		vm.Subscription = m.metadataFor(g.protocol)
		vm.Assignment = m.assignment
		v.Members = append(v.Members, vm)
	}
	return kv{key: groupKey(g.id), value: v.AppendTo(nil)}
}

// storeGroup writes g's metadata record.
func (c *Coordinator) storeGroup(g *group) *write {
	return c.appendRecords(g.id, []kv{c.groupRecord(g)})
}

func newMemberID(prefix string) string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return prefix + "-" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func strp(s string) *string { return &s }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
