package connect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/safe"
)

// WorkerConfig is a worker's configuration (Connect's distributed worker
// keys, resolved by the CLI).
type WorkerConfig struct {
	GroupID string
	// WorkerID is the advertised host:port (Connect's worker_id); URL is
	// http://WorkerID.
	WorkerID string

	ConfigTopic, OffsetTopic, StatusTopic string

	// Worker-level converters (key.converter / value.converter and their
	// prefixed settings); connectors may override them.
	KeyConverter, ValueConverter string
	ConverterProps               map[string]string

	OffsetFlushInterval time.Duration
	HeartbeatInterval   time.Duration
	SessionTimeout      time.Duration
	RebalanceTimeout    time.Duration
	// RebalanceDelay holds a departed worker's work this long before
	// handing it to the others (scheduled.rebalance.max.delay.ms).
	RebalanceDelay time.Duration
	// TaskShutdownTimeout bounds a task's graceful stop.
	TaskShutdownTimeout time.Duration
	// ExactlyOnceSource: exactly.once.source.support=enabled (KIP-618).
	ExactlyOnceSource bool

	// ConnectProtocol is connect.protocol: sessioned (default),
	// compatible or eager; it decides the sub-protocols offered.
	ConnectProtocol string
	// Internal request signing under "sessioned" (KIP-507):
	// inter.worker.key.ttl.ms, inter.worker.key.generation.algorithm,
	// inter.worker.signature.algorithm and
	// inter.worker.verification.algorithms (Java Mac names; empty:
	// HmacSHA256).
	KeyTTL                 time.Duration
	KeyAlgorithm           string
	SignatureAlgorithm     string
	VerificationAlgorithms []string

	Logger *slog.Logger
	// LogLevel, if set, is the level of Logger's handler: /admin/loggers
	// reads and changes it as the logger "root".
	LogLevel *slog.LevelVar
}

// URL is the worker's REST base URL.
func (c *WorkerConfig) URL() string { return "http://" + c.WorkerID }

// Requester sends a Kafka request to the right broker (kgo.Client does:
// group requests go to the group's coordinator).
type Requester interface {
	Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
}

// Producer sends source records. Produce returns at once; done runs (on
// any goroutine) when the record is acknowledged (with the partition and
// offset it was written at) or failed. Flush waits for every record
// produced so far.
type Producer interface {
	Produce(ctx context.Context, r ProducerRecord, done func(partition int32, offset int64, err error))
	Flush(ctx context.Context) error
}

// TxnProducer is a source task's transactional producer (exactly-once
// sources). Produce as Producer's; Commit flushes and commits the
// transaction, Abort drops what is buffered and aborts it. Used by the
// task's goroutine only (done callbacks run anywhere).
type TxnProducer interface {
	Begin() error
	Produce(ctx context.Context, r ProducerRecord, done func(partition int32, offset int64, err error))
	Commit(ctx context.Context) error
	Abort(ctx context.Context) error
	Close()
}

// ProducerRecord is a converted source record. Partition -1 lets the
// partitioner choose; a zero Timestamp is the time of production.
type ProducerRecord struct {
	Topic     string
	Partition int32
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time
}

// ConsumedRecord is a record a sink consumer returned, before conversion.
type ConsumedRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Timestamp time.Time
	Headers   []Header
}

// SinkConsumerConfig configures a sink task's consumer.
type SinkConsumerConfig struct {
	Group  string
	Topics []string
	Regex  string
	// BeforeRevoke runs before partitions are taken away, on the
	// consumer's goroutine, while the task loop is between polls (the
	// consumer blocks rebalances from a Poll until Done): it flushes the
	// task so the consumer can commit.
	BeforeRevoke func()
}

// SinkConsumer is a sink task's group consumer (group connect-<name>).
// Poll, Commit, Done, Pause and Close are called from the task's goroutine.
type SinkConsumer interface {
	// Poll returns the next records, blocking until some arrive or ctx
	// ends. A rebalance cannot start until Done is called.
	Poll(ctx context.Context) ([]ConsumedRecord, error)
	// Done allows a rebalance again after a Poll's records were handled.
	Done()
	// Commit commits the offsets after every record returned by Poll.
	Commit(ctx context.Context) error
	Pause(paused bool)
	Close()
}

