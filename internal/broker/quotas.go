package broker

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/security"
)

// Client quota enforcement (Kafka's ClientQuotaManager semantics, KIP-219
// throttling). The quotas are the metadata state's (AlterClientQuotas); a
// request's user is its principal's name and its client id the header's.
//
//   - producer_byte_rate: every produce request's size is recorded (also
//     while throttled); over the quota the response carries
//     throttle_time_ms.
//   - consumer_byte_rate: a consumer fetch's record bytes are recorded;
//     over the quota they are taken back and the response is empty, with
//     throttle_time_ms, as Kafka answers. A fetch is capped at what the
//     quota allows in its window (Kafka's max value in a quota window).
//   - request_percentage: the time the broker spends serving a request on
//     the connection's goroutine (the handler's synchronous part: appends,
//     which the handler then waits for although they run on the append
//     stage, admin work; not a fetch's long-poll wait) as a percentage of one
//     thread; over the quota every response carries the throttle time.
//     Exempt: ApiVersions, SASL, follower fetches and broker-to-broker
//     APIs, as Kafka exempts cluster actions.
//
// The server (internal/server) applies throttle_time_ms the KIP-219 way:
// a response of a version whose client throttles itself is sent at once
// and the connection's reads are muted for that long; an older version's
// response is held back for the throttle time instead. acks=0 produces,
// which get no response, mute the connection through ConnInfo.Mute.
//
// Concurrency: quotaManager.mu guards the index and the sensors map; each
// sensor has its own lock. The request path takes no lock while the state
// holds no quota.
type quotaManager struct {
	now    func() time.Time
	window security.QuotaWindow

	mu      sync.Mutex
	state   *metadata.State // the state idx was built from
	idx     security.QuotaIndex
	sensors map[sensorKey]*quotaSensor

	// throttled counts throttled responses and the total throttle time,
	// per quota type (metrics.go reads them).
	throttled [quotaKinds]atomic.Int64
	throttleT [quotaKinds]atomic.Int64 // nanoseconds
}

type quotaKind int

const (
	quotaProduce quotaKind = iota
	quotaFetch
	quotaRequest
	quotaMutation
	quotaKinds
)

var quotaKeys = [quotaKinds]string{security.QuotaProducerByteRate, security.QuotaConsumerByteRate, security.QuotaRequestPercentage, security.QuotaControllerMutate}

// QuotaTypeNames are the metric label values of the quota types (Kafka's
// quota types: Produce, Fetch, Request, ControllerMutation).
var QuotaTypeNames = [quotaKinds]string{"Produce", "Fetch", "Request", "ControllerMutation"}

type sensorKey struct {
	kind quotaKind
	b    security.QuotaBucket
}

type quotaSensor struct {
	*security.QuotaSensor
	bucket security.TokenBucket // controller_mutation_rate (quotaMutation) only
	last   atomic.Int64         // unix nanos of the last record, for expiry
}

// maxSensors bounds the sensors kept; past it, sensors idle for a whole
// window are dropped (their history no longer counts anyway).
const maxSensors = 4096

func newQuotaManager(now func() time.Time, samples int64, sizeSeconds int64) *quotaManager {
	return &quotaManager{now: now, window: security.QuotaWindow{Samples: int(samples), Size: time.Duration(sizeSeconds) * time.Second},
		sensors: map[sensorKey]*quotaSensor{}}
}

