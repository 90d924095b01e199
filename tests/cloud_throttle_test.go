package tests

import (
	"context"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCloudResizeThrottled: a control plane run with --reassign-throttle
// 1 MiB/s scales a one-broker cluster holding 16 MiB in 4 partitions out
// to two brokers. While the moves run, leader.replication.throttled.rate
// is the cluster default and the moved topic lists "*"; the balance
// moves two partitions (8 MiB) from broker 1, whose bucket holds one
// second: at least 7 s (2.2 s unthrottled here); once online both are gone.
func TestCloudResizeThrottled(t *testing.T) {
	dir := t.TempDir()
	t.Cleanup(func() {
		if t.Failed() {
			brokerLogs(t, dir)
		}
		killBrokers(dir)
	})
	cp := startCloudWith(t, dir, "sqlite", []string{"--reassign-throttle", "1048576"})
	cl := godoClient(t, cp.URL, adminToken(t, dir))
	ctx := context.Background()
	db, _, err := cl.Databases.Create(ctx, &godo.DatabaseCreateRequest{Name: "thr", EngineSlug: "kafka", SizeSlug: "local", NumNodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	db = waitStatus(t, cl, db.ID, "online", 90*time.Second)
	parts, rf := uint32(4), uint32(1)
	if _, _, err := cl.Databases.CreateTopic(ctx, db.ID, &godo.DatabaseCreateTopicRequest{Name: "bulk", PartitionCount: &parts, ReplicationFactor: &rf}); err != nil {
		t.Fatal(err)
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(fmt.Sprintf("%s:%d", db.Connection.Host, db.Connection.Port)),
		kgo.MetadataMinAge(100 * time.Millisecond)}, cloudClientOpts(t, cl, db.ID, db.Connection.User, db.Connection.Password)...)
	kc, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic("bulk"), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	adm := kadm.NewClient(kc)
	rng := rand.New(rand.NewSource(1))
	var rs []*kgo.Record
	for i := 0; i < 1024; i++ { // 1024 × 16 KiB = 16 MiB, 4 MiB a partition
		v := make([]byte, 16<<10)
		rng.Read(v)
		rs = append(rs, &kgo.Record{Value: v, Partition: int32(i % 4)})
	}
	pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = kc.ProduceSync(pctx, rs...).FirstErr()
	cancel()
	if err != nil {
		t.Fatalf("produce: %v", err)
	}

	rate := func() string {
		rcs, err := adm.DescribeBrokerConfigs(ctx)
		if err != nil || len(rcs) == 0 {
			return "?"
		}
		for _, c := range rcs[0].Configs {
			if c.Key == "leader.replication.throttled.rate" && c.Value != nil {
				return *c.Value
			}
		}
		return ""
	}
	topicList := func() string {
		rcs, err := adm.DescribeTopicConfigs(ctx, "bulk")
		if err != nil || len(rcs) == 0 {
			return "?"
		}
		for _, c := range rcs[0].Configs {
			if c.Key == "leader.replication.throttled.replicas" && c.Value != nil {
				return *c.Value
			}
		}
		return ""
	}
	start := time.Now()
	if _, err := cl.Databases.Resize(ctx, db.ID, &godo.DatabaseResizeRequest{NumNodes: 2}); err != nil {
		t.Fatalf("resize to 2: %v", err)
	}
	var seenRate, seenList bool
	deadline := time.Now().Add(120 * time.Second)
	for {
		d, _, err := cl.Databases.Get(ctx, db.ID)
		if err == nil && d.Status == "online" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not online 120 s after the resize")
		}
		seenRate = seenRate || rate() == "1048576"
		seenList = seenList || topicList() == "*"
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("resize 1 → 2 moving 2 of 4 partitions (8 MiB) at 1 MiB/s: online in %v", took.Round(time.Millisecond))
	if !seenRate || !seenList {
		t.Errorf("during the moves: throttle rate seen %v, bulk's replicas list seen %v", seenRate, seenList)
	}
	if took < 6*time.Second {
		t.Errorf("8 MiB moved in %v at 1 MiB/s", took)
	}
	if r, l := rate(), topicList(); r != "9223372036854775807" && r != "" || l != "" {
		t.Errorf("after the resize: leader.replication.throttled.rate %q, bulk's leader.replication.throttled.replicas %q, want both cleared", r, l)
	}
	if n := replicasOn(adm, "bulk", 2); n != 2 {
		t.Errorf("%d replicas of bulk on the new broker 2, want 2", n)
	}
}
