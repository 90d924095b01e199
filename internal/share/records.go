package share

// Records of __share_group_state follow the layout of Kafka's share
// coordinator records (kmsg has no types for them; a small encoder over
// kbin, as internal/group/records848.go):
//
//	key:   int16 record type 0 (ShareSnapshot), GroupId string,
//	       TopicId uuid, Partition int32 (non-flexible)
//	value: int16 version 0, SnapshotEpoch int32, StateEpoch int32,
//	       LeaderEpoch int32, StartOffset int64, CreateTimestamp int64,
//	       WriteTimestamp int64, StateBatches compact array of
//	       {FirstOffset int64, LastOffset int64, DeliveryState int8,
//	       DeliveryCount int16, tags}, tags (flexible)
//
// Every write is a whole snapshot (Kafka also writes ShareUpdate deltas,
// type 1, between snapshots; Tributary never does and ignores them). A
// nil value is a tombstone (the state was deleted).

import (
	"errors"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kbin"
)

const recShareSnapshot = 0

// maxStateBatches bounds a decoded snapshot (a corrupt count must not
// allocate unbounded memory).
const maxStateBatches = 1 << 16

var errBadRecord = errors.New("malformed share state record")

type stateKey struct {
	group string
	tid   [16]byte
	p     int32
}

type snapshot struct {
	snapshotEpoch, stateEpoch, leaderEpoch int32
	start                                  int64
	createMs, writeMs                      int64
	batches                                []StateBatch
}

func encodeKey(k stateKey) []byte {
	b := kbin.AppendInt16(nil, recShareSnapshot)
	b = kbin.AppendString(b, k.group)
	b = kbin.AppendUuid(b, k.tid)
	return kbin.AppendInt32(b, k.p)
}

func decodeKey(raw []byte) (stateKey, int16, error) {
	r := kbin.Reader{Src: raw}
	typ := r.Int16()
	var k stateKey
	if typ != recShareSnapshot {
		return k, typ, nil
	}
	k.group = r.String()
	k.tid = r.Uuid()
	k.p = r.Int32()
	return k, typ, r.Complete()
}

func encodeValue(s *snapshot) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendInt32(b, s.snapshotEpoch)
	b = kbin.AppendInt32(b, s.stateEpoch)
	b = kbin.AppendInt32(b, s.leaderEpoch)
	b = kbin.AppendInt64(b, s.start)
	b = kbin.AppendInt64(b, s.createMs)
	b = kbin.AppendInt64(b, s.writeMs)
	b = kbin.AppendCompactArrayLen(b, len(s.batches))
	for _, sb := range s.batches {
		b = kbin.AppendInt64(b, sb.First)
		b = kbin.AppendInt64(b, sb.Last)
		b = kbin.AppendInt8(b, sb.State)
		b = kbin.AppendInt16(b, sb.Count)
		b = kbin.AppendUvarint(b, 0)
	}
	return kbin.AppendUvarint(b, 0)
}

func skipTags(r *kbin.Reader) {
	n := r.Uvarint()
	for i := uint32(0); i < n && r.Ok(); i++ {
		r.Uvarint()
		l := r.Uvarint()
		r.Span(int(l))
	}
}

func decodeValue(raw []byte) (*snapshot, error) {
	r := kbin.Reader{Src: raw}
	if v := r.Int16(); v != 0 {
		return nil, errBadRecord
	}
	s := &snapshot{}
	s.snapshotEpoch = r.Int32()
	s.stateEpoch = r.Int32()
	s.leaderEpoch = r.Int32()
	s.start = r.Int64()
	s.createMs = r.Int64()
	s.writeMs = r.Int64()
	n := r.CompactArrayLen()
	if n < 0 || n > maxStateBatches || !r.Ok() {
		return nil, errBadRecord
	}
	for i := int32(0); i < n && r.Ok(); i++ {
		var sb StateBatch
		sb.First = r.Int64()
		sb.Last = r.Int64()
		sb.State = r.Int8()
		sb.Count = r.Int16()
		skipTags(&r)
		s.batches = append(s.batches, sb)
	}
	skipTags(&r)
	if err := r.Complete(); err != nil {
		return nil, errBadRecord
	}
	return s, nil
}

// PartitionFor is the __share_group_state partition holding a group's
// state: Java's String.hashCode of the group id, made non-negative,
// modulo n. Deliberate difference from Kafka, which spreads one group's
// share-partitions over the topic by "group:topicId:partition": here a
// group's whole state is one coordinator's, so the admin APIs over a
// group (describe, alter, delete offsets) need no fan-out.
func PartitionFor(group string, n int32) int32 {
	if n <= 0 {
		return 0
	}
	var h int32
	for _, u := range utf16.Encode([]rune(group)) {
		h = 31*h + int32(u)
	}
	if h == -1<<31 {
		return 0
	}
	if h < 0 {
		h = -h
	}
	return h % n
}