// Deps are the worker's connections to the cluster.
type Deps struct {
	Group Requester
	// OpenLog opens a compacted internal topic; apply sees its records.
	OpenLog  func(topic string, apply ApplyFunc) (Log, error)
	Producer Producer
	// NewTxnProducer opens a transactional producer (exactly-once sources).
	NewTxnProducer  func(transactionalID string) (TxnProducer, error)
	NewSinkConsumer func(SinkConsumerConfig) (SinkConsumer, error)
	// SinkOffsets reads the committed offsets of a consumer group.
	SinkOffsets func(ctx context.Context, group string) ([]ConnectorOffset, error)
	// AlterSinkOffsets commits (offset >= 0) or deletes (offset < 0)
	// offsets of a consumer group; reset deletes the whole group.
	AlterSinkOffsets func(ctx context.Context, group string, offsets map[string]map[int32]int64, reset bool) error
	// Forward sends an internal request (task configs, a fencing) to the
	// leader, with header (the request signature) added.
	Forward   func(ctx context.Context, method, url string, body []byte, header map[string]string) error
	ClusterID string
}

// Herder is one worker: it owns the connectors and tasks assigned to it and,
// as the group leader, the writes to the config topic.
type Herder struct {
	cfg     WorkerConfig
	deps    Deps
	plugins *Plugins
	log     *slog.Logger

	configLog, statusLog, offsetLog Log

	mu sync.Mutex // guards the fields below; never held across I/O
	// config, status and offsets are the internal topics' contents,
	// updated by the logs' apply callbacks.
	config  *configState
	status  *statusState
	offsets *offsetState
	// started is set once the logs were read to the end at start-up;
	// restart requests read before are history, not requests.
	started    bool
	memberID   string
	generation int32
	// protocol is the connect sub-protocol the group chose last.
	protocol  string
	isLeader  bool
	leaderURL string
	assigned  assignment
	// rebalancing is set from JoinGroup until the assignment is applied.
	rebalancing bool
	// lost: the coordinator evicted this member; its work must stop
	// before it rejoins.
	lost bool

	// appliedClusterLevel is the cluster-scope log level last applied.
	appliedClusterLevel string
	// levelModified is when the log level last changed (ms, 0: never).
	levelModified int64

	// writeMu serialises the leader's check-then-write config updates.
	writeMu sync.Mutex

	wake     chan struct{}
	requests chan func()

	// Owned by the herder goroutine (Run).
	connectors map[string]*connectorRunner
	tasks      map[TaskID]*taskRunner
	// Leader only: the work the last assignment covered, who held what,
	// and when lost work may be reassigned.
	lastWork   string
	lastOwners map[string]string
	lostUntil  map[string]time.Time
}

// NewHerder opens the internal topics and returns a worker; Run starts it.
func NewHerder(cfg WorkerConfig, deps Deps, plugins *Plugins) (*Herder, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Herder{cfg: cfg, deps: deps, plugins: plugins, log: cfg.Logger,
		config: newConfigState(), status: newStatusState(), offsets: &offsetState{offsets: map[string]map[string]any{}},
		wake: make(chan struct{}, 1), requests: make(chan func()),
		connectors: map[string]*connectorRunner{}, tasks: map[TaskID]*taskRunner{},
		lastOwners: map[string]string{}, lostUntil: map[string]time.Time{}}
	var err error
	if h.configLog, err = deps.OpenLog(cfg.ConfigTopic, func(_ int32, off int64, k, v []byte) {
		h.mu.Lock()
		h.config.apply(off, k, v)
		if !h.started {
			h.config.restarts = nil
		}
		h.mu.Unlock()
		h.poke()
	}); err != nil {
		return nil, err
	}
	if h.statusLog, err = deps.OpenLog(cfg.StatusTopic, func(_ int32, _ int64, k, v []byte) {
		h.mu.Lock()
		h.status.apply(k, v)
		h.mu.Unlock()
	}); err != nil {
		h.configLog.Close()
		return nil, err
	}
	if h.offsetLog, err = deps.OpenLog(cfg.OffsetTopic, func(_ int32, _ int64, k, v []byte) {
		h.mu.Lock()
		h.offsets.apply(k, v)
		h.mu.Unlock()
	}); err != nil {
		h.configLog.Close()
		h.statusLog.Close()
		return nil, err
	}
	return h, nil
}

