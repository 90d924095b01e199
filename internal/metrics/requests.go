package metrics

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxKey and maxVersion bound the API keys and versions counted; requests
// outside them (which the server refuses anyway) are not counted.
const (
	maxKey     = 128
	maxVersion = 32
)

// Requests counts requests per API key and version and times them, for the
// server's request loop. Received and Done are lock-free (atomic adds and
// a histogram observation) and may be called from any goroutine.
type Requests struct {
	count [maxKey][maxVersion]atomic.Int64
	// latency holds each API's histogram, created on its first request
	// so unused APIs add no series.
	latency [maxKey]atomic.Pointer[histogram]
	vec     *prometheus.HistogramVec
	// refused counts connections closed at accept because their source
	// is not in the listener's allowed.cidrs: listener name → *atomic.Int64.
	refused sync.Map
}

var descRefused = prometheus.NewDesc("tributary_server_connections_refused_total",
	"Connections closed at accept, before any byte was read, because their source address is not in the listener's allowed.cidrs.", []string{"listener"}, nil)

// ConnectionRefused counts one connection refused at accept on listener.
func (r *Requests) ConnectionRefused(listener string) {
	if r == nil {
		return
	}
	c, ok := r.refused.Load(listener)
	if !ok {
		c, _ = r.refused.LoadOrStore(listener, new(atomic.Int64))
	}
	c.(*atomic.Int64).Add(1)
}

type histogram struct{ prometheus.Observer }

var descRequests = prometheus.NewDesc("kafka_network_requestmetrics_requests_total",
	"Requests received, per API and version (RequestMetrics RequestsPerSec).", []string{"request", "version"}, nil)

// NewRequests returns request metrics with a latency histogram per API key.
func NewRequests() *Requests {
	r := &Requests{vec: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "kafka_network_requestmetrics_totaltimems",
		Help: "Time from a request's arrival to its response being written, in milliseconds, per API (RequestMetrics TotalTimeMs).",
		// 0.1 ms to ~30 s.
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000},
	}, []string{"request"})}
	return r
}

// fetchFollowerSlot is the slot of replica fetches; slot 1 (Fetch's key)
// then holds consumer fetches. Kafka names them FetchFollower and
// FetchConsumer.
const fetchFollowerSlot = maxKey - 1

// RequestSlot is the slot Received and Done count a request under: its
// API key, except that a follower's Fetch (a replica id) is counted apart
// from a consumer's. msg may be nil (a request answered before decoding).
func RequestSlot(key int16, msg kmsg.Request) int16 {
	if f, ok := msg.(*kmsg.FetchRequest); ok {
		// Where the broker reads the replica id (01_fetch.go).
		replica := f.ReplicaID
		if f.Version >= 15 {
			replica = f.ReplicaState.ID
		}
		if replica >= 0 {
			return fetchFollowerSlot
		}
	}
	return key
}

// slotName is the request label of a slot.
func slotName(slot int16) string {
	switch slot {
	case 1:
		return "FetchConsumer"
	case fetchFollowerSlot:
		return "FetchFollower"
	}
	return kmsg.NameForKey(slot)
}

// Received counts one request in slot (RequestSlot).
func (r *Requests) Received(key, version int16) {
	if r == nil || key < 0 || key >= maxKey || version < 0 || version >= maxVersion {
		return
	}
	r.count[key][version].Add(1)
}

// Done records the time from start (the request's arrival) to now.
// slot is RequestSlot's.
func (r *Requests) Done(key int16, start time.Time) {
	if r == nil || key < 0 || key >= maxKey {
		return
	}
	h := r.latency[key].Load()
	if h == nil {
		h = &histogram{r.vec.WithLabelValues(slotName(key))}
		r.latency[key].Store(h)
	}
	h.Observe(float64(time.Since(start)) / float64(time.Millisecond))
}

func (r *Requests) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRequests
	ch <- descRefused
	r.vec.Describe(ch)
}

func (r *Requests) Collect(ch chan<- prometheus.Metric) {
	for k := range r.count {
		for v := range r.count[k] {
			if n := r.count[k][v].Load(); n > 0 {
				ch <- newMetric(descRequests, prometheus.CounterValue, float64(n), slotName(int16(k)), strconv.Itoa(v))
			}
		}
	}
	r.refused.Range(func(k, v any) bool {
		ch <- newMetric(descRefused, prometheus.CounterValue, float64(v.(*atomic.Int64).Load()), k.(string))
		return true
	})
	r.vec.Collect(ch)
}
