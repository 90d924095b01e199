// Package share serves share groups (KIP-932) on the broker side: the
// share-partitions a broker holds as leader of their topic partitions
// (which records are in flight, acquired by whom, acknowledged or
// archived), the share sessions of ShareFetch and ShareAcknowledge, and
// the share coordinator that persists share-partition state in
// __share_group_state (coordinator.go).
//
// The package never imports the broker: the broker supplies the log
// reads (Log), the state persistence path (Persister) and the clock.
package share

import (
	"errors"
	"fmt"
	"time"
)

// Record delivery states, with Kafka's persisted values
// (ShareSnapshotValue.DeliveryState).
const (
	Available    int8 = 0
	Acquired     int8 = 1
	Acknowledged int8 = 2
	Archived     int8 = 4
)

// Acknowledge types on the wire (ShareFetch/ShareAcknowledge
// AcknowledgeTypes).
const (
	AckGap     int8 = 0
	AckAccept  int8 = 1
	AckRelease int8 = 2
	AckReject  int8 = 3
	AckRenew   int8 = 4 // KIP-1222, v2 with IsRenewAck
)

// Errors of share-partition operations; internal/broker/errors.go maps
// them to Kafka codes.
var (
	// ErrInvalidRecordState: an acknowledgement names an offset that is
	// not acquired by this member (never fetched, acquired by another
	// member, already acknowledged, its lock expired, or outside the
	// in-flight window).
	ErrInvalidRecordState = errors.New("record is not acquired by this member")
	// ErrInvalidAck: acknowledgement batches that are malformed:
	// out of order or overlapping, first offset after last offset,
	// a type list of the wrong length, an unknown type.
	ErrInvalidAck = errors.New("invalid acknowledgement batches")
)

// Limits are a share-partition's tunables (group.share.* broker configs).
type Limits struct {
	MaxLocks      int           // group.share.partition.max.record.locks: in-flight window
	LockDuration  time.Duration // group.share.record.lock.duration.ms
	DeliveryLimit int16         // group.share.delivery.count.limit
}

// rec is the state of one offset of the in-flight window.
type rec struct {
	state    int8
	count    int16
	owner    string
	deadline int64 // unix nanos, while acquired
}

// Range is a run of offsets acquired with one delivery count.
type Range struct {
	First, Last int64
	Count       int16
}

// AckBatch is one acknowledgement batch as received: Types has one entry
// for the whole range or one per offset.
type AckBatch struct {
	First, Last int64
	Types       []int8
}

// StateBatch is a persisted run of offsets with one state and count.
type StateBatch struct {
	First, Last int64
	State       int8
	Count       int16
}

// Partition is one share-partition: the in-flight records of one share
// group on one topic partition. Offsets below start (the share-partition
// start offset, SPSO) are done; offsets in [start, end) are in flight
// (recs[o-start]); offsets from end on have not been acquired yet.
//
// Partition is not safe for concurrent use; the Manager serialises calls.
type Partition struct {
	lim   Limits
	start int64
	end   int64
	recs  []rec
}

// NewPartition returns a share-partition starting at start with nothing
// in flight.
func NewPartition(lim Limits, start int64) *Partition {
	return &Partition{lim: lim, start: start, end: start}
}

// SetLimits changes the limits: a new lock duration applies to records
// acquired or renewed from now, a new delivery limit to the next release
// or expiry.
func (p *Partition) SetLimits(lim Limits) { p.lim = lim }

// Start is the share-partition start offset.
func (p *Partition) Start() int64 { return p.start }

// End is the next offset never acquired yet.
func (p *Partition) End() int64 { return p.end }

// at returns the record at offset o in [start, end).
func (p *Partition) at(o int64) *rec { return &p.recs[o-p.start] }

// Expire releases acquisitions whose lock deadline passed: back to
// Available, or Archived once the delivery count reached the limit. It
// returns whether anything changed.
func (p *Partition) Expire(now time.Time) bool {
	n := now.UnixNano()
	changed := false
	for i := range p.recs {
		r := &p.recs[i]
		if r.state == Acquired && r.deadline <= n {
			p.release(r)
			changed = true
		}
	}
	if changed {
		p.advance()
	}
	return changed
}

