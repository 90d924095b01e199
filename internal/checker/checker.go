// Package checker verifies a produce/consume history against the guarantees
// Tributary gives an idempotent acks=all producer (docs: design.md
// "Checker"):
//
//   - every acknowledged record is read back (none lost),
//   - exactly once (no value at two offsets: idempotence),
//   - at the offset it was acknowledged at,
//   - in offset order per partition, and in send order per producer and
//     partition,
//   - and nothing is read that was never sent (no phantoms), nor two
//     different values at one offset (no divergence).
//
// Values identify records, so every value sent must be unique. A History is
// safe for concurrent use; it imports nothing internal so any test, tool or
// fault loop can use it.
//
// It also keeps when each acknowledgement arrived, per producer and
// partition, for the availability side of a fault test: Gaps gives the
// longest time without an acknowledgement in a window.
package checker

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// History collects what producers sent and got acknowledged and what
// consumers read. The zero value is not usable; call New.
type History struct {
	mu sync.Mutex // guards every field below

	sent  map[string]sendInfo // value -> who sent it, in which order
	seq   map[string]int      // producer -> next send index
	acks  map[string]pos      // value -> acknowledged position
	ackN  int                 // Ack calls (including repeats)
	reads map[pos]string      // position -> value first read there
	// readOrder keeps, per partition, the offsets in delivery order, to
	// spot a consumer that is handed offsets out of order.
	readOrder map[int32][]int64
	divergent []string // positions read with two different values
	reAcked   []string // values acknowledged twice at different positions
	// ackTimes: per producer and partition, when acknowledgements
	// arrived, in call order.
	ackTimes map[producerPartition][]time.Time
}

type producerPartition struct {
	producer  string
	partition int32
}

type sendInfo struct {
	producer string
	index    int
}

type pos struct {
	Partition int32
	Offset    int64
}

func (p pos) String() string { return fmt.Sprintf("%d@%d", p.Partition, p.Offset) }

// New returns an empty history.
func New() *History {
	return &History{
		sent:      map[string]sendInfo{},
		seq:       map[string]int{},
		acks:      map[string]pos{},
		reads:     map[pos]string{},
		readOrder: map[int32][]int64{},
		ackTimes:  map[producerPartition][]time.Time{},
	}
}

// Sent records that producer handed value to its client, in call order. A
// producer is one idempotent client session whose records to a partition
// keep their send order. Call it before the record can be acknowledged.
func (h *History) Sent(producer, value string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.sent[value]; ok {
		return
	}
	h.sent[value] = sendInfo{producer, h.seq[producer]}
	h.seq[producer]++
}

// Ack records that value was acknowledged at partition/offset, now. A
// negative offset means acknowledged without one (librdkafka's implicit
// acknowledgements and DUPLICATE_SEQUENCE_NUMBER answers carry none): the
// value must then be read exactly once anywhere in that partition.
func (h *History) Ack(partition int32, offset int64, value string) {
	h.AckAt(partition, offset, value, time.Now())
}

// AckAt is Ack with the time the acknowledgement arrived.
func (h *History) AckAt(partition int32, offset int64, value string, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ackN++
	if si, ok := h.sent[value]; ok {
		k := producerPartition{si.producer, partition}
		h.ackTimes[k] = append(h.ackTimes[k], at)
	}
	p := pos{partition, max(offset, -1)}
	if prev, ok := h.acks[value]; ok && prev != p {
		if prev.Partition == p.Partition && (prev.Offset < 0 || p.Offset < 0) {
			p.Offset = max(prev.Offset, p.Offset) // the known offset wins
		} else {
			h.reAcked = append(h.reAcked, fmt.Sprintf("%q acknowledged at %v and %v", value, prev, p))
			return
		}
	}
	h.acks[value] = p
}

// Read records that a consumer read value at partition/offset. Reading the
// same position again (a consumer restart) is fine if the value matches.
func (h *History) Read(partition int32, offset int64, value string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := pos{partition, offset}
	if prev, ok := h.reads[p]; ok {
		if prev != value {
			h.divergent = append(h.divergent, fmt.Sprintf("%v read as %q and as %q", p, prev, value))
		}
		return
	}
	h.reads[p] = value
	h.readOrder[partition] = append(h.readOrder[partition], offset)
}

// Acknowledged is the number of distinct values acknowledged so far.
func (h *History) Acknowledged() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.acks)
}

// Gaps returns, for each partition producer has had acknowledged at any
// time, the longest stretch within [from, to] without an acknowledgement to
// that producer in that partition: the availability gap a fault caused.
// The window's ends count as boundaries, so a partition acknowledged
// nothing in the window has a gap of to-from.
func (h *History) Gaps(producer string, from, to time.Time) map[int32]time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[int32]time.Duration{}
	for k, times := range h.ackTimes {
		if k.producer != producer {
			continue
		}
		ts := slices.Clone(times)
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		longest, prev := time.Duration(0), from
		for _, t := range ts {
			if t.Before(from) || t.After(to) {
				continue
			}
			longest = max(longest, t.Sub(prev))
			prev = t
		}
		out[k.partition] = max(longest, to.Sub(prev))
	}
	return out
}

