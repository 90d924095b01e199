package tests

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/record"
)

// ListOffsets v0 (Burrow 1.2, ZooKeeper-era tools): old-style offsets are
// segment base offsets stamped with their files' modification times plus
// the log end, largest first, at most max_num_offsets, capped at the high
// watermark for consumers.
func TestListOffsetsV0OldStyleOffsets(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	w := dial(t, n.Addr())
	mustCreate(t, w, "lo0", 1, map[string]string{"segment.bytes": "200"})
	for i := 0; i < 4; i++ {
		// Each ~100-byte batch of 2 records; segments roll past 200 bytes.
		resp := w.roundTrip(produceReq("lo0", 0, -1, makeBatch(-1, -1, -1, "aaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbb")), 9).(*kmsg.ProduceResponse)
		if c := resp.Topics[0].Partitions[0].ErrorCode; c != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(c))
		}
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "lo0-0", "*.log"))
	slices.Sort(logs)
	if len(logs) < 3 {
		t.Fatalf("want at least 3 segments, have %v", logs)
	}
	var bases []int64
	for _, l := range logs {
		b, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(l), ".log"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		bases = append(bases, b)
	}
	// Stamp segments an hour apart, oldest first.
	old := time.Now().Add(-time.Duration(len(logs)+1) * time.Hour)
	for i, l := range logs {
		ts := old.Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(l, ts, ts); err != nil {
			t.Fatal(err)
		}
	}
	list := func(ts int64, maxNum int32) []int64 {
		t.Helper()
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "lo0"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.MaxNumOffsets = 0, ts, maxNum
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := w.roundTrip(req, 0).(*kmsg.ListOffsetsResponse)
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Fatalf("ListOffsets v0 ts %d: %v", ts, kerr.ErrorForCode(p.ErrorCode))
		}
		return p.OldStyleOffsets
	}
	desc := slices.Clone(bases)
	slices.Reverse(desc)
	if got, want := list(-1, 100), append([]int64{8}, desc...); !slices.Equal(got, want) {
		t.Errorf("latest, 100: %v, want %v", got, want)
	}
	if got := list(-1, 1); !slices.Equal(got, []int64{8}) {
		t.Errorf("latest, 1: %v, want [8]", got)
	}
	if got := list(-2, 1); !slices.Equal(got, []int64{0}) {
		t.Errorf("earliest: %v, want [0]", got)
	}
	// Before the second segment's time: only the first segment's base.
	if got := list(old.Add(30*time.Minute).UnixMilli(), 10); !slices.Equal(got, []int64{bases[0]}) {
		t.Errorf("by time: %v, want [%d]", got, bases[0])
	}
	if got := list(old.Add(-time.Hour).UnixMilli(), 10); len(got) != 0 {
		t.Errorf("before every segment: %v, want none", got)
	}
	// The same connection keeps working at current versions.
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "lo0"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	if r := w.roundTrip(req, 11).(*kmsg.ListOffsetsResponse); r.Topics[0].Partitions[0].Offset != 8 {
		t.Fatalf("v11 latest: %+v", r.Topics[0].Partitions[0])
	}
}

// ZooKeeper-era group offsets: OffsetCommit v0 (no generation) commits for
// an empty group, OffsetFetch v0 reads it back, and v1's commit timestamp
// is kept.
func TestOffsetCommitFetchV0(t *testing.T) {
	n := startNode(t, "", groupSettings())
	w := dial(t, n.Addr())
	mustCreate(t, w, "oc0", 2, nil)
	coordinatorReady(t, w, "zk-group")
	commit := func(v int16, part int32, off int64) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group = "zk-group"
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "oc0"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata = part, off, kmsg.StringPtr("m")
		if v == 1 {
			rp.Timestamp = time.Now().Add(-time.Minute).UnixMilli()
		}
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return w.roundTrip(req, v).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	if c := commit(0, 0, 42); c != 0 {
		t.Fatalf("OffsetCommit v0: %v", kerr.ErrorForCode(c))
	}
	if c := commit(1, 1, 7); c != 0 {
		t.Fatalf("OffsetCommit v1: %v", kerr.ErrorForCode(c))
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = "zk-group"
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "oc0", []int32{0, 1}
	req.Topics = append(req.Topics, rt)
	resp := w.roundTrip(req, 0).(*kmsg.OffsetFetchResponse)
	got := map[int32]int64{}
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != 0 || p.Metadata == nil || *p.Metadata != "m" {
			t.Fatalf("OffsetFetch v0 partition %d: %+v", p.Partition, p)
		}
		got[p.Partition] = p.Offset
	}
	if got[0] != 42 || got[1] != 7 {
		t.Fatalf("OffsetFetch v0: %v, want 0:42 1:7", got)
	}
}

