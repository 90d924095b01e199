package tests

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sessionFetch is a fetch of partitions parts of topic at offsets, on
// session id at epoch, that does not long-poll.
func sessionFetch(topic string, id, epoch int32, offsets map[int32]int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes = 1 << 20
	req.SessionID, req.SessionEpoch = id, epoch
	if len(offsets) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		parts := make([]int32, 0, len(offsets))
		for p := range offsets {
			parts = append(parts, p)
		}
		slices.Sort(parts)
		for _, p := range parts {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, offsets[p], 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// answered lists the partitions a fetch response carries, with whether
// each has records: "0+" has records, "1" has none.
func answered(r *kmsg.FetchResponse) string {
	var out []string
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			s := fmt.Sprint(p.Partition)
			if len(p.RecordBatches) > 0 {
				s += "+"
			}
			if p.ErrorCode != 0 {
				s += fmt.Sprintf("!%d", p.ErrorCode)
			}
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

// TestFetchSessionIncremental walks a KIP-227 session over the wire: a full
// fetch opens it, incremental fetches carry only changed partitions both
// ways, forgotten partitions leave it, a long poll on it is woken by an
// append to any of its partitions, and each error path answers its code.
func TestFetchSessionIncremental(t *testing.T) {
	n := startNode(t, "", map[string]string{"admin.listen": ":0"})
	w := dial(t, n.Addr())
	mustCreate(t, w, "sess", 3, nil)
	produce := func(part int32, v string) {
		t.Helper()
		r := w.roundTrip(produceReq("sess", part, 1, makeBatch(-1, -1, -1, v)), 9).(*kmsg.ProduceResponse)
		if c := r.Topics[0].Partitions[0].ErrorCode; c != 0 {
			t.Fatalf("produce to %d: error %d", part, c)
		}
	}
	produce(0, "a")

	full := w.roundTrip(sessionFetch("sess", 0, 0, map[int32]int64{0: 0, 1: 0, 2: 0}), 12).(*kmsg.FetchResponse)
	if full.ErrorCode != 0 || full.SessionID == 0 {
		t.Fatalf("full fetch: error %d session %d, want a new session", full.ErrorCode, full.SessionID)
	}
	if got := answered(full); got != "0+ 1 2" {
		t.Fatalf("full fetch answered %q, want every partition", got)
	}
	id := full.SessionID
	step := func(epoch int32, offsets map[int32]int64, want string) {
		t.Helper()
		r := w.roundTrip(sessionFetch("sess", id, epoch, offsets), 12).(*kmsg.FetchResponse)
		if r.ErrorCode != 0 || r.SessionID != id {
			t.Fatalf("epoch %d: error %d session %d", epoch, r.ErrorCode, r.SessionID)
		}
		if got := answered(r); got != want {
			t.Fatalf("epoch %d answered %q, want %q", epoch, got, want)
		}
	}
	step(1, map[int32]int64{0: 1}, "") // the consumer moved on; nothing new
	produce(2, "b")
	step(2, nil, "2+") // only the partition with a new record
	step(3, map[int32]int64{2: 1}, "")

	// Forget partition 1: an append there is no longer reported.
	forget := sessionFetch("sess", id, 4, nil)
	ft := kmsg.NewFetchRequestForgottenTopic()
	ft.Topic, ft.Partitions = "sess", []int32{1}
	forget.ForgottenTopics = append(forget.ForgottenTopics, ft)
	if r := w.roundTrip(forget, 12).(*kmsg.FetchResponse); r.ErrorCode != 0 || answered(r) != "" {
		t.Fatalf("forget: error %d answered %q", r.ErrorCode, answered(r))
	}
	produce(1, "c")
	step(5, nil, "")

	// A long poll on the session is woken by an append to a partition the
	// request itself does not name (20 s max wait: an answer without data
	// would mean it was not woken).
	poll := sessionFetch("sess", id, 6, nil)
	poll.MaxWaitMillis, poll.MinBytes = 20000, 1
	done := make(chan *kmsg.FetchResponse, 1)
	w2 := dial(t, n.Addr())
	go func() { done <- w2.roundTrip(poll, 12).(*kmsg.FetchResponse) }()
	// Wait until the long poll is parked, then append.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if strings.Contains(scrapeMetric(t, n, "kafka_server_delayedoperationpurgatory_purgatorysize{delayedOperation=\"Fetch\"}"), " 1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the long poll never waited")
		}
		time.Sleep(10 * time.Millisecond)
	}
	produce(0, "d")
	if r := <-done; r.ErrorCode != 0 || answered(r) != "0+" {
		t.Fatalf("long poll: error %d answered %q, want partition 0 with records", r.ErrorCode, answered(r))
	}

	// Error paths.
	codeOf := func(req *kmsg.FetchRequest, v int16) int16 {
		t.Helper()
		return w.roundTrip(req, v).(*kmsg.FetchResponse).ErrorCode
	}
	if c := codeOf(sessionFetch("sess", id, 6, nil), 12); c != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("replayed epoch: error %d, want INVALID_FETCH_SESSION_EPOCH", c)
	}
	if c := codeOf(sessionFetch("sess", id, 9, nil), 12); c != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("future epoch: error %d, want INVALID_FETCH_SESSION_EPOCH", c)
	}
	if c := codeOf(sessionFetch("sess", id+1, 1, nil), 12); c != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown session: error %d, want FETCH_SESSION_ID_NOT_FOUND", c)
	}
	if c := codeOf(sessionFetch("", id, 7, nil), 13); c != kerr.FetchSessionTopicIDError.Code {
		t.Fatalf("v13 on a session opened with names: error %d, want FETCH_SESSION_TOPIC_ID_ERROR", c)
	}
	// The failed requests did not advance the epoch.
	step(7, map[int32]int64{0: 2}, "")
	// Epoch -1 closes the session and answers a full sessionless fetch.
	closing := w.roundTrip(sessionFetch("sess", id, -1, map[int32]int64{2: 0}), 12).(*kmsg.FetchResponse)
	if closing.ErrorCode != 0 || closing.SessionID != 0 || answered(closing) != "2+" {
		t.Fatalf("close: error %d session %d answered %q", closing.ErrorCode, closing.SessionID, answered(closing))
	}
	if c := codeOf(sessionFetch("sess", id, 8, nil), 12); c != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("closed session: error %d, want FETCH_SESSION_ID_NOT_FOUND", c)
	}
}

