package tests

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupSettings keep group tests fast: no initial rebalance delay, short
// session timeouts allowed, few offsets partitions.
func groupSettings() map[string]string {
	return map[string]string{
		"group.initial.rebalance.delay.ms": "0",
		"group.min.session.timeout.ms":     "100",
		"offsets.topic.num.partitions":     "5",
	}
}

// killableDialer lets a test cut a client off the network at once, so it
// dies without sending LeaveGroup (as a crashed process would).
type killableDialer struct {
	mu     sync.Mutex
	conns  []net.Conn
	killed bool
}

func (d *killableDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.killed {
		return nil, errors.New("killed")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *killableDialer) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.killed = true
	for _, c := range d.conns {
		c.Close()
	}
}

// ownership tracks which live member owns each partition, and fails the
// test if a partition is assigned to a member while another live member
// still owns it.
type ownership struct {
	t     testing.TB
	mu    sync.Mutex
	owner map[int32]string
	dead  map[string]bool
	// seen[offset] = member -> generation, to find records processed twice
	// by two members of one generation.
	seen map[string]map[string]int32
}

func newOwnership(t testing.TB) *ownership {
	return &ownership{t: t, owner: map[int32]string{}, dead: map[string]bool{}, seen: map[string]map[string]int32{}}
}

func (o *ownership) assigned(who string, ps []int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range ps {
		if cur, ok := o.owner[p]; ok && cur != who && !o.dead[cur] {
			o.t.Errorf("partition %d assigned to %s while live member %s owns it", p, who, cur)
		}
		o.owner[p] = who
	}
}

func (o *ownership) revoked(who string, ps []int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range ps {
		if o.owner[p] == who {
			delete(o.owner, p)
		}
	}
}

func (o *ownership) kill(who string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dead[who] = true
}

func (o *ownership) processed(who string, gen int32, r *kgo.Record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := fmt.Sprintf("%d/%d", r.Partition, r.Offset)
	m := o.seen[k]
	if m == nil {
		m = map[string]int32{}
		o.seen[k] = m
	}
	for other, g := range m {
		if other != who && g == gen && !o.dead[other] {
			o.t.Errorf("record %s processed by %s and %s in generation %d", k, other, who, gen)
		}
	}
	m[who] = gen
}

func (o *ownership) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen)
}

// member is one kgo group consumer polling in the background.
type member struct {
	name   string
	cl     *kgo.Client
	dialer *killableDialer
	mu     sync.Mutex
	parts  map[int32]bool
	done   chan struct{}
}

func startMember(t *testing.T, addr, group, topic, name string, own *ownership, opts ...kgo.Opt) *member {
	m := &member{name: name, dialer: &killableDialer{}, parts: map[int32]bool{}, done: make(chan struct{})}
	base := []kgo.Opt{
		kgo.SeedBrokers(addr), kgo.Dialer(m.dialer.dial), kgo.ClientID(name),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// A session of 4 s: the ownership check below holds only while no
		// live member's session expires, and on a loaded 2-core machine a
		// process can stall past 1.5 s (both members of a cooperative
		// group then expired together and swapped partitions, which the
		// check reported as a double assignment). A killed member is still
		// noticed well within waitSplit's 20 s.
		kgo.SessionTimeout(4 * time.Second), kgo.HeartbeatInterval(200 * time.Millisecond),
		kgo.RebalanceTimeout(5 * time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			own.assigned(name, a[topic])
			m.mu.Lock()
			for _, p := range a[topic] {
				m.parts[p] = true
			}
			m.mu.Unlock()
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, r map[string][]int32) {
			cl.CommitMarkedOffsets(ctx)
			own.revoked(name, r[topic])
			m.mu.Lock()
			for _, p := range r[topic] {
				delete(m.parts, p)
			}
			m.mu.Unlock()
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) {
			own.revoked(name, l[topic])
			m.mu.Lock()
			for _, p := range l[topic] {
				delete(m.parts, p)
			}
			m.mu.Unlock()
		}),
		kgo.AutoCommitMarks(), kgo.AutoCommitInterval(200 * time.Millisecond),
		kgo.BlockRebalanceOnPoll(),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	go func() {
		defer close(m.done)
		for {
			fs := cl.PollFetches(context.Background())
			if fs.IsClientClosed() {
				return
			}
			_, gen := cl.GroupMetadata()
			fs.EachRecord(func(r *kgo.Record) {
				own.processed(name, gen, r)
				cl.MarkCommitRecords(r)
			})
			cl.AllowRebalance()
		}
	}()
	t.Cleanup(m.close)
	return m
}

func (m *member) close() {
	m.cl.Close()
	<-m.done
}

