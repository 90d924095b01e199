package share

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/record"
)

// fakeLog is one topic partition of n one-record batches, led under epoch.
type fakeLog struct {
	mu      sync.Mutex
	batches [][]byte
	epoch   int32
	leader  bool
}

func newFakeLog(t *testing.T, n int) *fakeLog {
	l := &fakeLog{epoch: 1, leader: true}
	for i := 0; i < n; i++ {
		b, err := record.Build(record.Header{PartitionLeaderEpoch: 1, FirstTimestamp: 1, MaxTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
			[]kmsg.Record{{Value: []byte{byte(i)}}})
		if err != nil {
			t.Fatal(err)
		}
		b.SetBaseOffset(int64(i))
		l.batches = append(l.batches, b)
	}
	return l
}

func (l *fakeLog) Offsets([16]byte, int32) (int64, int64, int32, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.leader {
		return 0, 0, 0, kerr.NotLeaderForPartition
	}
	return 0, int64(len(l.batches)), l.epoch, nil
}

func (l *fakeLog) Read(_ [16]byte, _ int32, from int64, _ int) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	for i := from; i < int64(len(l.batches)); i++ {
		out = append(out, l.batches[i]...)
	}
	return out, nil
}

func (l *fakeLog) Watch([16]byte, int32, chan struct{}) func() { return func() {} }

func (l *fakeLog) Committed([16]byte, int32, int64, int64) (int64, []AbortedTxn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.batches)), nil
}

// memPersister keeps states in memory and can be made to fail.
type memPersister struct {
	mu     sync.Mutex
	st     map[spKey]PartitionState
	fail   error
	writes int
}

func (p *memPersister) Read(_ context.Context, group string, tid [16]byte, part int32, _ int32) (PartitionState, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.st[spKey{group, tid, part}]
	if !ok {
		return PartitionState{Start: -1}, nil
	}
	return st, nil
}

func (p *memPersister) Write(_ context.Context, group string, ws []PartitionWrite) []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	errs := make([]error, len(ws))
	for i, w := range ws {
		if p.fail != nil {
			errs[i] = p.fail
			continue
		}
		p.writes++
		p.st[spKey{group, w.TopicID, w.Partition}] = w.State
	}
	return errs
}

// testCode maps errors as internal/broker/errors.go does.
func testCode(err error) int16 {
	var ke *kerr.Error
	switch {
	case errors.Is(err, ErrInvalidRecordState):
		return kerr.InvalidRecordState.Code
	case errors.Is(err, ErrInvalidAck):
		return kerr.InvalidRequest.Code
	case errors.As(err, &ke):
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type earliest struct{}

func (earliest) ResetEarliest(string) bool { return true }
func (earliest) ReadCommitted(string) bool { return true }

func newTestManager(t *testing.T, n int) (*Manager, *fakeLog, *memPersister, *time.Time) {
	lg := newFakeLog(t, n)
	ps := &memPersister{st: map[spKey]PartitionState{}}
	now := t0
	m := NewManager(Config{Log: lg, Persister: ps, Groups: earliest{}, Limits: lim, Now: func() time.Time { return now }, Code: testCode, Logger: quiet})
	return m, lg, ps, &now
}

func fetchReq(member string, epoch int32, acks ...kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch) *kmsg.ShareFetchRequest {
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch, req.MaxRecords = kmsg.StringPtr("g"), kmsg.StringPtr(member), epoch, 100
	rt := kmsg.NewShareFetchRequestTopic()
	rt.TopicID = tid
	rp := kmsg.NewShareFetchRequestTopicPartition()
	rp.AcknowledgementBatches = acks
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func acquired(r *kmsg.ShareFetchResponse) []Range {
	var out []Range
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			for _, a := range p.AcquiredRecords {
				out = append(out, Range{a.FirstOffset, a.LastOffset, a.DeliveryCount})
			}
		}
	}
	return out
}

func ackCode(r *kmsg.ShareFetchResponse) int16 {
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if p.AcknowledgeErrorCode != 0 {
				return p.AcknowledgeErrorCode
			}
		}
	}
	return 0
}

