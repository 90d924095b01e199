// Package txn is the transaction coordinator (KIP-98, with KIP-360's
// producer epoch recovery): transactional ids, their producer ids and
// epochs, the partitions of each open transaction, and its two-phase end
// (a PrepareCommit/PrepareAbort record, the COMMIT/ABORT markers written by
// the partition leaders, a CompleteCommit/CompleteAbort record), all kept
// in the compacted internal topic __transaction_state in Kafka's layout.
//
// As in Kafka, a transactional id belongs to one partition of
// __transaction_state (PartitionFor) and is coordinated by that
// partition's leader, whose leader epoch is the coordinator epoch the
// markers carry. The broker tells the coordinator which partitions it
// leads (SetLeadership); a newly led partition is replayed in the
// background (COORDINATOR_LOAD_IN_PROGRESS meanwhile) and the transactions
// it finds half ended (Prepare*) are completed: markers sent again, the
// Complete* record written. Requests for ids of other partitions get
// NOT_COORDINATOR.
//
// The coordinator does not import the broker: the broker hands it a Log
// (the __transaction_state partitions), Markers (WriteTxnMarkers to the
// partition leaders), a producer id source and a Clock.
//
// Concurrency: Coordinator.mu guards every transaction and the led
// partitions. An operation that writes a record sets the transaction's
// pending flag, appends under mu, and waits for replication outside mu;
// requests for a pending transaction get CONCURRENT_TRANSACTIONS (the
// client retries). Markers are sent outside mu on their own goroutine,
// one per ending transaction. Timer callbacks take mu. Lock order across
// packages: txn (Coordinator.mu) → partition → log, as for the group
// coordinator (internal/group); neither lower layer calls back in.
package txn

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/tributary/tributary/internal/group"
	"github.com/tributary/tributary/internal/safe"
)

// StateTopic is the internal topic holding transaction state.
const StateTopic = "__transaction_state"

// Errors the broker maps to wire codes (internal/broker/errors.go).
var (
	ErrNotCoordinator         = errors.New("this broker does not coordinate the transactional id")
	ErrLoadInProgress         = errors.New("the transactional id's state partition is being loaded")
	ErrCoordinatorUnavailable = errors.New("the transaction state could not be written")
	ErrConcurrentTransactions = errors.New("the transaction is ending or another request for it is in progress")
	ErrProducerFenced         = errors.New("a newer producer with the same transactional id exists")
	ErrInvalidProducerEpoch   = errors.New("the producer epoch is not the transaction's current one")
	ErrInvalidProducerIDMap   = errors.New("the producer id does not belong to the transactional id")
	ErrInvalidTxnState        = errors.New("the request is not valid in the transaction's state")
	// ErrNotInTransaction: a KIP-890 verification names a partition the
	// producer's transaction does not hold (none is open, or it was never
	// added): the producer can only abort.
	ErrNotInTransaction       = errors.New("the partition is not in the producer's ongoing transaction")
	ErrInvalidTimeout         = errors.New("transaction timeout above transaction.max.timeout.ms or not positive")
	ErrUnknownTransactionalID = errors.New("unknown transactional id")
	ErrEmptyTransactionalID   = errors.New("empty transactional id")
)

// State is a transaction's state, numbered as in Kafka's records.
type State int8

const (
	Empty State = iota
	Ongoing
	PrepareCommit
	PrepareAbort
	CompleteCommit
	CompleteAbort
	Dead
	PrepareEpochFence
)

func (s State) String() string {
	names := []string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}
	if s >= 0 && int(s) < len(names) {
		return names[s]
	}
	return "Unknown"
}

// TopicPartition names a partition in a transaction.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// maxEpoch: an epoch is bumped below it; at it the coordinator takes a new
// producer id (Kafka: Short.MaxValue - 1).
const maxEpoch = 32766