func (h *Herder) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Run reads the internal topics, joins the group and runs the assigned
// work until ctx ends; then it stops every task, leaves the group and
// closes the logs.
func (h *Herder) Run(ctx context.Context) error {
	defer func() {
		h.configLog.Close()
		h.statusLog.Close()
		h.offsetLog.Close()
	}()
	for _, l := range []Log{h.configLog, h.statusLog, h.offsetLog} {
		if err := l.ReadToEnd(ctx); err != nil {
			return fmt.Errorf("reading the internal topics: %w", err)
		}
	}
	h.mu.Lock()
	h.started, h.config.restarts = true, nil
	h.mu.Unlock()
	h.log.Info("connect worker started", "worker_id", h.cfg.WorkerID, "group", h.cfg.GroupID)
	for ctx.Err() == nil {
		if h.takeLost() {
			// Evicted from the group: the others may run our work already.
			h.log.Warn("connect group membership lost; stopping all work before rejoining")
			h.stopAll()
		}
		a, err := h.join(ctx)
		if err != nil {
			if ctx.Err() == nil && !h.lostSet() {
				h.log.Warn("joining the connect group", "err", err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		// Heartbeats run on their own goroutine so slow work here (a task's
		// graceful stop, a forward to the leader) never costs the session.
		hbCtx, hbCancel := context.WithCancel(ctx)
		hbErr := make(chan error, 1)
		hbDone := make(chan struct{})
		safe.Go(h.log, "connect heartbeat", func() {
			defer close(hbDone)
			h.heartbeatLoop(hbCtx, hbErr)
		})
		rejoin := h.applyAssignment(ctx, a)
		if !rejoin {
			h.stable(ctx, hbErr, time.Duration(a.Delay)*time.Millisecond)
		}
		hbCancel()
		<-hbDone
	}
	h.shutdown()
	return nil
}

// stopAll stops every connector and task of this worker.
func (h *Herder) stopAll() {
	// Cancel every task first so they stop in parallel; wait for them
	// under one deadline; then write the statuses together.
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.TaskShutdownTimeout)
	defer cancel()
	for _, t := range h.tasks {
		t.noStatus.Store(true)
		t.cancel()
	}
	var keys [][]byte
	for id, t := range h.tasks {
		select {
		case <-t.done:
		case <-ctx.Done():
			h.log.Warn("connect task did not stop in time; abandoning it", "task", id.String())
		}
		delete(h.tasks, id)
		keys = append(keys, statusTaskKey(id))
	}
	for name := range h.connectors {
		h.stopConnector(name, false)
		keys = append(keys, statusConnectorKey(name))
	}
	h.putStatuses(keys, StateUnassigned)
}

// putStatuses writes one state for many keys concurrently, within a few
// seconds (at shutdown the cluster may be gone).
func (h *Herder) putStatuses(keys [][]byte, state string) {
	h.mu.Lock()
	gen := h.generation
	h.mu.Unlock()
	b, _ := json.Marshal(statusValue{State: state, WorkerID: h.cfg.WorkerID, Generation: gen})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Add(1)
		safe.Go(h.log, "connect status write", func() {
			defer wg.Done()
			if err := h.statusLog.Send(ctx, k, b); err != nil {
				h.log.Warn("writing status", "key", string(k), "err", err)
			}
		})
	}
	wg.Wait()
}

// markLost records that the coordinator no longer knows this member.
func (h *Herder) markLost() {
	h.mu.Lock()
	h.memberID, h.lost = "", true
	h.mu.Unlock()
}

func (h *Herder) takeLost() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.lost
	h.lost = false
	return l
}

func (h *Herder) lostSet() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lost
}

// shutdown stops all work (statuses UNASSIGNED) and leaves the group.
func (h *Herder) shutdown() {
	h.stopAll()
	h.mu.Lock()
	member := h.memberID
	h.mu.Unlock()
	if member != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Group, req.MemberID = h.cfg.GroupID, member
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = member
		req.Members = append(req.Members, m)
		if _, err := req.RequestWith(ctx, h.deps.Group); err != nil {
			h.log.Warn("leaving the connect group", "err", err)
		}
	}
}

// stable reconciles until a rebalance is needed: the heartbeat loop
// reports one on hbErr, the leader sees the work change, or the
// assignment's delay (work held back for a departed worker) is over.
func (h *Herder) stable(ctx context.Context, hbErr <-chan error, delay time.Duration) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var delayed <-chan time.Time
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		delayed = t.C
	}
	for {
		select {
		case <-delayed:
			h.log.Info("rejoining the connect group", "reason", "the scheduled rebalance delay is over")
			return
		case <-ctx.Done():
			return
		case err := <-hbErr:
			h.log.Info("rejoining the connect group", "reason", err)
			return
		case <-h.wake:
			if h.reconcile(ctx) {
				return
			}
		case f := <-h.requests:
			f()
		case <-tick.C:
			if h.reconcile(ctx) {
				return
			}
		}
	}
}

// heartbeatLoop heartbeats every HeartbeatInterval until ctx ends or the
// member is gone. The first error (a rebalance to join) is reported on
// errc; heartbeats go on meanwhile, as they keep the session alive while
// the herder finishes what it is doing.
func (h *Herder) heartbeatLoop(ctx context.Context, errc chan<- error) {
	t := time.NewTicker(h.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := h.heartbeat(ctx); err != nil && ctx.Err() == nil {
			select {
			case errc <- err:
			default:
			}
			if h.lostSet() {
				return
			}
		}
	}
}