// scrapeMetric returns the lines of n's /metrics that start with name.
func scrapeMetric(t testing.TB, n interface{ AdminAddr() string }, name string) string {
	t.Helper()
	_, body, _ := scrape(t, "http://"+n.AdminAddr()+"/metrics")
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, name) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestFetchSessionCacheSlots: with one slot, a new session takes it only
// from a session worth less (fewer partitions); an equal one is answered
// without a session; with no slots no session is opened.
func TestFetchSessionCacheSlots(t *testing.T) {
	n := startNode(t, "", map[string]string{"max.incremental.fetch.session.cache.slots": "1", "admin.listen": ":0"})
	w := dial(t, n.Addr())
	mustCreate(t, w, "slots", 3, nil)
	open := func(parts ...int32) int32 {
		offsets := map[int32]int64{}
		for _, p := range parts {
			offsets[p] = 0
		}
		r := w.roundTrip(sessionFetch("slots", 0, 0, offsets), 12).(*kmsg.FetchResponse)
		if r.ErrorCode != 0 || len(answered(r)) == 0 {
			t.Fatalf("full fetch: error %d answered %q", r.ErrorCode, answered(r))
		}
		return r.SessionID
	}
	a := open(0)
	if a == 0 {
		t.Fatal("first session not opened")
	}
	if b := open(1); b != 0 {
		t.Fatalf("a session of the same size took the only slot (%d)", b)
	}
	c := open(0, 1)
	if c == 0 {
		t.Fatal("a larger session did not take the slot of a smaller one")
	}
	if r := w.roundTrip(sessionFetch("slots", a, 1, nil), 12).(*kmsg.FetchResponse); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("evicted session: error %d, want FETCH_SESSION_ID_NOT_FOUND", r.ErrorCode)
	}
	if r := w.roundTrip(sessionFetch("slots", c, 1, nil), 12).(*kmsg.FetchResponse); r.ErrorCode != 0 || r.SessionID != c {
		t.Fatalf("surviving session: error %d session %d", r.ErrorCode, r.SessionID)
	}
	m := scrapeMetric(t, n, "kafka_server_fetchsessioncache_")
	for _, want := range []string{"numincrementalfetchsessions 1", "numincrementalfetchpartitionscached 2", "incrementalfetchsessionevictions_total 1"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}

	n0 := startNode(t, "", map[string]string{"max.incremental.fetch.session.cache.slots": "0"})
	w0 := dial(t, n0.Addr())
	mustCreate(t, w0, "slots", 1, nil)
	if r := w0.roundTrip(sessionFetch("slots", 0, 0, map[int32]int64{0: 0}), 12).(*kmsg.FetchResponse); r.ErrorCode != 0 || r.SessionID != 0 {
		t.Fatalf("no slots: error %d session %d, want a full answer without a session", r.ErrorCode, r.SessionID)
	}
}

