package tests

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/node"
)

// clusterSettings make failure detection fast for tests.
var clusterSettings = map[string]string{
	"broker.session.timeout.ms":        "1500",
	"broker.heartbeat.interval.ms":     "200",
	"replica.lag.time.max.ms":          "3000",
	"group.initial.rebalance.delay.ms": "0",
}

// freshMetadata keeps a client's metadata cache short. kadm answers
// ListTopics and the other describes from the client's cache, refreshed
// only when older than kgo.MetadataMinAge (5 s by default): a test polling
// the cluster's state through a default client sees each change up to
// 5 s late.
var freshMetadata = kgo.MetadataMinAge(10 * time.Millisecond)

type cluster struct {
	t        *testing.T
	dirs     []string
	addrs    []string
	voters   map[int32]string
	nodes    []*node.Node
	settings map[string]string
	logs     []*nodeLog // each node's log, printed when a wait times out
}

// freePort returns a loopback address whose port is free now and was not
// returned before in this test process.
func freePort(t testing.TB) string {
	givenPorts.Lock()
	defer givenPorts.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		// The kernel may hand a port it just gave (and we closed) out
		// again: two brokers of one cluster got the same listener.
		if !givenPorts.m[addr] {
			givenPorts.m[addr] = true
			return addr
		}
	}
	t.Fatal("no port not given out before")
	return ""
}

// givenPorts are the addresses freePort returned in this test process.
var givenPorts = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

// startCluster starts n in-process nodes, all quorum voters, with
// clusterSettings.
func startCluster(t *testing.T, n int) *cluster {
	return startClusterWith(t, n, clusterSettings)
}

func startClusterWith(t *testing.T, n int, settings map[string]string) *cluster {
	c := &cluster{t: t, voters: map[int32]string{}, nodes: make([]*node.Node, n), settings: settings}
	for i := 0; i < n; i++ {
		c.logs = append(c.logs, &nodeLog{})
		c.dirs = append(c.dirs, t.TempDir())
		c.addrs = append(c.addrs, freePort(t))
		c.voters[int32(i+1)] = freePort(t)
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); c.start(i) }(i)
	}
	wg.Wait()
	// Stopped with Kill, not Close: a controlled shutdown needs the
	// quorum, and with the other nodes already stopped the last one's
	// could wait out its 10 s timeout. Tests of controlled shutdown call
	// Close themselves.
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			if nd != nil {
				nd.Kill()
			}
		}
	})
	return c
}

func (c *cluster) start(i int) {
	nd, err := node.Start(context.Background(), node.Config{NodeID: int32(i + 1), DataDir: c.dirs[i], Listen: c.addrs[i],
		Controllers: c.voters, Settings: c.settings, Logger: slog.New(slog.NewTextHandler(c.logs[i], nil))})
	if err != nil {
		c.t.Errorf("start node %d: %v", i+1, err)
		return
	}
	c.nodes[i] = nd
}

func (c *cluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	// Generous: CI runs the cluster tests on 2 loaded cores.
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			for i, l := range c.logs {
				c.t.Logf("node %d log, last lines:\n%s", i+1, l.tail(60))
			}
			c.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// partitions returns the metadata view of topic from the first live node.
func (c *cluster) describe(adm *kadm.Client, topic string) kadm.TopicDetail {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		c.t.Logf("describe %s: %v", topic, err)
		return kadm.TopicDetail{}
	}
	return td[topic]
}

