package tests

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/group"
)

// gcMember is a group member under test: what it consumed (partition ->
// offsets) and how to stop it.
type gcMember interface {
	seen() map[int32]map[int64]bool
	close()
}

// kgoGCMember consumes in the background and commits synchronously what it
// consumed (kgo CommitRecords), retrying until the commit succeeds.
type kgoGCMember struct {
	cl     *kgo.Client
	mu     sync.Mutex
	got    map[int32]map[int64]bool
	acked  map[int32]int64 // committed offsets the coordinator acknowledged
	cancel context.CancelFunc
	done   chan struct{}
}

func startKgoGCMember(t *testing.T, cl *kgo.Client) *kgoGCMember {
	ctx, cancel := context.WithCancel(context.Background())
	m := &kgoGCMember{cl: cl, got: map[int32]map[int64]bool{}, acked: map[int32]int64{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		latest := map[int32]*kgo.Record{}
		for ctx.Err() == nil {
			pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
			fs := cl.PollFetches(pctx)
			pcancel()
			m.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				if m.got[r.Partition] == nil {
					m.got[r.Partition] = map[int64]bool{}
				}
				m.got[r.Partition][r.Offset] = true
				if l := latest[r.Partition]; l == nil || r.Offset > l.Offset {
					latest[r.Partition] = r
				}
			})
			var commit []*kgo.Record
			for p, r := range latest {
				if r.Offset+1 > m.acked[p] {
					commit = append(commit, r)
				}
			}
			m.mu.Unlock()
			if len(commit) == 0 || ctx.Err() != nil {
				continue
			}
			if err := cl.CommitRecords(ctx, commit...); err != nil {
				if ctx.Err() == nil {
					t.Logf("commit (will retry): %v", err)
				}
				continue
			}
			m.mu.Lock()
			for _, r := range commit {
				m.acked[r.Partition] = max(m.acked[r.Partition], r.Offset+1)
			}
			m.mu.Unlock()
		}
	}()
	return m
}

func (m *kgoGCMember) seen() map[int32]map[int64]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int32]map[int64]bool{}
	for p, os := range m.got {
		out[p] = map[int64]bool{}
		for o := range os {
			out[p][o] = true
		}
	}
	return out
}

func (m *kgoGCMember) ackedOffsets() map[int32]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int32]int64{}
	for p, o := range m.acked {
		out[p] = o
	}
	return out
}

func (m *kgoGCMember) close() {
	m.cancel()
	<-m.done
	m.cl.Close()
}

// saramaGCMember is a sarama ConsumerGroup member (offsets auto-committed
// from marked messages).
type saramaGCMember struct{ *saramaMember }

func startSaramaGCMember(t *testing.T, seeds []string, groupID, topic string) *saramaGCMember {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	cfg.ClientID = "sarama-cluster-group"
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	// group.min.session.timeout.ms is Kafka's default (6s) on this cluster.
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cfg.Metadata.Retry.Max = 20
	cfg.Metadata.Retry.Backoff = 200 * time.Millisecond
	g, err := sarama.NewConsumerGroup(seeds, groupID, cfg)
	if err != nil {
		t.Fatalf("sarama consumer group: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &saramaMember{consumed: map[string]bool{}, cancel: cancel, done: make(chan struct{}), group: g}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{topic}, m); err != nil && ctx.Err() == nil {
				t.Logf("sarama consume (retrying): %v", err)
				time.Sleep(200 * time.Millisecond)
			}
		}
	}()
	return &saramaGCMember{m}
}

func (m *saramaGCMember) seen() map[int32]map[int64]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int32]map[int64]bool{}
	for k := range m.consumed {
		var p int32
		var o int64
		fmt.Sscanf(k, "%d/%d", &p, &o)
		if out[p] == nil {
			out[p] = map[int64]bool{}
		}
		out[p][o] = true
	}
	return out
}

// findCoordinator asks broker id (a raw FindCoordinator, no client cache)
// for groupID's coordinator.
func findCoordinator(ctx context.Context, cl *kgo.Client, id int32, groupID string) (int32, error) {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey = groupID            // v0-3
	req.CoordinatorKeys = []string{groupID} // v4+
	resp, err := req.RequestWith(ctx, cl.Broker(int(id)))
	if err != nil {
		return -1, err
	}
	code, node := resp.ErrorCode, resp.NodeID
	if resp.Version >= 4 {
		if len(resp.Coordinators) != 1 {
			return -1, fmt.Errorf("%d coordinators in the response", len(resp.Coordinators))
		}
		code, node = resp.Coordinators[0].ErrorCode, resp.Coordinators[0].NodeID
	}
	if code != 0 {
		return -1, kerr.ErrorForCode(code)
	}
	return node, nil
}

