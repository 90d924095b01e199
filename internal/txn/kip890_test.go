package txn

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

// TestVerifyPartitions: KIP-890 part 1, a partition leader asks whether
// its partition is in the producer's ongoing transaction.
func TestVerifyPartitions(t *testing.T) {
	f := newFixture(t, newMemLog(1))
	c := f.c
	r, _ := c.InitProducerID("app", 10*time.Second, -1, -1)
	if err := c.VerifyPartitions("app", r.ProducerID, r.Epoch, []TopicPartition{tp("a", 0)}); !errors.Is(err, ErrNotInTransaction) {
		t.Fatalf("no transaction: %v", err)
	}
	if err := c.AddPartitions("app", r.ProducerID, r.Epoch, []TopicPartition{tp("a", 0)}); err != nil {
		t.Fatal(err)
	}
	if err := c.VerifyPartitions("app", r.ProducerID, r.Epoch, []TopicPartition{tp("a", 0)}); err != nil {
		t.Fatalf("added partition: %v", err)
	}
	if err := c.VerifyPartitions("app", r.ProducerID, r.Epoch, []TopicPartition{tp("a", 0), tp("a", 1)}); !errors.Is(err, ErrNotInTransaction) {
		t.Fatalf("partition not added: %v", err)
	}
	if err := c.VerifyPartitions("app", r.ProducerID, r.Epoch-1, []TopicPartition{tp("a", 0)}); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("older epoch: %v", err)
	}
	if err := c.VerifyPartitions("app", r.ProducerID+1, r.Epoch, []TopicPartition{tp("a", 0)}); !errors.Is(err, ErrInvalidProducerIDMap) {
		t.Fatalf("other producer id: %v", err)
	}
	if err := c.VerifyPartitions("nobody", r.ProducerID, r.Epoch, []TopicPartition{tp("a", 0)}); !errors.Is(err, ErrInvalidProducerIDMap) {
		t.Fatalf("unknown id: %v", err)
	}
	if err := c.EndTxn("app", r.ProducerID, r.Epoch, false); err != nil {
		t.Fatal(err)
	}
	f.waitState(c, "app", CompleteAbort)
	if err := c.VerifyPartitions("app", r.ProducerID, r.Epoch, []TopicPartition{tp("a", 0)}); !errors.Is(err, ErrNotInTransaction) {
		t.Fatalf("after the abort: %v", err)
	}
}

// TestEndTxnV2: transaction version 2 (KIP-890 part 2) bumps the epoch
// at every end, writes the markers under the bumped epoch, recognizes a
// retried end by the epoch before the bump (also after a coordinator
// failover), allows an abort with nothing open, and takes a new producer
// id when the epochs run out.
func TestEndTxnV2(t *testing.T) {
	log := newMemLog(1)
	f := newFixture(t, log)
	c := f.c
	r, _ := c.InitProducerID("app", 10*time.Second, -1, -1)
	if err := c.AddPartitions("app", r.ProducerID, r.Epoch, []TopicPartition{tp("a", 0)}); err != nil {
		t.Fatal(err)
	}
	next, err := c.EndTxnV2("app", r.ProducerID, r.Epoch, true)
	if err != nil || next.ProducerID != r.ProducerID || next.Epoch != r.Epoch+1 {
		t.Fatalf("commit: %+v %v", next, err)
	}
	f.waitState(c, "app", CompleteCommit)
	if calls := f.markers.all(); len(calls) != 1 || calls[0].epoch != next.Epoch {
		t.Fatalf("markers: %+v", calls)
	}
	// A retry (its answer was lost) gets the same answer; the opposite
	// end is invalid; the old epoch may not start a transaction.
	if got, err := c.EndTxnV2("app", r.ProducerID, r.Epoch, true); err != nil || got != next {
		t.Fatalf("retried commit: %+v %v", got, err)
	}
	if _, err := c.EndTxnV2("app", r.ProducerID, r.Epoch, false); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("abort retry of a commit: %v", err)
	}
	if err := c.AddPartitions("app", r.ProducerID, r.Epoch, []TopicPartition{tp("a", 0)}); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("old epoch: %v", err)
	}
	// A commit with nothing open is invalid; an abort bumps the epoch.
	if _, err := c.EndTxnV2("app", next.ProducerID, next.Epoch, true); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("empty commit: %v", err)
	}
	empty, err := c.EndTxnV2("app", next.ProducerID, next.Epoch, false)
	if err != nil || empty.Epoch != next.Epoch+1 {
		t.Fatalf("empty abort: %+v %v", empty, err)
	}
	if len(f.markers.all()) != 1 {
		t.Fatal("an empty abort sent markers")
	}

	// After a failover the new coordinator still knows the retry.
	f2 := &fixture{t: t, log: log, markers: &memMarkers{}, clock: f.clock, nextPID: 5000}
	c.Close()
	c2 := f2.start()
	if got, err := c2.EndTxnV2("app", next.ProducerID, next.Epoch, false); err != nil || got != empty {
		t.Fatalf("retried empty abort after failover: %+v %v", got, err)
	}
	// KIP-360 recovery with the epoch before the bump.
	if _, err := c2.InitProducerID("app", 10*time.Second, next.ProducerID, next.Epoch); err != nil {
		t.Fatalf("KIP-360 after failover: %v", err)
	}
}

