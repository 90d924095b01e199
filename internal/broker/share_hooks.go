package broker

// Hooks between the broker and the share-group machinery (internal/share),
// in the group coordinator's pattern:
//
//   - share.Manager (the share-partition leader side: ShareFetch,
//     ShareAcknowledge) reads the topic partitions this broker leads
//     through shareLog and persists share-partition state through
//     sharePersister;
//   - share.Store (the share coordinator) keeps that state in
//     __share_group_state through shareStateLog (coordinator_log.go);
//     after every reconcile the broker tells it which state partitions
//     it leads (syncShareLeadership).
//
// sharePersister calls the Store directly when this broker leads the
// group's state partition, else sends ReadShareGroupState /
// WriteShareGroupState to the leader over the inter-broker listener;
// NOT_COORDINATOR and COORDINATOR_LOAD_IN_PROGRESS (the partition moved,
// or is loading) are retried for up to shareStateTimeout.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/share"
	"github.com/tributary/tributary/internal/storage"
)

// shareStateTimeout bounds a share-partition state read or write,
// retries included.
const shareStateTimeout = 10 * time.Second

// newShareManager builds the share-partition manager and the share
// coordinator from the broker configs. Called once from StartGroups.
func (b *Broker) newShares() (*share.Manager, *share.Store) {
	c := b.cfg.Broker
	store := share.NewStore(b.shareStateLog(), b.log.With("component", "share-coordinator"), b.cfg.Now)
	mgr := share.NewManager(share.Config{
		Log:       shareLog{b},
		Persister: sharePersister{b},
		Groups:    shareGroupConfigs{b},
		Limits: share.Limits{
			MaxLocks:      int(c.Int("group.share.partition.max.record.locks")),
			LockDuration:  time.Duration(c.Int("group.share.record.lock.duration.ms")) * time.Millisecond,
			DeliveryLimit: int16(c.Int("group.share.delivery.count.limit")),
		},
		MaxSessions: int(c.Int("group.share.max.share.sessions")),
		Code:        errCode,
		Now:         b.cfg.Now,
		Logger:      b.log.With("component", "share-partitions"),
	})
	return mgr, store
}

// syncShareLeadership tells the share coordinator which
// __share_group_state partitions this broker leads. Called with
// reconcileMu held, like syncGroupLeadership.
func (b *Broker) syncShareLeadership() <-chan struct{} {
	b.mu.RLock()
	st := b.shareStore
	b.mu.RUnlock()
	if st == nil {
		return nil
	}
	return st.SetLeadership(b.ledPartitions(share.StateTopic))
}

// Shares is the share-partition manager (for tools and tests in-process).
func (b *Broker) Shares() *share.Manager { return b.shares }

// shareLog is the partitions this broker leads, for share-partitions.
type shareLog struct{ b *Broker }

func (l shareLog) leader(tid [16]byte, p int32) (*partition.Partition, error) {
	t := l.b.topicByID(tid)
	if t == nil {
		return nil, kerr.UnknownTopicID
	}
	part, code := leaderPartition(t, p)
	if code != 0 {
		return nil, kerr.ErrorForCode(code)
	}
	return part, nil
}

func (l shareLog) Offsets(tid [16]byte, p int32) (int64, int64, int32, error) {
	part, err := l.leader(tid, p)
	if err != nil {
		return 0, 0, 0, err
	}
	s := part.Snapshot()
	return s.LogStartOffset, s.HighWatermark, s.LeaderEpoch, nil
}

func (l shareLog) OffsetForTime(tid [16]byte, p int32, ts int64) (int64, bool) {
	part, err := l.leader(tid, p)
	if err != nil {
		return 0, false
	}
	off, _, ok, err := part.OffsetForTimestamp(ts, partition.ReadUncommitted)
	return off, ok && err == nil
}

func (l shareLog) Read(tid [16]byte, p int32, from int64, maxBytes int) ([]byte, error) {
	part, err := l.leader(tid, p)
	if err != nil {
		return nil, err
	}
	_, res, err := part.Read(from, partition.ReadUncommitted, maxBytes, true)
	if errors.Is(err, storage.ErrLogOffline) {
		err = l.b.replicas.StorageFault(part, err) // internal/replica
	}
	if err != nil || res.Data == nil {
		return nil, err
	}
	out := append([]byte(nil), res.Data...)
	storage.ReleaseRead(res.Data)
	return out, nil
}

