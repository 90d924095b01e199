//go:build chaos

package tests

// Cluster chaos (make chaos): three real `trib broker` processes, an RF=3
// topic with min.insync.replicas=2, an idempotent acks=all kgo producer and
// a consumer tailing the topic the whole time. Each cycle hits one random
// node (a partition leader, the active controller or any broker) with
// kill -9, SIGSTOP/SIGCONT or SIGTERM, then restarts or resumes it; never
// more than one node is down, and the cluster must heal (every broker
// unfenced, every ISR full) before the next cycle. A sixth of the cycles
// are a rolling restart instead, by the rules of Strimzi's roller (the
// managed service's upgrades follow them): SIGTERM one broker at a time,
// only when that takes no partition's ISR below min.insync.replicas, the
// active controller last, each restarted at once and waited for until it
// is back in every ISR before the next one goes. Writes must go on while a
// node is down. At the end every partition is read back and the history is
// checked (internal/checker): nothing acknowledged lost, nothing
// duplicated, nothing out of order, and no reader ever saw a record that
// later vanished. CHAOS_CYCLES sets the number of cycles (default 50);
// CHAOS_FAULTS, a comma-separated subset of "kill -9", "SIGSTOP",
// "SIGTERM" and "rolling restart", limits the faults drawn (all by
// default).

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/checker"
)

