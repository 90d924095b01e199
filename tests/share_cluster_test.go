package tests

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestShareGroupLeaderKillAndRestart: share-partition state survives the
// kill of the share-partition leader and a full cluster restart. Consumer
// a accepts half of the records and dies holding the other half; the
// leader is killed; consumer b receives exactly the held half (delivery
// count 2, the persisted count plus one) and never an accepted record;
// after every node restarts, consumer c receives only records produced
// after the restart.
func TestShareGroupLeaderKillAndRestart(t *testing.T) {
	t.Parallel() // its own in-process cluster; it mostly waits (failure detection, client retries), not on the CPU
	settings := map[string]string{}
	for k, v := range clusterSettings {
		settings[k] = v
	}
	for k, v := range shareSettings() {
		settings[k] = v
	}
	c := startClusterWith(t, 3, settings)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	admCl := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), freshMetadata)
	adm := kadm.NewClient(admCl)
	const topic, group, total = "share-ha", "sg-ha", 40
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil {
		t.Fatal(err)
	}
	c.waitFor("topic with a full ISR", func() bool {
		td := c.describe(adm, topic)
		return len(td.Partitions) == 1 && len(td.Partitions[0].ISR) == 3
	})
	setShareEarliest(t, admCl, group)
	prod := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(1000))
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(0, total)

	// a acquires everything in one poll, accepts the first half, then
	// is cut off the network holding the second half.
	kd := &killableDialer{}
	a := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.Dialer(kd.dial))
	var held []*kgo.Record
	c.waitFor("consumer a acquires every record", func() bool {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		defer pcancel()
		held = append(held, a.PollFetches(pctx).Records()...)
		return len(held) > 0
	})
	if len(held) != total {
		t.Fatalf("consumer a got %d records in its first poll, want all %d", len(held), total)
	}
	accepted := map[string]bool{}
	for _, r := range held {
		if i, _ := strconv.Atoi(string(r.Value)); i < total/2 {
			r.Ack(kgo.AckAccept)
			accepted[string(r.Value)] = true
		}
	}
	if err := a.FlushAcks(ctx); err != nil {
		t.Fatal(err)
	}
	kd.kill()

	// Kill the share-partition leader (the topic partition's leader).
	td := c.describe(adm, topic)
	leader := td.Partitions[0].Leader

	// A follower answers a ShareFetch with NOT_LEADER_OR_FOLLOWER and
	// the leader's id, epoch and address (KIP-951).
	follower := int32(1)
	if leader == 1 {
		follower = 2
	}
	sf := kmsg.NewPtrShareFetchRequest()
	sf.GroupID, sf.MemberID, sf.MaxRecords = kmsg.StringPtr(group), kmsg.StringPtr("probe"), 10
	sf.Topics = []kmsg.ShareFetchRequestTopic{{TopicID: td.ID, Partitions: []kmsg.ShareFetchRequestTopicPartition{{Partition: 0}}}}
	sresp, err := sf.RequestWith(ctx, admCl.Broker(int(follower)))
	if err != nil {
		t.Fatal(err)
	}
	if len(sresp.Topics) != 1 || len(sresp.Topics[0].Partitions) != 1 {
		t.Fatalf("share fetch on a follower: %+v", sresp)
	}
	hint := sresp.Topics[0].Partitions[0]
	if hint.ErrorCode != kerr.NotLeaderForPartition.Code || hint.CurrentLeader.LeaderID != leader || len(sresp.NodeEndpoints) != 1 ||
		sresp.NodeEndpoints[0].NodeID != leader || fmt.Sprintf("%s:%d", sresp.NodeEndpoints[0].Host, sresp.NodeEndpoints[0].Port) != c.addrs[leader-1] {
		t.Fatalf("share fetch on follower %d: code %d leader %+v endpoints %+v (leader %d at %s)", follower, hint.ErrorCode, hint.CurrentLeader, sresp.NodeEndpoints, leader, c.addrs[leader-1])
	}
	t.Logf("killing node %d, the share-partition leader", leader)
	c.nodes[leader-1].Kill()
	c.nodes[leader-1] = nil
	var live []string
	for i, a := range c.addrs {
		if int32(i+1) != leader {
			live = append(live, a)
		}
	}

	type seen struct {
		mu sync.Mutex
		m  map[string][]int32
	}
	consume := func(who string, s *seen, want int, addrs []string) {
		t.Helper()
		cl := newClient(t, addrs[0], kgo.SeedBrokers(addrs...), kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(500*time.Millisecond))
		defer cl.Close()
		c.waitFor(who+" receives its records", func() bool {
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			defer pcancel()
			cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
				s.mu.Lock()
				s.m[string(r.Value)] = append(s.m[string(r.Value)], r.DeliveryCount())
				s.mu.Unlock()
				r.Ack(kgo.AckAccept)
			})
			if err := cl.FlushAcks(ctx); err != nil {
				t.Logf("%s flush: %v", who, err)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.m) >= want
		})
		// A little longer: nothing else may come.
		time.Sleep(2500 * time.Millisecond)
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			s.mu.Lock()
			s.m[string(r.Value)] = append(s.m[string(r.Value)], r.DeliveryCount())
			s.mu.Unlock()
			r.Ack(kgo.AckAccept)
		})
		pcancel()
		if err := cl.FlushAcks(ctx); err != nil {
			t.Logf("%s flush: %v", who, err)
		}
	}
	b := &seen{m: map[string][]int32{}}
	consume("consumer b", b, total/2, live)
	for v, counts := range b.m {
		if accepted[v] {
			t.Errorf("accepted record %s redelivered after the leader kill", v)
		}
		if len(counts) != 1 || counts[0] != 2 {
			t.Errorf("record %s delivered to b with counts %v, want [2]", v, counts)
		}
	}
	if len(b.m) != total/2 {
		t.Errorf("b received %d records, want the %d held by a", len(b.m), total/2)
	}

	// Full restart: every node stops (the killed one was already down),
	// then all start again on their data.
	for i, nd := range c.nodes {
		if nd != nil {
			nd.Close()
			c.nodes[i] = nil
		}
	}
	var wg sync.WaitGroup
	for i := range c.nodes {
		wg.Add(1)
		go func(i int) { defer wg.Done(); c.start(i) }(i)
	}
	wg.Wait()
	c.waitFor("topic led again after the restart", func() bool {
		td := c.describe(adm, topic)
		return len(td.Partitions) == 1 && td.Partitions[0].Leader >= 0 && len(td.Partitions[0].ISR) >= 2
	})
	produce(total, total+10)
	cs := &seen{m: map[string][]int32{}}
	consume("consumer c", cs, 10, c.addrs)
	for v := range cs.m {
		if i, _ := strconv.Atoi(v); i < total {
			t.Errorf("record %s, accepted before the restart, redelivered after it", v)
		}
	}
	if len(cs.m) != 10 {
		t.Errorf("c received %d records, want the 10 produced after the restart", len(cs.m))
	}
}
