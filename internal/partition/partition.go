// Package partition is one replica of a topic partition on this broker: it
// assigns offsets (as leader), appends fetched batches (as follower),
// enforces idempotent-producer sequences, and keeps Kafka's replica state:
// leader epoch, ISR, follower log end offsets and the high watermark.
//
// The partition owns its log: nothing outside this package holds the
// *storage.Log. Every read (Read, OffsetForTimestamp, ...), append,
// truncation, DeleteRecords and log start move goes through a Partition
// method, so the rules that tie the log to the replica state (consumers
// read below the high watermark, DeleteRecords stops at it, a follower's
// high watermark never passes its log end, a truncation lowers it) hold in
// one place.
//
// Concurrency (lock order: mu, then the log's own locks; watchMu and hwMu
// are leaves, never held while taking another lock):
//
//   - mu serializes every change of the replica: appends (offset
//     assignment, the producer-state check and the log write happen
//     atomically), truncation, reset, repair, DeleteRecords, role and ISR
//     changes. It guards every field declared below it. It is held across
//     log writes, never across a wait (Sync, WaitCommitted's sleep).
//   - pub is the published snapshot (leader, leader epoch, high watermark,
//     last stable offset), written under mu after each change of those
//     (a sequence lock: no allocation, so an append costs none) and read
//     with no lock (Snapshot, HighWatermark, IsLeader, ...). The log start
//     and end come from the log's own lock-free bounds. A fetch takes no
//     partition mutex.
//   - Reads of the log take no partition lock; the log has its own.
//   - watchMu guards watchers: an append or high-watermark move does a
//     non-blocking send on each.
//   - hwMu guards hwCh and hwTaken; hwCh is closed and replaced (after pub is stored) whenever
//     the high watermark or the role changes.
//
// Callers above (the broker's group and transaction coordinators) may hold
// their own locks while calling in (group → partition → log); this package
// never calls out while holding mu.
package partition

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary/tributary/internal/record"
	"github.com/tributary/tributary/internal/storage"
)

// Errors the broker maps to wire codes.
var (
	ErrOutOfOrderSequence   = errors.New("out of order sequence number")
	ErrInvalidProducerEpoch = errors.New("producer epoch is older than the current one")
	ErrMessageTooLarge      = errors.New("batch is larger than max.message.bytes")
	ErrControlBatch         = errors.New("clients may not write control batches")
	ErrNotLeader            = errors.New("this broker is not the partition leader")
	ErrNotEnoughReplicas    = errors.New("fewer in-sync replicas than min.insync.replicas")
	ErrOffline              = errors.New("partition offline: its replicas' logs are offline (storage error) and no in-sync replica can lead")
	// ErrNotFollowing refuses a follower fetcher's write made for a
	// leader epoch this replica no longer follows under.
	ErrNotFollowing = errors.New("this replica no longer follows that leader epoch")
)

// Partition is a replica on this broker.
type Partition struct {
	Topic string
	Index int32
	self  int32

	log *storage.Log

	pub published

	mu        sync.Mutex
	producers map[int64]*producer
	txns      txnState // txn.go
	role      Role
	hw        int64
	followers map[int32]*follower // leader only: other replicas
	// expanding holds followers the leader has asked the controller to add
	// to the ISR (Kafka's "maximal ISR", KIP-497), all marked under the
	// current role's partition epoch: they count for the high watermark
	// from the moment they qualify, because the controller may elect them
	// as soon as the change commits. Without this, records the new member
	// lacked were acknowledged meanwhile and lost when it was elected (a
	// reassignment that completed and elected the re-added replica).
	//
	// A mark ends only when the controller's answer is known here: SetRole
	// applies a newer partition epoch (the change is in the applied ISR,
	// or it can no longer commit: the controller refuses a change made
	// against an older partition epoch), or the change was refused
	// (EndISRExpansion). Not when the proposal returns: the controller's
	// ISR has the follower from its commit on, and this replica's role
	// only from its reconcile, later; ending the mark in between let the
	// high watermark pass records the new member lacked, and a rolling
	// restart that saw the full ISR and stopped the leader right then
	// elected it (acknowledged records lost; docs/DURABILITY.md).
	expanding map[int32]bool

	watchMu  sync.Mutex
	watchers map[chan struct{}]struct{}

	hwMu sync.Mutex
	hwCh chan struct{}
	// hwTaken: hwWait handed hwCh out since it was made; hwChanged
	// replaces it only then, so an append nobody waits on allocates no
	// channel.
	hwTaken bool
}