// chaosRun reads a loop's cycle count from the environment variable
// cycleVar (default def) and its seed from CHAOS_SEED (else the clock), and
// logs both so that a run can be replayed.
func chaosRun(t *testing.T, cycleVar string, def int) (cycles int, rng *rand.Rand) {
	cycles = def
	if v, err := strconv.Atoi(os.Getenv(cycleVar)); err == nil && v > 0 {
		cycles = v
	}
	seed := time.Now().UnixNano()
	if v, err := strconv.ParseInt(os.Getenv("CHAOS_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (CHAOS_SEED), %d cycles (%s)", seed, cycles, cycleVar)
	return cycles, rand.New(rand.NewSource(seed))
}

// pickVictim picks a fault's target, a third of the time each: the leader
// of a random partition of topic, the active controller, or any broker.
func pickVictim(rng *rand.Rand, c *procCluster, admCl *kgo.Client, adm *kadm.Client, topic string, parts int) (int32, string) {
	switch rng.Intn(3) {
	case 0:
		p := int32(rng.Intn(parts))
		td := describeTopic(adm, topic)
		if len(td.Partitions) == parts && td.Partitions[p].Leader > 0 {
			return td.Partitions[p].Leader, fmt.Sprintf("leader of partition %d", p)
		}
	case 1:
		if id, _, err := describeCluster(admCl); err == nil && id > 0 {
			return id, "controller"
		}
	}
	return int32(rng.Intn(len(c.nodes)) + 1), "random"
}

func TestChaosClusterFaults(t *testing.T) {
	cycles, rng := chaosRun(t, "CHAOS_CYCLES", 50)

	c := startProcCluster(t, 3)
	admCl := c.client(kgo.MetadataMinAge(10 * time.Millisecond)) // kadm caches metadata for MetadataMinAge (5s by default)
	adm := kadm.NewClient(admCl)
	const topic, parts = "chaos", 6
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if _, err := adm.CreateTopic(ctx, parts, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil {
		t.Fatal(err)
	}
	cancel()
	var unhealthy string // why healthy last returned false
	healthy := func() bool {
		ok, why := c.health(admCl, adm, topic, parts)
		unhealthy = why
		return ok
	}
	c.waitFor(30*time.Second, "a healthy cluster", healthy)

	h := checker.New()
	// Two idempotent producers, each a session of its own.
	l := startLoad(c, h, topic, "p1")
	l2 := startLoad(c, h, topic, "p2")
	stopTail := c.startTail(h, topic, parts)
	c.waitAcks(h, 1000, 30*time.Second, "before the first fault")

	kinds := []string{"kill -9", "kill -9", "SIGSTOP", "SIGSTOP", "SIGTERM", "rolling restart"}
	if v := os.Getenv("CHAOS_FAULTS"); v != "" {
		want := strings.Split(v, ",")
		kinds = slices.DeleteFunc(kinds, func(k string) bool { return !slices.Contains(want, k) })
		if len(kinds) == 0 {
			t.Fatalf("CHAOS_FAULTS=%q names none of kill -9, SIGSTOP, SIGTERM, rolling restart", v)
		}
	}
	faults := map[string]int{}
	began := time.Now()
	for cycle := 1; cycle <= cycles; cycle++ {
		victim, why := pickVictim(rng, c, admCl, adm, topic, parts)
		// Pauses longer than replica.lag.time.max.ms (3s) shrink ISRs too.
		down := time.Duration(500+rng.Intn(4500)) * time.Millisecond
		// A third of the cycles only wait for every broker to be back and
		// unfenced, not for full ISRs: the next fault may then hit a leader
		// whose ISR is down to min.insync.replicas.
		quick := rng.Intn(3) == 0
		kind := kinds[rng.Intn(len(kinds))]
		if kind == "rolling restart" {
			faults[kind]++
			t.Logf("%s cycle %d/%d: rolling restart; %d acknowledged so far", time.Now().UTC().Format("15:04:05.000"), cycle, cycles, h.Acknowledged())
			rollStart := time.Now()
			order := c.rollingRestart(admCl, adm, topic, parts, 2)
			c.waitAcks(h, 200, 40*time.Second, fmt.Sprintf("after cycle %d", cycle))
			t.Logf("cycle %d: rolling restart %v in %v", cycle, order, time.Since(rollStart).Round(time.Millisecond))
			continue
		}
		if kind != "SIGSTOP" && rng.Intn(8) == 0 {
			// Now and then a long outage: the broker comes back far behind.
			down = time.Duration(10000+rng.Intn(10000)) * time.Millisecond
		}
		faults[kind]++
		t.Logf("%s cycle %d/%d: %s broker %d (%s) for %v (quick %v); %d acknowledged so far", time.Now().UTC().Format("15:04:05.000"),
			cycle, cycles, kind, victim, why, down, quick, h.Acknowledged())
		cycleStart := time.Now()
		switch kind {
		case "kill -9", "SIGTERM":
			if kind == "kill -9" {
				c.kill9(victim)
			} else {
				c.stop(victim)
			}
			time.Sleep(down)
			// RF=3, min.insync.replicas=2: one broker down never stops writes.
			c.waitAcks(h, 200, 40*time.Second, fmt.Sprintf("while broker %d is down (cycle %d)", victim, cycle))
			c.restart(victim)
		case "SIGSTOP":
			c.pause(victim)
			time.Sleep(down)
			if down > 2*time.Second {
				c.waitAcks(h, 200, 40*time.Second, fmt.Sprintf("while broker %d is paused (cycle %d)", victim, cycle))
			}
			c.resume(victim)
		}
		back := time.Now()
		if quick {
			c.waitFor(60*time.Second, fmt.Sprintf("every broker unfenced after cycle %d (%s broker %d)", cycle, kind, victim), func() bool {
				_, fenced, err := describeCluster(admCl)
				return err == nil && len(fenced) == len(c.nodes) && !fenced[1] && !fenced[2] && !fenced[3]
			})
		} else {
			c.waitFor(60*time.Second, fmt.Sprintf("the cluster to heal after cycle %d (%s broker %d)", cycle, kind, victim), healthy)
		}
		healed := time.Now()
		if healed.Sub(back) > 2*time.Second {
			t.Logf("cycle %d: slow heal, last unhealthy: %s", cycle, unhealthy)
		}
		c.waitAcks(h, 200, 40*time.Second, fmt.Sprintf("after cycle %d", cycle))
		t.Logf("cycle %d: fault+restore %v, heal %v, writes resumed %v after", cycle, back.Sub(cycleStart).Round(time.Millisecond),
			healed.Sub(back).Round(time.Millisecond), time.Since(healed).Round(time.Millisecond))
	}
	elapsed := time.Since(began)

	l.stop(t, 60*time.Second)
	l2.stop(t, 60*time.Second)
	tailed := stopTail()
	c.readBack(h, topic, 120*time.Second)
	r := h.Check()
	t.Logf("%d fault cycles in %v (%v)", cycles, elapsed.Round(time.Second), faults)
	t.Logf("records failed back to the producer (not acknowledged): %d; read by the tailing consumer during the faults: %d", l.failed.Load()+l2.failed.Load(), tailed)
	t.Logf("CHAOS RESULT: cycles=%d acknowledged=%d lost=%d duplicated=%d reordered=%d misplaced=%d phantom=%d divergent=%d (sent=%d read=%d)",
		cycles, r.Acknowledged, r.Lost, r.Duplicated, r.Reordered, r.Misplaced, r.Phantom, r.Divergent, r.Sent, r.Read)
	if !r.OK() {
		t.Fatalf("history check failed: %v", r)
	}
}

// rollingRestart restarts every broker once by Strimzi's roller rules: the
// next broker is the lowest id still to go whose SIGTERM leaves every
// partition it is in the ISR of with at least minISR in-sync replicas,
// the active controller (asked now, not from a client's cache) only when
// it is the last one left; the broker is started again at once and waited
// for until every broker is unfenced and every ISR full. It returns the
// order the brokers went in.
func (c *procCluster) rollingRestart(admCl *kgo.Client, adm *kadm.Client, topic string, parts, minISR int) []int32 {
	c.t.Helper()
	todo := map[int32]bool{}
	for _, nd := range c.nodes {
		todo[nd.id] = true
	}
	var order []int32
	for len(todo) > 0 {
		var next int32 = -1
		c.waitForWhy(60*time.Second, fmt.Sprintf("a broker of %v that may restart", todo), func() (bool, string) {
			ctl, _, err := describeCluster(admCl)
			if err != nil || ctl < 0 {
				return false, fmt.Sprintf("no controller (%v)", err)
			}
			td := describeTopic(adm, topic)
			if len(td.Partitions) != parts {
				return false, fmt.Sprintf("topic %s: %d partitions described (%v)", topic, len(td.Partitions), td.Err)
			}
			var why []string
			for id := int32(1); id <= int32(len(c.nodes)); id++ {
				if !todo[id] {
					continue
				}
				if id == ctl && len(todo) > 1 {
					why = append(why, fmt.Sprintf("broker %d is the controller and goes last", id))
					continue
				}
				ok := true
				for _, p := range td.Partitions {
					if slices.Contains(p.ISR, id) && len(p.ISR)-1 < minISR {
						why = append(why, fmt.Sprintf("broker %d: partition %d ISR %v", id, p.Partition, p.ISR))
						ok = false
						break
					}
				}
				if ok {
					next = id
					return true, ""
				}
			}
			return false, strings.Join(why, "; ")
		})
		c.stop(next) // SIGTERM: a controlled shutdown
		c.restart(next)
		delete(todo, next)
		order = append(order, next)
		c.waitForWhy(60*time.Second, fmt.Sprintf("broker %d back in every ISR", next), func() (bool, string) {
			return c.health(admCl, adm, topic, parts)
		})
	}
	return order
}
