package broker

import (
	"github.com/tributary/tributary/internal/config"
)

// Replication throttling (Kafka's KIP-73 replication quota), both sides.
//
// Leader side (01_fetch.go): leader.replication.throttled.rate (a dynamic
// broker config, bytes/s) bounds what this broker sends to followers for
// the replicas its topics' leader.replication.throttled.replicas name
// (partition:thisBroker, or "*"), as Kafka does: only while the fetching
// follower is out of the ISR, so an in-sync follower (and acks=all
// produce) is never slowed. The rate is a token bucket
// (replication.Throttle) shared by every throttled partition of the
// broker: a throttled partition reads at most the tokens left, and none
// while they are spent; the fetch answers it empty with its high
// watermark and log start as usual, so ordering and the high watermark
// are untouched (the follower fetches the same offset again).
//
// Follower side (internal/replication): follower.replication.throttled.rate
// bounds what this broker's fetchers ask for the replicas
// follower.replication.throttled.replicas names (partition:thisBroker, or
// "*") while this broker is out of their ISR: a throttled partition is
// left out of a fetch round while the bucket is empty.
//
// Unset (Long.MAX_VALUE, the default) each path checks one atomic and
// nothing else changes.

// throttledReplicas is a topic's leader or follower throttled replicas list
// (its value validated when it was set; an unparsable one throttles
// nothing).
func throttledReplicas(cfg config.TopicConfig, key string) config.ThrottledReplicas {
	t, _ := config.ParseThrottledReplicas(cfg.Get(key))
	return t
}

// followerThrottled reports whether this broker's replica of a partition
// is named by its topic's follower.replication.throttled.replicas
// (replication.Config.FollowerThrottled).
func (b *Broker) followerThrottled(topic string, part int32) bool {
	t := b.topic(topic)
	return t != nil && t.followerThrottled.Has(part, b.cfg.NodeID)
}
