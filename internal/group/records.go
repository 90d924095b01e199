package group

import (
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/record"
)

// Records in __consumer_offsets follow Kafka's layout, so the topic reads
// the same to tools that understand Kafka's: a record key starts with an
// int16 version; versions 0 and 1 are offset commits (group, topic,
// partition), version 2 is group metadata (group). Values are
// OffsetCommitValue v3 and GroupMetadataValue v3; a nil value is a
// tombstone. The encodings are kmsg's.

const (
	offsetKeyVersion    = 1
	groupKeyVersion     = 2
	offsetValueVersion  = 3
	groupValueVersion   = 3
	offsetsTopicMaxKeys = 1 << 20
)

type kv = record.KV

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func offsetValue(o *offset) []byte {
	v := kmsg.OffsetCommitValue{Version: offsetValueVersion, Offset: o.offset, LeaderEpoch: o.epoch, Metadata: o.metadata, CommitTimestamp: o.commitMs}
	return v.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

// buildBatch encodes records as one batch (the partition assigns offsets).
func buildBatch(recs []kv, nowMs int64) []byte {
	return record.BuildKV(record.CoordinatorHeader(nowMs), recs)
}

// decodeBatch returns the key/value pairs of one stored batch. Control
// batches carry no group data and yield nothing.
func decodeBatch(raw []byte) ([]kv, error) { return record.KVs(raw) }

// javaHashCode is Java's String.hashCode over the UTF-16 code units of s.
func javaHashCode(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

// PartitionFor maps a group id to its __consumer_offsets partition as Kafka
// does: Utils.abs(groupId.hashCode()) % partitions, where Utils.abs maps
// Integer.MIN_VALUE to 0.
func PartitionFor(groupID string, partitions int32) int32 {
	h := javaHashCode(groupID)
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}
