package tests

// Fault tolerance of a cluster of real `trib broker` processes on loopback
// (issue 6): kill -9 of a partition leader under idempotent acks=all load,
// the under-replicated view, the restarted broker rejoining every ISR, a
// paused (SIGSTOP) broker being fenced and rejoining after SIGCONT, and
// controller failover. Every acknowledged record is checked with
// internal/checker. The harness here is shared with the chaos loop
// (chaos_cluster_test.go, build tag chaos).

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/checker"
)

// procSettings make failure detection fast.
var procSettings = []string{
	"broker.session.timeout.ms=1500",
	"broker.heartbeat.interval.ms=200",
	"replica.lag.time.max.ms=3000",
	"group.initial.rebalance.delay.ms=0",
}

// procNode is one `trib broker` process slot: its identity and data dir
// survive restarts.
type procNode struct {
	id      int32
	dir     string
	addr    string // Kafka listener
	ctl     string // controller (Raft) listener
	netns   string // network namespace it runs in ("": the test's own)
	logPath string

	mu      sync.Mutex // guards the fields below
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd exits
	started chan struct{} // closed when the "broker started" line is logged
	paused  bool
}

// procCluster runs n broker processes, all quorum voters.
type procCluster struct {
	t           testing.TB
	bin         string
	controllers string
	settings    []string // --set K=V for every broker
	nodes       []*procNode
	clientOpts  []kgo.Opt // added to every client (e.g. TLS and SASL)
}

// procOptions shape a process cluster.
type procOptions struct {
	settings []string // broker settings (--set); procSettings by default
	lab      *netLab  // run broker i in lab's namespace i (netns_test.go); nil: loopback
}

// startProcCluster starts n brokers on loopback with procSettings.
func startProcCluster(t testing.TB, n int) *procCluster {
	return startProcClusterWith(t, n, procOptions{settings: procSettings})
}

func startProcClusterWith(t testing.TB, n int, o procOptions) *procCluster {
	t.Helper()
	c := &procCluster{t: t, bin: tribBinary(t), settings: o.settings}
	var voters []string
	for i := 0; i < n; i++ {
		dir := t.TempDir()
		logDir := dir
		if d := os.Getenv("TRIB_TEST_LOG_DIR"); d != "" { // keep the broker logs
			logDir = d
		}
		nd := &procNode{id: int32(i + 1), dir: dir,
			logPath: filepath.Join(logDir, fmt.Sprintf("%s-broker-%d.log", strings.ReplaceAll(t.Name(), "/", "_"), i+1))}
		if o.lab != nil {
			nd.addr, nd.ctl, nd.netns = o.lab.ip(nd.id)+":9092", o.lab.ip(nd.id)+":9093", o.lab.ns(nd.id)
		} else {
			nd.addr, nd.ctl = freePort(t), freePort(t)
		}
		c.nodes = append(c.nodes, nd)
		voters = append(voters, fmt.Sprintf("%d@%s", nd.id, nd.ctl))
	}
	c.controllers = strings.Join(voters, ",")
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			c.kill9(nd.id)
		}
		if t.Failed() {
			for _, nd := range c.nodes {
				b, _ := os.ReadFile(nd.logPath)
				t.Logf("--- log of broker %d (tail) ---\n%s", nd.id, tail(string(b)))
			}
		}
	})
	for _, nd := range c.nodes {
		c.spawn(nd)
	}
	for _, nd := range c.nodes {
		c.waitStarted(nd.id)
	}
	return c
}

func (c *procCluster) node(id int32) *procNode { return c.nodes[id-1] }

func (c *procCluster) bootstrap() []string {
	var out []string
	for _, nd := range c.nodes {
		out = append(out, nd.addr)
	}
	return out
}

