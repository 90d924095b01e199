package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/checker"
)

// createAssigned creates topic with a manual replica assignment.
func createAssigned(t *testing.T, cl *kgo.Client, topic string, assignment ...[]int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for i, replicas := range assignment {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = int32(i), replicas
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

// load is an idempotent acks=all producer writing unique values to a topic
// until stopped, recording the history.
type opsLoad struct {
	h      *checker.History
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	failed []error
}

func startOpsLoad(t *testing.T, c *cluster, topic string, h *checker.History) *opsLoad {
	cl := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(1000), kgo.RetryTimeout(60*time.Second),
		kgo.MaxBufferedRecords(500))
	l := &opsLoad{h: h, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		ctx := context.Background()
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				cl.Flush(ctx)
				return
			default:
			}
			v := fmt.Sprintf("%s-%07d", topic, i)
			h.Sent("p", v)
			cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(r *kgo.Record, err error) {
				if err != nil {
					l.mu.Lock()
					l.failed = append(l.failed, err)
					l.mu.Unlock()
					return
				}
				h.Ack(r.Partition, r.Offset, string(r.Value))
			})
			if i%20 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	return l
}

// waitAcked waits until n more records are acknowledged.
func (l *opsLoad) waitAcked(t *testing.T, n int) {
	t.Helper()
	target := l.h.Acknowledged() + n
	deadline := time.Now().Add(60 * time.Second)
	for l.h.Acknowledged() < target {
		if time.Now().After(deadline) {
			t.Fatalf("producer stalled at %d acknowledged records", l.h.Acknowledged())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (l *opsLoad) finish(t *testing.T) {
	t.Helper()
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failed) > 0 {
		t.Errorf("%d produce failures, first: %v", len(l.failed), l.failed[0])
	}
}

// readAll reads topic from the start to the current end offsets into h and
// fails the test unless the history checks out.
func opsReadAll(t *testing.T, c *cluster, adm *kadm.Client, topic string, h *checker.History) checker.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	cons := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	next := map[int32]int64{}
	done := func() bool {
		for p, end := range want {
			if next[p] < end {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %v of %v", next, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			h.Read(r.Partition, r.Offset, string(r.Value))
			next[r.Partition] = r.Offset + 1
		})
	}
	rep := h.Check()
	if !rep.OK() || rep.Acknowledged == 0 {
		t.Fatalf("history: %v", rep)
	}
	return rep
}

func listReassignments(t *testing.T, adm *kadm.Client, topic string, parts ...int32) kadm.ListPartitionReassignmentsResponses {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := kadm.TopicsSet{}
	s.Add(topic, parts...)
	rs, err := adm.ListPartitionReassignments(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func reassign(t *testing.T, adm *kadm.Client, topic string, part int32, replicas []int32) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, part, replicas)
	rs, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return rs[topic][part].Err
}

func partitionDirs(dir, topic string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, topic+"-*"))
	return m
}

// A partition moves from brokers {1,2} to {2,3} under acks=all load: the
// move waits (ListPartitionReassignments shows it) while broker 3 is down,
// completes once it is back and caught up, the leader moves off broker 1,
// broker 1 drops its copy, and every acknowledged record is read back once,
// in order, at its offset.
func TestClusterReassignUnderLoad(t *testing.T) {
	c := startCluster(t, 3)
	cl := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), freshMetadata)
	adm := kadm.NewClient(cl)
	createAssigned(t, cl, "moving", []int32{1, 2})
	h := checker.New()
	l := startOpsLoad(t, c, "moving", h)
	l.waitAcked(t, 2000)

	c.nodes[2].Kill()
	c.nodes[2] = nil
	if err := reassign(t, adm, "moving", 0, []int32{2, 3}); err != nil {
		t.Fatalf("reassign: %v", err)
	}
	rs := listReassignments(t, adm, "moving", 0)
	r, ok := rs["moving"][0]
	if !ok || !slices.Equal(r.Replicas, []int32{2, 3, 1}) || !slices.Equal(r.AddingReplicas, []int32{3}) || !slices.Equal(r.RemovingReplicas, []int32{1}) {
		t.Fatalf("reassignment in progress: %+v (ok %v)", r, ok)
	}
	l.waitAcked(t, 2000) // writes go on while broker 3 is away
	if rs := listReassignments(t, adm, "moving", 0); len(rs["moving"]) != 1 {
		t.Fatalf("the reassignment finished without broker 3: %+v", rs)
	}

	c.start(2)
	c.waitFor("reassignment to complete", func() bool {
		p := c.describe(adm, "moving").Partitions[0]
		return slices.Equal(p.Replicas, []int32{2, 3}) && slices.Equal(sortedIDs(p.ISR), []int32{2, 3}) && p.Leader == 2
	})
	if rs := listReassignments(t, adm, "moving", 0); len(rs["moving"]) != 0 {
		t.Fatalf("reassignment still listed: %+v", rs)
	}
	c.waitFor("broker 1 to drop its copy", func() bool { return len(partitionDirs(c.dirs[0], "moving")) == 0 })
	if len(partitionDirs(c.dirs[2], "moving")) != 1 {
		t.Fatalf("broker 3 holds no copy: %v", partitionDirs(c.dirs[2], "moving"))
	}
	l.waitAcked(t, 2000)
	l.finish(t)
	rep := opsReadAll(t, c, adm, "moving", h)
	t.Logf("history: %v", rep)

	// Errors as Kafka reports them.
	if err := reassign(t, adm, "moving", 0, nil); !errors.Is(err, kerr.NoReassignmentInProgress) {
		t.Fatalf("cancel with none in progress: %v", err)
	}
	if err := reassign(t, adm, "moving", 0, []int32{2, 9}); !errors.Is(err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("unknown broker: %v", err)
	}
	if err := reassign(t, adm, "moving", 0, []int32{2, 2}); !errors.Is(err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("duplicate broker: %v", err)
	}
	if err := reassign(t, adm, "moving", 5, []int32{1, 2}); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unknown partition: %v", err)
	}
	if err := reassign(t, adm, "nosuch", 0, []int32{1, 2}); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unknown topic: %v", err)
	}
}

