package tests

// Zombie fencing of exactly-once source connectors (KIP-618) on a real
// worker: a MirrorSourceConnector with two tasks is reconfigured to one.
// Before the new task generation starts, the leader fences the
// transactional ids of both earlier tasks and records the new task count
// (tasks-fencing-<connector>) in the config topic. A producer holding task
// 1's transactional id with an open transaction (a zombie task on a
// partitioned worker) can then no longer commit, and a read_committed
// consumer sees every mirrored record exactly once.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestConnectZombieFencing(t *testing.T) {
	t.Parallel() // see connectNode
	n := connectNode(t)
	w := startConnectWorker(t, n.Addr(), "--set", "exactly.once.source.support=enabled")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := newAdmin(t, n.Addr()).CreateTopic(ctx, 2, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	prod := newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const perBatch = 50
	produce := func(batch int) {
		for p := int32(0); p < 2; p++ {
			for i := 0; i < perBatch; i++ {
				r := &kgo.Record{Topic: "orders", Partition: p, Key: []byte(fmt.Sprintf("k%d-%d-%d", batch, p, i)), Value: []byte("v")}
				if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	produce(0)

	// Source and target are the same cluster: orders → src.orders.
	config := func(tasks int) string {
		return fmt.Sprintf(`{"connector.class":"MirrorSourceConnector","source.cluster.alias":"src","target.cluster.alias":"dst",
			"source.cluster.bootstrap.servers":%q,"target.cluster.bootstrap.servers":%q,"topics":"orders","tasks.max":"%d",
			"replication.factor":"1","offset-syncs.topic.replication.factor":"1","refresh.topics.interval.seconds":"1",
			"key.converter":"org.apache.kafka.connect.converters.ByteArrayConverter","value.converter":"org.apache.kafka.connect.converters.ByteArrayConverter"}`,
			n.Addr(), n.Addr(), tasks)
	}
	mustCall(t, "PUT", w.URL+"/connectors/mm/config", config(2), 201, nil)
	waitRunning(t, w.URL, "mm", 2)
	waitTaskCount(t, n.Addr(), "mm", 2)
	// Both tasks have committed (so their producers are initialized) and
	// sit idle once the first batch is in.
	cons := newClient(t, n.Addr(), kgo.ConsumeTopics("src.orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := map[string]int{}
	total := 0
	poll := func(ctx context.Context) {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { seen[string(r.Key)]++; total++ })
	}
	for total < 2*perBatch && ctx.Err() == nil {
		poll(ctx)
	}

	// The zombie: a producer with task 1's transactional id and an open
	// transaction holding one record.
	zombie := newClient(t, n.Addr(), kgo.TransactionalID("connect-cluster-mm-1"), kgo.DefaultProduceTopic("src.orders"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, &kgo.Record{Key: []byte("zombie"), Value: []byte("v"), Partition: 1}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// Shrink to one task: the new generation starts only after the fencing.
	mustCall(t, "PUT", w.URL+"/connectors/mm/config", config(1), 200, nil)
	waitTaskCount(t, n.Addr(), "mm", 1)
	waitRunning(t, w.URL, "mm", 1)
	err := zombie.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("the zombie's commit returned %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
	}
	produce(1)

	for total < 4*perBatch && ctx.Err() == nil {
		poll(ctx)
	}
	// A duplicate or the zombie's record would show up within a short poll.
	sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
	defer scancel()
	poll(sctx)
	if seen["zombie"] != 0 {
		t.Fatal("the zombie's transaction was committed")
	}
	for b := 0; b < 2; b++ {
		for p := 0; p < 2; p++ {
			for i := 0; i < perBatch; i++ {
				if k := fmt.Sprintf("k%d-%d-%d", b, p, i); seen[k] != 1 {
					t.Fatalf("record %s read %d times, want once", k, seen[k])
				}
			}
		}
	}
	if total != 4*perBatch {
		t.Fatalf("read %d records, want %d", total, 4*perBatch)
	}
}

// waitTaskCount waits until the config topic's last tasks-fencing-<name>
// record holds want (Connect's {"task-count":N}).
func waitTaskCount(t testing.TB, addr, name string, want int) {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics("connect-configs"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	last := -1
	waitFor(t, 60*time.Second, fmt.Sprintf("tasks-fencing-%s with task-count %d", name, want), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if string(r.Key) != "tasks-fencing-"+name {
				return
			}
			var v struct {
				TaskCount *int `json:"task-count"`
			}
			if json.Unmarshal(r.Value, &v) == nil && v.TaskCount != nil {
				last = *v.TaskCount
			}
		})
		return last == want
	})
}
