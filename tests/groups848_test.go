package tests

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// consumerGroupSettings are groupSettings plus short KIP-848 session and
// heartbeat intervals.
func consumerGroupSettings() map[string]string {
	s := groupSettings()
	s["group.consumer.session.timeout.ms"] = "1500"
	s["group.consumer.heartbeat.interval.ms"] = "100"
	return s
}

// TestKgo848SeedExample is the seed's example on the next-generation
// protocol (KIP-848, kgo.ServerSideBalancer): 3 partitions, 2 consumers get
// 1 and 2; a third gets 1 each; a consumer killed without leaving loses its
// partitions after the session timeout; no partition is held by two live
// members at once and no record is processed by two live members of one
// epoch. Run with both server-side assignors.
func TestKgo848SeedExample(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"uniform", kgo.CooperativeStickyBalancer()},
		{"range", kgo.RangeBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, "", consumerGroupSettings())
			ctx := context.Background()
			adm := newAdmin(t, n.Addr())
			topic := "seed848-" + tc.name
			if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			prod := newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			produceN(t, prod, topic, 30)
			own := newOwnership(t)
			opts := []kgo.Opt{kgo.Balancers(tc.balancer), kgo.ServerSideBalancer()}
			a := startMember(t, n.Addr(), "g", topic, "a", own, opts...)
			waitSplit(t, 3, []int{3}, a)
			b := startMember(t, n.Addr(), "g", topic, "b", own, opts...)
			waitSplit(t, 3, []int{1, 2}, a, b)
			c := startMember(t, n.Addr(), "g", topic, "c", own, opts...)
			waitSplit(t, 3, []int{1, 1, 1}, a, b, c)
			produceN(t, prod, topic, 30)

			d, err := adm.DescribeConsumerGroups(ctx, "g")
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"uniform": "uniform", "range": "range"}[tc.name]
			if g := d["g"]; g.Err != nil || g.AssignorName != want || len(g.Members) != 3 {
				t.Fatalf("describe: err %v assignor %q members %d", g.Err, g.AssignorName, len(g.Members))
			}

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
			deadline = time.Now().Add(10 * time.Second)
			for {
				d, err = adm.DescribeConsumerGroups(ctx, "g")
				if err != nil {
					t.Fatal(err)
				}
				g := d["g"]
				if g.State == "Stable" && len(g.Members) == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("group after kill: state %s, %d members", g.State, len(g.Members))
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