func (m *member) assigned() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int32
	for p := range m.parts {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// waitSplit waits until the live members own every partition of an n-way
// topic with the given sizes (sorted ascending), without overlap.
func waitSplit(t *testing.T, n int, want []int, ms ...*member) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got []int
	for time.Now().Before(deadline) {
		got = got[:0]
		all := map[int32]bool{}
		total := 0
		for _, m := range ms {
			a := m.assigned()
			got = append(got, len(a))
			total += len(a)
			for _, p := range a {
				all[p] = true
			}
		}
		sort.Ints(got)
		if fmt.Sprint(got) == fmt.Sprint(want) && len(all) == n && total == n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("assignment sizes %v, want %v", got, want)
}

func produceN(t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: topic, Partition: int32(i % 3), Value: []byte(fmt.Sprint(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKgoGroupSeedExample is the seed's example: 3 partitions, 2 consumers
// get 1 and 2; a third gets 1 each; a consumer killed without leaving loses
// its partitions after the session timeout; no record is processed by two
// live members of one generation. Run with eager and cooperative balancers.
func TestKgoGroupSeedExample(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"range-eager", kgo.RangeBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, "", groupSettings())
			ctx := context.Background()
			adm := newAdmin(t, n.Addr())
			topic := "seed-" + tc.name
			if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			prod := newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			produceN(t, prod, topic, 30)
			own := newOwnership(t)
			bal := kgo.Balancers(tc.balancer)
			a := startMember(t, n.Addr(), "g", topic, "a", own, bal)
			waitSplit(t, 3, []int{3}, a)
			b := startMember(t, n.Addr(), "g", topic, "b", own, bal)
			waitSplit(t, 3, []int{1, 2}, a, b)
			c := startMember(t, n.Addr(), "g", topic, "c", own, bal)
			waitSplit(t, 3, []int{1, 1, 1}, a, b, c)
			produceN(t, prod, topic, 30)

			// Kill c: it cannot reach the broker, so it never leaves.
			own.kill("c")
			c.dialer.kill()
			go c.cl.Close()
			waitSplit(t, 3, []int{1, 2}, a, b)
			produceN(t, prod, topic, 30)
			deadline := time.Now().Add(20 * time.Second)
			for own.count() < 90 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if got := own.count(); got != 90 {
				t.Fatalf("processed %d distinct records, want 90", got)
			}
			d, err := adm.DescribeGroups(ctx, "g")
			if err != nil {
				t.Fatal(err)
			}
			if g := d["g"]; g.State != "Stable" || len(g.Members) != 2 {
				t.Fatalf("group after kill: state %s, %d members", g.State, len(g.Members))
			}
		})
	}
}

// TestGroupOffsetsSurviveRestart commits offsets, restarts the broker on the
// same data dir and checks that committed offsets, lag and the resume
// position are exactly what they were.
func TestGroupOffsetsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	settings := groupSettings()
	delete(settings, "offsets.topic.num.partitions") // Kafka's default, 50
	n := startNode(t, dir, settings)
	ctx := context.Background()
	adm := newAdmin(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	prod := newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceN(t, prod, "orders", 60)

	cons := newClient(t, n.Addr(), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.SessionTimeout(1500*time.Millisecond), kgo.HeartbeatInterval(100*time.Millisecond))
	got := 0
	for got < 30 {
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		fs := cons.PollRecords(pctx, 30-got)
		cancel()
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
		if err := cons.CommitRecords(ctx, fs.Records()...); err != nil {
			t.Fatal(err)
		}
	}
	before, err := adm.FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	cons.Close()
	n.Close()

	n2 := startNode(t, dir, settings)
	adm2 := newAdmin(t, n2.Addr())
	after, err := adm2.FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	before.Each(func(o kadm.OffsetResponse) {
		a, ok := after.Lookup(o.Topic, o.Partition)
		if !ok || a.At != o.At {
			t.Errorf("%s/%d: committed %d before restart, %v after", o.Topic, o.Partition, o.At, a.At)
		}
		total += o.At
	})
	if total != 30 {
		t.Fatalf("committed offsets sum to %d, want 30", total)
	}
	lag, err := adm2.Lag(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if l := lag["billing"].Lag.Total(); l != 30 {
		t.Fatalf("lag after restart %d, want 30", l)
	}

	// A restarted consumer resumes exactly at the committed offsets.
	cons2 := newClient(t, n2.Addr(), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.SessionTimeout(1500*time.Millisecond), kgo.HeartbeatInterval(100*time.Millisecond))
	expectResumeAtCommitted(ctx, t, cons2, 30, before)
}

// expectResumeAtCommitted reads n records of "orders" with cl and checks that
// each partition's first record is at the offset committed in before.
func expectResumeAtCommitted(ctx context.Context, t *testing.T, cl *kgo.Client, n int, before kadm.OffsetResponses) {
	t.Helper()
	first := map[int32]int64{}
	seen := 0
	for seen < n {
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if _, ok := first[r.Partition]; !ok {
				first[r.Partition] = r.Offset
			}
			seen++
		})
	}
	if seen != n {
		t.Fatalf("resumed consumer read %d records, want %d", seen, n)
	}
	for p, off := range first {
		o, _ := before.Lookup("orders", p)
		if off != o.At {
			t.Errorf("partition %d resumed at %d, committed %d", p, off, o.At)
		}
	}
}