// NextDeadline is the earliest lock deadline in flight (zero if none).
func (p *Partition) NextDeadline() time.Time {
	var min int64
	for i := range p.recs {
		if r := &p.recs[i]; r.state == Acquired && (min == 0 || r.deadline < min) {
			min = r.deadline
		}
	}
	if min == 0 {
		return time.Time{}
	}
	return time.Unix(0, min)
}

func (p *Partition) release(r *rec) {
	r.owner, r.deadline = "", 0
	if r.count >= p.lim.DeliveryLimit {
		r.state = Archived
	} else {
		r.state = Available
	}
}

// SetLogStart archives whatever lies below the log start offset (deleted
// by retention or DeleteRecords) and moves the start there.
func (p *Partition) SetLogStart(logStart int64) {
	if logStart <= p.start {
		return
	}
	if logStart >= p.end {
		p.start, p.end, p.recs = logStart, logStart, p.recs[:0]
		return
	}
	p.recs = append(p.recs[:0], p.recs[logStart-p.start:]...)
	p.start = logStart
}

// NextFetchOffset is the first offset a fetch could acquire below hw:
// the first Available record in flight, else end if the window has room;
// -1 if nothing is acquirable.
func (p *Partition) NextFetchOffset(hw int64) int64 {
	for i := range p.recs {
		if p.recs[i].state == Available {
			return p.start + int64(i)
		}
	}
	if p.end < hw && p.end < p.start+int64(p.lim.MaxLocks) {
		return p.end
	}
	return -1
}

// Acquire acquires for member up to max records in [from, to) (to is
// exclusive, the end of the data read from the log, at most the high
// watermark): Available records in flight and records never acquired,
// within the in-flight window. Each acquisition increments the delivery
// count and locks the record until now + the lock duration.
func (p *Partition) Acquire(member string, from, to int64, max int, now time.Time) []Range {
	if from < p.start {
		from = p.start
	}
	if limit := p.start + int64(p.lim.MaxLocks); to > limit {
		to = limit
	}
	deadline := now.Add(p.lim.LockDuration).UnixNano()
	var out []Range
	n := 0
	for o := from; o < to && n < max; o++ {
		if o >= p.end {
			p.recs = append(p.recs, rec{state: Available})
			p.end++
		}
		r := p.at(o)
		if r.state != Available {
			continue
		}
		r.state, r.owner, r.deadline = Acquired, member, deadline
		r.count++
		n++
		if k := len(out) - 1; k >= 0 && out[k].Last == o-1 && out[k].Count == r.count {
			out[k].Last = o
		} else {
			out = append(out, Range{First: o, Last: o, Count: r.count})
		}
	}
	return out
}

// Skip archives the records in [first, last] that are available or not
// yet acquired (aborted transactions and transaction markers under
// read_committed), within the in-flight window; records in flight
// otherwise are left alone.
func (p *Partition) Skip(first, last int64) {
	first = max(first, p.start)
	last = min(last, p.start+int64(p.lim.MaxLocks)-1)
	for o := first; o <= last; o++ {
		for o >= p.end {
			p.recs = append(p.recs, rec{state: Available})
			p.end++
		}
		if r := p.at(o); r.state == Available {
			r.state = Archived
		}
	}
	p.advance()
}

// ValidateAcks checks acknowledgement batches' shape: ascending,
// non-overlapping, first <= last, one type or one per offset, known
// types (renew only when renew is allowed).
func ValidateAcks(batches []AckBatch, renew bool) error {
	prev := int64(-1)
	for i, b := range batches {
		switch {
		case b.First < 0 || b.First > b.Last:
			return fmt.Errorf("%w: batch %d: first offset %d after last offset %d", ErrInvalidAck, i, b.First, b.Last)
		case i > 0 && b.First <= prev:
			return fmt.Errorf("%w: batch %d starts at %d, not after the previous batch's last offset %d", ErrInvalidAck, i, b.First, prev)
		case len(b.Types) != 1 && int64(len(b.Types)) != b.Last-b.First+1:
			return fmt.Errorf("%w: batch %d has %d acknowledge types for %d offsets", ErrInvalidAck, i, len(b.Types), b.Last-b.First+1)
		}
		for _, t := range b.Types {
			if t < AckGap || t > AckRenew || t == AckRenew && !renew {
				return fmt.Errorf("%w: batch %d: acknowledge type %d", ErrInvalidAck, i, t)
			}
		}
		prev = b.Last
	}
	return nil
}

