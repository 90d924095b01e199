package share

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// memStateLog is an in-memory __share_group_state.
type memStateLog struct {
	mu    sync.Mutex
	n     int32
	parts map[int32][][]byte
}

func (l *memStateLog) Partitions(bool) (int32, error) { return l.n, nil }
func (l *memStateLog) Append(p int32, b []byte) (int64, int32, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.parts[p] = append(l.parts[p], append([]byte(nil), b...))
	return int64(len(l.parts[p])), 0, nil
}
func (l *memStateLog) Sync(int32, int64, int32) error { return nil }
func (l *memStateLog) Read(p int32, fn func([]byte) error) error {
	l.mu.Lock()
	bs := append([][]byte(nil), l.parts[p]...)
	l.mu.Unlock()
	for _, b := range bs {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

func leadAll(s *Store, n int32) {
	led := map[int32]int32{}
	for p := int32(0); p < n; p++ {
		led[p] = 1
	}
	<-s.SetLeadership(n, led)
}

var tid = [16]byte{1, 2, 3}

func writeReq(group string, stateEpoch, leaderEpoch int32, start int64, batches ...StateBatch) *kmsg.WriteShareGroupStateRequest {
	req := kmsg.NewPtrWriteShareGroupStateRequest()
	req.GroupID = group
	rt := kmsg.NewWriteShareGroupStateRequestTopic()
	rt.TopicID = tid
	rp := kmsg.NewWriteShareGroupStateRequestTopicPartition()
	rp.StateEpoch, rp.LeaderEpoch, rp.StartOffset = stateEpoch, leaderEpoch, start
	for _, b := range batches {
		rp.StateBatches = append(rp.StateBatches, kmsg.WriteShareGroupStateRequestTopicPartitionStateBatch{FirstOffset: b.First, LastOffset: b.Last, DeliveryState: b.State, DeliveryCount: b.Count})
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func readState(t *testing.T, s *Store, group string, leaderEpoch int32) (int16, int64, []StateBatch) {
	t.Helper()
	req := kmsg.NewPtrReadShareGroupStateRequest()
	req.GroupID = group
	req.Topics = []kmsg.ReadShareGroupStateRequestTopic{{TopicID: tid, Partitions: []kmsg.ReadShareGroupStateRequestTopicPartition{{LeaderEpoch: leaderEpoch}}}}
	p := s.Read(context.Background(), req).Topics[0].Partitions[0]
	var out []StateBatch
	for _, b := range p.StateBatches {
		out = append(out, StateBatch{b.FirstOffset, b.LastOffset, b.DeliveryState, b.DeliveryCount})
	}
	return p.ErrorCode, p.StartOffset, out
}

func TestStoreWriteReadReplay(t *testing.T) {
	lg := &memStateLog{n: 3, parts: map[int32][][]byte{}}
	s := NewStore(lg, nil, nil)
	if code, _, _ := readState(t, s, "g", 1); code != kerr.NotCoordinator.Code {
		t.Fatalf("before leadership: code %d", code)
	}
	leadAll(s, 3)
	if code, start, _ := readState(t, s, "g", 1); code != 0 || start != -1 {
		t.Fatalf("no state: code %d start %d", code, start)
	}
	ctx := context.Background()
	w := s.Write(ctx, writeReq("g", 0, 1, 5, StateBatch{5, 9, Acknowledged, 1}, StateBatch{10, 12, Available, 2}))
	if c := w.Topics[0].Partitions[0].ErrorCode; c != 0 {
		t.Fatalf("write: %d", c)
	}
	// An overlay: 10-10 archived; start unchanged (-1).
	s.Write(ctx, writeReq("g", 0, 1, -1, StateBatch{10, 10, Archived, 3}))
	want := []StateBatch{{5, 9, Acknowledged, 1}, {10, 10, Archived, 3}, {11, 12, Available, 2}}
	if code, start, got := readState(t, s, "g", 1); code != 0 || start != 5 || !reflect.DeepEqual(got, want) {
		t.Fatalf("read: %d %d %v", code, start, got)
	}
	// A new leader (epoch 2) reads; the old one's writes are fenced.
	readState(t, s, "g", 2)
	if c := s.Write(ctx, writeReq("g", 0, 1, 6)).Topics[0].Partitions[0].ErrorCode; c != kerr.FencedLeaderEpoch.Code {
		t.Fatalf("stale leader write: %d", c)
	}
	if code, _, _ := readState(t, s, "g", 1); code != kerr.FencedLeaderEpoch.Code {
		t.Fatalf("stale leader read: %d", code)
	}
	// Initialize bumps the state epoch (alter offsets): writes under the
	// old state epoch are fenced.
	ini := kmsg.NewPtrInitializeShareGroupStateRequest()
	ini.GroupID = "g"
	ini.Topics = []kmsg.InitializeShareGroupStateRequestTopic{{TopicID: tid, Partitions: []kmsg.InitializeShareGroupStateRequestTopicPartition{{StateEpoch: 1, StartOffset: 100}}}}
	if c := s.Initialize(ctx, ini).Topics[0].Partitions[0].ErrorCode; c != 0 {
		t.Fatalf("initialize: %d", c)
	}
	if c := s.Write(ctx, writeReq("g", 0, 2, 6)).Topics[0].Partitions[0].ErrorCode; c != kerr.FencedStateEpoch.Code {
		t.Fatalf("stale state epoch write: %d", c)
	}
	// A new Store replaying the log sees the same state.
	s2 := NewStore(lg, nil, nil)
	leadAll(s2, 3)
	if code, start, got := readState(t, s2, "g", 2); code != 0 || start != 100 || len(got) != 0 {
		t.Fatalf("after replay: %d %d %v", code, start, got)
	}
	sum := kmsg.NewPtrReadShareGroupStateSummaryRequest()
	sum.GroupID = "g"
	sum.Topics = []kmsg.ReadShareGroupStateSummaryRequestTopic{{TopicID: tid, Partitions: []kmsg.ReadShareGroupStateSummaryRequestTopicPartition{{}}}}
	if p := s2.Summary(ctx, sum).Topics[0].Partitions[0]; p.StartOffset != 100 || p.StateEpoch != 1 || p.LeaderEpoch != 2 {
		t.Fatalf("summary %+v", p)
	}
	del := kmsg.NewPtrDeleteShareGroupStateRequest()
	del.GroupID = "g"
	del.Topics = []kmsg.DeleteShareGroupStateRequestTopic{{TopicID: tid, Partitions: []kmsg.DeleteShareGroupStateRequestTopicPartition{{}}}}
	s2.Delete(ctx, del)
	s3 := NewStore(lg, nil, nil)
	leadAll(s3, 3)
	if code, start, _ := readState(t, s3, "g", 3); code != 0 || start != -1 {
		t.Fatalf("after delete and replay: %d %d", code, start)
	}
	if parts, _ := s3.GroupPartitions("g"); len(parts) != 0 {
		t.Fatalf("deleted group still has partitions %v", parts)
	}
}
