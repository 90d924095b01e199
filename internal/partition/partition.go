// Package partition is one replica of a topic partition: it assigns offsets,
// enforces idempotent-producer sequences, tracks the leader epoch and high
// watermark, and wakes fetchers waiting for new data. It wraps a storage.Log.
//
// Concurrency: mu serializes appends (offset assignment, producer-state check
// and the log write happen atomically) and guards producers. Reads do not take
// mu; the log has its own locking. notifyMu guards the notify channel, which
// is closed and replaced on every append.
package partition

import (
	"errors"
	"sync"

	"github.com/tributary/tributary/internal/record"
	"github.com/tributary/tributary/internal/storage"
)

// Errors the broker maps to wire codes.
var (
	ErrOutOfOrderSequence   = errors.New("out of order sequence number")
	ErrInvalidProducerEpoch = errors.New("producer epoch is older than the current one")
	ErrMessageTooLarge      = errors.New("batch is larger than max.message.bytes")
	ErrControlBatch         = errors.New("clients may not write control batches")
)

// Partition is a leader replica on this broker.
type Partition struct {
	Topic string
	Index int32

	log *storage.Log

	mu        sync.Mutex
	producers map[int64]*producer
	epoch     int32 // leader epoch

	watchMu  sync.Mutex
	watchers map[chan struct{}]struct{}
}

// Open opens the partition's log in dir and rebuilds producer state from the
// batch headers.
func Open(topic string, index int32, log *storage.Log) (*Partition, error) {
	p := &Partition{Topic: topic, Index: index, log: log, producers: map[int64]*producer{}, watchers: map[chan struct{}]struct{}{}}
	err := log.ScanHeaders(log.StartOffset(), func(b record.Batch) bool {
		if b.ProducerID() >= 0 && !b.IsControl() {
			p.observe(b, b.BaseOffset())
		}
		return true
	})
	return p, err
}

// Log returns the underlying log.
func (p *Partition) Log() *storage.Log { return p.log }

// LeaderEpoch is the current leader epoch.
func (p *Partition) LeaderEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch
}

// HighWatermark is the offset below which records are committed and visible
// to consumers. On a single replica every written batch is committed.
func (p *Partition) HighWatermark() int64 { return p.log.EndOffset() }

// LastStableOffset is the high watermark until transactions exist.
func (p *Partition) LastStableOffset() int64 { return p.HighWatermark() }

// AppendOptions carry the topic settings an append obeys.
type AppendOptions struct {
	MaxMessageBytes int
	// LogAppendTime, if >= 0, is stamped on the batch as its timestamp.
	LogAppendTime int64
}

// AppendResult describes a stored batch.
type AppendResult struct {
	BaseOffset int64
	// End is the log end offset after the append; Sync(End) makes it durable.
	End int64
	// Duplicate is set when an idempotent retry matched a stored batch; the
	// batch was not written again and BaseOffset is the original one.
	Duplicate bool
}

// Append assigns offsets to the validated batch b and writes it. b is
// modified in place (base offset, leader epoch, maybe timestamp).
func (p *Partition) Append(b record.Batch, opts AppendOptions) (AppendResult, error) {
	if b.IsControl() {
		return AppendResult{}, ErrControlBatch
	}
	if opts.MaxMessageBytes > 0 && len(b) > opts.MaxMessageBytes {
		return AppendResult{}, ErrMessageTooLarge
	}
	p.mu.Lock()
	pid := b.ProducerID()
	var prod *producer
	if pid >= 0 {
		var dup int64
		var err error
		prod, dup, err = p.checkSequence(b)
		if err != nil {
			p.mu.Unlock()
			return AppendResult{}, err
		}
		if dup >= 0 {
			p.mu.Unlock()
			return AppendResult{BaseOffset: dup, End: p.log.EndOffset(), Duplicate: true}, nil
		}
	}
	base := p.log.EndOffset()
	b.SetBaseOffset(base)
	b.SetPartitionLeaderEpoch(p.epoch)
	if opts.LogAppendTime >= 0 {
		b.SetLogAppendTime(opts.LogAppendTime)
	}
	end, err := p.log.Append(b)
	if err != nil {
		p.mu.Unlock()
		return AppendResult{}, err
	}
	if pid >= 0 {
		prod.record(b, base)
	}
	p.mu.Unlock()
	p.wake()
	return AppendResult{BaseOffset: base, End: end}, nil
}

// Sync waits until every offset below end is fsynced.
func (p *Partition) Sync(end int64) error { return p.log.Sync(end) }

// Watch registers ch (buffered, capacity >= 1) to receive a value after each
// append, until the returned cancel is called. Fetch long polls use one
// channel for all the partitions they wait on.
func (p *Partition) Watch(ch chan struct{}) (cancel func()) {
	p.watchMu.Lock()
	p.watchers[ch] = struct{}{}
	p.watchMu.Unlock()
	return func() {
		p.watchMu.Lock()
		delete(p.watchers, ch)
		p.watchMu.Unlock()
	}
}

func (p *Partition) wake() {
	p.watchMu.Lock()
	for ch := range p.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	p.watchMu.Unlock()
}

// Close closes the log.
func (p *Partition) Close() error {
	p.wake()
	return p.log.Close()
}

// Delete closes and removes the log.
func (p *Partition) Delete() error {
	p.wake()
	return p.log.Delete()
}

// EndOffsetForEpoch returns the largest epoch <= epoch this replica has led
// or followed and the offset where it ended (the log end offset for the
// current epoch), or -1, -1 if epoch is newer than any known one. With one
// replica the only epoch is the current one.
func (p *Partition) EndOffsetForEpoch(epoch int32) (int32, int64) {
	cur := p.LeaderEpoch()
	if epoch > cur || epoch < 0 {
		return -1, -1
	}
	return cur, p.log.EndOffset()
}