func TestClusterReplicationAndFailover(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), freshMetadata))
	if _, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "replicated"); err != nil {
		t.Fatal(err)
	}
	var td kadm.TopicDetail
	c.waitFor("topic visible with full ISRs", func() bool {
		td = c.describe(adm, "replicated")
		return len(td.Partitions) == 3
	})
	for _, p := range td.Partitions {
		if len(p.Replicas) != 3 || len(p.ISR) != 3 {
			t.Fatalf("partition %d: replicas %v isr %v", p.Partition, p.Replicas, p.ISR)
		}
	}
	prod := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), kgo.DefaultProduceTopic("replicated"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(1000), kgo.RetryTimeout(60*time.Second))
	acked := map[string]bool{}
	var mu sync.Mutex
	produce := func(from, to int) {
		var wg sync.WaitGroup
		for i := from; i < to; i++ {
			wg.Add(1)
			v := fmt.Sprint(i)
			prod.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i % 16)), Value: []byte(v)}, func(_ *kgo.Record, err error) {
				defer wg.Done()
				if err == nil {
					mu.Lock()
					acked[v] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	produce(0, 3000)
	if len(acked) != 3000 {
		t.Fatalf("acked %d of 3000 before failover", len(acked))
	}
	// Kill the leader of partition 0; writes go on after failover.
	victim := td.Partitions[0].Leader
	c.nodes[victim-1].Kill()
	c.nodes[victim-1] = nil
	c.waitFor("a new leader for partition 0", func() bool {
		p := c.describe(adm, "replicated").Partitions[0]
		return p.Leader >= 0 && p.Leader != victim && !slices.Contains(p.ISR, victim)
	})
	produce(3000, 6000)
	if len(acked) != 6000 {
		t.Fatalf("acked %d of 6000 with one broker down (min.insync.replicas=2, RF=3)", len(acked))
	}
	// The killed broker comes back and rejoins every ISR.
	c.start(int(victim - 1))
	c.waitFor("restarted broker back in every ISR", func() bool {
		for _, p := range c.describe(adm, "replicated").Partitions {
			if len(p.ISR) != 3 {
				return false
			}
		}
		return true
	})
	// Every acknowledged record is read back exactly once, in order per key.
	cons := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), kgo.ConsumeTopics("replicated"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]int{}
	lastPerKey := map[string]int{}
	for len(seen) < len(acked) {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d acknowledged records", len(seen), len(acked))
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)]++
			var v int
			fmt.Sscan(string(r.Value), &v)
			if last, ok := lastPerKey[string(r.Key)]; ok && v < last {
				t.Errorf("key %s: %d after %d", r.Key, v, last)
			}
			lastPerKey[string(r.Key)] = v
		})
	}
	for v := range acked {
		if seen[v] != 1 {
			t.Fatalf("acknowledged record %s read %d times", v, seen[v])
		}
	}
}

// With auto.leader.rebalance.enable, leadership returns to the preferred
// replica once it is back in sync.
func TestClusterPreferredLeaderReturns(t *testing.T) {
	settings := maps.Clone(clusterSettings)
	settings["leader.imbalance.check.interval.seconds"] = "1"
	c := startClusterWith(t, 3, settings)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), freshMetadata))
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "pref"); err != nil {
		t.Fatal(err)
	}
	var pref int32
	c.waitFor("topic visible", func() bool {
		td := c.describe(adm, "pref")
		if len(td.Partitions) != 1 {
			return false
		}
		pref = td.Partitions[0].Replicas[0]
		return td.Partitions[0].Leader == pref
	})
	c.nodes[pref-1].Close() // controlled shutdown: leadership moves away
	c.nodes[pref-1] = nil
	c.waitFor("leadership moved off the preferred replica", func() bool {
		p := c.describe(adm, "pref").Partitions[0]
		return p.Leader >= 0 && p.Leader != pref
	})
	c.start(int(pref - 1))
	c.waitFor("leadership back on the preferred replica", func() bool {
		return c.describe(adm, "pref").Partitions[0].Leader == pref
	})
}

// A consumer long-polling a replicated partition is woken when the high
// watermark moves (followers fetched), not only at the append: with a 60 s
// max wait, a record must arrive long before that.
func TestClusterLongPollWokenByHighWatermark(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), freshMetadata))
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "hwwake"); err != nil {
		t.Fatal(err)
	}
	c.waitFor("topic visible", func() bool { return len(c.describe(adm, "hwwake").Partitions) == 1 })
	cons := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), kgo.ConsumeTopics("hwwake"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(60*time.Second))
	warm, warmCancel := context.WithTimeout(ctx, time.Second)
	cons.PollFetches(warm) // join the partition before producing
	warmCancel()
	prod := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), kgo.DefaultProduceTopic("hwwake"), kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := 0; i < 3; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
		got := 0
		for got == 0 && wctx.Err() == nil {
			got = cons.PollFetches(wctx).NumRecords()
		}
		wcancel()
		if got == 0 {
			t.Fatalf("record %d not delivered within 20 s of its acks=all produce (fetch max wait 60 s)", i)
		}
	}
}

