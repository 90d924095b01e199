package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

var (
	descDirFree  = prometheus.NewDesc("tributary_log_dir_free_bytes", "Bytes available to the broker on the volume of a data dir.", []string{"log_dir"}, nil)
	descDirTotal = prometheus.NewDesc("tributary_log_dir_total_bytes", "Size in bytes of the volume of a data dir.", []string{"log_dir"}, nil)
)

// diskCollector reports the volumes of the data dirs (one statfs each per
// scrape).
type diskCollector struct{}

func (diskCollector) collect(ch chan<- prometheus.Metric, dirs []string) {
	for _, dir := range dirs {
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil {
			continue // a missing or failed dir: no series rather than a wrong one
		}
		ch <- newMetric(descDirFree, prometheus.GaugeValue, float64(st.Bavail)*float64(st.Bsize), dir)
		ch <- newMetric(descDirTotal, prometheus.GaugeValue, float64(st.Blocks)*float64(st.Bsize), dir)
	}
}

// newFsyncHistogram is the latency of the log's group-commit fsyncs.
func newFsyncHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kafka_log_logflushstats_logflushrateandtimems",
		Help:    "Duration of log flushes (fsync of a partition's segment files), in milliseconds (LogFlushStats LogFlushRateAndTimeMs).",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 5000},
	})
}

// ObserveFsync records one fsync's duration; the storage layer calls it.
func (m *Metrics) ObserveFsync(d time.Duration) {
	if m == nil {
		return
	}
	m.fsync.Observe(float64(d) / float64(time.Millisecond))
}
