// Package metadata is the cluster metadata quorum: a replicated state
// machine (State) on hashicorp/raft. Voters are the nodes listed in
// --controllers; other brokers join as Raft non-voters, so every broker
// applies the same log and answers Metadata from its own copy. The Raft
// leader is the active controller: it tracks broker heartbeats, fences
// brokers that miss them, and applies commands that other nodes forward over
// the controller RPC.
package metadata

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/rpc"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/tributary/tributary/internal/controller"

	"github.com/tributary/tributary/internal/safe"
)

// QuorumConfig configures a node's quorum membership.
type QuorumConfig struct {
	NodeID int32
	// Dir holds the Raft log, stable store and snapshots.
	Dir string
	// Listen is the controller listener (Raft and controller RPC).
	Listen string
	// Advertise is the controller address other nodes dial; default Listen's.
	Advertise string
	// Voters maps voter ids to controller addresses; empty means this node
	// is the only voter.
	Voters map[int32]string
	// SessionTimeout fences a broker whose heartbeats stop
	// (broker.session.timeout.ms); HeartbeatInterval is how often brokers
	// send them (broker.heartbeat.interval.ms).
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	// LeaderRebalanceInterval, if > 0, makes the controller move leadership
	// back to each partition's preferred replica (the first one) when it is
	// live and in sync (auto.leader.rebalance.enable with
	// leader.imbalance.check.interval.seconds).
	LeaderRebalanceInterval time.Duration
	Logger                  *slog.Logger
	// Clock drives the controller loop and heartbeat bookkeeping; nil is
	// the wall clock. Raft's own timers are not on it.
	Clock Clock
	// TLS, if set, makes the controller listener (Raft and the controller
	// RPC) mutual TLS: TLS is the listener's side (it must require and
	// verify client certificates), ClientTLS what this node dials the
	// other members with (its certificate and the truststore).
	TLS, ClientTLS *tls.Config
}

