package share

// The share coordinator: the state of every share-partition, stored in
// the compacted internal topic __share_group_state and served through the
// internal state APIs (InitializeShareGroupState, ReadShareGroupState,
// WriteShareGroupState, DeleteShareGroupState,
// ReadShareGroupStateSummary), which share-partition leaders call (over
// the wire when the state partition is led elsewhere).
//
// As with the group coordinator, a group belongs to one partition of the
// state topic (PartitionFor) and is served by that partition's leader;
// the broker tells the Store which partitions it leads (SetLeadership)
// and the Store replays a newly led partition before serving it
// (COORDINATOR_LOAD_IN_PROGRESS meanwhile); requests for other
// partitions get NOT_COORDINATOR. A write is answered once its record is
// durable and replicated like acks=all (StateLog.Sync).
//
// Fencing: a write or read under a leader epoch older than the stored
// one is FENCED_LEADER_EPOCH (a deposed share-partition leader), a write
// under an older state epoch FENCED_STATE_EPOCH (the state was
// re-initialised by AlterShareGroupOffsets meanwhile).
//
// Concurrency: Store.mu guards the maps; it is held while appending a
// record to the log (so records reach the log in state order) and
// released before waiting for durability.

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/record"
)

// StateTopic is the internal topic holding share-partition state.
const StateTopic = "__share_group_state"

// StateLog is __share_group_state as the Store uses it (the contract of
// internal/group's Log).
type StateLog interface {
	// Partitions returns the topic's partition count, creating the topic
	// first with create; 0 if it is missing.
	Partitions(create bool) (int32, error)
	// Append writes one batch to partition p as its leader; it returns
	// the log end after it and the leader epoch written under.
	Append(p int32, batch []byte) (end int64, epoch int32, err error)
	// Sync returns once offsets below end are durable and replicated.
	Sync(p int32, end int64, epoch int32) error
	// Read calls fn with every stored batch of p in order.
	Read(p int32, fn func(batch []byte) error) error
}

type ownedPart struct {
	epoch  int32
	loaded bool
}

// Store is the share coordinator.
type Store struct {
	log  StateLog
	lg   *slog.Logger
	now  func() time.Time
	mu   sync.Mutex
	n    int32
	own  map[int32]*ownedPart
	st   map[stateKey]*snapshot
	gone bool
}

