package bench

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Hiccup measures how late this machine runs a thread that only sleeps
// (jHiccup's idea): it sleeps interval at a time for duration and records
// how much later than intended each wake-up came. Nothing it does waits on
// a broker, so its delays are the machine's: the hypervisor running other
// tenants on these vCPUs (steal), the kernel, and whatever else keeps the
// cores busy. A broker and its clients on the same machine see at least
// these delays, so Hiccup's p99 bounds the p99 any latency benchmark run
// here can show.
//
// Like a rate-limited benchmark, it counts from the intended times (no
// coordinated omission): a wake-up 20 ms late with a 1 ms interval also
// records the 19, 18, ... 1 ms by which the wake-ups it missed were late.
func Hiccup(ctx context.Context, interval, duration time.Duration, progress io.Writer) (*Result, error) {
	return hiccup(ctx, interval, duration, progress, time.Sleep)
}

// hiccup is Hiccup with the sleep to measure (a test's can stall).
func hiccup(ctx context.Context, interval, duration time.Duration, progress io.Writer, sleep func(time.Duration)) (*Result, error) {
	if interval <= 0 || duration <= 0 {
		return nil, fmt.Errorf("hiccup: interval and duration must be positive (got %v, %v)", interval, duration)
	}
	h := hdrhistogram.New(1, histMaxMicros, 3)
	iv := int64(interval / time.Microsecond)
	start := time.Now()
	end := start.Add(duration)
	next := start.Add(interval)
	for next.Before(end) && ctx.Err() == nil {
		sleep(time.Until(next))
		now := time.Now()
		late := min(max(int64(now.Sub(next)/time.Microsecond), 1), histMaxMicros)
		if err := h.RecordCorrectedValue(late, iv); err != nil {
			return nil, err
		}
		// The next wake-up is interval after this one: a late wake-up
		// delays the schedule instead of being followed by a burst.
		next = now.Add(interval)
	}
	l := summarize(h)
	r := &Result{Mode: "hiccup", Label: "machine", Hiccup: &l, IntervalMs: float64(interval) / float64(time.Millisecond)}
	r.finish(time.Since(start))
	if progress != nil {
		fmt.Fprintf(progress, "hiccup: %d wake-ups, late p99 %.2f ms\n", l.Count, l.P99)
	}
	return r, ctx.Err()
}
