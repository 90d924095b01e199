//go:build chaos

package tests

// Network-partition chaos (make chaos-netns, part of make chaos): three
// brokers in network namespaces (netns_test.go), an RF=3 topic with
// min.insync.replicas=2, a librdkafka and a franz-go idempotent producer at
// Kafka's default timeouts and a tailing consumer. Each cycle hits one
// broker (a partition leader, the active controller or any broker) with one
// fault for 4-15 s: link down, every packet dropped, one-way loss either
// way, a split from the other brokers only, a flapping link, kill -9,
// SIGSTOP, or a cut-off broker crashing and restarting before it heals;
// then the cluster must heal (every broker unfenced, every ISR full) and
// both producers be acknowledged again in every partition. At the end the
// history must be exact (0 lost, 0 duplicated, 0 reordered) and the
// availability gaps are printed per fault: median and max of the longest
// time without an acknowledgement, for partitions whose leader stayed up
// and for those whose leader was hit. CHAOS_NETNS_CYCLES sets the number
// of cycles (default 100), CHAOS_NETNS_FAULTS a comma-separated subset of
// the faults, CHAOS_SEED replays a run.

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestChaosNetnsFaults(t *testing.T) {
	cycles, rng := chaosRun(t, "CHAOS_NETNS_CYCLES", 100)

	const parts = 6
	r := startNetnsRig(t, parts, nil)
	kinds := []string{string(faultLinkDown), string(faultBlackhole), string(faultDropIn), string(faultDropOut),
		string(faultSplit), string(faultFlap), "kill -9", "SIGSTOP", "isolate+kill -9"}
	if v := os.Getenv("CHAOS_NETNS_FAULTS"); v != "" { // e.g. split,one-way-out
		kinds = strings.Split(v, ",")
	}

	type key struct{ kind, class, producer string }
	gaps := map[key][]time.Duration{}
	began := time.Now()
	for cycle := 1; cycle <= cycles; cycle++ {
		victim, why := pickVictim(rng, r.c, r.admCl, r.adm, r.topic, parts)
		kind := kinds[rng.Intn(len(kinds))]
		down := time.Duration(4000+rng.Intn(11000)) * time.Millisecond
		t.Logf("%s cycle %d/%d: %s of broker %d (%s) for %v; %d acknowledged so far",
			time.Now().UTC().Format("15:04:05.000"), cycle, cycles, kind, victim, why, down, r.h.Acknowledged())
		res := r.fault(kind, victim, why, down)
		t.Logf("cycle %d: %v", cycle, res)
		for pr, g := range res.leaderAlive {
			gaps[key{kind, "leader alive", pr}] = append(gaps[key{kind, "leader alive", pr}], g)
		}
		for pr, g := range res.leaderLost {
			gaps[key{kind, "leader lost", pr}] = append(gaps[key{kind, "leader lost", pr}], g)
		}
	}
	elapsed := time.Since(began)
	rep := r.finish()

	keys := slices.SortedFunc(func(yield func(key) bool) {
		for k := range gaps {
			if !yield(k) {
				return
			}
		}
	}, func(a, b key) int {
		if a.kind != b.kind {
			return strings.Compare(a.kind, b.kind)
		}
		if a.class != b.class {
			return strings.Compare(a.class, b.class)
		}
		return strings.Compare(a.producer, b.producer)
	})
	t.Logf("availability gaps (longest time without an acknowledgement per cycle, fault start to healed):")
	for _, k := range keys {
		t.Logf("  GAP %-16s %-13s %-4s %s", k.kind, k.class, k.producer, gapStats(gaps[k]))
	}
	t.Logf("%d network-partition cycles in %v", cycles, elapsed.Round(time.Second))
	t.Logf("CHAOS RESULT: cycles=%d acknowledged=%d lost=%d duplicated=%d reordered=%d misplaced=%d phantom=%d divergent=%d (sent=%d read=%d)",
		cycles, rep.Acknowledged, rep.Lost, rep.Duplicated, rep.Reordered, rep.Misplaced, rep.Phantom, rep.Divergent, rep.Sent, rep.Read)
	if !rep.OK() {
		t.Fatalf("history check failed: %v", rep)
	}
}