// Acknowledge applies member's acknowledgements, all or nothing: every
// offset must be acquired by member (else ErrInvalidRecordState and no
// change). Accept makes a record Acknowledged, Reject and Gap Archived,
// Release Available again (Archived once its delivery count reached the
// limit), Renew extends its lock. The batches must have passed
// ValidateAcks. It returns whether durable state changed (anything but
// renewals).
func (p *Partition) Acknowledge(member string, batches []AckBatch, now time.Time) (bool, error) {
	for _, b := range batches {
		if b.First < p.start || b.Last >= p.end {
			return false, fmt.Errorf("%w: offsets %d-%d are outside the in-flight window %d-%d", ErrInvalidRecordState, b.First, b.Last, p.start, p.end-1)
		}
		for o := b.First; o <= b.Last; o++ {
			if r := p.at(o); r.state != Acquired || r.owner != member {
				return false, fmt.Errorf("%w: offset %d", ErrInvalidRecordState, o)
			}
		}
	}
	changed := false
	renewTo := now.Add(p.lim.LockDuration).UnixNano()
	for _, b := range batches {
		for o := b.First; o <= b.Last; o++ {
			t := b.Types[0]
			if len(b.Types) > 1 {
				t = b.Types[o-b.First]
			}
			r := p.at(o)
			switch t {
			case AckAccept:
				r.state, r.owner, r.deadline = Acknowledged, "", 0
			case AckReject, AckGap:
				r.state, r.owner, r.deadline = Archived, "", 0
			case AckRelease:
				p.release(r)
			case AckRenew:
				r.deadline = renewTo
				continue
			}
			changed = true
		}
	}
	p.advance()
	return changed, nil
}

// ReleaseMember releases every record member holds (its share session
// closed or it left the group). It returns whether anything changed.
func (p *Partition) ReleaseMember(member string) bool {
	changed := false
	for i := range p.recs {
		if r := &p.recs[i]; r.state == Acquired && r.owner == member {
			p.release(r)
			changed = true
		}
	}
	if changed {
		p.advance()
	}
	return changed
}

// advance moves the start past the prefix of finished records.
func (p *Partition) advance() {
	i := 0
	for i < len(p.recs) && (p.recs[i].state == Acknowledged || p.recs[i].state == Archived) {
		i++
	}
	if i == 0 {
		return
	}
	p.recs = append(p.recs[:0], p.recs[i:]...)
	p.start += int64(i)
}

// Snapshot returns the durable state: the start offset and the in-flight
// records as runs of (state, delivery count). Acquired records persist as
// Available (a new leader redelivers them), with their delivery count.
func (p *Partition) Snapshot() (int64, []StateBatch) {
	var out []StateBatch
	for i := range p.recs {
		r := &p.recs[i]
		st := r.state
		if st == Acquired {
			st = Available
		}
		o := p.start + int64(i)
		if k := len(out) - 1; k >= 0 && out[k].State == st && out[k].Count == r.count && out[k].Last == o-1 {
			out[k].Last = o
			continue
		}
		out = append(out, StateBatch{First: o, Last: o, State: st, Count: r.count})
	}
	return p.start, out
}

// Restore rebuilds a share-partition from persisted state. Batches below
// start or overlapping earlier ones are ignored; gaps between batches are
// records never delivered (Available, count 0).
func Restore(lim Limits, start int64, batches []StateBatch) *Partition {
	p := NewPartition(lim, start)
	for _, b := range batches {
		if b.Last < p.end || b.First > b.Last {
			continue
		}
		first := max(b.First, p.end)
		if first-p.start >= int64(lim.MaxLocks)*4 || b.Last-p.start >= int64(lim.MaxLocks)*4 {
			break // corrupt or foreign state: never allocate unbounded
		}
		for p.end < first {
			p.recs = append(p.recs, rec{state: Available})
			p.end++
		}
		st := b.State
		if st != Acknowledged && st != Archived {
			st = Available
		}
		for o := first; o <= b.Last; o++ {
			c := b.Count
			if st == Available && c >= lim.DeliveryLimit {
				st = Archived
			}
			p.recs = append(p.recs, rec{state: st, count: c})
			p.end++
		}
	}
	p.advance()
	return p
}

// InFlight counts the records in flight by state (for describe tools).
func (p *Partition) InFlight() (acquired, available int) {
	for i := range p.recs {
		switch p.recs[i].state {
		case Acquired:
			acquired++
		case Available:
			available++
		}
	}
	return
}
