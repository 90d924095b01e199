package tests

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestCreateTopicValidation(t *testing.T) {
	n := startNode(t, "", nil)
	w := dial(t, n.Addr())
	mustCreate(t, w, "a.b", 1, nil)
	cases := []struct {
		name       string
		topic      string
		partitions int32
		rf         int16
		configs    map[string]string
		want       *kerr.Error
	}{
		{"illegal character", "bad name!", 1, 1, nil, kerr.InvalidTopicException},
		{"dot", ".", 1, 1, nil, kerr.InvalidTopicException},
		{"dot dot", "..", 1, 1, nil, kerr.InvalidTopicException},
		{"too long", strings.Repeat("x", 250), 1, 1, nil, kerr.InvalidTopicException},
		{"collides with a.b", "a_b", 1, 1, nil, kerr.InvalidTopicException},
		{"exists", "a.b", 1, 1, nil, kerr.TopicAlreadyExists},
		{"zero partitions", "zero", 0, 1, nil, kerr.InvalidPartitions},
		{"rf above live brokers", "rf3", 1, 3, nil, kerr.InvalidReplicationFactor},
		{"unknown config", "cfg1", 1, 1, map[string]string{"retention.msx": "1"}, kerr.InvalidConfig},
		{"bad number", "cfg2", 1, 1, map[string]string{"retention.ms": "soon"}, kerr.InvalidConfig},
		{"bad enum", "cfg3", 1, 1, map[string]string{"cleanup.policy": "shred"}, kerr.InvalidConfig},
		{"below minimum", "cfg4", 1, 1, map[string]string{"min.insync.replicas": "0"}, kerr.InvalidConfig},
		{"max length ok", strings.Repeat("y", 249), 1, 1, nil, nil},
		{"defaults", "defaults", -1, -1, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := createTopicReq(tc.topic, tc.partitions, tc.configs)
			req.Topics[0].ReplicationFactor = tc.rf
			st := w.roundTrip(req, 7).(*kmsg.CreateTopicsResponse).Topics[0]
			want := int16(0)
			if tc.want != nil {
				want = tc.want.Code
			}
			if st.ErrorCode != want {
				t.Fatalf("error %d (%v), want %d", st.ErrorCode, str(st.ErrorMessage), want)
			}
			if want == 0 && (st.NumPartitions < 1 || st.ReplicationFactor != 1 || st.TopicID == [16]byte{}) {
				t.Fatalf("created topic reported %+v", st)
			}
		})
	}
	// validate-only creates nothing.
	req := createTopicReq("dry", 3, map[string]string{"cleanup.policy": "compact"})
	req.ValidateOnly = true
	if st := w.roundTrip(req, 7).(*kmsg.CreateTopicsResponse).Topics[0]; st.ErrorCode != 0 || st.NumPartitions != 3 {
		t.Fatalf("validate only: %+v", st)
	}
	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("dry")
	md.Topics = append(md.Topics, mt)
	if c := w.roundTrip(md, 12).(*kmsg.MetadataResponse).Topics[0].ErrorCode; c != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("validate-only topic exists afterwards (metadata error %d)", c)
	}
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func TestAutoCreateTopics(t *testing.T) {
	n := startNode(t, "", map[string]string{"num.partitions": "3"})
	w := dial(t, n.Addr())
	md := kmsg.NewPtrMetadataRequest()
	md.AllowAutoTopicCreation = true
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("auto")
	md.Topics = append(md.Topics, mt)
	got := w.roundTrip(md, 12).(*kmsg.MetadataResponse).Topics[0]
	if got.ErrorCode != 0 || len(got.Partitions) != 3 {
		t.Fatalf("auto-created topic: error %d, %d partitions", got.ErrorCode, len(got.Partitions))
	}
	md.AllowAutoTopicCreation = false
	md.Topics[0].Topic = kmsg.StringPtr("manual")
	if c := w.roundTrip(md, 12).(*kmsg.MetadataResponse).Topics[0].ErrorCode; c != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("metadata without auto create: error %d", c)
	}

	off := startNode(t, "", map[string]string{"auto.create.topics.enable": "false"})
	w2 := dial(t, off.Addr())
	md.AllowAutoTopicCreation = true
	if c := w2.roundTrip(md, 12).(*kmsg.MetadataResponse).Topics[0].ErrorCode; c != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("auto.create.topics.enable=false: error %d", c)
	}
}