// NewStore returns a Store leading no partition yet.
func NewStore(log StateLog, lg *slog.Logger, now func() time.Time) *Store {
	if lg == nil {
		lg = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &Store{log: log, lg: lg, now: now, own: map[int32]*ownedPart{}, st: map[stateKey]*snapshot{}}
}

// Ready makes sure the state topic exists (creating it on first use).
func (s *Store) Ready() error {
	n, err := s.log.Partitions(true)
	if err != nil {
		return err
	}
	if n <= 0 {
		return fmt.Errorf("%s has no partitions", StateTopic)
	}
	return nil
}

// CoordinatorPartition returns the state partition for group and the
// topic's partition count (0 when the topic does not exist yet).
func (s *Store) CoordinatorPartition(group string) (int32, int32) {
	s.mu.Lock()
	n := s.n
	s.mu.Unlock()
	if n == 0 {
		n, _ = s.log.Partitions(false)
	}
	return PartitionFor(group, n), n
}

// SetLeadership tells the Store which state partitions this broker leads
// (partition -> leader epoch) out of n; newly led ones are replayed in
// the background. The returned channel is closed when those loads end.
func (s *Store) SetLeadership(n int32, led map[int32]int32) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n = n
	for p, op := range s.own {
		if e, ok := led[p]; !ok || e != op.epoch {
			delete(s.own, p)
			for k := range s.st {
				if PartitionFor(k.group, n) == p {
					delete(s.st, k)
				}
			}
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for p, e := range led {
		if s.own[p] != nil {
			continue
		}
		op := &ownedPart{epoch: e}
		s.own[p] = op
		wg.Add(1)
		go func(p int32, op *ownedPart) { // safe: load recovers nothing but only reads the log and takes mu
			defer wg.Done()
			s.load(p, op)
		}(p, op)
	}
	go func() { wg.Wait(); close(done) }() // safe: only waits
	return done
}

func (s *Store) load(p int32, op *ownedPart) {
	states := map[stateKey]*snapshot{}
	err := s.log.Read(p, func(raw []byte) error {
		recs, err := record.KVs(raw)
		if err != nil {
			s.lg.Warn("skipping unreadable share state batch", "partition", p, "err", err)
			return nil
		}
		for _, r := range recs {
			replayState(states, r)
		}
		return nil
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone || s.own[p] != op {
		return
	}
	if err != nil {
		s.lg.Error("loading share state partition", "partition", p, "err", err)
		delete(s.own, p)
		return
	}
	for k, v := range states {
		s.st[k] = v
	}
	op.loaded = true
	s.lg.Info("share state partition loaded", "partition", p, "leader_epoch", op.epoch, "share_partitions", len(states))
}

// replayState applies one record.
func replayState(states map[stateKey]*snapshot, r record.KV) {
	k, typ, err := decodeKey(r.Key)
	if err != nil || typ != recShareSnapshot {
		return
	}
	if r.Value == nil {
		delete(states, k)
		return
	}
	v, err := decodeValue(r.Value)
	if err != nil {
		return
	}
	states[k] = v
}

// Close forgets everything.
func (s *Store) Close() {
	s.mu.Lock()
	s.gone = true
	s.own = map[int32]*ownedPart{}
	s.st = map[stateKey]*snapshot{}
	s.mu.Unlock()
}

// ownerCode: 0 when this Store serves group now. Under mu.
func (s *Store) ownerCode(group string) int16 {
	if s.gone {
		return kerr.CoordinatorNotAvailable.Code
	}
	if s.n == 0 {
		return kerr.NotCoordinator.Code
	}
	op := s.own[PartitionFor(group, s.n)]
	switch {
	case op == nil:
		return kerr.NotCoordinator.Code
	case !op.loaded:
		return kerr.CoordinatorLoadInProgress.Code
	}
	return 0
}

// pendingWrite is an appended record awaiting durability.
type pendingWrite struct {
	p     int32
	end   int64
	epoch int32
	err   error
}

// writeLocked appends a record for k (nil value: delete). Under mu.
func (s *Store) writeLocked(k stateKey, v *snapshot) *pendingWrite {
	return s.writeManyLocked([]stateKey{k}, []*snapshot{v})
}

// writeManyLocked appends records for ks (all of one group, so of one
// state partition) as one batch and applies them. Under mu.
func (s *Store) writeManyLocked(ks []stateKey, vs []*snapshot) *pendingWrite {
	p := PartitionFor(ks[0].group, s.n)
	recs := make([]record.KV, len(ks))
	for i, k := range ks {
		recs[i].Key = encodeKey(k)
		if vs[i] != nil {
			recs[i].Value = encodeValue(vs[i])
		}
	}
	end, epoch, err := s.log.Append(p, record.BuildKV(record.CoordinatorHeader(s.now().UnixMilli()), recs))
	if err != nil {
		return &pendingWrite{err: err}
	}
	for i, k := range ks {
		if vs[i] == nil {
			delete(s.st, k)
		} else {
			s.st[k] = vs[i]
		}
	}
	return &pendingWrite{p: p, end: end, epoch: epoch}
}

func (s *Store) wait(w *pendingWrite) error {
	if w.err != nil {
		return w.err
	}
	return s.log.Sync(w.p, w.end, w.epoch)
}

// errCode is the code of a write error (kerr values pass through; a log
// error means the coordinator cannot write now).
func errCode(err error) (int16, *string) {
	if err == nil {
		return 0, nil
	}
	msg := err.Error()
	if ke, ok := kerrOf(err); ok {
		return ke.Code, &msg
	}
	return kerr.CoordinatorNotAvailable.Code, &msg
}

func kerrOf(err error) (*kerr.Error, bool) {
	for err != nil {
		if ke, ok := err.(*kerr.Error); ok {
			return ke, true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			break
		}
		err = u.Unwrap()
	}
	return nil, false
}

type partResult struct {
	tid  [16]byte
	p    int32
	code int16
	msg  *string
	w    *pendingWrite
}

// Initialize serves InitializeShareGroupState: the share-partitions start
// over at StartOffset under StateEpoch (which must not be older than the
// stored one), with nothing in flight.
func (s *Store) Initialize(ctx context.Context, req *kmsg.InitializeShareGroupStateRequest) *kmsg.InitializeShareGroupStateResponse {
	resp := req.ResponseKind().(*kmsg.InitializeShareGroupStateResponse)
	var res []*partResult
	s.mu.Lock()
	code := s.ownerCode(req.GroupID)
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			r := &partResult{tid: t.TopicID, p: p.Partition, code: code}
			res = append(res, r)
			if code != 0 {
				continue
			}
			k := stateKey{req.GroupID, t.TopicID, p.Partition}
			old := s.st[k]
			if old != nil && p.StateEpoch < old.stateEpoch {
				r.code = kerr.FencedStateEpoch.Code
				continue
			}
			v := &snapshot{stateEpoch: p.StateEpoch, start: p.StartOffset, createMs: s.now().UnixMilli(), writeMs: s.now().UnixMilli()}
			if old != nil {
				v.snapshotEpoch, v.leaderEpoch = old.snapshotEpoch+1, old.leaderEpoch
			}
			r.w = s.writeLocked(k, v)
		}
	}
	s.mu.Unlock()
	for _, r := range res {
		if r.w != nil {
			r.code, r.msg = errCode(s.wait(r.w))
		}
		t := topicOf(&resp.Topics, r.tid, func(id [16]byte) kmsg.InitializeShareGroupStateResponseTopic {
			return kmsg.InitializeShareGroupStateResponseTopic{TopicID: id}
		}, func(t *kmsg.InitializeShareGroupStateResponseTopic) [16]byte { return t.TopicID })
		rp := kmsg.NewInitializeShareGroupStateResponseTopicPartition()
		rp.Partition, rp.ErrorCode, rp.ErrorMessage = r.p, r.code, r.msg
		t.Partitions = append(t.Partitions, rp)
	}
	return resp
}

// topicOf returns the response topic for id, appending it if new.
func topicOf[T any](ts *[]T, id [16]byte, mk func([16]byte) T, idOf func(*T) [16]byte) *T {
	for i := range *ts {
		if idOf(&(*ts)[i]) == id {
			return &(*ts)[i]
		}
	}
	*ts = append(*ts, mk(id))
	return &(*ts)[len(*ts)-1]
}

// Read serves ReadShareGroupState: the stored state (StartOffset -1 and
// no batches when none exists). A read under a newer leader epoch records
// it, fencing the previous leader's later writes.
func (s *Store) Read(ctx context.Context, req *kmsg.ReadShareGroupStateRequest) *kmsg.ReadShareGroupStateResponse {
	resp := req.ResponseKind().(*kmsg.ReadShareGroupStateResponse)
	type out struct {
		partResult
		v *snapshot
	}
	var res []*out
	s.mu.Lock()
	code := s.ownerCode(req.GroupID)
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			r := &out{partResult: partResult{tid: t.TopicID, p: p.Partition, code: code}}
			res = append(res, r)
			if code != 0 {
				continue
			}
			k := stateKey{req.GroupID, t.TopicID, p.Partition}
			v := s.st[k]
			switch {
			case v == nil:
			case p.LeaderEpoch >= 0 && p.LeaderEpoch < v.leaderEpoch:
				r.code = kerr.FencedLeaderEpoch.Code
			case p.LeaderEpoch > v.leaderEpoch:
				nv := *v
				nv.leaderEpoch, nv.snapshotEpoch, nv.writeMs = p.LeaderEpoch, v.snapshotEpoch+1, s.now().UnixMilli()
				r.w = s.writeLocked(k, &nv)
				r.v = &nv
			default:
				r.v = v
			}
		}
	}
	s.mu.Unlock()
	for _, r := range res {
		if r.w != nil {
			r.code, r.msg = errCode(s.wait(r.w))
		}
		t := topicOf(&resp.Topics, r.tid, func(id [16]byte) kmsg.ReadShareGroupStateResponseTopic {
			return kmsg.ReadShareGroupStateResponseTopic{TopicID: id}
		}, func(t *kmsg.ReadShareGroupStateResponseTopic) [16]byte { return t.TopicID })
		rp := kmsg.NewReadShareGroupStateResponseTopicPartition()
		rp.Partition, rp.ErrorCode, rp.ErrorMessage = r.p, r.code, r.msg
		rp.StartOffset = -1
		if r.code == 0 && r.v != nil {
			rp.StateEpoch, rp.StartOffset = r.v.stateEpoch, r.v.start
			for _, b := range r.v.batches {
				sb := kmsg.NewReadShareGroupStateResponseTopicPartitionStateBatch()
				sb.FirstOffset, sb.LastOffset, sb.DeliveryState, sb.DeliveryCount = b.First, b.Last, b.State, b.Count
				rp.StateBatches = append(rp.StateBatches, sb)
			}
		}
		t.Partitions = append(t.Partitions, rp)
	}
	return resp
}

