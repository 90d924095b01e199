// Package replica is the replica manager: it owns this broker's local
// replicas of topic partitions and everything that changes them outside a
// request. It applies each metadata state (Reconcile): opens the replicas
// this broker holds (and their logs), gives each its role (leader or
// follower under a leader epoch), starts and stops follower fetchers
// (internal/replication), and deletes replicas that moved away or whose
// topic was deleted. As leader it proposes ISR changes (isr.go): shrinks
// for followers that stopped catching up, expansions for followers that
// caught up. It reports storage faults and repairs offline replicas
// (offline.go). Request handlers read the replicas through Get and Local,
// a read-only view, and act on a replica through its partition methods.
//
// Concurrency and lock order (reconcileMu → mu; a partition's own locks
// are taken under neither except by the partition calls Reconcile makes):
//
//   - reconcileMu serializes Reconcile and guards each replica's offline
//     flag.
//   - mu guards local, ready and the replica map published by Reconcile;
//     it is held only to copy or swap the map, never across I/O or a
//     partition call.
//   - isrMu guards isrInFlight (one ISR proposal in flight per partition).
//   - faults.mu guards faults.busy and faults.locks (offline.go).
//
// Background goroutines (the ISR loop, the fault loop, ISR proposals,
// fault reports) run under internal/safe and stop at Halt.
package replica

import (
	"context"
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

	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/replication"
	"github.com/tributary/tributary/internal/safe"
	"github.com/tributary/tributary/internal/storage"
)

// Quorum is what the replica manager needs of the metadata quorum. All
// methods are safe for concurrent use; Propose and WaitApplied block.
type Quorum interface {
	// State is the latest applied metadata state (immutable).
	State() *metadata.State
	// Propose applies cmd through the controller.
	Propose(ctx context.Context, cmd *metadata.Command) (metadata.Result, error)
	// WaitApplied waits until this node has applied index.
	WaitApplied(ctx context.Context, index uint64) error
}

// Config configures a Manager.
type Config struct {
	Self   int32
	Store  *storage.Manager // the data dir's logs; the Manager closes it
	Quorum Quorum
	Logger *slog.Logger
	// Now is the clock for ISR lag; time.Now if nil.
	Now func() time.Time
	// MaxLag is replica.lag.time.max.ms: an ISR follower that has not
	// caught up for this long is dropped from the ISR.
	MaxLag time.Duration
	// Fetch configures the follower fetchers (Self and Logger are filled
	// in).
	Fetch replication.Config
	// OnRole, if set, is told each role Reconcile applies to a replica
	// (prev is the replica's role before); called under reconcileMu.
	OnRole func(prev, next partition.Role)
}

// Key names a partition.
type Key struct {
	Topic     string
	Partition int32
}

// Replica is one local replica as the read-only view lists it.
type Replica struct {
	Key     Key
	TopicID [16]byte
	P       *partition.Partition
}

type local struct {
	p       *partition.Partition
	topicID [16]byte
	offline bool // the metadata marks it offline (offline.go); under reconcileMu
}

// Manager is this broker's replica manager.
type Manager struct {
	cfg  Config
	log  *slog.Logger
	repl *replication.Manager

	reconcileMu sync.Mutex

	mu    sync.RWMutex
	local map[Key]*local
	ready bool // the last Reconcile applied roles and the broker is unfenced

	isrMu       sync.Mutex
	isrInFlight map[Key]bool

	faults faults

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// New starts a replica manager with no replicas; Reconcile opens them.
func New(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Fetch.Self, cfg.Fetch.Logger = cfg.Self, cfg.Logger
	m := &Manager{cfg: cfg, log: cfg.Logger, repl: replication.New(cfg.Fetch), local: map[Key]*local{},
		isrInFlight: map[Key]bool{}, stop: make(chan struct{}),
		faults: faults{busy: map[Key]bool{}, locks: map[Key]*sync.Mutex{}, wake: make(chan struct{}, 1)}}
	m.wg.Add(2)
	isrEvery := max(cfg.MaxLag/4, 50*time.Millisecond)
	go func() { defer m.wg.Done(); safe.Loop(m.log, "isr", m.stop, m.every(isrEvery, nil, m.shrinkISRs)) }()
	go func() {
		defer m.wg.Done()
		safe.Loop(m.log, "replica-faults", m.stop, m.every(faultCheckInterval, m.faults.wake, m.checkFaults))
	}()
	return m
}

// every returns a loop that runs fn every interval, and at once when wake
// (if not nil) receives, until Halt.
func (m *Manager) every(interval time.Duration, wake <-chan struct{}, fn func()) func() {
	return func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-tick.C:
			case <-wake:
			}
			fn()
		}
	}
}