func TestTopicAdminWithKadm(t *testing.T) {
	n := startNode(t, "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, "orders"); err != nil {
		t.Fatal(err)
	}
	// Configs: explicit value with topic source, others default.
	rc, err := adm.DescribeTopicConfigs(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]kadm.Config{}
	for _, c := range rc[0].Configs {
		cfg[c.Key] = c
	}
	if c := cfg["retention.ms"]; c.MaybeValue() != "3600000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms = %q source %v", c.MaybeValue(), c.Source)
	}
	if c := cfg["cleanup.policy"]; c.MaybeValue() != "delete" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("cleanup.policy = %q source %v", c.MaybeValue(), c.Source)
	}
	// Incremental alter: set, append to a list, delete; invalid values refused and nothing stored.
	_, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("60000")},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
	}, "orders")
	if err != nil {
		t.Fatal(err)
	}
	res, _ := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("-5")}}, "orders")
	if len(res) != 1 || !errors.Is(res[0].Err, kerr.InvalidConfig) {
		t.Fatalf("invalid retention.ms: %+v", res)
	}
	res, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "retention.ms", Value: kadm.StringPtr("1")}}, "orders")
	if len(res) != 1 || !errors.Is(res[0].Err, kerr.InvalidConfig) {
		t.Fatalf("append to a non-list config: %+v", res)
	}
	rc, _ = adm.DescribeTopicConfigs(ctx, "orders")
	cfg = map[string]kadm.Config{}
	for _, c := range rc[0].Configs {
		cfg[c.Key] = c
	}
	seg, pol := cfg["segment.ms"], cfg["cleanup.policy"]
	if seg.MaybeValue() != "60000" || pol.MaybeValue() != "delete,compact" || cfg["retention.ms"].Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("after alter: segment.ms %q cleanup.policy %q retention.ms source %v", seg.MaybeValue(), pol.MaybeValue(), cfg["retention.ms"].Source)
	}
	// Broker configs describe (dynamic changes: config_dynamic_test.go).
	bc, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil || len(bc) != 1 || len(bc[0].Configs) == 0 {
		t.Fatalf("broker configs: %v %+v", err, bc)
	}
	// Partitions grow, never shrink.
	if _, err := adm.UpdatePartitions(ctx, 5, "orders"); err != nil {
		t.Fatal(err)
	}
	pr, _ := adm.UpdatePartitions(ctx, 3, "orders")
	if r := pr["orders"]; !errors.Is(r.Err, kerr.InvalidPartitions) {
		t.Fatalf("shrinking partitions: %v", r.Err)
	}
	td, err := adm.ListTopics(ctx, "orders")
	if err != nil || len(td["orders"].Partitions) != 5 {
		t.Fatalf("partitions after grow: %v %d", err, len(td["orders"].Partitions))
	}
	// Cluster description.
	meta, err := adm.BrokerMetadata(ctx)
	if err != nil || len(meta.Brokers) != 1 || meta.Cluster == "" || meta.Controller != 1 {
		t.Fatalf("cluster: %v %+v", err, meta)
	}
	dc := kmsg.NewPtrDescribeClusterRequest()
	dcr, err := dc.RequestWith(ctx, newClient(t, n.Addr()))
	if err != nil || dcr.ErrorCode != 0 || dcr.ClusterID != meta.Cluster || len(dcr.Brokers) != 1 {
		t.Fatalf("describe cluster: %v %+v", err, dcr)
	}
	// Delete.
	if _, err := adm.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	td, _ = adm.ListTopics(ctx)
	if td.Has("orders") {
		t.Fatal("topic still listed after delete")
	}
	dr, _ := adm.DeleteTopics(ctx, "orders")
	if !errors.Is(dr["orders"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("deleting a missing topic: %v", dr["orders"].Err)
	}
}