// Write serves WriteShareGroupState: StartOffset (unless -1) becomes the
// start, the batches overlay the stored ones, batches below the start are
// dropped.
func (s *Store) Write(ctx context.Context, req *kmsg.WriteShareGroupStateRequest) *kmsg.WriteShareGroupStateResponse {
	resp := req.ResponseKind().(*kmsg.WriteShareGroupStateResponse)
	var res, toWrite []*partResult
	var keys []stateKey
	var vals []*snapshot
	pending := map[stateKey]*snapshot{}
	s.mu.Lock()
	code := s.ownerCode(req.GroupID)
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			r := &partResult{tid: t.TopicID, p: p.Partition, code: code}
			res = append(res, r)
			if code != 0 {
				continue
			}
			k := stateKey{req.GroupID, t.TopicID, p.Partition}
			old := s.st[k]
			if pv := pending[k]; pv != nil {
				old = pv // the same partition twice in one request
			}
			in := make([]StateBatch, 0, len(p.StateBatches))
			bad := false
			for _, b := range p.StateBatches {
				if b.FirstOffset < 0 || b.LastOffset < b.FirstOffset {
					bad = true
				}
				in = append(in, StateBatch{First: b.FirstOffset, Last: b.LastOffset, State: b.DeliveryState, Count: b.DeliveryCount})
			}
			switch {
			case bad || len(in) > maxStateBatches:
				r.code = kerr.InvalidRequest.Code
				continue
			case old != nil && p.LeaderEpoch < old.leaderEpoch:
				r.code = kerr.FencedLeaderEpoch.Code
				continue
			case old != nil && p.StateEpoch < old.stateEpoch:
				r.code = kerr.FencedStateEpoch.Code
				continue
			}
			now := s.now().UnixMilli()
			v := &snapshot{stateEpoch: p.StateEpoch, leaderEpoch: p.LeaderEpoch, start: p.StartOffset, createMs: now, writeMs: now}
			if old != nil {
				v.snapshotEpoch, v.createMs = old.snapshotEpoch+1, old.createMs
				if v.start < 0 {
					v.start = old.start
				}
				v.batches = MergeBatches(old.batches, in)
			} else {
				v.batches = MergeBatches(nil, in)
			}
			if v.start < 0 {
				v.start = 0
			}
			v.batches = TrimBatches(v.batches, v.start)
			pending[k] = v
			keys = append(keys, k)
			vals = append(vals, v)
			toWrite = append(toWrite, r)
		}
	}
	// One batch for the whole request (one fsync).
	if len(keys) > 0 {
		w := s.writeManyLocked(keys, vals)
		for _, r := range toWrite {
			r.w = w
		}
	}
	s.mu.Unlock()
	waited := map[*pendingWrite]error{}
	for _, r := range res {
		if r.w != nil {
			if _, ok := waited[r.w]; !ok {
				waited[r.w] = s.wait(r.w)
			}
			r.code, r.msg = errCode(waited[r.w])
			r.w = nil
		}
	}
	for _, r := range res {
		if r.w != nil {
			r.code, r.msg = errCode(s.wait(r.w))
		}
		t := topicOf(&resp.Topics, r.tid, func(id [16]byte) kmsg.WriteShareGroupStateResponseTopic {
			return kmsg.WriteShareGroupStateResponseTopic{TopicID: id}
		}, func(t *kmsg.WriteShareGroupStateResponseTopic) [16]byte { return t.TopicID })
		rp := kmsg.NewWriteShareGroupStateResponseTopicPartition()
		rp.Partition, rp.ErrorCode, rp.ErrorMessage = r.p, r.code, r.msg
		t.Partitions = append(t.Partitions, rp)
	}
	return resp
}