// Report is the outcome of Check. Every count but Acknowledged, Sent and
// Read must be zero for a correct history.
type Report struct {
	Sent         int // distinct values sent
	Acknowledged int // distinct values acknowledged
	Read         int // distinct positions read
	// Lost: acknowledged values never read.
	Lost int
	// Duplicated: values read at more than one position.
	Duplicated int
	// Misplaced: acknowledged values read, but at another position than
	// the acknowledged one (or acknowledged at two positions).
	Misplaced int
	// Reordered: records of one producer in one partition whose offsets
	// do not follow their send order, plus offsets a consumer was handed
	// at or below one it had already been handed in that partition.
	Reordered int
	// Phantom: values read that were never sent.
	Phantom int
	// Divergent: positions read with two different values.
	Divergent int
	// Examples describes the first few problems of each kind.
	Examples []string
}

// OK reports whether the history meets every guarantee.
func (r Report) OK() bool {
	return r.Lost == 0 && r.Duplicated == 0 && r.Misplaced == 0 && r.Reordered == 0 && r.Phantom == 0 && r.Divergent == 0
}

func (r Report) String() string {
	s := fmt.Sprintf("sent=%d acknowledged=%d read=%d lost=%d duplicated=%d misplaced=%d reordered=%d phantom=%d divergent=%d",
		r.Sent, r.Acknowledged, r.Read, r.Lost, r.Duplicated, r.Misplaced, r.Reordered, r.Phantom, r.Divergent)
	if len(r.Examples) > 0 {
		s += "\n  " + strings.Join(r.Examples, "\n  ")
	}
	return s
}

const maxExamples = 5

// Check evaluates the history collected so far. Call it once every read has
// been recorded (typically after reading each partition to its end).
func (h *History) Check() Report {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := Report{Sent: len(h.sent), Acknowledged: len(h.acks), Read: len(h.reads)}
	kinds := map[string]int{}
	example := func(kind, format string, args ...any) {
		if kinds[kind] < maxExamples {
			r.Examples = append(r.Examples, kind+": "+fmt.Sprintf(format, args...))
		}
		kinds[kind]++
	}

	// Where each value was read.
	readAt := make(map[string][]pos, len(h.reads))
	for p, v := range h.reads {
		readAt[v] = append(readAt[v], p)
	}
	for v, ps := range readAt {
		if len(ps) > 1 {
			sort.Slice(ps, func(i, j int) bool { return less(ps[i], ps[j]) })
			r.Duplicated++
			example("duplicated", "%q read at %v", v, ps)
		}
		if _, ok := h.sent[v]; !ok {
			r.Phantom++
			example("phantom", "%q read at %v was never sent", v, ps)
		}
	}
	for v, p := range h.acks {
		ps, ok := readAt[v]
		if !ok {
			r.Lost++
			example("lost", "%q acknowledged at %v never read", v, p)
			continue
		}
		found := false
		for _, q := range ps {
			found = found || q == p || (p.Offset < 0 && q.Partition == p.Partition)
		}
		if !found {
			r.Misplaced++
			example("misplaced", "%q acknowledged at %v read at %v", v, p, ps)
		}
	}
	for _, s := range h.reAcked {
		r.Misplaced++
		example("misplaced", "%s", s)
	}
	for _, s := range h.divergent {
		r.Divergent++
		example("divergent", "%s", s)
	}

	// Delivery order per partition.
	for part, offs := range h.readOrder {
		for i := 1; i < len(offs); i++ {
			if offs[i] <= offs[i-1] {
				r.Reordered++
				example("reordered", "partition %d: offset %d delivered after %d", part, offs[i], offs[i-1])
			}
		}
	}
	// Send order per producer and partition, by read offset.
	type pp struct {
		producer  string
		partition int32
	}
	last := map[pp]struct {
		index int
		off   int64
	}{}
	positions := make([]pos, 0, len(h.reads))
	for p := range h.reads {
		positions = append(positions, p)
	}
	sort.Slice(positions, func(i, j int) bool { return less(positions[i], positions[j]) })
	for _, p := range positions {
		si, ok := h.sent[h.reads[p]]
		if !ok {
			continue
		}
		k := pp{si.producer, p.Partition}
		if l, ok := last[k]; ok && si.index < l.index {
			r.Reordered++
			example("reordered", "producer %s partition %d: send #%d at offset %d, after send #%d at offset %d",
				si.producer, p.Partition, si.index, p.Offset, l.index, l.off)
			continue
		}
		last[k] = struct {
			index int
			off   int64
		}{si.index, p.Offset}
	}
	sort.Strings(r.Examples)
	return r
}

func less(a, b pos) bool {
	if a.Partition != b.Partition {
		return a.Partition < b.Partition
	}
	return a.Offset < b.Offset
}
