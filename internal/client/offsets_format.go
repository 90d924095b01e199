package client

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Formatters for __consumer_offsets, printing what Kafka's console consumer
// prints with --formatter OffsetsMessageFormatter / GroupMetadataMessageFormatter
// (Kafka 3.9+): one JSON object per record,
//
//	{"key":{"version":K,"data":{...}},"value":{"version":V,"data":{...}}}
//
// with the fields of Kafka's record schemas (OffsetCommitKey/Value,
// GroupMetadataKey/Value) in their JSON names; a tombstone has
// "value":null, a record of a type the formatter does not decode has
// "data":"unknown". The offsets formatter skips group metadata records and
// the group-metadata formatter skips offset commits. Unlike Kafka's, each
// object ends with a newline.

// FormatterNames lists the --formatter values (Kafka's class names are
// accepted too).
const FormatterNames = "offsets, group-metadata"

// recordFormatter appends a record's text to dst; it may append nothing
// (the record is skipped).
type recordFormatter func(dst []byte, r *kgo.Record) []byte

// parseFormatter resolves a --formatter value: "offsets" or
// "group-metadata", or Kafka's class names for them.
func parseFormatter(name string) (recordFormatter, error) {
	switch n := strings.ToLower(name); {
	case n == "offsets" || strings.HasSuffix(n, "offsetsmessageformatter"):
		return formatOffsetsRecord, nil
	case n == "group-metadata" || strings.HasSuffix(n, "groupmetadatamessageformatter"):
		return formatGroupMetadataRecord, nil
	}
	return nil, fmt.Errorf("--formatter %q: want one of %s", name, FormatterNames)
}

// Record key versions in __consumer_offsets: 0 and 1 are offset commits, 2
// is classic group metadata; higher ones are KIP-848 group records.
const (
	offsetCommitKeyMax = 1
	groupMetadataKey   = 2
)

type versioned struct {
	Version int16 `json:"version"`
	Data    any   `json:"data"`
}

type formatted struct {
	Key   *versioned `json:"key"`
	Value *versioned `json:"value"`
}

const unknownData = "unknown"

func keyVersion(b []byte) (int16, bool) {
	if len(b) < 2 {
		return 0, false
	}
	return int16(binary.BigEndian.Uint16(b)), true
}

func appendJSON(dst []byte, f formatted) []byte {
	b, err := json.Marshal(f)
	if err != nil {
		return dst
	}
	return append(append(dst, b...), '\n')
}

type offsetKeyJSON struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

type offsetValueJSON struct {
	Offset          int64  `json:"offset"`
	LeaderEpoch     *int32 `json:"leaderEpoch,omitempty"` // v3+
	Metadata        string `json:"metadata"`
	CommitTimestamp int64  `json:"commitTimestamp"`
	ExpireTimestamp *int64 `json:"expireTimestamp,omitempty"` // v1
}

func formatOffsetsRecord(dst []byte, r *kgo.Record) []byte {
	var f formatted
	if r.Key == nil {
		return appendJSON(dst, f)
	}
	kv, ok := keyVersion(r.Key)
	if ok && kv == groupMetadataKey {
		return dst
	}
	f.Key = &versioned{Version: kv, Data: unknownData}
	var k kmsg.OffsetCommitKey
	if ok && kv >= 0 && kv <= offsetCommitKeyMax && k.ReadFrom(r.Key) == nil {
		f.Key.Data = offsetKeyJSON{Group: k.Group, Topic: k.Topic, Partition: k.Partition}
	} else if ok && kv > groupMetadataKey {
		return dst // KIP-848 group records
	}
	if r.Value != nil {
		vv, _ := keyVersion(r.Value)
		f.Value = &versioned{Version: vv, Data: unknownData}
		var v kmsg.OffsetCommitValue
		if v.ReadFrom(r.Value) == nil {
			d := offsetValueJSON{Offset: v.Offset, Metadata: v.Metadata, CommitTimestamp: v.CommitTimestamp}
			if v.Version >= 3 {
				d.LeaderEpoch = &v.LeaderEpoch
			}
			if v.Version == 1 {
				d.ExpireTimestamp = &v.ExpireTimestamp
			}
			f.Value.Data = d
		}
	}
	return appendJSON(dst, f)
}

type groupKeyJSON struct {
	Group string `json:"group"`
}

type groupValueJSON struct {
	ProtocolType          string            `json:"protocolType"`
	Generation            int32             `json:"generation"`
	Protocol              *string           `json:"protocol"`
	Leader                *string           `json:"leader"`
	CurrentStateTimestamp *int64            `json:"currentStateTimestamp,omitempty"` // v2+
	Members               []groupMemberJSON `json:"members"`
}

type groupMemberJSON struct {
	MemberID         string  `json:"memberId"`
	GroupInstanceID  *string `json:"groupInstanceId"`
	ClientID         string  `json:"clientId"`
	ClientHost       string  `json:"clientHost"`
	RebalanceTimeout *int32  `json:"rebalanceTimeout,omitempty"` // v1+
	SessionTimeout   int32   `json:"sessionTimeout"`
	Subscription     []byte  `json:"subscription"` // base64, as Kafka's JSON
	Assignment       []byte  `json:"assignment"`
}

func formatGroupMetadataRecord(dst []byte, r *kgo.Record) []byte {
	kv, ok := keyVersion(r.Key)
	if !ok {
		return dst
	}
	if kv <= offsetCommitKeyMax && kv >= 0 {
		return dst // offset commits
	}
	f := formatted{Key: &versioned{Version: kv, Data: unknownData}}
	var k kmsg.GroupMetadataKey
	if kv == groupMetadataKey && k.ReadFrom(r.Key) == nil {
		f.Key.Data = groupKeyJSON{Group: k.Group}
	}
	if r.Value != nil {
		vv, _ := keyVersion(r.Value)
		f.Value = &versioned{Version: vv, Data: unknownData}
		var v kmsg.GroupMetadataValue
		if kv == groupMetadataKey && v.ReadFrom(r.Value) == nil {
			d := groupValueJSON{ProtocolType: v.ProtocolType, Generation: v.Generation, Protocol: v.Protocol, Leader: v.Leader, Members: []groupMemberJSON{}}
			if v.Version >= 2 {
				d.CurrentStateTimestamp = &v.CurrentStateTimestamp
			}
			for _, m := range v.Members {
				jm := groupMemberJSON{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost, SessionTimeout: m.SessionTimeoutMillis,
					Subscription: m.Subscription, Assignment: m.Assignment}
				if v.Version >= 1 {
					jm.RebalanceTimeout = &m.RebalanceTimeoutMillis
				}
				if v.Version >= 3 {
					jm.GroupInstanceID = m.InstanceID
				}
				d.Members = append(d.Members, jm)
			}
			f.Value.Data = d
		}
	}
	return appendJSON(dst, f)
}
