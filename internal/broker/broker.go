// Package broker answers Kafka requests: one file per API family, named by
// the lowest API key it serves (00_produce.go, 01_fetch.go, ...). Each file
// registers its handlers with the versions it serves; ApiVersions advertises
// exactly that table.
//
// Cluster metadata comes from the Raft quorum (internal/metadata). A
// reconcile loop applies every new metadata state to the local replicas:
// it opens the partitions this broker holds, gives each its role (leader or
// follower under a leader epoch), starts or stops follower fetchers, and
// deletes replicas that moved away or whose topic was deleted.
//
// Concurrency: Broker.mu guards topics, byID and local. A *topic value is
// immutable once published; each reconcile publishes new values. Handlers
// take mu only to look topics up, never across I/O. reconcileMu serializes
// reconciles. createMu serializes topic admin requests on this broker.
package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/group"
	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/replication"
	"github.com/tributary/tributary/internal/safe"
	"github.com/tributary/tributary/internal/storage"
	"github.com/tributary/tributary/internal/txn"
)

// Config configures a broker.
type Config struct {
	NodeID  int32
	DataDir string
	// Host and Port are advertised in Metadata.
	Host   string
	Port   int32
	Rack   string
	Broker *config.Broker
	Logger *slog.Logger
	// Quorum is this node's metadata quorum member.
	Quorum *metadata.Quorum
	// Now is the clock; tests inject one.
	Now func() time.Time
	// OnFsync, if set, is told the duration of every log fsync (metrics).
	OnFsync func(time.Duration)
	// Endpoints are the advertised listeners registered in the quorum
	// (Host and Port are the inter-broker one).
	Endpoints []metadata.Endpoint
	// InterBrokerClient are the client options follower fetchers dial
	// the leader's inter-broker listener with (TLS, SASL).
	InterBrokerClient []kgo.Opt
}

// Broker is one node's request handler and replica manager.
type Broker struct {
	cfg         Config
	authz       *authz // nil: no authorizer, every request allowed
	log         *slog.Logger
	quorum      *metadata.Quorum
	incarnation string
	// store owns the partition logs of DataDir (checkpoints, flusher,
	// retention, cleaner).
	store *storage.Manager
	repl  *replication.Manager

	createMu    sync.Mutex
	reconcileMu sync.Mutex

	// groups is the group coordinator (see group_hooks.go), set once by
	// StartGroups before the broker serves clients; guarded by mu for the
	// reconcile loop.
	groups *group.Coordinator
	// txns is the transaction coordinator (txn_hooks.go), set with
	// groups.
	txns *txn.Coordinator
	// markerClients send WriteTxnMarkers to other brokers (txn_hooks.go).
	markerClients markerClients

	mu     sync.RWMutex
	topics map[string]*topic
	byID   map[[16]byte]*topic
	local  map[tpKey]*localReplica
	state  *metadata.State // the state last reconciled
	ready  bool            // registered under this incarnation and unfenced

	// dynamic is the static broker config with the state's dynamic broker
	// configs over it (32_configs.go); nil until the first reconcile.
	// Guarded by mu.
	dynamic *config.Broker

	// pidMu guards the producer id block [pidNext, pidEnd).
	pidMu           sync.Mutex
	pidNext, pidEnd int64
	isrMu           sync.Mutex
	isrInFlight     map[tpKey]bool
	faults          faults        // offline replicas (offline.go)
	stats           brokerStats   // request-path counters (metrics.go)
	stop            chan struct{} // closed once, by Halt
	stopOnce        sync.Once
	wg              sync.WaitGroup // the background loops
}

type tpKey struct {
	topic string
	part  int32
}

type localReplica struct {
	p       *partition.Partition
	topicID [16]byte
	offline bool // the metadata marks it offline (offline.go); under reconcileMu
}

type topic struct {
	meta  *metadata.Topic
	cfg   config.TopicConfig
	parts []*partition.Partition // by index; nil where this broker holds no replica
	stats *topicStats            // counters, kept across reconciles (metrics.go)
}

func (t *topic) partition(i int32) *partition.Partition {
	if i < 0 || int(i) >= len(t.parts) {
		return nil
	}
	return t.parts[i]
}

// numPartitions is the topic's partition count.
func (t *topic) numPartitions() int32 { return t.meta.NumPartitions() }