func TestListOffsetsAndDeleteRecords(t *testing.T) {
	n := startNode(t, "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "times"); err != nil {
		t.Fatal(err)
	}
	p := newClient(t, n.Addr(), kgo.DefaultProduceTopic("times"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	base := time.UnixMilli(1_700_000_000_000)
	stamps := []int64{0, 10, 5, 30, 20} // offset i has base+stamps[i]; max at offset 3
	for i, s := range stamps {
		r := &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(s) * time.Millisecond)}
		if err := p.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name string, l kadm.ListedOffsets, err error, wantOff int64) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		o, _ := l.Lookup("times", 0)
		if o.Err != nil || o.Offset != wantOff {
			t.Fatalf("%s: offset %d err %v, want %d", name, o.Offset, o.Err, wantOff)
		}
	}
	l, err := adm.ListStartOffsets(ctx, "times")
	check("earliest", l, err, 0)
	l, err = adm.ListEndOffsets(ctx, "times")
	check("latest", l, err, 5)
	l, err = adm.ListOffsetsAfterMilli(ctx, base.UnixMilli()+7, "times")
	check("first at or after +7ms", l, err, 1)
	l, err = adm.ListOffsetsAfterMilli(ctx, base.UnixMilli()+31, "times")
	check("after the last timestamp", l, err, 5) // kadm maps "none" (-1) to the end offset
	l, err = adm.ListMaxTimestampOffsets(ctx, "times")
	check("max timestamp", l, err, 3)

	// DeleteRecords moves the log start; consumers below it reset.
	ds, err := adm.DeleteRecords(ctx, kadm.Offsets{"times": {0: {At: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := ds.Lookup("times", 0); r.Err != nil || r.LowWatermark != 2 {
		t.Fatalf("delete records: %+v", r)
	}
	l, err = adm.ListStartOffsets(ctx, "times")
	check("earliest after delete", l, err, 2)
	ds, _ = adm.DeleteRecords(ctx, kadm.Offsets{"times": {0: {At: 99}}})
	if r, _ := ds.Lookup("times", 0); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete past the end: %v", r.Err)
	}
	c := newClient(t, n.Addr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"times": {0: kgo.NewOffset().At(0)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := c.PollFetches(ctx)
	var first int64 = -1
	fs.EachRecord(func(r *kgo.Record) {
		if first < 0 {
			first = r.Offset
		}
	})
	if first != 2 {
		t.Fatalf("consumer below the log start got first offset %d, want 2 (errors %v)", first, fs.Errors())
	}
}

func TestRestartServesEverything(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 4, 1, map[string]*string{"retention.ms": kadm.StringPtr("123456")}, "durable"); err != nil {
		t.Fatal(err)
	}
	p := newClient(t, n.Addr(), kgo.DefaultProduceTopic("durable"), kgo.RequiredAcks(kgo.AllISRAcks()))
	const count = 2000
	var recs []*kgo.Record
	for i := 0; i < count; i++ {
		recs = append(recs, &kgo.Record{Key: []byte{byte(i % 7)}, Value: []byte(strings.Repeat("v", i%50))})
	}
	if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n2 := startNode(t, dir, nil)
	adm2 := newAdmin(t, n2.Addr())
	td, err := adm2.ListTopics(ctx, "durable")
	if err != nil || len(td["durable"].Partitions) != 4 {
		t.Fatalf("after restart: %v %+v", err, td)
	}
	rc, _ := adm2.DescribeTopicConfigs(ctx, "durable")
	for _, c := range rc[0].Configs {
		if c.Key == "retention.ms" && c.MaybeValue() != "123456" {
			t.Fatalf("retention.ms after restart: %q", c.MaybeValue())
		}
	}
	c := newClient(t, n2.Addr(), kgo.ConsumeTopics("durable"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < count {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	if got != count {
		t.Fatalf("read %d records after restart, want %d", got, count)
	}
}
