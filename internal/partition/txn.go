package partition

import (
	"cmp"
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

// ErrTxnNotVerified: a transactional batch starts a transaction in this
// partition, and the transaction coordinator has not confirmed (KIP-890
// verification) that the partition is in the producer's ongoing
// transaction, or a marker ended that transaction after it confirmed.
var ErrTxnNotVerified = errors.New("the partition is not in the producer's ongoing transaction (not verified with the transaction coordinator)")

// AbortedTxn is one aborted transaction of a partition, as Fetch lists it
// for read_committed consumers: the producer, the offset of its first
// batch in the transaction and the offset of its ABORT marker.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64
	// LastStableOffset is the last stable offset once it was aborted
	// (the .txnindex field): the first offset of the earliest other open
	// transaction, else the offset after the marker.
	LastStableOffset int64
}

// txnState is the partition's transaction bookkeeping (KIP-98), guarded by
// Partition.mu and rebuilt from the log on open, truncation and repair:
//
//   - ongoing: producer id → offset of its first transactional batch not
//     yet followed by a marker;
//   - completed: transactions whose marker is at or above the high
//     watermark (not yet replicated to the ISR); they stay unstable, as in
//     Kafka, until the high watermark passes the marker;
//   - rebuilt: while rebuilding, the aborted transactions found, in
//     marker order, written to the segments' transaction indexes at the
//     end (RewriteTxnIndex); otherwise each abort appends its entry to
//     its segment's index (AppendTxnIndex) and the indexes, not this
//     state, are the aborted-transaction list a read_committed Fetch
//     reads (AbortedTransactions);
//   - verifying: producer id → the guard of a KIP-890 verification in
//     flight (BeginVerification), dropped by the producer's next marker or
//     first transactional append.
type txnState struct {
	ongoing   map[int64]int64
	completed []AbortedTxn // LastOffset is the marker's offset
	rebuilt   []storage.TxnIndexEntry
	verifying map[int64]*VerificationGuard
	// rebuilding: state is being rebuilt from the log; the .txnindex is
	// rewritten afterwards instead of appended to.
	rebuilding bool
}

func newTxnState() txnState {
	return txnState{ongoing: map[int64]int64{}, verifying: map[int64]*VerificationGuard{}}
}

// VerificationGuard stands for one KIP-890 verification of a producer's
// transaction in this partition: the leader takes it before asking the
// transaction coordinator whether the partition is in the producer's
// ongoing transaction (or, for transaction version 2, has it added), and
// appends the batch with it once the coordinator agrees. A marker for
// the producer written meanwhile (the transaction ended or was aborted
// after the coordinator answered) drops the guard, so the late batch is
// refused instead of opening a transaction no coordinator will end (a
// hanging transaction). Compared by identity.
//
// Which markers drop it depends on how the producer ends transactions. A
// verification (transaction version 0-1: the client added the partition
// itself) confirms a transaction already open at the coordinator, so
// every later marker of the producer at the guard's epoch or newer ends
// it. An addition (transaction version 2) may wait at the coordinator for
// the producer's previous transaction to finish ending; that one's marker
// carries the epoch its end bumped to, the guard's own epoch, and must
// not drop it: only a newer epoch's marker ends the transaction the
// addition opened (version 2 ends bump the epoch).
type VerificationGuard struct {
	producerID int64
	epoch      int16
	add        bool
	// leaderEpoch is the replica's leader epoch when it was taken.
	leaderEpoch int32
}

// endedBy reports whether a marker of the guard's producer at epoch ends
// the transaction the guard stands for.
func (g *VerificationGuard) endedBy(epoch int16) bool {
	if g.add {
		return epoch > g.epoch
	}
	return epoch >= g.epoch
}

// needsVerification under mu: a transactional batch of pid at epoch starts
// a transaction here unless one of the producer's, at that epoch, is open.
func (p *Partition) needsVerification(pid int64, epoch int16) bool {
	if _, ok := p.txns.ongoing[pid]; !ok {
		return true
	}
	pr := p.producers[pid]
	return pr == nil || pr.epoch != epoch
}

// BeginVerification returns the guard a transactional batch of producer
// pid at epoch must be appended with (AppendOptions.Verification) after
// the transaction coordinator confirmed the partition is in the
// transaction (add false) or added it (add true, transaction version 2),
// or nil when no confirmation is needed: the producer has a transaction
// open here at that epoch. Concurrent requests of one producer share a
// guard.
func (p *Partition) BeginVerification(pid int64, epoch int16, add bool) *VerificationGuard {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.needsVerification(pid, epoch) {
		return nil
	}
	if g := p.txns.verifying[pid]; g != nil && g.epoch == epoch && g.add == add {
		return g
	}
	g := &VerificationGuard{producerID: pid, epoch: epoch, add: add, leaderEpoch: p.role.LeaderEpoch}
	p.txns.verifying[pid] = g
	return g
}