// New opens the broker's data dir and starts applying metadata from the
// quorum.
func New(cfg Config) (*Broker, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Broker == nil {
		cfg.Broker, _ = config.NewBroker(nil)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	store, err := storage.OpenManager(storage.ManagerConfig{Dir: cfg.DataDir, Logger: cfg.Logger, Now: cfg.Now,
		RetentionCheckInterval: brokerMillis(cfg.Broker, "log.retention.check.interval.ms"),
		CheckpointInterval:     brokerMillis(cfg.Broker, "log.flush.offset.checkpoint.interval.ms"),
		CleanerInterval:        brokerMillis(cfg.Broker, "log.cleaner.backoff.ms"),
		MinFreeBytes:           cfg.Broker.Int("log.dir.min.free.bytes"), OnSync: cfg.OnFsync})
	if err != nil {
		return nil, err
	}
	var inc [8]byte
	rand.Read(inc[:])
	b := &Broker{cfg: cfg, log: cfg.Logger, quorum: cfg.Quorum, incarnation: hex.EncodeToString(inc[:]), store: store,
		authz:  newAuthz(cfg.Broker.Authorizer(), cfg.Logger, cfg.Now),
		topics: map[string]*topic{}, byID: map[[16]byte]*topic{}, local: map[tpKey]*localReplica{},
		isrInFlight: map[tpKey]bool{}, stop: make(chan struct{}),
		faults: faults{busy: map[tpKey]bool{}, locks: map[tpKey]*sync.Mutex{}, wake: make(chan struct{}, 1)}}
	b.repl = replication.New(replication.Config{Self: cfg.NodeID, Addr: b.brokerAddr, Logger: cfg.Logger, ClientOpts: cfg.InterBrokerClient,
		MaxWait: time.Duration(cfg.Broker.Int("replica.fetch.wait.max.ms")) * time.Millisecond, OnAppend: b.replicated})
	b.reconcile(b.quorum.State())
	b.wg.Add(4)
	go func() { defer b.wg.Done(); safe.Loop(b.log, "reconcile", b.stop, b.reconcileLoop) }()
	go func() { defer b.wg.Done(); safe.Loop(b.log, "heartbeat", b.stop, b.heartbeatLoop) }()
	go func() { defer b.wg.Done(); safe.Loop(b.log, "isr", b.stop, b.isrLoop) }()
	go func() { defer b.wg.Done(); safe.Loop(b.log, "replica-faults", b.stop, b.faultLoop) }()
	return b, nil
}

// StartGroups loads the group coordinator. Call it once the broker is Ready
// (its partitions, __consumer_offsets among them, are open) and before it
// serves clients.
func (b *Broker) StartGroups() error {
	g, err := b.newGroupCoordinator()
	if err != nil {
		return fmt.Errorf("loading consumer groups: %w", err)
	}
	tc := b.newTxnCoordinator()
	b.reconcileMu.Lock()
	b.mu.Lock()
	b.groups, b.txns = g, tc
	b.mu.Unlock()
	loaded := b.syncGroupLeadership() // only the offsets partitions led here
	txnLoaded := b.syncTxnLeadership()
	b.reconcileMu.Unlock()
	<-loaded
	<-txnLoaded
	return nil
}

// ClusterID is the cluster's id.
func (b *Broker) ClusterID() string { return b.quorum.State().ClusterID }

// NodeID is this broker's id.
func (b *Broker) NodeID() int32 { return b.cfg.NodeID }

// brokerMillis reads a broker interval config (0: the storage default).
func brokerMillis(c *config.Broker, name string) time.Duration {
	v, ok := c.Explicit(name)
	if !ok {
		return 0
	}
	ms, _ := strconv.ParseInt(v, 10, 64)
	return time.Duration(ms) * time.Millisecond
}

func (b *Broker) brokerAddr(id int32) (string, bool) {
	br, ok := b.quorum.State().Brokers[id]
	if !ok {
		return "", false
	}
	return br.Host + ":" + strconv.Itoa(int(br.Port)), true
}

// self describes this broker for registration.
func (b *Broker) self() metadata.Broker {
	return metadata.Broker{ID: b.cfg.NodeID, Host: b.cfg.Host, Port: b.cfg.Port, Rack: b.cfg.Rack, RaftAddr: b.quorum.Addr(), Incarnation: b.incarnation, Endpoints: b.cfg.Endpoints}
}

// heartbeatLoop keeps this broker registered with the active controller.
func (b *Broker) heartbeatLoop() {
	interval := time.Duration(b.cfg.Broker.Int("broker.heartbeat.interval.ms")) * time.Millisecond
	for {
		if err := b.quorum.Heartbeat(b.self()); err != nil {
			b.log.Debug("heartbeat failed", "err", err)
		}
		wait := interval
		if !b.Ready() {
			wait = min(interval, 100*time.Millisecond)
		}
		select {
		case <-b.stop:
			return
		case <-time.After(wait):
		}
	}
}

// Ready reports whether this broker is registered under its current
// incarnation, unfenced, and has applied that registration.
func (b *Broker) Ready() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.ready
}