// TestEndTxnV2EpochOverflow: the end that would bump the epoch past the
// last value writes its markers under the last epoch and hands the
// producer a new producer id at epoch 0.
func TestEndTxnV2EpochOverflow(t *testing.T) {
	f := newFixture(t, newMemLog(1))
	c := f.c
	r, _ := c.InitProducerID("app", 10*time.Second, -1, -1)
	c.mu.Lock()
	c.txns["app"].epoch = maxEpoch
	c.mu.Unlock()
	if err := c.AddPartitions("app", r.ProducerID, maxEpoch, []TopicPartition{tp("a", 0)}); err != nil {
		t.Fatal(err)
	}
	next, err := c.EndTxnV2("app", r.ProducerID, maxEpoch, true)
	if err != nil || next.ProducerID == r.ProducerID || next.Epoch != 0 {
		t.Fatalf("commit at the last epoch: %+v %v", next, err)
	}
	d := f.waitState(c, "app", CompleteCommit)
	if d.ProducerID != next.ProducerID || d.Epoch != 0 {
		t.Fatalf("after completion: %+v", d)
	}
	if calls := f.markers.all(); len(calls) != 1 || calls[0].pid != r.ProducerID || calls[0].epoch != maxEpoch+1 {
		t.Fatalf("markers: %+v", calls)
	}
	if got, err := c.EndTxnV2("app", r.ProducerID, maxEpoch, true); err != nil || got != next {
		t.Fatalf("retry with the old producer id: %+v %v", got, err)
	}
	if err := c.AddPartitions("app", next.ProducerID, 0, []TopicPartition{tp("a", 0)}); err != nil {
		t.Fatalf("next transaction with the new id: %v", err)
	}
}

// gatedLog is a memLog whose Sync (the wait for replication) takes a
// token from gate, so a test can hold a state write in flight.
type gatedLog struct {
	*memLog
	gate chan struct{}
}

func (l *gatedLog) Sync(int32, int64, int32) error { <-l.gate; return nil }

// TestAddPartitionsWaitingCoalesces: leaders adding partitions while a
// state write is in flight are written together by the next write (one
// record for the rest, not one each), and each learns its partition is
// in the transaction.
func TestAddPartitionsWaitingCoalesces(t *testing.T) {
	log := &gatedLog{memLog: newMemLog(1), gate: make(chan struct{}, 10)}
	f := &fixture{t: t, log: log.memLog, markers: &memMarkers{}, clock: newFakeClock(), nextPID: 1000}
	c := New(Config{Log: log, Markers: f.markers, Clock: f.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxTimeout: time.Minute, AbortCheck: time.Second, MarkerRetry: time.Millisecond,
		ProducerID: func() (int64, error) { return 1000, nil }})
	defer c.Close()
	<-c.SetLeadership(1, map[int32]int32{0: 5})
	log.gate <- struct{}{}
	r, err := c.InitProducerID("app", 10*time.Second, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	records := func() int { log.mu.Lock(); defer log.mu.Unlock(); return len(log.parts[0]) }
	errs := make(chan error, 3)
	add := func(p int32) {
		go func() {
			errs <- c.AddPartitionsWaiting(context.Background(), "app", r.ProducerID, r.Epoch, []TopicPartition{tp("a", p)})
		}()
	}
	add(0)
	for records() < 2 { // the first addition's record is written, its Sync held
		time.Sleep(time.Millisecond)
	}
	add(1)
	add(2)
	for { // both queued behind the write in flight
		c.mu.Lock()
		n := len(c.txns["app"].queued)
		c.mu.Unlock()
		if n == 2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	log.gate <- struct{}{}
	log.gate <- struct{}{}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := records(); n != 3 {
		t.Fatalf("%d state records, want 3 (init, the first addition, the other two together)", n)
	}
	if d, _ := c.Describe("app"); len(d.Partitions) != 3 {
		t.Fatalf("partitions: %v", d.Partitions)
	}
}

// TestEndTxnV2CommitAfterTimeoutAbort: with transaction version 2 the
// coordinator's abort of a transaction past its timeout bumps the epoch,
// so a commit still in flight carries the epoch before the bump, the one
// a retried end carries; it is PRODUCER_FENCED (as with transaction
// version 0-1), not INVALID_TXN_STATE, which clients treat as fatal.
func TestEndTxnV2CommitAfterTimeoutAbort(t *testing.T) {
	f := newFixture(t, newMemLog(1))
	c := f.c
	r, _ := c.InitProducerID("app", 5*time.Second, -1, -1)
	add := func(pid int64, epoch int16) {
		t.Helper()
		if err := c.AddPartitions("app", pid, epoch, []TopicPartition{tp("a", 0)}); err != nil {
			t.Fatal(err)
		}
	}
	add(r.ProducerID, r.Epoch)
	next, err := c.EndTxnV2("app", r.ProducerID, r.Epoch, true)
	if err != nil {
		t.Fatal(err)
	}
	f.waitState(c, "app", CompleteCommit)
	add(next.ProducerID, next.Epoch)
	f.clock.advance(6 * time.Second)
	if d := f.waitState(c, "app", CompleteAbort); d.Epoch != next.Epoch+1 {
		t.Fatalf("epoch after the timeout abort: %d", d.Epoch)
	}
	if _, err := c.EndTxnV2("app", next.ProducerID, next.Epoch, true); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("commit after the timeout abort: %v", err)
	}
	// An abort in flight is a retry of that abort: it succeeds.
	if got, err := c.EndTxnV2("app", next.ProducerID, next.Epoch, false); err != nil || got.Epoch != next.Epoch+1 {
		t.Fatalf("abort after the timeout abort: %+v %v", got, err)
	}
}
