package tests

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// txnSettings keep __transaction_state small for a test node.
var txnSettings = map[string]string{"transaction.state.log.num.partitions": "3", "offsets.topic.num.partitions": "3"}

// TestTxnCommitAbortReadCommitted: a franz-go transactional producer
// commits one transaction and aborts the next over three partitions; a
// read_committed consumer sees exactly the committed records, a
// read_uncommitted one sees both (the control batches themselves are
// never records).
func TestTxnCommitAbortReadCommitted(t *testing.T) {
	n := startNode(t, "", txnSettings)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "tx"); err != nil {
		t.Fatal(err)
	}
	p := newClient(t, n.Addr(), kgo.TransactionalID("tx-producer"), kgo.DefaultProduceTopic("tx"), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(30*time.Second))
	produce := func(prefix string, count int, commit bool) {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range count {
			r := &kgo.Record{Value: []byte(fmt.Sprintf("%s-%d", prefix, i)), Partition: int32(i % 3)}
			if err := p.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce %s-%d: %v", prefix, i, err)
			}
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end %s (commit=%v): %v", prefix, commit, err)
		}
	}
	produce("committed", 30, true)
	produce("aborted", 30, false)
	produce("last", 3, true) // past the aborted one: the LSO must move on

	read := func(level kgo.IsolationLevel, want int) []string {
		c := newClient(t, n.Addr(), kgo.ConsumeTopics("tx"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(level))
		var got []string
		for len(got) < want {
			fs := c.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("consume: %v (got %d of %d)", err, len(got), want)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		// Nothing more is readable.
		short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		fs := c.PollFetches(short)
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		sort.Strings(got)
		return got
	}
	committed := read(kgo.ReadCommitted(), 33)
	if len(committed) != 33 {
		t.Fatalf("read_committed got %d records, want 33: %v", len(committed), committed)
	}
	for _, v := range committed {
		if v[:3] == "abo" {
			t.Fatalf("read_committed read aborted record %s", v)
		}
	}
	if all := read(kgo.ReadUncommitted(), 63); len(all) != 63 {
		t.Fatalf("read_uncommitted got %d records, want 63", len(all))
	}

	ends, err := adm.ListEndOffsets(ctx, "tx")
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	// 63 records + 3 markers per partition that took part in each
	// transaction (all three partitions, three transactions).
	if total != 63+9 {
		t.Fatalf("end offsets sum to %d, want 72", total)
	}
}

// TestTxnZombieFenced: a second producer with the same transactional id
// fences the first; the first's commit fails with PRODUCER_FENCED (or
// INVALID_PRODUCER_EPOCH), its open transaction is aborted, and
// read_committed consumers never see it.
func TestTxnZombieFenced(t *testing.T) {
	n := startNode(t, "", txnSettings)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "zz"); err != nil {
		t.Fatal(err)
	}
	zombie := newClient(t, n.Addr(), kgo.TransactionalID("zz-producer"), kgo.DefaultProduceTopic("zz"))
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, &kgo.Record{Value: []byte("zombie")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fresh := newClient(t, n.Addr(), kgo.TransactionalID("zz-producer"), kgo.DefaultProduceTopic("zz"))
	if err := fresh.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := fresh.ProduceSync(ctx, &kgo.Record{Value: []byte("fresh")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := fresh.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	err := zombie.EndTransaction(ctx, kgo.TryCommit)
	if err == nil || !(errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch)) {
		t.Fatalf("zombie commit: %v, want PRODUCER_FENCED", err)
	}
	c := newClient(t, n.Addr(), kgo.ConsumeTopics("zz"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var got []string
	for len(got) < 1 {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	short, cancel2 := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel2()
	c.PollFetches(short).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	if len(got) != 1 || got[0] != "fresh" {
		t.Fatalf("read_committed got %v, want [fresh]", got)
	}
}

// TestTxnClusterCoordinatorFailover: in a 3-broker cluster a transactional
// producer writes over partitions led by every broker (markers travel by
// WriteTxnMarkers to remote leaders), then the transaction coordinator's
// broker is killed; a new producer with the same transactional id finds
// the new coordinator, which recovered the id's state from
// __transaction_state (epoch bumped past the old one), and commits. A
// read_committed consumer sees exactly the committed records.
func TestTxnClusterCoordinatorFailover(t *testing.T) {
	t.Parallel() // its own in-process cluster; it mostly waits (failure detection, client retries), not on the CPU
	settings := map[string]string{}
	for k, v := range clusterSettings {
		settings[k] = v
	}
	for k, v := range txnSettings {
		settings[k] = v
	}
	c := startClusterWith(t, 3, settings)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), freshMetadata))
	if _, err := adm.CreateTopic(ctx, 6, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "ctx"); err != nil {
		t.Fatal(err)
	}
	c.waitFor("leaders on every broker", func() bool {
		td := c.describe(adm, "ctx")
		leaders := map[int32]bool{}
		for _, p := range td.Partitions {
			if p.Err == nil && len(p.ISR) == 3 {
				leaders[p.Leader] = true
			}
		}
		return len(leaders) == 3
	})
	const id = "failover-producer"
	newProducer := func(seeds ...string) *kgo.Client {
		return newClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.TransactionalID(id), kgo.DefaultProduceTopic("ctx"),
			kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	txn := func(p *kgo.Client, prefix string, commit bool) {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 12 {
			r := &kgo.Record{Value: []byte(fmt.Sprintf("%s-%d", prefix, i)), Partition: int32(i % 6)}
			if err := p.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce %s-%d: %v", prefix, i, err)
			}
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end %s: %v", prefix, err)
		}
	}
	p1 := newProducer(c.addrs...)
	txn(p1, "a", true)
	txn(p1, "b", false)
	txn(p1, "c", true)

	// Kill the coordinator.
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorType, fc.CoordinatorKey = 1, id
	resp, err := fc.RequestWith(ctx, p1)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("find coordinator: %v %+v", err, resp)
	}
	victim := int(resp.NodeID - 1)
	p1.Close()
	c.nodes[victim].Kill()
	c.nodes[victim] = nil
	var alive []string
	for i, a := range c.addrs {
		if i != victim {
			alive = append(alive, a)
		}
	}
	p2 := newProducer(alive...)
	txn(p2, "d", true)

	cons := newClient(t, alive[0], kgo.SeedBrokers(alive...), kgo.ConsumeTopics("ctx"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := map[string]int{}
	for n := 0; n < 36; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 36: %v", n, seen)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++; n++ })
	}
	short, cancel2 := context.WithTimeout(ctx, time.Second)
	defer cancel2()
	cons.PollFetches(short).EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
	for _, prefix := range []string{"a", "c", "d"} {
		for i := range 12 {
			if k := fmt.Sprintf("%s-%d", prefix, i); seen[k] != 1 {
				t.Errorf("committed %s read %d times", k, seen[k])
			}
		}
	}
	for k := range seen {
		if k[0] == 'b' {
			t.Errorf("read_committed read aborted record %s", k)
		}
	}
}

// TestTxnTimeoutAbortsDeadProducer: a producer that dies inside a
// transaction holds the last stable offset back until
// transaction.timeout.ms passes; the coordinator then aborts it (under a
// bumped epoch), the LSO moves on, and read_committed consumers see what
// others committed after it, never its records.
func TestTxnTimeoutAbortsDeadProducer(t *testing.T) {
	settings := map[string]string{"transaction.abort.timed.out.transaction.cleanup.interval.ms": "200"}
	for k, v := range txnSettings {
		settings[k] = v
	}
	tribBinary(t) // built before the clock matters
	n := startNode(t, "", settings)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "dead"); err != nil {
		t.Fatal(err)
	}
	dead := newClient(t, n.Addr(), kgo.TransactionalID("dead-producer"), kgo.DefaultProduceTopic("dead"), kgo.TransactionTimeout(4*time.Second))
	if err := dead.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := dead.ProduceSync(ctx, &kgo.Record{Value: []byte("dead")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// The producer "dies": it never ends the transaction.
	live := newClient(t, n.Addr(), kgo.TransactionalID("live-producer"), kgo.DefaultProduceTopic("dead"))
	if err := live.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := live.ProduceSync(ctx, &kgo.Record{Value: []byte("live")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := live.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	committedEnd := func() int64 {
		ends, err := adm.ListCommittedOffsets(ctx, "dead") // read_committed: the LSO
		if err != nil {
			t.Fatal(err)
		}
		o, _ := ends.Lookup("dead", 0)
		return o.Offset
	}
	if lso := committedEnd(); lso != 0 {
		t.Fatalf("LSO %d while the dead producer's transaction is open, want 0", lso)
	}
	// DescribeTransactions / ListTransactions (kadm) and trib txn see it open.
	ds, err := adm.DescribeTransactions(ctx, "dead-producer")
	if err != nil {
		t.Fatal(err)
	}
	d := ds["dead-producer"]
	if d.Err != nil || d.State != "Ongoing" || d.TimeoutMillis != 4000 || d.StartTimestamp <= 0 || len(d.Topics["dead"]) != 1 {
		t.Fatalf("describe while open: %+v", d)
	}
	ls, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ls["dead-producer"]; !ok || len(ls) != 1 {
		t.Fatalf("list Ongoing: %+v", ls)
	}
	c := newClient(t, n.Addr(), kgo.ConsumeTopics("dead"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var got []string
	for len(got) < 1 {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("the LSO never moved past the dead producer's transaction")
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) != 1 || got[0] != "live" {
		t.Fatalf("read_committed got %v, want [live]", got)
	}
	// Records: dead(0) live(1) live's marker(2) dead's abort marker(3).
	if lso := committedEnd(); lso != 4 {
		t.Fatalf("LSO %d after the timeout abort, want 4", lso)
	}
	// The Complete record follows the markers.
	for {
		ds, err = adm.DescribeTransactions(ctx, "dead-producer")
		if err != nil {
			t.Fatal(err)
		}
		d2 := ds["dead-producer"]
		if d2.State == "CompleteAbort" && d2.ProducerEpoch == d.ProducerEpoch+1 {
			break
		}
		if d2.State != "PrepareAbort" || ctx.Err() != nil {
			t.Fatalf("describe after the timeout abort: %+v (was epoch %d)", d2, d.ProducerEpoch)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out := mustTrib(t, n.Addr(), "", "txn", "describe", "dead-producer"); !strings.Contains(out, "CompleteAbort") {
		t.Fatalf("trib txn describe:\n%s", out)
	}
	if out := mustTrib(t, n.Addr(), "", "txn", "list"); !strings.Contains(out, "dead-producer") || !strings.Contains(out, "live-producer") {
		t.Fatalf("trib txn list:\n%s", out)
	}
	// The dead producer is fenced: its commit fails.
	if err := dead.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("the timed-out producer committed")
	}
}

// TestTxnGroupTransactSession: franz-go's GroupTransactSession consumes
// "in" (read_committed), writes each record to "out" and commits its
// offsets inside the same transaction: with transaction version 2
// (TxnOffsetCommit v5 has the broker add the offsets partition) and with
// version 1 (versions capped as a Kafka 3.x client: AddOffsetsToTxn, then
// TxnOffsetCommit v4, which the broker verifies, KIP-890 part 1). One
// session aborts its first transaction; the output, read read_committed,
// holds every input record exactly once, and the group's committed
// offsets reach the end of the input.
func TestTxnGroupTransactSession(t *testing.T) {
	tv1 := kversion.Stable()
	for k, v := range map[kmsg.Key]int16{kmsg.Produce: 11, kmsg.EndTxn: 4, kmsg.TxnOffsetCommit: 4} {
		tv1.SetMaxKeyVersion(int16(k), v)
	}
	t.Run("transaction version 2", func(t *testing.T) { testGroupTransactSession(t) })
	t.Run("transaction version 1", func(t *testing.T) { testGroupTransactSession(t, kgo.MaxVersions(tv1)) })
}

func testGroupTransactSession(t *testing.T, opts ...kgo.Opt) {
	settings := map[string]string{"group.initial.rebalance.delay.ms": "0"}
	for k, v := range txnSettings {
		settings[k] = v
	}
	n := startNode(t, "", settings)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	for _, topic := range []string{"in", "out"} {
		if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	const total = 300
	src := newClient(t, n.Addr(), kgo.DefaultProduceTopic("in"))
	for i := range total {
		if err := src.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprintf("r%03d", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	sess, err := kgo.NewGroupTransactSession(append([]kgo.Opt{kgo.SeedBrokers(n.Addr()), kgo.TransactionalID("eos-1"), kgo.DefaultProduceTopic("out"),
		kgo.ConsumerGroup("eos"), kgo.ConsumeTopics("in"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RequireStableFetchOffsets()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	done, aborted := 0, false
	for done < total {
		fs := sess.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("transformed %d of %d", done, total)
		}
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		if fs.NumRecords() == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: append([]byte("out-"), r.Value...)}, func(_ *kgo.Record, err error) {
				if err != nil && !errors.Is(err, kgo.ErrAborting) {
					t.Errorf("produce: %v", err)
				}
			})
		})
		commit := kgo.TryCommit
		if !aborted {
			// The first transaction is aborted: its output is dropped and
			// its input consumed again.
			commit, aborted = kgo.TryAbort, true
		}
		committed, err := sess.End(ctx, commit)
		if err != nil {
			t.Fatalf("end: %v", err)
		}
		if committed {
			done += fs.NumRecords()
		}
	}
	// The output, read_committed: every input exactly once.
	c := newClient(t, n.Addr(), kgo.ConsumeTopics("out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := map[string]int{}
	for got := 0; got < total; {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d outputs", got, total)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++; got++ })
	}
	short, cancel2 := context.WithTimeout(ctx, time.Second)
	defer cancel2()
	c.PollFetches(short).EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
	for i := range total {
		if k := fmt.Sprintf("out-r%03d", i); seen[k] != 1 {
			t.Errorf("%s read %d times", k, seen[k])
		}
	}
	if len(seen) != total {
		t.Errorf("%d distinct outputs, want %d", len(seen), total)
	}
	// The group's committed offsets cover the input.
	offs, err := adm.FetchOffsets(ctx, "eos")
	if err != nil {
		t.Fatal(err)
	}
	sum := int64(0)
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	ends, err := adm.ListEndOffsets(ctx, "in")
	if err != nil {
		t.Fatal(err)
	}
	want := int64(0)
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	if sum != want {
		t.Fatalf("committed offsets sum %d, want %d", sum, want)
	}
}

// TestTxnClusterGroupTransactSessionLeaderKilled: consume-transform-produce
// with franz-go's GroupTransactSession in a 3-broker cluster; midway the
// broker leading the most input and output partitions is killed. Every
// input record appears exactly once in the output as read_committed sees
// it (aborted attempts are retried by the session from the committed
// offsets).
func TestTxnClusterGroupTransactSessionLeaderKilled(t *testing.T) {
	t.Parallel() // its own in-process cluster; it mostly waits (failure detection, client retries), not on the CPU
	settings := map[string]string{}
	for k, v := range clusterSettings {
		settings[k] = v
	}
	for k, v := range txnSettings {
		settings[k] = v
	}
	c := startClusterWith(t, 3, settings)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), freshMetadata))
	for _, topic := range []string{"eos-in", "eos-out"} {
		if _, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil {
			t.Fatal(err)
		}
	}
	c.waitFor("full ISRs", func() bool {
		for _, topic := range []string{"eos-in", "eos-out"} {
			for _, p := range c.describe(adm, topic).Partitions {
				if p.Err != nil || len(p.ISR) != 3 {
					return false
				}
			}
		}
		return true
	})
	const total = 600
	src := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), kgo.DefaultProduceTopic("eos-in"))
	for i := range total {
		if err := src.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i % 11)), Value: []byte(fmt.Sprintf("r%03d", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	src.Close()
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(c.addrs...), kgo.TransactionalID("eos-cluster"), kgo.DefaultProduceTopic("eos-out"),
		kgo.ConsumerGroup("eos-cluster"), kgo.ConsumeTopics("eos-in"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RequireStableFetchOffsets(), kgo.FetchMaxBytes(4<<10), kgo.FetchMaxPartitionBytes(1<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	done, killed := 0, false
	for done < total {
		if ctx.Err() != nil {
			t.Fatalf("transformed %d of %d", done, total)
		}
		if !killed && done >= total/3 {
			td := c.describe(adm, "eos-in")
			count := map[int32]int{}
			for _, p := range td.Partitions {
				count[p.Leader]++
			}
			victim := int32(1)
			for id, n := range count {
				if n > count[victim] {
					victim = id
				}
			}
			c.nodes[victim-1].Kill()
			c.nodes[victim-1] = nil
			killed = true
		}
		fs := sess.PollFetches(ctx)
		if fs.NumRecords() == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: append([]byte("out-"), r.Value...)}, nil)
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Logf("end (retried from the committed offsets): %v", err)
			continue
		}
		if committed {
			done += fs.NumRecords()
		}
	}
	if !killed {
		t.Fatal("the run ended before the leader was killed")
	}
	var alive []string
	for i, nd := range c.nodes {
		if nd != nil {
			alive = append(alive, c.addrs[i])
		}
	}
	cons := newClient(t, alive[0], kgo.SeedBrokers(alive...), kgo.ConsumeTopics("eos-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := map[string]int{}
	for got := 0; got < total; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d outputs", got, total)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++; got++ })
	}
	short, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	cons.PollFetches(short).EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
	for i := range total {
		if k := fmt.Sprintf("out-r%03d", i); seen[k] != 1 {
			t.Errorf("%s read %d times", k, seen[k])
		}
	}
	if len(seen) != total {
		t.Errorf("%d distinct outputs, want %d", len(seen), total)
	}
}
