package metadata

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/tributary/tributary/internal/safe"
)

// Admin results are visible when they return: a broker that committed an
// admin change (CreateTopics, CreatePartitions, DeleteTopics, a reassignment)
// answers only once every live (unfenced) broker serves a view that includes
// it, so a Metadata request to any broker right after the answer sees it.
//
// How: each node's broker reports the metadata offset (Raft index) its
// serving view was built from (SetVisible, after it reconciled that state).
// The broker that handled the request asks every live broker, over the
// controller RPC every node serves, to wait until its view reaches the
// change's offset (WaitVisibleEverywhere). The remote wait is a long poll of
// at most visiblePoll, and the live set is re-read between rounds, so a
// broker that dies and is fenced meanwhile stops being waited for, and one
// that refuses connections (its process is gone: it answers no Metadata
// either) is not waited for at all. The caller bounds the whole wait with
// the request's timeout. Heartbeat piggybacking was the alternative; it
// would delay every admin answer by up to a heartbeat interval.

// visiblePoll bounds one remote wait, so the caller re-reads the live set.
const visiblePoll = time.Second

// visibility is the offset this node's broker serves. mu guards both
// fields; changed is closed and replaced when at rises.
type visibility struct {
	mu      sync.Mutex
	at      uint64
	changed chan struct{}
}

func (v *visibility) get() (uint64, <-chan struct{}) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.changed == nil {
		v.changed = make(chan struct{})
	}
	return v.at, v.changed
}

// SetVisible records that this node's broker now serves the state at
// metadata offset i (it only ever rises). The broker calls it after each
// reconcile.
func (q *Quorum) SetVisible(i uint64) {
	v := &q.visible
	v.mu.Lock()
	defer v.mu.Unlock()
	if i <= v.at {
		return
	}
	v.at = i
	if v.changed != nil {
		close(v.changed)
		v.changed = nil
	}
}

// waitVisible waits until this node serves offset i, or d passes; it
// returns the offset served.
func (q *Quorum) waitVisible(i uint64, d time.Duration) uint64 {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		at, ch := q.visible.get()
		if at >= i {
			return at
		}
		select {
		case <-ch:
		case <-timer.C:
			return at
		case <-q.stop:
			return at
		}
	}
}

// NotVisibleError says which live brokers had not applied a change when the
// wait for it ended.
type NotVisibleError struct {
	Index   uint64
	Brokers []int32
	Err     error
}

func (e *NotVisibleError) Error() string {
	return fmt.Sprintf("committed, but brokers %v have not applied metadata offset %d yet: %v", e.Brokers, e.Index, e.Err)
}

func (e *NotVisibleError) Unwrap() error { return e.Err }

// WaitVisibleEverywhere waits until every live broker serves metadata
// offset i, or ctx ends (then a *NotVisibleError wraps ctx's error).
func (q *Quorum) WaitVisibleEverywhere(ctx context.Context, i uint64) error {
	done := map[int32]bool{}
	for {
		var pending []*Broker
		for _, b := range q.State().LiveBrokers() {
			if !done[b.ID] {
				pending = append(pending, b)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		poll := visiblePoll
		if dl, ok := ctx.Deadline(); ok {
			poll = min(poll, time.Until(dl))
		}
		// A round whose remote waits end early (a node stopping) must
		// not spin.
		pace := time.After(20 * time.Millisecond)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, b := range pending {
			wg.Add(1)
			go func(b *Broker) {
				defer wg.Done()
				defer safe.Recover(q.log, "wait-visible")
				ok := q.askVisible(b, i, poll)
				mu.Lock()
				done[b.ID] = ok
				mu.Unlock()
			}(b)
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			var late []int32
			for _, b := range q.State().LiveBrokers() {
				if !done[b.ID] {
					late = append(late, b.ID)
				}
			}
			if len(late) == 0 {
				return nil
			}
			slices.Sort(late)
			return &NotVisibleError{Index: i, Brokers: late, Err: err}
		}
		select {
		case <-pace:
		case <-ctx.Done():
		}
	}
}

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// askVisible reports whether broker b serves offset i (waiting up to d), or
// cannot answer Metadata at all because nothing listens at its address.
func (q *Quorum) askVisible(b *Broker, i uint64, d time.Duration) bool {
	if b.ID == q.cfg.NodeID {
		return q.waitVisible(i, d) >= i
	}
	if d <= 0 {
		return false
	}
	var reply WaitVisibleReply
	err := q.callNode(b.RaftAddr, "Controller.WaitVisible", WaitVisibleArgs{Index: i, WaitMillis: d.Milliseconds()}, &reply, d+2*time.Second, false)
	if err != nil {
		return isRefused(err)
	}
	return reply.Visible >= i
}

type WaitVisibleArgs struct {
	Index      uint64
	WaitMillis int64
}

type WaitVisibleReply struct{ Visible uint64 }

// WaitVisible answers once this node serves args.Index, or after
// args.WaitMillis (at most visiblePoll), with the offset it serves.
func (s *ControllerRPC) WaitVisible(args WaitVisibleArgs, reply *WaitVisibleReply) error {
	d := min(time.Duration(args.WaitMillis)*time.Millisecond, visiblePoll)
	reply.Visible = s.q.waitVisible(args.Index, d)
	return nil
}