func fb(first, last int64, typ int8) kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch {
	return kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{FirstOffset: first, LastOffset: last, AcknowledgeTypes: []int8{typ}}
}

// TestManagerSessionsAndPersistence: share sessions' epochs, records
// acquired and acknowledged through them, state persisted on every
// acknowledgement, a failed write rolling the share-partition back to
// the persisted state, a leader change reloading it, and a closing
// session releasing the member's records.
func TestManagerSessionsAndPersistence(t *testing.T) {
	m, lg, ps, now := newTestManager(t, 10)
	ctx := context.Background()
	r := m.ShareFetch(ctx, fetchReq("a", 0))
	if got := acquired(r); len(got) != 1 || got[0] != (Range{0, 9, 1}) {
		t.Fatalf("first fetch acquired %v", got)
	}
	if r := m.ShareFetch(ctx, fetchReq("a", 2)); r.ErrorCode != kerr.InvalidShareSessionEpoch.Code {
		t.Fatalf("wrong epoch: %d", r.ErrorCode)
	}
	// Accept 0-4 (epoch 1): persisted with start 5.
	if r := m.ShareFetch(ctx, fetchReq("a", 1, fb(0, 4, AckAccept))); ackCode(r) != 0 {
		t.Fatalf("accept: %d", ackCode(r))
	}
	if st := ps.st[spKey{"g", tid, 0}]; st.Start != 5 {
		t.Fatalf("persisted start %d, want 5", st.Start)
	}
	// A write that fails: the acknowledgement fails and the state
	// reloads from the persister, so 5-9 are acquired again (available
	// in the stored state with count 1): by the same fetch when the
	// write failed before it acquired, else by the next.
	ps.fail = kerr.CoordinatorNotAvailable
	r = m.ShareFetch(ctx, fetchReq("a", 2, fb(5, 6, AckAccept)))
	if ackCode(r) != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("failed write: ack code %d", ackCode(r))
	}
	ps.fail = nil
	got := acquired(r)
	if len(got) == 0 {
		got = acquired(m.ShareFetch(ctx, fetchReq("a", 3)))
	}
	if len(got) != 1 || got[0] != (Range{5, 9, 2}) {
		t.Fatalf("after the failed write a acquired %v, want 5-9 at count 2", got)
	}
	// b cannot acknowledge a's records.
	if got := acquired(m.ShareFetch(ctx, fetchReq("b", 0))); len(got) != 0 {
		t.Fatalf("b acquired %v while a holds everything", got)
	}
	if r := m.ShareFetch(ctx, fetchReq("b", 1, fb(5, 5, AckAccept))); ackCode(r) != kerr.InvalidRecordState.Code {
		t.Fatalf("b acks a's record: %d", ackCode(r))
	}
	// a closes its session (epoch -1): its records are released.
	if r := m.ShareFetch(ctx, fetchReq("a", -1)); r.ErrorCode != 0 {
		t.Fatalf("close: %d", r.ErrorCode)
	}
	if st := ps.st[spKey{"g", tid, 0}]; len(st.Batches) != 1 || st.Batches[0] != (StateBatch{5, 9, Available, 2}) {
		t.Fatalf("after release persisted %+v", st)
	}
	// a opens a new session and acquires them again (count 3).
	r = m.ShareFetch(ctx, fetchReq("a", 0))
	if got := acquired(r); len(got) != 1 || got[0] != (Range{5, 9, 3}) {
		t.Fatalf("a re-acquires %v", got)
	}
	lg.mu.Lock()
	lg.epoch = 2
	lg.mu.Unlock()
	*now = now.Add(time.Second)
	r = m.ShareFetch(ctx, fetchReq("c", 0))
	// Count 3 is the limit: persisted as available with count 2 (the
	// third acquisition was never written), so one more delivery.
	if got := acquired(r); len(got) != 1 || got[0] != (Range{5, 9, 3}) {
		t.Fatalf("after the leader change c acquired %v", got)
	}
	// Not the leader any more: the partition answers NOT_LEADER.
	lg.mu.Lock()
	lg.leader = false
	lg.mu.Unlock()
	r = m.ShareFetch(ctx, fetchReq("c", 1, fb(5, 9, AckReject)))
	if ackCode(r) != kerr.NotLeaderForPartition.Code {
		t.Fatalf("ack on a non-leader: %d", ackCode(r))
	}
	// Sessions: no session, an ack at epoch 0, the session limit.
	ack := kmsg.NewPtrShareAcknowledgeRequest()
	ack.GroupID, ack.MemberID, ack.ShareSessionEpoch = kmsg.StringPtr("g"), kmsg.StringPtr("z"), 0
	if r := m.ShareAcknowledge(ctx, ack); r.ErrorCode != kerr.InvalidShareSessionEpoch.Code {
		t.Fatalf("ShareAcknowledge at epoch 0: %d", r.ErrorCode)
	}
	ack.ShareSessionEpoch = 1
	if r := m.ShareAcknowledge(ctx, ack); r.ErrorCode != kerr.ShareSessionNotFound.Code {
		t.Fatalf("ShareAcknowledge without a session: %d", r.ErrorCode)
	}
	if r := m.ShareFetch(ctx, fetchReq("q", 0, fb(0, 0, 1))); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("acks when opening a session: %d", r.ErrorCode)
	}
}