// committed returns groupID's committed offsets of topic, by partition.
// Right after a coordinator failover the admin client may still dial the
// old coordinator it cached; those transient errors are retried for a while.
func committed(ctx context.Context, adm *kadm.Client, groupID, topic string) (map[int32]int64, error) {
	var os kadm.OffsetResponses
	var err error
	for deadline := time.Now().Add(15 * time.Second); ; {
		if os, err = adm.FetchOffsets(ctx, groupID); err == nil {
			err = os.Error()
		}
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	os.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			out[o.Partition] = o.At
		}
	})
	return out, nil
}

// TestGroupsClusterCoordinatorFailover: on a 3-broker cluster a franz-go
// classic group, a franz-go KIP-848 group and a sarama group consume with
// committed offsets. Their coordinator (the leader of their
// __consumer_offsets partitions, the same broker for all three) is killed:
// the groups move to the new leaders of those partitions, no acknowledged
// commit is lost, the members carry on and commit the records produced
// after the failover, `trib group describe` shows the right lag, and new
// members resume exactly at the committed offsets. The coordinator either
// dies (kill) or shuts down cleanly, handing its leaderships over (and so
// unloading its groups while their members are connected).
func TestGroupsClusterCoordinatorFailover(t *testing.T) {
	t.Parallel() // its own in-process cluster; it mostly waits (failure detection, client retries), not on the CPU
	t.Run("kill", func(t *testing.T) { testGroupsCoordinatorFailover(t, true) })
	t.Run("controlled-shutdown", func(t *testing.T) { testGroupsCoordinatorFailover(t, false) })
}

