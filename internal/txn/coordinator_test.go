package txn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// memLog is __transaction_state in memory: batches per partition.
type memLog struct {
	mu      sync.Mutex
	parts   map[int32][][]byte
	n       int32
	failing bool // Append fails (a lost leadership, a full disk)
}

func newMemLog(n int32) *memLog { return &memLog{parts: map[int32][][]byte{}, n: n} }

func (l *memLog) Partitions(bool) (int32, error) { return l.n, nil }
func (l *memLog) Append(p int32, b []byte) (int64, int32, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failing {
		return 0, 0, errors.New("append failed")
	}
	l.parts[p] = append(l.parts[p], append([]byte(nil), b...))
	return int64(len(l.parts[p])), 0, nil
}
func (l *memLog) Sync(int32, int64, int32) error { return nil }
func (l *memLog) Read(p int32, fn func([]byte) error) error {
	l.mu.Lock()
	bs := append([][]byte(nil), l.parts[p]...)
	l.mu.Unlock()
	for _, b := range bs {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

type markerCall struct {
	pid        int64
	epoch      int16
	commit     bool
	coordEpoch int32
	parts      []TopicPartition
}

// memMarkers records WriteMarkers calls; while failing it refuses them.
type memMarkers struct {
	mu      sync.Mutex
	calls   []markerCall
	failing bool
}

func (m *memMarkers) WriteMarkers(_ context.Context, pid int64, epoch int16, commit bool, coordEpoch int32, parts []TopicPartition) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failing {
		return errors.New("leader unavailable")
	}
	m.calls = append(m.calls, markerCall{pid, epoch, commit, coordEpoch, parts})
	return nil
}

func (m *memMarkers) set(failing bool) { m.mu.Lock(); m.failing = failing; m.mu.Unlock() }
func (m *memMarkers) all() []markerCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]markerCall(nil), m.calls...)
}

// fakeClock moves only when told; timers due fire on advance.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[int]*fakeTimer
	next   int
}

type fakeTimer struct {
	at time.Time
	f  func()
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_700_000_000, 0), timers: map[int]*fakeTimer{}}
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.next
	c.next++
	c.timers[id] = &fakeTimer{at: c.now.Add(d), f: f}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.timers[id]
		delete(c.timers, id)
		return ok
	}
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	for id, t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t.f)
			delete(c.timers, id)
		}
	}
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

type fixture struct {
	t       *testing.T
	log     *memLog
	markers *memMarkers
	clock   *fakeClock
	c       *Coordinator
	nextPID int64
}

func newFixture(t *testing.T, log *memLog) *fixture {
	f := &fixture{t: t, log: log, markers: &memMarkers{}, clock: newFakeClock(), nextPID: 1000}
	f.c = f.start()
	return f
}

// start builds a coordinator over f's log leading every partition under
// leader epoch 5.
func (f *fixture) start() *Coordinator {
	var pidMu sync.Mutex
	c := New(Config{Log: f.log, Markers: f.markers, Clock: f.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxTimeout: time.Minute, AbortCheck: time.Second, MarkerRetry: time.Millisecond,
		ProducerID: func() (int64, error) { pidMu.Lock(); defer pidMu.Unlock(); f.nextPID++; return f.nextPID, nil }})
	f.t.Cleanup(c.Close)
	led := map[int32]int32{}
	for p := range f.log.n {
		led[p] = 5
	}
	<-c.SetLeadership(f.log.n, led)
	return c
}

// waitState waits until id's transaction is in state (marker senders run
// on their own goroutine), firing retry timers meanwhile.
func (f *fixture) waitState(c *Coordinator, id string, want State) Transaction {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := c.Describe(id)
		if err == nil && d.State == want {
			return d
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: state %v (%v), want %v", id, d.State, err, want)
		}
		f.clock.advance(time.Millisecond)
		time.Sleep(time.Millisecond)
	}
}

var tp = func(topic string, p int32) TopicPartition { return TopicPartition{topic, p} }