// spawn starts nd's process without waiting for it to serve.
func (c *procCluster) spawn(nd *procNode) {
	c.t.Helper()
	args := []string{"broker", "--node-id", fmt.Sprint(nd.id), "--listen", nd.addr,
		"--controllers", c.controllers, "--data-dir", nd.dir}
	if nd.ctl != "" {
		args = append(args, "--controller-listen", nd.ctl)
	} else { // a broker-only node: a Raft non-voter on a port it picks
		args = append(args, "--set", "process.roles=broker")
	}
	for _, s := range c.settings {
		args = append(args, "--set", s)
	}
	if lvl := os.Getenv("TRIB_TEST_LOG_LEVEL"); lvl != "" {
		args = append(args, "--log-level", lvl)
	}
	cmd := exec.Command(c.bin, args...)
	if nd.netns != "" {
		// ip netns exec execs the broker in place: the pid is the broker's,
		// so kill -9 and SIGSTOP reach it.
		cmd = exec.Command("ip", append([]string{"netns", "exec", nd.netns, c.bin}, args...)...)
	}
	logf, err := os.OpenFile(nd.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = logf, pw
	started, exited := make(chan struct{}), make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if !once && strings.Contains(line, `msg="broker started"`) {
				once = true
				close(started)
			}
		}
		io.Copy(io.Discard, pr)
	}()
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() {
		cmd.Wait()
		pw.Close()
		logf.Close()
		close(exited)
	}()
	nd.mu.Lock()
	nd.cmd, nd.started, nd.exited, nd.paused = cmd, started, exited, false
	nd.mu.Unlock()
}

func (c *procCluster) waitStarted(id int32) {
	c.t.Helper()
	nd := c.node(id)
	nd.mu.Lock()
	started, exited := nd.started, nd.exited
	nd.mu.Unlock()
	select {
	case <-started:
	case <-exited:
		c.t.Fatalf("broker %d exited before serving", id)
	case <-time.After(60 * time.Second):
		c.t.Fatalf("broker %d did not start within 60s", id)
	}
}

// restart starts a stopped broker on its data dir and waits until it serves.
func (c *procCluster) restart(id int32) {
	c.t.Helper()
	c.spawn(c.node(id))
	c.waitStarted(id)
}

func (c *procCluster) running(id int32) (*exec.Cmd, chan struct{}) {
	nd := c.node(id)
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil {
		return nil, nil
	}
	select {
	case <-nd.exited:
		return nil, nil
	default:
		return nd.cmd, nd.exited
	}
}

// kill9 SIGKILLs broker id (a crash) and waits for it to exit.
func (c *procCluster) kill9(id int32) {
	cmd, exited := c.running(id)
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// stop sends SIGTERM (controlled shutdown) and waits for the exit.
func (c *procCluster) stop(id int32) {
	c.t.Helper()
	cmd, exited := c.running(id)
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		c.t.Errorf("broker %d did not stop within 30s of SIGTERM", id)
		c.kill9(id)
	}
}

func (c *procCluster) pause(id int32) {
	if cmd, _ := c.running(id); cmd != nil {
		cmd.Process.Signal(syscall.SIGSTOP)
		nd := c.node(id)
		nd.mu.Lock()
		nd.paused = true
		nd.mu.Unlock()
	}
}

func (c *procCluster) resume(id int32) {
	if cmd, _ := c.running(id); cmd != nil {
		cmd.Process.Signal(syscall.SIGCONT)
		nd := c.node(id)
		nd.mu.Lock()
		nd.paused = false
		nd.mu.Unlock()
	}
}

