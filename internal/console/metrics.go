package console

// Throughput and latency over time, from the brokers' own Prometheus
// metrics (their admin listeners' /metrics): while someone looks at a
// cluster, the console scrapes every broker every sampleEvery and keeps
// the last keptSamples samples in memory; a chart is the rate between
// consecutive samples. Sampling stops idleAfter the last view, so an
// unwatched cluster costs nothing.

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tributary/tributary/internal/safe"
)

const (
	sampleEvery = 2 * time.Second
	keptSamples = 300 // 10 minutes
	idleAfter   = 10 * time.Minute
)

// Metric names the console reads (internal/metrics, Kafka's JMX-exporter
// names).
const (
	mMessagesIn = "kafka_server_brokertopicmetrics_messagesin_total"
	mBytesIn    = "kafka_server_brokertopicmetrics_bytesin_total"
	mBytesOut   = "kafka_server_brokertopicmetrics_bytesout_total"
	mTotalTime  = "kafka_network_requestmetrics_totaltimems"
)

// sample is every broker's counters at one time, by admin address: a
// rate is taken only over the brokers present in both samples, so a
// broker that joins, leaves or restarts (its counters start again) does
// not show as a spike.
type sample struct {
	at      time.Time
	brokers map[string]*brokerSample
}

type brokerSample struct {
	messagesIn, bytesIn, bytesOut float64
	// latency buckets (upper bound in ms → cumulative count, +Inf the
	// total) of Produce and consumer Fetch requests.
	produce, fetch map[float64]float64
	topicIn        map[string]float64
}

type clusterMetrics struct {
	mu       sync.Mutex // guards the fields below
	samples  []sample
	lastView time.Time
	admins   []string
	running  bool
	lastErr  string
}

// metricsHub samples the clusters being looked at.
type metricsHub struct {
	log  *slog.Logger
	hc   *http.Client
	ctx  context.Context
	stop context.CancelFunc

	mu       sync.Mutex // guards clusters
	clusters map[string]*clusterMetrics
}

func newMetricsHub(log *slog.Logger) *metricsHub {
	ctx, cancel := context.WithCancel(context.Background())
	return &metricsHub{log: log, hc: &http.Client{Timeout: 2 * time.Second}, ctx: ctx, stop: cancel,
		clusters: map[string]*clusterMetrics{}}
}

func (h *metricsHub) close() { h.stop() }

// watch notes a view of cluster id with its brokers' admin addresses and
// starts sampling it if it is not sampled; it returns the cluster's
// metrics.
func (h *metricsHub) watch(id string, admins []string) *clusterMetrics {
	h.mu.Lock()
	cm := h.clusters[id]
	if cm == nil {
		cm = &clusterMetrics{}
		h.clusters[id] = cm
	}
	h.mu.Unlock()
	cm.mu.Lock()
	cm.lastView = time.Now()
	cm.admins = admins
	start := !cm.running && len(admins) > 0
	if start {
		cm.running = true
	}
	cm.mu.Unlock()
	if start {
		safe.Go(h.log, "console metrics sampler", func() { h.sampleLoop(id, cm) })
	}
	return cm
}

func (h *metricsHub) sampleLoop(id string, cm *clusterMetrics) {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		cm.mu.Lock()
		admins := cm.admins
		idle := time.Since(cm.lastView) > idleAfter
		if idle {
			cm.running = false
		}
		cm.mu.Unlock()
		if idle {
			return
		}
		s, err := h.scrape(admins)
		cm.mu.Lock()
		cm.lastErr = ""
		if err != nil {
			cm.lastErr = err.Error()
		}
		cm.samples = append(cm.samples, s)
		if len(cm.samples) > keptSamples {
			cm.samples = cm.samples[len(cm.samples)-keptSamples:]
		}
		cm.mu.Unlock()
		select {
		case <-h.ctx.Done():
			cm.mu.Lock()
			cm.running = false
			cm.mu.Unlock()
			return
		case <-t.C:
		}
	}
}

