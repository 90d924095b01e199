package broker

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func fullFetch(parts ...int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.SessionEpoch = 12, 0
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	for _, p := range parts {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// The slot rules: an idle session gives way to any new one; otherwise a
// follower's session beats a consumer's, a larger one a smaller one.
func TestFetchSessionEviction(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newFetchSessions(2, func() time.Time { return now })
	open := func(follower bool, parts ...int32) *fetchSession {
		u, code := c.begin(fullFetch(parts...), follower)
		if code != 0 {
			t.Fatalf("full fetch: code %d", code)
		}
		return u.s
	}
	a := open(false, 0, 1, 2)
	now = now.Add(time.Second)
	b := open(false, 0, 1, 2)
	if a == nil || b == nil {
		t.Fatal("free slots not used")
	}
	if s := open(false, 0, 1); s != nil {
		t.Fatal("a smaller consumer session evicted a larger one")
	}
	f := open(true, 0)
	if f == nil || c.byID[a.id] != nil || c.byID[b.id] == nil {
		t.Fatal("a follower's session did not take the least valuable consumer session's slot")
	}
	now = now.Add(time.Second)
	if s := open(false, 0, 1, 2, 3); s == nil || c.byID[b.id] != nil {
		t.Fatal("a larger consumer session did not evict a smaller one")
	}
	// Neither remaining session is worth less than a one-partition
	// consumer session until the least recently used has been idle for
	// sessionEvictionIdle.
	if s := open(false, 0); s != nil {
		t.Fatal("a small consumer session evicted a busy one")
	}
	now = now.Add(sessionEvictionIdle)
	if s := open(false, 0); s == nil || c.byID[f.id] != nil {
		t.Fatal("an idle session kept its slot")
	}
	if c.evictions.Load() != 3 || c.partsCached.Load() != 5 || c.count() != 2 {
		t.Fatalf("evictions %d, partitions %d, sessions %d", c.evictions.Load(), c.partsCached.Load(), c.count())
	}
}

func TestFetchSessionEpochs(t *testing.T) {
	c := newFetchSessions(1, time.Now)
	u, _ := c.begin(fullFetch(0), false)
	s := u.s
	s.epoch = math.MaxInt32
	inc := kmsg.NewPtrFetchRequest()
	inc.Version, inc.SessionID, inc.SessionEpoch = 12, s.id, math.MaxInt32
	if u, code := c.begin(inc, false); code != 0 || !u.incremental || len(u.topics) != 1 {
		t.Fatalf("incremental: code %d %+v", code, u)
	}
	if s.epoch != 1 {
		t.Fatalf("epoch after MaxInt32 is %d, want 1", s.epoch)
	}
	if _, code := c.begin(inc, false); code != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("replay: code %d", code)
	}
}

// finish keeps only what changed in an incremental response, moves the
// partitions that sent records to the end of the session's order (in the
// order sent), and allocates nothing once the session is warm.
func TestFetchSessionFinish(t *testing.T) {
	c := newFetchSessions(1, time.Now)
	u, code := c.begin(fullFetch(0, 1, 2, 3), false)
	if code != 0 || u.s == nil {
		t.Fatalf("full fetch: code %d", code)
	}
	s := u.s
	var parts [4]kmsg.FetchResponseTopicPartition
	var topics [1]kmsg.FetchResponseTopic
	batch := []byte{1}
	fill := func(resp *kmsg.FetchResponse, hw int64, records ...int32) {
		for i := range parts {
			parts[i] = kmsg.FetchResponseTopicPartition{Partition: int32(i), HighWatermark: hw, LastStableOffset: hw}
		}
		for _, p := range records {
			parts[p].RecordBatches = batch
		}
		topics[0] = kmsg.FetchResponseTopic{Topic: "t", Partitions: parts[:]}
		resp.Topics = topics[:]
	}
	order := func() (out []int32) {
		for _, sp := range s.parts {
			out = append(out, sp.key.part)
		}
		return out
	}
	var resp kmsg.FetchResponse
	fill(&resp, 5)
	u.finish(&resp) // full: answers every partition, records what was sent
	if got := answered(&resp); got != "0 1 2 3" {
		t.Fatalf("full fetch answered %q", got)
	}
	inc := kmsg.NewPtrFetchRequest()
	inc.Version, inc.SessionID, inc.SessionEpoch = 12, s.id, s.epoch
	ui, code := c.begin(inc, false)
	if code != 0 || !ui.incremental {
		t.Fatalf("incremental: code %d", code)
	}
	fill(&resp, 5, 2, 0)
	parts[3].HighWatermark = 6
	ui.finish(&resp)
	if got := answered(&resp); got != "0+ 2+ 3" {
		t.Fatalf("incremental fetch answered %q, want the partitions with records and the one whose high watermark moved", got)
	}
	if got := order(); !slices.Equal(got, []int32{1, 3, 0, 2}) {
		t.Fatalf("session order %v, want [1 3 0 2]: the partitions that sent records go last", got)
	}
	for _, sp := range s.parts {
		if sp.moved {
			t.Fatalf("partition %d still marked", sp.key.part)
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		fill(&resp, 6, 1)
		ui.finish(&resp)
	})
	if allocs != 0 {
		t.Fatalf("finish allocates %.1f times per fetch", allocs)
	}
	if got := order(); got[3] != 1 {
		t.Fatalf("session order %v, want partition 1 last", got)
	}
}

// answered lists a response's partitions, "+" marking those with records.
func answered(r *kmsg.FetchResponse) string {
	var out []string
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			s := strconv.Itoa(int(p.Partition))
			if len(p.RecordBatches) > 0 {
				s += "+"
			}
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}
