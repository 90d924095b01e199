// Package group is the group coordinator: classic consumer groups (JoinGroup,
// SyncGroup, Heartbeat, LeaveGroup with Kafka's state machine), consumer
// groups of the next-generation protocol (KIP-848, consumer.go), committed
// offsets, and their storage in the compacted internal topic
// __consumer_offsets.
//
// As in Kafka, a group belongs to one partition of __consumer_offsets
// (PartitionFor) and is coordinated by that partition's leader. The broker
// tells the coordinator which partitions it leads (SetLeadership, after
// every metadata change); the coordinator replays a newly led partition in
// the background (requests for its groups get COORDINATOR_LOAD_IN_PROGRESS
// meanwhile) and forgets the groups of a partition it no longer leads.
// Requests for groups of other partitions get NOT_COORDINATOR. Writes are
// answered once fsynced and replicated to every in-sync replica (Log.Sync).
// Deliberate difference from Kafka: a state change (a committed offset
// included) is visible here as soon as it is appended, before it is
// replicated; a write that then fails (timeout, lost leadership) is
// answered with an error yet may stay visible on this broker until the
// partition is unloaded. Kafka's coordinator exposes committed state only.
//
// The coordinator speaks kmsg request and response types; the broker's API
// files are thin wrappers. It does not import the broker: the broker hands it
// a Log (the __consumer_offsets partitions) and a Topics view.
//
// Concurrency: Coordinator.mu guards every group and member, the partition
// count and the set of led partitions, and is held for each whole operation, including the page-cache append of the records the
// operation writes (so records reach the log in the order their state
// changes happened). Waiting for fsync, and waiting for a rebalance to
// complete (JoinGroup, SyncGroup), happens outside mu. Timer callbacks take
// mu and check a token, so a timer that fired after being superseded does
// nothing. A partition is replayed outside mu into a private map, which is
// merged under mu if the partition is still led under the same epoch.
//
// Cross-package lock order: group (Coordinator.mu) → partition
// (partition.Partition's mutex, through the broker's Log adapter) → log
// (storage.Log's locks). The partition and the log never call back into
// the coordinator, so holding mu across an append cannot deadlock; nothing
// here may be called with a partition or log lock held.
package group

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/safe"
)

// OffsetsTopic is the internal topic holding offsets and group metadata.
const OffsetsTopic = "__consumer_offsets"

// Log is the __consumer_offsets topic as the coordinator uses it.
type Log interface {
	// Partitions returns the topic's partition count. With create it
	// creates the topic if missing; without, it returns 0 if missing.
	Partitions(create bool) (int32, error)
	// Append writes one v2 batch (base offset 0) to partition p as its
	// leader and returns the log end offset after it and the leader epoch
	// it was written under. The data is not yet durable nor replicated.
	// Errors may be *kerr.Error values (NOT_COORDINATOR when this broker
	// does not lead p); others answer COORDINATOR_NOT_AVAILABLE.
	Append(p int32, batch []byte) (end int64, epoch int32, err error)
	// Sync returns once every offset of p below end is durable and
	// committed (in every in-sync replica, as acks=all), while p is led
	// under epoch. Errors as for Append.
	Sync(p int32, end int64, epoch int32) error
	// Read calls fn with every stored batch of p up to the log end, in
	// offset order.
	Read(p int32, fn func(batch []byte) error) error
}

// TxnLog is implemented by a Log whose transactional offset commits are
// verified with the transaction coordinator (KIP-890): AppendTxn writes a
// TxnOffsetCommit's batch like Append, with the verification the caller
// of TxnOffsetCommitVerified obtained for it (opaque here).
type TxnLog interface {
	AppendTxn(p int32, batch []byte, verification any) (end int64, epoch int32, err error)
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

// realClock is the wall clock; a panic in a timer callback is recovered
// and logged (a session or rebalance timer must not take the broker down).
type realClock struct{ log *slog.Logger }

func (realClock) Now() time.Time { return time.Now() }
func (c realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, safe.Func(c.log, "group-timer", f)).Stop
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

	// Share groups (KIP-932, share.go).
	ShareSessionTimeout    time.Duration // group.share.session.timeout.ms
	ShareHeartbeatInterval time.Duration // group.share.heartbeat.interval.ms
	ShareMaxSize           int           // group.share.max.size
}

// Coordinator coordinates the groups of the offsets partitions this broker
// leads.
type Coordinator struct {
	cfg   Config
	clock Clock
	log   *slog.Logger

	mu     sync.Mutex
	nparts int32 // partitions of the offsets topic; 0 until it exists
	// owned are the offsets partitions this broker leads.
	owned  map[int32]*ownedPart
	groups map[string]*group // groups of loaded owned partitions only
	// txnPending are transactional offset commits awaiting their
	// producer's marker (txn.go), of loaded owned partitions only.
	txnPending map[txnKey]*txnOffsets
	closed     bool
	stopGC     func() bool
}