func (l shareLog) Committed(tid [16]byte, p int32, from, to int64) (int64, []share.AbortedTxn) {
	part, err := l.leader(tid, p)
	if err != nil {
		return 0, nil
	}
	lso := part.Snapshot().LastStableOffset
	if to <= from {
		return lso, nil
	}
	var out []share.AbortedTxn
	for _, a := range part.AbortedTransactions(from, to) {
		out = append(out, share.AbortedTxn{ProducerID: a.ProducerID, First: a.FirstOffset, Last: a.LastOffset})
	}
	return lso, out
}

func (l shareLog) Watch(tid [16]byte, p int32, ch chan struct{}) func() {
	part, err := l.leader(tid, p)
	if err != nil {
		return func() {}
	}
	return part.Watch(ch)
}

// shareGroupConfigs reads the GROUP config resource from the quorum.
type shareGroupConfigs struct{ b *Broker }

func (g shareGroupConfigs) ResetEarliest(group string) bool {
	return g.b.metaState().GroupConfigs[group]["share.auto.offset.reset"] == "earliest"
}

// ResetByTime serves share.auto.offset.reset=by_duration:<duration>: the
// time now minus the duration, in unix ms.
func (g shareGroupConfigs) ResetByTime(group string) (int64, bool) {
	d, ok := strings.CutPrefix(g.b.metaState().GroupConfigs[group]["share.auto.offset.reset"], "by_duration:")
	if !ok {
		return 0, false
	}
	dur, err := config.ParseISODuration(d)
	if err != nil {
		return 0, false
	}
	return g.b.cfg.Now().Add(-dur).UnixMilli(), true
}

// Limits overrides base with the group's lock duration and delivery
// count limit, when set.
func (g shareGroupConfigs) Limits(group string, base share.Limits) share.Limits {
	cfg := g.b.metaState().GroupConfigs[group]
	if v, err := strconv.ParseInt(cfg["group.share.record.lock.duration.ms"], 10, 64); err == nil && v > 0 {
		base.LockDuration = time.Duration(v) * time.Millisecond
	}
	if v, err := strconv.ParseInt(cfg["group.share.delivery.count.limit"], 10, 16); err == nil && v > 0 {
		base.DeliveryLimit = int16(v)
	}
	return base
}

func (g shareGroupConfigs) ReadCommitted(group string) bool {
	return g.b.metaState().GroupConfigs[group]["share.isolation.level"] == "read_committed"
}

// shareCoordinator returns the broker leading group's state partition
// (creating the state topic on first use).
func (b *Broker) shareCoordinator(group string) (int32, error) {
	n, err := b.shareStateLog().Partitions(true)
	if err != nil {
		return -1, err
	}
	if n <= 0 {
		return -1, kerr.CoordinatorNotAvailable
	}
	st := b.metaState()
	t, ok := st.Topics[share.StateTopic]
	if !ok || int(n) > len(t.Parts) {
		return -1, kerr.CoordinatorNotAvailable
	}
	leader := t.Parts[share.PartitionFor(group, n)].Leader
	if br := st.Brokers[leader]; leader < 0 || br == nil || br.Fenced {
		return -1, kerr.CoordinatorNotAvailable
	}
	return leader, nil
}

