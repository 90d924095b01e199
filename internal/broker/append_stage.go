package broker

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/tributary/tributary/internal/partition"
)

// The produce append stage: appends leave the connection's reader
// goroutine, so a stalled pwrite does not stop the socket's reading and
// the batches of one request are appended in parallel.
//
// Contract (who calls what, on which goroutine, in what order):
//
//   - handleProduce, on a connection's reader goroutine, checks each
//     partition (leader, authorization, verification) and submits its batch
//     as an appendJob to the shard that owns the partition, in the order
//     of the request's partitions; then it returns the request's Pending.
//     Every partition always maps to the same shard (shardOf), and a shard
//     runs its jobs one at a time in submission order, so the batches of
//     one partition are appended in the order their requests arrived on a
//     connection (idempotent sequences stay in order under pipelining).
//   - The Pending, on the connection's writer goroutine, waits for its
//     request's jobs, then (acks=all) fsyncs and waits for the ISR, and
//     answers; responses stay in request order (protocol.Pending).
//   - A shard's queue is bounded (appendQueueLen): a reader whose shard
//     is full waits, which pushes back on the client through TCP.
//   - Any other request on the connection waits for the connection's
//     appends in flight (ConnInfo.Appends) before it is handled, so it
//     sees them as it did when appends ran on the reader; only produce
//     requests overlap. acks=0 requests wait for their own jobs on the
//     reader (their frame is recycled once they are handled).
//   - A shard never fsyncs and never waits for the ISR: those waits stay
//     on the writer goroutines (partition.SyncAll, WaitCommitted), so an
//     fsync never holds an append.
//   - A panic in an append is recovered by the shard, logged with its
//     stack, and re-raised by the request's Pending, which closes only that
//     connection (as a handler's panic does).
//   - After close, or on a Broker built without New (handler tests),
//     submit runs the job on the caller (after close the logs are closing;
//     the append fails or completes as it would have).
type appendStage struct {
	shards []chan *appendJob
	wg     sync.WaitGroup // the shard goroutines

	mu     sync.RWMutex // guards closed against sends on closed channels
	closed bool
}

// appendQueueLen bounds each shard's queue of batches.
const appendQueueLen = 256

// appendShards is the number of shards: several per core, so a stalled
// write holds a small share of the partitions, with a fixed number of
// goroutines however many partitions there are.
func appendShards() int {
	return min(max(8*runtime.GOMAXPROCS(0), 8), 128)
}

func newAppendStage(n int) *appendStage {
	s := &appendStage{shards: make([]chan *appendJob, n)}
	for i := range s.shards {
		ch := make(chan *appendJob, appendQueueLen)
		s.shards[i] = ch
		s.wg.Add(1)
		go func() { // safe: run recovers an append's panic
			defer s.wg.Done()
			for j := range ch {
				j.run()
			}
		}()
	}
	return s
}

// appendJob is one partition's batch of a produce request. The fields
// above the results are set by the submitter before submit; the results
// are written by the shard and read after the request's done.Wait.
type appendJob struct {
	b          *Broker
	t          *topic
	p          *partition.Partition
	records    []byte
	acks       int16
	txn        bool
	guard      *partition.VerificationGuard
	unverified bool
	done       *sync.WaitGroup // the request's jobs
	conn       *ConnInfo       // nil in tests without a connection
	ti, pi     int             // the response's resp.Topics[ti].Partitions[pi]
	size       int             // the records' size on the wire (metrics)

	res      partition.AppendResult
	lat      int64 // the log append time stamped, or -1
	err      error
	panicked any
}

// shardOf is the shard of partition part of t: the topic's hash plus the
// index, so the partitions of one topic spread over the shards.
func (s *appendStage) shardOf(t *topic, part int32) chan *appendJob {
	return s.shards[(t.hash+uint32(part))%uint32(len(s.shards))]
}

// submit queues j on its partition's shard, waiting while the shard's
// queue is full; the caller has done j.done.Add(1) (and j.conn.Appends).
func (s *appendStage) submit(j *appendJob, part int32) {
	if s == nil {
		j.run()
		return
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		j.run()
		return
	}
	s.shardOf(j.t, part) <- j // a blocked send holds RLock; close waits, the shard drains
	s.mu.RUnlock()
}

// run appends j's batch and marks it done.
func (j *appendJob) run() {
	defer func() {
		if v := recover(); v != nil {
			j.b.log.Error("panic in produce append", "topic", j.p.Topic, "partition", j.p.Index, "panic", v, "stack", string(debug.Stack()))
			j.panicked = v
		}
		if j.conn != nil {
			j.conn.Appends.Done()
		}
		j.done.Done()
	}()
	j.res, j.lat, j.err = j.b.appendBatch(j.t, j.p, j.records, j.acks, j.txn, j.guard, j.unverified)
}

// close stops the shards once their queues are drained; later submits run
// on their callers.
func (s *appendStage) close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for _, ch := range s.shards {
			close(ch)
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// errAppendPanicked is re-raised by a Pending whose append panicked.
type errAppendPanicked struct{ v any }

func (e errAppendPanicked) Error() string { return fmt.Sprintf("produce append panicked: %v", e.v) }

// fnv32 is FNV-1a of s (the topic's shard base).
func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
