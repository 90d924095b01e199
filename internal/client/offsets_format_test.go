package client

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestConsumerOffsetsFormatters(t *testing.T) {
	offKey := (&kmsg.OffsetCommitKey{Version: 1, Group: "g", Topic: "t", Partition: 3}).AppendTo(nil)
	offVal := (&kmsg.OffsetCommitValue{Version: 3, Offset: 42, LeaderEpoch: 7, Metadata: "m", CommitTimestamp: 1000}).AppendTo(nil)
	offValV1 := (&kmsg.OffsetCommitValue{Version: 1, Offset: 5, Metadata: "", CommitTimestamp: 10, ExpireTimestamp: 20}).AppendTo(nil)
	grpKey := (&kmsg.GroupMetadataKey{Version: 2, Group: "g"}).AppendTo(nil)
	inst := "i1"
	grpVal := (&kmsg.GroupMetadataValue{Version: 3, ProtocolType: "consumer", Generation: 2, Protocol: kmsg.StringPtr("range"), Leader: kmsg.StringPtr("m1"),
		CurrentStateTimestamp: 99, Members: []kmsg.GroupMetadataValueMember{{MemberID: "m1", InstanceID: &inst, ClientID: "c", ClientHost: "/h",
			RebalanceTimeoutMillis: 300, SessionTimeoutMillis: 100, Subscription: []byte{1}, Assignment: []byte{2}}}}).AppendTo(nil)
	kip848Key := []byte{0, 3, 0, 1, 'g'}

	for _, c := range []struct {
		name, formatter string
		key, value      []byte
		want            string
	}{
		{"offset commit v3", "offsets", offKey, offVal,
			`{"key":{"version":1,"data":{"group":"g","topic":"t","partition":3}},"value":{"version":3,"data":{"offset":42,"leaderEpoch":7,"metadata":"m","commitTimestamp":1000}}}` + "\n"},
		{"offset commit v1", "offsets", offKey, offValV1,
			`{"key":{"version":1,"data":{"group":"g","topic":"t","partition":3}},"value":{"version":1,"data":{"offset":5,"metadata":"","commitTimestamp":10,"expireTimestamp":20}}}` + "\n"},
		{"offset tombstone", "offsets", offKey, nil,
			`{"key":{"version":1,"data":{"group":"g","topic":"t","partition":3}},"value":null}` + "\n"},
		{"offsets skips group metadata", "offsets", grpKey, grpVal, ""},
		{"offsets skips KIP-848 records", "offsets", kip848Key, []byte{0, 0}, ""},
		{"group metadata", "group-metadata", grpKey, grpVal,
			`{"key":{"version":2,"data":{"group":"g"}},"value":{"version":3,"data":{"protocolType":"consumer","generation":2,"protocol":"range","leader":"m1","currentStateTimestamp":99,` +
				`"members":[{"memberId":"m1","groupInstanceId":"i1","clientId":"c","clientHost":"/h","rebalanceTimeout":300,"sessionTimeout":100,"subscription":"AQ==","assignment":"Ag=="}]}}}` + "\n"},
		{"group tombstone", "group-metadata", grpKey, nil, `{"key":{"version":2,"data":{"group":"g"}},"value":null}` + "\n"},
		{"group-metadata skips offset commits", "group-metadata", offKey, offVal, ""},
		{"KIP-848 record: unknown data", "group-metadata", kip848Key, []byte{0, 0},
			`{"key":{"version":3,"data":"unknown"},"value":{"version":0,"data":"unknown"}}` + "\n"},
		{"Kafka's class name", "kafka.coordinator.group.GroupMetadataManager$OffsetsMessageFormatter", offKey, nil,
			`{"key":{"version":1,"data":{"group":"g","topic":"t","partition":3}},"value":null}` + "\n"},
	} {
		f, err := parseFormatter(c.formatter)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := string(f(nil, &kgo.Record{Key: c.key, Value: c.value})); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
	if _, err := parseFormatter("xml"); err == nil {
		t.Error("unknown formatter accepted")
	}
}