func (h *Herder) heartbeat(ctx context.Context) error {
	h.mu.Lock()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = h.cfg.GroupID, h.memberID, h.generation
	h.mu.Unlock()
	resp, err := req.RequestWith(ctx, h.deps.Group)
	if err != nil {
		return err
	}
	if err := kerrFor(resp.ErrorCode); err != nil {
		if isMemberGone(resp.ErrorCode) {
			h.markLost()
		}
		return err
	}
	return nil
}

// owned returns the work this worker runs, for its JoinGroup metadata.
func (h *Herder) owned() ([]string, []TaskID) {
	cs := slices.Sorted(maps.Keys(h.connectors))
	ts := slices.SortedFunc(maps.Keys(h.tasks), compareTask)
	return nonNil(cs), nonNil(ts)
}

// join runs JoinGroup and SyncGroup (and the assignor when leader).
func (h *Herder) join(ctx context.Context) (assignment, error) {
	h.mu.Lock()
	h.rebalancing = true
	member := h.memberID
	offset := h.config.offset
	prev := h.assigned
	eager := h.protocol == protocolEager
	h.mu.Unlock()
	if eager {
		// Eager rebalancing: a member gives up all its work before joining.
		h.stopAll()
	}
	cs, ts := h.owned()
	url := h.cfg.URL() + "/"
	joinProtocols := offeredProtocols(h.cfg.ConnectProtocol)
	var resp *kmsg.JoinGroupResponse
	for attempt := 0; ; attempt++ {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID, req.ProtocolType = h.cfg.GroupID, member, "connect"
		req.SessionTimeoutMillis = int32(h.cfg.SessionTimeout.Milliseconds())
		req.RebalanceTimeoutMillis = int32(h.cfg.RebalanceTimeout.Milliseconds())
		for _, name := range joinProtocols {
			md := workerMetadata{Version: protocolVersion(name), URL: url, ConfigOffset: offset}
			if len(cs)+len(ts) > 0 {
				md.Allocation = &wireAssignment{Version: md.Version, Leader: prev.Leader, LeaderURL: prev.LeaderURL, ConfigOffset: prev.ConfigOffset, Connectors: cs, Tasks: ts}
			}
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name, p.Metadata = name, encodeMetadata(md)
			req.Protocols = append(req.Protocols, p)
		}
		var err error
		if resp, err = req.RequestWith(ctx, h.deps.Group); err != nil {
			return assignment{}, err
		}
		if resp.ErrorCode == kerrMemberIDRequired && attempt < 3 {
			member = resp.MemberID
			continue
		}
		if isMemberGone(resp.ErrorCode) {
			h.markLost()
		}
		if err := kerrFor(resp.ErrorCode); err != nil {
			return assignment{}, err
		}
		break
	}
	protocol := protocolCompatible
	if resp.Protocol != nil {
		protocol = *resp.Protocol
	}
	if !slices.Contains(joinProtocols, protocol) {
		return assignment{}, fmt.Errorf("the group chose sub-protocol %q, which this worker does not speak", protocol)
	}
	h.mu.Lock()
	h.memberID, h.generation, h.protocol = resp.MemberID, resp.Generation, protocol
	h.mu.Unlock()

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = h.cfg.GroupID, resp.MemberID, resp.Generation
	sync.ProtocolType, sync.Protocol = kmsg.StringPtr("connect"), kmsg.StringPtr(protocol)
	if resp.LeaderID == resp.MemberID {
		plan, err := h.leaderAssign(ctx, resp, protocol)
		if err != nil {
			return assignment{}, err
		}
		sync.GroupAssignment = plan
	}
	sresp, err := sync.RequestWith(ctx, h.deps.Group)
	if err != nil {
		return assignment{}, err
	}
	if err := kerrFor(sresp.ErrorCode); err != nil {
		if isMemberGone(sresp.ErrorCode) {
			h.markLost()
		}
		return assignment{}, err
	}
	wa, err := decodeAssignment(sresp.MemberAssignment)
	if err != nil {
		return assignment{}, err
	}
	if wa.Error != assignmentNoError {
		if err := h.configLog.ReadToEnd(ctx); err != nil {
			return assignment{}, err
		}
		return assignment{}, errAssignmentFailed
	}
	// The assignment lists the new work; the member keeps what it held
	// minus the revoked (eager members hold nothing when they join).
	a := assignment{Leader: wa.Leader, LeaderURL: restURL(wa.LeaderURL), ConfigOffset: wa.ConfigOffset,
		RevokedConnectors: wa.RevokedConnectors, RevokedTasks: wa.RevokedTasks, Delay: int64(wa.DelayMs)}
	a.Connectors = mergeWork(cs, wa.Connectors, wa.RevokedConnectors, strings.Compare)
	a.Tasks = mergeWork(ts, wa.Tasks, wa.RevokedTasks, compareTask)
	h.mu.Lock()
	h.isLeader = resp.LeaderID == resp.MemberID
	h.leaderURL = a.LeaderURL
	h.mu.Unlock()
	return a, nil
}

