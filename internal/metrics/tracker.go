package metrics

import (
	"slices"
	"sort"
	"sync"
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// CommittedOffset is a group's committed offset for one partition, as the
// group coordinator holds it.
type CommittedOffset struct {
	Group     string
	Topic     string
	Partition int32
	Offset    int64
	CommitMs  int64 // when the commit was written (Unix ms)
	// RecordMs is the timestamp of the first unconsumed record (the
	// batch at Offset) where the sampler could read it (a partition led
	// here); 0 when unknown, and lag in seconds then comes from the
	// end-offset history.
	RecordMs int64
}

// PartitionLag is one group partition's lag and status.
type PartitionLag struct {
	Group      string    `json:"group"`
	Topic      string    `json:"topic"`
	Partition  int32     `json:"partition"`
	Offset     int64     `json:"current_offset"`
	EndOffset  int64     `json:"end_offset"` // -1: not known yet
	Lag        int64     `json:"lag"`
	LagSeconds float64   `json:"lag_seconds"`
	Status     LagStatus `json:"-"`
	StatusName string    `json:"status"`
	Window     []Commit  `json:"window"`
}

// maxEndSamples bounds a partition's end-offset history; when it is full
// every other sample of it is dropped, so the history spans twice as long
// at half the resolution.
const maxEndSamples = 128

type endSample struct{ offset, timeMs int64 }

type groupPartition struct {
	group string
	tp    TopicPartition
}

type trackedPart struct {
	committed CommittedOffset
	recordMs  int64 // the latest sample's CommittedOffset.RecordMs
	window    []Commit
}

// LagTracker keeps, for every group partition the coordinator on this
// broker knows, a sliding window of its last commits (Burrow's model: the
// offset, its commit time and the lag when the commit was seen), and for
// every partition such groups read a short history of its end offset. Lag
// in seconds is the age of the first unconsumed record: from its timestamp
// where the sampler read it (CommittedOffset.RecordMs), else from the
// history: how long ago the partition's log end first passed the committed
// offset (to the resolution of the sampling interval).
//
// Concurrency: Observe is called by one sampling goroutine; Lags may be
// called from any goroutine (scrapes, the admin API). mu guards all state
// and is never held across I/O.
type LagTracker struct {
	window int

	mu    sync.Mutex
	parts map[groupPartition]*trackedPart
	ends  map[TopicPartition][]endSample
}

// NewLagTracker returns a tracker whose windows hold the last window
// commits (Burrow's "intervals", default 10).
func NewLagTracker(window int) *LagTracker {
	if window < 2 {
		window = 2
	}
	return &LagTracker{window: window, parts: map[groupPartition]*trackedPart{}, ends: map[TopicPartition][]endSample{}}
}

// Observe records one sample taken at nowMs: the committed offsets of every
// group coordinated here, and the end offsets (high watermarks) of the
// partitions they read, where known. Group partitions absent from
// committed are forgotten.
func (t *LagTracker) Observe(nowMs int64, committed []CommittedOffset, ends map[TopicPartition]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for tp, end := range ends {
		h := t.ends[tp]
		if n := len(h); n > 0 && h[n-1].offset == end {
			continue // unchanged: keep the time it was first seen
		}
		if n := len(h); n > 0 && end < h[n-1].offset {
			h = h[:0] // the log was truncated or recreated
		}
		if len(h) == maxEndSamples {
			k := 0
			for i := range h {
				if i%2 == 0 || i == len(h)-1 {
					h[k] = h[i]
					k++
				}
			}
			h = h[:k]
		}
		t.ends[tp] = append(h, endSample{offset: end, timeMs: nowMs})
	}
	seen := make(map[groupPartition]bool, len(committed))
	read := make(map[TopicPartition]bool)
	for _, c := range committed {
		k := groupPartition{c.Group, TopicPartition{c.Topic, c.Partition}}
		seen[k] = true
		read[k.tp] = true
		p := t.parts[k]
		if p == nil {
			p = &trackedPart{}
			t.parts[k] = p
		}
		p.recordMs = c.RecordMs
		if len(p.window) > 0 && p.committed.CommitMs == c.CommitMs && p.committed.Offset == c.Offset {
			continue // no new commit since the last sample
		}
		p.committed = c
		lag := int64(0)
		if end, ok := t.lastEnd(k.tp); ok {
			lag = max(end-c.Offset, 0)
		}
		p.window = append(p.window, Commit{Offset: c.Offset, TimeMs: c.CommitMs, Lag: lag})
		if len(p.window) > t.window {
			p.window = slices.Delete(p.window, 0, len(p.window)-t.window)
		}
	}
	for k := range t.parts {
		if !seen[k] {
			delete(t.parts, k)
		}
	}
	for tp := range t.ends {
		if !read[tp] {
			delete(t.ends, tp)
		}
	}
}

func (t *LagTracker) lastEnd(tp TopicPartition) (int64, bool) {
	h := t.ends[tp]
	if len(h) == 0 {
		return 0, false
	}
	return h[len(h)-1].offset, true
}

// EndOffsetsWanted returns the partitions whose end offsets the next
// Observe needs: those the given commits read.
func EndOffsetsWanted(committed []CommittedOffset) []TopicPartition {
	set := map[TopicPartition]bool{}
	for _, c := range committed {
		set[TopicPartition{c.Topic, c.Partition}] = true
	}
	out := make([]TopicPartition, 0, len(set))
	for tp := range set {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// Lags evaluates every tracked group partition at nowMs, sorted by group,
// topic and partition. group, if not empty, selects one group.
func (t *LagTracker) Lags(nowMs int64, group string) []PartitionLag {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]PartitionLag, 0, len(t.parts))
	for k, p := range t.parts {
		if group != "" && k.group != group {
			continue
		}
		l := PartitionLag{Group: k.group, Topic: k.tp.Topic, Partition: k.tp.Partition, Offset: p.committed.Offset, EndOffset: -1,
			Window: slices.Clone(p.window)}
		if end, ok := t.lastEnd(k.tp); ok {
			l.EndOffset = end
			l.Lag = max(end-p.committed.Offset, 0)
			if l.Lag > 0 && p.recordMs > 0 {
				l.LagSeconds = float64(max(nowMs-p.recordMs, 0)) / 1000
			} else if l.Lag > 0 {
				l.LagSeconds = t.lagSeconds(k.tp, p.committed.Offset, nowMs)
			}
		}
		l.Status = EvaluatePartition(p.window, l.Lag, nowMs)
		l.StatusName = l.Status.String()
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	return out
}

// lagSeconds is how long ago the end offset first passed offset: the age
// of the oldest unconsumed record. The history's oldest sample bounds it.
func (t *LagTracker) lagSeconds(tp TopicPartition, offset, nowMs int64) float64 {
	h := t.ends[tp]
	for _, s := range h {
		if s.offset > offset {
			return float64(max(nowMs-s.timeMs, 0)) / 1000
		}
	}
	return 0
}