// Get returns the local replica of k, or nil.
func (m *Manager) Get(k Key) *partition.Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if l := m.local[k]; l != nil {
		return l.p
	}
	return nil
}

// Local lists the local replicas, sorted by topic and partition.
func (m *Manager) Local() []Replica {
	m.mu.RLock()
	out := make([]Replica, 0, len(m.local))
	for k, l := range m.local {
		out = append(out, Replica{Key: k, TopicID: l.topicID, P: l.p})
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Key, out[j].Key
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	return out
}

// DiskUsage reports the data dir's volume.
func (m *Manager) DiskUsage() storage.DiskUsage { return m.cfg.Store.DiskUsage() }

// Reconciled is what Reconcile did.
type Reconciled struct {
	// Parts are the local replicas of st's topics, by partition.
	Parts map[Key]*partition.Partition
	// Deleted are topics that had replicas here and are gone from st.
	Deleted []string
}

// Reconcile applies st to the local replicas: opens those st places here
// (logOptions gives a topic's log options and whether they changed since
// the previous Reconcile), applies their roles when current (st includes
// this process's own registration: an older state may name this broker
// leader of an epoch it led before a restart), and deletes the others.
// ready says this broker is registered and unfenced (the fault loop acts
// only then).
func (m *Manager) Reconcile(st *metadata.State, current, ready bool, logOptions func(topic string) (opts storage.Options, changed bool)) Reconciled {
	m.reconcileMu.Lock()
	defer m.reconcileMu.Unlock()
	now := m.cfg.Now()
	m.mu.RLock()
	locals := make(map[Key]*local, len(m.local))
	for k, v := range m.local {
		locals[k] = v
	}
	m.mu.RUnlock()

	out := Reconciled{Parts: map[Key]*partition.Partition{}}
	keep := map[Key]bool{}
	opened := m.openNew(st, locals, logOptions)
	for _, name := range st.TopicNames() {
		mt := st.Topics[name]
		opts, changed := logOptions(name)
		for i, ps := range mt.Parts {
			if !slices.Contains(ps.Replicas, m.cfg.Self) {
				continue
			}
			k := Key{name, int32(i)}
			l := locals[k]
			if l != nil && l.topicID != mt.ID {
				m.drop(k, l)
				delete(locals, k)
				l = nil
			}
			if l == nil {
				o, ok := opened[k]
				if !ok || o.p == nil && o.err == nil { // not opened ahead (or its worker panicked)
					o.p, o.err = m.open(mt, int32(i), opts)
				}
				p, err := o.p, o.err
				if err != nil {
					m.log.Error("opening partition", "topic", name, "partition", i, "err", err)
					if current {
						m.openFailed(k, err) // offline.go
					}
					continue
				}
				l = &local{p: p, topicID: mt.ID}
				locals[k] = l
			} else if changed {
				l.p.SetLogOptions(opts)
			}
			keep[k] = true
			out.Parts[k] = l.p
			if current {
				m.applyRole(l, ps, now)
			}
		}
	}
	for k, l := range locals {
		if !keep[k] {
			if _, still := st.Topics[k.Topic]; !still {
				out.Deleted = append(out.Deleted, k.Topic)
			}
			m.drop(k, l)
			delete(locals, k)
		}
	}
	sort.Strings(out.Deleted)
	out.Deleted = slices.Compact(out.Deleted)
	m.mu.Lock()
	m.local, m.ready = locals, ready
	m.mu.Unlock()
	marked := int64(0)
	for _, l := range locals {
		if l.offline {
			marked++
		}
	}
	m.faults.marked.Store(marked)
	if marked > 0 {
		m.WakeFaults() // applyOffline's wake may have come before the count
	}
	return out
}

// openResult is a replica opened ahead of Reconcile's main loop.
type openResult struct {
	p   *partition.Partition
	err error
}

// openParallel is how many replicas Reconcile opens at once: opening is
// mostly file I/O (recovery reads, fsyncs, index checks), so a broker
// starting with thousands of partitions waits for the disk, not the CPU.
const openParallel = 16

// openNew opens, openParallel at a time, the replicas st places here that
// are not open (locals, under reconcileMu), dropping first a local replica
// of an older topic with the same name. The main loop takes the results.
func (m *Manager) openNew(st *metadata.State, locals map[Key]*local, logOptions func(string) (storage.Options, bool)) map[Key]openResult {
	type job struct {
		k    Key
		mt   *metadata.Topic
		opts storage.Options
	}
	var jobs []job
	for _, name := range st.TopicNames() {
		mt := st.Topics[name]
		var opts storage.Options
		optsSet := false
		for i, ps := range mt.Parts {
			if !slices.Contains(ps.Replicas, m.cfg.Self) {
				continue
			}
			k := Key{name, int32(i)}
			if l := locals[k]; l != nil {
				if l.topicID == mt.ID {
					continue
				}
				m.drop(k, l)
				delete(locals, k)
			}
			if !optsSet {
				opts, _ = logOptions(name)
				optsSet = true
			}
			jobs = append(jobs, job{k, mt, opts})
		}
	}
	out := make(map[Key]openResult, len(jobs))
	if len(jobs) < 2 {
		return out // the main loop opens it
	}
	ps := make([]*partition.Partition, len(jobs))
	errs := m.eachParallel("open-replica", len(jobs), func(i int) (err error) {
		j := jobs[i]
		ps[i], err = m.open(j.mt, j.k.Partition, j.opts)
		return err
	})
	for i, j := range jobs {
		out[j.k] = openResult{p: ps[i], err: errs[i]}
	}
	return out
}

// eachParallel runs do(i) for every i below n, openParallel at a time, and
// returns each call's error; a call that panics ends with an error (the
// panic logged) and the others go on.
func (m *Manager) eachParallel(name string, n int, do func(i int) error) []error {
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(openParallel, n); w++ {
		wg.Add(1)
		safe.Go(m.log, name, func() {
			defer wg.Done()
			for i := range next {
				if !safe.Run(m.log, name, func() { errs[i] = do(i) }) {
					errs[i] = fmt.Errorf("%s %d of %d panicked", name, i, n)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}

// partitionMetadataFile is Kafka's per-partition file naming the topic id, so
// a topic deleted and recreated under the same name while this broker was
// away is not mistaken for the old one.
const partitionMetadataFile = "partition.metadata"

// open opens the local replica of t's partition i and its log.
func (m *Manager) open(t *metadata.Topic, i int32, opts storage.Options) (*partition.Partition, error) {
	dir := filepath.Join(m.cfg.Store.Dir(), t.Name+"-"+strconv.Itoa(int(i)))
	idHex := hex.EncodeToString(t.ID[:])
	meta := "version: 0\ntopic_id: " + idHex + "\n"
	data, err := os.ReadFile(filepath.Join(dir, partitionMetadataFile))
	if err == nil {
		if !strings.Contains(string(data), "topic_id: "+idHex) {
			m.log.Warn("removing data of an older topic with the same name", "dir", dir)
			l, err := m.cfg.Store.Open(t.Name, i, opts)
			if err == nil {
				l.Delete()
			}
			data = nil
		}
	}
	l, err := m.cfg.Store.Open(t.Name, i, opts)
	if err != nil {
		return nil, err
	}
	// Rewritten only when it differs: truncating and rewriting 10,000 of
	// them on every start dirties as many inodes, and each recovery fsync
	// then waits for a journal commit carrying them.
	if string(data) != meta {
		if err := os.WriteFile(filepath.Join(dir, partitionMetadataFile), []byte(meta), 0o644); err != nil {
			l.Close()
			return nil, err
		}
	}
	p, err := partition.Open(t.Name, i, m.cfg.Self, l)
	if err != nil {
		l.Close()
		return nil, err
	}
	return p, nil
}

// applyRole gives l the role ps says, under reconcileMu, and starts or
// stops its fetcher when the leader or epoch changed (or it came back
// online).
func (m *Manager) applyRole(l *local, ps metadata.Partition, now time.Time) {
	p := l.p
	role := partition.Role{Leader: ps.Leader, LeaderEpoch: ps.LeaderEpoch, PartitionEpoch: ps.PartitionEpoch, Replicas: ps.Replicas, ISR: ps.ISR}
	prev := p.Role()
	changed := p.SetRole(role, now)
	if m.cfg.OnRole != nil {
		m.cfg.OnRole(prev, role)
	}
	if offline, back := m.applyOffline(l, ps); offline || !(changed || back) {
		return
	}
	switch {
	case ps.Leader == m.cfg.Self:
		m.repl.Unfollow(p)
		m.log.Info("became leader", "topic", p.Topic, "partition", p.Index, "leader_epoch", ps.LeaderEpoch, "isr", ps.ISR)
	case ps.Leader >= 0:
		m.repl.Follow(p, l.topicID, ps.Leader, ps.LeaderEpoch)
		m.log.Debug("became follower", "topic", p.Topic, "partition", p.Index, "leader", ps.Leader, "leader_epoch", ps.LeaderEpoch)
	default:
		m.repl.Unfollow(p)
		m.log.Warn("partition offline", "topic", p.Topic, "partition", p.Index, "leader_epoch", ps.LeaderEpoch)
	}
}

// drop stops fetching k and deletes its replica's data.
func (m *Manager) drop(k Key, l *local) {
	m.repl.Unfollow(l.p)
	if err := l.p.Delete(); err != nil {
		m.log.Error("deleting partition data", "topic", k.Topic, "partition", k.Partition, "err", err)
	}
	m.log.Info("replica removed", "topic", k.Topic, "partition", k.Partition)
}

// Halt stops the background loops at once (as a crash would: no more ISR
// shrinks or fault reports); fetchers run until Close.
func (m *Manager) Halt() {
	m.stopOnce.Do(func() { close(m.stop) })
	m.wg.Wait()
}

// CloseFetchers stops every follower fetcher and waits for them.
func (m *Manager) CloseFetchers() { m.repl.Close() }

// Close halts the loops, stops the fetchers, and flushes and closes every
// replica and the data dir's store.
func (m *Manager) Close() error {
	m.Halt()
	m.repl.Close()
	m.reconcileMu.Lock()
	defer m.reconcileMu.Unlock()
	m.mu.Lock()
	locals := m.local
	m.local = map[Key]*local{}
	m.mu.Unlock()
	// Closing fsyncs each log's active files: openParallel at a time, so
	// a broker with thousands of partitions waits for the disk once per
	// batch of fsyncs, not once per file (and opens at most that many
	// segment files beyond the descriptor cache's own).
	ps := make([]*partition.Partition, 0, len(locals))
	for _, l := range locals {
		ps = append(ps, l.p)
	}
	errs := m.eachParallel("close-replica", len(ps), func(i int) error { return ps[i].Close() })
	var first error
	for _, err := range errs {
		if err != nil && first == nil {
			first = err
		}
	}
	if err := m.cfg.Store.Close(); err != nil && first == nil {
		first = err
	}
	return first
}

func (m *Manager) isReady() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.ready
}

func (m *Manager) sleep(d time.Duration) {
	select {
	case <-m.stop:
	case <-time.After(d):
	}
}
