package controller

// Data-driven tests of the policies: every file under testdata/ is a
// sequence of directives (github.com/cockroachdb/datadriven), each followed
// by "----" and the expected output. A file keeps a small cluster: the
// brokers, one current partition, a liveness view, and a clock. Policy
// directives apply to the current partition and print the result, which
// becomes the current partition, so a file reads as a story (start a
// reassignment, bring a replica in sync, watch it switch).
//
// `go test ./internal/controller -update` rewrites the expected output;
// review the diff.
//
// Directives:
//
//	brokers live=(1,2,3) fenced=(4) racks=(1:a,2:b)    set the brokers
//	partition replicas=(1,2,3) isr=(1,2) leader=1 leader-epoch=0 partition-epoch=0 [adding=(..) removing=(..) offline=(..)]
//	offline id=1 / online id=1 a replica's log went offline / is back after repair
//	fence id=2                 the broker is fenced (also in the broker view)
//	unfence id=2               the broker is live again
//	elect [unclean]            leader election
//	preferred-imbalanced       does the preferred leader balance elect here?
//	alter-isr isr=(1,2) [leader=1 leader-epoch=N partition-epoch=N]   (defaults: the current record's)
//	reassign target=(4,5,6) [keep-rf]
//	cancel-reassignment
//	place n=3 rf=2 [first=0] [start=0] [max=N hosted=(1:5,2:3)]     over the live brokers (with racks); max: then CheckCapacity
//	plan brokers=(1,2,3) [racks=(1:a)] [balance]   input: one "topic partition: replicas" per line
//	liveness session=1s        a new liveness view at time 0
//	heartbeat id=1 at=100ms
//	tick at=1s [follower] registered=(1,2,3)
//	expired id=1 at=2s

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata/")

func TestMain(m *testing.M) {
	flag.Parse()
	if *update {
		// datadriven's own flag for the same thing.
		if err := flag.Set("rewrite", "true"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

// cluster is the broker view a test file builds.
type cluster struct {
	live, registered map[int32]bool
	racks            map[int32]string
}

func (c *cluster) Live(id int32) bool       { return c.live[id] }
func (c *cluster) Registered(id int32) bool { return c.registered[id] }

type env struct {
	c        *cluster
	p        Partition
	tp       TopicPartition
	liveness *Liveness
	origin   time.Time
}

func TestPolicies(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		e := &env{c: &cluster{live: map[int32]bool{}, registered: map[int32]bool{}, racks: map[int32]string{}},
			tp: TopicPartition{Topic: "t", Partition: 0}, origin: time.Unix(1_000_000, 0)}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return e.run(t, td)
		})
	})
}