func TestManagerSessionLimit(t *testing.T) {
	lg := newFakeLog(t, 1)
	m := NewManager(Config{Log: lg, Persister: &memPersister{st: map[spKey]PartitionState{}}, Limits: lim, MaxSessions: 2, Now: func() time.Time { return t0 }, Logger: quiet})
	ctx := context.Background()
	for i, want := range []int16{0, 0, kerr.ShareSessionLimitReached.Code} {
		if r := m.ShareFetch(ctx, fetchReq(string(rune('a'+i)), 0)); r.ErrorCode != want {
			t.Fatalf("session %d: code %d, want %d", i, r.ErrorCode, want)
		}
	}
}

// gatedPersister is a memPersister whose writes wait for gate while it is
// set, counting the writes that started.
type gatedPersister struct {
	*memPersister
	gate    chan struct{}
	started chan struct{}
}

func (p *gatedPersister) Write(ctx context.Context, group string, ws []PartitionWrite) []error {
	p.started <- struct{}{}
	if p.gate != nil {
		<-p.gate
	}
	return p.memPersister.Write(ctx, group, ws)
}

// waitPartition waits until cond holds for group g's share-partition of
// tid-0 (checked under its lock), failing after 10 s.
func waitPartition(t *testing.T, m *Manager, what string, cond func(*Partition) bool) {
	t.Helper()
	m.mu.Lock()
	sp := m.parts[spKey{"g", tid, 0}]
	m.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		sp.mu.Lock()
		ok := sp.p != nil && cond(sp.p)
		sp.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
	}
}

