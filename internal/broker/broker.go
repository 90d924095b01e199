// Package broker answers Kafka requests: one file per API family, named by
// the lowest API key it serves (00_produce.go, 01_fetch.go, ...). Each file
// registers its handlers with the versions it serves; ApiVersions advertises
// exactly that table.
//
// Cluster metadata comes from the Raft quorum (internal/metadata). A
// reconcile loop applies every new metadata state: the replica manager
// (internal/replica) opens, gives roles to and deletes the local replicas,
// and the broker publishes its topic view (names, ids, configs, and the
// local replica of each partition) for the handlers.
//
// Concurrency: Broker.mu guards topics, byID, state, ready and dynamic. A
// *topic value is immutable once published; each reconcile publishes new
// values. Handlers take mu only to look topics up, never across I/O.
// reconcileMu serializes reconciles (lock order: reconcileMu → the replica
// manager's locks → mu). createMu serializes topic admin requests on this
// broker.
package broker

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/group"
	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/replica"
	"github.com/tributary/tributary/internal/replication"
	"github.com/tributary/tributary/internal/safe"
	"github.com/tributary/tributary/internal/share"
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
	// InterBrokerClient are the client options broker-to-broker kgo
	// clients (transaction markers) dial the inter-broker listener with
	// (TLS, SASL).
	InterBrokerClient []kgo.Opt
	// InterBrokerTLS and InterBrokerSASL are the same security for the
	// follower fetchers' own connections (nil: none).
	InterBrokerTLS  *tls.Config
	InterBrokerSASL sasl.Mechanism
}

// Broker is one node's request handler and replica manager.
type Broker struct {
	cfg Config
	// splices are the zero-copy record data of fetch responses not yet
	// written (*kmsg.FetchResponse → []protocol.Splice; splice.go).
	splices     sync.Map
	authz       *authz // nil: no authorizer, every request allowed
	log         *slog.Logger
	quorum      MetadataSource
	incarnation string
	// replicas is the replica manager: the local replicas, their logs
	// (the data dir's storage.Manager), roles, fetchers, ISR changes and
	// storage faults.
	replicas Replicas

	createMu    sync.Mutex
	reconcileMu sync.Mutex

	// groups is the group coordinator (see group_hooks.go), set once by
	// StartGroups before the broker serves clients; guarded by mu for the
	// reconcile loop.
	groups *group.Coordinator
	// txns is the transaction coordinator (txn_hooks.go), set with
	// groups.
	txns *txn.Coordinator
	// markerClients send WriteTxnMarkers to other brokers (txn_hooks.go)
	// and share state requests to share coordinators (share_hooks.go).
	markerClients markerClients
	// shares serves ShareFetch/ShareAcknowledge and shareStore is the
	// share coordinator (share_hooks.go), set with groups.
	shares     *share.Manager
	shareStore *share.Store

	mu     sync.RWMutex
	topics map[string]*topic
	byID   map[[16]byte]*topic
	state  *metadata.State // the state last reconciled
	ready  bool            // registered under this incarnation and unfenced

	// dynamic is the static broker config with the state's dynamic broker
	// configs over it (32_configs.go); nil until the first reconcile.
	// Guarded by mu.
	dynamic *config.Broker

	// pidMu guards the producer id block [pidNext, pidEnd).
	pidMu           sync.Mutex
	pidNext, pidEnd int64
	stats           brokerStats    // request-path counters (metrics.go)
	fetchSessions   *fetchSessions // KIP-227 sessions (fetch_sessions.go)
	quotas          *quotaManager  // client quotas (quotas.go)
	appends         *appendStage   // produce appends off the reader goroutines (append_stage.go)
	stop            chan struct{}  // closed once, by Halt
	stopOnce        sync.Once

	// leaderThrottle is leader.replication.throttled.rate, followerThrottle
	// follower.replication.throttled.rate (replication_throttle.go).
	leaderThrottle, followerThrottle replication.Throttle

	// hbMu is held by the heartbeat loop while a heartbeat is in flight
	// and by ControlledShutdown while it sets leaving, so no heartbeat
	// sent before the fence can reach the controller after it and
	// register (unfence) the broker again.
	hbMu    sync.Mutex
	leaving bool           // guarded by hbMu: controlled shutdown started, no more heartbeats
	wg      sync.WaitGroup // the background loops
}