func sortedIDs(s []int32) []int32 {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// Cancelling a reassignment that cannot finish (its new replica is down)
// reverts the partition to its original replicas.
func TestClusterReassignCancel(t *testing.T) {
	c := startCluster(t, 3)
	cl := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), freshMetadata)
	adm := kadm.NewClient(cl)
	createAssigned(t, cl, "stay", []int32{1, 2})
	c.nodes[2].Kill()
	c.nodes[2] = nil
	if err := reassign(t, adm, "stay", 0, []int32{3, 2}); err != nil {
		t.Fatal(err)
	}
	c.waitFor("replicas [3 2 1] while moving", func() bool {
		p := c.describe(adm, "stay").Partitions[0]
		return slices.Equal(p.Replicas, []int32{3, 2, 1}) && p.Leader == 1
	})
	if err := reassign(t, adm, "stay", 0, nil); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if rs := listReassignments(t, adm, "stay", 0); len(rs["stay"]) != 0 {
		t.Fatalf("still listed after cancel: %+v", rs)
	}
	c.waitFor("original replicas back", func() bool {
		p := c.describe(adm, "stay").Partitions[0]
		return slices.Equal(sortedIDs(p.Replicas), []int32{1, 2}) && slices.Equal(sortedIDs(p.ISR), []int32{1, 2}) && p.Leader == 1
	})
}

// After a failover the preferred leader (first replica) comes back into
// the ISR; ElectLeaders (preferred) gives it the leadership again.
func TestClusterElectPreferredLeader(t *testing.T) {
	c := startCluster(t, 3)
	cl := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), freshMetadata)
	adm := kadm.NewClient(cl)
	createAssigned(t, cl, "pref", []int32{1, 2, 3}, []int32{2, 3, 1})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod := newClient(t, c.addrs[1], kgo.SeedBrokers(c.addrs...), kgo.DefaultProduceTopic("pref"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := prod.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	c.nodes[0].Kill()
	c.nodes[0] = nil
	c.waitFor("failover of partition 0", func() bool {
		p := c.describe(adm, "pref").Partitions[0]
		return p.Leader > 1
	})
	c.start(0)
	c.waitFor("broker 1 back in the ISR", func() bool {
		p := c.describe(adm, "pref").Partitions[0]
		return len(p.ISR) == 3
	})
	if p := c.describe(adm, "pref").Partitions[0]; p.Leader == 1 {
		t.Fatalf("broker 1 leads again without an election: %+v", p)
	}

	s := kadm.TopicsSet{}
	s.Add("pref", 0, 1, 7)
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, s)
	if err != nil {
		t.Fatal(err)
	}
	if r := res["pref"][0]; r.Err != nil {
		t.Fatalf("partition 0: %v %s", r.Err, r.ErrMessage)
	}
	if r := res["pref"][1]; !errors.Is(r.Err, kerr.ElectionNotNeeded) {
		t.Fatalf("partition 1 (preferred leader already leads): %v", r.Err)
	}
	if r := res["pref"][7]; !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("partition 7: %v", r.Err)
	}
	c.waitFor("broker 1 leads partition 0", func() bool { return c.describe(adm, "pref").Partitions[0].Leader == 1 })

	// Unclean election with a live leader is not needed; null topics
	// (every partition) list only the elections that were needed: none.
	res, err = adm.ElectLeaders(ctx, kadm.ElectLiveReplica, s)
	if err != nil {
		t.Fatal(err)
	}
	if r := res["pref"][0]; !errors.Is(r.Err, kerr.ElectionNotNeeded) {
		t.Fatalf("unclean election with a live leader: %v", r.Err)
	}
	all, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(all["pref"]); n != 0 {
		t.Fatalf("all-partitions election listed %d pref partitions: %+v", n, all)
	}

	// The data written before the failover is still there.
	cons := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"pref": {0: kgo.NewOffset().AtStart()}}))
	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer rcancel()
	fs := cons.PollFetches(rctx)
	if fs.NumRecords() != 1 || string(fs.Records()[0].Value) != "before" {
		t.Fatalf("read %d records: %v", fs.NumRecords(), fs.Errors())
	}
}

