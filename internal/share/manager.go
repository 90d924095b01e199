package share

// The Manager is the share-partition leader side of KIP-932: it holds the
// share-partitions of every share group on the topic partitions this
// broker leads, and the share sessions of the members fetching from it.
//
// Share sessions (one per group and member on this broker): ShareFetch
// with epoch 0 opens (or replaces) a session with the partitions named;
// later requests carry the next epoch (1, 2, ..., wrapping to 1), add the
// partitions they name and drop the forgotten ones; epoch -1 closes the
// session after its acknowledgements and releases the member's records.
// A session is tied to the connection that opened it (ShareFetchOn):
// when that connection closes, the session closes and the member's
// records in its partitions are released at once (KIP-932), not when
// their acquisition locks expire.
// ShareAcknowledge carries the next epoch too (0 is
// INVALID_SHARE_SESSION_EPOCH). A wrong epoch is INVALID_SHARE_SESSION_EPOCH,
// a session this broker does not have SHARE_SESSION_NOT_FOUND. Sessions
// idle for longer than SessionIdle are dropped and their member's records
// released.
//
// Durability: a share-partition is loaded from the Persister the first
// time it is used under a leader epoch (initialised with the group's
// share.auto.offset.reset when no state exists) and every change of its
// durable state (acknowledgements, releases, expired locks) is written
// through the Persister before the acknowledgement is answered. Writes
// are coalesced per group (writer.go): the changes of all requests that
// arrive while a group's write is in flight go out together in its next
// write, and each request is answered when the write holding its changes
// is durable. Acquired records persist as available, so a new leader
// redelivers them.
//
// Concurrency: Manager.mu guards the session and share-partition maps,
// the group writers and the change channel; sp.mu guards one
// share-partition's state. Only one group write is in flight at a time
// and it snapshots each share-partition when it starts, so snapshots
// reach the persister in the order they were taken (a later snapshot
// holds every earlier change); fetches acquire under sp.mu meanwhile.
// Lock order: one sp.mu at a time; Manager.mu is held only for map
// lookups, never while taking another lock. Changes made without a write
// (expired locks, a first acquisition) are persisted with the
// share-partition's next write.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/record"
)

// Log is the topic partitions this broker leads, as share-partitions see
// them.
type Log interface {
	// Offsets returns a led partition's log start offset, high watermark
	// and leader epoch. Errors (not the leader, unknown topic id) carry
	// what Code maps to the partition's error code.
	Offsets(topicID [16]byte, partition int32) (logStart, hw int64, leaderEpoch int32, err error)
	// Read returns a copy of whole batches from the one holding offset
	// from on, below the high watermark, about maxBytes of them (always
	// at least one batch when any is there).
	Read(topicID [16]byte, partition int32, from int64, maxBytes int) ([]byte, error)
	// Committed returns a led partition's last stable offset and the
	// aborted transactions overlapping [from, to) (read_committed).
	Committed(topicID [16]byte, partition int32, from, to int64) (lso int64, aborted []AbortedTxn)
	// Watch sends on ch (without blocking) after each append to the
	// partition until cancel is called.
	Watch(topicID [16]byte, partition int32, ch chan struct{}) (cancel func())
}

// AbortedTxn is an aborted transaction of a partition: its producer,
// first offset and ABORT marker offset.
type AbortedTxn struct {
	ProducerID, First, Last int64
}

// PartitionState is a share-partition's persisted state.
type PartitionState struct {
	StateEpoch  int32
	LeaderEpoch int32
	Start       int64 // -1 when no state was ever written
	Batches     []StateBatch
}

// Persister stores share-partition state (the share coordinator, reached
// through the ReadShareGroupState/WriteShareGroupState APIs).
type Persister interface {
	// Read returns the state of group's share-partition; Start -1 when
	// there is none.
	Read(ctx context.Context, group string, topicID [16]byte, partition int32, leaderEpoch int32) (PartitionState, error)
	// Write stores the states of several share-partitions of group in
	// one write; a leader epoch older than the stored one is refused
	// (FENCED_LEADER_EPOCH), an older state epoch too
	// (FENCED_STATE_EPOCH). It returns one error per write.
	Write(ctx context.Context, group string, ws []PartitionWrite) []error
}

// PartitionWrite is one share-partition's state to write.
type PartitionWrite struct {
	TopicID   [16]byte
	Partition int32
	State     PartitionState
}