type topic struct {
	meta  *metadata.Topic
	cfg   config.TopicConfig
	parts []*partition.Partition // by index; nil where this broker holds no replica
	stats *topicStats            // counters, kept across reconciles (metrics.go)
	hash  uint32                 // of the name: the base of its append shards (append_stage.go)
	// leaderThrottled and followerThrottled are its
	// leader/follower.replication.throttled.replicas (replication_throttle.go).
	leaderThrottled, followerThrottled config.ThrottledReplicas
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
	keys, err := encryptionKeys(cfg.Broker, cfg.Logger)
	if err != nil {
		return nil, err
	}
	store, err := storage.OpenManager(storage.ManagerConfig{Dir: cfg.DataDir, Logger: cfg.Logger, Now: cfg.Now, Keys: keys,
		RetentionCheckInterval: brokerMillis(cfg.Broker, "log.retention.check.interval.ms"),
		CheckpointInterval:     brokerMillis(cfg.Broker, "log.flush.offset.checkpoint.interval.ms"),
		CleanerInterval:        brokerMillis(cfg.Broker, "log.cleaner.backoff.ms"),
		MinFreeBytes:           cfg.Broker.Int("log.dir.min.free.bytes"), MaxBytes: cfg.Broker.Int("log.dir.max.bytes"), OnSync: cfg.OnFsync,
		MaxOpenFiles: int(cfg.Broker.Int("log.open.files.max"))})
	if err != nil {
		return nil, err
	}
	var inc [8]byte
	rand.Read(inc[:])
	b := &Broker{cfg: cfg, log: cfg.Logger, quorum: cfg.Quorum, incarnation: hex.EncodeToString(inc[:]),
		authz:  newAuthz(cfg.Broker.Authorizer(), cfg.Logger, cfg.Now),
		quotas: newQuotaManager(cfg.Now, cfg.Broker.Int("quota.window.num"), cfg.Broker.Int("quota.window.size.seconds")),
		topics: map[string]*topic{}, byID: map[[16]byte]*topic{}, stop: make(chan struct{}),
		appends: newAppendStage(appendShards())}
	b.fetchSessions = newFetchSessions(int(cfg.Broker.Int("max.incremental.fetch.session.cache.slots")), cfg.Now)
	b.replicas = replica.New(replica.Config{Self: cfg.NodeID, Store: store, Quorum: cfg.Quorum, Logger: cfg.Logger, Now: cfg.Now,
		MaxLag: time.Duration(cfg.Broker.Int("replica.lag.time.max.ms")) * time.Millisecond,
		Fetch: replication.Config{Addr: b.brokerAddr, TLS: cfg.InterBrokerTLS, SASL: cfg.InterBrokerSASL,
			MaxWait: time.Duration(cfg.Broker.Int("replica.fetch.wait.max.ms")) * time.Millisecond, OnAppend: b.replicated,
			FollowerThrottle: &b.followerThrottle, FollowerThrottled: b.followerThrottled},
		OnRole: b.isrChanged})
	b.reconcile(b.quorum.State())
	b.wg.Add(2)
	go func() { defer b.wg.Done(); safe.Loop(b.log, "reconcile", b.stop, b.reconcileLoop) }()
	go func() { defer b.wg.Done(); safe.Loop(b.log, "heartbeat", b.stop, b.heartbeatLoop) }()
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
	sm, ss := b.newShares()
	b.reconcileMu.Lock()
	b.mu.Lock()
	b.groups, b.txns = g, tc
	b.shares, b.shareStore = sm, ss
	b.mu.Unlock()
	loaded := b.syncGroupLeadership() // only the offsets partitions led here
	txnLoaded := b.syncTxnLeadership()
	shareLoaded := b.syncShareLeadership()
	b.reconcileMu.Unlock()
	<-loaded
	<-txnLoaded
	<-shareLoaded
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
		b.hbMu.Lock()
		if !b.leaving {
			if err := b.quorum.Heartbeat(b.self()); err != nil {
				b.log.Debug("heartbeat failed", "err", err)
			}
		}
		b.hbMu.Unlock()
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

// reconcile applies st: the replica manager applies it to the local
// replicas, then the topic view is published.
func (b *Broker) reconcile(st *metadata.State) {
	b.reconcileMu.Lock()
	defer b.reconcileMu.Unlock()
	// Callers read the state before taking reconcileMu; one that waited
	// behind a newer reconcile must not publish an older view.
	if cur := b.quorum.State(); cur.Index > st.Index {
		st = cur
	}
	me, registered := st.Brokers[b.cfg.NodeID]
	// Roles apply only once the state includes this process's own
	// registration: an older state may name this broker leader of an epoch
	// it led before a restart.
	current := registered && me.Incarnation == b.incarnation
	ready := current && !me.Fenced && st.ClusterID != ""

	b.mu.RLock()
	old := b.topics
	bc, dynChanged := b.dynamicConfig(b.state, b.dynamic, st)
	b.mu.RUnlock()

	topics := make(map[string]*topic, len(st.Topics))
	byID := make(map[[16]byte]*topic, len(st.Topics))
	for _, name := range st.TopicNames() {
		mt := st.Topics[name]
		t := &topic{meta: mt, cfg: config.NewTopicConfig(mt.Configs, bc), parts: make([]*partition.Partition, len(mt.Parts)), stats: b.stats.forTopic(mt), hash: fnv32(mt.Name)}
		t.leaderThrottled = throttledReplicas(t.cfg, config.LeaderThrottledReplicasKey)
		t.followerThrottled = throttledReplicas(t.cfg, config.FollowerThrottledReplicasKey)
		topics[name] = t
		byID[mt.ID] = t
	}
	done := b.replicas.Reconcile(st, current, ready, func(name string) (storage.Options, bool) {
		changed := dynChanged || old[name] == nil || !mapsEqual(old[name].meta.Configs, st.Topics[name].Configs)
		return storage.FromConfig(topics[name].cfg.Get), changed
	})
	for k, p := range done.Parts {
		topics[k.Topic].parts[k.Partition] = p
	}
	b.stats.forget(func(name string) bool { return st.Topics[name] != nil })
	b.leaderThrottle.Set(bc.Get(config.LeaderThrottledRateKey))
	b.followerThrottle.Set(bc.Get(config.FollowerThrottledRateKey))
	b.mu.Lock()
	b.topics, b.byID, b.state, b.ready, b.dynamic = topics, byID, st, ready, bc
	groups := b.groups
	b.mu.Unlock()
	b.quorum.SetVisible(st.Index) // this broker now answers from st (metadata/visible.go)
	if groups != nil {
		for _, name := range done.Deleted {
			groups.TopicDeleted(name)
		}
		b.syncGroupLeadership() // load/unload offsets partitions (group_hooks.go)
		b.syncTxnLeadership()   // and transaction state partitions (txn_hooks.go)
		b.syncShareLeadership() // and share state partitions (share_hooks.go)
	}
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

// ControlledShutdown hands this broker's leaderships to other ISR members
// before it stops.
// Heartbeats stop first (waiting for one in flight): a heartbeat from a
// fenced broker registers it again, which unfenced a broker in controlled
// shutdown, and the last broker of a cluster being stopped then waited its
// whole shutdown timeout for a fence without a quorum.
func (b *Broker) ControlledShutdown(ctx context.Context) error {
	b.hbMu.Lock()
	b.leaving = true
	b.hbMu.Unlock()
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
	b.replicas.Halt()
}

// Close stops the broker: fetchers, loops, groups, then flushes and closes
// every partition.
func (b *Broker) Close() error {
	b.Halt()
	b.appends.close() // appends queued before now finish on open logs
	b.replicas.CloseFetchers()
	if b.groups != nil {
		b.groups.Close()
	}
	if b.txns != nil {
		b.txns.Close()
	}
	if b.shareStore != nil {
		b.shareStore.Close()
	}
	b.closeMarkerClients()
	err := b.replicas.Close()
	b.mu.Lock()
	b.topics = map[string]*topic{}
	b.byID = map[[16]byte]*topic{}
	b.mu.Unlock()
	return err
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

// Handle serves one request. With request_percentage quotas in the
// state, the time the handler took counts against r's quota and an
// over-quota response carries the throttle time (quotas.go).
func (b *Broker) Handle(ctx context.Context, r *Request) Pending {
	fn := apis[r.Key].fn
	if r.Key != kmsg.Produce.Int16() && r.Conn != nil {
		// A request sees the appends of the produce requests before it
		// on its connection (append_stage.go).
		r.Conn.Appends.Wait()
	}
	st := b.quorum.State()
	if len(st.Quotas) == 0 {
		return fn(b, ctx, r)
	}
	start := time.Now()
	p := fn(b, ctx, r)
	if r.Key == kmsg.Produce.Int16() && r.Conn != nil {
		// request_percentage counts a produce's appends (quotas.go):
		// with quotas in the state they finish before the next request.
		r.Conn.Appends.Wait()
	}
	d := b.requestThrottle(st, r, time.Since(start))
	if d <= 0 {
		return p
	}
	if p == nil { // no response (acks=0): mute the connection instead
		if r.Conn != nil && r.Conn.Mute != nil {
			r.Conn.Mute(d)
		}
		return nil
	}
	return func() kmsg.Response {
		resp := p()
		if resp != nil {
			throttled(resp, d)
		}
		return resp
	}
}

// encryptionKeys loads the keyring of encryption at rest when
// log.encryption.enable is set (nil when it is not).
func encryptionKeys(c *config.Broker, log *slog.Logger) (*storage.Keyring, error) {
	if !c.Bool("log.encryption.enable") {
		if c.Get("log.encryption.key.file") != "" || c.Get("log.encryption.key.command") != "" {
			log.Warn("log.encryption.key.* is set but log.encryption.enable is false: segments are written unencrypted")
		}
		return nil, nil
	}
	kr, err := storage.LoadKeyring(
		storage.KeySource{File: c.Get("log.encryption.key.file"), Command: c.Get("log.encryption.key.command")},
		storage.KeySource{File: c.Get("log.encryption.previous.key.file"), Command: c.Get("log.encryption.previous.key.command")})
	if err != nil {
		return nil, fmt.Errorf("log.encryption: %w", err)
	}
	return kr, nil
}