// DescribeLogDirs lists each broker's replicas with their sizes: equal on
// every replica once followers caught up, and matching the segment files.
func TestClusterDescribeLogDirs(t *testing.T) {
	c := startCluster(t, 3)
	cl := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), freshMetadata)
	adm := kadm.NewClient(cl)
	createAssigned(t, cl, "sized", []int32{1, 2}, []int32{2, 3})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), kgo.DefaultProduceTopic("sized"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	val := strings.Repeat("x", 1000)
	for i := 0; i < 200; i++ {
		prod.Produce(ctx, &kgo.Record{Partition: int32(i % 2), Value: []byte(val)}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var dirs kadm.DescribedAllLogDirs
	c.waitFor("equal replica sizes", func() bool {
		s := kadm.TopicsSet{}
		s.Add("sized", 0, 1)
		var err error
		if dirs, err = adm.DescribeAllLogDirs(ctx, s); err != nil {
			return false
		}
		size := func(b, p int32) int64 {
			d, ok := dirs[b].LookupPartition("sized", p)
			if !ok {
				return -1
			}
			return d.Size
		}
		return size(1, 0) > 0 && size(1, 0) == size(2, 0) && size(2, 1) > 0 && size(2, 1) == size(3, 1)
	})
	for b := int32(1); b <= 3; b++ {
		ds := dirs[b]
		if len(ds) != 1 {
			t.Fatalf("broker %d: %d log dirs", b, len(ds))
		}
		for name, d := range ds {
			if d.Err != nil || name != c.dirs[b-1] || d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
				t.Fatalf("broker %d dir %s: %+v (want %s)", b, name, d, c.dirs[b-1])
			}
			for part, holders := range [][]int32{{1, 2}, {2, 3}} {
				p, ok := d.Topics.Lookup("sized", int32(part))
				if ok != slices.Contains(holders, b) {
					t.Fatalf("broker %d lists sized-%d: %v (replicas %v)", b, part, ok, holders)
				}
				if !ok {
					continue
				}
				if p.Size <= 0 || p.OffsetLag != 0 || p.IsFuture {
					t.Fatalf("broker %d sized-%d: %+v", b, part, p)
				}
				if disk := segmentBytes(t, filepath.Join(c.dirs[b-1], fmt.Sprintf("sized-%d", part))); disk != p.Size {
					t.Fatalf("broker %d sized-%d: DescribeLogDirs size %d, segment files %d", b, part, p.Size, disk)
				}
			}
		}
	}
}

func segmentBytes(t *testing.T, dir string) int64 {
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var n int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += st.Size()
	}
	return n
}