// coordinatorReady waits until group's coordinator (this single node) has
// loaded its offsets partition: an OffsetFetch answers without error. It
// speaks v0/v1 only, as the old tools do.
func coordinatorReady(t *testing.T, w *wireConn, group string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// FindCoordinator creates __consumer_offsets on first use.
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKey = group
		w.roundTrip(fc, 0)
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = group
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = "oc0", []int32{0}
		req.Topics = append(req.Topics, rt)
		r := w.roundTrip(req, 1).(*kmsg.OffsetFetchResponse)
		if r.Topics[0].Partitions[0].ErrorCode == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group coordinator not ready: %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Produce v0-2 and Fetch v0-3 at the wire: message sets up-converted on
// write and down-converted on read, refusals with Kafka's codes.
func TestMessageSetsWire(t *testing.T) {
	n := startNode(t, "", nil)
	w := dial(t, n.Addr())
	mustCreate(t, w, "ms", 1, nil)
	mustCreate(t, w, "ms-zstd", 1, map[string]string{"compression.type": "zstd"})
	now := time.Now().UnixMilli()
	recs := []record.MessageSetRecord{{Timestamp: now - 1000, Key: []byte("a"), Value: []byte("1")}, {Timestamp: now - 500, Value: []byte("2")}}
	produce := func(topic string, v int16, set []byte) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		return w.roundTrip(produceReq(topic, 0, 1, set), v).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	}
	var next int64
	for v := int16(0); v <= 2; v++ {
		magic := int8(0)
		if v == 2 {
			magic = 1
		}
		for _, codec := range []int8{0, 1} {
			set, err := record.EncodeMessageSet(magic, codec, recs)
			if err != nil {
				t.Fatal(err)
			}
			if p := produce("ms", v, set); p.ErrorCode != 0 || p.BaseOffset != next {
				t.Fatalf("produce v%d codec %d: %v base %d, want %d", v, codec, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, next)
			}
			next += 2
		}
	}
	// A flipped CRC, zstd in a message set.
	bad, _ := record.EncodeMessageSet(1, 0, recs)
	bad[len(bad)-1] ^= 1
	if p := produce("ms", 2, bad); p.ErrorCode != kerr.CorruptMessage.Code {
		t.Fatalf("bad CRC: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	// Into a zstd topic the up-converted batch is recompressed; an old
	// fetcher cannot read it.
	set, _ := record.EncodeMessageSet(1, 0, recs)
	if p := produce("ms-zstd", 2, set); p.ErrorCode != 0 {
		t.Fatalf("produce to zstd topic: %v", kerr.ErrorForCode(p.ErrorCode))
	}

	fetch := func(topic string, v int16, from int64) kmsg.FetchResponseTopicPartition {
		t.Helper()
		req := fetchReq(topic, 0, from)
		return w.roundTrip(req, v).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	}
	for v := int16(0); v <= 3; v++ {
		p := fetch("ms", v, 3)
		if p.ErrorCode != 0 || p.HighWatermark != next {
			t.Fatalf("fetch v%d: %v hw %d", v, kerr.ErrorForCode(p.ErrorCode), p.HighWatermark)
		}
		wantMagic := int8(0)
		if v >= 2 {
			wantMagic = 1
		}
		if m, _ := record.Magic(p.RecordBatches); m != wantMagic {
			t.Fatalf("fetch v%d: magic %d, want %d", v, m, wantMagic)
		}
		got, err := record.ReadMessageSet(p.RecordBatches)
		// A fetch reads from one segment; old clients fetch on from there.
		for err == nil && len(got) > 0 && got[len(got)-1].Offset+1 < next {
			more := fetch("ms", v, got[len(got)-1].Offset+1)
			var rest []record.MessageSetRecord
			rest, err = record.ReadMessageSet(more.RecordBatches)
			if len(rest) == 0 {
				break
			}
			got = append(got, rest...)
		}
		if err != nil || len(got) != int(next-3) {
			t.Fatalf("fetch v%d: %v, %d records, want %d: %+v", v, err, len(got), next-3, got)
		}
		for i, r := range got {
			off := int64(3 + i)
			want := recs[off%2]
			if r.Offset != off || string(r.Key) != string(want.Key) || string(r.Value) != string(want.Value) {
				t.Fatalf("fetch v%d record %d: %+v", v, i, r)
			}
			// Timestamps exist only for what was produced as magic 1
			// (offsets 8-11) and only a magic 1 fetch shows them.
			wantTs := int64(-1)
			if wantMagic == 1 && off >= 8 {
				wantTs = want.Timestamp
			}
			if r.Timestamp != wantTs {
				t.Fatalf("fetch v%d offset %d: timestamp %d, want %d", v, off, r.Timestamp, wantTs)
			}
		}
	}
	// message.downconversion.enable=false: old fetchers are refused.
	mustCreate(t, w, "ms-noconv", 1, map[string]string{"message.downconversion.enable": "false"})
	if p := produce("ms-noconv", 1, set); p.ErrorCode != 0 {
		t.Fatalf("produce v1 to ms-noconv: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := fetch("ms-noconv", 3, 0); p.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("fetch v3 with down-conversion disabled: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := fetch("ms-noconv", 4, 0); p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Fatalf("fetch v4 with down-conversion disabled: %v", kerr.ErrorForCode(p.ErrorCode))
	}

	// KIP-110: zstd topics are for Fetch v10+, zstd batches for Produce v7+.
	for _, v := range []int16{2, 4, 9} {
		if p := fetch("ms-zstd", v, 0); p.ErrorCode != kerr.UnsupportedCompressionType.Code {
			t.Fatalf("fetch v%d of a zstd topic: %v", v, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	if p := fetch("ms-zstd", 10, 0); p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Fatalf("fetch v10 of a zstd topic: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	zb, err := record.Build(record.Header{Attributes: 4, LastOffsetDelta: 0, FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]kmsg.Record{{Value: []byte("z")}})
	if err != nil {
		t.Fatal(err)
	}
	if p := produce("ms", 6, zb); p.ErrorCode != kerr.UnsupportedCompressionType.Code {
		t.Fatalf("produce v6 of a zstd batch: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := produce("ms", 7, zb); p.ErrorCode != 0 {
		t.Fatalf("produce v7 of a zstd batch: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	// v4+ still gets the stored v2 batches, byte for byte.
	if p := fetch("ms", 4, 0); p.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(p.ErrorCode))
	} else if m, _ := record.Magic(p.RecordBatches); m != 2 {
		t.Fatalf("fetch v4: magic %d", m)
	}
}

// The admin APIs' Kafka 3.9 minimum versions (removed in Kafka 4).
func TestOldAdminVersionsWire(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	w := dial(t, n.Addr())
	ct := createTopicReq("old-admin", 2, map[string]string{"retention.ms": "60000"})
	if r := w.roundTrip(ct, 0).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics v0: %v", kerr.ErrorForCode(r.Topics[0].ErrorCode))
	}
	if r := w.roundTrip(createTopicReq("old-admin", 2, nil), 1).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != kerr.TopicAlreadyExists.Code {
		t.Fatalf("CreateTopics v1 duplicate: %v", kerr.ErrorForCode(r.Topics[0].ErrorCode))
	}

	dc := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName, res.ConfigNames = kmsg.ConfigResourceTypeTopic, "old-admin", []string{"retention.ms", "cleanup.policy"}
	dc.Resources = append(dc.Resources, res)
	dr := w.roundTrip(dc, 0).(*kmsg.DescribeConfigsResponse)
	cfgs := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range dr.Resources[0].Configs {
		cfgs[c.Name] = c
	}
	if c := cfgs["retention.ms"]; c.Value == nil || *c.Value != "60000" || c.IsDefault {
		t.Fatalf("DescribeConfigs v0 retention.ms: %+v", c)
	}
	if c := cfgs["cleanup.policy"]; !c.IsDefault {
		t.Fatalf("DescribeConfigs v0 cleanup.policy not default: %+v", c)
	}

	w.roundTrip(produceReq("old-admin", 0, -1, makeBatch(-1, -1, -1, "x", "y")), 3)
	oe := kmsg.NewPtrOffsetForLeaderEpochRequest()
	et := kmsg.NewOffsetForLeaderEpochRequestTopic()
	et.Topic = "old-admin"
	ep := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	ep.LeaderEpoch = 1 << 20
	et.Partitions = append(et.Partitions, ep)
	oe.Topics = append(oe.Topics, et)
	if r := w.roundTrip(oe, 0).(*kmsg.OffsetForLeaderEpochResponse); r.Topics[0].Partitions[0].ErrorCode != 0 || r.Topics[0].Partitions[0].EndOffset != 2 {
		t.Fatalf("OffsetForLeaderEpoch v0: %+v", r.Topics[0].Partitions[0])
	}

	ld := w.roundTrip(kmsg.NewPtrDescribeLogDirsRequest(), 0).(*kmsg.DescribeLogDirsResponse)
	if len(ld.Dirs) != 1 || ld.Dirs[0].ErrorCode != 0 || len(ld.Dirs[0].Topics) == 0 {
		t.Fatalf("DescribeLogDirs v0: %+v", ld)
	}

	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.TopicNames = []string{"old-admin"}
	dt.TimeoutMillis = 10000
	if r := w.roundTrip(dt, 0).(*kmsg.DeleteTopicsResponse); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("DeleteTopics v0: %v", kerr.ErrorForCode(r.Topics[0].ErrorCode))
	}
}

// DescribeQuorum v2 (KIP-853, Kafka 3.9): voters with their controller
// endpoints and the zero directory id.
func TestDescribeQuorumV2(t *testing.T) {
	n := startNode(t, "", nil)
	w := dial(t, n.Addr())
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	var resp *kmsg.DescribeQuorumResponse
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp = w.roundTrip(req, 2).(*kmsg.DescribeQuorumResponse)
		if resp.ErrorCode == 0 && resp.Topics[0].Partitions[0].LeaderID == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no quorum leader: %+v", resp)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p := resp.Topics[0].Partitions[0]
	if len(p.CurrentVoters) != 1 || p.CurrentVoters[0].ReplicaID != 1 || p.CurrentVoters[0].ReplicaDirectoryID != [16]byte{} {
		t.Fatalf("voters: %+v", p.CurrentVoters)
	}
	if len(resp.Nodes) != 1 || resp.Nodes[0].NodeID != 1 || len(resp.Nodes[0].Listeners) != 1 ||
		resp.Nodes[0].Listeners[0].Name != "CONTROLLER" || resp.Nodes[0].Listeners[0].Port == 0 {
		t.Fatalf("nodes: %+v", resp.Nodes)
	}
}

// The 0.9-era group protocol: JoinGroup v0 (no rebalance timeout: the
// session timeout bounds the rebalance), SyncGroup v0, Heartbeat v0,
// OffsetCommit v1 with the generation, LeaveGroup v0; and Metadata v0,
// where an empty topic list means every topic.
func TestClassicGroupV0Wire(t *testing.T) {
	n := startNode(t, "", groupSettings())
	w := dial(t, n.Addr())
	mustCreate(t, w, "oc0", 1, nil)
	coordinatorReady(t, w, "g9")

	md := w.roundTrip(kmsg.NewPtrMetadataRequest(), 0).(*kmsg.MetadataResponse)
	names := map[string]bool{}
	for _, mt := range md.Topics {
		names[*mt.Topic] = true
	}
	if !names["oc0"] {
		t.Fatalf("Metadata v0 with no topics lists %v, want every topic", names)
	}
	empty := kmsg.NewPtrMetadataRequest()
	empty.Topics = []kmsg.MetadataRequestTopic{}
	if md := w.roundTrip(empty, 1).(*kmsg.MetadataResponse); len(md.Topics) != 0 {
		t.Fatalf("Metadata v1 with an empty list: %d topics, want none", len(md.Topics))
	}

	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Group, jg.SessionTimeoutMillis, jg.ProtocolType = "g9", 10000, "consumer"
	jp := kmsg.NewJoinGroupRequestProtocol()
	jp.Name, jp.Metadata = "range", []byte{0, 0, 0, 0, 0, 1, 0, 3, 'o', 'c', '0', 0, 0, 0, 0}
	jg.Protocols = append(jg.Protocols, jp)
	jr := w.roundTrip(jg, 0).(*kmsg.JoinGroupResponse)
	if jr.ErrorCode != 0 || jr.MemberID == "" || jr.LeaderID != jr.MemberID || jr.Generation < 1 || jr.Protocol == nil || *jr.Protocol != "range" {
		t.Fatalf("JoinGroup v0: %+v", jr)
	}
	sg := kmsg.NewPtrSyncGroupRequest()
	sg.Group, sg.Generation, sg.MemberID = "g9", jr.Generation, jr.MemberID
	sa := kmsg.NewSyncGroupRequestGroupAssignment()
	sa.MemberID, sa.MemberAssignment = jr.MemberID, []byte("assignment")
	sg.GroupAssignment = append(sg.GroupAssignment, sa)
	if sr := w.roundTrip(sg, 0).(*kmsg.SyncGroupResponse); sr.ErrorCode != 0 || string(sr.MemberAssignment) != "assignment" {
		t.Fatalf("SyncGroup v0: %+v", sr)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.Generation, hb.MemberID = "g9", jr.Generation, jr.MemberID
	if hr := w.roundTrip(hb, 0).(*kmsg.HeartbeatResponse); hr.ErrorCode != 0 {
		t.Fatalf("Heartbeat v0: %v", kerr.ErrorForCode(hr.ErrorCode))
	}
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group, oc.Generation, oc.MemberID = "g9", jr.Generation, jr.MemberID
	ot := kmsg.NewOffsetCommitRequestTopic()
	ot.Topic = "oc0"
	op := kmsg.NewOffsetCommitRequestTopicPartition()
	op.Offset = 5
	ot.Partitions = append(ot.Partitions, op)
	oc.Topics = append(oc.Topics, ot)
	if r := w.roundTrip(oc, 1).(*kmsg.OffsetCommitResponse); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("OffsetCommit v1 as member: %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}
	// A v0 commit carries no generation: refused while the group has members.
	if r := w.roundTrip(oc, 0).(*kmsg.OffsetCommitResponse); r.Topics[0].Partitions[0].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("OffsetCommit v0 into an active group: %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}
	lg := kmsg.NewPtrLeaveGroupRequest()
	lg.Group, lg.MemberID = "g9", jr.MemberID
	if r := w.roundTrip(lg, 0).(*kmsg.LeaveGroupResponse); r.ErrorCode != 0 {
		t.Fatalf("LeaveGroup v0: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

// Every API Tributary implements is served at least over the version range
// Kafka 3.9 served (before KIP-896 removed the oldest versions in Kafka 4),
// so tools frozen on old clients keep working. Keys Tributary does not
// implement are not listed.
func TestServesKafka39Versions(t *testing.T) {
	kafka39 := map[int16][2]int16{
		0: {0, 11}, 1: {0, 17}, 2: {0, 9}, 3: {0, 12}, 8: {0, 9}, 9: {0, 9}, 10: {0, 4},
		11: {0, 9}, 12: {0, 4}, 13: {0, 5}, 14: {0, 5}, 15: {0, 5}, 16: {0, 5}, 18: {0, 3},
		19: {0, 7}, 20: {0, 6}, 21: {0, 2}, 22: {0, 5}, 23: {0, 4}, 32: {0, 4}, 33: {0, 2},
		35: {0, 4}, 37: {0, 3}, 42: {0, 2}, 43: {0, 2}, 44: {0, 1}, 45: {0, 0}, 46: {0, 0},
		47: {0, 0}, 55: {0, 2}, 60: {0, 1}, 68: {0, 0}, 69: {0, 0},
	}
	n := startNode(t, "", nil)
	w := dial(t, n.Addr())
	resp := w.roundTrip(kmsg.NewPtrApiVersionsRequest(), 3).(*kmsg.ApiVersionsResponse)
	got := map[int16]kmsg.ApiVersionsResponseApiKey{}
	for _, k := range resp.ApiKeys {
		got[k.ApiKey] = k
	}
	for key, r := range kafka39 {
		k, ok := got[key]
		if !ok || k.MinVersion > r[0] || k.MaxVersion < r[1] {
			t.Errorf("%s: advertised %d-%d (present %v), Kafka 3.9 serves %d-%d", kmsg.NameForKey(key), k.MinVersion, k.MaxVersion, ok, r[0], r[1])
		}
	}
}