// published is the part of the replica state readers take without mu: a
// sequence lock whose writers (publish) are serialized by mu. seq is odd
// while a write is in progress; a reader retries until it reads the same
// even seq before and after the fields. Every field is atomic, so the
// memory model orders the fields' stores between seq's.
type published struct {
	seq                 atomic.Uint64
	leader, leaderEpoch atomic.Int32
	hw, lso             atomic.Int64
}

// pubState is one consistent read of published.
type pubState struct {
	leader, leaderEpoch int32
	hw, lso             int64
}

func (pb *published) load() pubState {
	for {
		s := pb.seq.Load()
		if s&1 == 0 {
			v := pubState{pb.leader.Load(), pb.leaderEpoch.Load(), pb.hw.Load(), pb.lso.Load()}
			if pb.seq.Load() == s {
				return v
			}
		}
		runtime.Gosched() // a writer is between its two seq stores
	}
}

func (pb *published) store(v pubState) {
	pb.seq.Add(1)
	pb.leader.Store(v.leader)
	pb.leaderEpoch.Store(v.leaderEpoch)
	pb.hw.Store(v.hw)
	pb.lso.Store(v.lso)
	pb.seq.Add(1)
}

// Snapshot is the replica's state for readers that take no lock: each
// field is current when read, and the fields were published together
// except the log start and end, which come from the log (so a truncation
// or a retention pass may fall between them and the rest).
type Snapshot struct {
	Leader           int32 // -1: none known
	LeaderEpoch      int32
	IsLeader         bool // Leader is this broker
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	LogEndOffset     int64
}

// Role is what the metadata says about this partition.
type Role struct {
	Leader         int32 // -1: offline
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
}

type follower struct {
	leo            int64 // next offset it needs; -1 unknown
	lastCaughtUp   time.Time
	lastFetch      time.Time
	leoAtLastFetch int64 // leader LEO when it last fetched
}

// Open opens the partition on log and rebuilds producer state from the batch
// headers. self is this broker's id. It starts with no role (not leader).
func Open(topic string, index int32, self int32, log *storage.Log) (*Partition, error) {
	p := &Partition{Topic: topic, Index: index, self: self, log: log, producers: map[int64]*producer{}, txns: newTxnState(),
		watchers: map[chan struct{}]struct{}{}, hwCh: make(chan struct{}), role: Role{Leader: -1, LeaderEpoch: -1}}
	p.hw = readHW(log)
	if err := p.rebuildProducers(); err != nil {
		// Unreadable batch headers: the replica opens offline (the
		// broker reports it and repairs it from the leader) rather than
		// not at all.
		log.MarkOffline(fmt.Errorf("rebuilding producer state: %w", err))
	}
	p.publish()
	return p, nil
}

// readHW is the high watermark a replica starts with: its recovery point is
// a safe lower bound; the leader moves it on.
func readHW(l *storage.Log) int64 { return min(l.RecoveryPoint(), l.EndOffset()) }

func (p *Partition) rebuildProducers() error {
	p.producers = map[int64]*producer{}
	p.txns = newTxnState()
	p.txns.rebuilding = true
	var markerErr error
	err := p.log.ScanHeaders(p.log.StartOffset(), func(b record.Batch) bool {
		switch {
		case b.ProducerID() < 0:
		case b.IsControl():
			// The header does not say commit or abort: read the batch.
			var full record.Batch
			if full, markerErr = p.readBatch(b.BaseOffset()); markerErr == nil {
				markerErr = p.observeControl(full)
			}
			return markerErr == nil
		default:
			p.observe(b, b.BaseOffset())
			p.observeTxn(b, b.BaseOffset(), -1)
		}
		return true
	})
	if err == nil {
		err = markerErr
	}
	p.txns.rebuilding = false
	if err == nil {
		p.rewriteTxnIndex()
	}
	p.txns.rebuilt = nil
	return err
}

