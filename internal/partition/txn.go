package partition

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/tributary/tributary/internal/record"
	"github.com/tributary/tributary/internal/storage"
)

// ErrCoordinatorFenced: a transaction marker carries an older coordinator
// epoch than one this partition already applied for the producer (a
// deposed transaction coordinator).
var ErrCoordinatorFenced = errors.New("transaction marker from an older coordinator epoch")

// AbortedTxn is one aborted transaction of a partition, as Fetch lists it
// for read_committed consumers: the producer, the offset of its first
// batch in the transaction and the offset of its ABORT marker.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64
}

// txnState is the partition's transaction bookkeeping (KIP-98), guarded by
// Partition.mu and rebuilt from the log on open, truncation and repair:
//
//   - ongoing: producer id → offset of its first transactional batch not
//     yet followed by a marker;
//   - completed: transactions whose marker is at or above the high
//     watermark (not yet replicated to the ISR); they stay unstable, as in
//     Kafka, until the high watermark passes the marker;
//   - aborted: every aborted transaction still in the log, in marker
//     order (the in-memory form of Kafka's .txnindex).
type txnState struct {
	ongoing   map[int64]int64
	completed []AbortedTxn // LastOffset is the marker's offset
	aborted   []AbortedTxn
}

func newTxnState() txnState { return txnState{ongoing: map[int64]int64{}} }

// observeTxn updates the transaction state with a stored batch b at base,
// under mu. controlType is the marker type of a control batch (-1
// otherwise).
func (p *Partition) observeTxn(b record.Batch, base int64, controlType int16) {
	pid := b.ProducerID()
	if pid < 0 || !b.IsTransactional() {
		return
	}
	if !b.IsControl() {
		if _, ok := p.txns.ongoing[pid]; !ok {
			p.txns.ongoing[pid] = base
		}
		return
	}
	if controlType != record.ControlAbort && controlType != record.ControlCommit {
		return // a control type this broker does not know: no transaction ends
	}
	first, ok := p.txns.ongoing[pid]
	if !ok {
		return // a marker for a producer with no open transaction here
	}
	delete(p.txns.ongoing, pid)
	t := AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: base}
	p.txns.completed = append(p.txns.completed, t)
	if controlType == record.ControlAbort {
		p.txns.aborted = append(p.txns.aborted, t)
	}
}

// lastStableOffset under mu (publish; readers take it from the snapshot):
// the high watermark, or the first offset of
// the earliest transaction that is open or whose marker is not yet
// replicated, whichever is lower.
func (p *Partition) lastStableOffset() int64 {
	lso := p.hw
	for _, first := range p.txns.ongoing {
		lso = min(lso, first)
	}
	kept := p.txns.completed[:0]
	for _, t := range p.txns.completed {
		if t.LastOffset >= p.hw {
			kept = append(kept, t)
			lso = min(lso, t.FirstOffset)
		}
	}
	clear(p.txns.completed[len(kept):])
	p.txns.completed = kept
	return lso
}

// LastStableOffset is the offset below which every transaction is decided
// (committed or aborted, its marker replicated): read_committed consumers
// read below it only. Without transactions it is the high watermark.
func (p *Partition) LastStableOffset() int64 { return p.pub.lso.Load() }

// AbortedTransactions returns the aborted transactions that overlap the
// offsets [from, upto), oldest marker first, for a read_committed Fetch.
func (p *Partition) AbortedTransactions(from, upto int64) []AbortedTxn {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := p.log.StartOffset()
	// Markers are appended in offset order: skip those before from.
	i, _ := slices.BinarySearchFunc(p.txns.aborted, from, func(t AbortedTxn, off int64) int {
		switch {
		case t.LastOffset < off:
			return -1
		case t.LastOffset > off:
			return 1
		}
		return 0
	})
	var out []AbortedTxn
	for _, t := range p.txns.aborted[i:] {
		if t.FirstOffset >= upto {
			continue
		}
		if t.LastOffset >= start {
			out = append(out, t)
		}
	}
	return out
}