// mergeWork is (held ∪ added) \ revoked, sorted.
func mergeWork[T comparable](held, added, revoked []T, cmp func(a, b T) int) []T {
	out := []T{}
	for _, w := range append(slices.Clone(held), added...) {
		if !slices.Contains(revoked, w) && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	slices.SortFunc(out, cmp)
	return out
}

// without is a \ b.
func without[T comparable](a, b []T) []T {
	var out []T
	for _, w := range a {
		if !slices.Contains(b, w) {
			out = append(out, w)
		}
	}
	return out
}

// workKey names a connector or a task in the leader's bookkeeping.
func connectorWork(n string) string { return "c:" + n }
func taskWork(id TaskID) string     { return "t:" + id.String() }

// leaderAssign reads the config topic to its end and runs the assignor
// over the members' metadata.
func (h *Herder) leaderAssign(ctx context.Context, resp *kmsg.JoinGroupResponse, protocol string) ([]kmsg.SyncGroupRequestGroupAssignment, error) {
	if err := h.configLog.ReadToEnd(ctx); err != nil {
		return nil, err
	}
	h.mu.Lock()
	connectors := h.config.connectorNames()
	tasks := h.config.taskIDs()
	offset := h.config.offset
	h.mu.Unlock()

	members := make([]memberWork, 0, len(resp.Members))
	present := map[string]bool{}
	leaderURL := h.cfg.URL() + "/"
	maxOffset := int64(-1)
	for _, m := range resp.Members {
		md, err := decodeMetadata(m.ProtocolMetadata)
		if err != nil {
			h.log.Warn("undecodable connect member metadata; treating it as holding nothing", "member", m.MemberID, "err", err)
		}
		mw := memberWork{ID: m.MemberID, URL: restURL(md.URL)}
		if md.Allocation != nil && protocol != protocolEager {
			mw.Connectors, mw.Tasks = md.Allocation.Connectors, md.Allocation.Tasks
		}
		maxOffset = max(maxOffset, md.ConfigOffset)
		members = append(members, mw)
		present[m.MemberID] = true
	}
	if maxOffset > offset {
		// A member has read more of the config topic than the leader
		// could: every member reads to the end and rejoins.
		h.log.Warn("connect group leader is behind a member's config offset; asking the group to rejoin", "leader_offset", offset, "member_offset", maxOffset)
		var out []kmsg.SyncGroupRequestGroupAssignment
		for _, m := range members {
			ga := kmsg.NewSyncGroupRequestGroupAssignment()
			ga.MemberID = m.ID
			ga.MemberAssignment = encodeAssignment(wireAssignment{Version: protocolVersion(protocol), Error: assignmentConfigMismatch,
				Leader: resp.MemberID, LeaderURL: leaderURL, ConfigOffset: offset})
			out = append(out, ga)
		}
		return out, nil
	}
	slices.SortFunc(members, func(a, b memberWork) int { return strings.Compare(a.ID, b.ID) })

	// Lost work: held by a member of the last assignment that is gone.
	now := time.Now()
	held := map[string]bool{}
	for _, m := range members {
		for _, c := range m.Connectors {
			held[connectorWork(c)] = true
		}
		for _, t := range m.Tasks {
			held[taskWork(t)] = true
		}
	}
	holdC, holdT := map[string]bool{}, map[TaskID]bool{}
	var delay time.Duration
	// A worker that stopped cleanly marked its work UNASSIGNED before
	// leaving: that work is free at once; only a vanished worker's is held.
	if err := h.statusLog.ReadToEnd(ctx); err != nil {
		return nil, err
	}
	h.mu.Lock()
	released := map[string]bool{}
	for c, v := range h.status.connectors {
		released[connectorWork(c)] = v.State == StateUnassigned
	}
	for id, v := range h.status.tasks {
		released[taskWork(id)] = v.State == StateUnassigned
	}
	h.mu.Unlock()
	check := func(work string) bool {
		owner, ok := h.lastOwners[work]
		if !ok || present[owner] || held[work] || released[work] || h.cfg.RebalanceDelay <= 0 {
			delete(h.lostUntil, work)
			return false
		}
		until, ok := h.lostUntil[work]
		if !ok {
			until = now.Add(h.cfg.RebalanceDelay)
			h.lostUntil[work] = until
		}
		if !now.Before(until) {
			delete(h.lostUntil, work)
			return false
		}
		if d := until.Sub(now); d > delay {
			delay = d
		}
		return true
	}
	for _, c := range connectors {
		if check(connectorWork(c)) {
			holdC[c] = true
		}
	}
	for _, t := range tasks {
		if check(taskWork(t)) {
			holdT[t] = true
		}
	}

	plan := assign(members, connectors, tasks, holdC, holdT)
	owners := map[string]string{}
	var out []kmsg.SyncGroupRequestGroupAssignment
	for i, m := range members {
		a := plan[i]
		a.Leader, a.LeaderURL, a.ConfigOffset, a.Delay = resp.MemberID, leaderURL, offset, delay.Milliseconds()
		for _, c := range a.Connectors {
			owners[connectorWork(c)] = m.ID
		}
		for _, t := range a.Tasks {
			owners[taskWork(t)] = m.ID
		}
		// Revoked work still has its owner until it rejoins.
		for _, c := range a.RevokedConnectors {
			owners[connectorWork(c)] = m.ID
		}
		for _, t := range a.RevokedTasks {
			owners[taskWork(t)] = m.ID
		}
		wa := wireAssignment{Version: protocolVersion(protocol), Leader: a.Leader, LeaderURL: a.LeaderURL, ConfigOffset: a.ConfigOffset,
			Connectors: a.Connectors, Tasks: a.Tasks, RevokedConnectors: a.RevokedConnectors, RevokedTasks: a.RevokedTasks, DelayMs: int32(a.Delay)}
		if protocol != protocolEager {
			// Incremental: only the work new to the member.
			wa.Connectors, wa.Tasks = without(a.Connectors, m.Connectors), without(a.Tasks, m.Tasks)
		}
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = m.ID, encodeAssignment(wa)
		out = append(out, ga)
	}
	// Held lost work keeps its old owner on record until reassigned.
	for w := range h.lostUntil {
		if _, ok := owners[w]; !ok {
			owners[w] = h.lastOwners[w]
		}
	}
	h.lastOwners = owners
	h.lastWork = workSignature(connectors, tasks)
	h.log.Info("connect group assignment", "generation", resp.Generation, "members", len(members), "connectors", len(connectors), "tasks", len(tasks), "held_lost_work", len(holdC)+len(holdT))
	return out, nil
}

func workSignature(cs []string, ts []TaskID) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(connectorWork(c) + "\x00")
	}
	for _, t := range ts {
		b.WriteString(taskWork(t) + "\x00")
	}
	return b.String()
}