// publish stores the state readers see without mu. Under mu, after every
// change of the role, the high watermark or the transaction state, and
// before hwChanged wakes waiters.
func (p *Partition) publish() {
	lso := p.lastStableOffset()
	p.pub.store(pubState{leader: p.role.Leader, leaderEpoch: p.role.LeaderEpoch, hw: p.hw, lso: lso})
	p.log.SetCleanupLimits(p.hw, lso) // retention and the cleaner leave what is not committed
}

// Snapshot returns the replica's state without taking mu.
func (p *Partition) Snapshot() Snapshot {
	pb := p.pub.load()
	return Snapshot{
		Leader: pb.leader, LeaderEpoch: pb.leaderEpoch, IsLeader: pb.leader == p.self,
		HighWatermark: pb.hw, LastStableOffset: pb.lso,
		LogStartOffset: p.log.StartOffset(), LogEndOffset: p.log.EndOffset(),
	}
}

// LeaderEpoch is the current leader epoch.
func (p *Partition) LeaderEpoch() int32 { return p.pub.leaderEpoch.Load() }

// Role returns the current role.
func (p *Partition) Role() Role {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.role
}

// IsLeader reports whether this replica leads.
func (p *Partition) IsLeader() bool { return p.pub.leader.Load() == p.self }

// HighWatermark is the offset below which records are committed: every ISR
// member has them. Consumers read below it only.
func (p *Partition) HighWatermark() int64 { return p.pub.hw.Load() }

// SetRole applies the metadata's view of this partition. It returns true
// when this replica became leader or follower under a new epoch (the broker
// then starts or stops fetching). Stale roles (older leader epoch) are
// ignored.
//
// Every role it applies wakes the acks=all waiters and fetch long polls,
// not only a new epoch: an ISR shrink (the leader's own or the controller's
// fencing of a silent broker) or a reassignment that drops a replica can
// move the high watermark, and the waiters must see it then rather than at
// their request timeout.
func (p *Partition) SetRole(r Role, now time.Time) (changed bool) {
	applied := false
	p.mu.Lock()
	defer func() {
		p.mu.Unlock()
		if applied {
			p.hwChanged()
		}
	}()
	old := p.role
	if r.LeaderEpoch < old.LeaderEpoch || (r.LeaderEpoch == old.LeaderEpoch && r.PartitionEpoch < old.PartitionEpoch) {
		return false
	}
	applied = true
	r.Replicas = slices.Clone(r.Replicas)
	r.ISR = slices.Clone(r.ISR)
	p.role = r
	newEpoch := r.LeaderEpoch != old.LeaderEpoch || r.Leader != old.Leader
	if newEpoch || r.PartitionEpoch != old.PartitionEpoch {
		// The controller's word on the partition epoch the marks were
		// made under: the ISR applied here now has every change that
		// committed, and a change proposed against the older epoch is
		// refused.
		p.expanding = nil
	}
	if r.Leader == p.self {
		if newEpoch || p.followers == nil {
			p.followers = map[int32]*follower{}
		}
		for _, id := range r.Replicas {
			if id == p.self {
				continue
			}
			if _, ok := p.followers[id]; !ok {
				// ISR members count as caught up at the start of a term.
				p.followers[id] = &follower{leo: -1, lastCaughtUp: now, leoAtLastFetch: -1}
			}
		}
		for id := range p.followers {
			if !slices.Contains(r.Replicas, id) {
				delete(p.followers, id)
			}
		}
		p.maybeAdvanceHW()
	} else {
		p.followers = nil
	}
	p.publish()
	return newEpoch
}

// maybeAdvanceHW moves the leader's high watermark to the smallest log end
// offset among ISR members. Under mu. It reports whether it moved.
func (p *Partition) maybeAdvanceHW() bool {
	if p.role.Leader != p.self {
		return false
	}
	hw := p.log.EndOffset()
	for _, id := range p.role.ISR {
		if id == p.self {
			continue
		}
		f := p.followers[id]
		if f == nil || f.leo < 0 {
			return false
		}
		hw = min(hw, f.leo)
	}
	for id := range p.expanding {
		if f := p.followers[id]; f != nil && f.leo >= 0 {
			hw = min(hw, f.leo)
		}
	}
	if hw > p.hw {
		p.hw = hw
		return true
	}
	return false
}