// nodeLog keeps the last lines an in-process node logged (info and
// above), so a cluster test that times out can show what the brokers
// were doing. Safe for concurrent use.
type nodeLog struct {
	mu    sync.Mutex // guards lines
	lines []string
}

func (l *nodeLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	if len(l.lines) > 2000 {
		l.lines = slices.Clone(l.lines[1000:])
	}
	return len(p), nil
}

func (l *nodeLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines[max(0, len(l.lines)-n):], "")
}

// TestControlledShutdownStaysFenced: a node that shuts down cleanly is
// fenced and not registered again; before, a heartbeat it sent after its
// own fence registered it again (a new registration epoch, unfenced), and
// a cluster stopped one node at a time left its last node waiting for a
// fence without a quorum.
func TestControlledShutdownStaysFenced(t *testing.T) {
	settings := maps.Clone(clusterSettings)
	settings["broker.heartbeat.interval.ms"] = "10" // a heartbeat between the fence and the halt
	c := startClusterWith(t, 3, settings)
	c.waitFor("three live brokers", func() bool { return len(c.nodes[2].Quorum.State().LiveBrokers()) == 3 })
	for _, id := range []int32{1, 2} {
		epoch := c.nodes[2].Quorum.State().Brokers[id].Epoch
		if err := c.nodes[id-1].Close(); err != nil {
			t.Fatalf("close node %d: %v", id, err)
		}
		c.nodes[id-1] = nil
		c.waitFor(fmt.Sprintf("node %d fenced", id), func() bool { return c.nodes[2].Quorum.State().Brokers[id].Fenced })
		if b := c.nodes[2].Quorum.State().Brokers[id]; b.Epoch != epoch {
			t.Fatalf("node %d registered again during its controlled shutdown: epoch %d, was %d", id, b.Epoch, epoch)
		}
	}
	start := time.Now()
	if err := c.nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	c.nodes[2] = nil
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the last node took %v to close (a fence waiting for a quorum)", took)
	}
}

// TestConcurrentIncrementalAlterConfigs: IncrementalAlterConfigs of one
// topic sent to two brokers at the same moment, each setting its own key,
// round after round: every change is kept (each broker computes the new
// configs from the ones it has applied; before they were made conditional,
// a broker that had not yet applied the other's change wrote it away).
func TestConcurrentIncrementalAlterConfigs(t *testing.T) {
	c := startCluster(t, 3)
	c.waitFor("three live brokers", func() bool { return len(c.nodes[0].Quorum.State().LiveBrokers()) == 3 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := newAdmin(t, c.addrs[0]).CreateTopic(ctx, 1, 3, nil, "cfg"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, c.addrs[0])
	set := func(broker int32, key, value string) error {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		res := kmsg.NewIncrementalAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, "cfg"
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		cfg.Name, cfg.Value, cfg.Op = key, kmsg.StringPtr(value), kmsg.IncrementalAlterConfigOpSet
		res.Configs = append(res.Configs, cfg)
		req.Resources = append(req.Resources, res)
		resp, err := req.RequestWith(ctx, cl.Broker(int(broker)))
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.Resources[0].ErrorCode)
	}
	const rounds = 20
	for r := 1; r <= rounds; r++ {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, k := range []string{"retention.ms", "segment.ms"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = set(int32(i+1), k, strconv.Itoa(3_600_000+r))
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		// Read on the third broker once it has both changes; a lost one
		// never shows up.
		want := strconv.Itoa(3_600_000 + r)
		ok := false
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !ok; time.Sleep(20 * time.Millisecond) {
			got := c.nodes[2].Quorum.State().Topics["cfg"].Configs
			ok = got["retention.ms"] == want && got["segment.ms"] == want
		}
		if !ok {
			t.Fatalf("round %d: configs %v, want retention.ms and segment.ms both %s", r, c.nodes[2].Quorum.State().Topics["cfg"].Configs, want)
		}
	}
}
