package metrics

import (
	"strconv"
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

// Received counts one request.
func (r *Requests) Received(key, version int16) {
	if r == nil || key < 0 || key >= maxKey || version < 0 || version >= maxVersion {
		return
	}
	r.count[key][version].Add(1)
}

// Done records the time from start (the request's arrival) to now.
func (r *Requests) Done(key int16, start time.Time) {
	if r == nil || key < 0 || key >= maxKey {
		return
	}
	h := r.latency[key].Load()
	if h == nil {
		h = &histogram{r.vec.WithLabelValues(kmsg.NameForKey(key))}
		r.latency[key].Store(h)
	}
	h.Observe(float64(time.Since(start)) / float64(time.Millisecond))
}

func (r *Requests) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRequests
	r.vec.Describe(ch)
}

func (r *Requests) Collect(ch chan<- prometheus.Metric) {
	for k := range r.count {
		for v := range r.count[k] {
			if n := r.count[k][v].Load(); n > 0 {
				ch <- newMetric(descRequests, prometheus.CounterValue, float64(n), kmsg.NameForKey(int16(k)), strconv.Itoa(v))
			}
		}
	}
	r.vec.Collect(ch)
}