// hwChanged wakes acks=all waiters and fetch long polls: consumers read
// below the high watermark, so new data becomes visible to them when it
// moves, not at the append.
func (p *Partition) hwChanged() {
	p.hwMu.Lock()
	if p.hwTaken {
		close(p.hwCh)
		p.hwCh = make(chan struct{})
		p.hwTaken = false
	}
	p.hwMu.Unlock()
	p.wake()
}

// hwWait returns a channel closed at the next high watermark or role change.
func (p *Partition) hwWait() <-chan struct{} {
	p.hwMu.Lock()
	defer p.hwMu.Unlock()
	p.hwTaken = true
	return p.hwCh
}

// WaitCommitted waits until offsets below end are committed (high watermark
// at or past end) while this replica leads under epoch. It fails with
// ErrNotLeader if leadership moves, and returns false on timeout.
func (p *Partition) WaitCommitted(end int64, epoch int32, done <-chan time.Time) (bool, error) {
	committed := func() (bool, error) {
		p.mu.Lock()
		hw, leading := p.hw, p.role.Leader == p.self && p.role.LeaderEpoch == epoch
		p.mu.Unlock()
		if !leading {
			return false, ErrNotLeader
		}
		return hw >= end, nil
	}
	for {
		// Check before taking the channel (taking it makes the next
		// change allocate a new one), and again after, so a change in
		// between is not missed.
		if ok, err := committed(); ok || err != nil {
			return ok, err
		}
		ch := p.hwWait()
		if ok, err := committed(); ok || err != nil {
			return ok, err
		}
		select {
		case <-ch:
		case <-done:
			return false, nil
		}
	}
}

// ISRSize is the number of in-sync replicas.
func (p *Partition) ISRSize() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.role.ISR)
}

// InISR reports whether replica id is in the ISR.
func (p *Partition) InISR(id int32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Contains(p.role.ISR, id)
}

// AppendOptions carry the topic settings an append obeys.
type AppendOptions struct {
	MaxMessageBytes int
	// LogAppendTime, if >= 0, is stamped on the batch as its timestamp.
	LogAppendTime int64
	// MinISR, if > 0, refuses the append with ErrNotEnoughReplicas when the
	// ISR is smaller (acks=all).
	MinISR int
	// Coordinator marks a transactional batch the group coordinator
	// writes for a producer (TxnOffsetCommit): it carries no sequence, so
	// only the producer epoch is checked (txn.go), and the KIP-890
	// verification below as for a client's batch.
	Coordinator bool
	// Verification is the guard of a client's transactional batch that
	// starts a transaction here (BeginVerification, txn.go); without a
	// current one such a batch is ErrTxnNotVerified.
	Verification *VerificationGuard
	// Unverified lets such a batch open a transaction without one
	// (transaction.partition.verification.enable=false: Kafka before
	// KIP-890, where hanging transactions are possible).
	Unverified bool
}

// AppendResult describes a stored batch.
type AppendResult struct {
	BaseOffset int64
	// End is the log end offset after the append (after the original
	// batch for a duplicate); Sync(End) makes it durable and
	// WaitCommitted(End, Epoch) waits for the ISR.
	End   int64
	Epoch int32
	// Duplicate is set when an idempotent retry matched a stored batch; the
	// batch was not written again and BaseOffset is the original one.
	Duplicate bool
}