// scrape reads every broker's /metrics; a broker that does not answer is
// left out of this sample (and reported).
func (h *metricsHub) scrape(admins []string) (sample, error) {
	s := sample{at: time.Now(), brokers: map[string]*brokerSample{}}
	var errs []error
	for _, a := range admins {
		bs, err := h.scrapeOne(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("broker metrics at %s: %w", a, err))
			continue
		}
		s.brokers[a] = bs
	}
	return s, errors.Join(errs...)
}

func (h *metricsHub) scrapeOne(addr string) (*brokerSample, error) {
	ctx, cancel := context.WithTimeout(h.ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	resp, err := h.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	bs := &brokerSample{produce: map[float64]float64{}, fetch: map[float64]float64{}, topicIn: map[string]float64{}}
	add(&bs.messagesIn, fams[mMessagesIn], bs.topicIn)
	add(&bs.bytesIn, fams[mBytesIn], nil)
	add(&bs.bytesOut, fams[mBytesOut], nil)
	if f := fams[mTotalTime]; f != nil {
		for _, m := range f.Metric {
			var into map[float64]float64
			switch label(m, "request") {
			case "Produce":
				into = bs.produce
			case "FetchConsumer":
				into = bs.fetch
			default:
				continue
			}
			hg := m.GetHistogram()
			if hg == nil {
				continue
			}
			for _, b := range hg.Bucket {
				if !math.IsInf(b.GetUpperBound(), 1) {
					into[b.GetUpperBound()] += float64(b.GetCumulativeCount())
				}
			}
			into[math.Inf(1)] += float64(hg.GetSampleCount())
		}
	}
	return bs, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// add sums a counter family into *sum (and per topic into byTopic).
func add(sum *float64, f *dto.MetricFamily, byTopic map[string]float64) {
	if f == nil {
		return
	}
	for _, m := range f.Metric {
		v := m.GetCounter().GetValue()
		if m.GetCounter() == nil {
			v = m.GetUntyped().GetValue()
		}
		*sum += v
		if byTopic != nil {
			if t := label(m, "topic"); t != "" {
				byTopic[t] += v
			}
		}
	}
}

// chartPoint is one rate between two samples.
type chartPoint struct {
	at time.Time
	v  float64
}

// chart is one series to draw.
type chart struct {
	Title  string
	Unit   string
	Last   string
	Points []chartPoint
}

// rates turns the samples into charts.
func (cm *clusterMetrics) charts() (charts []chart, lastErr string) {
	cm.mu.Lock()
	ss := append([]sample(nil), cm.samples...)
	lastErr = cm.lastErr
	cm.mu.Unlock()
	in := chart{Title: "Messages in", Unit: "/s"}
	bin := chart{Title: "Bytes in", Unit: "B/s"}
	bout := chart{Title: "Bytes out", Unit: "B/s"}
	pl := chart{Title: "Produce latency p99", Unit: "ms"}
	fl := chart{Title: "Fetch latency p99", Unit: "ms"}
	for i := 1; i < len(ss); i++ {
		a, b := ss[i-1], ss[i]
		dt := b.at.Sub(a.at).Seconds()
		if dt <= 0 {
			continue
		}
		var msgs, bi, bo float64
		prodA, prodB := map[float64]float64{}, map[float64]float64{}
		fetchA, fetchB := map[float64]float64{}, map[float64]float64{}
		for addr, y := range b.brokers {
			x, ok := a.brokers[addr]
			if !ok || y.messagesIn < x.messagesIn || y.bytesOut < x.bytesOut {
				continue // new or restarted broker: no rate yet
			}
			msgs += y.messagesIn - x.messagesIn
			bi += y.bytesIn - x.bytesIn
			bo += y.bytesOut - x.bytesOut
			merge(prodA, x.produce)
			merge(prodB, y.produce)
			merge(fetchA, x.fetch)
			merge(fetchB, y.fetch)
		}
		in.Points = append(in.Points, chartPoint{b.at, msgs / dt})
		bin.Points = append(bin.Points, chartPoint{b.at, bi / dt})
		bout.Points = append(bout.Points, chartPoint{b.at, bo / dt})
		pl.Points = append(pl.Points, chartPoint{b.at, quantile(prodA, prodB, 0.99)})
		fl.Points = append(fl.Points, chartPoint{b.at, quantile(fetchA, fetchB, 0.99)})
	}
	charts = []chart{in, bin, bout, pl, fl}
	for i := range charts {
		if n := len(charts[i].Points); n > 0 {
			charts[i].Last = formatValue(charts[i].Points[n-1].v, charts[i].Unit)
		}
	}
	return charts, lastErr
}

func merge(into, from map[float64]float64) {
	for k, v := range from {
		into[k] += v
	}
}

// quantile estimates the q-quantile of the requests between two
// histogram samples: the upper bound of the first bucket holding it.
func quantile(a, b map[float64]float64, q float64) float64 {
	total := b[math.Inf(1)] - a[math.Inf(1)]
	if total <= 0 {
		return 0
	}
	var bounds []float64
	for ub := range b {
		if !math.IsInf(ub, 1) {
			bounds = append(bounds, ub)
		}
	}
	sort.Float64s(bounds)
	for _, ub := range bounds {
		if b[ub]-a[ub] >= q*total {
			return ub
		}
	}
	if len(bounds) > 0 {
		return bounds[len(bounds)-1]
	}
	return 0
}

// topicRates returns messages in/s per topic over the last two samples.
func (cm *clusterMetrics) topicRates() map[string]float64 {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	n := len(cm.samples)
	if n < 2 {
		return nil
	}
	a, b := cm.samples[n-2], cm.samples[n-1]
	dt := b.at.Sub(a.at).Seconds()
	if dt <= 0 {
		return nil
	}
	out := map[string]float64{}
	for addr, y := range b.brokers {
		x, ok := a.brokers[addr]
		if !ok {
			continue
		}
		for t, v := range y.topicIn {
			if d := v - x.topicIn[t]; d > 0 {
				out[t] += d / dt
			}
		}
	}
	return out
}

func formatValue(v float64, unit string) string {
	switch unit {
	case "B/s":
		return humanBytes(int64(v)) + "/s"
	case "ms":
		return strconv.FormatFloat(v, 'g', 3, 64) + " ms"
	case " records":
		return strconv.FormatFloat(v, 'f', 0, 64) + unit
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + unit
}

// svg draws a chart as an inline SVG line: only numbers and the fixed
// titles go into it, so it is safe to mark as HTML.
func (c chart) SVG() template.HTML {
	const w, h = 360.0, 90.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" width="100%%" height="%g" role="img" aria-label="%s over time" class="chart">`, w, h, h, template.HTMLEscapeString(c.Title))
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%g" height="%g" class="chart-bg"/>`, w, h)
	if len(c.Points) >= 2 {
		top := 0.0
		for _, p := range c.Points {
			top = max(top, p.v)
		}
		if top == 0 {
			top = 1
		}
		t0, t1 := c.Points[0].at, c.Points[len(c.Points)-1].at
		span := t1.Sub(t0).Seconds()
		if span <= 0 {
			span = 1
		}
		b.WriteString(`<polyline class="chart-line" fill="none" points="`)
		for _, p := range c.Points {
			x := p.at.Sub(t0).Seconds() / span * w
			y := h - 4 - p.v/top*(h-12)
			fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
		}
		b.WriteString(`"/>`)
		fmt.Fprintf(&b, `<text x="4" y="12" class="chart-label">max %s</text>`, template.HTMLEscapeString(formatValue(top, c.Unit)))
	} else {
		b.WriteString(`<text x="8" y="50" class="chart-label">collecting samples…</text>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