// WaitReady waits until Ready.
func (b *Broker) WaitReady(ctx context.Context) error {
	for {
		ch := b.quorum.Changed()
		if b.Ready() {
			return nil
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("broker %d not ready: %w", b.cfg.NodeID, ctx.Err())
		}
	}
}

func (b *Broker) reconcileLoop() {
	for {
		ch := b.quorum.Changed()
		b.reconcile(b.quorum.State())
		select {
		case <-b.stop:
			return
		case <-ch:
		}
	}
}

// partitionMetadataFile is Kafka's per-partition file naming the topic id, so
// a topic deleted and recreated under the same name while this broker was
// away is not mistaken for the old one.
const partitionMetadataFile = "partition.metadata"

func (b *Broker) openLocal(t *metadata.Topic, i int32, cfg config.TopicConfig) (*partition.Partition, error) {
	dir := filepath.Join(b.cfg.DataDir, t.Name+"-"+strconv.Itoa(int(i)))
	idHex := hex.EncodeToString(t.ID[:])
	if data, err := os.ReadFile(filepath.Join(dir, partitionMetadataFile)); err == nil {
		if !strings.Contains(string(data), "topic_id: "+idHex) {
			b.log.Warn("removing data of an older topic with the same name", "dir", dir)
			l, err := b.store.Open(t.Name, i, storage.FromConfig(cfg.Get))
			if err == nil {
				l.Delete()
			}
		}
	}
	l, err := b.store.Open(t.Name, i, storage.FromConfig(cfg.Get))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, partitionMetadataFile), []byte("version: 0\ntopic_id: "+idHex+"\n"), 0o644); err != nil {
		l.Close()
		return nil, err
	}
	p, err := partition.Open(t.Name, i, b.cfg.NodeID, l)
	if err != nil {
		l.Close()
		return nil, err
	}
	return p, nil
}

// reconcile applies st to the local replicas and publishes the topic view.
func (b *Broker) reconcile(st *metadata.State) {
	b.reconcileMu.Lock()
	defer b.reconcileMu.Unlock()
	// Callers read the state before taking reconcileMu; one that waited
	// behind a newer reconcile must not publish an older view.
	if cur := b.quorum.State(); cur.Index > st.Index {
		st = cur
	}
	now := b.now()
	me, registered := st.Brokers[b.cfg.NodeID]
	// Roles apply only once the state includes this process's own
	// registration: an older state may name this broker leader of an epoch
	// it led before a restart.
	current := registered && me.Incarnation == b.incarnation
	ready := current && !me.Fenced && st.ClusterID != ""

	b.mu.RLock()
	local := make(map[tpKey]*localReplica, len(b.local))
	for k, v := range b.local {
		local[k] = v
	}
	old := b.topics
	bc, dynChanged := b.dynamicConfig(b.state, b.dynamic, st)
	b.mu.RUnlock()

	topics := make(map[string]*topic, len(st.Topics))
	byID := make(map[[16]byte]*topic, len(st.Topics))
	keep := map[tpKey]bool{}
	for _, name := range st.TopicNames() {
		mt := st.Topics[name]
		t := &topic{meta: mt, cfg: config.NewTopicConfig(mt.Configs, bc), parts: make([]*partition.Partition, len(mt.Parts)), stats: b.stats.forTopic(mt)}
		cfgChanged := dynChanged || old[name] == nil || !mapsEqual(old[name].meta.Configs, mt.Configs)
		for i, ps := range mt.Parts {
			if !slices.Contains(ps.Replicas, b.cfg.NodeID) {
				continue
			}
			k := tpKey{name, int32(i)}
			lr := local[k]
			if lr != nil && lr.topicID != mt.ID {
				b.dropLocal(k, lr)
				delete(local, k)
				lr = nil
			}
			if lr == nil {
				p, err := b.openLocal(mt, int32(i), t.cfg)
				if err != nil {
					b.log.Error("opening partition", "topic", name, "partition", i, "err", err)
					if current {
						b.openFailed(k, err) // offline.go
					}
					continue
				}
				lr = &localReplica{p: p, topicID: mt.ID}
				local[k] = lr
			} else if cfgChanged {
				lr.p.SetLogOptions(storage.FromConfig(t.cfg.Get))
			}
			keep[k] = true
			t.parts[i] = lr.p
			if current {
				b.applyRole(lr, ps, now)
			}
		}
		topics[name] = t
		byID[mt.ID] = t
	}
	b.stats.forget(func(name string) bool { return st.Topics[name] != nil })
	var deleted []string
	for k, lr := range local {
		if !keep[k] {
			if _, still := st.Topics[k.topic]; !still {
				deleted = append(deleted, k.topic)
			}
			b.dropLocal(k, lr)
			delete(local, k)
		}
	}
	b.mu.Lock()
	b.topics, b.byID, b.local, b.state, b.ready, b.dynamic = topics, byID, local, st, ready, bc
	groups := b.groups
	b.mu.Unlock()
	b.quorum.SetVisible(st.Index) // this broker now answers from st (metadata/visible.go)
	if groups != nil {
		for _, name := range uniq(deleted) {
			groups.TopicDeleted(name)
		}
		b.syncGroupLeadership() // load/unload offsets partitions (group_hooks.go)
		b.syncTxnLeadership()   // and transaction state partitions (txn_hooks.go)
	}
}