// Clock is the controller's time source; tests inject one.
type Clock interface {
	Now() time.Time
	// NewTicker returns a channel that receives every d, and a stop func.
	NewTicker(d time.Duration) (<-chan time.Time, func())
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }
func (wallClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// Quorum is this node's member of the metadata quorum.
type Quorum struct {
	cfg   QuorumConfig
	log   *slog.Logger
	r     *raft.Raft
	fsm   *fsm
	mux   *mux
	store *raftboltdb.BoltStore
	trans *raft.NetworkTransport
	addr  string
	voter bool

	clock Clock
	// ctlMu guards liveness, the controller's view of broker heartbeats;
	// it decides only while this node leads (a deposed node keeps it, and
	// records the heartbeats it still receives, for a quick re-election).
	ctlMu    sync.Mutex
	liveness *controller.Liveness

	// visible is the metadata offset this node's broker serves (visible.go).
	visible visibility

	// seenMu guards seenBusy, the voters a Controller.Seen call is in
	// flight to (tellVoters).
	seenMu   sync.Mutex
	seenBusy map[string]bool

	// clientsMu guards clients, cached RPC connections by method and
	// address (see callNode).
	clientsMu sync.Mutex
	clients   map[string]*rpc.Client

	stop chan struct{}
	wg   sync.WaitGroup
}

// StartQuorum opens the Raft state in cfg.Dir and joins the quorum.
func StartQuorum(cfg QuorumConfig) (*Quorum, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 9 * time.Second
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 2 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = wallClock{}
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("controller listener: %w", err)
	}
	q := &Quorum{cfg: cfg, log: cfg.Logger.With("component", "quorum"), fsm: newFSM(), clock: cfg.Clock, liveness: controller.NewLiveness(cfg.SessionTimeout, cfg.Clock.Now()), clients: map[string]*rpc.Client{}, seenBusy: map[string]bool{}, stop: make(chan struct{})}
	q.addr = cfg.Advertise
	if q.addr == "" {
		q.addr = ln.Addr().String()
	}
	voters := cfg.Voters
	if len(voters) == 0 {
		voters = map[int32]string{cfg.NodeID: q.addr}
	}
	_, q.voter = voters[cfg.NodeID]
	adv, err := net.ResolveTCPAddr("tcp", q.addr)
	if err != nil {
		ln.Close()
		return nil, err
	}
	q.mux = newMux(ln, cfg.TLS, cfg.ClientTLS)
	hl := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Info, Output: slogWriter{q.log}, DisableTime: true})
	q.trans = raft.NewNetworkTransportWithLogger(&raftLayer{m: q.mux, advertise: adv, stop: q.stop}, 3, 10*time.Second, hl)
	q.store, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db")})
	if err != nil {
		q.trans.Close()
		return nil, err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hl)
	if err != nil {
		q.closeStores()
		return nil, err
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(strconv.Itoa(int(cfg.NodeID)))
	rc.Logger = hl
	if len(voters) == 1 && q.voter {
		rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
	} else {
		// The lease is as long as the heartbeat timeout (raft's upper
		// bound): with one voter cut off, a leader whose only follower
		// was starved for 250 ms stepped down, and each new controller
		// restarts the fenced-broker clock (TestNetnsFollowerIsolation
		// saw three elections in 7 s under load). Followers still
		// detect a dead leader after the 500 ms heartbeat timeout, and
		// pre-vote (on by default) keeps a starved follower from
		// deposing a live leader.
		rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 500*time.Millisecond, 500*time.Millisecond, 500*time.Millisecond
	}
	rc.CommitTimeout = 5 * time.Millisecond
	rc.SnapshotThreshold = 2048
	rc.TrailingLogs = 4096
	has, err := raft.HasExistingState(q.store, q.store, snaps)
	if err != nil {
		q.closeStores()
		return nil, err
	}
	q.r, err = raft.NewRaft(rc, q.fsm, q.store, q.store, snaps, noPipeline{q.trans})
	if err != nil {
		q.closeStores()
		return nil, err
	}
	if !has && q.voter {
		var servers []raft.Server
		ids := make([]int32, 0, len(voters))
		for id := range voters {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(strconv.Itoa(int(id))), Address: raft.ServerAddress(voters[id])})
		}
		if err := q.r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			q.Close()
			return nil, err
		}
	}
	srv := rpc.NewServer()
	if err := srv.RegisterName("Controller", &ControllerRPC{q: q}); err != nil {
		q.Close()
		return nil, err
	}
	q.wg.Add(2)
	go func() {
		defer q.wg.Done()
		defer safe.Recover(q.log, "controller-rpc-accept")
		for {
			c, err := q.mux.accept(q.mux.rpcCh)
			if err != nil {
				return
			}
			// safe: net/rpc runs each call on its own goroutine; the
			// ControllerRPC methods recover their panics.
			go srv.ServeConn(c)
		}
	}()
	go func() { defer q.wg.Done(); safe.Loop(q.log, "controller", q.stop, q.controllerLoop) }()
	return q, nil
}

func (q *Quorum) closeStores() {
	if q.trans != nil {
		q.trans.Close()
	}
	if q.store != nil {
		q.store.Close()
	}
}

// Addr is the controller listener's advertised address.
func (q *Quorum) Addr() string { return q.addr }

// State returns the current, immutable state.
func (q *Quorum) State() *State { return q.fsm.state() }

// Changed returns a channel closed at the next state change.
func (q *Quorum) Changed() <-chan struct{} { return q.fsm.changedCh() }

// LeaderID is the active controller's node id, or -1.
func (q *Quorum) LeaderID() int32 {
	_, id := q.r.LeaderWithID()
	if id == "" {
		return -1
	}
	n, err := strconv.Atoi(string(id))
	if err != nil {
		return -1
	}
	return int32(n)
}

// IsLeader reports whether this node is the active controller.
func (q *Quorum) IsLeader() bool { return q.r.State() == raft.Leader }

// QuorumInfo describes the Raft configuration for operators.
type QuorumInfo struct {
	Leader    int32
	Voters    []int32
	Observers []int32
	Index     uint64
	// Term is this node's current Raft term (Kafka's quorum epoch);
	// CommitIndex and LastIndex are its commit index and last log index.
	Term, CommitIndex, LastIndex uint64
	// Addrs is each member's Raft (controller listener) address, host:port.
	Addrs map[int32]string
}