// Log is the __transaction_state topic as the coordinator uses it; the
// same contract as group.Log.
type Log interface {
	// Partitions returns the topic's partition count. With create it
	// creates the topic if missing; without, it returns 0 if missing.
	Partitions(create bool) (int32, error)
	// Append writes one v2 batch to partition p as its leader and returns
	// the log end after it and the leader epoch it was written under.
	Append(p int32, batch []byte) (end int64, epoch int32, err error)
	// Sync returns once every offset of p below end is durable and in
	// every in-sync replica, while p is led under epoch.
	Sync(p int32, end int64, epoch int32) error
	// Read calls fn with every stored batch of p, in offset order.
	Read(p int32, fn func(batch []byte) error) error
}

// Markers writes transaction markers through the partition leaders.
type Markers interface {
	// WriteMarkers has the leader of every partition in parts append the
	// COMMIT (commit) or ABORT marker of producer pid at epoch, carrying
	// coordinatorEpoch, and wait until it is replicated. It returns nil
	// once every partition has it; an error means some must be retried.
	// Partitions that no longer exist count as done.
	WriteMarkers(ctx context.Context, pid int64, epoch int16, commit bool, coordinatorEpoch int32, parts []TopicPartition) error
}

// Clock is the time source; tests inject one.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f after d on its own goroutine; stop cancels it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{ log *slog.Logger }

func (realClock) Now() time.Time { return time.Now() }
func (c realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, safe.Func(c.log, "txn-timer", f)).Stop
}

// Config configures a coordinator.
type Config struct {
	Log     Log
	Markers Markers
	// ProducerID allocates a new producer id (never reused).
	ProducerID func() (int64, error)
	Clock      Clock
	Logger     *slog.Logger

	MaxTimeout   time.Duration // transaction.max.timeout.ms (default 15 min)
	AbortCheck   time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms (default 10 s)
	MarkerRetry  time.Duration // pause between marker attempts (default 100 ms)
	MarkerTimout time.Duration // one WriteMarkers attempt (default 30 s)
}

// txnMeta is one transactional id's state.
type txnMeta struct {
	id        string
	pid       int64
	epoch     int16
	lastEpoch int16 // the epoch before the last bump (KIP-360 retries), -1 none
	// tv2: the last transaction ended with transaction version 2 (EndTxn
	// v5+, KIP-890 part 2): every end bumps the epoch, so a retried end
	// is recognized by its epoch being one below the current one.
	tv2 bool
	// prevPID is the producer id before the last end that ran out of
	// epochs (transaction version 2), -1 none; nextPID the one the end in
	// progress switches to at completion, -1 none.
	prevPID, nextPID int64
	// queued are partitions leaders asked to add (AddPartitionsWaiting)
	// for the producer at queuedPID/queuedEpoch while a write was in
	// flight: the next addition writes them all at once (one state
	// record for the partitions of a transaction's first produces,
	// instead of one after the other). In memory only.
	queued      map[TopicPartition]struct{}
	queuedPID   int64
	queuedEpoch int16
	timeout     time.Duration
	state       State
	parts       map[TopicPartition]struct{}
	start       time.Time // of the open transaction
	// lastUpdate is the time of the last state change.
	lastUpdate time.Time
	// pending: a record write or the markers are in flight; other
	// requests get CONCURRENT_TRANSACTIONS.
	pending bool
}

type ownedPart struct {
	epoch  int32
	loaded bool
}

// Coordinator coordinates the transactional ids of the __transaction_state
// partitions this broker leads.
type Coordinator struct {
	cfg   Config
	clock Clock
	log   *slog.Logger

	mu     sync.Mutex
	nparts int32
	owned  map[int32]*ownedPart
	txns   map[string]*txnMeta // of loaded owned partitions only
	closed bool
	stop   func() bool
	ctx    context.Context
	cancel context.CancelFunc
	// settled is closed and replaced whenever a transaction stops being
	// pending (AddPartitionsWaiting waits on it).
	settled chan struct{}
}

// New returns a coordinator that leads no partition yet.
func New(cfg Config) *Coordinator {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{cfg.Logger}
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = 15 * time.Minute
	}
	if cfg.AbortCheck <= 0 {
		cfg.AbortCheck = 10 * time.Second
	}
	if cfg.MarkerRetry <= 0 {
		cfg.MarkerRetry = 100 * time.Millisecond
	}
	if cfg.MarkerTimout <= 0 {
		cfg.MarkerTimout = 30 * time.Second
	}
	c := &Coordinator{cfg: cfg, clock: cfg.Clock, log: cfg.Logger, owned: map[int32]*ownedPart{}, txns: map[string]*txnMeta{}, settled: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.mu.Lock()
	c.scheduleAbortCheck()
	c.mu.Unlock()
	return c
}

