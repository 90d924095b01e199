package bench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latency summarizes a latency distribution in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// hist is an HDR histogram of latencies in microseconds (1 µs to 5 min,
// 3 significant digits) plus an interval histogram that the progress line
// drains. Safe for concurrent use: mu guards both histograms.
type hist struct {
	mu       sync.Mutex
	total    *hdrhistogram.Histogram
	interval *hdrhistogram.Histogram
}

const histMaxMicros = int64(5 * time.Minute / time.Microsecond)

func newHist() *hist {
	return &hist{
		total:    hdrhistogram.New(1, histMaxMicros, 3),
		interval: hdrhistogram.New(1, histMaxMicros, 3),
	}
}

func (h *hist) record(d time.Duration) {
	us := int64(d / time.Microsecond)
	if us < 1 {
		us = 1
	}
	if us > histMaxMicros {
		us = histMaxMicros
	}
	h.mu.Lock()
	h.total.RecordValue(us)
	h.interval.RecordValue(us)
	h.mu.Unlock()
}

// drainInterval returns the interval histogram's summary and resets it.
func (h *hist) drainInterval() Latency {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := summarize(h.interval)
	h.interval.Reset()
	return l
}

func (h *hist) summary() Latency {
	h.mu.Lock()
	defer h.mu.Unlock()
	return summarize(h.total)
}

func summarize(h *hdrhistogram.Histogram) Latency {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		Count: h.TotalCount(),
		Mean:  h.Mean() / 1000,
		P50:   ms(h.ValueAtQuantile(50)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
	}
}

// mergeHists merges hs into one histogram summary.
func mergeHists(hs ...*hist) Latency {
	all := hdrhistogram.New(1, histMaxMicros, 3)
	for _, h := range hs {
		h.mu.Lock()
		all.Merge(h.total)
		h.mu.Unlock()
	}
	return summarize(all)
}

// Recorder is a concurrency-safe latency recorder for programs outside this
// package (the NATS peer) that report in the same Result format.
type Recorder struct{ h *hist }

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{h: newHist()} }

// Record adds one latency sample.
func (r *Recorder) Record(d time.Duration) { r.h.record(d) }

// Summary returns percentiles over every sample recorded.
func (r *Recorder) Summary() Latency { return r.h.summary() }

// Interval returns percentiles over the samples since the last call.
func (r *Recorder) Interval() Latency { return r.h.drainInterval() }