// Info returns the quorum membership as this node sees it.
func (q *Quorum) Info() QuorumInfo {
	info := QuorumInfo{Leader: q.LeaderID(), Index: q.r.AppliedIndex(), LastIndex: q.r.LastIndex(), CommitIndex: q.r.CommitIndex()}
	info.Term, _ = strconv.ParseUint(q.r.Stats()["term"], 10, 64)
	if f := q.r.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			id, _ := strconv.Atoi(string(s.ID))
			if info.Addrs == nil {
				info.Addrs = map[int32]string{}
			}
			info.Addrs[int32(id)] = string(s.Address)
			if s.Suffrage == raft.Voter {
				info.Voters = append(info.Voters, int32(id))
			} else {
				info.Observers = append(info.Observers, int32(id))
			}
		}
	}
	return info
}

// Propose applies cmd through the active controller, forwarding if this
// node does not lead, and retrying across leader changes until ctx ends.
func (q *Quorum) Propose(ctx context.Context, cmd *Command) (Result, error) {
	c := *cmd
	c.ID = newProposalID() // the same for every retry below (proposals.go)
	data, err := json.Marshal(&c)
	if err != nil {
		return Result{}, err
	}
	for {
		res, retry, err := q.proposeOnce(data)
		if !retry {
			return res, err
		}
		select {
		case <-ctx.Done():
			return Result{}, fmt.Errorf("%w: %v", ErrNoController, ctx.Err())
		case <-q.stop:
			return Result{}, ErrNoController
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (q *Quorum) proposeOnce(data []byte) (Result, bool, error) {
	if q.IsLeader() {
		res, err := q.applyLocal(data)
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			return Result{}, true, nil
		}
		if err != nil {
			// Shutting down, or the Raft log did not take the entry in
			// time: the command was not applied; the caller may retry.
			return Result{}, false, fmt.Errorf("%w: %v", ErrNoController, err)
		}
		return res, false, nil
	}
	addr, _ := q.r.LeaderWithID()
	if addr == "" {
		return Result{}, true, nil
	}
	var reply ApplyReply
	if err := q.call(string(addr), "Controller.Apply", ApplyArgs{Cmd: data}, &reply, 15*time.Second); err != nil || reply.NotLeader {
		return Result{}, true, nil
	}
	return reply.Result, false, nil
}

func (q *Quorum) applyLocal(data []byte) (Result, error) {
	f := q.r.Apply(data, 10*time.Second)
	if err := f.Error(); err != nil {
		return Result{}, err
	}
	res, _ := f.Response().(Result)
	return res, nil
}

// call makes an RPC to the controller at addr, redialling once if a pooled
// connection turns out to be broken. The call is abandoned after timeout, or
// as soon as this node's Raft view no longer names addr as the leader: a
// paused (SIGSTOPped) or partitioned controller keeps its TCP connections
// open but never answers, and a caller stuck on it would miss the election
// of its successor (a broker's heartbeats would stop reaching anyone, and
// the new controller would fence it).
func (q *Quorum) call(addr, method string, args, reply any, timeout time.Duration) error {
	return q.callNode(addr, method, args, reply, timeout, true)
}

// callNode is call; with toController false it does not abandon the call
// when addr is not the controller (for RPCs served by every node).
//
// Each method has its own pooled connection per address: a failed call
// closes its connection, which fails every call in flight on it, and a
// forwarded Apply that fails that way after the controller received it is
// proposed again (a second TopicAlreadyExists or NoReassignmentInProgress
// for a change that was made). A heartbeat or WaitVisible timing out must
// not do that to an Apply.
func (q *Quorum) callNode(addr, method string, args, reply any, timeout time.Duration, toController bool) error {
	key := method + " " + addr
	for attempt := 0; attempt < 2; attempt++ {
		select {
		case <-q.stop: // closed: a member that left dials no one again
			return ErrNoController
		default:
		}
		q.clientsMu.Lock()
		c := q.clients[key]
		q.clientsMu.Unlock()
		if c == nil {
			conn, err := q.mux.dial(addr, muxRPC, 2*time.Second)
			if err != nil {
				return err
			}
			c = rpc.NewClient(conn)
			q.clientsMu.Lock()
			q.clients[key] = c
			q.clientsMu.Unlock()
		}
		call := c.Go(method, args, reply, make(chan *rpc.Call, 1))
		err := q.awaitCall(call, addr, timeout, toController)
		if err == nil {
			return nil
		}
		q.clientsMu.Lock()
		if q.clients[key] == c {
			delete(q.clients, key)
		}
		q.clientsMu.Unlock()
		c.Close()
		if !errors.Is(err, rpc.ErrShutdown) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return err // a server error, a timeout or a leader change: do not resend
		}
	}
	return errors.New("controller unreachable")
}

// awaitCall waits for call as described in call.
func (q *Quorum) awaitCall(call *rpc.Call, addr string, timeout time.Duration, toController bool) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-call.Done:
			return call.Error
		case <-timer.C:
			return errors.New("controller rpc timed out")
		case <-q.stop:
			return ErrNoController
		case <-poll.C:
			if cur, _ := q.r.LeaderWithID(); toController && string(cur) != addr {
				return ErrNotController
			}
		}
	}
}