// OngoingTransactions returns the first offset of every open transaction
// by producer id (DescribeProducers, tests).
func (p *Partition) OngoingTransactions() map[int64]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int64]int64, len(p.txns.ongoing))
	for k, v := range p.txns.ongoing {
		out[k] = v
	}
	return out
}

// MarkerOptions are what the transaction coordinator's WriteTxnMarkers
// says about one partition.
type MarkerOptions struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	Now              time.Time
}

// AppendMarker writes the COMMIT or ABORT control batch that ends producer
// m.ProducerID's transaction in this partition, as leader. A marker from an
// older producer epoch is ErrInvalidProducerEpoch, one from an older
// coordinator epoch than the last applied for this producer is
// ErrCoordinatorFenced. A marker for a producer with no open transaction
// here is written all the same (a coordinator retrying after a failover),
// and ends nothing.
func (p *Partition) AppendMarker(m MarkerOptions) (AppendResult, error) {
	b, err := record.Marker(m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch, m.Now.UnixMilli())
	if err != nil {
		return AppendResult{}, err
	}
	p.mu.Lock()
	if p.role.Leader != p.self {
		p.mu.Unlock()
		return AppendResult{}, ErrNotLeader
	}
	if pr := p.producers[m.ProducerID]; pr != nil {
		switch {
		case m.ProducerEpoch < pr.epoch:
			p.mu.Unlock()
			return AppendResult{}, ErrInvalidProducerEpoch
		case m.CoordinatorEpoch < pr.coordinatorEpoch:
			p.mu.Unlock()
			return AppendResult{}, ErrCoordinatorFenced
		}
	}
	epoch := p.role.LeaderEpoch
	base := p.log.EndOffset()
	b.SetBaseOffset(base)
	b.SetPartitionLeaderEpoch(epoch)
	end, err := p.log.Append(b)
	if err != nil {
		p.mu.Unlock()
		return AppendResult{}, err
	}
	typ := record.ControlAbort
	if m.Commit {
		typ = record.ControlCommit
	}
	p.observeMarker(b, m.CoordinatorEpoch)
	p.observeTxn(b, base, typ)
	moved := p.maybeAdvanceHW()
	p.publish()
	p.mu.Unlock()
	if moved {
		p.hwChanged()
	}
	p.wake()
	return AppendResult{BaseOffset: base, End: end, Epoch: epoch}, nil
}

// observeMarker applies a stored marker to its producer's state: a newer
// producer epoch (KIP-890's per-transaction bump) starts fresh sequences,
// and the coordinator epoch is remembered to fence older coordinators.
func (p *Partition) observeMarker(b record.Batch, coordinatorEpoch int32) {
	pr := p.producers[b.ProducerID()]
	if pr == nil || b.ProducerEpoch() > pr.epoch {
		pr = &producer{epoch: b.ProducerEpoch(), coordinatorEpoch: -1}
		p.producers[b.ProducerID()] = pr
	} else if b.ProducerEpoch() < pr.epoch {
		return
	}
	pr.coordinatorEpoch = max(pr.coordinatorEpoch, coordinatorEpoch)
}

// observeControl applies a stored control batch, whose records are in b
// (a follower's append, or a read when rebuilding).
func (p *Partition) observeControl(b record.Batch) error {
	if b.ProducerID() < 0 {
		return nil
	}
	typ, coordEpoch, err := b.ControlType()
	if err != nil {
		return err
	}
	if typ == record.ControlAbort || typ == record.ControlCommit {
		p.observeMarker(b, coordEpoch)
	}
	p.observeTxn(b, b.BaseOffset(), typ)
	return nil
}

// readBatch reads the whole batch at offset (a cold path: control batches
// while rebuilding state).
func (p *Partition) readBatch(offset int64) (record.Batch, error) {
	res, err := p.log.Read(offset, math.MaxInt64, 0, true)
	if err != nil {
		return nil, err
	}
	defer storage.ReleaseRead(res.Data)
	n, err := record.Peek(res.Data)
	if err != nil {
		return nil, err
	}
	if n > len(res.Data) {
		return nil, fmt.Errorf("%w: batch at %d", record.ErrTruncated, offset)
	}
	return record.Batch(slices.Clone(res.Data[:n])), nil
}
