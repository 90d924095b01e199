//go:build chaos

package tests

// Transaction chaos (make chaos, make chaos-txn): three real `trib broker`
// processes; an idempotent producer writes numbered input records to
// txn-in while two franz-go GroupTransactSession workers (one consumer
// group, a transactional id each, transaction version 2) consume
// read_committed, copy every input to txn-out inside a transaction that
// also commits the input offsets, and commit or abort. Each output
// carries the attempt (worker and transaction number) in a header; the
// test remembers which attempts committed, which aborted and which ended
// unknown (End failed). Each cycle kill -9s or SIGSTOPs the leader of a
// worker's __transaction_state partition (its transaction coordinator),
// of the group's __consumer_offsets partition (group coordinator) or of a
// txn-in/txn-out partition, brings it back, waits for full ISRs and for
// transactions to commit again. A read_committed consumer tails txn-out
// throughout. At the end the inputs are drained and the checker compares:
// every acknowledged input exactly once in txn-out as read_committed sees
// it (lost, duplicated), no output without an input (phantom), no record
// of an aborted attempt read, at the end or by the tail while it ran
// (aborted_read, uncommitted_read), and the group's committed input
// offsets at the input's end offsets (offsets). A worker whose End
// failed (its outcome unknown: it may have committed) or whose
// transaction outlived its timeout (stalled by the faults; the
// coordinator's abort fences it) starts a new session with the same
// transactional id, as an application would (worker_restarts): going on
// with the old one would transform again the inputs of a transaction
// that committed without the client hearing it.
// CHAOS_TXN_CYCLES sets the number of cycles (default 50), CHAOS_SEED
// replays a run.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/group"
)

// attempts records each transaction attempt's outcome.
type attempts struct {
	mu        sync.Mutex
	outcome   map[string]string // attempt -> committed | aborted | unknown
	committed atomic.Int64
}

func (a *attempts) set(id, outcome string) {
	a.mu.Lock()
	a.outcome[id] = outcome
	a.mu.Unlock()
	if outcome == "committed" {
		a.committed.Add(1)
	}
}

func (a *attempts) get(id string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.outcome[id]
}

func (a *attempts) counts() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]int{}
	for _, o := range a.outcome {
		out[o]++
	}
	return out
}

func attemptOf(r *kgo.Record) string {
	for _, h := range r.Headers {
		if h.Key == "attempt" {
			return string(h.Value)
		}
	}
	return ""
}