// Heartbeat tells the active controller that broker b is alive, registering
// it if it is new, fenced, restarted (new incarnation) or moved.
func (q *Quorum) Heartbeat(b Broker) error {
	if q.IsLeader() {
		q.tellVoters(b.ID, q.addr)
		return q.onHeartbeat(b)
	}
	addr, _ := q.r.LeaderWithID()
	q.tellVoters(b.ID, string(addr))
	if addr == "" {
		if !q.voter && len(q.cfg.Voters) > 0 {
			return q.joinViaVoters(b)
		}
		return ErrNoController
	}
	var reply HeartbeatReply
	// A heartbeat that takes a third of the session is as good as lost;
	// give up so the next one can find the (maybe new) controller in time.
	if err := q.call(string(addr), "Controller.Heartbeat", HeartbeatArgs{Broker: b}, &reply, q.cfg.SessionTimeout/3); err != nil {
		return err
	}
	if reply.NotLeader {
		return ErrNotController
	}
	return nil
}

// tellVoters tells every voter other than the controller at leader that
// broker id is alive (Controller.Seen, in the background, one call per
// voter at a time): each voter then knows the broker's last heartbeat if it
// becomes the controller, and does not have to start the broker's session
// afresh (controller.Liveness). Best effort: a lost one only makes a new
// controller grant that broker more time.
func (q *Quorum) tellVoters(id int32, leader string) {
	for vid, addr := range q.cfg.Voters {
		if addr == leader {
			continue
		}
		if vid == q.cfg.NodeID {
			q.ctlMu.Lock()
			q.liveness.Heartbeat(id, q.clock.Now())
			q.ctlMu.Unlock()
			continue
		}
		q.seenMu.Lock()
		busy := q.seenBusy[addr]
		q.seenBusy[addr] = true
		q.seenMu.Unlock()
		if busy {
			continue
		}
		safe.Go(q.log, "controller-seen", func() {
			defer func() {
				q.seenMu.Lock()
				delete(q.seenBusy, addr)
				q.seenMu.Unlock()
			}()
			var reply SeenReply
			q.callNode(addr, "Controller.Seen", SeenArgs{Broker: id}, &reply, q.cfg.SessionTimeout/3, false)
		})
	}
}

// joinViaVoters sends the heartbeat of a node that is not a voter and does
// not know the controller (a broker-only node before it has any of the
// log) to each voter in turn. The active controller registers it and adds
// it to the Raft configuration as a non-voter (ensureMember); from then on
// the node learns the leader from the log it receives.
func (q *Quorum) joinViaVoters(b Broker) error {
	ids := make([]int32, 0, len(q.cfg.Voters))
	for id := range q.cfg.Voters {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		conn, err := q.mux.dial(q.cfg.Voters[id], muxRPC, 2*time.Second)
		if err != nil {
			continue
		}
		c := rpc.NewClient(conn)
		var reply HeartbeatReply
		call := c.Go("Controller.Heartbeat", HeartbeatArgs{Broker: b}, &reply, make(chan *rpc.Call, 1))
		timer := time.NewTimer(q.cfg.SessionTimeout / 3)
		done := false
		select {
		case <-call.Done:
			done = true
		case <-timer.C:
		case <-q.stop:
		}
		timer.Stop()
		c.Close() // ends the call if it is still running
		if !done {
			<-call.Done
		}
		if call.Error == nil && !reply.NotLeader {
			return nil
		}
	}
	return ErrNoController
}

