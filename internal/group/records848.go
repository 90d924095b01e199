package group

import (
	"errors"
	"sort"

	"github.com/twmb/franz-go/pkg/kbin"
)

// Records of consumer (KIP-848) groups in __consumer_offsets follow the
// layout of Kafka's coordinator records (kmsg has no types for them, so
// this file is a small encoder over kbin):
//
//	key:   int16 record type, then the key fields, non-flexible
//	       (int16-length strings)
//	value: int16 value version (0), then the value fields, flexible
//	       (compact strings and arrays, uvarint tagged-field trailer after
//	       every struct)
//
// Types (the int16 that starts the key):
//
//	3 ConsumerGroupMetadata         key GroupId           value Epoch int32; tag 0 MetadataHash int64
//	5 ConsumerGroupMemberMetadata   key GroupId, MemberId value InstanceId?, RackId?, ClientId,
//	                                                      ClientHost, SubscribedTopicNames []string,
//	                                                      SubscribedTopicRegex?, RebalanceTimeoutMs int32,
//	                                                      ServerAssignor?
//	6 ConsumerGroupTargetAssignmentMetadata key GroupId   value AssignmentEpoch int32
//	7 ConsumerGroupTargetAssignmentMember   key GroupId, MemberId
//	                                                      value TopicPartitions []{TopicId uuid, Partitions []int32}
//	8 ConsumerGroupCurrentMemberAssignment  key GroupId, MemberId
//	                                                      value MemberEpoch, PreviousMemberEpoch int32, State int8,
//	                                                      AssignedPartitions, PartitionsPendingRevocation
//	                                                      []{TopicId, Partitions; tag 0 AssignmentEpochs []int32}
//
// Type 4 (partition metadata, deprecated in Kafka 4.1) is not written: the
// metadata hash in type 3 replaces it. A nil value is a tombstone. Unknown
// tagged fields are skipped on read.

const (
	recConsumerGroupMetadata = 3
	recPartitionMetadata     = 4
	recMemberMetadata        = 5
	recTargetMetadata        = 6
	recTargetMember          = 7
	recCurrentAssignment     = 8
)

var errShortRecord = errors.New("truncated consumer group record")

func cgKey(typ int16, groupID string) []byte {
	b := kbin.AppendInt16(nil, typ)
	return kbin.AppendString(b, groupID)
}

func cgMemberKey(typ int16, groupID, memberID string) []byte {
	return kbin.AppendString(cgKey(typ, groupID), memberID)
}

// decodeCGKey returns the record type, group and (for member records)
// member id of a type 3..8 key.
func decodeCGKey(key []byte) (typ int16, group, member string, err error) {
	r := kbin.Reader{Src: key}
	typ = r.Int16()
	group = r.String()
	if typ == recMemberMetadata || typ == recTargetMember || typ == recCurrentAssignment {
		member = r.String()
	}
	return typ, group, member, r.Complete()
}

func appendTags(b []byte) []byte { return kbin.AppendUvarint(b, 0) }

// skipTags reads a tagged-field section, calling fn for each tag (fn may
// consume the tag's bytes from its own reader).
func skipTags(r *kbin.Reader, fn func(tag uint32, data []byte)) {
	n := r.Uvarint()
	for i := uint32(0); i < n && r.Ok(); i++ {
		tag := r.Uvarint()
		size := r.Uvarint()
		data := r.Span(int(size))
		if fn != nil && r.Ok() {
			fn(tag, data)
		}
	}
}

func appendCompactStrings(b []byte, ss []string) []byte {
	b = kbin.AppendCompactArrayLen(b, len(ss))
	for _, s := range ss {
		b = kbin.AppendCompactString(b, s)
	}
	return b
}

func readCompactStrings(r *kbin.Reader) []string {
	n := r.CompactArrayLen()
	if n < 0 || !r.Ok() {
		return nil
	}
	out := make([]string, 0, min(int(n), 1024))
	for i := int32(0); i < n && r.Ok(); i++ {
		out = append(out, r.CompactString())
	}
	return out
}

func appendInt32s(b []byte, vs []int32) []byte {
	b = kbin.AppendCompactArrayLen(b, len(vs))
	for _, v := range vs {
		b = kbin.AppendInt32(b, v)
	}
	return b
}

func readInt32s(r *kbin.Reader) []int32 {
	n := r.CompactArrayLen()
	if n < 0 || !r.Ok() {
		return nil
	}
	out := make([]int32, 0, min(int(n), 1<<16))
	for i := int32(0); i < n && r.Ok(); i++ {
		out = append(out, r.Int32())
	}
	return out
}

// appendTPs encodes a partition set; with epochs, each topic carries the
// assignment epochs of its partitions as tagged field 0.
func appendTPs(b []byte, s tpset, epochs bool) []byte {
	ids := s.topicIDs()
	b = kbin.AppendCompactArrayLen(b, len(ids))
	for _, id := range ids {
		ps := s.partitions(id)
		b = kbin.AppendUuid(b, id)
		b = appendInt32s(b, ps)
		if !epochs {
			b = appendTags(b)
			continue
		}
		es := make([]int32, len(ps))
		for i, p := range ps {
			es[i] = s[id][p]
		}
		tag := appendInt32s(nil, es)
		b = kbin.AppendUvarint(b, 1)
		b = kbin.AppendUvarint(b, 0)
		b = kbin.AppendUvarint(b, uint32(len(tag)))
		b = append(b, tag...)
	}
	return b
}