// checkVerified under mu: a client's transactional batch b may be
// appended.
func (p *Partition) checkVerified(b record.Batch, g *VerificationGuard, unverified bool) error {
	pid := b.ProducerID()
	if unverified {
		return nil
	}
	if !p.needsVerification(pid, b.ProducerEpoch()) {
		return nil
	}
	if g != nil && p.txns.verifying[pid] != g && g.leaderEpoch != p.role.LeaderEpoch {
		// Leadership moved while the coordinator was asked (the state
		// was rebuilt, guards and all): the producer retries and is
		// verified again rather than failing its transaction.
		return ErrNotLeader
	}
	if g == nil || p.txns.verifying[pid] != g || g.epoch != b.ProducerEpoch() {
		return ErrTxnNotVerified
	}
	return nil
}

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
	t := AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: base, LastStableOffset: base + 1}
	for _, f := range p.txns.ongoing {
		t.LastStableOffset = min(t.LastStableOffset, f)
	}
	p.txns.completed = append(p.txns.completed, t)
	if controlType == record.ControlAbort {
		if p.txns.rebuilding {
			p.txns.rebuilt = append(p.txns.rebuilt, txnIndexEntry(t))
		} else {
			// Before the state is published: a fetch that reads past
			// the marker finds the entry. A failed file write leaves
			// the entry in the segment's index (storage logs it); the
			// file is rewritten when the state is next rebuilt (open,
			// truncation, repair).
			_ = p.log.AppendTxnIndex(txnIndexEntry(t))
		}
	}
}

func txnIndexEntry(t AbortedTxn) storage.TxnIndexEntry {
	return storage.TxnIndexEntry{ProducerID: t.ProducerID, FirstOffset: t.FirstOffset, LastOffset: t.LastOffset, LastStableOffset: t.LastStableOffset}
}

// rewriteTxnIndex makes the segments' transaction indexes match the
// aborted transactions rebuilt from the log. Under mu.
func (p *Partition) rewriteTxnIndex() {
	// The indexes in memory are set even if a file write fails; the
	// files are retried at the next rebuild.
	_ = p.log.RewriteTxnIndex(p.txns.rebuilt)
	p.txns.rebuilt = nil
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

// AbortedTransactions returns the aborted transactions a read_committed
// Fetch that read the offsets [from, upto) lists, oldest marker first,
// from the transaction indexes of the segments holding them (Kafka's rule,
// storage.Log.AbortedTxns). Without mu: each abort's entry is in its
// segment's index before the state that makes the marker readable is
// published, and truncation drops the entries it cuts.
func (p *Partition) AbortedTransactions(from, upto int64) []AbortedTxn {
	es := p.log.AbortedTxns(from, upto)
	out := make([]AbortedTxn, len(es))
	for i, e := range es {
		out[i] = AbortedTxn{ProducerID: e.ProducerID, FirstOffset: e.FirstOffset, LastOffset: e.LastOffset, LastStableOffset: e.LastStableOffset}
	}
	return out
}

// ProducerState is one producer's state in this partition, as
// DescribeProducers reports it.
type ProducerState struct {
	ProducerID    int64
	ProducerEpoch int16
	// LastSequence is the last sequence of its last batch (-1: none
	// since its last epoch bump, e.g. only a marker).
	LastSequence     int32
	LastTimestamp    int64
	CoordinatorEpoch int32 // of the last marker applied; -1 none
	// CurrentTxnStartOffset is the first offset of its open transaction
	// here, -1 none.
	CurrentTxnStartOffset int64
}

// Producers returns the state of every producer this replica tracks, by
// producer id.
func (p *Partition) Producers() []ProducerState {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ProducerState, 0, len(p.producers))
	for pid, pr := range p.producers {
		s := ProducerState{ProducerID: pid, ProducerEpoch: pr.epoch, LastSequence: -1, LastTimestamp: pr.lastTimestamp,
			CoordinatorEpoch: pr.coordinatorEpoch, CurrentTxnStartOffset: -1}
		if n := len(pr.recent); n > 0 {
			s.LastSequence = pr.recent[n-1].lastSeq
		}
		if first, ok := p.txns.ongoing[pid]; ok {
			s.CurrentTxnStartOffset = first
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b ProducerState) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
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
	pr.lastTimestamp = b.MaxTimestamp()
	// The transaction a verification in flight confirmed may be over.
	if g := p.txns.verifying[b.ProducerID()]; g != nil && g.endedBy(b.ProducerEpoch()) {
		delete(p.txns.verifying, b.ProducerID())
	}
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