// GroupConfigs gives a share group's configs.
type GroupConfigs interface {
	// ResetEarliest reports whether share.auto.offset.reset is earliest
	// for group (else latest).
	ResetEarliest(group string) bool
	// ReadCommitted reports whether share.isolation.level is
	// read_committed for group.
	ReadCommitted(group string) bool
}

// GroupResetByTime is implemented by GroupConfigs serving
// share.auto.offset.reset=by_duration: ok with the timestamp (unix ms)
// from which a new share-partition starts.
type GroupResetByTime interface {
	ResetByTime(group string) (ts int64, ok bool)
}

// LogTimes is implemented by a Log that finds the first offset whose
// record timestamp is at or after ts (unix ms), ok false if none.
type LogTimes interface {
	OffsetForTime(topicID [16]byte, partition int32, ts int64) (offset int64, ok bool)
}

// GroupLimits is implemented by GroupConfigs that override Limits per
// group (group.share.record.lock.duration.ms and
// group.share.delivery.count.limit as group configs).
type GroupLimits interface {
	Limits(group string, base Limits) Limits
}

// limits are group's share-partition limits.
func (m *Manager) limits(group string) Limits {
	if gl, ok := m.cfg.Groups.(GroupLimits); ok {
		return gl.Limits(group, m.cfg.Limits)
	}
	return m.cfg.Limits
}

// Config configures a Manager.
type Config struct {
	Log       Log
	Persister Persister
	Groups    GroupConfigs
	Limits    Limits
	// MaxSessions is group.share.max.share.sessions.
	MaxSessions int
	// SessionIdle drops sessions without requests for this long.
	SessionIdle time.Duration
	// Code maps an error to its Kafka error code (internal/broker).
	Code   func(error) int16
	Now    func() time.Time
	Logger *slog.Logger
}

type spKey struct {
	group string
	tid   [16]byte
	p     int32
}

type tidp struct {
	tid [16]byte
	p   int32
}

// less orders by topic id, then partition.
func (a tidp) less(b tidp) bool {
	if a.tid != b.tid {
		return string(a.tid[:]) < string(b.tid[:])
	}
	return a.p < b.p
}

// sharePart is a share-partition and its load state; mu guards all but
// key, which is fixed.
type sharePart struct {
	key         spKey
	mu          sync.Mutex
	p           *Partition
	gen         uint64 // counts loads: which p a change was applied to
	leaderEpoch int32
	stateEpoch  int32
}

type session struct {
	epoch    int32 // the next epoch expected
	parts    map[tidp]struct{}
	lastUsed time.Time
	// unwatch stops watching the connection that opened the session;
	// nil when it was opened without one.
	unwatch func()
}

// Conn is the client connection a share session was opened on.
type Conn interface {
	// OnClose runs f once the connection has closed; cancel stops it.
	OnClose(f func()) (cancel func())
}

// endLocked drops a session (closed, replaced or expired) and stops
// watching its connection; it returns the partitions whose records the
// member held. Under m.mu.
func (m *Manager) endLocked(k sessKey, s *session) map[tidp]struct{} {
	if m.sessions[k] == s {
		delete(m.sessions, k)
	}
	if s.unwatch != nil {
		s.unwatch()
		s.unwatch = nil
	}
	parts := make(map[tidp]struct{}, len(s.parts))
	for tp := range s.parts {
		parts[tp] = struct{}{}
	}
	return parts
}

// connClosed closes session s of k when the connection that opened it
// closes, unless it has already ended, and releases the member's records.
func (m *Manager) connClosed(k sessKey, s *session) {
	m.mu.Lock()
	if m.sessions[k] != s {
		m.mu.Unlock()
		return
	}
	parts := m.endLocked(k, s)
	m.mu.Unlock()
	m.releaseMember(context.Background(), k.group, k.member, parts)
}

type sessKey struct{ group, member string }

// Manager serves ShareFetch and ShareAcknowledge.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	parts    map[spKey]*sharePart
	sessions map[sessKey]*session
	writers  map[string]*groupWriter // by group (writer.go)
	changed  chan struct{}           // closed and replaced when records become available
}

// NewManager returns a Manager.
func NewManager(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 2000
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = 2 * time.Minute
	}
	if cfg.Code == nil {
		cfg.Code = func(err error) int16 {
			var ke *kerr.Error
			if errors.As(err, &ke) {
				return ke.Code
			}
			return kerr.UnknownServerError.Code
		}
	}
	return &Manager{cfg: cfg, log: cfg.Logger, parts: map[spKey]*sharePart{}, sessions: map[sessKey]*session{}, writers: map[string]*groupWriter{}, changed: make(chan struct{})}
}