// client returns a kgo client seeded with every broker, closed at the end.
func (c *procCluster) client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(c.bootstrap()...), kgo.RetryTimeout(10 * time.Second)}, c.clientOpts...), opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// waitFor polls cond until it holds or timeout passes (then fails the test).
func (c *procCluster) waitFor(timeout time.Duration, what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitForWhy is waitFor for a condition that says why it does not hold
// yet; the last reason is in the failure.
func (c *procCluster) waitForWhy(timeout time.Duration, what string, cond func() (bool, string)) {
	c.t.Helper()
	var why string
	deadline := time.Now().Add(timeout)
	for {
		ok, w := cond()
		if ok {
			return
		}
		why = w
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// describe returns the Metadata view of topic (empty on error).
func describeTopic(adm *kadm.Client, topic string) kadm.TopicDetail {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return kadm.TopicDetail{}
	}
	return td[topic]
}

// fullISR reports whether every partition of td has a leader and an ISR
// equal to its replica set.
func fullISR(td kadm.TopicDetail, parts int) bool {
	if td.Err != nil || len(td.Partitions) != parts {
		return false
	}
	for _, p := range td.Partitions {
		if p.Leader < 0 || len(p.ISR) != len(p.Replicas) {
			return false
		}
	}
	return true
}

// underReplicated lists the partitions of td whose ISR is smaller than the
// replica set (the under-replicated view).
func underReplicated(td kadm.TopicDetail) []int32 {
	var out []int32
	for _, p := range td.Partitions {
		if len(p.ISR) < len(p.Replicas) {
			out = append(out, p.Partition)
		}
	}
	slices.Sort(out)
	return out
}

// describeCluster returns the controller id and the fenced state of each
// broker, asking any live broker.
func describeCluster(cl *kgo.Client) (controller int32, fenced map[int32]bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req := kmsg.NewPtrDescribeClusterRequest()
	req.IncludeFencedBrokers = true
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return -1, nil, err
	}
	fenced = map[int32]bool{}
	for _, b := range resp.Brokers {
		fenced[b.NodeID] = b.IsFenced
	}
	return resp.ControllerID, fenced, nil
}

// load is a continuous idempotent acks=all producer recording its history.
type load struct {
	h      *checker.History
	cl     *kgo.Client
	name   string
	stopc  chan struct{}
	done   chan struct{}
	failed atomic.Int64 // records failed back to us (not acknowledged)
	errMu  sync.Mutex
	errs   map[string]int // failure reasons
}

// startLoad starts producer name at up to ~10k records/s.
func startLoad(c *procCluster, h *checker.History, topic, name string) *load {
	return startLoadWith(c, h, topic, name, 10000)
}

// startLoadWith starts producer name at up to perSec records/s; opts
// override the client defaults below.
func startLoadWith(c *procCluster, h *checker.History, topic, name string, perSec int, opts ...kgo.Opt) *load {
	cl := c.client(append([]kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(2 * time.Millisecond), kgo.MaxBufferedRecords(2000),
		// Metadata is refreshed quickly after NOT_LEADER_OR_FOLLOWER, and a
		// request to a paused broker is given up after a few seconds.
		kgo.MetadataMinAge(100 * time.Millisecond), kgo.ProduceRequestTimeout(5 * time.Second),
		kgo.RequestTimeoutOverhead(2 * time.Second)}, opts...)...)
	l := &load{h: h, cl: cl, name: name, stopc: make(chan struct{}), done: make(chan struct{}), errs: map[string]int{}}
	go func() {
		defer close(l.done)
		ctx := context.Background()
		for i := 0; ; i++ {
			select {
			case <-l.stopc:
				return
			default:
			}
			v := fmt.Sprintf("%s-%09d", name, i)
			h.Sent(name, v)
			cl.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i % 61)), Value: []byte(v)}, func(r *kgo.Record, err error) {
				if err != nil {
					l.failed.Add(1)
					l.errMu.Lock()
					l.errs[err.Error()]++
					l.errMu.Unlock()
					return
				}
				h.Ack(r.Partition, r.Offset, string(r.Value))
			})
			if i%50 == 49 {
				time.Sleep(50 * time.Second / time.Duration(perSec)) // the machine is shared
			}
		}
	}()
	return l
}

// stop ends the load and waits (up to timeout) for every buffered record to
// be acknowledged or failed.
func (l *load) stop(t testing.TB, timeout time.Duration) {
	t.Helper()
	close(l.stopc)
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := l.cl.Flush(ctx); err != nil {
		t.Errorf("producer flush: %v (%d records still buffered)", err, l.cl.BufferedProduceRecords())
	}
	l.errMu.Lock()
	defer l.errMu.Unlock()
	if len(l.errs) > 0 {
		t.Logf("producer %s: %d records failed: %v", l.name, l.failed.Load(), l.errs)
	}
}

// health reports whether every broker is registered and unfenced and every
// partition of topic has a leader and a full ISR, and if not, why.
func (c *procCluster) health(admCl *kgo.Client, adm *kadm.Client, topic string, parts int) (bool, string) {
	_, fenced, err := describeCluster(admCl)
	if err != nil || len(fenced) != len(c.nodes) {
		return false, fmt.Sprintf("describe cluster: %v %v", fenced, err)
	}
	for id, f := range fenced {
		if f {
			return false, fmt.Sprintf("broker %d fenced", id)
		}
	}
	if td := describeTopic(adm, topic); !fullISR(td, parts) {
		return false, fmt.Sprintf("ISRs %+v", td.Partitions)
	}
	return true, ""
}

