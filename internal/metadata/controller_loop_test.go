package metadata

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual clock: the test advances it and sends each tick.
type fakeClock struct {
	mu   sync.Mutex
	now  time.Time
	tick chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTicker(time.Duration) (<-chan time.Time, func()) { return c.tick, func() {} }

// step advances the clock by d and runs one controller tick. The tick
// channel is unbuffered, so when step returns the previous tick's work is
// done and the loop has taken this one.
func (c *fakeClock) step(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	c.mu.Unlock()
	c.tick <- now
}

// TestControllerLoopFencesOnTheClock drives the controller loop with a fake
// clock: a broker that stops heartbeating is fenced once the session
// timeout has passed on that clock, not before, while one that keeps
// heartbeating stays live.
func TestControllerLoopFencesOnTheClock(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_000_000, 0), tick: make(chan time.Time)}
	q, err := StartQuorum(QuorumConfig{NodeID: 1, Dir: t.TempDir(), Listen: "127.0.0.1:0",
		SessionTimeout: time.Second, HeartbeatInterval: 200 * time.Millisecond, Clock: clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	waitFor(t, "leadership", q.IsLeader)
	beat := func(id int32) {
		t.Helper()
		if err := q.Heartbeat(Broker{ID: id, Host: "127.0.0.1", Port: 9000 + id, RaftAddr: q.Addr(), Incarnation: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	beat(1)
	// Broker 2 registers without the Raft membership a heartbeat would add
	// (it has no Raft listener here).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if res, err := q.Propose(ctx, &Command{RegisterBroker: &Broker{ID: 2, Host: "127.0.0.1", Port: 9002, Incarnation: "y"}}); err != nil || res.Error() != nil {
		t.Fatal(err, res.Error())
	}
	fenced := func(id int32) bool { return q.State().Brokers[id].Fenced }
	// 100ms per tick; broker 2 is silent from now on. The first tick
	// grants the grace period (from this clock's now).
	for i := 1; i <= 10; i++ {
		beat(1)
		clock.step(100 * time.Millisecond)
	}
	clock.step(0) // the 10th tick's work is done
	if fenced(2) || fenced(1) {
		t.Fatalf("fenced within the session timeout: %+v %+v", q.State().Brokers[1], q.State().Brokers[2])
	}
	for i := 0; i < 3; i++ {
		beat(1)
		clock.step(100 * time.Millisecond)
	}
	clock.step(0)
	if !fenced(2) {
		t.Fatal("broker 2 is not fenced after more than a session of silence on the clock")
	}
	if fenced(1) {
		t.Fatal("broker 1 was fenced although it kept heartbeating")
	}
}
