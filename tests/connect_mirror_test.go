package tests

// MirrorMaker 2's connectors on a real worker between two real clusters:
// MirrorSourceConnector copies a topic (keys, values, headers, partitions,
// timestamps, configs) into "src.<topic>" on the target and writes offset
// syncs on the source; MirrorCheckpointConnector translates a source
// consumer group's offsets into checkpoints and commits them to the
// target's group; MirrorHeartbeatConnector writes heartbeats.

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/connect"
)

func TestConnectMirrorMaker(t *testing.T) {
	t.Parallel() // see connectNode
	src := connectNode(t)
	dst := connectNode(t)
	w := startConnectWorker(t, dst.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	sadm := newAdmin(t, src.Addr())
	if _, err := sadm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": kadm.StringPtr("123456789")}, "orders"); err != nil {
		t.Fatal(err)
	}
	// Topics that must not be mirrored: internal-looking and a cycle.
	for _, topic := range []string{"app-internal", "dst.back"} {
		if _, err := sadm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	prod := newClient(t, src.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const perPartition = 100
	for p := int32(0); p < 3; p++ {
		for i := 0; i < perPartition; i++ {
			r := &kgo.Record{Topic: "orders", Partition: p, Key: []byte(fmt.Sprintf("k%d-%d", p, i)), Value: []byte(fmt.Sprintf("v%d-%d", p, i)),
				Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("x")}}, Timestamp: time.UnixMilli(1700000000000 + int64(i))}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A source consumer group that has read half of each partition.
	commit := kadm.Offsets{}
	for p := int32(0); p < 3; p++ {
		commit.Add(kadm.Offset{Topic: "orders", Partition: p, At: perPartition / 2, LeaderEpoch: -1})
	}
	if resp, err := sadm.CommitOffsets(ctx, "billing", commit); err != nil || resp.Error() != nil {
		t.Fatalf("committing source group offsets: %v %v", err, resp.Error())
	}

	common := fmt.Sprintf(`"source.cluster.alias":"src","target.cluster.alias":"dst",
		"source.cluster.bootstrap.servers":%q,"target.cluster.bootstrap.servers":%q,
		"key.converter":"org.apache.kafka.connect.converters.ByteArrayConverter","value.converter":"org.apache.kafka.connect.converters.ByteArrayConverter"`,
		src.Addr(), dst.Addr())
	mustCall(t, "POST", w.URL+"/connectors", `{"name":"mm2-source","config":{"connector.class":"org.apache.kafka.connect.mirror.MirrorSourceConnector",`+common+`,
		"tasks.max":"2","replication.factor":"1","offset-syncs.topic.replication.factor":"1","offset.lag.max":"0","refresh.topics.interval.seconds":"1"}}`, 201, nil)
	waitRunning(t, w.URL, "mm2-source", 2)

	// Every record arrives in the same partition with its key, value,
	// headers and timestamp.
	cons := newClient(t, dst.Addr(), kgo.ConsumeTopics("src.orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]*kgo.Record{}
	for len(got) < 3*perPartition && ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got[string(r.Key)] = r })
	}
	for p := int32(0); p < 3; p++ {
		for i := 0; i < perPartition; i++ {
			r := got[fmt.Sprintf("k%d-%d", p, i)]
			if r == nil || r.Partition != p || string(r.Value) != fmt.Sprintf("v%d-%d", p, i) || len(r.Headers) != 1 || r.Headers[0].Key != "h" ||
				r.Timestamp.UnixMilli() != 1700000000000+int64(i) || r.Offset != int64(i) {
				t.Fatalf("record k%d-%d on the target: %+v", p, i, r)
			}
		}
	}
	dadm := newAdmin(t, dst.Addr())
	topics, err := dadm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("src.app-internal") || topics.Has("src.dst.back") {
		t.Errorf("an internal topic or a cycle was mirrored: %v", topics.Names())
	}
	rc, err := dadm.DescribeTopicConfigs(ctx, "src.orders")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := rc.On("src.orders", nil); err != nil || !hasConfig(c.Configs, "retention.ms", "123456789") {
		t.Errorf("retention.ms not replicated to src.orders: %v %+v", err, c)
	}

	// Offset syncs on the source, in MM2's binary format.
	sc := newClient(t, src.Addr(), kgo.ConsumeTopics("mm2-offset-syncs.dst.internal"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	synced := map[int32]int64{}
	for len(synced) < 3 || synced[0] < perPartition-1 || synced[1] < perPartition-1 || synced[2] < perPartition-1 {
		if ctx.Err() != nil {
			t.Fatalf("offset syncs: %v", synced)
		}
		sc.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			s, err := connect.DecodeOffsetSync(r.Key, r.Value)
			if err != nil || s.Topic != "orders" || s.Upstream != s.Downstream {
				t.Errorf("offset sync %+v (%v)", s, err)
			}
			synced[s.Partition] = max(synced[s.Partition], s.Upstream)
		})
	}

	// Checkpoints and the target group's offsets.
	mustCall(t, "POST", w.URL+"/connectors", `{"name":"mm2-checkpoint","config":{"connector.class":"MirrorCheckpointConnector",`+common+`,
		"checkpoints.topic.replication.factor":"1","emit.checkpoints.interval.seconds":"1","sync.group.offsets.enabled":"true",
		"sync.group.offsets.interval.seconds":"1","refresh.groups.interval.seconds":"1"}}`, 201, nil)
	waitFor(t, 60*time.Second, "the target group billing at the translated offsets", func() bool {
		offs, err := dadm.FetchOffsets(ctx, "billing")
		if err != nil {
			return false
		}
		for p := int32(0); p < 3; p++ {
			if o, ok := offs.Lookup("src.orders", p); !ok || o.At != perPartition/2 {
				return false
			}
		}
		return true
	})
	cc := newClient(t, dst.Addr(), kgo.ConsumeTopics("src.checkpoints.internal"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	cps := map[int32]connect.Checkpoint{}
	for len(cps) < 3 && ctx.Err() == nil {
		cc.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			c, err := connect.DecodeCheckpoint(r.Key, r.Value)
			if err != nil {
				t.Errorf("checkpoint: %v", err)
			}
			cps[c.Partition] = c
		})
	}
	for p, c := range cps {
		if c.Group != "billing" || c.Topic != "src.orders" || c.Upstream != perPartition/2 || c.Downstream != perPartition/2 {
			t.Errorf("checkpoint of partition %d: %+v", p, c)
		}
	}

	// Heartbeats.
	mustCall(t, "POST", w.URL+"/connectors", `{"name":"mm2-heartbeat","config":{"connector.class":"MirrorHeartbeatConnector",`+common+`,
		"heartbeats.topic.replication.factor":"1"}}`, 201, nil)
	hc := newClient(t, dst.Addr(), kgo.ConsumeTopics("heartbeats"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := hc.PollFetches(ctx)
	var hb *kgo.Record
	fs.EachRecord(func(r *kgo.Record) { hb = r })
	if hb == nil {
		t.Fatalf("no heartbeat: %v", fs.Errors())
	}
	want := append(binary.BigEndian.AppendUint16(nil, 3), "src"...)
	want = append(binary.BigEndian.AppendUint16(want, 3), "dst"...)
	if string(hb.Key) != string(want) || len(hb.Value) != 10 || binary.BigEndian.Uint16(hb.Value) != 0 {
		t.Errorf("heartbeat key %x value %x", hb.Key, hb.Value)
	}

	// New source partitions are picked up.
	if _, err := sadm.CreatePartitions(ctx, 1, "orders"); err != nil {
		t.Fatal(err)
	}
	prod2 := newClient(t, src.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	waitFor(t, 30*time.Second, "a record produced to the new partition", func() bool {
		return prod2.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: 3, Key: []byte("new"), Value: []byte("p3")}).FirstErr() == nil
	})
	// A new consumer: an existing one learns of new partitions only at
	// its next metadata refresh. Until the partition exists on the target
	// it looks again every 10 ms, not every 5 s (kgo.MetadataMinAge).
	cons3 := newClient(t, dst.Addr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"src.orders": {3: kgo.NewOffset().AtStart()}}), freshMetadata)
	for ctx.Err() == nil {
		var found bool
		cons3.PollFetches(ctx).EachRecord(func(r *kgo.Record) { found = found || (string(r.Key) == "new" && r.Partition == 3) })
		if found {
			break
		}
	}
	if ctx.Err() != nil {
		t.Fatal("the record of the new partition was not mirrored")
	}
}

func hasConfig(cs []kadm.Config, k, v string) bool {
	for _, c := range cs {
		if c.Key == k && c.Value != nil && *c.Value == v {
			return true
		}
	}
	return false
}