// startTail starts a consumer tailing every partition of topic into h
// during the faults: it must only ever see committed records (a record it
// saw that later vanished or changed shows up as lost, divergent or
// phantom). stop ends it and returns how many records it read.
func (c *procCluster) startTail(h *checker.History, topic string, parts int) (stop func() int64) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var tailed atomic.Int64
	start := map[int32]kgo.Offset{}
	for p := int32(0); p < int32(parts); p++ {
		start[p] = kgo.NewOffset().AtStart()
	}
	cons := c.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}), kgo.MetadataMinAge(200*time.Millisecond))
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				tailed.Add(1)
				h.Read(r.Partition, r.Offset, string(r.Value))
			})
		}
	}()
	return func() int64 {
		cancel()
		<-done
		return tailed.Load()
	}
}

// waitAcks waits until n more records are acknowledged than at the call.
func (c *procCluster) waitAcks(h *checker.History, n int, timeout time.Duration, what string) {
	c.t.Helper()
	base := h.Acknowledged()
	c.waitFor(timeout, fmt.Sprintf("%d more acknowledged records %s (have %d)", n, what, h.Acknowledged()-base), func() bool {
		return h.Acknowledged() >= base+n
	})
}

// readBack reads every partition of topic from the start to its high
// watermark into h.
func (c *procCluster) readBack(h *checker.History, topic string, timeout time.Duration) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	adm := kadm.NewClient(c.client())
	var ends kadm.ListedOffsets
	var err error
	for ends, err = adm.ListEndOffsets(ctx, topic); err == nil && ends.Error() != nil; ends, err = adm.ListEndOffsets(ctx, topic) {
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("list end offsets: %v", err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	start := map[int32]kgo.Offset{}
	for p := range want {
		start[p] = kgo.NewOffset().AtStart()
	}
	cons := c.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}))
	next := map[int32]int64{}
	remaining := func() bool {
		for p, end := range want {
			if next[p] < end {
				return true
			}
		}
		return false
	}
	for remaining() {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			c.t.Fatalf("read back %s: timed out at %v of %v", topic, next, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			h.Read(r.Partition, r.Offset, string(r.Value))
			next[r.Partition] = r.Offset + 1
		})
	}
}

func TestClusterProcessFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three broker processes")
	}
	c := startProcCluster(t, 3)
	admCl := c.client(kgo.MetadataMinAge(10 * time.Millisecond)) // kadm caches metadata for MetadataMinAge (5s by default)
	adm := kadm.NewClient(admCl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const topic, parts = "faults", 3
	if _, err := adm.CreateTopic(ctx, parts, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil {
		t.Fatal(err)
	}
	c.waitFor(20*time.Second, "full ISRs", func() bool { return fullISR(describeTopic(adm, topic), parts) })

	h := checker.New()
	l := startLoad(c, h, topic, "p1")
	c.waitAcks(h, 2000, 20*time.Second, "before any fault")

	// 1. kill -9 of partition 0's leader: writes go on after failover and
	// the under-replicated view shows every partition it replicated.
	victim := describeTopic(adm, topic).Partitions[0].Leader
	t.Logf("kill -9 broker %d (leader of partition 0)", victim)
	c.kill9(victim)
	c.waitFor(15*time.Second, "a new leader for partition 0 without the killed broker in the ISR", func() bool {
		p := describeTopic(adm, topic).Partitions[0]
		return p.Leader >= 0 && p.Leader != victim && !slices.Contains(p.ISR, victim)
	})
	c.waitAcks(h, 2000, 20*time.Second, "after the leader was killed")
	td := describeTopic(adm, topic)
	if ur := underReplicated(td); len(ur) != parts {
		t.Fatalf("under-replicated partitions with broker %d down: %v, want all %d (RF=3): %+v", victim, ur, parts, td.Partitions)
	}
	// 2. Restart on the same data dir: it rejoins every ISR.
	c.restart(victim)
	c.waitFor(20*time.Second, "the restarted broker back in every ISR", func() bool { return fullISR(describeTopic(adm, topic), parts) })
	c.waitAcks(h, 1000, 20*time.Second, "after the restart")

	// 3. SIGSTOP of a partition leader: it is fenced, leadership moves;
	// SIGCONT: it is unfenced and rejoins every ISR.
	paused := describeTopic(adm, topic).Partitions[1].Leader
	t.Logf("SIGSTOP broker %d (leader of partition 1)", paused)
	c.pause(paused)
	c.waitFor(15*time.Second, "the paused broker fenced and partition 1 led elsewhere", func() bool {
		_, fenced, err := describeCluster(admCl)
		p := describeTopic(adm, topic).Partitions[1]
		return err == nil && fenced[paused] && p.Leader >= 0 && p.Leader != paused
	})
	c.waitAcks(h, 2000, 20*time.Second, "with a broker paused")
	c.resume(paused)
	c.waitFor(20*time.Second, "the resumed broker unfenced and back in every ISR", func() bool {
		_, fenced, err := describeCluster(admCl)
		return err == nil && !fenced[paused] && fullISR(describeTopic(adm, topic), parts)
	})
	c.waitAcks(h, 1000, 20*time.Second, "after SIGCONT")

	// 4. SIGTERM of a partition leader is a controlled shutdown: its
	// leaderships moved before the process exited, so every broker's
	// metadata shows new leaders well within the session timeout (1.5s)
	// that fencing a silent broker would take.
	stopped := describeTopic(adm, topic).Partitions[2].Leader
	t.Logf("SIGTERM broker %d (leader of partition 2)", stopped)
	c.stop(stopped)
	exited := time.Now()
	moved := func() bool {
		td := describeTopic(adm, topic)
		for _, p := range td.Partitions {
			if p.Leader == stopped || p.Leader < 0 {
				return false
			}
		}
		return len(td.Partitions) == parts
	}
	for !moved() {
		if time.Since(exited) > time.Second {
			t.Fatalf("partitions still led by broker %d 1s after its controlled shutdown: %+v", stopped, describeTopic(adm, topic).Partitions)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.waitAcks(h, 1000, 20*time.Second, "after a controlled shutdown")
	c.restart(stopped)
	c.waitFor(20*time.Second, "the stopped broker back in every ISR", func() bool { return fullISR(describeTopic(adm, topic), parts) })

	// 5. Controller failover: kill -9 the Raft leader; topics can still be
	// created (RF=2 while one broker is down), and after it returns, RF=3.
	ctl, _, err := describeCluster(admCl)
	if err != nil || ctl < 1 {
		t.Fatalf("describe cluster: controller %d, %v", ctl, err)
	}
	t.Logf("kill -9 broker %d (the active controller)", ctl)
	c.kill9(ctl)
	c.waitFor(15*time.Second, "a new controller", func() bool {
		id, _, err := describeCluster(admCl)
		return err == nil && id > 0 && id != ctl
	})
	c.waitFor(20*time.Second, "CreateTopics through the new controller", func() bool {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		r, err := adm.CreateTopic(cctx, 2, 2, nil, "after-controller-failover")
		return err == nil && r.Err == nil
	})
	c.waitAcks(h, 1000, 20*time.Second, "after the controller was killed")
	c.restart(ctl)
	c.waitFor(20*time.Second, "full ISRs after the controller restart", func() bool { return fullISR(describeTopic(adm, topic), parts) })
	cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer ccancel()
	if _, err := adm.CreateTopic(cctx, 3, 3, nil, "after-controller-back"); err != nil {
		t.Fatalf("create RF=3 topic after the old controller came back: %v", err)
	}
	c.waitFor(20*time.Second, "RF=3 topic with full ISRs", func() bool { return fullISR(describeTopic(adm, "after-controller-back"), 3) })

	// Every acknowledged record read back exactly once, in order.
	l.stop(t, 30*time.Second)
	c.readBack(h, topic, 30*time.Second)
	r := h.Check()
	t.Logf("history: %v", r)
	if !r.OK() {
		t.Fatalf("history check failed: %v", r)
	}
}