func TestInitProducerIDFencing(t *testing.T) {
	f := newFixture(t, newMemLog(3))
	c := f.c
	r1, err := c.InitProducerID("app", 10*time.Second, -1, -1)
	if err != nil || r1.Epoch != 0 {
		t.Fatalf("first init: %+v %v", r1, err)
	}
	r2, err := c.InitProducerID("app", 10*time.Second, -1, -1)
	if err != nil || r2.ProducerID != r1.ProducerID || r2.Epoch != 1 {
		t.Fatalf("second init: %+v %v, want the same producer id at epoch 1", r2, err)
	}
	// The first producer is a zombie now.
	if err := c.AddPartitions("app", r1.ProducerID, r1.Epoch, []TopicPartition{tp("t", 0)}); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("zombie AddPartitions: %v", err)
	}
	if err := c.EndTxn("app", r1.ProducerID, r1.Epoch, true); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("zombie EndTxn: %v", err)
	}
	if err := c.AddPartitions("app", r1.ProducerID+7, r2.Epoch, []TopicPartition{tp("t", 0)}); !errors.Is(err, ErrInvalidProducerIDMap) {
		t.Fatalf("other producer id: %v", err)
	}
	// KIP-360: the current producer may bump; a retry of that bump with
	// the epoch before it gets the same answer; the zombie cannot.
	r3, err := c.InitProducerID("app", 10*time.Second, r2.ProducerID, r2.Epoch)
	if err != nil || r3.Epoch != 2 {
		t.Fatalf("KIP-360 bump: %+v %v", r3, err)
	}
	if r, err := c.InitProducerID("app", 10*time.Second, r2.ProducerID, r2.Epoch); err != nil || r != r3 {
		t.Fatalf("retried bump: %+v %v, want %+v", r, err, r3)
	}
	if _, err := c.InitProducerID("app", 10*time.Second, r1.ProducerID, r1.Epoch); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("zombie KIP-360 init: %v", err)
	}
	// transaction.max.timeout.ms refuses; an empty id is invalid.
	if _, err := c.InitProducerID("app", 2*time.Minute, -1, -1); !errors.Is(err, ErrInvalidTimeout) {
		t.Fatalf("timeout above the max: %v", err)
	}
	if _, err := c.InitProducerID("", time.Second, -1, -1); !errors.Is(err, ErrEmptyTransactionalID) {
		t.Fatalf("empty id: %v", err)
	}
	// EndTxn without AddPartitions.
	if err := c.EndTxn("app", r3.ProducerID, r3.Epoch, true); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("EndTxn with no transaction: %v", err)
	}
	// An epoch near the limit takes a new producer id.
	c.mu.Lock()
	c.txns["app"].epoch = maxEpoch
	c.mu.Unlock()
	r4, err := c.InitProducerID("app", 10*time.Second, -1, -1)
	if err != nil || r4.ProducerID == r1.ProducerID || r4.Epoch != 0 {
		t.Fatalf("epoch exhaustion: %+v %v", r4, err)
	}
}

func TestCommitAndAbort(t *testing.T) {
	f := newFixture(t, newMemLog(3))
	c := f.c
	r, err := c.InitProducerID("app", 10*time.Second, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddPartitions("app", r.ProducerID, r.Epoch, []TopicPartition{tp("b", 1), tp("a", 0)}); err != nil {
		t.Fatal(err)
	}
	if err := c.AddPartitions("app", r.ProducerID, r.Epoch, []TopicPartition{tp("a", 0), tp("a", 2)}); err != nil {
		t.Fatal(err)
	}
	if d, _ := c.Describe("app"); d.State != Ongoing || fmt.Sprint(d.Partitions) != "[{a 0} {a 2} {b 1}]" {
		t.Fatalf("ongoing: %+v", d)
	}
	if err := c.EndTxn("app", r.ProducerID, r.Epoch, true); err != nil {
		t.Fatal(err)
	}
	f.waitState(c, "app", CompleteCommit)
	calls := f.markers.all()
	if len(calls) != 1 || !calls[0].commit || calls[0].pid != r.ProducerID || calls[0].epoch != r.Epoch || calls[0].coordEpoch != 5 ||
		fmt.Sprint(calls[0].parts) != "[{a 0} {a 2} {b 1}]" {
		t.Fatalf("markers: %+v", calls)
	}
	// A retried commit succeeds; an abort of it is invalid.
	if err := c.EndTxn("app", r.ProducerID, r.Epoch, true); err != nil {
		t.Fatalf("retried commit: %v", err)
	}
	if err := c.EndTxn("app", r.ProducerID, r.Epoch, false); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("abort after commit: %v", err)
	}
	// The next transaction, aborted.
	if err := c.AddPartitions("app", r.ProducerID, r.Epoch, []TopicPartition{tp("a", 1)}); err != nil {
		t.Fatal(err)
	}
	if err := c.EndTxn("app", r.ProducerID, r.Epoch, false); err != nil {
		t.Fatal(err)
	}
	d := f.waitState(c, "app", CompleteAbort)
	if len(d.Partitions) != 0 {
		t.Fatalf("partitions after the end: %v", d.Partitions)
	}
	calls = f.markers.all()
	if len(calls) != 2 || calls[1].commit || fmt.Sprint(calls[1].parts) != "[{a 1}]" {
		t.Fatalf("abort markers: %+v", calls)
	}
}

// TestTimeoutAbortsAndFences: a transaction open past transaction.timeout.ms
// is aborted under a bumped epoch; its producer is fenced, and a new
// InitProducerId (KIP-360 with the old epoch) recovers.
func TestTimeoutAbortsAndFences(t *testing.T) {
	f := newFixture(t, newMemLog(1))
	c := f.c
	r, _ := c.InitProducerID("app", 5*time.Second, -1, -1)
	if err := c.AddPartitions("app", r.ProducerID, r.Epoch, []TopicPartition{tp("a", 0)}); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(4 * time.Second)
	if d, _ := c.Describe("app"); d.State != Ongoing {
		t.Fatalf("aborted before its timeout: %v", d.State)
	}
	f.clock.advance(2 * time.Second)
	d := f.waitState(c, "app", CompleteAbort)
	if d.Epoch != r.Epoch+1 {
		t.Fatalf("epoch after the timeout abort: %d", d.Epoch)
	}
	calls := f.markers.all()
	if len(calls) != 1 || calls[0].commit || calls[0].epoch != r.Epoch+1 {
		t.Fatalf("timeout markers: %+v", calls)
	}
	if err := c.EndTxn("app", r.ProducerID, r.Epoch, true); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("commit after the timeout abort: %v", err)
	}
	r2, err := c.InitProducerID("app", 5*time.Second, r.ProducerID, r.Epoch)
	if err != nil || r2.Epoch != r.Epoch+2 {
		t.Fatalf("recovery: %+v %v", r2, err)
	}
}