// shareStateRequest sends a state request for group to its share
// coordinator (locally when that is this broker) and returns the
// response; retriable coordinator errors (top-level failures and the
// per-partition codes that code reports) are retried until
// shareStateTimeout.
func (b *Broker) shareStateRequest(ctx context.Context, group string, req kmsg.Request, code func(kmsg.Response) int16) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, shareStateTimeout)
	defer cancel()
	backoff := 50 * time.Millisecond
	for {
		resp, err := b.shareStateOnce(ctx, group, req)
		if err == nil {
			c := code(resp)
			if c != kerr.NotCoordinator.Code && c != kerr.CoordinatorLoadInProgress.Code && c != kerr.CoordinatorNotAvailable.Code {
				return resp, nil
			}
			err = kerr.ErrorForCode(c)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("share state of group %s: %w", group, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

func (b *Broker) shareStateOnce(ctx context.Context, group string, req kmsg.Request) (kmsg.Response, error) {
	leader, err := b.shareCoordinator(group)
	if err != nil {
		return nil, err
	}
	st := b.shareStore
	if leader == b.cfg.NodeID && st != nil {
		switch r := req.(type) {
		case *kmsg.ReadShareGroupStateRequest:
			return st.Read(ctx, r), nil
		case *kmsg.WriteShareGroupStateRequest:
			return st.Write(ctx, r), nil
		case *kmsg.InitializeShareGroupStateRequest:
			return st.Initialize(ctx, r), nil
		case *kmsg.DeleteShareGroupStateRequest:
			return st.Delete(ctx, r), nil
		case *kmsg.ReadShareGroupStateSummaryRequest:
			return st.Summary(ctx, r), nil
		}
		return nil, fmt.Errorf("unexpected share state request %T", req)
	}
	cl, err := b.markerClient(leader)
	if err != nil {
		return nil, err
	}
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		b.dropMarkerClient(leader, cl)
		return nil, err
	}
	return resp, nil
}

// sharePersister is share.Persister over the state APIs.
type sharePersister struct{ b *Broker }

func (p sharePersister) Read(ctx context.Context, group string, tid [16]byte, part int32, leaderEpoch int32) (share.PartitionState, error) {
	req := kmsg.NewPtrReadShareGroupStateRequest()
	req.GroupID = group
	rt := kmsg.NewReadShareGroupStateRequestTopic()
	rt.TopicID = tid
	rp := kmsg.NewReadShareGroupStateRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch = part, leaderEpoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	first := func(r kmsg.Response) *kmsg.ReadShareGroupStateResponseTopicPartition {
		resp := r.(*kmsg.ReadShareGroupStateResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return nil
		}
		return &resp.Topics[0].Partitions[0]
	}
	resp, err := p.b.shareStateRequest(ctx, group, req, func(r kmsg.Response) int16 {
		if f := first(r); f != nil {
			return f.ErrorCode
		}
		return kerr.UnknownServerError.Code
	})
	if err != nil {
		return share.PartitionState{}, err
	}
	f := first(resp)
	if err := kerr.ErrorForCode(f.ErrorCode); err != nil {
		return share.PartitionState{}, err
	}
	st := share.PartitionState{StateEpoch: f.StateEpoch, LeaderEpoch: leaderEpoch, Start: f.StartOffset}
	for _, sb := range f.StateBatches {
		st.Batches = append(st.Batches, share.StateBatch{First: sb.FirstOffset, Last: sb.LastOffset, State: sb.DeliveryState, Count: sb.DeliveryCount})
	}
	return st, nil
}

func (p sharePersister) Write(ctx context.Context, group string, ws []share.PartitionWrite) []error {
	req := kmsg.NewPtrWriteShareGroupStateRequest()
	req.GroupID = group
	for _, w := range ws {
		rt := kmsg.NewWriteShareGroupStateRequestTopic()
		rt.TopicID = w.TopicID
		rp := kmsg.NewWriteShareGroupStateRequestTopicPartition()
		st := w.State
		rp.Partition, rp.StateEpoch, rp.LeaderEpoch, rp.StartOffset = w.Partition, st.StateEpoch, st.LeaderEpoch, st.Start
		for _, b := range st.Batches {
			sb := kmsg.NewWriteShareGroupStateRequestTopicPartitionStateBatch()
			sb.FirstOffset, sb.LastOffset, sb.DeliveryState, sb.DeliveryCount = b.First, b.Last, b.State, b.Count
			rp.StateBatches = append(rp.StateBatches, sb)
		}
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	errs := make([]error, len(ws))
	// The per-partition codes, in the order of ws (matched by topic id
	// and partition: the response groups partitions by topic).
	codes := func(r kmsg.Response) []int16 {
		type key struct {
			id [16]byte
			p  int32
		}
		got := map[key]int16{}
		for _, t := range r.(*kmsg.WriteShareGroupStateResponse).Topics {
			for _, p := range t.Partitions {
				got[key{t.TopicID, p.Partition}] = p.ErrorCode
			}
		}
		out := make([]int16, len(ws))
		for i, w := range ws {
			c, ok := got[key{w.TopicID, w.Partition}]
			if !ok {
				c = kerr.UnknownServerError.Code
			}
			out[i] = c
		}
		return out
	}
	resp, err := p.b.shareStateRequest(ctx, group, req, func(r kmsg.Response) int16 {
		for _, c := range codes(r) {
			if c == kerr.NotCoordinator.Code || c == kerr.CoordinatorLoadInProgress.Code || c == kerr.CoordinatorNotAvailable.Code {
				return c
			}
		}
		return 0
	})
	for i := range errs {
		if err != nil {
			errs[i] = err
			continue
		}
		errs[i] = kerr.ErrorForCode(codes(resp)[i])
	}
	return errs
}