func (e *env) run(t *testing.T, td *datadriven.TestData) string {
	switch td.Cmd {
	case "brokers":
		e.c.live, e.c.registered, e.c.racks = map[int32]bool{}, map[int32]bool{}, map[int32]string{}
		for _, id := range ids(t, td, "live") {
			e.c.live[id], e.c.registered[id] = true, true
		}
		for _, id := range ids(t, td, "fenced") {
			e.c.registered[id] = true
		}
		for _, v := range vals(td, "racks") {
			id, rack, _ := strings.Cut(v, ":")
			e.c.racks[atoi32(t, id)] = rack
		}
		return e.brokers()
	case "partition":
		e.p = Partition{Replicas: ids(t, td, "replicas"), ISR: ids(t, td, "isr"), Leader: intArg(t, td, "leader", -1),
			LeaderEpoch: intArg(t, td, "leader-epoch", 0), PartitionEpoch: intArg(t, td, "partition-epoch", 0),
			AddingReplicas: ids(t, td, "adding"), RemovingReplicas: ids(t, td, "removing"), Offline: ids(t, td, "offline")}
		return show(e.p)
	case "fence":
		id := intArg(t, td, "id", -1)
		e.c.live[id] = false
		np, changed := Fence(e.p, id, e.c)
		return e.result(np, changed, nil)
	case "unfence":
		id := intArg(t, td, "id", -1)
		e.c.live[id], e.c.registered[id] = true, true
		np, changed := Unfence(e.p, id, e.c)
		return e.result(np, changed, nil)
	case "offline", "online":
		np, changed, err := SetReplicaOffline(e.tp, e.p, intArg(t, td, "id", -1), td.Cmd == "online", e.c)
		return e.result(np, changed, err)
	case "elect":
		np, err := Elect(e.p, td.HasArg("unclean"), e.c)
		return e.result(np, err == nil, err)
	case "preferred-imbalanced":
		return fmt.Sprint(PreferredImbalanced(e.p, e.c))
	case "alter-isr":
		c := ISRChange{Leader: intArg(t, td, "leader", e.p.Leader), LeaderEpoch: intArg(t, td, "leader-epoch", e.p.LeaderEpoch),
			PartitionEpoch: intArg(t, td, "partition-epoch", e.p.PartitionEpoch), ISR: ids(t, td, "isr")}
		np, err := AlterISR(e.tp, e.p, c, e.c)
		return e.result(np, err == nil, err)
	case "reassign":
		np, changed, err := Reassign(e.tp, e.p, ids(t, td, "target"), td.HasArg("keep-rf"), e.c)
		return e.result(np, changed, err)
	case "cancel-reassignment":
		np, err := CancelReassignment(e.tp, e.p, e.c)
		return e.result(np, err == nil, err)
	case "place":
		var live []PlacementBroker
		for id := range e.c.live {
			if e.c.live[id] {
				live = append(live, PlacementBroker{ID: id, Rack: e.c.racks[id]})
			}
		}
		slices.SortFunc(live, func(a, b PlacementBroker) int { return int(a.ID - b.ID) })
		parts, err := Place(live, intArg(t, td, "n", 0), int(intArg(t, td, "rf", 0)), intArg(t, td, "first", 0), int(intArg(t, td, "start", 0)))
		if err == nil && td.HasArg("max") {
			hosted := map[int32]int{}
			for _, v := range vals(td, "hosted") {
				id, n, _ := strings.Cut(v, ":")
				hosted[atoi32(t, id)] = int(atoi32(t, n))
			}
			err = CheckCapacity(hosted, parts, int(intArg(t, td, "max", 0)))
		}
		if err != nil {
			return "error: " + err.Error()
		}
		var b strings.Builder
		for i, p := range parts {
			fmt.Fprintf(&b, "%d: %s\n", i, show(p))
		}
		return b.String()
	case "plan":
		return e.plan(t, td)
	case "liveness":
		e.liveness = NewLiveness(duration(t, td, "session"), e.origin)
		return "ok"
	case "heartbeat":
		e.liveness.Heartbeat(intArg(t, td, "id", -1), e.at(t, td))
		return "ok"
	case "tick":
		tick := e.liveness.Begin(e.at(t, td), !td.HasArg("follower"), ids(t, td, "registered"))
		return fmt.Sprintf("act=%v became-leader=%v stalled=%v", tick.Act, tick.BecameLeader, tick.Stalled)
	case "restart":
		e.liveness.Restart(e.at(t, td))
		return "ok"
	case "end-tick":
		e.liveness.End(e.at(t, td))
		return "ok"
	case "expired":
		silent, expired := e.liveness.Expired(intArg(t, td, "id", -1), e.at(t, td))
		return fmt.Sprintf("silent=%v expired=%v", silent, expired)
	}
	t.Fatalf("%s: unknown directive %q", td.Pos, td.Cmd)
	return ""
}

// result prints a policy's outcome and makes its partition current.
func (e *env) result(np Partition, changed bool, err error) string {
	if err != nil {
		if !slices.Equal(np.Replicas, e.p.Replicas) || np.PartitionEpoch != e.p.PartitionEpoch {
			return "BUG: a refusal changed the partition"
		}
		if name := sentinelName(err); name != err.Error() {
			return "refused: " + err.Error() + " (" + name + ")"
		}
		return "refused: " + err.Error()
	}
	if !changed {
		return "unchanged"
	}
	e.p = np
	return show(np)
}