// Close stops timers and marker senders.
func (c *Coordinator) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.stop != nil {
		c.stop()
	}
	c.cancel()
}

// Ready makes sure __transaction_state exists (creating it on first use).
func (c *Coordinator) Ready() error {
	n, err := c.cfg.Log.Partitions(true)
	if err == nil && n <= 0 {
		err = errors.New("transaction state topic has no partitions")
	}
	return err
}

// PartitionFor is the __transaction_state partition of a transactional id
// (Kafka's mapping, the same as for group ids).
func PartitionFor(id string, partitions int32) int32 { return group.PartitionFor(id, partitions) }

// SetLeadership tells the coordinator that __transaction_state has
// partitions partitions and this broker leads exactly those in led
// (partition -> leader epoch). Newly led ones are replayed in the
// background; the transactions of partitions no longer led are forgotten
// (their marker senders stop at their next attempt). The returned channel
// is closed once the loads this call started have finished.
func (c *Coordinator) SetLeadership(partitions int32, led map[int32]int32) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	all := make(chan struct{})
	if c.closed {
		close(all)
		return all
	}
	if partitions != c.nparts {
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
	ps := make([]int32, 0, len(led))
	for p := range led {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	for _, p := range ps {
		if c.owned[p] != nil || p < 0 || p >= partitions {
			continue
		}
		op := &ownedPart{epoch: led[p]}
		c.owned[p] = op
		done := make(chan struct{})
		loads = append(loads, done)
		safe.Go(c.log, "txn-load", func() { defer close(done); c.load(p, op) })
	}
	go func() { // safe: only waits
		for _, ch := range loads {
			<-ch
		}
		close(all)
	}()
	return all
}

// unload forgets partition p's transactions. Under mu.
func (c *Coordinator) unload(p int32) {
	op := c.owned[p]
	if op == nil {
		return
	}
	delete(c.owned, p)
	n := 0
	for id := range c.txns {
		if PartitionFor(id, c.nparts) == p {
			delete(c.txns, id)
			n++
		}
	}
	c.log.Info("transaction state partition unloaded: no longer its leader", "partition", p, "leader_epoch", op.epoch, "transactional_ids", n)
}

// load replays partition p and resumes the transactions it left half
// ended.
func (c *Coordinator) load(p int32, op *ownedPart) {
	state := map[string]*txnMeta{}
	err := c.cfg.Log.Read(p, func(b []byte) error { return decodeState(b, state) })
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owned[p] != op {
		return // lost or re-gained meanwhile; a newer load owns it
	}
	if err != nil {
		c.log.Error("loading transaction state failed", "partition", p, "err", err)
		delete(c.owned, p)
		return
	}
	for id, t := range state {
		c.txns[id] = t
		if t.state == PrepareCommit || t.state == PrepareAbort {
			t.pending = true
			c.sendMarkers(t, op.epoch)
		}
	}
	op.loaded = true
	c.log.Info("transaction state partition loaded", "partition", p, "leader_epoch", op.epoch, "transactional_ids", len(state))
}

// owner returns the partition serving id now, or an error. Under mu.
func (c *Coordinator) owner(id string) (int32, *ownedPart, error) {
	if id == "" {
		return 0, nil, ErrEmptyTransactionalID
	}
	if c.closed || c.nparts == 0 {
		return 0, nil, ErrNotCoordinator
	}
	p := PartitionFor(id, c.nparts)
	op := c.owned[p]
	switch {
	case op == nil:
		return 0, nil, ErrNotCoordinator
	case !op.loaded:
		return 0, nil, ErrLoadInProgress
	}
	return p, op, nil
}

// write persists t's state as next (applied to a copy), waiting for
// replication outside mu. Called with mu held and t.pending false; returns
// with mu held. On success t holds next's fields; on failure t is
// unchanged.
func (c *Coordinator) write(t *txnMeta, p int32, op *ownedPart, next txnMeta) error {
	next.lastUpdate = c.clock.Now()
	batch := stateBatch(t.id, stateValue(&next), next.lastUpdate.UnixMilli())
	end, epoch, err := c.cfg.Log.Append(p, batch)
	if err != nil {
		return errors.Join(ErrCoordinatorUnavailable, err)
	}
	t.pending = true
	c.mu.Unlock()
	err = c.cfg.Log.Sync(p, end, epoch)
	c.mu.Lock()
	t.pending = false
	c.settle()
	if err != nil {
		return errors.Join(ErrCoordinatorUnavailable, err)
	}
	if c.owned[p] != op || c.txns[t.id] != t {
		return ErrNotCoordinator
	}
	next.pending = false
	// Additions queued while the write was in flight stay queued.
	q, qPID, qEpoch := t.queued, t.queuedPID, t.queuedEpoch
	*t = next
	t.queued, t.queuedPID, t.queuedEpoch = q, qPID, qEpoch
	return nil
}

// settle wakes AddPartitionsWaiting callers. Under mu.
func (c *Coordinator) settle() {
	close(c.settled)
	c.settled = make(chan struct{})
}

// AddPartitionsWaiting is AddPartitions for a partition leader adding the
// partition of a transaction version 2 producer's batch (KIP-890 part
// 2): that producer sends its first batch of a transaction as soon as
// EndTxn answered, while the previous transaction's markers may still be
// in flight, so CONCURRENT_TRANSACTIONS is waited out here (until ctx is
// done) rather than sent back to the producer to retry after its
// backoff.
func (c *Coordinator) AddPartitionsWaiting(ctx context.Context, id string, pid int64, epoch int16, parts []TopicPartition) error {
	for {
		c.mu.Lock()
		ch := c.settled
		if t := c.txns[id]; t != nil && t.pending && t.pid == pid && t.epoch == epoch {
			if t.queued == nil || t.queuedPID != pid || t.queuedEpoch != epoch {
				t.queued, t.queuedPID, t.queuedEpoch = map[TopicPartition]struct{}{}, pid, epoch
			}
			for _, tp := range parts {
				t.queued[tp] = struct{}{}
			}
		}
		c.mu.Unlock()
		err := c.AddPartitions(id, pid, epoch, parts)
		if !errors.Is(err, ErrConcurrentTransactions) {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return err
		}
	}
}

// InitResult is InitProducerId's answer.
type InitResult struct {
	ProducerID int64
	Epoch      int16
}

// InitProducerID gives transactional id its producer id and a bumped epoch
// (fencing any older producer with the same id), aborting an open
// transaction first (CONCURRENT_TRANSACTIONS meanwhile; the client
// retries). With pid/epoch >= 0 (KIP-360) the caller is a producer
// recovering from an error: it must hold the current epoch (or the one
// before a bump it did not hear about), else PRODUCER_FENCED.
func (c *Coordinator) InitProducerID(id string, timeout time.Duration, pid int64, epoch int16) (InitResult, error) {
	if timeout <= 0 || timeout > c.cfg.MaxTimeout {
		return InitResult{}, ErrInvalidTimeout
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p, op, err := c.owner(id)
	if err != nil {
		return InitResult{}, err
	}
	t := c.txns[id]
	if t == nil {
		newPID, err := c.cfg.ProducerID()
		if err != nil {
			return InitResult{}, errors.Join(ErrCoordinatorUnavailable, err)
		}
		t = &txnMeta{id: id, pid: -1, epoch: -1, lastEpoch: -1, prevPID: -1, nextPID: -1, state: Empty, parts: map[TopicPartition]struct{}{}}
		c.txns[id] = t
		next := *t
		next.pid, next.epoch, next.timeout = newPID, 0, timeout
		if err := c.write(t, p, op, next); err != nil {
			if c.txns[id] == t && t.pid < 0 {
				delete(c.txns, id)
			}
			return InitResult{}, err
		}
		return InitResult{t.pid, t.epoch}, nil
	}
	if t.pending {
		return InitResult{}, ErrConcurrentTransactions
	}
	if pid >= 0 {
		// KIP-360: the producer's current epoch, or the one before the
		// last bump (its own bump whose answer it missed, or the fence of
		// a timed-out transaction), may bump; any other is a zombie.
		switch {
		case pid != t.pid, epoch != t.epoch && epoch != t.lastEpoch:
			return InitResult{}, ErrProducerFenced
		case epoch == t.lastEpoch && t.state == Empty:
			return InitResult{t.pid, t.epoch}, nil // a retry of the bump that answered it
		}
	}
	switch t.state {
	case PrepareCommit, PrepareAbort:
		return InitResult{}, ErrConcurrentTransactions
	case Ongoing:
		// Fence the old producer and abort its transaction under the
		// bumped epoch; the client retries.
		if _, err := c.endTransaction(t, p, op, false, true, t.tv2); err != nil {
			return InitResult{}, err
		}
		return InitResult{}, ErrConcurrentTransactions
	}
	next := *t
	next.parts = map[TopicPartition]struct{}{}
	next.state, next.timeout, next.start = Empty, timeout, time.Time{}
	next.lastEpoch, next.prevPID, next.tv2 = t.epoch, -1, false
	if t.epoch >= maxEpoch {
		newPID, err := c.cfg.ProducerID()
		if err != nil {
			return InitResult{}, errors.Join(ErrCoordinatorUnavailable, err)
		}
		next.pid, next.epoch, next.lastEpoch = newPID, 0, -1
	} else {
		next.epoch++
	}
	if err := c.write(t, p, op, next); err != nil {
		return InitResult{}, err
	}
	return InitResult{t.pid, t.epoch}, nil
}

// checkProducer validates a request's producer id and epoch against t.
// Under mu.
func checkProducer(t *txnMeta, pid int64, epoch int16) error {
	switch {
	case t.pid != pid:
		return ErrInvalidProducerIDMap
	case epoch < t.epoch:
		return ErrProducerFenced
	case epoch > t.epoch:
		return ErrInvalidProducerEpoch
	}
	return nil
}

// AddPartitions adds parts to the producer's transaction, starting one if
// none is open.
func (c *Coordinator) AddPartitions(id string, pid int64, epoch int16, parts []TopicPartition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, op, err := c.owner(id)
	if err != nil {
		return err
	}
	t := c.txns[id]
	if t == nil {
		return ErrInvalidProducerIDMap
	}
	if t.nextPID >= 0 && pid == t.nextPID {
		return ErrConcurrentTransactions // the id the ending transaction hands over
	}
	if err := checkProducer(t, pid, epoch); err != nil {
		return err
	}
	if t.pending || t.state == PrepareCommit || t.state == PrepareAbort {
		return ErrConcurrentTransactions
	}
	if t.state == Dead || t.state == PrepareEpochFence {
		return ErrInvalidTxnState
	}
	missing := false
	for _, tp := range parts {
		if _, ok := t.parts[tp]; !ok {
			missing = true
		}
	}
	if t.state == Ongoing && !missing {
		return nil // all already in the transaction
	}
	next := *t
	next.parts = make(map[TopicPartition]struct{}, len(t.parts)+len(parts))
	for tp := range t.parts {
		next.parts[tp] = struct{}{}
	}
	for _, tp := range parts {
		next.parts[tp] = struct{}{}
	}
	if t.queuedPID == pid && t.queuedEpoch == epoch {
		for tp := range t.queued {
			next.parts[tp] = struct{}{}
		}
	}
	if t.state != Ongoing {
		next.state, next.start = Ongoing, c.clock.Now()
	}
	if err := c.write(t, p, op, next); err != nil {
		return err
	}
	for tp := range t.parts {
		delete(t.queued, tp)
	}
	return nil
}

// VerifyPartitions answers a partition leader's KIP-890 verification
// (AddPartitionsToTxn v4+ with VerifyOnly): nil when every partition is
// in the producer's ongoing transaction at its current epoch, else the
// error for all of them (ErrNotInTransaction when one is not in it or
// no transaction is open, CONCURRENT_TRANSACTIONS while the transaction
// is ending).
func (c *Coordinator) VerifyPartitions(id string, pid int64, epoch int16, parts []TopicPartition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, _, err := c.owner(id); err != nil {
		return err
	}
	t := c.txns[id]
	if t == nil {
		return ErrInvalidProducerIDMap
	}
	if t.nextPID >= 0 && pid == t.nextPID {
		return ErrConcurrentTransactions
	}
	if err := checkProducer(t, pid, epoch); err != nil {
		return err
	}
	if t.state == PrepareCommit || t.state == PrepareAbort {
		return ErrConcurrentTransactions
	}
	if t.state != Ongoing {
		return ErrNotInTransaction
	}
	for _, tp := range parts {
		if _, ok := t.parts[tp]; !ok {
			return ErrNotInTransaction
		}
	}
	return nil
}

// EndTxn commits or aborts the producer's transaction: once the Prepare
// record is replicated it answers, and the markers follow in the
// background. A retry of an end that already happened answers success; an
// end without a transaction, or the opposite of one under way or done, is
// INVALID_TXN_STATE.
func (c *Coordinator) EndTxn(id string, pid int64, epoch int16, commit bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, op, err := c.owner(id)
	if err != nil {
		return err
	}
	t := c.txns[id]
	if t == nil {
		return ErrInvalidProducerIDMap
	}
	if err := checkProducer(t, pid, epoch); err != nil {
		return err
	}
	switch t.state {
	case Ongoing:
		if t.pending {
			return ErrConcurrentTransactions
		}
		_, err := c.endTransaction(t, p, op, commit, false, false)
		return err
	case PrepareCommit:
		if commit {
			return ErrConcurrentTransactions
		}
	case PrepareAbort:
		if !commit {
			return ErrConcurrentTransactions
		}
	case CompleteCommit:
		if commit {
			return nil
		}
	case CompleteAbort:
		if !commit {
			return nil
		}
	}
	return ErrInvalidTxnState
}

// endTransaction writes the Prepare record and starts the markers. With
// fence or tv2 the epoch is bumped first (fencing the current producer, or
// transaction version 2's per-transaction bump); an epoch bumped to the
// last value takes a new producer id for after the end (tv2: the one
// returned). It returns the producer id and epoch the producer continues
// with. Under mu, t not pending and Ongoing.
func (c *Coordinator) endTransaction(t *txnMeta, p int32, op *ownedPart, commit, fence, tv2 bool) (InitResult, error) {
	next := *t
	next.state = PrepareAbort
	if commit {
		next.state = PrepareCommit
	}
	next.tv2 = tv2
	if fence || tv2 {
		next.lastEpoch = t.epoch
		next.epoch++
		if tv2 && next.epoch > maxEpoch {
			newPID, err := c.cfg.ProducerID()
			if err != nil {
				return InitResult{}, errors.Join(ErrCoordinatorUnavailable, err)
			}
			next.nextPID = newPID
		}
	}
	if err := c.write(t, p, op, next); err != nil {
		return InitResult{}, err
	}
	t.pending = true
	c.sendMarkers(t, op.epoch)
	return t.continueAs(), nil
}

// continueAs is the producer id and epoch a producer continues with after
// t's end (transaction version 2).
func (t *txnMeta) continueAs() InitResult {
	if t.nextPID >= 0 {
		return InitResult{t.nextPID, 0}
	}
	return InitResult{t.pid, t.epoch}
}

// EndTxnV2 ends the producer's transaction with transaction version 2
// (EndTxn v5+, KIP-890 part 2): the epoch is bumped with every end and the
// producer continues with the returned id and epoch. A retry (the epoch
// before the bump, or the producer id the end ran out of epochs on)
// answers the end's result; aborting with no transaction open is allowed
// and bumps the epoch.
func (c *Coordinator) EndTxnV2(id string, pid int64, epoch int16, commit bool) (InitResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, op, err := c.owner(id)
	if err != nil {
		return InitResult{}, err
	}
	t := c.txns[id]
	if t == nil {
		return InitResult{}, ErrInvalidProducerIDMap
	}
	ended := t.state == PrepareCommit || t.state == PrepareAbort || t.state == CompleteCommit || t.state == CompleteAbort
	retry := t.tv2 && ended && ((pid == t.pid && epoch == t.epoch-1) ||
		(t.prevPID >= 0 && pid == t.prevPID && epoch == maxEpoch && t.epoch == 0))
	if !retry {
		if t.nextPID >= 0 && pid == t.nextPID {
			return InitResult{}, ErrConcurrentTransactions
		}
		if err := checkProducer(t, pid, epoch); err != nil {
			return InitResult{}, err
		}
	}
	if t.pending {
		return InitResult{}, ErrConcurrentTransactions
	}
	same := (commit && (t.state == PrepareCommit || t.state == CompleteCommit)) || (!commit && (t.state == PrepareAbort || t.state == CompleteAbort))
	switch {
	case retry && same && (t.state == PrepareCommit || t.state == PrepareAbort):
		return InitResult{}, ErrConcurrentTransactions
	case retry && same:
		return t.continueAs(), nil
	case retry && commit && t.state == PrepareAbort:
		return InitResult{}, ErrConcurrentTransactions // fenced below once the abort completes
	case retry && commit && t.state == CompleteAbort:
		// Only the coordinator's own abort (transaction.timeout.ms)
		// bumps the epoch past a commit still in flight: the producer
		// is fenced, as it would be with transaction version 0-1, not
		// in an invalid state (Kafka, KAFKA-20785).
		return InitResult{}, ErrProducerFenced
	case retry:
		return InitResult{}, ErrInvalidTxnState
	case t.state == Ongoing:
		return c.endTransaction(t, p, op, commit, false, true)
	case t.state == PrepareCommit || t.state == PrepareAbort:
		return InitResult{}, ErrConcurrentTransactions
	case !commit && (t.state == Empty || t.state == CompleteCommit || t.state == CompleteAbort):
		// An abort with nothing open: the epoch is bumped all the same
		// (a producer whose produces all failed ends this way).
		next := *t
		next.state, next.tv2, next.lastEpoch = CompleteAbort, true, t.epoch
		next.parts, next.start = map[TopicPartition]struct{}{}, time.Time{}
		if t.epoch >= maxEpoch {
			newPID, err := c.cfg.ProducerID()
			if err != nil {
				return InitResult{}, errors.Join(ErrCoordinatorUnavailable, err)
			}
			next.prevPID, next.pid, next.epoch = t.pid, newPID, 0
		} else {
			next.epoch++
		}
		if err := c.write(t, p, op, next); err != nil {
			return InitResult{}, err
		}
		return t.continueAs(), nil
	}
	return InitResult{}, ErrInvalidTxnState
}

// sendMarkers sends t's markers until every partition has them, then
// writes the Complete record. Under mu, t pending and Prepare*.
func (c *Coordinator) sendMarkers(t *txnMeta, coordinatorEpoch int32) {
	commit := t.state == PrepareCommit
	parts := make([]TopicPartition, 0, len(t.parts))
	for tp := range t.parts {
		parts = append(parts, tp)
	}
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].Topic != parts[j].Topic {
			return parts[i].Topic < parts[j].Topic
		}
		return parts[i].Partition < parts[j].Partition
	})
	pid, epoch := t.pid, t.epoch
	safe.Go(c.log, "txn-markers", func() {
		for {
			ctx, cancel := context.WithTimeout(c.ctx, c.cfg.MarkerTimout)
			err := c.cfg.Markers.WriteMarkers(ctx, pid, epoch, commit, coordinatorEpoch, parts)
			cancel()
			if err == nil {
				break
			}
			c.mu.Lock()
			gone := c.closed || c.txns[t.id] != t
			c.mu.Unlock()
			if gone {
				return
			}
			c.log.Warn("writing transaction markers failed; retrying", "transactional_id", t.id, "err", err)
			retry := make(chan struct{})
			c.clock.AfterFunc(c.cfg.MarkerRetry, func() { close(retry) })
			select {
			case <-retry:
			case <-c.ctx.Done():
				return
			}
		}
		c.complete(t)
	})
}