// LockDuration is the acquisition lock duration.
func (m *Manager) LockDuration() time.Duration { return m.cfg.Limits.LockDuration }

func (m *Manager) notify() {
	m.mu.Lock()
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

func (m *Manager) changedCh() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// part returns the share-partition, loaded under the partition's current
// leader epoch, with sp.mu held; the caller unlocks.
func (m *Manager) part(ctx context.Context, group string, tid [16]byte, p int32) (*sharePart, int64, error) {
	logStart, hw, epoch, err := m.cfg.Log.Offsets(tid, p)
	key := spKey{group, tid, p}
	if err != nil {
		m.mu.Lock()
		delete(m.parts, key) // led elsewhere now: forget, reload when led again
		m.mu.Unlock()
		return nil, 0, err
	}
	m.mu.Lock()
	sp := m.parts[key]
	if sp == nil {
		sp = &sharePart{key: key}
		m.parts[key] = sp
	}
	m.mu.Unlock()
	sp.mu.Lock()
	if sp.p == nil || sp.leaderEpoch != epoch {
		if err := m.load(ctx, sp, key, logStart, hw, epoch); err != nil {
			sp.p = nil
			sp.mu.Unlock()
			return nil, 0, err
		}
	}
	sp.p.SetLogStart(logStart)
	sp.p.SetLimits(m.limits(group))
	if sp.p.Expire(m.cfg.Now()) {
		go m.notify() // safe: notify only takes m.mu briefly
	}
	return sp, hw, nil
}

// load reads the persisted state; without any, it initialises the
// share-partition at the log start (earliest) or the high watermark
// (latest) and persists that.
func (m *Manager) load(ctx context.Context, sp *sharePart, key spKey, logStart, hw int64, epoch int32) error {
	st, err := m.cfg.Persister.Read(ctx, key.group, key.tid, key.p, epoch)
	if err != nil {
		return err
	}
	sp.leaderEpoch = epoch
	sp.gen++
	if st.Start < 0 {
		start := hw
		if m.cfg.Groups != nil && m.cfg.Groups.ResetEarliest(key.group) {
			start = logStart
		}
		if gt, ok := m.cfg.Groups.(GroupResetByTime); ok {
			if ts, ok := gt.ResetByTime(key.group); ok {
				if lt, ok := m.cfg.Log.(LogTimes); ok {
					if off, ok := lt.OffsetForTime(key.tid, key.p, ts); ok && off < hw {
						start = max(off, logStart)
					}
				}
			}
		}
		sp.p = NewPartition(m.limits(key.group), start)
		sp.stateEpoch = 0
		if err := m.cfg.Persister.Write(ctx, key.group, []PartitionWrite{sp.write()})[0]; err != nil {
			sp.p = nil
			return err
		}
		m.log.Info("share-partition initialised", "group", key.group, "partition", key.p, "start", start)
		return nil
	}
	sp.p = Restore(m.limits(key.group), st.Start, st.Batches)
	sp.stateEpoch = st.StateEpoch
	return nil
}

// write is sp's state to persist. Under sp.mu.
func (sp *sharePart) write() PartitionWrite {
	start, batches := sp.p.Snapshot()
	return PartitionWrite{TopicID: sp.key.tid, Partition: sp.key.p, State: PartitionState{StateEpoch: sp.stateEpoch, LeaderEpoch: sp.leaderEpoch, Start: start, Batches: batches}}
}

// applied is the acknowledgements of a request applied to one
// share-partition, to be answered after its write.
type applied struct {
	sp    *sharePart
	gen   uint64
	items []*ackItem
}

// ackItem is one partition's acknowledgements in a request.
type ackItem struct {
	tid     [16]byte
	p       int32
	batches []AckBatch
	code    int16
	msg     string
}

// acknowledge applies the acknowledgements of one request, partition by
// partition (each all or nothing), and queues every changed
// share-partition for its group's next state write (writer.go). It
// returns a wait that blocks until that write is done: only then are the
// acknowledgements durable, and each item's code and message say how it
// went. The caller may do other work (acquire records) before waiting,
// but answers only after it. release, when set, also releases member's
// records in these partitions (the session closes).
func (m *Manager) acknowledge(ctx context.Context, group, member string, items []*ackItem, renew bool, release map[tidp]struct{}) (wait func()) {
	byKey := map[spKey][]*ackItem{}
	var keys []spKey
	add := func(k spKey) {
		if _, ok := byKey[k]; !ok {
			byKey[k] = nil
			keys = append(keys, k)
		}
	}
	for _, it := range items {
		if err := ValidateAcks(it.batches, renew); err != nil {
			it.code, it.msg = m.cfg.Code(err), err.Error()
			continue
		}
		if len(it.batches) == 0 {
			continue
		}
		k := spKey{group, it.tid, it.p}
		add(k)
		byKey[k] = append(byKey[k], it)
	}
	for tp := range release {
		add(spKey{group, tp.tid, tp.p})
	}
	if len(keys) == 0 {
		return func() {}
	}
	var changed []applied
	for _, k := range keys {
		its := byKey[k]
		sp, _, err := m.part(ctx, group, k.tid, k.p)
		if err != nil {
			for _, it := range its {
				it.code, it.msg = m.cfg.Code(err), err.Error()
			}
			continue
		}
		c := false
		for _, it := range its {
			ok, err := sp.p.Acknowledge(member, it.batches, m.cfg.Now())
			if err != nil {
				it.code, it.msg = m.cfg.Code(err), err.Error()
			}
			c = c || ok
		}
		if _, ok := release[tidp{k.tid, k.p}]; ok && sp.p.ReleaseMember(member) {
			c = true
		}
		if c {
			changed = append(changed, applied{sp, sp.gen, its})
		}
		sp.mu.Unlock()
	}
	if len(changed) == 0 {
		return func() {}
	}
	// Released records are available and acknowledged ones may have
	// moved the start (room in the in-flight window): wake waiting
	// fetches now, not after the write.
	go m.notify() // safe: takes m.mu briefly
	sps := make([]*sharePart, len(changed))
	for i, a := range changed {
		sps[i] = a.sp
	}
	f := m.enqueueWrite(group, sps)
	var once sync.Once
	return func() { once.Do(func() { m.ackResults(f, changed) }) }
}

func (m *Manager) ackResults(f *flush, changed []applied) {
	{
		<-f.done
		for _, a := range changed {
			r := f.res[a.sp]
			err := r.err
			if err == nil && r.gen != a.gen {
				// Reloaded between our change and the write: the
				// change was dropped with the old state.
				err = ErrStateReloaded
			}
			if err == nil {
				continue
			}
			for _, it := range a.items {
				if it.code == 0 {
					it.code, it.msg = m.cfg.Code(err), err.Error()
				}
			}
		}
	}
}

// verify checks a loaded share-partition against its persisted state
// epoch and drops it (to reload on use) when the state was altered or
// deleted by the admin APIs meanwhile, which only happens while the group
// has no members: a member's first fetch here (a new share session) is
// when it is checked.
func (m *Manager) verify(ctx context.Context, group string, tid [16]byte, p int32) {
	m.mu.Lock()
	sp := m.parts[spKey{group, tid, p}]
	m.mu.Unlock()
	if sp == nil {
		return
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.p == nil {
		return
	}
	st, err := m.cfg.Persister.Read(ctx, group, tid, p, sp.leaderEpoch)
	if err != nil {
		return
	}
	if st.Start < 0 || st.StateEpoch != sp.stateEpoch {
		m.log.Info("share-partition state changed by an admin; reloading", "group", group, "partition", p, "state_epoch", st.StateEpoch)
		sp.p = nil
	}
}

// Reset drops the in-memory share-partitions of group (after its state
// was altered or deleted through the admin APIs); they reload on use.
func (m *Manager) Reset(group string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.parts {
		if k.group == group {
			delete(m.parts, k)
		}
	}
}

// sessionFor validates the session epoch of a request; it returns the
// session (nil for epoch -1 without one) or a top-level error code.
func (m *Manager) sessionFor(group, member string, epoch int32, fetch bool, conn Conn) (*session, int16, string) {
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireSessionsLocked(now)
	k := sessKey{group, member}
	s := m.sessions[k]
	switch {
	case epoch == 0 && !fetch:
		return nil, kerr.InvalidShareSessionEpoch.Code, "ShareAcknowledge cannot open a share session (epoch 0)."
	case epoch == 0:
		if s == nil && len(m.sessions) >= m.cfg.MaxSessions {
			return nil, kerr.ShareSessionLimitReached.Code, fmt.Sprintf("The broker holds %d share sessions, its limit.", len(m.sessions))
		}
		if s != nil {
			m.endLocked(k, s) // replaced: the member keeps its records
		}
		s = &session{epoch: 1, parts: map[tidp]struct{}{}, lastUsed: now}
		m.sessions[k] = s
		if conn != nil {
			ns := s
			s.unwatch = conn.OnClose(func() { m.connClosed(k, ns) })
		}
		return s, 0, ""
	case s == nil:
		return nil, kerr.ShareSessionNotFound.Code, fmt.Sprintf("No share session for member %s of group %s.", member, group)
	case epoch == -1:
		m.endLocked(k, s)
		return s, 0, ""
	case epoch != s.epoch:
		return nil, kerr.InvalidShareSessionEpoch.Code, fmt.Sprintf("Share session epoch %d, expected %d.", epoch, s.epoch)
	}
	s.lastUsed = now
	if s.epoch == math.MaxInt32 {
		s.epoch = 1
	} else {
		s.epoch++
	}
	return s, 0, ""
}

// expireSessionsLocked drops idle sessions, releasing their records in
// the background. Under m.mu.
func (m *Manager) expireSessionsLocked(now time.Time) {
	for k, s := range m.sessions {
		if now.Sub(s.lastUsed) > m.cfg.SessionIdle {
			parts := m.endLocked(k, s)
			go m.releaseMember(context.Background(), k.group, k.member, parts) // safe: releaseMember recovers nothing but only takes locks and persists
		}
	}
}

// releaseMember releases member's records in parts (its session closed).
func (m *Manager) releaseMember(ctx context.Context, group, member string, parts map[tidp]struct{}) {
	m.acknowledge(ctx, group, member, nil, false, parts)()
}

func fetchAcks(in []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch) []AckBatch {
	out := make([]AckBatch, len(in))
	for i, b := range in {
		out[i] = AckBatch{First: b.FirstOffset, Last: b.LastOffset, Types: b.AcknowledgeTypes}
	}
	return out
}

func ackAcks(in []kmsg.ShareAcknowledgeRequestTopicPartitionAcknowledgementBatch) []AckBatch {
	out := make([]AckBatch, len(in))
	for i, b := range in {
		out[i] = AckBatch{First: b.FirstOffset, Last: b.LastOffset, Types: b.AcknowledgeTypes}
	}
	return out
}

func strp(s string) *string { return &s }

// ShareFetch serves a ShareFetch: session, acknowledgements, then records
// acquired for the member from the session's partitions, waiting up to
// MaxWaitMillis for some. Partitions in the response: those with records,
// an error, or acknowledgements.
func (m *Manager) ShareFetch(ctx context.Context, req *kmsg.ShareFetchRequest) *kmsg.ShareFetchResponse {
	return m.ShareFetchOn(ctx, req, nil)
}

// ShareFetchOn is ShareFetch from a client connection: a session it opens
// closes, releasing the member's records, when conn closes.
func (m *Manager) ShareFetchOn(ctx context.Context, req *kmsg.ShareFetchRequest, conn Conn) *kmsg.ShareFetchResponse {
	resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
	resp.AcquisitionLockTimeoutMillis = int32(m.limits(deref(req.GroupID)).LockDuration.Milliseconds())
	fail := func(code int16, msg string) *kmsg.ShareFetchResponse {
		resp.ErrorCode, resp.ErrorMessage = code, &msg
		return resp
	}
	group, member := deref(req.GroupID), deref(req.MemberID)
	hasAcks := false
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			hasAcks = hasAcks || len(p.AcknowledgementBatches) > 0
		}
	}
	switch {
	case group == "":
		return fail(kerr.InvalidRequest.Code, "GroupId must be set.")
	case member == "":
		return fail(kerr.InvalidRequest.Code, "MemberId must be set.")
	case req.ShareSessionEpoch == 0 && hasAcks:
		return fail(kerr.InvalidRequest.Code, "Acknowledgements are not allowed when opening a share session.")
	case req.ShareSessionEpoch < -1:
		return fail(kerr.InvalidShareSessionEpoch.Code, "Invalid share session epoch.")
	}
	s, code, msg := m.sessionFor(group, member, req.ShareSessionEpoch, true, conn)
	if code != 0 {
		return fail(code, msg)
	}

	// The response's partitions, by topic and partition.
	out := map[tidp]*kmsg.ShareFetchResponseTopicPartition{}
	entry := func(tp tidp) *kmsg.ShareFetchResponseTopicPartition {
		if e := out[tp]; e != nil {
			return e
		}
		e := kmsg.NewShareFetchResponseTopicPartition()
		e.Partition = tp.p
		e.CurrentLeader.LeaderID, e.CurrentLeader.LeaderEpoch = -1, -1
		out[tp] = &e
		return &e
	}
	var items []*ackItem
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tp := tidp{t.TopicID, p.Partition}
			if req.ShareSessionEpoch == 0 {
				m.verify(ctx, group, t.TopicID, p.Partition)
			}
			if req.ShareSessionEpoch != -1 {
				m.mu.Lock()
				s.parts[tp] = struct{}{}
				m.mu.Unlock()
			}
			if len(p.AcknowledgementBatches) > 0 {
				items = append(items, &ackItem{tid: t.TopicID, p: p.Partition, batches: fetchAcks(p.AcknowledgementBatches)})
			}
		}
	}
	var release map[tidp]struct{}
	if req.ShareSessionEpoch == -1 {
		release = s.parts
	}
	// The acknowledgements' write runs while records are acquired; the
	// response waits for it (finish), so it is sent only once they are
	// durable. Records acquired from a share-partition whose state was
	// dropped meanwhile (its write failed, or it moved) are not held any
	// more: they are left out, and the next fetch acquires them again.
	waitAcks := m.acknowledge(ctx, group, member, items, req.IsRenewAck, release)
	held := map[tidp]heldFrom{}
	finish := func() *kmsg.ShareFetchResponse {
		waitAcks()
		for tp, h := range held {
			if !m.current(h) {
				e := out[tp]
				e.Records, e.AcquiredRecords = nil, nil
			}
		}
		for _, it := range items {
			e := entry(tidp{it.tid, it.p})
			if it.code != 0 && e.AcknowledgeErrorCode == 0 {
				e.AcknowledgeErrorCode, e.AcknowledgeErrorMessage = it.code, strp(it.msg)
			}
		}
		return m.finish(resp, out)
	}
	if req.ShareSessionEpoch == -1 {
		return finish()
	}
	m.mu.Lock()
	for _, f := range req.ForgottenTopicsData {
		for _, p := range f.Partitions {
			delete(s.parts, tidp{f.TopicID, p})
		}
	}
	parts := make([]tidp, 0, len(s.parts))
	for tp := range s.parts {
		parts = append(parts, tp)
	}
	m.mu.Unlock()
	sort.Slice(parts, func(i, j int) bool { return parts[i].less(parts[j]) })
	if req.IsRenewAck || len(parts) == 0 {
		return finish()
	}

	maxRecords := int(req.MaxRecords)
	if maxRecords <= 0 {
		maxRecords = 500
	}
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 {
		maxBytes = math.MaxInt32
	}
	deadline := time.Now().Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)
	var woke chan struct{}
	var cancels []func()
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	for {
		changed := m.changedCh()
		got, next := m.acquire(ctx, group, member, parts, maxRecords, maxBytes, entry, held)
		wait := time.Until(deadline)
		if got || wait <= 0 {
			return finish()
		}
		if woke == nil {
			woke = make(chan struct{}, 1)
			for _, tp := range parts {
				cancels = append(cancels, m.cfg.Log.Watch(tp.tid, tp.p, woke))
			}
			continue // re-read after watching so no append is missed
		}
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(m.cfg.Now()), time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-woke:
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return finish()
		}
		t.Stop()
	}
}

