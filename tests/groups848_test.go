package tests

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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

// consumer848 is a KIP-848 kgo group consumer without auto commit.
func consumer848(t *testing.T, addr, group, topic string, opts ...kgo.Opt) *kgo.Client {
	return newClient(t, addr, append([]kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ServerSideBalancer(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit()}, opts...)...)
}

// TestKgo848OffsetsSurviveRestart commits offsets from a KIP-848 member,
// restarts the broker on the same data dir, and checks the group (type
// consumer), its committed offsets, `trib group describe` lag, and that a
// restarted consumer resumes exactly at the committed offsets.
func TestKgo848OffsetsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	settings := consumerGroupSettings()
	n := startNode(t, dir, settings)
	ctx := context.Background()
	adm := newAdmin(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	prod := newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceN(t, prod, "orders", 60)

	cons := consumer848(t, n.Addr(), "billing", "orders")
	got := 0
	for got < 30 {
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		fs := cons.PollRecords(pctx, 30-got)
		cancel()
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
		if err := cons.CommitRecords(ctx, fs.Records()...); err != nil {
			t.Fatal(err)
		}
	}
	d, err := adm.DescribeConsumerGroups(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if g := d["billing"]; g.Err != nil || len(g.Members) != 1 || g.Members[0].Assignment["orders"] == nil {
		t.Fatalf("consumer group while consuming: %+v", g)
	}
	before, err := adm.FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	cons.Close() // leaves with epoch -1
	n.Close()

	n2 := startNode(t, dir, settings)
	adm2 := newAdmin(t, n2.Addr())
	listed, err := adm2.ListGroupsByType(ctx, []string{"consumer"})
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := listed["billing"]; !ok || g.State != "Empty" {
		t.Fatalf("consumer groups after restart: %+v", listed)
	}
	after, err := adm2.FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	before.Each(func(o kadm.OffsetResponse) {
		a, ok := after.Lookup(o.Topic, o.Partition)
		if !ok || a.At != o.At {
			t.Errorf("%s/%d: committed %d before restart, %v after", o.Topic, o.Partition, o.At, a.At)
		}
		total += o.At
	})
	if total != 30 {
		t.Fatalf("committed offsets sum to %d, want 30", total)
	}
	out := mustTrib(t, n2.Addr(), "", "group", "list")
	if !regexp.MustCompile(`(?m)^billing\s+Empty\s+consumer\s+consumer`).MatchString(out) {
		t.Fatalf("group list:\n%s", out)
	}
	out = mustTrib(t, n2.Addr(), "", "group", "describe", "billing")
	lags := describeLags(t, out)
	if len(lags) != len(before["orders"]) {
		t.Fatalf("describe shows %d partitions, %d committed\n%s", len(lags), len(before["orders"]), out)
	}
	before.Each(func(o kadm.OffsetResponse) {
		want := [3]int64{o.At, 20, 20 - o.At}
		var gotv [3]int64
		if _, err := fmtSscan(lags[itoa(o.Partition)], &gotv); err != nil || gotv != want {
			t.Fatalf("describe partition %d: %q, want %v\n%s", o.Partition, lags[itoa(o.Partition)], want, out)
		}
	})

	cons2 := consumer848(t, n2.Addr(), "billing", "orders")
	expectResumeAtCommitted(ctx, t, cons2, 30, before)
	out = mustTrib(t, n2.Addr(), "", "group", "describe", "billing")
	if !regexp.MustCompile(`STATE Stable\s+PROTOCOL uniform \(consumer\)\s+MEMBERS 1`).MatchString(out) {
		t.Fatalf("describe with a member:\n%s", out)
	}
}

// TestConsumerGroupWireErrors checks the KIP-848 error codes a raw client
// sees, and how classic requests treat a consumer group.
func TestConsumerGroupWireErrors(t *testing.T) {
	settings := consumerGroupSettings()
	settings["group.consumer.max.size"] = "1"
	n := startNode(t, "", settings)
	ctx := context.Background()
	adm := newAdmin(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, n.Addr())
	hb := func(mod func(*kmsg.ConsumerGroupHeartbeatRequest)) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		r.Group, r.MemberID, r.RebalanceTimeoutMillis = "wg", "m1", 5000
		r.SubscribedTopicNames = []string{"t"}
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		mod(r)
		resp, err := r.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	join := hb(func(*kmsg.ConsumerGroupHeartbeatRequest) {})
	if join.ErrorCode != 0 || join.MemberEpoch != 1 || join.HeartbeatIntervalMillis != 100 || join.Assignment == nil || len(join.Assignment.Topics) != 1 || len(join.Assignment.Topics[0].Partitions) != 3 {
		t.Fatalf("join: %+v", join)
	}
	for _, tc := range []struct {
		name string
		mod  func(*kmsg.ConsumerGroupHeartbeatRequest)
		err  *kerr.Error
	}{
		{"no member id", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" }, kerr.InvalidRequest},
		{"join owning partitions", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberID = "m2"
			r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: join.Assignment.Topics[0].TopicID, Partitions: []int32{0}}}
		}, kerr.InvalidRequest},
		{"group full", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "m2" }, kerr.GroupMaxSizeReached},
		{"unknown member", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID, r.MemberEpoch = "m9", 1 }, kerr.UnknownMemberID},
		{"fenced epoch", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = 5 }, kerr.FencedMemberEpoch},
		{"unsupported assignor", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.ServerAssignor = kmsg.StringPtr("cooperative-sticky") }, kerr.UnsupportedAssignor},
	} {
		if resp := hb(tc.mod); resp.ErrorCode != tc.err.Code {
			t.Errorf("%s: %v, want %v", tc.name, kerr.ErrorForCode(resp.ErrorCode), tc.err)
		}
	}

	// Classic requests against the consumer group.
	jr := kmsg.NewPtrJoinGroupRequest()
	jr.Group, jr.ProtocolType, jr.SessionTimeoutMillis, jr.RebalanceTimeoutMillis = "wg", "consumer", 10000, 10000
	jr.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0}}}
	if resp, err := jr.RequestWith(ctx, cl); err != nil || resp.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("classic join into a consumer group: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
	}
	dg, err := adm.DescribeGroups(ctx, "wg")
	if err != nil {
		t.Fatal(err)
	}
	if g := dg["wg"]; g.Err == nil || g.State != "Dead" {
		t.Fatalf("DescribeGroups of a consumer group: %+v", g)
	}
	lg, err := adm.ListGroupsByType(ctx, []string{"classic"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := lg["wg"]; ok {
		t.Fatal("consumer group listed as classic")
	}
	// Commits from the member need v9+ and its epoch.
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group, oc.MemberID, oc.Generation = "wg", "m1", 1
	oc.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", TopicID: join.Assignment.Topics[0].TopicID, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 3, LeaderEpoch: -1}}}}
	if resp, err := oc.RequestWith(ctx, cl); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("member commit: %v %+v", err, resp)
	}
	oc.Generation = 2
	if resp, err := oc.RequestWith(ctx, cl); err != nil || resp.Topics[0].Partitions[0].ErrorCode != kerr.StaleMemberEpoch.Code {
		t.Fatalf("commit with a future epoch: %v %+v", err, resp)
	}
	// DeleteGroups refuses a group with members; leaving empties it.
	if rs, err := adm.DeleteGroups(ctx, "wg"); err != nil || !errors.Is(rs["wg"].Err, kerr.NonEmptyGroup) {
		t.Fatalf("delete non-empty: %v %+v", err, rs)
	}
	if resp := hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -1 }); resp.ErrorCode != 0 || resp.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", resp)
	}
	if rs, err := adm.DeleteGroups(ctx, "wg"); err != nil || rs["wg"].Err != nil {
		t.Fatalf("delete empty: %v %+v", err, rs)
	}
}