// TestManagerCoalescesWrites: acknowledgements that arrive while a
// group's state write is in flight are written together in the next
// write, and each is answered only once a write holding it is done.
func TestManagerCoalescesWrites(t *testing.T) {
	lg := newFakeLog(t, 10)
	ps := &gatedPersister{memPersister: &memPersister{st: map[spKey]PartitionState{}}, started: make(chan struct{}, 100)}
	m := NewManager(Config{Log: lg, Persister: ps, Groups: earliest{}, Limits: lim, Now: func() time.Time { return t0 }, Code: testCode, Logger: quiet})
	ctx := context.Background()
	members := []string{"m0", "m1", "m2", "m3", "m4"}
	for i, mb := range members {
		req := fetchReq(mb, 0)
		req.MaxRecords = 2
		if got := acquired(m.ShareFetch(ctx, req)); len(got) != 1 || got[0] != (Range{int64(2 * i), int64(2*i + 1), 1}) {
			t.Fatalf("%s acquired %v", mb, got)
		}
	}
	for len(ps.started) > 0 {
		<-ps.started // the initial state's write
	}
	writes := ps.writes
	ps.gate = make(chan struct{})
	codes := make([]int16, len(members))
	var wg sync.WaitGroup
	ack := func(i int) {
		defer wg.Done()
		req := fetchReq(members[i], 1, fb(int64(2*i), int64(2*i+1), AckAccept))
		req.MaxRecords = 0 // acknowledge only
		codes[i] = ackCode(m.ShareFetch(ctx, req))
	}
	wg.Add(1)
	go ack(0)
	<-ps.started // m0's write is in flight (blocked)
	for i := 1; i < len(members); i++ {
		wg.Add(1)
		go ack(i)
	}
	// Wait until the others' acknowledgements are applied (they queue
	// behind m0's write), then let the writes through.
	waitPartition(t, m, "acknowledgements applied (start 10)", func(p *Partition) bool { return p.Start() == 10 })
	close(ps.gate)
	wg.Wait()
	for i, c := range codes {
		if c != 0 {
			t.Errorf("%s: ack code %d", members[i], c)
		}
	}
	if n := ps.writes - writes; n != 2 {
		t.Errorf("%d writes for %d acknowledgements, want 2 (one in flight, one coalesced)", n, len(members))
	}
	if st := ps.st[spKey{"g", tid, 0}]; st.Start != 10 || len(st.Batches) != 0 {
		t.Errorf("persisted %+v, want start 10 and nothing in flight", st)
	}
}

// TestManagerFailedWriteDropsAcquisitions: records acquired while the
// acknowledgements of the same fetch are written are not handed out when
// that write fails (the share-partition reloads from the stored state,
// where they were never acquired); the next fetch acquires them.
func TestManagerFailedWriteDropsAcquisitions(t *testing.T) {
	lg := newFakeLog(t, 10)
	ps := &gatedPersister{memPersister: &memPersister{st: map[spKey]PartitionState{}}, started: make(chan struct{}, 100)}
	m := NewManager(Config{Log: lg, Persister: ps, Groups: earliest{}, Limits: lim, Now: func() time.Time { return t0 }, Code: testCode, Logger: quiet})
	ctx := context.Background()
	req := fetchReq("a", 0)
	req.MaxRecords = 5
	if got := acquired(m.ShareFetch(ctx, req)); len(got) != 1 || got[0] != (Range{0, 4, 1}) {
		t.Fatalf("first fetch acquired %v", got)
	}
	<-ps.started // the initial state's write
	// The acknowledgement's write is held until the same fetch has
	// acquired 5-9, then fails.
	ps.gate = make(chan struct{})
	res := make(chan *kmsg.ShareFetchResponse)
	go func() { res <- m.ShareFetch(ctx, fetchReq("a", 1, fb(0, 4, AckAccept))) }()
	<-ps.started
	waitPartition(t, m, "5-9 acquired", func(p *Partition) bool { return p.End() == 10 })
	ps.mu.Lock()
	ps.fail = kerr.CoordinatorNotAvailable
	ps.mu.Unlock()
	close(ps.gate)
	r := <-res
	if ackCode(r) != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("failed write: ack code %d", ackCode(r))
	}
	if got := acquired(r); len(got) != 0 {
		t.Fatalf("the fetch whose write failed handed out %v", got)
	}
	ps.mu.Lock()
	ps.fail = nil
	ps.mu.Unlock()
	ps.gate = nil
	// Reloaded from the stored state, where nothing was ever acquired.
	if got := acquired(m.ShareFetch(ctx, fetchReq("a", 2))); len(got) != 1 || got[0] != (Range{0, 9, 1}) {
		t.Fatalf("after the failed write a acquired %v, want 0-9 at count 1", got)
	}
}
