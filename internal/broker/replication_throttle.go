package broker

import (
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary/tributary/internal/config"
)

// Leader-side replication throttling (Kafka's KIP-73 replication quota).
//
// leader.replication.throttled.rate (a dynamic broker config, bytes/s)
// bounds what this broker sends to followers for the replicas its topics'
// leader.replication.throttled.replicas name (partition:thisBroker, or
// "*"), as Kafka does: only while the fetching follower is out of the ISR,
// so an in-sync follower (and acks=all produce) is never slowed. The rate
// is a token bucket shared by every throttled partition of the broker,
// holding at most one second of the rate: a throttled partition reads at
// most the tokens left, and none while they are spent; the fetch answers
// it empty with its high watermark and log start as usual, so ordering
// and the high watermark are untouched (the follower fetches the same
// offset again). A read may overdraw by one batch (the first partition's
// batch always comes whole, KIP-74); the debt is paid back before the
// next throttled read. Unset (Long.MAX_VALUE, the default) the fetch path
// checks one atomic and nothing else changes.
type replThrottle struct {
	rate atomic.Int64 // bytes/s; math.MaxInt64: off

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// set applies a rate from the broker config's value.
func (q *replThrottle) set(v string) {
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

func (q *replThrottle) on() bool { return q.rate.Load() != math.MaxInt64 }

// refill adds the tokens earned since the last call. Under mu.
func (q *replThrottle) refill(now time.Time) float64 {
	r := float64(q.rate.Load())
	if !q.last.IsZero() {
		q.tokens += r * now.Sub(q.last).Seconds()
	}
	q.last = now
	q.tokens = min(q.tokens, r)
	return q.tokens
}

// available is how many bytes a throttled read may take now (0: none).
func (q *replThrottle) available(now time.Time) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	t := q.refill(now)
	if t < 1 {
		return 0
	}
	return int(min(t, math.MaxInt32))
}

// record takes n bytes sent for throttled replicas from the bucket.
func (q *replThrottle) record(n int, now time.Time) {
	if n <= 0 {
		return
	}
	q.mu.Lock()
	q.refill(now)
	q.tokens -= float64(n)
	q.mu.Unlock()
}

// leaderThrottledReplicas is a topic's leader.replication.throttled.replicas
// (its value validated when it was set; an unparsable one throttles nothing).
func leaderThrottledReplicas(cfg config.TopicConfig) config.ThrottledReplicas {
	t, _ := config.ParseThrottledReplicas(cfg.Get(config.LeaderThrottledReplicasKey))
	return t
}