// complete writes the Complete record after the markers, retrying until
// it is written or the partition is no longer led here.
func (c *Coordinator) complete(t *txnMeta) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if c.closed || c.txns[t.id] != t {
			return
		}
		p := PartitionFor(t.id, c.nparts)
		op := c.owned[p]
		if op == nil {
			return
		}
		next := *t
		next.state = CompleteAbort
		if t.state == PrepareCommit {
			next.state = CompleteCommit
		}
		next.parts, next.start = map[TopicPartition]struct{}{}, time.Time{}
		if t.nextPID >= 0 {
			// The epochs ran out: the producer continues with the new id.
			next.prevPID, next.pid, next.epoch, next.nextPID = t.pid, t.nextPID, 0, -1
		}
		t.pending = false
		err := c.write(t, p, op, next)
		if err == nil {
			return
		}
		t.pending = true
		if errors.Is(err, ErrNotCoordinator) {
			return
		}
		c.log.Warn("writing a transaction's completion failed; retrying", "transactional_id", t.id, "err", err)
		c.mu.Unlock()
		retry := make(chan struct{})
		c.clock.AfterFunc(c.cfg.MarkerRetry, func() { close(retry) })
		select {
		case <-retry:
		case <-c.ctx.Done():
		}
		c.mu.Lock()
	}
}

