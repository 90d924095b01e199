package replica

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/controller"
	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/record"
	"github.com/tributary/tributary/internal/replication"
	"github.com/tributary/tributary/internal/storage"
)

// fakeQuorum holds a state and records proposals, refusing them (or
// answering them with answer, if set).
type fakeQuorum struct {
	mu       sync.Mutex
	st       *metadata.State
	proposed []*metadata.Command
	signal   chan struct{}
	answer   func(*metadata.Command) (metadata.Result, error)
}

func newFakeQuorum(st *metadata.State) *fakeQuorum {
	return &fakeQuorum{st: st, signal: make(chan struct{}, 16)}
}

func (q *fakeQuorum) State() *metadata.State {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.st
}

func (q *fakeQuorum) Propose(_ context.Context, cmd *metadata.Command) (metadata.Result, error) {
	q.mu.Lock()
	q.proposed = append(q.proposed, cmd)
	answer := q.answer
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
	if answer != nil {
		return answer(cmd)
	}
	return metadata.Result{Err: "fake quorum: refused"}, nil
}

func (q *fakeQuorum) WaitApplied(context.Context, uint64) error { return nil }

// nextProposal waits for a proposal and returns it.
func (q *fakeQuorum) nextProposal(t *testing.T) *metadata.Command {
	t.Helper()
	select {
	case <-q.signal:
	case <-time.After(10 * time.Second):
		t.Fatal("no proposal")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.proposed[len(q.proposed)-1]
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newManager(t *testing.T, dir string, q Quorum, now func() time.Time) *Manager {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := storage.OpenManager(storage.ManagerConfig{Dir: dir, Logger: logger, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{Self: 1, Store: store, Quorum: q, Logger: logger, Now: now, MaxLag: 200 * time.Millisecond,
		// No leader is reachable: followers here never fetch.
		Fetch: replication.Config{Addr: func(int32) (string, bool) { return "", false }}})
}

func topicState(id byte, parts ...metadata.Partition) *metadata.State {
	return &metadata.State{ClusterID: "c", Brokers: map[int32]*metadata.Broker{1: {ID: 1}, 2: {ID: 2}, 3: {ID: 3}},
		Topics: map[string]*metadata.Topic{"a": {Name: "a", ID: [16]byte{id}, ReplicationFactor: 2, Parts: parts}}}
}

func defaultOptions(string) (storage.Options, bool) { return storage.DefaultOptions(), false }

func batch(t *testing.T, n int) record.Batch {
	t.Helper()
	recs := make([]kmsg.Record, n)
	for i := range recs {
		recs[i] = kmsg.Record{OffsetDelta: int32(i), Value: []byte("v")}
	}
	now := time.Now().UnixMilli()
	b, err := record.Build(record.Header{FirstTimestamp: now, MaxTimestamp: now, LastOffsetDelta: int32(n - 1), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReconcile: the replicas placed here are opened with their roles
// (only once the state is current), the others are not; a deleted topic's
// replicas are removed; a topic recreated under the same name while the
// broker was away does not reuse the old data.
func TestReconcile(t *testing.T) {
	dir := t.TempDir()
	st := topicState(1,
		metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 3},
		metadata.Partition{Replicas: []int32{2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 1},
		metadata.Partition{Replicas: []int32{2, 1}, ISR: []int32{2, 1}, Leader: 2, LeaderEpoch: 2, PartitionEpoch: 2},
	)
	q := newFakeQuorum(st)
	m := newManager(t, dir, q, time.Now)

	// Not current: opened, no role.
	r := m.Reconcile(st, false, false, defaultOptions)
	if len(r.Parts) != 2 || r.Parts[Key{"a", 0}] == nil || r.Parts[Key{"a", 2}] == nil {
		t.Fatalf("parts %v, want a-0 and a-2", r.Parts)
	}
	if p := r.Parts[Key{"a", 0}]; p.IsLeader() || p.LeaderEpoch() != -1 {
		t.Fatalf("a-0 has a role (epoch %d) from a state without this process's registration", p.LeaderEpoch())
	}
	r = m.Reconcile(st, true, true, defaultOptions)
	p0, p2 := r.Parts[Key{"a", 0}], r.Parts[Key{"a", 2}]
	if s := p0.Snapshot(); !s.IsLeader || s.LeaderEpoch != 3 {
		t.Fatalf("a-0: %+v, want leader under epoch 3", s)
	}
	if s := p2.Snapshot(); s.IsLeader || s.Leader != 2 || s.LeaderEpoch != 2 {
		t.Fatalf("a-2: %+v, want follower of 2 under epoch 2", s)
	}
	if got := m.Get(Key{"a", 0}); got != p0 {
		t.Fatal("Get does not return the reconciled replica")
	}
	var keys []Key
	for _, l := range m.Local() {
		keys = append(keys, l.Key)
	}
	if !slices.Equal(keys, []Key{{"a", 0}, {"a", 2}}) {
		t.Fatalf("Local lists %v", keys)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "a-0", partitionMetadataFile)); err != nil || len(data) == 0 {
		t.Fatalf("partition.metadata: %q %v", data, err)
	}
	if _, err := p0.Append(batch(t, 3), partition.AppendOptions{LogAppendTime: -1}); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart: the topic was deleted and recreated with another id.
	st2 := topicState(2, metadata.Partition{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 0})
	m2 := newManager(t, dir, newFakeQuorum(st2), time.Now)
	defer m2.Close()
	r = m2.Reconcile(st2, true, true, defaultOptions)
	if s := r.Parts[Key{"a", 0}].Snapshot(); s.LogEndOffset != 0 {
		t.Fatalf("recreated topic reuses the old data: log end %d", s.LogEndOffset)
	}
	if _, err := os.Stat(filepath.Join(dir, "a-2")); err != nil {
		t.Fatalf("a-2 is not opened yet, so its directory stays: %v", err)
	}

	// Topic deleted: its replicas go.
	empty := &metadata.State{ClusterID: "c", Brokers: st2.Brokers, Topics: map[string]*metadata.Topic{}}
	r = m2.Reconcile(empty, true, true, defaultOptions)
	if len(r.Parts) != 0 || !slices.Equal(r.Deleted, []string{"a"}) || len(m2.Local()) != 0 {
		t.Fatalf("after deletion: parts %v deleted %v local %v", r.Parts, r.Deleted, m2.Local())
	}
	if _, err := os.Stat(filepath.Join(dir, "a-0")); !os.IsNotExist(err) {
		t.Fatalf("a-0 directory after deletion: %v", err)
	}
}

// TestISRChanges: a follower that catches up is proposed for the ISR with
// the leader's epochs; one that stops catching up for replica.lag.time.max.ms
// is proposed out of it.
func TestISRChanges(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	st := topicState(1, metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 3}, Leader: 1, LeaderEpoch: 4, PartitionEpoch: 7})
	q := newFakeQuorum(st)
	m := newManager(t, t.TempDir(), q, clk.Now)
	defer m.Close()
	p := m.Reconcile(st, true, true, defaultOptions).Parts[Key{"a", 0}]
	if _, err := p.Append(batch(t, 2), partition.AppendOptions{LogAppendTime: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.FollowerFetched(p, 3, 2, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("high watermark %d, want 2 (ISR 1,3 hold 2)", hw)
	}
	// Follower 2 below the high watermark: not yet.
	if _, err := m.FollowerFetched(p, 2, 1, clk.Now()); err != nil {
		t.Fatal(err)
	}
	q.mu.Lock()
	n := len(q.proposed)
	q.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d proposals before any follower qualified", n)
	}
	if _, err := m.FollowerFetched(p, 2, 2, clk.Now()); err != nil {
		t.Fatal(err)
	}
	c := q.nextProposal(t).AlterPartition
	if c == nil || c.Topic != "a" || c.Partition != 0 || c.Leader != 1 || c.LeaderEpoch != 4 || c.PartitionEpoch != 7 || !slices.Equal(c.ISR, []int32{1, 3, 2}) {
		t.Fatalf("expansion proposal %+v, want ISR 1,3,2 under leader epoch 4, partition epoch 7", c)
	}

	// Follower 3 stops fetching; the lag loop proposes it out once
	// replica.lag.time.max.ms (200ms) has passed on the clock.
	clk.advance(time.Second)
	if _, err := m.FollowerFetched(p, 2, 2, clk.Now()); err != nil { // 2 keeps up
		t.Fatal(err)
	}
	c = q.nextProposal(t).AlterPartition
	for c == nil || !slices.Equal(c.ISR, []int32{1}) {
		// Another expansion of 2 may come first (its first was refused).
		if c != nil && !slices.Equal(c.ISR, []int32{1, 3, 2}) {
			t.Fatalf("unexpected proposal %+v", c)
		}
		c = q.nextProposal(t).AlterPartition
	}
}

// TestISRExpansionCountsUntilApplied: a follower whose addition to the ISR
// committed keeps counting for the high watermark until the leader applies
// the new partition epoch (the controller may elect it from the commit
// on). The marks used to end when the proposal returned, before the
// reconcile: records the new member lacked were acknowledged meanwhile,
// and a rolling restart that saw the full ISR and stopped the leader then
// elected it (acknowledged records lost, TestCloudLifecycle).
func TestISRExpansionCountsUntilApplied(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	part := metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 4, PartitionEpoch: 7}
	st := topicState(1, part)
	q := newFakeQuorum(st)
	q.answer = func(*metadata.Command) (metadata.Result, error) { return metadata.Result{Value: 8, Index: 1}, nil } // committed
	m := newManager(t, t.TempDir(), q, clk.Now)
	defer m.Close()
	p := m.Reconcile(st, true, true, defaultOptions).Parts[Key{"a", 0}]
	appendN := func(n int) {
		t.Helper()
		if _, err := p.Append(batch(t, n), partition.AppendOptions{LogAppendTime: -1}); err != nil {
			t.Fatal(err)
		}
	}
	fetched := func(replica int32, offset int64) {
		t.Helper()
		if _, err := m.FollowerFetched(p, replica, offset, clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	appendN(3)
	fetched(2, 3)
	fetched(3, 3) // caught up: proposed, and the controller commits it
	if c := q.nextProposal(t).AlterPartition; c == nil || !slices.Equal(c.ISR, []int32{1, 2, 3}) {
		t.Fatalf("expansion proposal %+v, want ISR 1,2,3", c)
	}
	for deadline := time.Now().Add(10 * time.Second); ; { // the proposal has returned
		m.isrMu.Lock()
		n := len(m.isrInFlight)
		m.isrMu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ISR proposal never returned")
		}
		time.Sleep(time.Millisecond)
	}
	appendN(2)
	fetched(2, 5)
	if hw := p.HighWatermark(); hw != 3 {
		t.Fatalf("high watermark %d after the expansion committed, not yet applied here; want 3 (replica 3, in the controller's ISR, holds 3)", hw)
	}
	part.ISR, part.PartitionEpoch = []int32{1, 2, 3}, 8
	m.Reconcile(topicState(1, part), true, true, defaultOptions)
	if hw := p.HighWatermark(); hw != 3 {
		t.Fatalf("high watermark %d with the expansion applied, want 3", hw)
	}
	fetched(3, 5)
	if hw := p.HighWatermark(); hw != 5 {
		t.Fatalf("high watermark %d, want 5", hw)
	}
}

// TestISRMarkMadeDuringProposalIsProposed: a follower marked as joining
// while another change was in flight is proposed once that change is
// settled. Its mark holds the high watermark at its offset; the mark used
// to wait for the follower's next fetch, and a follower stopped meanwhile
// (a rolling upgrade) never fetched again: the high watermark stayed there
// and acks=all produce hung for good (TestCloudFailedUpgrade in CI).
func TestISRMarkMadeDuringProposalIsProposed(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	part := metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 3}, Leader: 1, LeaderEpoch: 4, PartitionEpoch: 7}
	st := topicState(1, part)
	q := newFakeQuorum(st)
	release := make(chan metadata.Result)
	q.answer = func(*metadata.Command) (metadata.Result, error) { return <-release, nil }
	m := newManager(t, t.TempDir(), q, clk.Now)
	defer m.Close()
	defer close(release)
	p := m.Reconcile(st, true, true, defaultOptions).Parts[Key{"a", 0}]
	if _, err := p.Append(batch(t, 3), partition.AppendOptions{LogAppendTime: -1}); err != nil {
		t.Fatal(err)
	}
	fetched := func(replica int32, offset int64) {
		t.Helper()
		if _, err := m.FollowerFetched(p, replica, offset, clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	fetched(3, 3)
	fetched(2, 3) // caught up: proposed against partition epoch 7, held in flight
	if c := q.nextProposal(t).AlterPartition; c == nil || c.PartitionEpoch != 7 || !slices.Equal(c.ISR, []int32{1, 3, 2}) {
		t.Fatalf("first proposal %+v, want ISR 1,3,2 at partition epoch 7", c)
	}
	// Meanwhile the leader applies partition epoch 8 (another change), and
	// follower 2 fetches once more under it, then stops for good.
	part.PartitionEpoch = 8
	m.Reconcile(topicState(1, part), true, true, defaultOptions)
	fetched(2, 3)
	release <- metadata.Result{Err: "stale", Code: controller.ErrStaleEpoch.Error()}
	c := q.nextProposal(t).AlterPartition
	if c == nil || c.PartitionEpoch != 8 || !slices.Equal(c.ISR, []int32{1, 3, 2}) {
		t.Fatalf("second proposal %+v, want ISR 1,3,2 at partition epoch 8", c)
	}
	// The controller refuses it (2 was fenced): the mark ends, and the high
	// watermark follows the ISR (1 and 3) again.
	release <- metadata.Result{Err: "broker 2 is fenced", Code: controller.ErrIneligible.Error()}
	if _, err := p.Append(batch(t, 2), partition.AppendOptions{LogAppendTime: -1}); err != nil {
		t.Fatal(err)
	}
	fetched(3, 5)
	for deadline := time.Now().Add(10 * time.Second); p.HighWatermark() != 5; {
		if time.Now().After(deadline) {
			t.Fatalf("high watermark %d, want 5: ISR 1,3 hold 5 and 2's mark should have ended", p.HighWatermark())
		}
		time.Sleep(time.Millisecond)
		fetched(3, 5)
	}
}

// TestFencedFollowerNotProposed: a follower the metadata shows fenced is
// not proposed for the ISR and does not hold the high watermark back,
// however often its fetches arrive (KIP-841).
func TestFencedFollowerNotProposed(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	st := topicState(1, metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 3}, Leader: 1, LeaderEpoch: 4, PartitionEpoch: 7})
	st.Brokers[2].Fenced = true
	q := newFakeQuorum(st)
	m := newManager(t, t.TempDir(), q, clk.Now)
	defer m.Close()
	p := m.Reconcile(st, true, true, defaultOptions).Parts[Key{"a", 0}]
	if _, err := p.Append(batch(t, 3), partition.AppendOptions{LogAppendTime: -1}); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, err := m.FollowerFetched(p, 2, 3, clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Append(batch(t, 2), partition.AppendOptions{LogAppendTime: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.FollowerFetched(p, 3, 5, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 5 {
		t.Fatalf("high watermark %d, want 5 (ISR 1,3 hold 5; fenced 2 must not count)", hw)
	}
	q.mu.Lock()
	n := len(q.proposed)
	q.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d proposals for a fenced follower, want none", n)
	}
}
