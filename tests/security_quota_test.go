package tests

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/tributary/tributary/internal/node"
)

// throttleHook records the throttles a client is told of.
type throttleHook struct {
	n     atomic.Int64
	after atomic.Bool  // seen a KIP-219 throttle (applied after the response)
	first atomic.Int64 // unix nanos of the first throttle
}

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, after bool) {
	if d > 0 {
		h.first.CompareAndSwap(0, time.Now().UnixNano())
		h.n.Add(1)
		if after {
			h.after.Store(true)
		}
	}
}

// steady is when the client's steady state begins: its first throttle
// ends the initial burst, and after the window's span the burst no longer
// counts (zero: not throttled yet).
func (h *throttleHook) steady(span time.Duration) time.Time {
	f := h.first.Load()
	if f == 0 {
		return time.Time{}
	}
	return time.Unix(0, f).Add(span)
}

// rateMeter counts bytes and reports the rate between two marks.
type rateMeter struct {
	mu    sync.Mutex
	start time.Time
	marks []struct {
		at time.Time
		n  int64
	}
	total int64
}

func (m *rateMeter) add(n int) {
	m.mu.Lock()
	m.total += int64(n)
	m.marks = append(m.marks, struct {
		at time.Time
		n  int64
	}{time.Now(), m.total})
	m.mu.Unlock()
}

// rate is bytes/s over [from, from+d] (the count at a time is the last
// mark's at or before it).
func (m *rateMeter) rate(from time.Time, d time.Duration) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n0, n1 int64
	for _, mk := range m.marks {
		if !mk.at.After(from) {
			n0 = mk.n
		}
		if !mk.at.After(from.Add(d)) {
			n1 = mk.n
		}
	}
	return float64(n1-n0) / d.Seconds()
}