// heldFrom is the share-partition state records were acquired from.
type heldFrom struct {
	sp  *sharePart
	gen uint64
}

// current reports whether h is still the loaded state of its
// share-partition (its acquisitions stand).
func (m *Manager) current(h heldFrom) bool {
	m.mu.Lock()
	cur := m.parts[h.sp.key]
	m.mu.Unlock()
	h.sp.mu.Lock()
	defer h.sp.mu.Unlock()
	return cur == h.sp && h.sp.p != nil && h.sp.gen == h.gen
}

// acquire reads and acquires records from parts; it reports whether any
// records were acquired and the earliest lock deadline seen.
func (m *Manager) acquire(ctx context.Context, group, member string, parts []tidp, maxRecords, maxBytes int, entry func(tidp) *kmsg.ShareFetchResponseTopicPartition, held map[tidp]heldFrom) (bool, time.Time) {
	got := false
	var next time.Time
	for _, tp := range parts {
		if maxRecords <= 0 || maxBytes <= 0 {
			break
		}
		sp, hw, err := m.part(ctx, group, tp.tid, tp.p)
		if err != nil {
			e := entry(tp)
			e.ErrorCode = m.cfg.Code(err)
			e.ErrorMessage = strp(err.Error())
			continue
		}
		committed := m.cfg.Groups != nil && m.cfg.Groups.ReadCommitted(group)
		data, ranges, err := m.acquireOne(sp, member, tp, hw, maxRecords, maxBytes, !got, committed)
		if d := sp.p.NextDeadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
		if len(ranges) > 0 {
			held[tp] = heldFrom{sp, sp.gen}
		}
		sp.mu.Unlock()
		if err != nil {
			e := entry(tp)
			e.ErrorCode = m.cfg.Code(err)
			e.ErrorMessage = strp(err.Error())
			continue
		}
		if len(ranges) == 0 {
			continue
		}
		got = true
		e := entry(tp)
		e.Records = data
		for _, r := range ranges {
			a := kmsg.NewShareFetchResponseTopicPartitionAcquiredRecord()
			a.FirstOffset, a.LastOffset, a.DeliveryCount = r.First, r.Last, r.Count
			e.AcquiredRecords = append(e.AcquiredRecords, a)
			maxRecords -= int(r.Last - r.First + 1)
		}
		maxBytes -= len(data)
	}
	return got, next
}