// Append assigns offsets to the validated batch b and writes it, as leader.
// b is modified in place (base offset, leader epoch, maybe timestamp).
func (p *Partition) Append(b record.Batch, opts AppendOptions) (AppendResult, error) {
	if b.IsControl() {
		return AppendResult{}, ErrControlBatch
	}
	if opts.MaxMessageBytes > 0 && len(b) > opts.MaxMessageBytes {
		return AppendResult{}, ErrMessageTooLarge
	}
	p.mu.Lock()
	if p.role.Leader != p.self {
		p.mu.Unlock()
		return AppendResult{}, ErrNotLeader
	}
	epoch := p.role.LeaderEpoch
	pid := b.ProducerID()
	// Idempotence before min.insync.replicas: a retry of a batch that is
	// already written gets its offset even while the ISR is short, never
	// NOT_ENOUGH_REPLICAS, which tells the client it was not written (a
	// client that then renumbers it under a new epoch would write it
	// twice). acks=all still waits for the original to be committed.
	if pid >= 0 && opts.Coordinator {
		if pr := p.producers[pid]; pr != nil && b.ProducerEpoch() < pr.epoch {
			p.mu.Unlock()
			return AppendResult{}, ErrInvalidProducerEpoch
		}
		if b.IsTransactional() {
			if err := p.checkVerified(b, opts.Verification, opts.Unverified); err != nil {
				p.mu.Unlock()
				return AppendResult{}, err
			}
		}
	} else if pid >= 0 {
		dup, err := p.checkSequence(b)
		if err != nil {
			p.mu.Unlock()
			return AppendResult{}, err
		}
		if dup >= 0 {
			p.mu.Unlock()
			return AppendResult{BaseOffset: dup, End: dup + int64(b.LastOffsetDelta()) + 1, Epoch: epoch, Duplicate: true}, nil
		}
		if b.IsTransactional() {
			if err := p.checkVerified(b, opts.Verification, opts.Unverified); err != nil {
				p.mu.Unlock()
				return AppendResult{}, err
			}
		}
	}
	if opts.MinISR > 0 && len(p.role.ISR) < opts.MinISR {
		p.mu.Unlock()
		return AppendResult{}, ErrNotEnoughReplicas
	}
	base := p.log.EndOffset()
	b.SetBaseOffset(base)
	b.SetPartitionLeaderEpoch(epoch)
	if opts.LogAppendTime >= 0 {
		b.SetLogAppendTime(opts.LogAppendTime)
	}
	end, err := p.log.Append(b)
	if err != nil {
		p.mu.Unlock()
		return AppendResult{}, err
	}
	if pid >= 0 {
		if !opts.Coordinator {
			p.observe(b, base)
			if b.IsTransactional() {
				delete(p.txns.verifying, pid) // the transaction is open here now
			}
		} else {
			if pr := p.producers[pid]; pr == nil || b.ProducerEpoch() > pr.epoch {
				p.producers[pid] = &producer{epoch: b.ProducerEpoch(), coordinatorEpoch: -1}
			}
			if b.IsTransactional() {
				delete(p.txns.verifying, pid)
			}
		}
		p.observeTxn(b, base, -1)
	}
	moved := p.maybeAdvanceHW()
	if moved || b.IsTransactional() {
		p.publish()
	}
	p.mu.Unlock()
	p.log.StartWriteback() // outside mu: it may block on the device
	if moved {
		p.hwChanged()
	}
	p.wake()
	return AppendResult{BaseOffset: base, End: end, Epoch: epoch}, nil
}

// AppendReplica appends batches fetched from the leader, keeping their
// offsets, as follower. Batches below the log end are skipped; a gap or a
// corrupt batch stops the append with an error.
func (p *Partition) AppendReplica(data []byte) (int64, error) {
	return p.AppendReplicaAt(-1, data)
}

// following reports whether this replica follows under leader epoch
// (any epoch if epoch < 0). Under mu.
func (p *Partition) following(epoch int32) bool {
	return epoch < 0 || (p.role.Leader != p.self && p.role.LeaderEpoch == epoch)
}

// AppendReplicaAt is AppendReplica for a fetch made under leader epoch:
// ErrNotFollowing, and nothing written, if the replica's role moved on
// since (checked under the same lock as SetRole). A fetch response read
// from the old leader and appended after this replica followed a new one
// (after its truncation against the new leader) kept the old leader's
// divergent tail, and the next fetch offset made the new leader count it
// as a copy of its own records at those offsets.
func (p *Partition) AppendReplicaAt(epoch int32, data []byte) (int64, error) {
	defer p.log.StartWriteback() // after mu is released: it may block on the device
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.following(epoch) {
		return p.log.EndOffset(), ErrNotFollowing
	}
	defer p.publish() // transaction state (the high watermark is SetFollowerHW's)
	for len(data) > 0 {
		n, err := record.Peek(data)
		if err != nil {
			return p.log.EndOffset(), err
		}
		b := record.Batch(data[:n])
		data = data[n:]
		if !b.CheckCRC() {
			return p.log.EndOffset(), record.ErrCorrupt
		}
		end := p.log.EndOffset()
		if b.LastOffset() < end {
			continue
		}
		if b.BaseOffset() != end {
			return end, storage.ErrBadOffset
		}
		if _, err := p.log.Append(b); err != nil {
			return end, err
		}
		switch {
		case b.ProducerID() < 0:
		case b.IsControl():
			if err := p.observeControl(b); err != nil {
				return p.log.EndOffset(), err
			}
		default:
			p.observe(b, b.BaseOffset())
			p.observeTxn(b, b.BaseOffset(), -1)
		}
	}
	return p.log.EndOffset(), nil
}

