package replication

import (
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Throttle is a replication quota (Kafka's KIP-73) as a token bucket: a
// rate in bytes/s (math.MaxInt64, Long.MAX_VALUE, the default: off)
// holding at most one second of the rate. A throttled read takes at most
// Available bytes and Records what it took; a read may overdraw by one
// batch, paid back before the next. The broker keeps one for its leader
// side (leader.replication.throttled.rate, internal/broker) and the
// fetchers share one for the follower side
// (follower.replication.throttled.rate, Config.FollowerThrottle). Safe for
// concurrent use; On is one atomic load.
type Throttle struct {
	rate atomic.Int64 // bytes/s; math.MaxInt64: off

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// Set applies a rate from a broker config value (unparsable or negative:
// off).
func (q *Throttle) Set(v string) {
	r, err := strconv.ParseInt(v, 10, 64)
	if err != nil || r < 0 {
		r = math.MaxInt64
	}
	if q.rate.Swap(r) != r {
		q.mu.Lock()
		q.tokens, q.last = 0, time.Time{} // a new rate starts from an empty bucket
		q.mu.Unlock()
	}
}

// On reports whether a rate is set.
func (q *Throttle) On() bool { return q.rate.Load() != math.MaxInt64 }

// refill adds the tokens earned since the last call. Under mu.
func (q *Throttle) refill(now time.Time) float64 {
	r := float64(q.rate.Load())
	if !q.last.IsZero() {
		q.tokens += r * now.Sub(q.last).Seconds()
	}
	q.last = now
	q.tokens = min(q.tokens, r)
	return q.tokens
}

// Available is how many bytes a throttled read may take now (0: none).
func (q *Throttle) Available(now time.Time) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	t := q.refill(now)
	if t < 1 {
		return 0
	}
	return int(min(t, math.MaxInt32))
}

// Record takes n bytes sent for throttled replicas from the bucket.
func (q *Throttle) Record(n int, now time.Time) {
	if n <= 0 {
		return
	}
	q.mu.Lock()
	q.refill(now)
	q.tokens -= float64(n)
	q.mu.Unlock()
}
