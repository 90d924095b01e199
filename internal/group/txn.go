package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/record"
)

// Transactional offset commits (KIP-98): TxnOffsetCommit writes the
// offsets to __consumer_offsets in a transactional batch of the producer;
// they stay pending, invisible to OffsetFetch (which answers
// UNSTABLE_OFFSET_COMMIT for them when asked for stable offsets), until
// the transaction coordinator's COMMIT marker lands in the partition
// (CompleteTxn) and they become the group's committed offsets; an ABORT
// drops them. Replay does the same from the log: a transactional batch's
// records wait for their producer's marker.

// txnKey is one producer's open transaction in one offsets partition.
type txnKey struct {
	part int32
	pid  int64
}

// txnOffsets are a transaction's pending offset records.
type txnOffsets struct {
	recs []kv
	// keys: group -> topic -> partition with a pending offset.
	keys map[string]map[string]map[int32]bool
}

func (t *txnOffsets) add(group, topic string, p int32, r kv) {
	t.recs = append(t.recs, r)
	if t.keys == nil {
		t.keys = map[string]map[string]map[int32]bool{}
	}
	if t.keys[group] == nil {
		t.keys[group] = map[string]map[int32]bool{}
	}
	if t.keys[group][topic] == nil {
		t.keys[group][topic] = map[int32]bool{}
	}
	t.keys[group][topic][p] = true
}

// pendingOffset reports a transactional commit pending for the group's
// partition. Under mu.
func (c *Coordinator) pendingOffset(group, topic string, p int32) bool {
	for _, t := range c.txnPending {
		if t.keys[group][topic][p] {
			return true
		}
	}
	return false
}

// TxnOffsetCommit stores offsets as part of producer pid's transaction.
// The generation, member and instance ids (v3+) are checked like
// OffsetCommit's when the group is a classic group with members.
func (c *Coordinator) TxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest) (resp *kmsg.TxnOffsetCommitResponse, wait func()) {
	return c.TxnOffsetCommitVerified(req, nil)
}