// applyAssignment reads the config to the leader's offset, stops revoked
// work and starts the rest; it reports whether to rejoin at once (work was
// revoked, so the leader can hand it out in the next round).
func (h *Herder) applyAssignment(ctx context.Context, a assignment) bool {
	if err := h.configLog.ReadToEnd(ctx); err != nil {
		return true
	}
	h.mu.Lock()
	h.assigned = a
	h.rebalancing = false
	gen := h.generation
	h.mu.Unlock()
	h.log.Info("connect assignment applied", "generation", gen, "connectors", a.Connectors, "tasks", a.Tasks, "revoked_connectors", a.RevokedConnectors, "revoked_tasks", a.RevokedTasks)
	for _, id := range a.RevokedTasks {
		h.stopTask(id, true)
	}
	for _, c := range a.RevokedConnectors {
		h.stopConnector(c, true)
	}
	rejoin := h.reconcile(ctx)
	return rejoin || len(a.RevokedConnectors)+len(a.RevokedTasks) > 0
}

// reconcile makes the running work match the assignment and the config
// topic; it reports whether a rebalance is needed (leader: the set of
// connectors and tasks changed, or held lost work is due).
func (h *Herder) reconcile(ctx context.Context) bool {
	h.mu.Lock()
	a := h.assigned
	leader := h.isLeader
	configs := maps.Clone(h.config.connectors)
	targets := maps.Clone(h.config.targetStates)
	taskConfigs := maps.Clone(h.config.tasks)
	inconsistent := maps.Clone(h.config.inconsistent)
	restarts := h.config.restarts
	h.config.restarts = nil
	newLevel := ""
	if lvl := h.config.clusterLogLevel; lvl != "" && lvl != h.appliedClusterLevel {
		h.appliedClusterLevel, newLevel = lvl, lvl
	}
	work := workSignature(h.config.connectorNames(), h.config.taskIDs())
	h.mu.Unlock()
	if newLevel != "" {
		h.setLogLevel(newLevel) // takes h.mu
	}

	mine := map[string]bool{}
	for _, c := range a.Connectors {
		mine[c] = true
	}
	myTasks := map[TaskID]bool{}
	for _, t := range a.Tasks {
		myTasks[t] = true
	}
	target := func(name string) string {
		if t, ok := targets[name]; ok {
			return t
		}
		return TargetStarted
	}

	// Connectors.
	for name := range h.connectors {
		if !mine[name] || configs[name] == nil {
			h.stopConnector(name, configs[name] != nil)
		}
	}
	for _, name := range a.Connectors {
		cfg := configs[name]
		if cfg == nil {
			continue
		}
		r := h.connectors[name]
		if r != nil && (!maps.Equal(r.config, cfg) || r.target != target(name)) {
			h.stopConnector(name, false)
			r = nil
		}
		if r == nil {
			r = h.startConnector(ctx, name, cfg, target(name))
		}
		if inconsistent[name] && r.target == TargetStarted {
			r.needTaskConfigs = true
		}
		if r.reconfigure.Swap(false) && r.conn != nil {
			r.needTaskConfigs = true
		}
		if r.needTaskConfigs {
			h.publishTaskConfigs(ctx, r, taskConfigs[name])
		}
	}

	// Exactly-once sources: the leader fences the zombies of a new task
	// generation; until then its tasks wait, and the earlier generation's
	// tasks stop (their producers are about to be fenced).
	fencing := map[string]bool{}
	for name, cfg := range configs {
		if h.fencePending(name, cfg) {
			var err error
			if leader {
				err = h.fenceZombies(ctx, name)
			} else if h.connectors[name] != nil {
				// The connector's worker asks the leader, as Connect's do
				// (a Java leader fences only when asked).
				err = h.requestFencing(ctx, name)
			}
			if err != nil {
				h.log.Warn("zombie fencing failed; retrying", "connector", name, "err", err)
			}
		}
		fencing[name] = h.fencePending(name, cfg)
	}

	// Tasks.
	for id, t := range h.tasks {
		list := taskConfigs[id.Connector]
		if !myTasks[id] || configs[id.Connector] == nil || id.Task >= len(list) || !maps.Equal(t.config, list[id.Task]) || fencing[id.Connector] {
			h.stopTask(id, configs[id.Connector] != nil)
		}
	}
	for _, id := range a.Tasks {
		list := taskConfigs[id.Connector]
		cfg := configs[id.Connector]
		if cfg == nil || id.Task >= len(list) || fencing[id.Connector] {
			continue
		}
		t := h.tasks[id]
		if t == nil {
			h.startTask(id, cfg, list[id.Task], target(id.Connector))
		} else {
			t.setPaused(target(id.Connector) == TargetPaused)
		}
	}

	// Restart requests for work of this worker.
	for _, r := range restarts {
		if cr := h.connectors[r.Connector]; cr != nil && (!r.OnlyFailed || cr.state == StateFailed) {
			cfg, tgt := cr.config, cr.target
			h.stopConnector(r.Connector, false)
			h.startConnector(ctx, r.Connector, cfg, tgt)
		}
		if r.IncludeTasks {
			for id, t := range h.tasks {
				if id.Connector == r.Connector && (!r.OnlyFailed || t.failed()) {
					h.restartTask(id)
				}
			}
		}
	}

	if !leader {
		return false
	}
	h.maybeRotateSessionKey(ctx)
	if work != h.lastWork {
		return true
	}
	now := time.Now()
	for _, until := range h.lostUntil {
		if !now.Before(until) {
			return true
		}
	}
	return false
}