// scheduleAbortCheck arms the timer that aborts transactions open longer
// than their timeout. Under mu.
func (c *Coordinator) scheduleAbortCheck() {
	c.stop = c.clock.AfterFunc(c.cfg.AbortCheck, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return
		}
		c.abortTimedOut()
		c.scheduleAbortCheck()
	})
}

// abortTimedOut aborts, fencing the producer with an epoch bump as Kafka
// does, every open transaction past its timeout. Under mu.
func (c *Coordinator) abortTimedOut() {
	now := c.clock.Now()
	ids := make([]string, 0)
	for id, t := range c.txns {
		if t.state == Ongoing && !t.pending && now.Sub(t.start) > t.timeout {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		t := c.txns[id]
		if t == nil || t.pending || t.state != Ongoing {
			continue // changed while mu was released by a write
		}
		p, op, err := c.owner(id)
		if err != nil {
			continue
		}
		c.log.Info("aborting a transaction past its timeout", "transactional_id", id, "producer_id", t.pid, "timeout", t.timeout)
		if _, err := c.endTransaction(t, p, op, false, true, t.tv2); err != nil {
			c.log.Warn("aborting a timed-out transaction failed; retrying at the next check", "transactional_id", id, "err", err)
		}
	}
}

// Transaction describes one transactional id (DescribeTransactions,
// ListTransactions).
type Transaction struct {
	ID         string
	State      State
	ProducerID int64
	Epoch      int16
	Timeout    time.Duration
	Start      time.Time // zero without an open transaction
	Partitions []TopicPartition
}

// Describe returns id's state.
func (c *Coordinator) Describe(id string) (Transaction, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, _, err := c.owner(id); err != nil {
		return Transaction{}, err
	}
	t := c.txns[id]
	if t == nil {
		return Transaction{}, ErrUnknownTransactionalID
	}
	return describe(t), nil
}

// List returns every transactional id this coordinator serves.
func (c *Coordinator) List() []Transaction {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Transaction, 0, len(c.txns))
	for _, t := range c.txns {
		out = append(out, describe(t))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func describe(t *txnMeta) Transaction {
	d := Transaction{ID: t.id, State: t.state, ProducerID: t.pid, Epoch: t.epoch, Timeout: t.timeout, Start: t.start}
	for tp := range t.parts {
		d.Partitions = append(d.Partitions, tp)
	}
	sort.Slice(d.Partitions, func(i, j int) bool {
		if d.Partitions[i].Topic != d.Partitions[j].Topic {
			return d.Partitions[i].Topic < d.Partitions[j].Topic
		}
		return d.Partitions[i].Partition < d.Partitions[j].Partition
	})
	return d
}

func msDuration(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }
func msTime(ms int64) time.Time         { return time.UnixMilli(ms) }