// TestFetchSessionsFranzGo: franz-go consumes through incremental sessions
// (its default) from 64 partitions while two producers append: every
// record arrives once and in order per partition, and the broker reports
// the session open.
func TestFetchSessionsFranzGo(t *testing.T) {
	n := startNode(t, "", map[string]string{"admin.listen": ":0"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 64, 1, nil, "many"); err != nil {
		t.Fatal(err)
	}
	const perProducer = 3000
	cons := newClient(t, n.Addr(), kgo.ConsumeTopics("many"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	var wg sync.WaitGroup
	var perr error
	var mu sync.Mutex
	for p := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := newClient(t, n.Addr(), kgo.DefaultProduceTopic("many"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
			for i := range perProducer {
				cl.Produce(ctx, &kgo.Record{Key: []byte{byte(p)}, Value: []byte(fmt.Sprintf("%d-%d", p, i))}, func(_ *kgo.Record, err error) {
					if err != nil {
						mu.Lock()
						perr = err
						mu.Unlock()
					}
				})
				if i%500 == 0 {
					time.Sleep(20 * time.Millisecond) // spread the appends over several fetches
				}
			}
			if err := cl.Flush(ctx); err != nil {
				mu.Lock()
				perr = err
				mu.Unlock()
			}
		}()
	}
	seen := map[string]bool{}
	last := map[int32]int64{}
	// Per producer, its values must arrive in produce order within a partition.
	lastSeq := map[[2]int]int{}
	for len(seen) < 2*perProducer {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(seen), 2*perProducer, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			if seen[v] {
				t.Fatalf("record %s read twice", v)
			}
			seen[v] = true
			if o, ok := last[r.Partition]; ok && r.Offset <= o {
				t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, o)
			}
			last[r.Partition] = r.Offset
			var prod, seq int
			fmt.Sscanf(v, "%d-%d", &prod, &seq)
			k := [2]int{prod, int(r.Partition)}
			if s, ok := lastSeq[k]; ok && seq <= s {
				t.Fatalf("partition %d: %s after %d-%d", r.Partition, v, prod, s)
			}
			lastSeq[k] = seq
		})
	}
	wg.Wait()
	if perr != nil {
		t.Fatal(perr)
	}
	if m := scrapeMetric(t, n, "kafka_server_fetchsessioncache_numincrementalfetchpartitionscached"); !strings.HasSuffix(m, " 64") {
		t.Fatalf("the consumer's session does not hold its 64 partitions: %q", m)
	}
}