// ownedPart is an offsets partition this broker leads under epoch.
type ownedPart struct {
	epoch  int32
	loaded bool
	// lateMarkers are transaction markers that reached the partition
	// while it loaded, possibly after the load read past them (txn.go).
	lateMarkers []lateMarker
	done        chan struct{} // closed when the load finished or was abandoned
}

// New returns a coordinator that leads no partition yet (see
// SetLeadership).
func New(cfg Config) (*Coordinator, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{cfg.Logger}
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
	if cfg.ShareSessionTimeout == 0 {
		cfg.ShareSessionTimeout = 45 * time.Second
	}
	if cfg.ShareHeartbeatInterval == 0 {
		cfg.ShareHeartbeatInterval = 5 * time.Second
	}
	if cfg.ShareMaxSize <= 0 {
		cfg.ShareMaxSize = 200
	}
	if cfg.ConsumerMaxSize <= 0 {
		cfg.ConsumerMaxSize = 1<<31 - 1
	}
	c := &Coordinator{cfg: cfg, clock: cfg.Clock, log: cfg.Logger, groups: map[string]*group{}, owned: map[int32]*ownedPart{}, txnPending: map[txnKey]*txnOffsets{}}
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
		c.dropGroup(g, kerr.CoordinatorNotAvailable)
	}
	c.groups = map[string]*group{}
}

// dropGroup stops g's timers and answers its waiting requests with err's
// code; the caller forgets g. Under mu.
func (c *Coordinator) dropGroup(g *group, err error) {
	g.stopJoinTimer()
	if g.cg != nil {
		for _, m := range g.cg.members {
			m.stopTimers()
		}
	}
	if g.sg != nil {
		for _, m := range g.sg.members {
			m.stopTimers()
		}
	}
	for _, m := range g.members {
		m.stopHeartbeat()
		c.failWaiters(g, m, err)
	}
	for _, p := range g.pending {
		p()
	}
}

// Ready makes sure the offsets topic exists (creating it on first use), so
// groups have coordinators.
func (c *Coordinator) Ready() error {
	n, err := c.cfg.Log.Partitions(true)
	if err == nil && n <= 0 {
		err = errors.New("offsets topic has no partitions")
	}
	return err
}

// PartitionFor is the offsets topic partition of groupID, or -1 if the topic
// does not exist yet.
func (c *Coordinator) PartitionFor(groupID string) int32 {
	c.mu.Lock()
	n := c.nparts
	c.mu.Unlock()
	if n == 0 {
		return -1
	}
	return PartitionFor(groupID, n)
}

// SetLeadership tells the coordinator that the offsets topic has
// partitions partitions and that this broker leads exactly the partitions
// in led (partition -> leader epoch). Partitions newly led, or led under a
// new epoch, are replayed in the background; the groups of partitions no
// longer led are dropped from memory, their waiting requests answered
// NOT_COORDINATOR. The returned channel is closed once the loads this call
// started have finished.
func (c *Coordinator) SetLeadership(partitions int32, led map[int32]int32) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	all := make(chan struct{})
	if c.closed {
		close(all)
		return all
	}
	if partitions != c.nparts {
		// The topic appeared, or (never in practice) changed its
		// partition count: groups map to other partitions now.
		for p := range c.owned {
			c.unload(p)
		}
		c.nparts = partitions
	}
	for p, op := range c.owned {
		if e, ok := led[p]; !ok || e != op.epoch {
			c.unload(p)
		}
	}
	var loads []chan struct{}
	for _, p := range sortedPartitions(led) {
		if c.owned[p] != nil || p < 0 || p >= partitions {
			continue
		}
		op := &ownedPart{epoch: led[p], done: make(chan struct{})}
		c.owned[p] = op
		loads = append(loads, op.done)
		safe.Go(c.log, "group-load", func() { c.load(p, op) })
	}
	go func() { // safe: only waits
		for _, ch := range loads {
			<-ch
		}
		close(all)
	}()
	return all
}

