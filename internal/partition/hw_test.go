package partition

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/record"
	"github.com/tributary/tributary/internal/storage"
)

var update = flag.Bool("update", false, "rewrite testdata/hw/*.txt with the actual output")

// TestHighWatermarkEvents replays testdata/hw/*.txt (and idempotent
// appends, whose retries the acks=all waiters see too): each file is a sequence
// of events on one replica (broker 1), each followed by "----" and the
// expected state after it: the high watermark, the log end, and every
// acks=all waiter and fetch long poll registered so far. A waiter line says
// whether its wake-up channel fired and what it would answer now; a waiter
// whose answer changed without a wake-up is printed "STUCK" (it would sit
// until its request timeout), which no expected output contains.
//
// Events:
//
//	role leader=L epoch=E pepoch=P replicas=1,2,3 isr=1,2   SetRole (metadata change)
//	append n=N [pid=P epoch=E seq=S] [minisr=M]            leader append of N records (idempotent with pid)
//	replicate n=N                                          follower append of N records at its log end
//	fetch replica=R offset=O                               follower R fetched at O
//	lagging maxlag=D                                       LaggingISR (the leader's ISR shrink check)
//	advance d=D                                            the clock moves
//	truncate offset=O                                      follower truncation
//	reset offset=O                                         follower log reset
//	follower-hw hw=H                                       follower learns the leader's high watermark
//	wait name=A end=O                                      an acks=all produce waits for O (current epoch)
//	watch name=F                                           a fetch long poll starts watching
//	delete-records offset=O                                DeleteRecords (-1: the high watermark); prints the log start
//	follow-start offset=O                                  a follower learns the leader's log start; prints the log start
//
// After every event the published snapshot (what Fetch reads without the
// mutex) must equal the state under the mutex.
//
// Run with -update to rewrite the files after a deliberate change.
func TestHighWatermarkEvents(t *testing.T) {
	files, err := filepath.Glob("testdata/hw/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runHWFile(t, f) })
	}
}

type hwWaiter struct {
	name  string
	end   int64
	epoch int32
	ch    <-chan struct{}
	done  bool
	fresh bool // registered by the current command: WaitCommitted checks before it waits
}

type hwWatch struct {
	name string
	ch   chan struct{}
}

type hwHarness struct {
	t        *testing.T
	p        *Partition
	now      time.Time
	waiters  []*hwWaiter
	watches  []*hwWatch
	expired  chan time.Time
	producer int64
	guards   map[int64]*VerificationGuard // txn_test.go: verify
}

