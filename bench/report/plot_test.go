package main

import (
	"strings"
	"testing"
	"time"
)

// A log axis over a range that reaches 0 (a failed latency step measured
// nothing) draws its default decades instead of looping from log10(0).
func TestAxesLogRangeWithZero(t *testing.T) {
	for _, r := range [][2]float64{{0, 10}, {0, 0}, {1, 1}} {
		var b strings.Builder
		done := make(chan struct{})
		go func() {
			axes(&b, 0, 0, 100, 100, r[0], r[1], true, "ms")
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("range %v: axes did not return", r)
		}
		if n := strings.Count(b.String(), "<line"); n == 0 || n > 10 {
			t.Fatalf("range %v: %d tick lines", r, n)
		}
	}
}