func sentinelName(err error) string {
	for _, s := range Sentinels {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "not a sentinel"
}

func (e *env) brokers() string {
	var out []string
	for id := range e.c.registered {
		s := strconv.Itoa(int(id))
		if !e.c.live[id] {
			s += "(fenced)"
		}
		if r := e.c.racks[id]; r != "" {
			s += "@" + r
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func (e *env) plan(t *testing.T, td *datadriven.TestData) string {
	o := PlanOptions{Brokers: ids(t, td, "brokers"), Racks: map[int32]string{}, Balance: td.HasArg("balance")}
	for _, v := range vals(td, "racks") {
		id, rack, _ := strings.Cut(v, ":")
		o.Racks[atoi32(t, id)] = rack
	}
	var current []Assignment
	for _, line := range strings.Split(strings.TrimSpace(td.Input), "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		tp, replicas, ok := strings.Cut(line, ":")
		topic, part, ok2 := strings.Cut(strings.TrimSpace(tp), " ")
		if !ok || !ok2 {
			t.Fatalf("%s: bad assignment line %q (want \"topic partition: replicas\")", td.Pos, line)
		}
		a := Assignment{Topic: topic, Partition: atoi32(t, part)}
		for _, f := range strings.Fields(replicas) {
			a.Replicas = append(a.Replicas, atoi32(t, f))
		}
		current = append(current, a)
	}
	moves, err := PlanReassignment(current, o)
	if err != nil {
		return "error: " + err.Error()
	}
	if len(moves) == 0 {
		return "no moves"
	}
	var b strings.Builder
	for _, m := range moves {
		fmt.Fprintf(&b, "%s %d: %v -> %v\n", m.Topic, m.Partition, m.From, m.To)
	}
	return b.String()
}

func show(p Partition) string {
	s := fmt.Sprintf("replicas=%v isr=%v leader=%d leader-epoch=%d partition-epoch=%d", p.Replicas, p.ISR, p.Leader, p.LeaderEpoch, p.PartitionEpoch)
	if len(p.AddingReplicas) > 0 {
		s += fmt.Sprintf(" adding=%v", p.AddingReplicas)
	}
	if len(p.RemovingReplicas) > 0 {
		s += fmt.Sprintf(" removing=%v", p.RemovingReplicas)
	}
	if len(p.Offline) > 0 {
		s += fmt.Sprintf(" offline=%v", p.Offline)
	}
	return s
}

func vals(td *datadriven.TestData, key string) []string {
	for _, a := range td.CmdArgs {
		if a.Key == key {
			return a.Vals
		}
	}
	return nil
}

func ids(t *testing.T, td *datadriven.TestData, key string) []int32 {
	var out []int32
	for _, v := range vals(td, key) {
		if v != "" {
			out = append(out, atoi32(t, v))
		}
	}
	return out
}

func intArg(t *testing.T, td *datadriven.TestData, key string, def int32) int32 {
	v := vals(td, key)
	if len(v) == 0 {
		return def
	}
	return atoi32(t, v[0])
}

func atoi32(t *testing.T, s string) int32 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return int32(n)
}

func duration(t *testing.T, td *datadriven.TestData, key string) time.Duration {
	v := vals(td, key)
	if len(v) == 0 {
		t.Fatalf("%s: %s= is required", td.Pos, key)
	}
	d, err := time.ParseDuration(v[0])
	if err != nil {
		t.Fatalf("%s: %v", td.Pos, err)
	}
	return d
}

// at is the time at= after the file's origin.
func (e *env) at(t *testing.T, td *datadriven.TestData) time.Time {
	return e.origin.Add(duration(t, td, "at"))
}