func sortedPartitions(m map[int32]int32) []int32 {
	out := make([]int32, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// unload forgets offsets partition p and its groups. Under mu.
func (c *Coordinator) unload(p int32) {
	op := c.owned[p]
	if op == nil {
		return
	}
	delete(c.owned, p)
	for k := range c.txnPending {
		if k.part == p {
			delete(c.txnPending, k)
		}
	}
	n := 0
	for _, id := range sortedKeys(c.groups) {
		if PartitionFor(id, c.nparts) != p {
			continue
		}
		c.dropGroup(c.groups[id], kerr.NotCoordinator)
		delete(c.groups, id)
		n++
	}
	c.log.Info("offsets partition unloaded: no longer its leader", "partition", p, "leader_epoch", op.epoch, "groups", n)
}

// ownerCode reports whether this coordinator serves groupID now: 0, or
// NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS or (closed)
// COORDINATOR_NOT_AVAILABLE. Under mu.
func (c *Coordinator) ownerCode(groupID string) int16 {
	if c.closed {
		return kerr.CoordinatorNotAvailable.Code
	}
	if c.nparts == 0 {
		return kerr.NotCoordinator.Code
	}
	op := c.owned[PartitionFor(groupID, c.nparts)]
	switch {
	case op == nil:
		return kerr.NotCoordinator.Code
	case !op.loaded:
		return kerr.CoordinatorLoadInProgress.Code
	}
	return 0
}

// loading reports whether some led partition is still being loaded. Under
// mu.
func (c *Coordinator) loading() bool {
	for _, op := range c.owned {
		if !op.loaded {
			return true
		}
	}
	return false
}

// write is a pending write: Wait returns once it is durable and committed.
type write struct {
	c     *Coordinator
	part  int32
	end   int64
	epoch int32
	err   error
}

// Wait blocks until the write is durable and replicated to the in-sync
// replicas; nil-safe.
func (w *write) Wait() error {
	if w == nil {
		return nil
	}
	if w.err != nil {
		return w.err
	}
	return w.c.cfg.Log.Sync(w.part, w.end, w.epoch)
}

// writeCode is the wire error for a failed write: the log's own Kafka error
// (NOT_COORDINATOR when leadership moved), else COORDINATOR_NOT_AVAILABLE.
func writeCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}

// appendRecords writes recs for groupID's partition, which this
// coordinator must lead. Under mu.
func (c *Coordinator) appendRecords(groupID string, recs []kv) *write {
	if len(recs) == 0 {
		return nil
	}
	n := c.nparts
	if n == 0 {
		return &write{err: kerr.NotCoordinator}
	}
	p := PartitionFor(groupID, n)
	if c.owned[p] == nil {
		return &write{err: kerr.NotCoordinator}
	}
	end, epoch, err := c.cfg.Log.Append(p, buildBatch(recs, c.clock.Now().UnixMilli()))
	if err != nil {
		c.log.Warn("writing to offsets topic", "group", groupID, "partition", p, "err", err)
		return &write{err: err}
	}
	return &write{c: c, part: p, end: end, epoch: epoch}
}

// load replays offsets partition p (up to its log end) into a private map
// and, if p is still led under the same epoch, makes its groups live. Later
// records win; nil values are tombstones.
func (c *Coordinator) load(p int32, op *ownedPart) {
	defer close(op.done)
	start := time.Now()
	groups := map[string]*group{}
	now := c.clock.Now()
	nrec := 0
	pending := map[int64]*txnOffsets{}
	err := c.cfg.Log.Read(p, func(raw []byte) error {
		if loadTxn(raw, pending, func(r kv) { replay(groups, r, now) }) {
			return nil
		}
		recs, err := decodeBatch(raw)
		if err != nil {
			c.log.Warn("skipping unreadable offsets batch", "partition", p, "err", err)
			return nil
		}
		for _, r := range recs {
			nrec++
			replay(groups, r, now)
		}
		return nil
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.owned[p] != op {
		return // superseded: leadership moved meanwhile
	}
	if err != nil {
		c.log.Error("loading offsets partition", "partition", p, "err", err)
		delete(c.owned, p) // NOT_COORDINATOR; the next SetLeadership retries
		return
	}
	for pid, t := range pending {
		c.txnPending[txnKey{p, pid}] = t
	}
	late := op.lateMarkers
	op.lateMarkers = nil
	defer func() {
		for _, m := range late {
			c.completeTxn(p, m.pid, m.commit)
		}
	}()
	for _, id := range sortedKeys(groups) {
		g := groups[id]
		c.groups[id] = g
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
	op.loaded = true
	c.log.Info("offsets partition loaded", "partition", p, "leader_epoch", op.epoch, "groups", len(groups), "records", nrec, "took", time.Since(start).Round(time.Millisecond))
}

// replay applies one record of an offsets partition to groups.
func replay(groups map[string]*group, r kv, now time.Time) {
	if len(r.Key) < 2 {
		return
	}
	version := int16(r.Key[0])<<8 | int16(r.Key[1])
	switch version {
	case 3, 4, 5, 6, 7, 8:
		replayConsumer(groups, r, now)
	case recShareGroupMetadata:
		replayShare(groups, r, now)
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if k.ReadFrom(r.Key) != nil {
			return
		}
		g := groups[k.Group]
		if r.Value == nil {
			if g != nil {
				g.deleteOffset(k.Topic, k.Partition)
			}
			return
		}
		var v kmsg.OffsetCommitValue
		if v.ReadFrom(r.Value) != nil {
			return
		}
		if g == nil {
			g = makeGroup(k.Group, now)
			groups[k.Group] = g
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
		if k.ReadFrom(r.Key) != nil {
			return
		}
		if r.Value == nil {
			if g := groups[k.Group]; g != nil && g.typ == typeClassic {
				delete(groups, k.Group)
			}
			return
		}
		var v kmsg.GroupMetadataValue
		if v.ReadFrom(r.Value) != nil {
			return
		}
		g := groups[k.Group]
		if g == nil {
			g = makeGroup(k.Group, now)
			groups[k.Group] = g
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
	return kv{Key: groupKey(g.id), Value: v.AppendTo(nil)}
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