// Delete serves DeleteShareGroupState (tombstones).
func (s *Store) Delete(ctx context.Context, req *kmsg.DeleteShareGroupStateRequest) *kmsg.DeleteShareGroupStateResponse {
	resp := req.ResponseKind().(*kmsg.DeleteShareGroupStateResponse)
	var res []*partResult
	s.mu.Lock()
	code := s.ownerCode(req.GroupID)
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			r := &partResult{tid: t.TopicID, p: p.Partition, code: code}
			res = append(res, r)
			if code != 0 {
				continue
			}
			k := stateKey{req.GroupID, t.TopicID, p.Partition}
			if s.st[k] != nil {
				r.w = s.writeLocked(k, nil)
			}
		}
	}
	s.mu.Unlock()
	for _, r := range res {
		if r.w != nil {
			r.code, r.msg = errCode(s.wait(r.w))
		}
		t := topicOf(&resp.Topics, r.tid, func(id [16]byte) kmsg.DeleteShareGroupStateResponseTopic {
			return kmsg.DeleteShareGroupStateResponseTopic{TopicID: id}
		}, func(t *kmsg.DeleteShareGroupStateResponseTopic) [16]byte { return t.TopicID })
		rp := kmsg.NewDeleteShareGroupStateResponseTopicPartition()
		rp.Partition, rp.ErrorCode, rp.ErrorMessage = r.p, r.code, r.msg
		t.Partitions = append(t.Partitions, rp)
	}
	return resp
}