// connectorRunner is a connector instance owned by this worker.
type connectorRunner struct {
	name   string
	config map[string]string
	target string
	plugin *Plugin
	conn   Connector
	state  string
	// needTaskConfigs: the task configs must be (re)published.
	needTaskConfigs bool
	// reconfigure is set by the connector (any goroutine) to have its
	// task configs asked again.
	reconfigure atomic.Bool
	herder      *Herder
}

// Logger implements ConnectorContext.
func (r *connectorRunner) Logger() *slog.Logger { return r.herder.log.With("connector", r.name) }

// RequestTaskReconfiguration implements ConnectorContext.
func (r *connectorRunner) RequestTaskReconfiguration() {
	r.reconfigure.Store(true)
	r.herder.poke()
}

func (h *Herder) startConnector(ctx context.Context, name string, cfg map[string]string, target string) *connectorRunner {
	r := &connectorRunner{name: name, config: cfg, target: target, herder: h}
	h.connectors[name] = r
	p, ok := h.plugins.Lookup(cfg["connector.class"])
	if !ok {
		r.state = StateFailed
		h.putStatus(statusConnectorKey(name), StateFailed, "connector class "+cfg["connector.class"]+" not found")
		return r
	}
	r.plugin = p
	switch target {
	case TargetPaused:
		r.state = StatePaused
	case TargetStopped:
		r.state = StateStopped
	default:
		r.conn = p.NewConnector()
		if cc, ok := r.conn.(ContextConnector); ok {
			cc.Initialize(r)
		}
		var err error
		if !safe.Run(h.log, "connector start "+name, func() { err = r.conn.Start(cfg) }) {
			err = errors.New("connector start panicked")
		}
		if err != nil {
			r.state, r.conn = StateFailed, nil
			h.putStatus(statusConnectorKey(name), StateFailed, err.Error())
			return r
		}
		r.state = StateRunning
		r.needTaskConfigs = true
	}
	h.putStatus(statusConnectorKey(name), r.state, "")
	return r
}