func itoa(p int32) string { return fmt.Sprint(p) }

// fmtSscan parses "cur end lag".
func fmtSscan(s string, v *[3]int64) (int, error) { return fmt.Sscan(s, &v[0], &v[1], &v[2]) }

// TestConsumerGroupFeaturesAndRegex checks the group.version feature that
// clients gate KIP-848 on, and a kgo regex subscription resolved by the
// coordinator.
func TestConsumerGroupFeaturesAndRegex(t *testing.T) {
	n := startNode(t, "", consumerGroupSettings())
	ctx := context.Background()
	cl := newClient(t, n.Addr())
	vers, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	var sup, fin bool
	for _, f := range vers.SupportedFeatures {
		sup = sup || f.Name == "group.version" && f.MinVersion == 0 && f.MaxVersion == 1
	}
	for _, f := range vers.FinalizedFeatures {
		fin = fin || f.Name == "group.version" && f.MinVersionLevel == 1 && f.MaxVersionLevel == 1
	}
	if !sup || !fin {
		t.Fatalf("group.version not advertised: %+v %+v", vers.SupportedFeatures, vers.FinalizedFeatures)
	}

	adm := newAdmin(t, n.Addr())
	for _, topic := range []string{"rx-a", "rx-b", "other"} {
		if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	prod := newClient(t, n.Addr())
	for _, topic := range []string{"rx-a", "rx-b", "other"} {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(topic)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cons := newClient(t, n.Addr(), kgo.ConsumerGroup("rx"), kgo.ConsumeTopics("rx-.*"), kgo.ConsumeRegex(),
		kgo.ServerSideBalancer(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]bool{}
	deadline := time.Now().Add(15 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cons.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { got[r.Topic] = true })
	}
	if !got["rx-a"] || !got["rx-b"] || got["other"] {
		t.Fatalf("regex consumer read topics %v", got)
	}
	d, err := adm.DescribeConsumerGroups(ctx, "rx")
	if err != nil {
		t.Fatal(err)
	}
	if m := d["rx"].Members; len(m) != 1 || m[0].SubscribedTopicRegex == nil || len(m[0].Assignment) != 2 {
		t.Fatalf("regex member: %+v", d["rx"])
	}
}

// TestKgo848StaticMember: a static member (kgo.InstanceID) that closes
// leaves with epoch -2; a new process with the same instance id takes over
// its assignment without a group epoch bump.
func TestKgo848StaticMember(t *testing.T) {
	settings := consumerGroupSettings()
	settings["group.consumer.session.timeout.ms"] = "5000"
	n := startNode(t, "", settings)
	ctx := context.Background()
	adm := newAdmin(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "st"); err != nil {
		t.Fatal(err)
	}
	waitMembers := func(want int, assigned int) kadm.DescribedConsumerGroup {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			d, err := adm.DescribeConsumerGroups(ctx, "sg")
			if err != nil {
				t.Fatal(err)
			}
			g := d["sg"]
			n := 0
			for _, m := range g.Members {
				for _, ps := range m.Assignment {
					n += len(ps)
				}
			}
			if g.State == "Stable" && len(g.Members) == want && n == assigned {
				return g
			}
			if time.Now().After(deadline) {
				t.Fatalf("group: state %s, %d members, %d assigned", g.State, len(g.Members), n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	a := consumer848(t, n.Addr(), "sg", "st", kgo.InstanceID("inst-a"))
	b := consumer848(t, n.Addr(), "sg", "st")
	poll := func(cl *kgo.Client) { // starts the group session
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		cl.PollRecords(pctx, 1)
	}
	poll(a)
	poll(b)
	before := waitMembers(2, 3)
	var held map[string][]int32
	for _, m := range before.Members {
		if m.InstanceID != nil && *m.InstanceID == "inst-a" {
			held = map[string][]int32{}
			for topic, ps := range m.Assignment {
				for p := range ps {
					held[topic] = append(held[topic], p)
				}
			}
		}
	}
	a.Close()
	a2 := consumer848(t, n.Addr(), "sg", "st", kgo.InstanceID("inst-a"))
	poll(a2)
	after := waitMembers(2, 3)
	if after.Epoch != before.Epoch {
		t.Fatalf("group epoch %d after static rejoin, %d before", after.Epoch, before.Epoch)
	}
	for _, m := range after.Members {
		if m.InstanceID != nil && *m.InstanceID == "inst-a" {
			n := 0
			for topic, ps := range m.Assignment {
				for p := range ps {
					n++
					found := false
					for _, h := range held[topic] {
						found = found || h == p
					}
					if !found {
						t.Fatalf("rejoined static member got %s/%d, held %v", topic, p, held)
					}
				}
			}
			if n != len(held["st"]) {
				t.Fatalf("rejoined static member has %d partitions, held %v", n, held)
			}
			return
		}
	}
	t.Fatal("static member missing after rejoin")
}