// acquireOne acquires from one share-partition (sp.mu held): it reads the
// log from the first acquirable offset and acquires within what was
// read, returning only the batches that hold acquired offsets.
//
// Under read_committed (share.isolation.level) it reads up to the last
// stable offset and archives, before acquiring, the records of aborted
// transactions and the transaction markers, as Kafka does.
func (m *Manager) acquireOne(sp *sharePart, member string, tp tidp, hw int64, maxRecords, maxBytes int, first, committed bool) ([]byte, []Range, error) {
	if committed {
		lso, _ := m.cfg.Log.Committed(tp.tid, tp.p, 0, 0)
		hw = min(hw, lso)
	}
	// A read whose records were all skipped (aborted) moves the start:
	// read on from there, a few times, before answering.
	for range 8 {
		from := sp.p.NextFetchOffset(hw)
		data, ranges, err := m.acquireFrom(sp, member, tp, from, hw, maxRecords, maxBytes, first, committed)
		if err != nil || len(ranges) > 0 || from < 0 || sp.p.NextFetchOffset(hw) == from {
			return data, ranges, err
		}
	}
	return nil, nil, nil
}

func (m *Manager) acquireFrom(sp *sharePart, member string, tp tidp, from, hw int64, maxRecords, maxBytes int, first, committed bool) ([]byte, []Range, error) {
	if from < 0 {
		return nil, nil, nil
	}
	if !first {
		maxBytes = min(maxBytes, 1<<20)
	}
	data, err := m.cfg.Log.Read(tp.tid, tp.p, from, maxBytes)
	if err != nil || len(data) == 0 {
		return nil, nil, err
	}
	batches, err := SplitBatches(data)
	if err != nil {
		return nil, nil, err
	}
	if len(batches) == 0 {
		return nil, nil, nil
	}
	to := min(batches[len(batches)-1].Last+1, hw)
	if committed {
		_, aborted := m.cfg.Log.Committed(tp.tid, tp.p, batches[0].Base, to)
		for _, b := range batches {
			if b.Base >= to {
				break
			}
			skip := b.Control
			for _, a := range aborted {
				skip = skip || b.Transactional && b.ProducerID == a.ProducerID && b.Base >= a.First && b.Base <= a.Last
			}
			if skip {
				sp.p.Skip(b.Base, min(b.Last, to-1))
			}
		}
	}
	ranges := sp.p.Acquire(member, from, to, maxRecords, m.cfg.Now())
	if len(ranges) == 0 {
		return nil, nil, nil
	}
	lo, hi := ranges[0].First, ranges[len(ranges)-1].Last
	var keepFrom, keepTo int = -1, 0
	for _, b := range batches {
		if b.Last < lo || b.Base > hi {
			continue
		}
		if keepFrom < 0 {
			keepFrom = b.Pos
		}
		keepTo = b.Pos + b.Size
	}
	if keepFrom < 0 {
		return nil, ranges, nil
	}
	return data[keepFrom:keepTo], ranges, nil
}