// SetFollowerHW moves a follower's high watermark to the leader's, bounded
// by its own log end.
func (p *Partition) SetFollowerHW(leaderHW int64) { p.SetFollowerHWAt(-1, leaderHW) }

// SetFollowerHWAt is SetFollowerHW for a fetch made under leader epoch;
// nothing changes if the replica's role moved on since.
func (p *Partition) SetFollowerHWAt(epoch int32, leaderHW int64) {
	p.mu.Lock()
	hw := min(leaderHW, p.log.EndOffset())
	moved := hw > p.hw && p.following(epoch)
	if moved {
		p.hw = hw
		p.publish()
	}
	p.mu.Unlock()
	if moved {
		p.hwChanged()
	}
}

// TruncateTo drops every record at or above offset (a follower's divergent
// tail) and rebuilds producer state. Waiters re-evaluate the lowered high
// watermark.
func (p *Partition) TruncateTo(offset int64) error { return p.TruncateToAt(-1, offset) }

// TruncateToAt is TruncateTo for a truncation worked out under leader
// epoch: ErrNotFollowing, and nothing cut, if the replica's role moved on
// since (a replica elected leader meanwhile keeps its log).
func (p *Partition) TruncateToAt(epoch int32, offset int64) error {
	defer p.hwChanged() // after mu is released
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.following(epoch) {
		return ErrNotFollowing
	}
	if offset >= p.log.EndOffset() {
		return nil
	}
	if err := p.log.TruncateTo(offset); err != nil {
		return err
	}
	// The log keeps whole batches, so it may end below offset.
	p.hw = min(p.hw, p.log.EndOffset())
	err := p.rebuildProducers()
	p.publish()
	return err
}

// Offline returns why the replica's log is offline (a storage fault), or
// nil.
func (p *Partition) Offline() error { return p.log.Offline() }

// Repair cuts the log before its first invalid batch and brings it back
// online (storage.Log.Repair); the replica then re-fetches the rest from
// the leader as a follower. It returns the new log end offset.
func (p *Partition) Repair() (int64, error) {
	defer p.hwChanged() // after mu is released
	p.mu.Lock()
	defer p.mu.Unlock()
	end, err := p.log.Repair()
	if err != nil {
		return 0, err
	}
	p.hw = min(p.hw, end)
	err = p.rebuildProducers()
	p.publish()
	if err != nil {
		p.log.MarkOffline(fmt.Errorf("rebuilding producer state: %w", err))
		return 0, p.log.Offline()
	}
	return end, nil
}

// ResetTo empties the replica and restarts its log at offset (a follower
// whose log lies wholly below the leader's log start).
func (p *Partition) ResetTo(offset int64) error {
	defer p.hwChanged() // after mu is released
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.log.ResetTo(offset); err != nil {
		return err
	}
	p.hw = offset
	p.producers = map[int64]*producer{}
	p.txns = newTxnState()
	p.publish()
	return nil
}