func testGroupsCoordinatorFailover(t *testing.T, kill bool) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	defer cancel()
	const topic = "orders"
	admCl := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), freshMetadata)
	adm := kadm.NewClient(admCl)
	if _, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil {
		t.Fatal(err)
	}

	// The first FindCoordinator creates __consumer_offsets.
	c.waitFor("a group coordinator", func() bool {
		_, err := findCoordinator(ctx, admCl, 1, "probe")
		return err == nil
	})
	var offsetsParts kadm.TopicDetail
	c.waitFor("__consumer_offsets with a leader per partition", func() bool {
		offsetsParts = c.describe(adm, group.OffsetsTopic)
		if len(offsetsParts.Partitions) == 0 {
			return false
		}
		for _, p := range offsetsParts.Partitions {
			if p.Leader < 0 {
				return false
			}
		}
		return true
	})
	n := int32(len(offsetsParts.Partitions))
	leaderOf := func(g string) int32 { return offsetsParts.Partitions[group.PartitionFor(g, n)].Leader }
	// Three groups whose partitions the same broker leads: the victim.
	victim := leaderOf("gc-classic")
	pick := func(prefix string) string {
		for i := 0; ; i++ {
			if g := fmt.Sprintf("%s-%d", prefix, i); leaderOf(g) == victim {
				return g
			}
		}
	}
	groups := []string{"gc-classic", pick("gc-848"), pick("gc-sarama")}
	// Every broker answers the leader (once it has applied the metadata).
	for _, g := range groups {
		for id := int32(1); id <= 3; id++ {
			var got int32
			var err error
			c.waitFor(fmt.Sprintf("broker %d to name the coordinator of %s", id, g), func() bool {
				got, err = findCoordinator(ctx, admCl, id, g)
				return err == nil
			})
			if got != victim {
				t.Fatalf("broker %d: coordinator of %s = %d; want %d, the leader of %s-%d", id, g, got, victim, group.OffsetsTopic, group.PartitionFor(g, n))
			}
		}
	}
	var live []string
	var liveIDs []int32
	for i, a := range c.addrs {
		if int32(i+1) != victim {
			live, liveIDs = append(live, a), append(liveIDs, int32(i+1))
		}
	}
	t.Logf("coordinator of %v: broker %d", groups, victim)
	// Another broker refuses the group's requests: NOT_COORDINATOR.
	{
		other := admCl.Broker(int(liveIDs[0]))
		of := kmsg.NewPtrOffsetFetchRequest()
		of.Group = groups[0]                                           // v0-7
		of.Groups = []kmsg.OffsetFetchRequestGroup{{Group: groups[0]}} // v8+
		ofr, err := of.RequestWith(ctx, other)
		if err != nil {
			t.Fatal(err)
		}
		code := ofr.ErrorCode
		if ofr.Version >= 8 && len(ofr.Groups) == 1 {
			code = ofr.Groups[0].ErrorCode
		}
		jg := kmsg.NewPtrJoinGroupRequest()
		jg.Group, jg.ProtocolType, jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis = groups[0], "consumer", 10000, 10000
		jg.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0}}}
		jgr, err := jg.RequestWith(ctx, other)
		if err != nil {
			t.Fatal(err)
		}
		if code != kerr.NotCoordinator.Code || jgr.ErrorCode != kerr.NotCoordinator.Code {
			t.Fatalf("broker %d answered OffsetFetch %v, JoinGroup %v for a group it does not coordinate; want NOT_COORDINATOR",
				liveIDs[0], kerr.ErrorForCode(code), kerr.ErrorForCode(jgr.ErrorCode))
		}
	}

	prod := newClient(t, live[0], kgo.SeedBrokers(live...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceN(t, prod, topic, 300)

	kgoOpts := func(g string) []kgo.Opt {
		return []kgo.Opt{kgo.SeedBrokers(live...), kgo.ConsumerGroup(g), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.FetchMaxWait(200 * time.Millisecond)}
	}
	newMembers := func() []gcMember {
		cl1, err := kgo.NewClient(kgoOpts(groups[0])...)
		if err != nil {
			t.Fatal(err)
		}
		cl2, err := kgo.NewClient(append(kgoOpts(groups[1]), kgo.ServerSideBalancer())...)
		if err != nil {
			t.Fatal(err)
		}
		return []gcMember{startKgoGCMember(t, cl1), startKgoGCMember(t, cl2), startSaramaGCMember(t, live, groups[2], topic)}
	}
	members := newMembers()
	defer func() {
		for _, m := range members {
			m.close()
		}
	}()

	// waitCommitted waits until every group committed want (per partition).
	waitCommitted := func(what string, want map[int32]int64) map[string]map[int32]int64 {
		t.Helper()
		out := map[string]map[int32]int64{}
		deadline := time.Now().Add(60 * time.Second)
		for _, g := range groups {
			for {
				got, err := committed(ctx, adm, g, topic)
				if err == nil && fmt.Sprint(got) == fmt.Sprint(want) {
					out[g] = got
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: group %s committed %v (err %v), want %v", what, g, got, err, want)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		return out
	}
	waitCommitted("before the failover", map[int32]int64{0: 100, 1: 100, 2: 100})
	// What the kgo members were told is committed (acks=all).
	var acked []map[int32]int64
	for _, m := range members[:2] {
		acked = append(acked, m.(*kgoGCMember).ackedOffsets())
	}

	if kill {
		c.nodes[victim-1].Kill()
	} else if err := c.nodes[victim-1].Close(); err != nil {
		t.Fatalf("controlled shutdown of broker %d: %v", victim, err)
	}
	c.nodes[victim-1] = nil
	liveAdm := kadm.NewClient(newClient(t, live[0], kgo.SeedBrokers(live...), freshMetadata))
	adm = liveAdm
	for _, g := range groups {
		c.waitFor("a new coordinator for "+g, func() bool {
			ps := c.describe(adm, group.OffsetsTopic).Partitions
			if int32(len(ps)) != n {
				return false
			}
			leader := ps[group.PartitionFor(g, n)].Leader
			for _, id := range liveIDs {
				if got, err := findCoordinator(ctx, admCl, id, g); err != nil || got != leader || got == victim {
					return false
				}
			}
			return true
		})
	}
	// No acknowledged commit is lost.
	for i, g := range groups[:2] {
		got, err := committed(ctx, adm, g, topic)
		if err != nil {
			t.Fatal(err)
		}
		for p, o := range acked[i] {
			if got[p] < o {
				t.Fatalf("group %s partition %d: committed %d at the new coordinator, %d was acknowledged before", g, p, got[p], o)
			}
		}
	}
	waitCommitted("right after the failover", map[int32]int64{0: 100, 1: 100, 2: 100})

	// The members carry on with the new coordinator.
	produceN(t, prod, topic, 300)
	waitCommitted("after the failover", map[int32]int64{0: 200, 1: 200, 2: 200})
	for i, m := range members {
		seen := m.seen()
		for p := int32(0); p < 3; p++ {
			for o := int64(0); o < 200; o++ {
				if !seen[p][o] {
					t.Fatalf("group %s never consumed partition %d offset %d", groups[i], p, o)
				}
			}
		}
	}
	for _, m := range members {
		m.close()
	}
	members = nil

	// Lag as the operator sees it.
	produceN(t, prod, topic, 30)
	for _, g := range groups {
		out := mustTrib(t, live[0], "", "group", "describe", g)
		got := describeLags(t, out)
		for _, p := range []string{"0", "1", "2"} {
			if got[p] != "200 210 10" {
				t.Fatalf("trib group describe %s after the failover: partition %s %q, want \"200 210 10\"\n%s", g, p, got[p], out)
			}
		}
	}

	// New members resume exactly at the committed offsets.
	members = newMembers()
	waitCommitted("new members", map[int32]int64{0: 210, 1: 210, 2: 210})
	for i, m := range members {
		seen := m.seen()
		for p := int32(0); p < 3; p++ {
			offs := make([]int64, 0, len(seen[p]))
			for o := range seen[p] {
				offs = append(offs, o)
			}
			slices.Sort(offs)
			if len(offs) != 10 || offs[0] != 200 || offs[9] != 209 {
				t.Fatalf("group %s partition %d: a new member consumed %v, want offsets 200..209", groups[i], p, offs)
			}
		}
	}
}

// A broker killed while offset commits it coordinates wait for
// replication stops as a crashed process does: it neither heartbeats on
// (staying unfenced) nor shrinks the ISR of the partitions it leads to
// itself while those commits drain, so each of them gets a new leader.
// (Node.Kill used to wait for in-flight requests first, up to
// offsets.commit.timeout.ms, with the broker's loops still running: its
// partitions were left without a leader once it was fenced.)
func TestClusterKillDuringOffsetCommits(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const g, topic = "kill-commits", "committed"
	admCl := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), freshMetadata)
	adm := kadm.NewClient(admCl)
	created, err := adm.CreateTopic(ctx, 1, 3, nil, topic)
	if err != nil {
		t.Fatal(err)
	}
	var victim int32
	c.waitFor("a group coordinator", func() bool {
		victim, err = findCoordinator(ctx, admCl, 1, g)
		return err == nil
	})
	led := func() []int32 { // the partitions victim leads
		var out []int32
		for _, p := range c.describe(adm, group.OffsetsTopic).Partitions {
			if p.Leader == victim {
				out = append(out, p.Partition)
			}
		}
		return out
	}
	c.waitFor("a full ISR for every offsets partition", func() bool {
		ps := c.describe(adm, group.OffsetsTopic).Partitions
		for _, p := range ps {
			if len(p.ISR) != 3 {
				return false
			}
		}
		return len(ps) > 0
	})
	victimLed := led()

	// Committers keep OffsetCommits in flight at the coordinator.
	var commits atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		cl := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), kgo.RequestRetries(0))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for off := int64(0); ; off++ {
				select {
				case <-stop:
					return
				default:
				}
				req := kmsg.NewPtrOffsetCommitRequest()
				req.Group, req.Generation = g, -1
				rt := kmsg.NewOffsetCommitRequestTopic()
				rt.Topic, rt.TopicID = topic, created.ID // by name to v9, by id from v10
				rp := kmsg.NewOffsetCommitRequestTopicPartition()
				rp.Offset = off
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
				resp, err := req.RequestWith(rctx, cl.Broker(int(victim)))
				rcancel()
				if err == nil && resp.Topics[0].Partitions[0].ErrorCode == 0 {
					commits.Add(1)
				}
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	c.waitFor("offset commits at the coordinator", func() bool { return commits.Load() >= 50 })

	c.nodes[victim-1].Kill()
	c.nodes[victim-1] = nil
	var live string
	for i, a := range c.addrs {
		if int32(i+1) != victim {
			live = a
			break
		}
	}
	liveAdm := kadm.NewClient(newClient(t, live, freshMetadata))
	c.waitFor(fmt.Sprintf("a new leader for offsets partitions %v, led by killed broker %d", victimLed, victim), func() bool {
		ps := c.describe(liveAdm, group.OffsetsTopic).Partitions
		if len(ps) == 0 {
			return false
		}
		for _, p := range ps {
			if p.Leader < 0 || p.Leader == victim {
				return false
			}
		}
		return true
	})
}