// BatchSpan is one record batch's place in a read: its byte position and
// size, and its first and last offsets.
type BatchSpan struct {
	Pos, Size     int
	Base, Last    int64
	ProducerID    int64
	Transactional bool
	Control       bool
}

// SplitBatches walks stored v2 batches (as the log returns them); a
// trailing partial batch is ignored, a malformed header is an error.
func SplitBatches(data []byte) ([]BatchSpan, error) {
	var out []BatchSpan
	pos := 0
	for len(data)-pos >= record.HeaderSize {
		n, err := record.Peek(data[pos:])
		if err != nil {
			return out, err
		}
		if n > len(data)-pos {
			break
		}
		b := record.Batch(data[pos : pos+n])
		if b.LastOffsetDelta() < 0 {
			return out, record.ErrInvalid
		}
		out = append(out, BatchSpan{Pos: pos, Size: n, Base: b.BaseOffset(), Last: b.LastOffset(),
			ProducerID: b.ProducerID(), Transactional: b.IsTransactional(), Control: b.IsControl()})
		pos += n
	}
	return out, nil
}

// finish lays the collected partitions out by topic.
func (m *Manager) finish(resp *kmsg.ShareFetchResponse, out map[tidp]*kmsg.ShareFetchResponseTopicPartition) *kmsg.ShareFetchResponse {
	keys := make([]tidp, 0, len(out))
	for k := range out {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].less(keys[j]) })
	for _, k := range keys {
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].TopicID != k.tid {
			t := kmsg.NewShareFetchResponseTopic()
			t.TopicID = k.tid
			resp.Topics = append(resp.Topics, t)
		}
		t := &resp.Topics[len(resp.Topics)-1]
		t.Partitions = append(t.Partitions, *out[k])
	}
	return resp
}