// FollowerFetched records that replica id asked for fetchOffset, i.e. holds
// (durably) everything below it. It returns whether the follower is now
// eligible to join the ISR, and advances the high watermark. refetch says
// the follower asks again for the offset of its previous fetch although
// the leader held records past it then: it did not append what it was
// sent (a batch it refused as damaged, a failing disk on its side, or a
// response lost on the way). The caller then reads for it with the
// checked read, so damage that a zero-copy read passed on is found here
// instead of leaving the follower stuck on it. mayJoin says
// the metadata lets id join (a registered, unfenced broker, as KIP-841's
// leader checks): a follower that may not is never marked as joining, so
// it cannot hold the high watermark back.
func (p *Partition) FollowerFetched(id int32, fetchOffset int64, now time.Time, mayJoin bool) (joinISR, refetch bool, err error) {
	p.mu.Lock()
	if p.role.Leader != p.self {
		p.mu.Unlock()
		return false, false, ErrNotLeader
	}
	f := p.followers[id]
	if f == nil {
		p.mu.Unlock()
		return false, false, ErrNotLeader
	}
	leo := p.log.EndOffset()
	// A long poll records its fetch again at each wake: the leader's end
	// then was this offset, so that is not a refetch.
	refetch = fetchOffset == f.leo && f.leoAtLastFetch > fetchOffset
	if fetchOffset >= leo {
		f.lastCaughtUp = now
	} else if f.leoAtLastFetch >= 0 && fetchOffset >= f.leoAtLastFetch {
		f.lastCaughtUp = f.lastFetch
	}
	f.leo, f.lastFetch, f.leoAtLastFetch = fetchOffset, now, leo
	moved := p.maybeAdvanceHW()
	join := mayJoin && !slices.Contains(p.role.ISR, id) && fetchOffset >= p.hw && p.epochStartReached(fetchOffset)
	if join {
		// Counted for the high watermark from now, under the same lock
		// as the check, until EndISRExpansion.
		if p.expanding == nil {
			p.expanding = map[int32]bool{}
		}
		p.expanding[id] = true
	}
	if moved {
		p.publish()
	}
	p.mu.Unlock()
	if moved {
		p.hwChanged()
	}
	return join, refetch, nil
}

// PendingExpansion returns the current role and the followers marked as
// joining the ISR (FollowerFetched) that its ISR does not have yet, in
// order. The marks were made under this role's partition epoch, so an ISR
// change proposed against it for them is the one that can commit.
func (p *Partition) PendingExpansion() (Role, []int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.role
	r.Replicas, r.ISR = slices.Clone(r.Replicas), slices.Clone(r.ISR)
	var ids []int32
	for id := range p.expanding {
		if !slices.Contains(r.ISR, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return r, ids
}

// EndISRExpansion is called when the broker's ISR change proposed against
// partitionEpoch was refused for a reason other than a stale epoch (a
// refusal for a stale epoch, or a commit, reaches the replica as a newer
// partition epoch through SetRole, which ends the marks then): the
// followers FollowerFetched marked as joining stop counting for the high
// watermark. A follower still eligible is marked again at its next fetch.
// The caller has no other change of this partition in flight.
func (p *Partition) EndISRExpansion(partitionEpoch int32) {
	p.mu.Lock()
	if p.role.PartitionEpoch == partitionEpoch {
		p.expanding = nil
	}
	moved := p.maybeAdvanceHW()
	if moved {
		p.publish()
	}
	p.mu.Unlock()
	if moved {
		p.hwChanged()
	}
}

// epochStartReached: a follower joins the ISR only once it has reached the
// current leader epoch's start, so it cannot hold an older epoch's tail.
func (p *Partition) epochStartReached(fetchOffset int64) bool {
	for _, e := range p.log.LeaderEpochs() {
		if e.Epoch == p.role.LeaderEpoch {
			return fetchOffset >= e.StartOffset
		}
	}
	return true
}

// LaggingISR returns the ISR followers that have not caught up within
// maxLag (replica.lag.time.max.ms).
func (p *Partition) LaggingISR(now time.Time, maxLag time.Duration) []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role.Leader != p.self {
		return nil
	}
	var out []int32
	for _, id := range p.role.ISR {
		if f := p.followers[id]; id != p.self && f != nil && now.Sub(f.lastCaughtUp) > maxLag {
			out = append(out, id)
		}
	}
	return out
}

// Sync waits until every offset below end is fsynced.
func (p *Partition) Sync(end int64) error { return p.log.Sync(end) }

// Watch registers ch (buffered, capacity >= 1) to receive a value after each
// append and high-watermark move, until the returned cancel is called. Fetch long polls use one
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
	p.mu.Lock()
	p.role = Role{Leader: -1, LeaderEpoch: p.role.LeaderEpoch}
	p.publish()
	p.mu.Unlock()
	p.hwChanged()
	return p.log.Close()
}