// onHeartbeat runs on the active controller.
func (q *Quorum) onHeartbeat(b Broker) error {
	q.ctlMu.Lock()
	q.liveness.Heartbeat(b.ID, q.clock.Now())
	q.ctlMu.Unlock()
	if err := q.ensureMember(b); err != nil {
		return err
	}
	st := q.State()
	cur, ok := st.Brokers[b.ID]
	if ok && !cur.Fenced && cur.Incarnation == b.Incarnation && cur.Host == b.Host && cur.Port == b.Port && cur.RaftAddr == b.RaftAddr && cur.Rack == b.Rack && slices.Equal(cur.Endpoints, b.Endpoints) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := q.Propose(ctx, &Command{RegisterBroker: &b})
	if err != nil {
		return err
	}
	if err := res.Error(); err != nil {
		return err
	}
	q.log.Info("broker registered", "broker", b.ID, "host", b.Host, "port", b.Port, "epoch", res.Value, "incarnation", b.Incarnation)
	return nil
}

// ensureMember adds a broker that is not a voter as a Raft non-voter so it
// receives the metadata log.
func (q *Quorum) ensureMember(b Broker) error {
	f := q.r.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	id := raft.ServerID(strconv.Itoa(int(b.ID)))
	for _, s := range f.Configuration().Servers {
		if s.ID == id {
			if s.Address == raft.ServerAddress(b.RaftAddr) || s.Suffrage == raft.Voter {
				return nil
			}
		}
	}
	return q.r.AddNonvoter(id, raft.ServerAddress(b.RaftAddr), 0, 10*time.Second).Error()
}

// controllerLoop, while this node leads, fences brokers whose heartbeats
// stopped (controller.Liveness decides), initialises the cluster id on
// first leadership, and runs the preferred leader balance. It runs on the
// injected clock.
func (q *Quorum) controllerLoop() {
	tick, stop := q.clock.NewTicker(min(q.cfg.HeartbeatInterval/2, 100*time.Millisecond))
	defer stop()
	var lastRebalance time.Time
	q.ctlMu.Lock()
	q.liveness.Restart(q.clock.Now())
	q.ctlMu.Unlock()
	for {
		select {
		case <-q.stop:
			return
		case <-tick:
		}
		q.ctlMu.Lock()
		t := q.liveness.Begin(q.clock.Now(), q.IsLeader(), registeredIDs(q.State()))
		q.ctlMu.Unlock()
		if t.Stalled > 0 {
			q.log.Warn("controller loop stalled; heartbeat grace period", "stalled", t.Stalled.Round(time.Millisecond))
			continue
		}
		if !t.Act {
			continue
		}
		if t.BecameLeader {
			if q.State().ClusterID == "" {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				q.Propose(ctx, &Command{InitCluster: &InitCluster{ClusterID: NewClusterID()}})
				cancel()
			}
			q.log.Info("became active controller", "node", q.cfg.NodeID)
			// The first preferred leader balance waits one interval, as
			// Kafka's controller defers it: a controller that just took
			// over (often because of a fault) must not hand leadership
			// back to a broker that may still be unreachable or flapping.
			lastRebalance = q.clock.Now()
		}
		now := q.clock.Now()
		if iv := q.cfg.LeaderRebalanceInterval; iv > 0 && now.Sub(lastRebalance) >= iv {
			lastRebalance = now
			q.electPreferred()
		}
		for _, b := range q.State().LiveBrokers() {
			q.ctlMu.Lock()
			silent, expired := q.liveness.Expired(b.ID, now)
			q.ctlMu.Unlock()
			if expired {
				q.log.Warn("fencing broker: heartbeats stopped", "broker", b.ID, "last_seen", silent.Round(time.Millisecond))
				q.fenceAsLeader(b.ID)
			}
		}
		q.ctlMu.Lock()
		q.liveness.End(q.clock.Now())
		q.ctlMu.Unlock()
	}
}

func registeredIDs(st *State) []int32 {
	ids := make([]int32, 0, len(st.Brokers))
	for id := range st.Brokers {
		ids = append(ids, id)
	}
	return ids
}