// Summary serves ReadShareGroupStateSummary: state epoch, leader epoch,
// start offset (-1 for none) and (v1) the count of records delivered
// completely (acknowledged or archived) in flight.
func (s *Store) Summary(ctx context.Context, req *kmsg.ReadShareGroupStateSummaryRequest) *kmsg.ReadShareGroupStateSummaryResponse {
	resp := req.ResponseKind().(*kmsg.ReadShareGroupStateSummaryResponse)
	s.mu.Lock()
	defer s.mu.Unlock()
	code := s.ownerCode(req.GroupID)
	for _, t := range req.Topics {
		rt := kmsg.NewReadShareGroupStateSummaryResponseTopic()
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewReadShareGroupStateSummaryResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.StartOffset = p.Partition, code, -1
			if code == 0 {
				if v := s.st[stateKey{req.GroupID, t.TopicID, p.Partition}]; v != nil {
					rp.StateEpoch, rp.LeaderEpoch, rp.StartOffset = v.stateEpoch, v.leaderEpoch, v.start
					rp.DeliveryCompleteCount = 0
					for _, b := range v.batches {
						if b.State == Acknowledged || b.State == Archived {
							rp.DeliveryCompleteCount += int32(b.Last - b.First + 1)
						}
					}
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// GroupPartitions lists the share-partitions with stored state for group
// (topic id -> partitions), or the owner error code.
func (s *Store) GroupPartitions(group string) (map[[16]byte][]int32, int16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code := s.ownerCode(group); code != 0 {
		return nil, code
	}
	out := map[[16]byte][]int32{}
	for k := range s.st {
		if k.group == group {
			out[k.tid] = append(out[k.tid], k.p)
		}
	}
	for _, ps := range out {
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	}
	return out, 0
}

// MergeBatches overlays in (ascending, non-overlapping) on old: offsets
// in an in batch take its state and count.
func MergeBatches(old, in []StateBatch) []StateBatch {
	in = append([]StateBatch(nil), in...)
	sort.Slice(in, func(i, j int) bool { return in[i].First < in[j].First })
	var out []StateBatch
	for _, o := range old {
		pieces := []StateBatch{o}
		for _, n := range in {
			var next []StateBatch
			for _, pc := range pieces {
				if n.Last < pc.First || n.First > pc.Last {
					next = append(next, pc)
					continue
				}
				if pc.First < n.First {
					next = append(next, StateBatch{First: pc.First, Last: n.First - 1, State: pc.State, Count: pc.Count})
				}
				if pc.Last > n.Last {
					next = append(next, StateBatch{First: n.Last + 1, Last: pc.Last, State: pc.State, Count: pc.Count})
				}
			}
			pieces = next
		}
		out = append(out, pieces...)
	}
	// Later in batches win where in batches overlap each other.
	for i, n := range in {
		for _, m := range in[i+1:] {
			if m.First <= n.Last {
				n.Last = m.First - 1
			}
		}
		if n.First <= n.Last {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].First < out[j].First })
	return out
}

// TrimBatches drops what lies below start.
func TrimBatches(bs []StateBatch, start int64) []StateBatch {
	out := bs[:0]
	for _, b := range bs {
		if b.Last < start {
			continue
		}
		if b.First < start {
			b.First = start
		}
		out = append(out, b)
	}
	return out
}
