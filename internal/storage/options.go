package storage

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// Options are one log's effective topic settings (Kafka's topic config
// names in comments). The broker builds them from the topic's effective
// config with FromConfig and may replace them at any time with SetOptions.
type Options struct {
	SegmentBytes       int64 // segment.bytes
	SegmentMs          int64 // segment.ms
	SegmentJitterMs    int64 // segment.jitter.ms (applied as a fixed reduction)
	SegmentIndexBytes  int64 // segment.index.bytes
	IndexIntervalBytes int64 // index.interval.bytes
	FlushMessages      int64 // flush.messages
	FlushMs            int64 // flush.ms
	RetentionMs        int64 // retention.ms (-1: unlimited)
	RetentionBytes     int64 // retention.bytes (-1: unlimited)
	Compact            bool  // cleanup.policy contains compact
	Delete             bool  // cleanup.policy contains delete
	DeleteRetentionMs  int64 // delete.retention.ms
	MinCompactionLagMs int64 // min.compaction.lag.ms
	MaxCompactionLagMs int64 // max.compaction.lag.ms
	MinCleanableRatio  float64
	FileDeleteDelayMs  int64 // file.delete.delay.ms
}

// DefaultOptions are Kafka's topic defaults.
func DefaultOptions() Options {
	return Options{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * 3600 * 1000,
		SegmentIndexBytes:  10 << 20,
		IndexIntervalBytes: 4096,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,
		RetentionMs:        7 * 24 * 3600 * 1000,
		RetentionBytes:     -1,
		Delete:             true,
		DeleteRetentionMs:  24 * 3600 * 1000,
		MaxCompactionLagMs: math.MaxInt64,
		MinCleanableRatio:  0.5,
		FileDeleteDelayMs:  60000,
	}
}

// FromConfig builds Options from a lookup of effective topic config values
// by Kafka name (e.g. config.TopicConfig.Get). Missing or unparsable values
// keep the default.
func FromConfig(get func(name string) string) Options {
	o := DefaultOptions()
	num := func(name string, dst *int64) {
		if n, err := strconv.ParseInt(strings.TrimSpace(get(name)), 10, 64); err == nil {
			*dst = n
		}
	}
	num("segment.bytes", &o.SegmentBytes)
	num("segment.ms", &o.SegmentMs)
	num("segment.jitter.ms", &o.SegmentJitterMs)
	num("segment.index.bytes", &o.SegmentIndexBytes)
	num("index.interval.bytes", &o.IndexIntervalBytes)
	num("flush.messages", &o.FlushMessages)
	num("flush.ms", &o.FlushMs)
	num("retention.ms", &o.RetentionMs)
	num("retention.bytes", &o.RetentionBytes)
	num("delete.retention.ms", &o.DeleteRetentionMs)
	num("min.compaction.lag.ms", &o.MinCompactionLagMs)
	num("max.compaction.lag.ms", &o.MaxCompactionLagMs)
	num("file.delete.delay.ms", &o.FileDeleteDelayMs)
	if f, err := strconv.ParseFloat(strings.TrimSpace(get("min.cleanable.dirty.ratio")), 64); err == nil {
		o.MinCleanableRatio = f
	}
	if p := get("cleanup.policy"); p != "" {
		parts := strings.Split(strings.ReplaceAll(p, " ", ""), ",")
		o.Compact = slices.Contains(parts, "compact")
		o.Delete = slices.Contains(parts, "delete")
	}
	return o.sane()
}

// sane clamps values that would make the log misbehave.
func (o Options) sane() Options {
	if o.SegmentBytes < 14 {
		o.SegmentBytes = 14
	}
	if o.SegmentIndexBytes < 12 {
		o.SegmentIndexBytes = 12
	}
	if o.IndexIntervalBytes < 0 {
		o.IndexIntervalBytes = 0
	}
	if o.FlushMessages < 1 {
		o.FlushMessages = 1
	}
	if o.FlushMs < 0 {
		o.FlushMs = 0
	}
	if o.SegmentMs < 1 {
		o.SegmentMs = 1
	}
	return o
}
