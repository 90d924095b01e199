package tests

import (
	"context"
	"math/rand"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterReassignThrottled (KIP-73): a partition holding 8 MiB moves
// from broker 1 to broker 3. Unthrottled the copy is quick; with
// leader.replication.throttled.rate=1 MiB/s on broker 1 and the topic's
// leader.replication.throttled.replicas naming 0:1 it is still in progress
// after 5 s and completes once the rate is deleted; at 4 MiB/s with "*" it
// takes at least 1.5 s and completes under the throttle. The follower
// side alone (follower.replication.throttled.rate on broker 3, the topic's
// follower list naming 0:3) holds a move back the same way. An in-sync
// follower's fetches are not throttled (acks=all produce goes on).
func TestClusterReassignThrottled(t *testing.T) {
	c := startCluster(t, 3)
	cl := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), freshMetadata)
	adm := kadm.NewClient(cl)
	const size = 8 << 20
	for _, name := range []string{"fast", "slow", "fslow", "capped"} {
		createAssigned(t, cl, name, []int32{1})
		fill(t, c, name, size)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	alterRate := func(key string, broker int32, op kadm.IncrementalOp, value string) {
		t.Helper()
		res, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: op, Name: key, Value: kadm.StringPtr(value)}}, broker)
		if err == nil {
			err = res[0].Err
		}
		if err != nil {
			t.Fatalf("alter %s: %v", key, err)
		}
		c.waitFor("the broker to apply the rate", func() bool {
			cfg, err := describeConfigs(t, c.addrs[broker-1], kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(broker)))
			v := cfg[key].Value
			return err == nil && v != nil && (op == kadm.DeleteConfig) == (*v == "9223372036854775807") && (op == kadm.DeleteConfig || *v == value)
		})
	}
	// Both keys in one request: a second request right after the first
	// may reach a broker that has not applied the first yet.
	alterTopic := func(topic, leader, follower string) {
		t.Helper()
		res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
			{Name: "leader.replication.throttled.replicas", Value: kadm.StringPtr(leader)},
			{Name: "follower.replication.throttled.replicas", Value: kadm.StringPtr(follower)},
		}, topic)
		if err == nil {
			err = res[0].Err
		}
		if err != nil {
			t.Fatalf("alter %s: %v", topic, err)
		}
	}
	alterBroker := func(op kadm.IncrementalOp, value string) {
		t.Helper()
		alterRate("leader.replication.throttled.rate", 1, op, value)
	}
	moved := func(topic string) bool {
		p := c.describe(adm, topic).Partitions[0]
		return slices.Equal(p.Replicas, []int32{3}) && len(listReassignments(t, adm, topic, 0)[topic]) == 0
	}
	move := func(topic string) time.Time {
		t.Helper()
		if err := reassign(t, adm, topic, 0, []int32{3}); err != nil {
			t.Fatalf("reassign %s: %v", topic, err)
		}
		return time.Now()
	}

	start := move("fast")
	c.waitFor("the unthrottled move", func() bool { return moved("fast") })
	t.Logf("unthrottled: 8 MiB moved in %v", time.Since(start).Round(time.Millisecond))

	// A malformed list is refused as Kafka refuses it.
	if res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "leader.replication.throttled.replicas", Value: kadm.StringPtr("0-1")}}, "slow"); err == nil && res[0].Err == nil {
		t.Fatal("leader.replication.throttled.replicas=0-1 was accepted")
	}
	alterTopic("slow", "0:1", "0:3")
	alterBroker(kadm.SetConfig, "1048576")
	start = move("slow")
	for time.Since(start) < 5*time.Second {
		if moved("slow") {
			t.Fatalf("8 MiB moved in %v at 1 MiB/s", time.Since(start))
		}
		time.Sleep(200 * time.Millisecond)
	}
	alterBroker(kadm.DeleteConfig, "")
	c.waitFor("the move once the throttle is gone", func() bool { return moved("slow") })
	t.Logf("throttled at 1 MiB/s for 5 s, then unthrottled: moved in %v", time.Since(start).Round(time.Millisecond))

	// Follower side: broker 3 throttles its own fetches of "fslow" (the
	// leader does not).
	alterTopic("fslow", "", "0:3")
	alterRate("follower.replication.throttled.rate", 3, kadm.SetConfig, "1048576")
	start = move("fslow")
	for time.Since(start) < 4*time.Second {
		if moved("fslow") {
			t.Fatalf("8 MiB moved in %v at 1 MiB/s (follower side)", time.Since(start))
		}
		time.Sleep(200 * time.Millisecond)
	}
	alterRate("follower.replication.throttled.rate", 3, kadm.DeleteConfig, "")
	c.waitFor("the move once the follower throttle is gone", func() bool { return moved("fslow") })
	t.Logf("follower-throttled at 1 MiB/s for 4 s, then unthrottled: moved in %v", time.Since(start).Round(time.Millisecond))

	alterTopic("capped", "*", "*")
	alterBroker(kadm.SetConfig, "4194304")
	start = move("capped")
	c.waitFor("the move under a 4 MiB/s throttle", func() bool { return moved("capped") })
	took := time.Since(start)
	t.Logf("throttled at 4 MiB/s: 8 MiB moved in %v", took.Round(time.Millisecond))
	if took < 1500*time.Millisecond {
		t.Fatalf("8 MiB moved in %v at 4 MiB/s (a bucket of 1 s, so at least 1.5 s)", took)
	}

	// An in-sync follower is never throttled: acks=all writes of 2 MiB
	// to a throttled partition replicated by brokers 1 and 2 go through at
	// 1 KiB/s.
	createAssigned(t, cl, "insync", []int32{1, 2})
	c.waitFor("ISR [1 2]", func() bool {
		p := c.describe(adm, "insync").Partitions[0]
		return slices.Equal(sortedIDs(p.ISR), []int32{1, 2}) && p.Leader == 1
	})
	alterTopic("insync", "*", "*")
	alterBroker(kadm.SetConfig, "1024")
	start = time.Now()
	fill(t, c, "insync", 2<<20)
	t.Logf("throttled at 1 KiB/s, in sync: 2 MiB written with acks=all in %v", time.Since(start).Round(time.Millisecond))
	// Throttled, broker 2 would fall out of the ISR (replica.lag.time.max.ms
	// is 3 s here) and stay out, 2 MiB behind at 1 KiB/s.
	time.Sleep(4 * time.Second)
	if p := c.describe(adm, "insync").Partitions[0]; !slices.Equal(sortedIDs(p.ISR), []int32{1, 2}) {
		t.Fatalf("ISR %v after writes to a throttled partition: the in-sync follower was throttled", p.ISR)
	}
}

// fill writes size bytes of incompressible records to partition 0 of topic.
func fill(t *testing.T, c *cluster, topic string, size int) {
	t.Helper()
	cl := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rng := rand.New(rand.NewSource(1))
	const rec = 16 << 10
	var rs []*kgo.Record
	for n := 0; n < size; n += rec {
		v := make([]byte, rec)
		rng.Read(v)
		rs = append(rs, &kgo.Record{Value: v})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("fill %s: %v", topic, err)
	}
}
