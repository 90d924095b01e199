// Package metrics is the broker's observability: a Prometheus registry
// with Kafka's metric names as the Prometheus JMX exporter with Strimzi's
// rules renders them (kafka_server_brokertopicmetrics_messagesin_total,
// kafka_server_replicamanager_underreplicatedpartitions, ...), consumer
// group lag with kafka-exporter's names and a lag status with Burrow's
// rules, and the admin HTTP listener that serves them with /healthz and
// /readyz. docs/METRICS.md lists every metric.
//
// Cost model: gauges are computed at scrape time by collectors that read
// the broker's state (Source.Snapshot); the request path pays only atomic
// adds (counters kept by the broker and Requests) and one histogram
// observation per request. The package holds no cluster state of its own
// beyond the lag tracker's windows and imports no other Tributary package:
// the broker, server and node call into it.
package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Version is this build's version string, reported as
// tributary_build_info{version}: "dev" unless the build sets it with
// -ldflags "-X github.com/tributary/tributary/internal/metrics.Version=V".
var Version = "dev"

// Options configure Metrics.
type Options struct {
	// PerPartition adds the per-partition series (kafka_log_log_size,
	// log end and start offsets, under-replicated per partition):
	// metrics.partition.series.enable.
	PerPartition bool
	// LagWindow is the number of commits in a group partition's status
	// window (consumer.lag.window.commits); 0 means 10.
	LagWindow int
	// Now is the clock for lag evaluation; nil means time.Now.
	Now func() time.Time
}

// Metrics is one broker's registry.
type Metrics struct {
	Registry *prometheus.Registry
	Requests *Requests
	Lag      *LagTracker
	fsync    prometheus.Histogram
	src      atomic.Pointer[sourceBox]
	now      func() time.Time
}

type sourceBox struct{ Source }

// New returns a registry with the Go runtime, process, request, fsync,
// broker and consumer lag collectors.
func New(opts Options) *Metrics {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LagWindow <= 0 {
		opts.LagWindow = 10
	}
	m := &Metrics{Registry: prometheus.NewRegistry(), Requests: NewRequests(), Lag: NewLagTracker(opts.LagWindow),
		fsync: newFsyncHistogram(), now: opts.Now}
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.Requests, m.fsync,
		&brokerCollector{src: sourceFunc(m.snapshot), perPartition: opts.PerPartition, diskCollector: &diskCollector{}},
		&lagCollector{m: m})
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "tributary_build_info",
		Help: "1, labelled with this build's version string", ConstLabels: prometheus.Labels{"version": Version}})
	build.Set(1)
	m.Registry.MustRegister(build)
	return m
}

// SetSource attaches the broker; until then the broker's metrics are
// reported as zero (a scrape during start-up).
func (m *Metrics) SetSource(s Source) { m.src.Store(&sourceBox{s}) }

func (m *Metrics) snapshot() BrokerSnapshot {
	if b := m.src.Load(); b != nil {
		return b.Snapshot()
	}
	return BrokerSnapshot{}
}

type sourceFunc func() BrokerSnapshot

func (f sourceFunc) Snapshot() BrokerSnapshot { return f() }
