package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Replication throttling (Kafka's KIP-73 replication quota). The broker
// configs leader.replication.throttled.rate and
// follower.replication.throttled.rate (bytes/s, dynamic; the default,
// Long.MAX_VALUE, means no throttle) bound the replication traffic of the
// replicas the topic configs leader.replication.throttled.replicas and
// follower.replication.throttled.replicas name.
const (
	LeaderThrottledRateKey       = "leader.replication.throttled.rate"
	FollowerThrottledRateKey     = "follower.replication.throttled.rate"
	LeaderThrottledReplicasKey   = "leader.replication.throttled.replicas"
	FollowerThrottledReplicasKey = "follower.replication.throttled.replicas"
)

// ThrottledReplicas is a parsed *.replication.throttled.replicas value:
// "*" (every replica of the topic) or a comma-separated list of
// partition:brokerId pairs. The zero value throttles nothing.
type ThrottledReplicas struct {
	All   bool
	pairs map[[2]int32]bool // {partition, broker}
}

// ParseThrottledReplicas parses a throttled replicas list. As Kafka
// accepts, entries are trimmed and empty entries are ignored; "*" must be
// the only entry.
func ParseThrottledReplicas(v string) (ThrottledReplicas, error) {
	var t ThrottledReplicas
	if strings.TrimSpace(v) == "*" {
		t.All = true
		return t, nil
	}
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		ps, bs, ok := strings.Cut(e, ":")
		if !ok {
			return ThrottledReplicas{}, fmt.Errorf("entry %q is not partition:brokerId (or the whole value *)", e)
		}
		p, err1 := strconv.ParseInt(ps, 10, 32)
		b, err2 := strconv.ParseInt(bs, 10, 32)
		if err1 != nil || err2 != nil || p < 0 || b < 0 || !digits(ps) || !digits(bs) {
			return ThrottledReplicas{}, fmt.Errorf("entry %q is not partition:brokerId with non-negative integers", e)
		}
		if t.pairs == nil {
			t.pairs = map[[2]int32]bool{}
		}
		t.pairs[[2]int32{int32(p), int32(b)}] = true
	}
	return t, nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// Has reports whether the replica of partition on broker is throttled.
func (t ThrottledReplicas) Has(partition, broker int32) bool {
	return t.All || t.pairs[[2]int32{partition, broker}]
}

// Empty reports whether nothing is throttled.
func (t ThrottledReplicas) Empty() bool { return !t.All && len(t.pairs) == 0 }

func checkThrottledReplicas(v string) error {
	_, err := ParseThrottledReplicas(v)
	return err
}