// fenceAsLeader commits a FenceBroker decided from this node's heartbeat
// bookkeeping, only while this node is still the Raft leader: never
// forwarded. A deposed controller (paused, then resumed before it noticed
// the new term) holds stale last-seen times; forwarding its verdicts to
// the new controller fenced every broker and took all partitions offline.
func (q *Quorum) fenceAsLeader(id int32) {
	if !q.IsLeader() {
		return
	}
	data, err := json.Marshal(&Command{FenceBroker: &FenceBroker{ID: id}})
	if err != nil {
		return
	}
	if _, err := q.applyLocal(data); err != nil {
		q.log.Info("fence not committed", "broker", id, "err", err)
	}
}

// WaitApplied waits until this node's state includes Raft index i.
func (q *Quorum) WaitApplied(ctx context.Context, i uint64) error {
	for {
		ch := q.Changed()
		if q.State().Index >= i {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-q.stop:
			return ErrNoController
		}
	}
}

// electPreferred moves leadership back to preferred replicas that are live
// and in sync. Runs on the controller.
func (q *Quorum) electPreferred() {
	st := q.State()
	for _, name := range st.TopicNames() {
		for i, p := range st.Topics[name].Parts {
			if !controller.PreferredImbalanced(p, st) {
				continue
			}
			pref := p.Replicas[0]
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			res, err := q.Propose(ctx, &Command{ElectLeader: &ElectLeader{Topic: name, Partition: int32(i)}})
			cancel()
			if err == nil && res.Error() == nil {
				q.log.Info("preferred leader elected", "topic", name, "partition", i, "leader", pref)
			}
		}
	}
}

// Fence takes broker id out of service now (controlled shutdown).
func (q *Quorum) Fence(ctx context.Context, id int32) error {
	res, err := q.Propose(ctx, &Command{FenceBroker: &FenceBroker{ID: id}})
	if err != nil {
		return err
	}
	return res.Error()
}

// TransferLeadership hands the controller role to another voter, if this
// node leads and has peers.
func (q *Quorum) TransferLeadership() {
	if q.IsLeader() && len(q.cfg.Voters) > 1 {
		q.r.LeadershipTransfer().Error()
	}
}

// Close leaves the quorum and closes the stores.
func (q *Quorum) Close() error {
	select {
	case <-q.stop:
		return nil
	default:
	}
	close(q.stop)
	err := q.r.Shutdown().Error()
	q.mux.close()
	q.trans.Close()
	q.clientsMu.Lock()
	for _, c := range q.clients {
		c.Close()
	}
	q.clientsMu.Unlock()
	q.wg.Wait()
	if cerr := q.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// ControllerRPC is the controller's RPC service (net/rpc over the
// controller listener).
type ControllerRPC struct{ q *Quorum }

type ApplyArgs struct{ Cmd []byte }

type ApplyReply struct {
	Result    Result
	NotLeader bool
}

// Apply applies a forwarded command on the leader.
func (s *ControllerRPC) Apply(args ApplyArgs, reply *ApplyReply) error {
	if !s.q.IsLeader() {
		reply.NotLeader = true
		return nil
	}
	res, err := s.q.applyLocal(args.Cmd)
	if err != nil {
		reply.NotLeader = true
		return nil
	}
	reply.Result = res
	return nil
}

type HeartbeatArgs struct{ Broker Broker }

type HeartbeatReply struct{ NotLeader bool }

// Heartbeat records a broker's heartbeat on the leader.
func (s *ControllerRPC) Heartbeat(args HeartbeatArgs, reply *HeartbeatReply) error {
	if !s.q.IsLeader() {
		// A deposed controller still hears from brokers that have not
		// seen the new term: it keeps the proof of life in case it
		// regains the leadership shortly (controller.Liveness).
		s.q.ctlMu.Lock()
		s.q.liveness.Heartbeat(args.Broker.ID, s.q.clock.Now())
		s.q.ctlMu.Unlock()
		reply.NotLeader = true
		return nil
	}
	var err error
	// net/rpc runs each call on its own goroutine without recovering.
	if !safe.Run(s.q.log, "controller-rpc-heartbeat", func() { err = s.q.onHeartbeat(args.Broker) }) {
		return errRPCPanic
	}
	return err
}

// SeenArgs tells a voter that a broker sent a heartbeat (tellVoters).
type SeenArgs struct{ Broker int32 }

// SeenReply is empty.
type SeenReply struct{}

// Seen records a broker's heartbeat on a voter that is not the controller
// (on the controller too, harmlessly): if it becomes the controller, it
// knows when it last heard of the broker.
func (s *ControllerRPC) Seen(args SeenArgs, reply *SeenReply) error {
	s.q.ctlMu.Lock()
	s.q.liveness.Heartbeat(args.Broker, s.q.clock.Now())
	s.q.ctlMu.Unlock()
	return nil
}

var errRPCPanic = errors.New("controller RPC panicked")

// errApplyPanicked is the Result.Err of a command whose apply panicked
// (FuzzApply looks for it).
const errApplyPanicked = "applying the command panicked"

// fsm applies commands to State. mu guards st and changed; st is replaced,
// never mutated, so readers may keep the pointer.
type fsm struct {
	mu      sync.RWMutex
	st      *State
	changed chan struct{}
}

func newFSM() *fsm { return &fsm{st: emptyState(), changed: make(chan struct{})} }

func (f *fsm) state() *State {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st
}

func (f *fsm) changedCh() <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.changed
}

