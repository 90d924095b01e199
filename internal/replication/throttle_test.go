package replication

import (
	"testing"
	"time"
)

// TestThrottleBucket: off by default; on, a bucket of at most one
// second of the rate, overdrawn by a read and paid back over time.
func TestThrottleBucket(t *testing.T) {
	var q Throttle
	q.Set("9223372036854775807")
	if q.On() {
		t.Fatal("Long.MAX is on")
	}
	q.Set("1000")
	if !q.On() {
		t.Fatal("1000 B/s is off")
	}
	t0 := time.Unix(1000, 0)
	if n := q.Available(t0); n != 0 {
		t.Fatalf("a new bucket has %d", n)
	}
	if n := q.Available(t0.Add(500 * time.Millisecond)); n != 500 {
		t.Fatalf("after 0.5 s: %d, want 500", n)
	}
	if n := q.Available(t0.Add(10 * time.Second)); n != 1000 {
		t.Fatalf("after 10 s: %d, want the 1 s cap 1000", n)
	}
	q.Record(3000, t0.Add(10*time.Second)) // overdrawn by one batch
	if n := q.Available(t0.Add(11 * time.Second)); n != 0 {
		t.Fatalf("in debt: %d", n)
	}
	if n := q.Available(t0.Add(12*time.Second + 500*time.Millisecond)); n != 500 {
		t.Fatalf("debt paid after 2 s, then 0.5 s: %d, want 500", n)
	}
	q.Set("")
	if q.On() {
		t.Fatal("an unset rate is on")
	}
}