// TestClientQuotas: quotas set with the trib CLI and kadm (stored in the
// quorum, described back, bad ones refused with INVALID_REQUEST); a
// franz-go producer with a producer_byte_rate quota and a consumer with a
// consumer_byte_rate quota are held near their rates (±10 % of the
// steady state after the first window's burst) and told of the throttle
// the KIP-219 way, while an unlimited producer on the same broker is
// never throttled.
func TestClientQuotas(t *testing.T) {
	n := startNode(t, "", map[string]string{"quota.window.num": "3", "quota.window.size.seconds": "1"})
	addr := n.Addr()
	adm := newAdmin(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const quota = 256 << 10
	mustTrib(t, addr, "", "quota", "alter", "--client-id", "slow-producer", "--add-config", "producer_byte_rate=262144")
	if _, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: kmsg.StringPtr("slow-consumer")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: quota}, {Key: "request_percentage", Value: 400}},
	}}); err != nil {
		t.Fatal(err)
	}
	// The request_percentage was for the describe check; remove it.
	mustTrib(t, addr, "", "quota", "alter", "--client-id", "slow-consumer", "--delete-config", "request_percentage")
	out := mustTrib(t, addr, "", "quota", "describe")
	for _, want := range []string{"{client-id=slow-producer}  producer_byte_rate  262144", "{client-id=slow-consumer}  consumer_byte_rate  262144"} {
		if !strings.Contains(out, want) {
			t.Fatalf("trib quota describe lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "request_percentage") {
		t.Fatalf("a removed quota is still described:\n%s", out)
	}
	// Bad alterations are refused, one by one, with INVALID_REQUEST.
	bad := []kadm.AlterClientQuotaEntry{
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: kmsg.StringPtr("a")}}, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: -1}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: kmsg.StringPtr("b")}}, Ops: []kadm.AlterClientQuotaOp{{Key: "no_such_quota", Value: 1}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "ip", Name: kmsg.StringPtr("1.2.3.4")}}, Ops: []kadm.AlterClientQuotaOp{{Key: "connection_creation_rate", Value: 1}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "group", Name: kmsg.StringPtr("g")}}, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: kmsg.StringPtr("c")}}, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1.5}}},
	}
	res, err := adm.AlterClientQuotas(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !errors.Is(r.Err, kerr.InvalidRequest) {
			t.Errorf("bad alteration %d (%s): %v, want INVALID_REQUEST", i, r.Entity, r.Err)
		}
	}
	// validate_only checks without storing; a default entity round-trips.
	if _, err := adm.ValidateAlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: kadm.ClientQuotaEntity{{Type: "user"}},
		Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	qs, err := adm.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 2}})
	if err != nil || len(qs) != 0 {
		t.Fatalf("after validate_only and refused alterations, user quotas = %v, %v; want none", qs, err)
	}

	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "q", "pre"); err != nil {
		t.Fatal(err)
	}
	// Fill "pre" for the consumer with an unlimited producer.
	fast := newClient(t, addr, kgo.ClientID("fast"), kgo.DefaultProduceTopic("pre"), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(32<<10)) // a fetch returns at least one batch, whatever the quota

	val := make([]byte, 1024)
	rand.Read(val) // quotas count bytes on the wire: no compression below
	const preRecords = 2600
	for range preRecords {
		fast.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	if err := fast.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	var slowHook, consHook, fastHook throttleHook
	slow := newClient(t, addr, kgo.ClientID("slow-producer"), kgo.DefaultProduceTopic("q"), kgo.WithHooks(&slowHook),
		kgo.ProducerBatchMaxBytes(16<<10), kgo.MaxBufferedRecords(256), kgo.ProducerBatchCompression(kgo.NoCompression()),
		// Small steps, so 4 s measure the rate closely; kgo's idempotent
		// producer keeps 5 requests in flight. The broker used to mute the
		// connection only from a throttled response, and the requests it
		// had read ahead were appended meanwhile: 4-11 % over the quota in
		// 4 s. It now mutes as it handles the request that crossed it.
	)
	cons := newClient(t, addr, kgo.ClientID("slow-consumer"), kgo.ConsumeTopics("pre"), kgo.WithHooks(&consHook),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(32<<10), kgo.FetchMaxPartitionBytes(32<<10)) // a throttled fetch is dropped whole: small ones track the rate closely
	other := newClient(t, addr, kgo.ClientID("unlimited"), kgo.DefaultProduceTopic("q"), kgo.WithHooks(&fastHook))

	// A new client may burst what the window allows (2 s of quota); its
	// first throttle ends that, and 2 s later the burst no longer counts.
	// The limited clients are measured from there for 4 s.
	const span, measure = 2 * time.Second, 4 * time.Second
	runCtx, stop := context.WithTimeout(ctx, 40*time.Second)
	defer stop()
	go func() { // safe: only waits
		for runCtx.Err() == nil {
			a, b := slowHook.steady(span), consHook.steady(span)
			if !a.IsZero() && !b.IsZero() && time.Since(a) > measure+100*time.Millisecond && time.Since(b) > measure+100*time.Millisecond {
				stop()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	prodRate, consRate := &rateMeter{}, &rateMeter{}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { // the limited producer, as fast as it may
		defer wg.Done()
		for runCtx.Err() == nil {
			slow.Produce(runCtx, &kgo.Record{Value: val}, func(r *kgo.Record, err error) {
				if err == nil {
					prodRate.add(len(r.Value))
				}
			})
		}
	}()
	go func() { // the limited consumer
		defer wg.Done()
		for runCtx.Err() == nil {
			fs := cons.PollFetches(runCtx)
			fs.EachRecord(func(r *kgo.Record) { consRate.add(len(r.Value)) })
		}
	}()
	var lat []time.Duration
	go func() { // the unlimited producer, one record at a time
		defer wg.Done()
		for runCtx.Err() == nil {
			start := time.Now()
			if err := other.ProduceSync(runCtx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
				if runCtx.Err() == nil {
					t.Errorf("unlimited producer: %v", err)
				}
				return
			}
			lat = append(lat, time.Since(start))
		}
	}()
	wg.Wait()

	if ctx.Err() != nil {
		t.Fatal("the limited clients were not throttled within 40 s")
	}
	pr, cr := prodRate.rate(slowHook.steady(span), measure), consRate.rate(consHook.steady(span), measure)
	slices.Sort(lat)
	p := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(q*float64(len(lat)-1))]
	}
	t.Logf("producer_byte_rate %d: produced %.0f B/s (%.2f×), %d throttles; consumer_byte_rate %d: consumed %.0f B/s (%.2f×), %d throttles; unlimited producer: %d records, p50 %v p99 %v, %d throttles",
		quota, pr, pr/quota, slowHook.n.Load(), quota, cr, cr/quota, consHook.n.Load(), len(lat), p(0.5), p(0.99), fastHook.n.Load())
	// Over: the broker's mute let requests read ahead through (1.04-1.11×
	// before it muted at handling; 0.98× since). Under: a loaded machine.
	if pr < 0.9*quota || pr > 1.05*quota {
		t.Errorf("limited producer at %.0f B/s, want %d - 10 %% / + 5 %%", pr, quota)
	}
	// A throttled fetch is answered empty and sent again after the
	// throttle (Kafka's way), so each round trip's latency is lost time:
	// on a loaded machine the consumer stays below its quota.
	if cr < 0.6*quota || cr > 1.1*quota {
		t.Errorf("limited consumer at %.0f B/s, want %d - 40 %% / + 10 %%", cr, quota)
	}
	if slowHook.n.Load() == 0 || !slowHook.after.Load() || consHook.n.Load() == 0 || !consHook.after.Load() {
		t.Errorf("limited clients were not told of throttles after the response (producer %d, consumer %d)", slowHook.n.Load(), consHook.n.Load())
	}
	if counts, _ := n.Broker.QuotaThrottles(); counts[0] == 0 || counts[1] == 0 {
		t.Errorf("the broker's throttle counters (Produce, Fetch, Request) = %v", counts)
	}
	if fastHook.n.Load() != 0 || len(lat) == 0 {
		t.Errorf("the unlimited producer was throttled %d times (%d records)", fastHook.n.Load(), len(lat))
	}
	// The other quota types, on the same broker (a broker start is the
	// slow part of these tests).
	t.Run("request_percentage", func(t *testing.T) { testRequestPercentageQuota(t, n) })
	t.Run("controller_mutation_rate", func(t *testing.T) { testControllerMutationQuota(t, n) })
}

// testRequestPercentageQuota: a client over its request_percentage (the
// broker's handler time as a share of one thread) gets throttle_time_ms
// in its responses (KIP-219, so franz-go waits it out) and keeps being
// served; ApiVersions is exempt.
func testRequestPercentageQuota(t *testing.T, n *node.Node) {
	addr := n.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := newAdmin(t, addr).CreateTopics(ctx, 4, 1, nil, "rp1", "rp2", "rp3"); err != nil {
		t.Fatal(err)
	}
	mustTrib(t, addr, "", "quota", "alter", "--client-id", "busy", "--add-config", "request_percentage=0.01")
	var hook throttleHook
	busy := newClient(t, addr, kgo.ClientID("busy"), kgo.WithHooks(&hook))
	start := time.Now()
	served := 0
	for hook.n.Load() < 3 && time.Since(start) < 30*time.Second {
		req := kmsg.NewPtrMetadataRequest() // every topic: some handler time
		if _, err := req.RequestWith(ctx, busy); err != nil {
			t.Fatalf("metadata %d: %v", served, err)
		}
		served++
	}
	if hook.n.Load() < 3 || !hook.after.Load() {
		t.Fatalf("%d requests over %v: %d throttles (after the response: %v)", served, time.Since(start), hook.n.Load(), hook.after.Load())
	}
	if counts, _ := n.Broker.QuotaThrottles(); counts[2] == 0 {
		t.Errorf("the broker's Request throttle counter is 0 (%v)", counts)
	}
	t.Logf("%d Metadata requests before 3 throttles, %v", served, time.Since(start))
}

// testControllerMutationQuota (KIP-599): controller_mutation_rate counts
// the partitions a client creates and deletes; past the burst, a
// CreateTopics v6+ topic is refused with THROTTLING_QUOTA_EXCEEDED and
// the response carries the throttle time, while a client of an older
// version is throttled but never refused.
func testControllerMutationQuota(t *testing.T, n *node.Node) {
	addr := n.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// 2 partitions/s: a burst of 2 × 3 windows × 1 s = 6 partitions; the
	// bucket may go below zero once.
	mustTrib(t, addr, "", "quota", "alter", "--client-id-default", "--add-config", "controller_mutation_rate=2")
	var hook throttleHook
	adm := kadm.NewClient(newClient(t, addr, kgo.ClientID("mutator"), kgo.WithHooks(&hook)))
	res, err := adm.CreateTopics(ctx, 3, 1, nil, "m1", "m2", "m3", "m4")
	if err != nil {
		t.Fatal(err)
	}
	var created, refused int
	for _, r := range res {
		switch {
		case r.Err == nil:
			created++
		case errors.Is(r.Err, kerr.ThrottlingQuotaExceeded):
			refused++
		default:
			t.Fatalf("create %s: %v", r.Topic, r.Err)
		}
	}
	if created != 3 || refused != 1 || hook.n.Load() == 0 {
		t.Fatalf("4 topics of 3 partitions against a burst of 6: %d created, %d refused, %d throttles; want 3, 1 and a throttle", created, refused, hook.n.Load())
	}
	// An old client (CreateTopics v5, before KIP-599) is not refused.
	old := kadm.NewClient(newClient(t, addr, kgo.ClientID("old-mutator"), kgo.MaxVersions(kversion.V2_6_0())))
	if _, err := old.CreateTopics(ctx, 3, 1, nil, "o1"); err != nil {
		t.Fatal(err)
	}
	res, err = old.CreateTopics(ctx, 3, 1, nil, "o2", "o3")
	if err != nil || res.Error() != nil {
		t.Fatalf("an old client's creations past the quota: %v %v", res, err)
	}
	// Once the bucket refills, the throttled client creates again.
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := adm.CreateTopic(ctx, 1, 1, nil, "m4")
		if err == nil && r.Err == nil {
			break
		}
		if err == nil && !errors.Is(r.Err, kerr.ThrottlingQuotaExceeded) || time.Now().After(deadline) {
			t.Fatalf("create m4 after the throttle: %v %v", err, r.Err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if counts, _ := n.Broker.QuotaThrottles(); counts[3] == 0 {
		t.Errorf("the broker's ControllerMutation throttle counter is 0 (%v)", counts)
	}
}