func TestChaosTransactions(t *testing.T) {
	cycles, rng := chaosRun(t, "CHAOS_TXN_CYCLES", 50)
	const parts, stateParts, groupID = 6, 3, "chaos-eos"
	settings := append(append([]string{}, procSettings...),
		fmt.Sprintf("transaction.state.log.num.partitions=%d", stateParts), fmt.Sprintf("offsets.topic.num.partitions=%d", stateParts),
		"transaction.abort.timed.out.transaction.cleanup.interval.ms=1000")
	c := startProcClusterWith(t, 3, procOptions{settings: settings})
	admCl := c.client(kgo.MetadataMinAge(10 * time.Millisecond))
	adm := kadm.NewClient(admCl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	for _, topic := range []string{"txn-in", "txn-out"} {
		if _, err := adm.CreateTopic(ctx, parts, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	healthy := func() (bool, string) {
		for _, topic := range []string{"txn-in", "txn-out"} {
			if ok, why := c.health(admCl, adm, topic, parts); !ok {
				return false, why
			}
		}
		return true, ""
	}
	c.waitForWhy(60*time.Second, "a healthy cluster", healthy)

	// Input: an idempotent acks=all producer, about 300 records/s.
	var inMu sync.Mutex
	acked := map[string]bool{}
	var inFailed atomic.Int64
	in := c.client(kgo.DefaultProduceTopic("txn-in"), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.ProduceRequestTimeout(5*time.Second), kgo.RequestTimeoutOverhead(2*time.Second))
	stopIn := make(chan struct{})
	inDone := make(chan struct{})
	go func() {
		defer close(inDone)
		for i := 0; ; i++ {
			select {
			case <-stopIn:
				return
			case <-time.After(10 * time.Millisecond):
			}
			for j := range 3 {
				v := fmt.Sprintf("in-%07d", 3*i+j)
				in.Produce(context.Background(), &kgo.Record{Key: []byte(fmt.Sprint((3*i + j) % 97)), Value: []byte(v)}, func(r *kgo.Record, err error) {
					if err != nil {
						inFailed.Add(1)
						return
					}
					inMu.Lock()
					acked[string(r.Value)] = true
					inMu.Unlock()
				})
			}
		}
	}()

	// Workers: consume-transform-produce with GroupTransactSession.
	att := &attempts{outcome: map[string]string{}}
	workCtx, stopWork := context.WithCancel(context.Background())
	var workers sync.WaitGroup
	var endErrs sync.Map // error text -> count
	txnIDs := []string{"chaos-txn-1", "chaos-txn-2"}
	var restarts atomic.Int64 // workers fenced and started again
	for w, id := range txnIDs {
		newSession := func() *kgo.GroupTransactSession {
			sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(c.bootstrap()...), kgo.TransactionalID(id), kgo.DefaultProduceTopic("txn-out"),
				kgo.ConsumerGroup(groupID), kgo.ConsumeTopics("txn-in"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RequireStableFetchOffsets(), kgo.TransactionTimeout(20*time.Second),
				kgo.MetadataMinAge(100*time.Millisecond), kgo.RetryTimeout(30*time.Second), kgo.FetchMaxWait(500*time.Millisecond))
			if err != nil {
				t.Error(err)
				return nil
			}
			return sess
		}
		sess := newSession()
		if sess == nil {
			t.FailNow()
		}
		// restart replaces the worker's session by a new one with the
		// same transactional id, false if none could be created.
		restart := func(why string) bool {
			t.Logf("worker %d: %s; starting a new session", w+1, why)
			restarts.Add(1)
			sess.Close()
			sess = newSession()
			return sess != nil
		}
		workers.Add(1)
		go func() {
			defer workers.Done()
			defer func() {
				if sess != nil {
					sess.Close()
				}
			}()
			for n := 0; workCtx.Err() == nil; {
				fs := sess.PollFetches(workCtx)
				if fs.NumRecords() == 0 {
					continue
				}
				if err := sess.Begin(); err != nil {
					// A transaction that outlived transaction.timeout.ms
					// (a worker stalled by the faults on a loaded
					// machine) is aborted by its coordinator under a
					// bumped epoch; the late commit is refused
					// (PRODUCER_FENCED, KAFKA-20785), which a
					// transaction version 2 producer cannot recover
					// from. As an application (or Kafka Streams) does,
					// start a new session with the same transactional
					// id; its InitProducerId fences the old one. The
					// attempt stays "unknown" for the checker.
					if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidTxnState) {
						t.Errorf("worker %d: begin: %v", w+1, err)
						return
					}
					if !restart(fmt.Sprintf("begin: %v", err)) {
						return
					}
					continue
				}
				n++
				aid := fmt.Sprintf("w%d-%d", w+1, n)
				fs.EachRecord(func(r *kgo.Record) {
					sess.Produce(workCtx, &kgo.Record{Key: r.Key, Value: r.Value, Headers: []kgo.RecordHeader{{Key: "attempt", Value: []byte(aid)}}}, nil)
				})
				endCtx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				committed, err := sess.End(endCtx, kgo.TryCommit)
				cancel()
				if err != nil {
					// franz-go's documented recovery: retry the end
					// with TryAbort (the outcome stays unknown here:
					// the checker decides from what was read).
					abortCtx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					if _, aerr := sess.End(abortCtx, kgo.TryAbort); aerr != nil {
						t.Logf("worker %d: abort after a failed end: %v", w+1, aerr)
					}
					cancel()
				}
				switch {
				case err != nil:
					att.set(aid, "unknown")
					k := err.Error()
					if i := strings.Index(k, ":"); i > 0 && len(k) > 80 {
						k = k[:80]
					}
					v, _ := endErrs.LoadOrStore(k, new(atomic.Int64))
					v.(*atomic.Int64).Add(1)
				case committed:
					att.set(aid, "committed")
				default:
					att.set(aid, "aborted")
				}
				// A failed End may have committed all the same (the
				// EndTxn reached the coordinator, which wrote its
				// PrepareCommit, and the client then gave up, e.g.
				// dialing the killed coordinator), but the session
				// rewinds to the offsets it last saw committed, so
				// going on with it would transform that
				// transaction's inputs again: duplicated outputs.
				// franz-go says not to go on after an End error; as
				// an application does, start a new session, which
				// fetches the group's committed offsets (stable:
				// after the old transaction's markers).
				if err != nil && !restart(fmt.Sprintf("end: %v", err)) {
					return
				}
			}
		}()
	}

	// The tail: read_committed must never show an attempt that aborted.
	tailSeen := map[string]bool{} // attempts the tail read
	var tailMu sync.Mutex
	tail := c.client(kgo.ConsumeTopics("txn-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.MetadataMinAge(100*time.Millisecond))
	tailCtx, stopTail := context.WithCancel(context.Background())
	tailDone := make(chan struct{})
	go func() {
		defer close(tailDone)
		for tailCtx.Err() == nil {
			tail.PollFetches(tailCtx).EachRecord(func(r *kgo.Record) {
				tailMu.Lock()
				tailSeen[attemptOf(r)] = true
				tailMu.Unlock()
			})
		}
	}()

	progress := func(what string) {
		from := att.committed.Load()
		c.waitFor(90*time.Second, what, func() bool { return att.committed.Load() >= from+3 })
	}
	progress("the first committed transactions")

	leaderOf := func(topic string, p int32) int32 {
		td := describeTopic(adm, topic)
		for _, pd := range td.Partitions {
			if pd.Partition == p {
				return pd.Leader
			}
		}
		return -1
	}
	faults := map[string]int{}
	began := time.Now()
	for cycle := 1; cycle <= cycles; cycle++ {
		var victim int32 = -1
		var why string
		for victim <= 0 {
			switch rng.Intn(4) {
			case 0:
				id := txnIDs[rng.Intn(len(txnIDs))]
				p := group.PartitionFor(id, stateParts)
				victim, why = leaderOf("__transaction_state", p), fmt.Sprintf("transaction coordinator of %s (__transaction_state-%d)", id, p)
			case 1:
				p := group.PartitionFor(groupID, stateParts)
				victim, why = leaderOf("__consumer_offsets", p), fmt.Sprintf("group coordinator (__consumer_offsets-%d)", p)
			case 2:
				p := int32(rng.Intn(parts))
				victim, why = leaderOf("txn-in", p), fmt.Sprintf("leader of txn-in-%d", p)
			default:
				p := int32(rng.Intn(parts))
				victim, why = leaderOf("txn-out", p), fmt.Sprintf("leader of txn-out-%d", p)
			}
			if victim <= 0 {
				time.Sleep(100 * time.Millisecond)
			}
		}
		kind := []string{"kill -9", "kill -9", "kill -9", "SIGSTOP"}[rng.Intn(4)]
		down := time.Duration(500+rng.Intn(2500)) * time.Millisecond
		faults[kind]++
		t.Logf("%s cycle %d/%d: %s broker %d (%s) for %v; %d transactions committed so far", time.Now().UTC().Format("15:04:05.000"),
			cycle, cycles, kind, victim, why, down, att.committed.Load())
		if kind == "kill -9" {
			c.kill9(victim)
			time.Sleep(down)
			c.restart(victim)
		} else {
			c.pause(victim)
			time.Sleep(down)
			c.resume(victim)
		}
		c.waitForWhy(90*time.Second, fmt.Sprintf("the cluster to heal after cycle %d", cycle), healthy)
		progress(fmt.Sprintf("transactions to commit after cycle %d", cycle))
	}
	elapsed := time.Since(began)

	// Drain: stop the input, wait until the group has committed offsets
	// at the input's end, stop the workers.
	close(stopIn)
	<-inDone
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), 60*time.Second)
	if err := in.Flush(flushCtx); err != nil {
		t.Errorf("input flush: %v", err)
	}
	cancelFlush()
	var ends kadm.ListedOffsets
	offsetsAtEnd := func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		if ends, err = adm.ListEndOffsets(ctx, "txn-in"); err != nil {
			return false, err.Error()
		}
		committed, err := adm.FetchOffsets(ctx, groupID)
		if err != nil {
			return false, err.Error()
		}
		behind := 0
		ends.Each(func(o kadm.ListedOffset) {
			if co, ok := committed.Lookup("txn-in", o.Partition); !ok || co.At != o.Offset {
				behind++
			}
		})
		return behind == 0, fmt.Sprintf("%d partitions behind", behind)
	}
	c.waitForWhy(180*time.Second, "the workers to consume every input", offsetsAtEnd)
	stopWork()
	workers.Wait()

	// Read txn-out back, read_committed, to its last stable offset.
	inMu.Lock()
	inputs := len(acked)
	inMu.Unlock()
	rc := c.client(kgo.ConsumeTopics("txn-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := map[string]int{}
	var abortedRead, phantom, outputs int
	readCtx, cancelRead := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancelRead()
	quiet := time.Now()
	for time.Since(quiet) < 5*time.Second && readCtx.Err() == nil {
		short, cancel := context.WithTimeout(readCtx, time.Second)
		fs := rc.PollFetches(short)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			quiet = time.Now()
			outputs++
			seen[string(r.Value)]++
			if att.get(attemptOf(r)) == "aborted" {
				abortedRead++
			}
			if !acked[string(r.Value)] {
				phantom++
			}
		})
	}
	stopTail()
	<-tailDone
	uncommittedRead := 0
	tailMu.Lock()
	for a := range tailSeen {
		if att.get(a) == "aborted" {
			uncommittedRead++
		}
	}
	tailMu.Unlock()
	lost, duplicated := 0, 0
	for v := range acked {
		switch n := seen[v]; {
		case n == 0:
			lost++
		case n > 1:
			duplicated += n - 1
		}
	}
	offsetsOK, offsetsWhy := offsetsAtEnd()
	errs := map[string]int64{}
	endErrs.Range(func(k, v any) bool { errs[k.(string)] = v.(*atomic.Int64).Load(); return true })
	counts := att.counts()
	t.Logf("%d fault cycles in %v (%v); input records failed back to the producer: %d; End errors: %v", cycles, elapsed.Round(time.Second), faults, inFailed.Load(), errs)
	t.Logf("TXN CHAOS RESULT: cycles=%d inputs=%d outputs=%d committed_txns=%d aborted_txns=%d unknown_txns=%d lost=%d duplicated=%d aborted_read=%d uncommitted_read=%d phantom=%d offsets_consistent=%v worker_restarts=%d",
		cycles, inputs, outputs, counts["committed"], counts["aborted"], counts["unknown"], lost, duplicated, abortedRead, uncommittedRead, phantom, offsetsOK, restarts.Load())
	if lost+duplicated+abortedRead+uncommittedRead+phantom > 0 || !offsetsOK {
		t.Fatalf("transaction history check failed (offsets: %s)", offsetsWhy)
	}
}