// trib cluster info / rebalance / drain and topic describe's
// under-replicated and unavailable views, run as the trib binary against a
// 3-node cluster.
func TestClusterTools(t *testing.T) {
	c := startCluster(t, 3)
	brokers := strings.Join(c.addrs, ",")
	cl := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), freshMetadata)
	adm := kadm.NewClient(cl)
	var assignment [][]int32
	for p := 0; p < 6; p++ {
		assignment = append(assignment, []int32{1 + int32(p%2), 2 - int32(p%2)})
	}
	createAssigned(t, cl, "spread", assignment...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), kgo.DefaultProduceTopic("spread"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := 0; i < 600; i++ {
		prod.Produce(ctx, &kgo.Record{Partition: int32(i % 6), Value: []byte(fmt.Sprint(i))}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	out := mustTrib(t, brokers, "", "cluster", "info")
	for _, want := range []string{"Controller:", "Voters:      1,2,3", "Quorum leader:"} {
		if !strings.Contains(out, want) {
			t.Fatalf("cluster info lacks %q:\n%s", want, out)
		}
	}
	for _, a := range c.addrs {
		if !strings.Contains(out, a) {
			t.Fatalf("cluster info lacks broker %s:\n%s", a, out)
		}
	}

	// Dry run: the plan moves replicas onto broker 3, nothing changes.
	out = mustTrib(t, brokers, "", "cluster", "rebalance", "--dry-run")
	if !strings.Contains(out, "Dry run:") || !strings.Contains(out, "NEW REPLICAS") || !regexpMatch(`(?m)^3\s+0 -> 4\s+0 -> 2`, out) {
		t.Fatalf("rebalance --dry-run:\n%s", out)
	}
	for _, p := range c.describe(adm, "spread").Partitions {
		if slices.Contains(p.Replicas, 3) {
			t.Fatalf("dry run moved a replica: %+v", p)
		}
	}

	// Drain broker 1: every replica moves off it and its copies go.
	out = mustTrib(t, brokers, "", "cluster", "drain", "1")
	if !strings.Contains(out, "Done:") {
		t.Fatalf("drain:\n%s", out)
	}
	c.waitFor("metadata without broker 1", func() bool {
		for _, p := range c.describe(adm, "spread").Partitions {
			if slices.Contains(p.Replicas, 1) || len(p.Replicas) != 2 || p.Leader == 1 || len(p.ISR) != 2 {
				return false
			}
		}
		return true
	})
	c.waitFor("broker 1 to drop its copies", func() bool { return len(partitionDirs(c.dirs[0], "spread")) == 0 })

	// Rebalance for real: 12 replicas over 3 brokers, 6 preferred leaders.
	out = mustTrib(t, brokers, "", "cluster", "rebalance")
	if !strings.Contains(out, "Done:") {
		t.Fatalf("rebalance:\n%s", out)
	}
	var count, leaders map[int32]int
	c.waitFor("balanced replicas and leaders", func() bool {
		count, leaders = map[int32]int{}, map[int32]int{}
		for _, p := range c.describe(adm, "spread").Partitions {
			for _, r := range p.Replicas {
				count[r]++
			}
			leaders[p.Leader]++
		}
		return count[1] == 4 && count[2] == 4 && count[3] == 4 && leaders[1] == 2 && leaders[2] == 2 && leaders[3] == 2
	})
	if out := mustTrib(t, brokers, "", "cluster", "rebalance", "--dry-run"); !strings.Contains(out, "Nothing to move") {
		t.Fatalf("second rebalance plans moves:\n%s", out)
	}

	// Broker 3 dies: its partitions are under-replicated, the RF=1 topic
	// whose only replica it held is unavailable.
	createAssigned(t, cl, "single", []int32{3})
	if out := mustTrib(t, brokers, "", "topic", "describe", "--under-replicated-partitions"); strings.TrimSpace(out) != "" {
		t.Fatalf("under-replicated partitions with every broker up:\n%s", out)
	}
	c.nodes[2].Kill()
	c.nodes[2] = nil
	brokers = strings.Join(c.addrs[:2], ",")
	c.waitFor("broker 3 out of the ISRs", func() bool {
		for _, p := range c.describe(adm, "spread").Partitions {
			if slices.Contains(p.ISR, 3) {
				return false
			}
		}
		return true
	})
	out = mustTrib(t, brokers, "", "topic", "describe", "--under-replicated-partitions")
	want := 0
	for _, p := range c.describe(adm, "spread").Partitions {
		if slices.Contains(p.Replicas, 3) {
			want++
			if !regexpMatch(fmt.Sprintf(`Topic: spread\tPartition: %d\t`, p.Partition), out) {
				t.Fatalf("spread-%d (replicas %v) missing from the under-replicated view:\n%s", p.Partition, p.Replicas, out)
			}
		}
	}
	if got := strings.Count(out, "Topic: spread"); got != want || want == 0 {
		t.Fatalf("under-replicated view lists %d spread partitions, want %d:\n%s", got, want, out)
	}
	out = mustTrib(t, brokers, "", "topic", "describe", "--unavailable-partitions")
	if !strings.Contains(out, "Topic: single\tPartition: 0\tLeader: none") || strings.Contains(out, "Topic: spread") {
		t.Fatalf("unavailable view:\n%s", out)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