// resolve returns the quota and sensor for kind that apply to r, or nil.
func (q *quotaManager) resolve(st *metadata.State, kind quotaKind, r *Request) (float64, *quotaSensor) {
	if len(st.Quotas) == 0 {
		return 0, nil
	}
	user, client := security.Anonymous, ""
	if r.Conn != nil && r.Conn.Principal != "" {
		user = r.Conn.Principal
	}
	if r.ClientID != nil {
		client = *r.ClientID
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.state != st {
		q.state, q.idx = st, security.NewQuotaIndex(st.Quotas)
	}
	v, bucket, ok := security.ResolveQuota(q.idx.Lookup(quotaKeys[kind]), user, client)
	if !ok {
		return 0, nil
	}
	k := sensorKey{kind, bucket}
	s := q.sensors[k]
	if s == nil {
		if len(q.sensors) >= maxSensors {
			q.expire()
		}
		s = &quotaSensor{QuotaSensor: security.NewQuotaSensor(q.window)}
		q.sensors[k] = s
	}
	return v, s
}

// expire drops sensors idle for a whole window. Called with mu held.
func (q *quotaManager) expire() {
	cutoff := q.now().Add(-time.Duration(q.window.Samples) * q.window.Size).UnixNano()
	for k, s := range q.sensors {
		if s.last.Load() < cutoff {
			delete(q.sensors, k)
		}
	}
}

// record adds v to r's sensor of kind and returns the throttle time.
func (q *quotaManager) record(st *metadata.State, kind quotaKind, r *Request, v float64) time.Duration {
	quota, s := q.resolve(st, kind, r)
	if s == nil {
		return 0
	}
	now := q.now()
	s.last.Store(now.UnixNano())
	if kind == quotaRequest {
		quota = quota / 100 // a fraction of one thread: seconds per second
	}
	return s.Record(now, v, quota)
}

func (q *quotaManager) noteThrottle(kind quotaKind, d time.Duration) {
	if d > 0 {
		q.throttled[kind].Add(1)
		q.throttleT[kind].Add(int64(d))
	}
}

// QuotaThrottles returns, per quota type (QuotaTypeNames), how many
// responses were throttled and the total throttle time.
func (b *Broker) QuotaThrottles() (counts [quotaKinds]int64, total [quotaKinds]time.Duration) {
	for k := range quotaKinds {
		counts[k] = b.quotas.throttled[k].Load()
		total[k] = time.Duration(b.quotas.throttleT[k].Load())
	}
	return counts, total
}

// produceThrottle records a produce request's size against its
// producer_byte_rate quota and returns the throttle time.
func (b *Broker) produceThrottle(r *Request) time.Duration {
	d := b.quotas.record(b.quorum.State(), quotaProduce, r, float64(r.Size))
	b.quotas.noteThrottle(quotaProduce, d)
	return d
}

// fetchQuotaMaxBytes caps a consumer fetch at what its quota allows in one
// quota window (0: no cap).
func (b *Broker) fetchQuotaMaxBytes(r *Request) int {
	quota, s := b.quotas.resolve(b.quorum.State(), quotaFetch, r)
	if s == nil {
		return 0
	}
	w := b.quotas.window
	return max(int(quota*float64(w.Samples-1)*w.Size.Seconds()), 1)
}

// fetchThrottle records a consumer fetch's record bytes against its
// consumer_byte_rate quota. Over the quota, the bytes are taken back,
// resp's read buffers are released and an empty response carrying the
// throttle time is returned to send instead; nil otherwise.
func (b *Broker) fetchThrottle(r *Request, resp *kmsg.FetchResponse, n int) *kmsg.FetchResponse {
	if n == 0 {
		return nil
	}
	quota, s := b.quotas.resolve(b.quorum.State(), quotaFetch, r)
	if s == nil {
		return nil
	}
	now := b.quotas.now()
	s.last.Store(now.UnixNano())
	d := s.Record(now, float64(n), quota)
	if d <= 0 {
		return nil
	}
	s.Unrecord(now, float64(n))
	b.quotas.noteThrottle(quotaFetch, d)
	b.Written(resp) // release the reads
	empty := r.Msg.(*kmsg.FetchRequest).ResponseKind().(*kmsg.FetchResponse)
	empty.ThrottleMillis = throttleMillis(d)
	return empty
}

// requestQuotaExempt are APIs Kafka exempts from request_percentage:
// authentication, version discovery and broker-to-broker requests.
var requestQuotaExempt = map[int16]bool{
	kmsg.ApiVersions.Int16(): true, kmsg.SASLHandshake.Int16(): true, kmsg.SASLAuthenticate.Int16(): true,
	kmsg.WriteTxnMarkers.Int16(): true,
}

// requestThrottle records the time spent serving r against its
// request_percentage quota and returns the throttle time.
func (b *Broker) requestThrottle(st *metadata.State, r *Request, spent time.Duration) time.Duration {
	if requestQuotaExempt[r.Key] {
		return 0
	}
	if f, ok := r.Msg.(*kmsg.FetchRequest); ok && fetchReplica(f) >= 0 {
		return 0
	}
	d := b.quotas.record(st, quotaRequest, r, spent.Seconds())
	b.quotas.noteThrottle(quotaRequest, d)
	return d
}

// throttleMillis is d as a response's throttle_time_ms (rounded up).
func throttleMillis(d time.Duration) int32 {
	if d <= 0 {
		return 0
	}
	return int32(min((d+time.Millisecond-1)/time.Millisecond, 1<<31-1))
}

// throttled sets a response's throttle time to at least d.
func throttled(resp kmsg.Response, d time.Duration) {
	t, ok := resp.(interface {
		Throttle() (int32, bool)
		SetThrottle(int32)
	})
	if !ok {
		return
	}
	if cur, _ := t.Throttle(); cur < throttleMillis(d) {
		t.SetThrottle(throttleMillis(d))
	}
}

// mutations applies controller_mutation_rate (KIP-599) to one topic admin
// request: partitions created (CreateTopics, CreatePartitions) or deleted
// (DeleteTopics) are taken from a token bucket that refills at the quota
// and holds quota × quota.window.num × quota.window.size.seconds. A
// request of a version that knows THROTTLING_QUOTA_EXCEEDED (strict) has a
// topic refused with it while the bucket is below zero; an older one is
// never refused. Either way the response carries the throttle time until
// the bucket is back at zero. Validate-only requests are not counted.
type mutations struct {
	b        *Broker
	strict   bool
	quota    float64
	s        *quotaSensor // nil: no quota
	throttle time.Duration
}

func (b *Broker) mutations(r *Request, strict, validateOnly bool) *mutations {
	m := &mutations{b: b, strict: strict}
	if validateOnly {
		return m
	}
	m.quota, m.s = b.quotas.resolve(b.quorum.State(), quotaMutation, r)
	return m
}

func (m *mutations) burst() float64 {
	w := m.b.quotas.window
	return m.quota * float64(w.Samples) * w.Size.Seconds()
}

// refused reports whether a mutation must be refused now
// (THROTTLING_QUOTA_EXCEEDED), noting the throttle time.
func (m *mutations) refused() bool {
	if m.s == nil || !m.strict {
		return false
	}
	now := m.b.quotas.now()
	if !m.s.bucket.Violated(now, m.quota, m.burst()) {
		return false
	}
	m.throttle = max(m.throttle, m.s.bucket.Record(now, 0, m.quota, m.burst()))
	return true
}

// record takes n partitions' mutations.
func (m *mutations) record(n int32) {
	if m.s == nil || n <= 0 {
		return
	}
	now := m.b.quotas.now()
	m.s.last.Store(now.UnixNano())
	m.throttle = max(m.throttle, m.s.bucket.Record(now, float64(n), m.quota, m.burst()))
}

// done is the request's throttle time, counted in the metrics.
func (m *mutations) done() int32 {
	m.b.quotas.noteThrottle(quotaMutation, m.throttle)
	return throttleMillis(m.throttle)
}

// errThrottled is a topic refused by controller_mutation_rate.
var errThrottled = cerr(kerr.ThrottlingQuotaExceeded, "the controller mutation rate quota is exceeded; retry after the throttle time")

// fetchReplica is the replica id of a follower fetch, -1 for a consumer.
func fetchReplica(f *kmsg.FetchRequest) int32 {
	if f.Version < 15 {
		return f.ReplicaID
	}
	return f.ReplicaState.ID
}