func (b *Broker) applyRole(lr *localReplica, ps metadata.Partition, now time.Time) {
	p := lr.p
	role := partition.Role{Leader: ps.Leader, LeaderEpoch: ps.LeaderEpoch, PartitionEpoch: ps.PartitionEpoch, Replicas: ps.Replicas, ISR: ps.ISR}
	prev := p.Role()
	changed := p.SetRole(role, now)
	b.isrChanged(prev, role) // metrics.go
	if offline, back := b.applyOffline(lr, ps); offline || !(changed || back) {
		return
	}
	switch {
	case ps.Leader == b.cfg.NodeID:
		b.repl.Unfollow(p)
		b.log.Info("became leader", "topic", p.Topic, "partition", p.Index, "leader_epoch", ps.LeaderEpoch, "isr", ps.ISR)
	case ps.Leader >= 0:
		b.repl.Follow(p, lr.topicID, ps.Leader, ps.LeaderEpoch)
		b.log.Debug("became follower", "topic", p.Topic, "partition", p.Index, "leader", ps.Leader, "leader_epoch", ps.LeaderEpoch)
	default:
		b.repl.Unfollow(p)
		b.log.Warn("partition offline", "topic", p.Topic, "partition", p.Index, "leader_epoch", ps.LeaderEpoch)
	}
}

func (b *Broker) dropLocal(k tpKey, lr *localReplica) {
	b.repl.Unfollow(lr.p)
	if err := lr.p.Delete(); err != nil {
		b.log.Error("deleting partition data", "topic", k.topic, "partition", k.part, "err", err)
	}
	b.log.Info("replica removed", "topic", k.topic, "partition", k.part)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func uniq(s []string) []string {
	sort.Strings(s)
	return slices.Compact(s)
}

// metaState returns the state last reconciled.
func (b *Broker) metaState() *metadata.State {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.state == nil {
		return b.quorum.State()
	}
	return b.state
}

func (b *Broker) topic(name string) *topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.topics[name]
}

func (b *Broker) topicByID(id [16]byte) *topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.byID[id]
}

// topicNames returns every topic name, sorted.
func (b *Broker) topicNames() []string {
	b.mu.RLock()
	names := make([]string, 0, len(b.topics))
	for n := range b.topics {
		names = append(names, n)
	}
	b.mu.RUnlock()
	sort.Strings(names)
	return names
}

// isrLoop shrinks the ISR of partitions this broker leads when followers
// stop catching up within replica.lag.time.max.ms.
func (b *Broker) isrLoop() {
	maxLag := time.Duration(b.cfg.Broker.Int("replica.lag.time.max.ms")) * time.Millisecond
	tick := time.NewTicker(max(maxLag/4, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-tick.C:
		}
		b.mu.RLock()
		var leaders []*partition.Partition
		for _, lr := range b.local {
			leaders = append(leaders, lr.p)
		}
		b.mu.RUnlock()
		now := b.now()
		for _, p := range leaders {
			if lag := p.LaggingISR(now, maxLag); len(lag) > 0 {
				r := p.Role()
				isr := slices.DeleteFunc(slices.Clone(r.ISR), func(id int32) bool { return slices.Contains(lag, id) })
				b.alterISR(p, r, isr)
			}
		}
	}
}