// TestInitAbortsOpenTransaction: a new producer with the same id aborts the
// open transaction (CONCURRENT_TRANSACTIONS until it is done) and gets a
// bumped epoch.
func TestInitAbortsOpenTransaction(t *testing.T) {
	f := newFixture(t, newMemLog(1))
	c := f.c
	r, _ := c.InitProducerID("app", 5*time.Second, -1, -1)
	if err := c.AddPartitions("app", r.ProducerID, r.Epoch, []TopicPartition{tp("a", 0)}); err != nil {
		t.Fatal(err)
	}
	f.markers.set(true)
	if _, err := c.InitProducerID("app", 5*time.Second, -1, -1); !errors.Is(err, ErrConcurrentTransactions) {
		t.Fatalf("init during an open transaction: %v", err)
	}
	if _, err := c.InitProducerID("app", 5*time.Second, -1, -1); !errors.Is(err, ErrConcurrentTransactions) {
		t.Fatalf("init while the abort is under way: %v", err)
	}
	f.markers.set(false)
	f.waitState(c, "app", CompleteAbort)
	r2, err := c.InitProducerID("app", 5*time.Second, -1, -1)
	if err != nil || r2.Epoch != r.Epoch+2 {
		t.Fatalf("init after the abort: %+v %v", r2, err)
	}
}

// TestRecoveryCompletesPreparedTransaction: the coordinator wrote
// PrepareCommit but its markers never landed; the next leader of the state
// partition replays it and completes the commit with its own epoch.
func TestRecoveryCompletesPreparedTransaction(t *testing.T) {
	log := newMemLog(2)
	f := newFixture(t, log)
	r, _ := f.c.InitProducerID("app", 5*time.Second, -1, -1)
	if err := f.c.AddPartitions("app", r.ProducerID, r.Epoch, []TopicPartition{tp("a", 0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.InitProducerID("other", 5*time.Second, -1, -1); err != nil {
		t.Fatal(err)
	}
	f.markers.set(true)
	if err := f.c.EndTxn("app", r.ProducerID, r.Epoch, true); err != nil {
		t.Fatal(err)
	}
	f.c.Close() // the old leader dies with the markers unsent

	f2 := &fixture{t: t, log: log, markers: &memMarkers{}, clock: f.clock, nextPID: 5000}
	c2 := f2.start()
	d := f2.waitState(c2, "app", CompleteCommit)
	if d.ProducerID != r.ProducerID || d.Epoch != r.Epoch {
		t.Fatalf("recovered: %+v", d)
	}
	if calls := f2.markers.all(); len(calls) != 1 || !calls[0].commit || calls[0].pid != r.ProducerID {
		t.Fatalf("resent markers: %+v", calls)
	}
	if d, err := c2.Describe("other"); err != nil || d.State != Empty {
		t.Fatalf("other id after recovery: %+v %v", d, err)
	}
	// Leadership moves away: NOT_COORDINATOR.
	<-c2.SetLeadership(2, map[int32]int32{})
	if _, err := c2.InitProducerID("app", time.Second, -1, -1); !errors.Is(err, ErrNotCoordinator) {
		t.Fatalf("after losing leadership: %v", err)
	}
}

// TestStateWriteFailure: a record that cannot be written leaves the state
// as it was and answers COORDINATOR_NOT_AVAILABLE.
func TestStateWriteFailure(t *testing.T) {
	log := newMemLog(1)
	f := newFixture(t, log)
	r, _ := f.c.InitProducerID("app", 5*time.Second, -1, -1)
	log.mu.Lock()
	log.failing = true
	log.mu.Unlock()
	if err := f.c.AddPartitions("app", r.ProducerID, r.Epoch, []TopicPartition{tp("a", 0)}); !errors.Is(err, ErrCoordinatorUnavailable) {
		t.Fatalf("failed write: %v", err)
	}
	if d, _ := f.c.Describe("app"); d.State != Empty || len(d.Partitions) != 0 {
		t.Fatalf("state after a failed write: %+v", d)
	}
	if _, err := f.c.InitProducerID("new", 5*time.Second, -1, -1); !errors.Is(err, ErrCoordinatorUnavailable) {
		t.Fatalf("failed first write: %v", err)
	}
	if _, err := f.c.Describe("new"); !errors.Is(err, ErrUnknownTransactionalID) {
		t.Fatalf("id whose first write failed: %v", err)
	}
}
