package group

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// gatedLog is a memLog whose reads wait for gate (when set), so a test can
// observe a partition while it loads.
type gatedLog struct {
	*memLog
	gate chan struct{}
}

func (l *gatedLog) Read(p int32, fn func([]byte) error) error {
	if l.gate != nil {
		<-l.gate
	}
	return l.memLog.Read(p, fn)
}

func newBareCoordinator(t *testing.T, log Log, clock *fakeClock) *Coordinator {
	t.Helper()
	c, err := New(Config{Log: log, Topics: memTopics{"t": 3}, Clock: clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MinSessionTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func waitLoaded(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("offsets partitions not loaded")
	}
}

// A coordinator serves only the groups of the partitions it leads: the
// others get NOT_COORDINATOR, a partition being loaded
// COORDINATOR_LOAD_IN_PROGRESS; losing a partition drops its groups and
// answers their waiting requests NOT_COORDINATOR; the next leader replays
// the partition and the members carry on.
func TestLeadershipMovesGroups(t *testing.T) {
	clock := newFakeClock()
	mem := &memLog{n: 3}
	mem.Partitions(true)
	const g = "hello" // partition 99162322 % 3 == 1
	p := PartitionFor(g, 3)
	other := (p + 1) % 3

	a := newBareCoordinator(t, mem, clock)
	waitLoaded(t, a.SetLeadership(3, map[int32]int32{other: 5}))
	if r := now(join(a, g, "", 3)); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("join for a partition led elsewhere: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if resp := commit(a, g, -1, "", map[int32]int64{0: 1}); resp.Topics[0].Partitions[0].ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("commit for a partition led elsewhere: %+v", resp.Topics[0].Partitions[0])
	}

	waitLoaded(t, a.SetLeadership(3, map[int32]int32{other: 5, p: 7}))
	m1 := now(join(a, g, "", 3))
	if m1.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(m1.ErrorCode))
	}
	if s := syncGroup(a, g, m1.MemberID, m1.Generation, map[string]string{m1.MemberID: "x"}); s.ErrorCode != 0 {
		t.Fatalf("sync: %v", kerr.ErrorForCode(s.ErrorCode))
	}
	if resp := commit(a, g, m1.Generation, m1.MemberID, map[int32]int64{0: 42}); resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %+v", resp.Topics[0].Partitions[0])
	}

	// A second member's join waits for the rebalance; then a loses p.
	m2w := join(a, g, "", 3)
	if now(m2w) != nil {
		t.Fatal("second join answered before the rebalance completed")
	}
	waitLoaded(t, a.SetLeadership(3, map[int32]int32{other: 5}))
	if r := now(m2w); r == nil || r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("waiting join after losing the partition: %+v", r)
	}
	if code := heartbeat(a, g, m1.MemberID, m1.Generation); code != kerr.NotCoordinator.Code {
		t.Fatalf("heartbeat after losing the partition: %v", kerr.ErrorForCode(code))
	}
	for _, lg := range a.ListGroups(kmsg.NewPtrListGroupsRequest()).Groups {
		if lg.Group == g {
			t.Fatal("a group of an unloaded partition is listed")
		}
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{g}
	if code := a.DescribeGroups(dg).Groups[0].ErrorCode; code != kerr.NotCoordinator.Code {
		t.Fatalf("describe after losing the partition: %v", kerr.ErrorForCode(code))
	}

	// b becomes leader; its load waits on the gate meanwhile.
	gl := &gatedLog{memLog: mem, gate: make(chan struct{})}
	b := newBareCoordinator(t, gl, clock)
	loaded := b.SetLeadership(3, map[int32]int32{p: 8})
	if code := heartbeat(b, g, m1.MemberID, m1.Generation); code != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("heartbeat while loading: %v", kerr.ErrorForCode(code))
	}
	if code := b.ListGroups(kmsg.NewPtrListGroupsRequest()).ErrorCode; code != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("list groups while loading: %v", kerr.ErrorForCode(code))
	}
	close(gl.gate)
	waitLoaded(t, loaded)
	if code := heartbeat(b, g, m1.MemberID, m1.Generation); code != 0 {
		t.Fatalf("heartbeat at the new coordinator: %v", kerr.ErrorForCode(code))
	}
	if got := fetch(b, g); got[0] != 42 {
		t.Fatalf("committed offsets at the new coordinator: %v", got)
	}

	// A new leader epoch reloads the partition (another leader may have
	// written in between).
	commit(b, g, m1.Generation, m1.MemberID, map[int32]int64{0: 43})
	waitLoaded(t, b.SetLeadership(3, map[int32]int32{p: 9}))
	if got := fetch(b, g); got[0] != 43 {
		t.Fatalf("offsets after reload: %v", got)
	}
}