func readTPs(r *kbin.Reader) tpset {
	out := tpset{}
	n := r.CompactArrayLen()
	for i := int32(0); i < n && r.Ok(); i++ {
		id := r.Uuid()
		ps := readInt32s(r)
		var es []int32
		skipTags(r, func(tag uint32, data []byte) {
			if tag == 0 {
				tr := kbin.Reader{Src: data}
				es = readInt32s(&tr)
			}
		})
		for j, p := range ps {
			e := int32(0)
			if j < len(es) {
				e = es[j]
			}
			out.add(id, p, e)
		}
	}
	return out
}

func cgMetadataValue(epoch int32, hash uint64) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendInt32(b, epoch)
	tag := kbin.AppendInt64(nil, int64(hash))
	b = kbin.AppendUvarint(b, 1)
	b = kbin.AppendUvarint(b, 0)
	b = kbin.AppendUvarint(b, uint32(len(tag)))
	return append(b, tag...)
}

func readCGMetadataValue(v []byte) (epoch int32, hash uint64, err error) {
	r := kbin.Reader{Src: v}
	r.Int16()
	epoch = r.Int32()
	skipTags(&r, func(tag uint32, data []byte) {
		if tag == 0 && len(data) == 8 {
			tr := kbin.Reader{Src: data}
			hash = uint64(tr.Int64())
		}
	})
	return epoch, hash, r.Complete()
}

func memberMetadataValue(m *cmember) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendCompactNullableString(b, m.instanceID)
	b = kbin.AppendCompactNullableString(b, m.rackID)
	b = kbin.AppendCompactString(b, m.clientID)
	b = kbin.AppendCompactString(b, m.clientHost)
	b = appendCompactStrings(b, m.names)
	b = kbin.AppendCompactNullableString(b, m.regex)
	b = kbin.AppendInt32(b, int32(m.rebalanceTimeout.Milliseconds()))
	var assignor *string
	if m.assignor != "" {
		assignor = &m.assignor
	}
	b = kbin.AppendCompactNullableString(b, assignor)
	return appendTags(b)
}

func readMemberMetadataValue(v []byte, m *cmember) error {
	r := kbin.Reader{Src: v}
	r.Int16()
	m.instanceID = r.CompactNullableString()
	m.rackID = r.CompactNullableString()
	m.clientID = r.CompactString()
	m.clientHost = r.CompactString()
	m.names = readCompactStrings(&r)
	m.regex = r.CompactNullableString()
	m.rebalanceTimeout = ms(r.Int32())
	if a := r.CompactNullableString(); a != nil {
		m.assignor = *a
	}
	skipTags(&r, nil)
	return r.Complete()
}

func targetMetadataValue(epoch int32) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendInt32(b, epoch)
	return appendTags(b)
}

func readTargetMetadataValue(v []byte) (int32, error) {
	r := kbin.Reader{Src: v}
	r.Int16()
	e := r.Int32()
	skipTags(&r, nil)
	return e, r.Complete()
}

func targetMemberValue(s tpset) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = appendTPs(b, s, false)
	return appendTags(b)
}

func readTargetMemberValue(v []byte) (tpset, error) {
	r := kbin.Reader{Src: v}
	r.Int16()
	s := readTPs(&r)
	skipTags(&r, nil)
	return s, r.Complete()
}

func currentAssignmentValue(m *cmember) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendInt32(b, m.epoch)
	b = kbin.AppendInt32(b, m.prevEpoch)
	b = kbin.AppendInt8(b, int8(m.state))
	b = appendTPs(b, m.assigned, true)
	b = appendTPs(b, m.pending, true)
	return appendTags(b)
}

func readCurrentAssignmentValue(v []byte, m *cmember) error {
	r := kbin.Reader{Src: v}
	r.Int16()
	m.epoch = r.Int32()
	m.prevEpoch = r.Int32()
	m.state = mstate(r.Int8())
	m.assigned = readTPs(&r)
	m.pending = readTPs(&r)
	skipTags(&r, nil)
	if m.state > mUnreleased {
		m.state = mStable
	}
	return r.Complete()
}

// tpset is a set of partitions by topic id; the value is the epoch at
// which the partition was assigned (KIP-1251), 0 where not tracked.
type tpset map[[16]byte]map[int32]int32

func (s tpset) add(id [16]byte, p, epoch int32) {
	ps := s[id]
	if ps == nil {
		ps = map[int32]int32{}
		s[id] = ps
	}
	ps[p] = epoch
}

func (s tpset) has(id [16]byte, p int32) bool {
	_, ok := s[id][p]
	return ok
}

func (s tpset) remove(id [16]byte, p int32) {
	if ps := s[id]; ps != nil {
		delete(ps, p)
		if len(ps) == 0 {
			delete(s, id)
		}
	}
}

func (s tpset) size() int {
	n := 0
	for _, ps := range s {
		n += len(ps)
	}
	return n
}

func (s tpset) topicIDs() [][16]byte {
	out := make([][16]byte, 0, len(s))
	for id := range s {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i][:]) < string(out[j][:]) })
	return out
}

func (s tpset) partitions(id [16]byte) []int32 {
	out := make([]int32, 0, len(s[id]))
	for p := range s[id] {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// sameParts reports whether s and o hold the same partitions (epochs are
// not compared).
func (s tpset) sameParts(o tpset) bool {
	if s.size() != o.size() {
		return false
	}
	for id, ps := range s {
		for p := range ps {
			if !o.has(id, p) {
				return false
			}
		}
	}
	return true
}

func (s tpset) clone() tpset {
	out := tpset{}
	for id, ps := range s {
		for p, e := range ps {
			out.add(id, p, e)
		}
	}
	return out
}
