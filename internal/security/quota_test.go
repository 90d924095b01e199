package security

import (
	"math"
	"testing"
	"time"
)

// TestQuotaSensorHoldsRate: a client that sends as much as it may and
// waits out every throttle is held to the quota once the first window's
// burst is behind it; one whose over-quota sends are taken back (a
// throttled fetch, answered empty) stays at or below it.
func TestQuotaSensorHoldsRate(t *testing.T) {
	const quota = 256 << 10
	for _, c := range []struct {
		w        QuotaWindow
		chunk    float64
		unrecord bool
		min, max float64
	}{
		{QuotaWindow{2, time.Second}, 32 << 10, false, 0.98, 1.02},
		{QuotaWindow{11, time.Second}, 32 << 10, false, 0.98, 1.02},
		{QuotaWindow{11, time.Second}, 1 << 20, false, 0.95, 1.1}, // 4 s of quota per send: coarse
		{QuotaWindow{3, time.Second}, 32 << 10, true, 0.9, 1.0},
		{QuotaWindow{11, time.Second}, 32 << 10, true, 0.95, 1.0},
	} {
		s := NewQuotaSensor(c.w)
		now := time.Unix(1000, 0)
		start := now
		var total, at30 float64
		var t30 time.Time
		for now.Sub(start) < 120*time.Second {
			if t30.IsZero() && now.Sub(start) >= 30*time.Second {
				t30, at30 = now, total
			}
			d := s.Record(now, c.chunk, quota)
			if d > 0 && c.unrecord {
				s.Unrecord(now, c.chunk)
			} else {
				total += c.chunk
			}
			if d > time.Duration(c.w.Samples)*c.w.Size {
				t.Fatalf("%+v: throttle %v above the window", c.w, d)
			}
			now = now.Add(d + time.Millisecond)
		}
		steady := (total - at30) / now.Sub(t30).Seconds() / quota
		if steady < c.min || steady > c.max {
			t.Errorf("%+v chunk %v unrecord %v: held at %.3f× the quota, want %.2f-%.2f", c.w, c.chunk, c.unrecord, steady, c.min, c.max)
		}
	}
}

// TestResolveQuota: Kafka's order of precedence and the bucket each match
// measures in.
func TestResolveQuota(t *testing.T) {
	u, c := Named("alice"), Named("app")
	du, dc := DefaultName(), DefaultName()
	all := []struct {
		e QuotaEntity
		v float64
	}{
		{QuotaEntity{u, c}, 1}, {QuotaEntity{u, dc}, 2}, {QuotaEntity{User: u}, 3}, {QuotaEntity{du, c}, 4},
		{QuotaEntity{du, dc}, 5}, {QuotaEntity{User: du}, 6}, {QuotaEntity{ClientID: c}, 7}, {QuotaEntity{ClientID: dc}, 8},
	}
	buckets := []QuotaBucket{{"alice", "app"}, {"alice", "app"}, {"alice", ""}, {"alice", "app"}, {"alice", "app"}, {"alice", ""}, {"", "app"}, {"", "app"}}
	for i := range all {
		var qs []ClientQuota
		for _, q := range all[i:] {
			qs = append(qs, ClientQuota{Entity: q.e, Values: map[string]float64{QuotaProducerByteRate: q.v}})
		}
		v, b, ok := ResolveQuota(NewQuotaIndex(qs).Lookup(QuotaProducerByteRate), "alice", "app")
		if !ok || v != all[i].v || b != buckets[i] {
			t.Errorf("with entities from %s on: %v %+v %v, want %v %+v", all[i].e.Key(), v, b, ok, all[i].v, buckets[i])
		}
	}
	if _, _, ok := ResolveQuota(NewQuotaIndex(nil).Lookup(QuotaProducerByteRate), "alice", "app"); ok {
		t.Error("a quota applies with none set")
	}
}

func TestValidateQuotaKey(t *testing.T) {
	for _, c := range []struct {
		k  string
		v  float64
		ok bool
	}{
		{QuotaProducerByteRate, 1024, true}, {QuotaConsumerByteRate, 1, true}, {QuotaRequestPercentage, 12.5, true},
		{QuotaProducerByteRate, 1.5, false}, {QuotaProducerByteRate, 0, false}, {QuotaProducerByteRate, -1, false},
		{QuotaRequestPercentage, math.NaN(), false}, {QuotaConsumerByteRate, math.Inf(1), false},
		{QuotaControllerMutate, 10, true}, {QuotaControllerMutate, 0.5, true}, {"connection_creation_rate", 1, false}, {"x", 1, false},
	} {
		if err := ValidateQuotaKey(c.k, c.v, false); (err == nil) != c.ok {
			t.Errorf("%s=%v: %v, want ok=%v", c.k, c.v, err, c.ok)
		}
	}
}

// TestTokenBucket: a full bucket admits a burst, goes negative, and the
// throttle time is the refill back to zero.
func TestTokenBucket(t *testing.T) {
	var b TokenBucket
	now := time.Unix(1000, 0)
	const rate, burst = 10, 20
	if d := b.Record(now, 15, rate, burst); d != 0 || b.Violated(now, rate, burst) {
		t.Fatalf("within the burst: throttle %v", d)
	}
	if d := b.Record(now, 10, rate, burst); d != 500*time.Millisecond || !b.Violated(now, rate, burst) {
		t.Fatalf("5 below zero at 10/s: throttle %v, want 500ms", d)
	}
	if b.Violated(now.Add(500*time.Millisecond), rate, burst) {
		t.Fatal("still violated after the throttle time")
	}
	if d := b.Record(now.Add(time.Hour), 1, rate, burst); d != 0 {
		t.Fatalf("after an hour: throttle %v (the bucket caps at the burst)", d)
	}
}