// alterISR asks the controller to change p's ISR, once at a time per
// partition, in the background; the change is logged once it is committed.
func (b *Broker) alterISR(p *partition.Partition, r partition.Role, isr []int32) {
	k := tpKey{p.Topic, p.Index}
	b.isrMu.Lock()
	if b.isrInFlight[k] {
		b.isrMu.Unlock()
		// The change in flight ends every pending expansion when it
		// completes; this follower is marked again at its next fetch.
		return
	}
	b.isrInFlight[k] = true
	b.isrMu.Unlock()
	safe.Go(b.log, "alter-isr", func() {
		defer func() {
			b.isrMu.Lock()
			delete(b.isrInFlight, k)
			b.isrMu.Unlock()
			p.EndISRExpansion()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := b.quorum.Propose(ctx, &metadata.Command{AlterPartition: &metadata.AlterPartition{
			Topic: p.Topic, Partition: p.Index, Leader: b.cfg.NodeID, LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartitionEpoch, ISR: isr}})
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			b.log.Debug("ISR change refused", "topic", p.Topic, "partition", p.Index, "err", err)
			return
		}
		b.log.Info("ISR changed", "topic", p.Topic, "partition", p.Index, "from", r.ISR, "to", isr, "partition_epoch", res.Value)
		b.quorum.WaitApplied(ctx, res.Index)
	})
}

// ControlledShutdown hands this broker's leaderships to other ISR members
// before it stops.
func (b *Broker) ControlledShutdown(ctx context.Context) error {
	if len(b.quorum.State().LiveBrokers()) <= 1 {
		return nil
	}
	return b.quorum.Fence(ctx, b.cfg.NodeID)
}

// Halt stops the broker's background loops at once, as a crash would:
// no more heartbeats (the controller fences this broker after
// broker.session.timeout.ms), ISR shrinks, metadata reconciles or replica
// fault handling. Requests in flight still finish; Close then stops the
// rest and closes the logs. A killed node halts before it waits for its
// connections to drain: a broker that kept heartbeating while an offset
// commit held the drain for offsets.commit.timeout.ms shrank the ISR of
// every partition it led to itself (its followers could no longer fetch),
// and those partitions had no leader once it was fenced.
func (b *Broker) Halt() {
	b.stopOnce.Do(func() { close(b.stop) })
	b.wg.Wait()
}

// Close stops the broker: fetchers, loops, groups, then flushes and closes
// every partition.
func (b *Broker) Close() error {
	b.Halt()
	b.repl.Close()
	if b.groups != nil {
		b.groups.Close()
	}
	if b.txns != nil {
		b.txns.Close()
	}
	b.closeMarkerClients()
	b.mu.Lock()
	defer b.mu.Unlock()
	var first error
	for _, lr := range b.local {
		if err := lr.p.Close(); err != nil && first == nil {
			first = err
		}
	}
	b.local = map[tpKey]*localReplica{}
	b.topics = map[string]*topic{}
	b.byID = map[[16]byte]*topic{}
	if b.store != nil {
		if err := b.store.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (b *Broker) now() time.Time { return b.cfg.Now() }

// api is one served API key.
type api struct {
	min, max int16
	fn       func(b *Broker, ctx context.Context, r *Request) Pending
}

var apis = map[int16]api{}

// register is called from each API file's init.
func register(key kmsg.Key, min, max int16, fn func(b *Broker, ctx context.Context, r *Request) Pending) {
	if _, dup := apis[key.Int16()]; dup {
		panic("api registered twice: " + key.Name())
	}
	apis[key.Int16()] = api{min: min, max: max, fn: fn}
}

// Versions returns the range of key's versions served (what ApiVersions
// advertises); ok is false when key is not served.
func (b *Broker) Versions(key int16) (min, max int16, ok bool) {
	a, ok := apis[key]
	return a.min, a.max, ok
}

// Handle serves one request.
func (b *Broker) Handle(ctx context.Context, r *Request) Pending {
	return apis[r.Key].fn(b, ctx, r)
}