func runHWFile(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := storage.Open(filepath.Join(t.TempDir(), "hw-0"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Open("hw", 0, 1, l)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	h := &hwHarness{t: t, p: p, now: time.Unix(1_700_000_000, 0), expired: make(chan time.Time)}
	close(h.expired)

	var out bytes.Buffer
	cases := parseHWCases(t, string(data))
	for _, c := range cases {
		got := h.run(c.cmd)
		if !*update && got != c.want {
			t.Errorf("%s:%d: %s\ngot:\n%s\nwant:\n%s", path, c.line, c.cmd, got, c.want)
		}
		for _, l := range c.comments {
			out.WriteString(l + "\n")
		}
		fmt.Fprintf(&out, "%s\n----\n%s\n", c.cmd, got)
	}
	if *update {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type hwCase struct {
	comments []string
	cmd      string
	want     string
	line     int
}

// parseHWCases reads "cmd\n----\nexpected lines\n\n" blocks; lines
// starting with # before a command are kept as comments.
func parseHWCases(t *testing.T, s string) []hwCase {
	lines := strings.Split(s, "\n")
	var cases []hwCase
	var c hwCase
	for i := 0; i < len(lines); i++ {
		ln := lines[i]
		switch {
		case strings.TrimSpace(ln) == "" && c.cmd == "":
			if len(c.comments) > 0 {
				c.comments = append(c.comments, "")
			}
		case strings.HasPrefix(ln, "#") && c.cmd == "":
			c.comments = append(c.comments, ln)
		default:
			c.cmd, c.line = ln, i+1
			if i+1 >= len(lines) || lines[i+1] != "----" {
				t.Fatalf("line %d: %q must be followed by ----", i+1, ln)
			}
			i += 2
			var want []string
			for ; i < len(lines) && lines[i] != ""; i++ {
				want = append(want, lines[i])
			}
			c.want = strings.Join(want, "\n") + "\n"
			cases = append(cases, c)
			c = hwCase{}
		}
	}
	return cases
}

func (h *hwHarness) run(cmd string) string {
	fields := strings.Fields(cmd)
	args := map[string]string{}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			h.t.Fatalf("%s: bad argument %q", cmd, f)
		}
		args[k] = v
	}
	var out strings.Builder
	p := h.p
	switch fields[0] {
	case "role":
		r := Role{Leader: h.i32(args["leader"]), LeaderEpoch: h.i32(args["epoch"]), PartitionEpoch: h.i32(args["pepoch"]),
			Replicas: h.ids(args["replicas"]), ISR: h.ids(args["isr"])}
		fmt.Fprintf(&out, "changed=%v\n", p.SetRole(r, h.now))
	case "append":
		b := h.batch(int(h.i32(args["n"])), 0)
		if pid, ok := args["pid"]; ok {
			b = h.idempotentBatch(int(h.i32(args["n"])), h.i64(pid), int16(h.i32(args["epoch"])), h.i32(args["seq"]))
		}
		opts := AppendOptions{LogAppendTime: -1}
		if m, ok := args["minisr"]; ok {
			opts.MinISR = int(h.i32(m))
		}
		res, err := p.Append(b, opts)
		switch {
		case err != nil:
			fmt.Fprintf(&out, "error: %v\n", err)
		case res.Duplicate:
			fmt.Fprintf(&out, "duplicate of base=%d end=%d\n", res.BaseOffset, res.End)
		default:
			fmt.Fprintf(&out, "base=%d end=%d\n", res.BaseOffset, res.End)
		}
	case "replicate":
		b := h.batch(int(h.i32(args["n"])), p.Snapshot().LogEndOffset)
		b.SetPartitionLeaderEpoch(p.LeaderEpoch())
		if _, err := p.AppendReplica(b); err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
		}
	case "fetch":
		join, _, err := p.FollowerFetched(h.i32(args["replica"]), h.i64(args["offset"]), h.now, true)
		if err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
		} else {
			fmt.Fprintf(&out, "join=%v\n", join)
		}
	case "end-expansion":
		// The refusal of a change proposed against pepoch (default: the
		// current role's).
		pe := p.Role().PartitionEpoch
		if v, ok := args["pepoch"]; ok {
			pe = h.i32(v)
		}
		p.EndISRExpansion(pe)
	case "lagging":
		d, err := time.ParseDuration(args["maxlag"])
		if err != nil {
			h.t.Fatal(err)
		}
		fmt.Fprintf(&out, "lagging=%v\n", p.LaggingISR(h.now, d))
	case "advance":
		d, err := time.ParseDuration(args["d"])
		if err != nil {
			h.t.Fatal(err)
		}
		h.now = h.now.Add(d)
	case "truncate":
		if err := p.TruncateTo(h.i64(args["offset"])); err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
		}
	case "reset":
		if err := p.ResetTo(h.i64(args["offset"])); err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
		}
	case "follower-hw":
		p.SetFollowerHW(h.i64(args["hw"]))
	case "wait":
		h.waiters = append(h.waiters, &hwWaiter{name: args["name"], end: h.i64(args["end"]), epoch: p.LeaderEpoch(), ch: p.hwWait(), fresh: true})
	case "watch":
		w := &hwWatch{name: args["name"], ch: make(chan struct{}, 1)}
		p.Watch(w.ch)
		h.watches = append(h.watches, w)
	case "delete-records":
		lw, err := p.DeleteRecords(h.i64(args["offset"]))
		if err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
		} else {
			fmt.Fprintf(&out, "low_watermark=%d\n", lw)
		}
		fmt.Fprintf(&out, "start=%d\n", p.Snapshot().LogStartOffset)
	case "follow-start":
		if err := p.FollowLogStart(h.i64(args["offset"])); err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
		}
		fmt.Fprintf(&out, "start=%d\n", p.Snapshot().LogStartOffset)
	default:
		h.t.Fatalf("unknown command %q", cmd)
	}
	h.checkPublished(cmd)
	fmt.Fprintf(&out, "hw=%d leo=%d\n", p.HighWatermark(), p.Snapshot().LogEndOffset)
	for _, w := range h.waiters {
		if w.done {
			continue
		}
		woken := closed(w.ch)
		if woken {
			// As WaitCommitted does: take the next channel before reading.
			w.ch = p.hwWait()
		}
		ok, err := p.WaitCommitted(w.end, w.epoch, h.expired)
		state := "waiting"
		switch {
		case err != nil:
			state = "answered: " + err.Error()
		case ok:
			state = "answered: committed"
		}
		w.done = state != "waiting"
		fresh := w.fresh
		w.fresh = false
		switch {
		case fresh:
			fmt.Fprintf(&out, "produce %s: %s\n", w.name, state)
		case w.done && !woken:
			fmt.Fprintf(&out, "produce %s: STUCK (%s without a wake-up)\n", w.name, state)
		case woken:
			fmt.Fprintf(&out, "produce %s: woken, %s\n", w.name, state)
		default:
			fmt.Fprintf(&out, "produce %s: %s\n", w.name, state)
		}
	}
	for _, w := range h.watches {
		select {
		case <-w.ch:
			fmt.Fprintf(&out, "fetch %s: woken\n", w.name)
		default:
			fmt.Fprintf(&out, "fetch %s: idle\n", w.name)
		}
	}
	return out.String()
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (h *hwHarness) batch(n int, base int64) record.Batch {
	recs := make([]kmsg.Record, n)
	for i := range recs {
		recs[i] = kmsg.Record{OffsetDelta: int32(i), Value: []byte("v")}
	}
	b, err := record.Build(record.Header{BaseOffset: base, LastOffsetDelta: int32(n - 1), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// idempotentBatch is a batch of n records from producer pid at epoch,
// starting at sequence seq.
func (h *hwHarness) idempotentBatch(n int, pid int64, epoch int16, seq int32) record.Batch {
	recs := make([]kmsg.Record, n)
	for i := range recs {
		recs[i] = kmsg.Record{OffsetDelta: int32(i), Value: []byte("v")}
	}
	b, err := record.Build(record.Header{LastOffsetDelta: int32(n - 1), ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}, recs)
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

func (h *hwHarness) i32(s string) int32 { return int32(h.i64(s)) }

func (h *hwHarness) i64(s string) int64 {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		h.t.Fatalf("bad number %q", s)
	}
	return v
}

func (h *hwHarness) ids(s string) []int32 {
	var out []int32
	for _, f := range strings.Split(s, ",") {
		if f != "" {
			out = append(out, h.i32(f))
		}
	}
	return slices.Clip(out)
}

// openLeader opens a partition led by this broker (1) under epoch 1 with
// replicas and isr, closed at the end of the test.
func openLeader(t *testing.T, replicas, isr []int32) (*Partition, *hwHarness, time.Time) {
	t.Helper()
	l, err := storage.Open(filepath.Join(t.TempDir(), "hw-0"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Open("hw", 0, 1, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	now := time.Now()
	p.SetRole(Role{Leader: 1, LeaderEpoch: 1, Replicas: replicas, ISR: isr}, now)
	return p, &hwHarness{t: t, p: p}, now
}

// TestISRShrinkAnswersBlockedProduce is the end of the story the data-driven
// cases tell step by step: a produce blocked in WaitCommitted on a follower
// that went silent is answered when the ISR change arrives, long before its
// own timeout.
func TestISRShrinkAnswersBlockedProduce(t *testing.T) {
	p, h, now := openLeader(t, []int32{1, 2, 3}, []int32{1, 2, 3})
	res, err := p.Append(h.batch(3, 0), AppendOptions{LogAppendTime: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.FollowerFetched(2, res.End, now, true); err != nil {
		t.Fatal(err)
	}
	answered := make(chan bool, 1)
	timeout := time.NewTimer(time.Hour) // the request timeout, never reached
	defer timeout.Stop()
	go func() {
		ok, err := p.WaitCommitted(res.End, res.Epoch, timeout.C)
		answered <- ok && err == nil
	}()
	p.SetRole(Role{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}}, now)
	select {
	case ok := <-answered:
		if !ok {
			t.Fatal("produce not committed after the ISR shrink")
		}
	case <-time.After(time.Minute):
		t.Fatal("produce still waiting a minute after the ISR shrink")
	}
}

// checkPublished fails the test when the snapshot readers take without the
// mutex differs from the state under it: a change that did not publish.
func (h *hwHarness) checkPublished(cmd string) {
	p := h.p
	p.mu.Lock()
	want := pubState{leader: p.role.Leader, leaderEpoch: p.role.LeaderEpoch, hw: p.hw, lso: p.lastStableOffset()}
	p.mu.Unlock()
	if got := p.pub.load(); got != want {
		h.t.Errorf("after %q: published %+v, state under mu %+v", cmd, got, want)
	}
	s := p.Snapshot()
	if s.LogEndOffset != p.log.EndOffset() || s.LogStartOffset != p.log.StartOffset() || s.IsLeader != (want.leader == 1) {
		h.t.Errorf("after %q: snapshot %+v disagrees with the log", cmd, s)
	}
}

// TestStaleFollowerWritesRefused: a follower fetcher's append, truncation
// or high watermark made for a leader epoch the replica no longer follows
// changes nothing. A fetch response from the old leader appended after the
// replica had truncated against the new one kept the old leader's
// divergent records, and the new leader, told the replica's log end by its
// next fetch, counted them as copies of its own (acknowledged records lost
// when that replica led next: TestCloudLifecycle's rolling restart).
func TestStaleFollowerWritesRefused(t *testing.T) {
	l, err := storage.Open(filepath.Join(t.TempDir(), "hw-0"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Open("hw", 0, 3, l)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	h := &hwHarness{t: t, p: p}
	now := time.Now()
	p.SetRole(Role{Leader: 1, LeaderEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}}, now)
	b := h.batch(2, 0)
	b.SetPartitionLeaderEpoch(1)
	if _, err := p.AppendReplicaAt(1, b); err != nil {
		t.Fatal(err)
	}
	// Broker 2 leads under epoch 2; a response of broker 1's (epoch 1)
	// arrives after that.
	p.SetRole(Role{Leader: 2, LeaderEpoch: 2, Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}}, now)
	stale := h.batch(3, 2)
	stale.SetPartitionLeaderEpoch(1)
	if end, err := p.AppendReplicaAt(1, stale); !errors.Is(err, ErrNotFollowing) || end != 2 {
		t.Fatalf("stale append: end %d, %v; want 2, %v", end, err, ErrNotFollowing)
	}
	p.SetFollowerHWAt(1, 2)
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d after a stale leader's, want 0", hw)
	}
	if err := p.TruncateToAt(1, 0); !errors.Is(err, ErrNotFollowing) {
		t.Fatalf("stale truncation: %v, want %v", err, ErrNotFollowing)
	}
	// Under the current epoch the follower writes as before.
	cur := h.batch(1, 2)
	cur.SetPartitionLeaderEpoch(2)
	if end, err := p.AppendReplicaAt(2, cur); err != nil || end != 3 {
		t.Fatalf("append under the current epoch: end %d, %v; want 3", end, err)
	}
	// Elected itself (epoch 3): no follower write of epoch 2 touches its log.
	p.SetRole(Role{Leader: 3, LeaderEpoch: 3, Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}}, now)
	if err := p.TruncateToAt(2, 2); !errors.Is(err, ErrNotFollowing) || p.Snapshot().LogEndOffset != 3 {
		t.Fatalf("truncation of a leader: %v, log end %d; want %v, 3", err, p.Snapshot().LogEndOffset, ErrNotFollowing)
	}
}

// TestFollowerRefetch: a follower asking again for the offset it was just
// sent records from is a refetch; asking at the log end again (a long
// poll recorded at each wake) or moving on is not.
func TestFollowerRefetch(t *testing.T) {
	p, h, now := openLeader(t, []int32{1, 2}, []int32{1, 2})
	fetch := func(offset int64) bool {
		t.Helper()
		_, refetch, err := p.FollowerFetched(2, offset, now, true)
		if err != nil {
			t.Fatal(err)
		}
		return refetch
	}
	if fetch(0) || fetch(0) {
		t.Fatal("a fetch at the log end, recorded again, counted as a refetch")
	}
	if _, err := p.Append(h.batch(3, 0), AppendOptions{LogAppendTime: -1}); err != nil {
		t.Fatal(err)
	}
	if fetch(0) {
		t.Fatal("the first fetch of new records counted as a refetch")
	}
	if !fetch(0) {
		t.Fatal("asking again for the records just sent is not a refetch")
	}
	if fetch(3) || fetch(3) {
		t.Fatal("moving on to the log end counted as a refetch")
	}
}