// ShareAcknowledge serves a ShareAcknowledge.
func (m *Manager) ShareAcknowledge(ctx context.Context, req *kmsg.ShareAcknowledgeRequest) *kmsg.ShareAcknowledgeResponse {
	resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
	resp.AcquisitionLockTimeoutMillis = int32(m.limits(deref(req.GroupID)).LockDuration.Milliseconds())
	fail := func(code int16, msg string) *kmsg.ShareAcknowledgeResponse {
		resp.ErrorCode, resp.ErrorMessage = code, &msg
		return resp
	}
	group, member := deref(req.GroupID), deref(req.MemberID)
	switch {
	case group == "":
		return fail(kerr.InvalidRequest.Code, "GroupId must be set.")
	case member == "":
		return fail(kerr.InvalidRequest.Code, "MemberId must be set.")
	case req.ShareSessionEpoch < -1:
		return fail(kerr.InvalidShareSessionEpoch.Code, "Invalid share session epoch.")
	}
	s, code, msg := m.sessionFor(group, member, req.ShareSessionEpoch, false, nil)
	if code != 0 {
		return fail(code, msg)
	}
	var items []*ackItem
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			items = append(items, &ackItem{tid: t.TopicID, p: p.Partition, batches: ackAcks(p.AcknowledgementBatches)})
		}
	}
	var release map[tidp]struct{}
	if req.ShareSessionEpoch == -1 {
		release = s.parts
	}
	m.acknowledge(ctx, group, member, items, req.IsRenewAck, release)()
	i := 0
	for _, t := range req.Topics {
		rt := kmsg.NewShareAcknowledgeResponseTopic()
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			it := items[i]
			i++
			rp := kmsg.NewShareAcknowledgeResponseTopicPartition()
			rp.Partition = p.Partition
			rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = -1, -1
			if it.code != 0 {
				rp.ErrorCode, rp.ErrorMessage = it.code, strp(it.msg)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// MemberLeft closes member's share session here, releasing its records
// (the coordinator saw it leave or time out).
func (m *Manager) MemberLeft(group, member string) {
	k := sessKey{group, member}
	m.mu.Lock()
	s := m.sessions[k]
	var parts map[tidp]struct{}
	if s != nil {
		parts = m.endLocked(k, s)
	}
	m.mu.Unlock()
	if s != nil {
		m.releaseMember(context.Background(), group, member, parts)
	}
}

// PartitionInFlight describes a loaded share-partition (for tools):
// start offset, acquired and available records in flight; ok false if
// it is not loaded here.
func (m *Manager) PartitionInFlight(group string, tid [16]byte, p int32) (start int64, acquired, available int, ok bool) {
	m.mu.Lock()
	sp := m.parts[spKey{group, tid, p}]
	m.mu.Unlock()
	if sp == nil {
		return 0, 0, 0, false
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.p == nil {
		return 0, 0, 0, false
	}
	acquired, available = sp.p.InFlight()
	return sp.p.Start(), acquired, available, true
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