// Delete closes and removes the log.
func (p *Partition) Delete() error {
	p.Close()
	return p.log.Delete()
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch from the leader epoch
// cache: the largest epoch <= epoch and where it ended, or -1, -1.
func (p *Partition) EndOffsetForEpoch(epoch int32) (int32, int64) {
	return p.log.EndOffsetForEpoch(epoch)
}

// LeaderEpochs returns the log's leader epoch cache, oldest first (a
// follower's OffsetForLeaderEpoch request).
func (p *Partition) LeaderEpochs() []storage.EpochEntry { return p.log.LeaderEpochs() }

// ReadLimit is how far a reader may read.
type ReadLimit uint8

const (
	// ReadUncommitted: consumers read below the high watermark.
	ReadUncommitted ReadLimit = iota
	// ReadCommitted: read_committed consumers read below the last
	// stable offset.
	ReadCommitted
	// ReadReplica: follower replicas read up to the log end.
	ReadReplica
)

// bound is the offset a reader with limit l reads below.
func (s Snapshot) bound(l ReadLimit) int64 {
	switch l {
	case ReadCommitted:
		return s.LastStableOffset
	case ReadReplica:
		return s.LogEndOffset
	}
	return s.HighWatermark
}

// Read reads whole batches from offset, below the bound limit sets, up to
// maxBytes (at least one batch when minOne). It takes no partition lock
// and returns the snapshot the bound came from, for the response's high
// watermark, last stable offset and log start. The result's Data must be
// released with storage.ReleaseRead.
func (p *Partition) Read(offset int64, limit ReadLimit, maxBytes int, minOne bool) (Snapshot, storage.ReadResult, error) {
	s := p.Snapshot()
	res, err := p.log.Read(offset, s.bound(limit), maxBytes, minOne)
	return s, res, err
}

// ReadZeroCopy is Read that may leave the batches in the segment file
// (storage.Log.ReadZeroCopy: the result's Slice).
func (p *Partition) ReadZeroCopy(offset int64, limit ReadLimit, maxBytes int, minOne bool) (Snapshot, storage.ReadResult, error) {
	s := p.Snapshot()
	res, err := p.log.ReadZeroCopy(offset, s.bound(limit), maxBytes, minOne)
	return s, res, err
}

// OffsetForTimestamp is the first offset whose timestamp is at or after ts
// and the record's timestamp (ListOffsets by time), if such a record is
// visible to a reader with limit.
func (p *Partition) OffsetForTimestamp(ts int64, limit ReadLimit) (offset, recordTs int64, ok bool, err error) {
	bound := p.Snapshot().bound(limit)
	offset, recordTs, ok, err = p.log.OffsetForTimestamp(ts)
	if err != nil || !ok || offset >= bound {
		return -1, -1, false, err
	}
	return offset, recordTs, true, nil
}

// MaxTimestamp is the offset and timestamp of the record with the largest
// timestamp in the log (ListOffsets MAX_TIMESTAMP, KIP-734).
func (p *Partition) MaxTimestamp() (offset, ts int64, ok bool, err error) {
	return p.log.MaxTimestamp()
}

// Segments describes the log's segments, oldest first (ListOffsets v0).
func (p *Partition) Segments() []storage.SegmentInfo { return p.log.Segments() }

// Size is the bytes the log's segments hold.
func (p *Partition) Size() int64 { return p.log.Size() }

// SetLogOptions applies a topic config change to the log; it takes
// effect from the next append, flush check, retention or cleaner pass.
func (p *Partition) SetLogOptions(o storage.Options) { p.log.SetOptions(o) }

// DeleteRecords moves the log start offset up to offset (-1: the high
// watermark), as leader (DeleteRecords). Records at or above the high
// watermark cannot be deleted: ErrOffsetOutOfRange. It returns the new
// log start offset (the low watermark) once it is checkpointed; mu is held
// meanwhile so the high watermark cannot fall under the new start.
func (p *Partition) DeleteRecords(offset int64) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role.Leader != p.self {
		return 0, ErrNotLeader
	}
	if offset == -1 {
		offset = p.hw
	}
	if offset < 0 || offset > p.hw {
		return 0, storage.ErrOffsetOutOfRange
	}
	return p.log.AdvanceStart(offset)
}

// FollowLogStart moves a follower's log start up to the leader's
// (retention or DeleteRecords ran there), bounded by its own high
// watermark as Kafka bounds it: the log start never passes the high
// watermark (call SetFollowerHW first with the same response). A replica
// that leads ignores it.
func (p *Partition) FollowLogStart(leaderStart int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role.Leader == p.self {
		return nil
	}
	start := min(leaderStart, p.hw)
	if start <= p.log.StartOffset() {
		return nil
	}
	_, err := p.log.AdvanceStart(start)
	return err
}