// TxnOffsetCommitVerified is TxnOffsetCommit whose batch is written with
// verification (KIP-890; TxnLog.AppendTxn) when it is not nil and the Log
// is a TxnLog.
func (c *Coordinator) TxnOffsetCommitVerified(req *kmsg.TxnOffsetCommitRequest, verification any) (resp *kmsg.TxnOffsetCommitResponse, wait func()) {
	resp = req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	type ref struct{ ti, pi int }
	var refs []ref
	for _, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	setAll := func(code int16) {
		for ti := range resp.Topics {
			for pi := range resp.Topics[ti].Partitions {
				if resp.Topics[ti].Partitions[pi].ErrorCode == 0 {
					resp.Topics[ti].Partitions[pi].ErrorCode = code
				}
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.Group == "" {
		setAll(kerr.InvalidGroupID.Code)
		return resp, func() {}
	}
	if code := c.ownerCode(req.Group); code != 0 {
		setAll(code)
		return resp, func() {}
	}
	if g := c.groups[req.Group]; g != nil && g.typ == typeShare {
		setAll(kerr.GroupIDNotFound.Code) // share groups commit no offsets
		return resp, func() {}
	}
	now := c.clock.Now()
	var groupCode int16
	if g := c.groups[req.Group]; g != nil && g.typ == typeClassic && req.Version >= 3 && req.Generation >= 0 {
		groupCode = c.checkCommit(g, req.MemberID, req.InstanceID, req.Generation)
	}
	var recs []kv
	type tpo struct {
		topic string
		p     int32
	}
	var tps []tpo
	for ti, rt := range req.Topics {
		n, known := c.cfg.Topics.PartitionCount(rt.Topic)
		for pi, rp := range rt.Partitions {
			sp := &resp.Topics[ti].Partitions[pi]
			switch {
			case !known || rp.Partition < 0 || rp.Partition >= n:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.Metadata != nil && len(*rp.Metadata) > c.cfg.MaxMetadataBytes:
				sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			case groupCode != 0:
				sp.ErrorCode = groupCode
			default:
				o := &offset{offset: rp.Offset, epoch: rp.LeaderEpoch, metadata: deref(rp.Metadata), commitMs: now.UnixMilli(), expireMs: -1}
				refs = append(refs, ref{ti, pi})
				recs = append(recs, kv{Key: offsetKey(req.Group, rt.Topic, rp.Partition), Value: offsetValue(o)})
				tps = append(tps, tpo{rt.Topic, rp.Partition})
			}
		}
	}
	if len(recs) == 0 {
		return resp, func() {}
	}
	p := PartitionFor(req.Group, c.nparts)
	batch := buildTxnBatch(recs, now.UnixMilli(), req.ProducerID, req.ProducerEpoch)
	var end int64
	var epoch int32
	var err error
	if tl, ok := c.cfg.Log.(TxnLog); ok && verification != nil {
		end, epoch, err = tl.AppendTxn(p, batch, verification)
	} else {
		end, epoch, err = c.cfg.Log.Append(p, batch)
	}
	if err != nil {
		for _, r := range refs {
			resp.Topics[r.ti].Partitions[r.pi].ErrorCode = writeCode(err)
		}
		return resp, func() {}
	}
	k := txnKey{p, req.ProducerID}
	t := c.txnPending[k]
	if t == nil {
		t = &txnOffsets{}
		c.txnPending[k] = t
	}
	for i, r := range recs {
		t.add(req.Group, tps[i].topic, tps[i].p, r)
	}
	wr := &write{c: c, part: p, end: end, epoch: epoch}
	return resp, func() {
		if err := wr.Wait(); err != nil {
			for _, r := range refs {
				resp.Topics[r.ti].Partitions[r.pi].ErrorCode = writeCode(err)
			}
		}
	}
}

// CompleteTxn applies a transaction marker written in offsets partition
// part: a commit makes producer pid's pending offsets the groups'
// committed ones, an abort drops them.
func (c *Coordinator) CompleteTxn(part int32, pid int64, commit bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if op := c.owned[part]; op != nil && !op.loaded {
		// The load may have read past the marker's offset already: it
		// applies the marker once it is done (a second application
		// finds nothing pending).
		op.lateMarkers = append(op.lateMarkers, lateMarker{pid, commit})
		return
	}
	c.completeTxn(part, pid, commit)
}

// lateMarker is a marker that arrived during a load.
type lateMarker struct {
	pid    int64
	commit bool
}

// completeTxn applies a marker. Under mu.
func (c *Coordinator) completeTxn(part int32, pid int64, commit bool) {
	k := txnKey{part, pid}
	t := c.txnPending[k]
	delete(c.txnPending, k)
	if t == nil || !commit {
		return
	}
	if op := c.owned[part]; op == nil {
		return // not led here: the next leader's load replays the marker
	}
	now := c.clock.Now()
	for _, r := range t.recs {
		replay(c.groups, r, now)
	}
}

// buildTxnBatch is buildBatch for producer pid at epoch, transactional,
// without sequence numbers (as Kafka's coordinator writes them).
func buildTxnBatch(recs []kv, nowMs int64, pid int64, epoch int16) []byte {
	h := record.CoordinatorHeader(nowMs)
	h.Attributes, h.ProducerID, h.ProducerEpoch = record.AttrTransactional, pid, epoch
	return record.BuildKV(h, recs)
}

// loadTxn sorts one stored batch during a load: records of a
// transactional batch wait in pending for their producer's marker, a
// marker applies (commit) or drops them. It reports whether the batch was
// transactional (else the caller replays it).
func loadTxn(raw []byte, pending map[int64]*txnOffsets, apply func(kv)) bool {
	b := record.Batch(raw)
	if len(raw) < record.HeaderSize || !b.IsTransactional() {
		return false
	}
	pid := b.ProducerID()
	if b.IsControl() {
		typ, _, err := b.ControlType()
		if err != nil {
			return true
		}
		t := pending[pid]
		delete(pending, pid)
		if t != nil && typ == record.ControlCommit {
			for _, r := range t.recs {
				apply(r)
			}
		}
		return true
	}
	recs, err := decodeBatch(raw)
	if err != nil {
		return true
	}
	t := pending[pid]
	if t == nil {
		t = &txnOffsets{}
		pending[pid] = t
	}
	for _, r := range recs {
		var k kmsg.OffsetCommitKey
		if len(r.Key) >= 2 && (r.Key[1] == 0 || r.Key[1] == 1) && r.Key[0] == 0 && k.ReadFrom(r.Key) == nil {
			t.add(k.Group, k.Topic, k.Partition, r)
		} else {
			t.recs = append(t.recs, r)
		}
	}
	return true
}