// stopConnector stops a connector instance; writeStatus records it as
// UNASSIGNED (not for deleted connectors).
func (h *Herder) stopConnector(name string, writeStatus bool) {
	r := h.connectors[name]
	if r == nil {
		return
	}
	delete(h.connectors, name)
	if r.conn != nil {
		safe.Run(h.log, "connector stop "+name, func() {
			if err := r.conn.Stop(); err != nil {
				h.log.Warn("stopping connector", "connector", name, "err", err)
			}
		})
	}
	if writeStatus {
		h.putStatus(statusConnectorKey(name), StateUnassigned, "")
	}
}

// publishTaskConfigs asks the connector for its task configs and, when
// they differ from the committed ones, has the leader write them.
func (h *Herder) publishTaskConfigs(ctx context.Context, r *connectorRunner, committed []map[string]string) {
	if r.conn == nil {
		return
	}
	max := int(intConfig(r.config, "tasks.max", 1))
	var configs []map[string]string
	var err error
	if !safe.Run(h.log, "connector taskConfigs "+r.name, func() { configs, err = r.conn.TaskConfigs(max) }) {
		err = errors.New("taskConfigs panicked")
	}
	if err != nil {
		r.state, r.needTaskConfigs = StateFailed, false
		h.putStatus(statusConnectorKey(r.name), StateFailed, err.Error())
		return
	}
	if len(configs) > max {
		configs = configs[:max]
	}
	for i, c := range configs {
		c = maps.Clone(c)
		if c == nil {
			c = map[string]string{}
		}
		c["task.class"] = strings.TrimSuffix(r.plugin.Class, "Connector") + "Task"
		if r.plugin.Type == TypeSink {
			for _, k := range []string{"topics", "topics.regex"} {
				if v, ok := r.config[k]; ok {
					c[k] = v
				}
			}
		}
		configs[i] = c
	}
	if slices.EqualFunc(configs, committed, maps.Equal) && committed != nil {
		r.needTaskConfigs = false
		return
	}
	if err := h.submitTaskConfigs(ctx, r.name, configs); err != nil {
		h.log.Info("task configs not written yet; retrying", "connector", r.name, "err", err)
		return
	}
	r.needTaskConfigs = false
}

// submitTaskConfigs writes task configs as leader or posts them to the
// leader's internal endpoint.
func (h *Herder) submitTaskConfigs(ctx context.Context, name string, configs []map[string]string) error {
	h.mu.Lock()
	leader, url := h.isLeader, h.leaderURL
	h.mu.Unlock()
	if leader {
		return h.writeTaskConfigs(ctx, name, configs)
	}
	if url == "" || h.deps.Forward == nil {
		return ErrNoLeader
	}
	body, _ := json.Marshal(configs)
	header, err := h.signInternal(body)
	if err != nil {
		return err
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return h.deps.Forward(fctx, "POST", url+"/connectors/"+pathEscape(name)+"/tasks?forward=false", body, header)
}

// writeTaskConfigs writes a new task generation (leader only) and, for an
// exactly-once source connector, fences the earlier ones (fencing.go).
func (h *Herder) writeTaskConfigs(ctx context.Context, name string, configs []map[string]string) error {
	if err := h.writeTaskGeneration(ctx, name, configs); err != nil {
		return err
	}
	return h.fenceZombies(ctx, name)
}

func (h *Herder) writeTaskGeneration(ctx context.Context, name string, configs []map[string]string) error {
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	for i, c := range configs {
		if err := h.configLog.Send(ctx, taskKey(TaskID{name, i}), encodeProperties(c)); err != nil {
			return err
		}
	}
	b, _ := json.Marshal(commitValue{Tasks: len(configs)})
	if err := h.configLog.Send(ctx, commitKey(name), b); err != nil {
		return err
	}
	return h.configLog.ReadToEnd(ctx)
}

// putStatus writes a status record for work of this worker.
func (h *Herder) putStatus(key []byte, state, trace string) {
	h.mu.Lock()
	gen := h.generation
	h.mu.Unlock()
	v := statusValue{State: state, WorkerID: h.cfg.WorkerID, Generation: gen}
	if trace != "" {
		v.Trace = &trace
	}
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.statusLog.Send(ctx, key, b); err != nil {
		h.log.Warn("writing status", "key", string(key), "err", err)
	}
}
