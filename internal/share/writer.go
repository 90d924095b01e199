package share

// State writes, coalesced per group (group commit).
//
// Every share-partition of a group keeps its state in one partition of
// __share_group_state, so a group's changes go out as one
// WriteShareGroupState (one record batch, one fsync and ISR round). A
// group has at most one write in flight: share-partitions changed while
// it is in flight join the next write, which starts as soon as the
// current one is done and carries a snapshot of each, taken when it
// starts (so it holds every change applied before). Without this, each
// acknowledgement waited for its own write, one after another per
// share-partition, and concurrent consumers of one partition queued
// behind each other's fsyncs.
//
// Durability is unchanged (KIP-932): an acknowledgement is answered only
// once a write holding it is durable, because its request waits for the
// write it joined (flush.done). Changes made without an acknowledgement
// (expired locks, acquisitions) ride along with the next write, as
// before.
//
// Concurrency: Manager.mu guards writers and each groupWriter; a flush's
// parts are fixed once it is taken from groupWriter.next, and res is
// written before done closes (readers read it after). The writer
// goroutine takes each sp.mu in turn to snapshot, never with Manager.mu
// held, and holds no lock while writing.

import (
	"context"
	"errors"
	"sort"

	"github.com/tributary/tributary/internal/safe"
)

// ErrStateReloaded: a share-partition's in-memory state was dropped and
// reloaded (its leadership moved, its state was altered, or an earlier
// write failed) between an acknowledgement and the write meant to
// persist it; the acknowledgement did not persist and the client retries.
var ErrStateReloaded = errors.New("the share-partition was reloaded before the acknowledgement was persisted")

var errWritePanicked = errors.New("the share state write failed unexpectedly")

// groupWriter is the write state of one group.
type groupWriter struct {
	running bool   // a writer goroutine is running (runWriter)
	next    *flush // the write being gathered, nil if none
}

// flush is one coalesced write.
type flush struct {
	parts map[*sharePart]struct{}
	done  chan struct{}
	res   map[*sharePart]flushResult
}

// flushResult is a share-partition's outcome in a flush: the write's
// error, and the generation of the state that was written.
type flushResult struct {
	gen uint64
	err error
}

// enqueueWrite adds sps to group's next write, starting a writer if none
// runs, and returns that write.
func (m *Manager) enqueueWrite(group string, sps []*sharePart) *flush {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.writers[group]
	if w == nil {
		w = &groupWriter{}
		m.writers[group] = w
	}
	if w.next == nil {
		w.next = &flush{parts: map[*sharePart]struct{}{}, done: make(chan struct{})}
	}
	f := w.next
	for _, sp := range sps {
		f.parts[sp] = struct{}{}
	}
	if !w.running {
		w.running = true
		safe.Go(m.log, "share-state-writer", func() { m.runWriter(group, w) })
	}
	return f
}

// runWriter performs group's writes one at a time until none is pending.
func (m *Manager) runWriter(group string, w *groupWriter) {
	for {
		m.mu.Lock()
		f := w.next
		if f == nil {
			w.running = false
			delete(m.writers, group)
			m.mu.Unlock()
			return
		}
		w.next = nil
		m.mu.Unlock()
		safe.Run(m.log, "share-state-write", func() { m.writeFlush(group, f) })
	}
}

// writeFlush snapshots f's share-partitions and writes them in one
// Persister.Write. A share-partition that is no longer the loaded one
// (moved, reset) is not written; one whose write failed is dropped from
// memory, to be reloaded from the stored state on next use.
func (m *Manager) writeFlush(group string, f *flush) {
	f.res = make(map[*sharePart]flushResult, len(f.parts))
	finished := false
	defer func() {
		if !finished { // a panic (runWriter recovers it): nothing is known to be written
			for sp := range f.parts {
				f.res[sp] = flushResult{err: errWritePanicked}
			}
		}
		close(f.done)
	}()
	sps := make([]*sharePart, 0, len(f.parts))
	for sp := range f.parts {
		sps = append(sps, sp)
	}
	sort.Slice(sps, func(i, j int) bool {
		return tidp{sps[i].key.tid, sps[i].key.p}.less(tidp{sps[j].key.tid, sps[j].key.p})
	})
	var writes []PartitionWrite
	var written []*sharePart
	for _, sp := range sps {
		m.mu.Lock()
		cur := m.parts[sp.key]
		m.mu.Unlock()
		sp.mu.Lock()
		if cur != sp || sp.p == nil {
			f.res[sp] = flushResult{err: ErrStateReloaded}
		} else {
			f.res[sp] = flushResult{gen: sp.gen}
			writes = append(writes, sp.write())
			written = append(written, sp)
		}
		sp.mu.Unlock()
	}
	failed := false
	if len(writes) > 0 {
		errs := m.cfg.Persister.Write(context.Background(), group, writes)
		for i, sp := range written {
			if errs[i] == nil {
				continue
			}
			r := f.res[sp]
			r.err = errs[i]
			f.res[sp] = r
			// Memory is ahead of the stored state: reload on next use
			// so nothing unpersisted is trusted (unless it was
			// reloaded meanwhile).
			sp.mu.Lock()
			if sp.gen == r.gen {
				sp.p = nil
			}
			sp.mu.Unlock()
			m.log.Warn("share-partition: persisting state", "group", group, "partition", sp.key.p, "err", errs[i])
			failed = true
		}
	}
	if failed {
		// Reloading makes the member's unpersisted records available
		// again: wake waiting fetches.
		go m.notify() // safe: takes m.mu briefly
	}
	finished = true
}