func (f *fsm) set(st *State) {
	f.mu.Lock()
	f.st = st
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return Result{}
	}
	var cmd Command
	if err := json.Unmarshal(l.Data, &cmd); err != nil {
		return Result{Err: err.Error(), Code: ErrInvalidCommand.Error()}
	}
	cur := f.state()
	if res, ok := cur.recentResult(cmd.ID); ok {
		next := cur.shallow()
		next.Index = l.Index
		f.set(next)
		return res // a proposal sent again: answered, not applied twice
	}
	var next *State
	var res Result
	// A panic in apply is a bug, and the same on every replica (apply is
	// deterministic): recovering it as a failed command keeps every
	// replica's state equal and the node up.
	if !safe.Run(nil, "metadata-apply", func() { next, res = cur.apply(&cmd) }) {
		next, res = cur, Result{Err: errApplyPanicked, Code: ErrInvalidCommand.Error()}
	}
	if next == nil {
		next = cur
	}
	next = next.shallow()
	next.Index = l.Index
	res.Index = l.Index
	next.remember(cmd.ID, res)
	f.set(next)
	return res
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) { return snapshot{f.state()}, nil }

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st := emptyState()
	if err := json.NewDecoder(rc).Decode(st); err != nil {
		return err
	}
	if st.Brokers == nil {
		st.Brokers = map[int32]*Broker{}
	}
	if st.Topics == nil {
		st.Topics = map[string]*Topic{}
	}
	f.set(st)
	return nil
}

type snapshot struct{ st *State }

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(s.st); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s snapshot) Release() {}

// slogWriter forwards hashicorp/raft's log lines to slog at debug level:
// Raft reports routine peer connection failures during elections as errors.
// State changes an operator wants (controller elected, broker fenced) are
// logged by this package at info, and so are Raft's own lines saying why
// the controller moved (raftElectionLine): a starved leader stepping down
// or a follower starting an election, each once per change, so a broker's
// log shows where a failover's time went.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	if raftElectionLine(line) {
		w.l.Info(line)
	} else {
		w.l.Debug(line)
	}
	return len(p), nil
}

// raftElectionLine reports whether one of hashicorp/raft's log lines
// records a controller move or its cause: the leader's lease check
// missing a follower ("failed to contact", at most three lines per
// outage) or a quorum ("stepping down"), a follower's heartbeat timeout,
// an election won. The lines that repeat while a peer is away (failed
// heartbeats, an isolated node's failed pre-votes) stay at debug.
func raftElectionLine(line string) bool {
	for _, m := range []string{"failed to contact", "stepping down", "heartbeat timeout reached", "election won", "entering leader state"} {
		if strings.Contains(line, m) {
			return true
		}
	}
	return false
}

// noPipeline is the network transport without pipelined replication.
// hashicorp/raft's pipeline can deadlock: when a follower answers an
// AppendEntries with Success=false (or goes away) the pipeline's decoder
// stops reading while the sender parks on a full in-flight channel, so
// replication to that follower stops for good and Raft.Shutdown waits for
// it forever (seen as a leader's Close hanging after its followers
// stopped). Without the pipeline each AppendEntries waits for its answer,
// which costs nothing at the metadata log's rate.
type noPipeline struct{ *raft.NetworkTransport }

func (noPipeline) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}
