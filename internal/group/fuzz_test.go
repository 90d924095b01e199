package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzReplay feeds arbitrary __consumer_offsets records (read from disk on
// start) to the coordinator's replay: it must never panic, and a group it
// rebuilds must be usable.
func FuzzReplay(f *testing.F) {
	gv := kmsg.GroupMetadataValue{Version: 3, ProtocolType: "consumer", Generation: 4, Protocol: strp("range"), Leader: strp("m1"),
		Members: []kmsg.GroupMetadataValueMember{{MemberID: "m1", InstanceID: strp("i"), ClientID: "c", ClientHost: "/h", RebalanceTimeoutMillis: 1000, SessionTimeoutMillis: 100}}}
	f.Add(groupKey("g"), gv.AppendTo(nil))
	f.Add(offsetKey("g", "t", 1), offsetValue(&offset{offset: 5, epoch: 2, metadata: "m", commitMs: 1}))
	f.Add(offsetKey("g", "t", 1), []byte(nil))
	f.Add([]byte{0, 2}, []byte{0, 3, 0})
	f.Add([]byte{0, 0, 0, 1, 'g'}, []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{}, []byte{})
	// Consumer group (KIP-848) records.
	cm := newCMember("m1")
	cm.instanceID, cm.names, cm.regex, cm.assignor = strp("i"), []string{"t"}, strp("t.*"), "uniform"
	cm.epoch, cm.prevEpoch, cm.state = 3, 2, mUnrevoked
	cm.assigned.add([16]byte{1}, 0, 3)
	cm.pending.add([16]byte{1}, 1, 2)
	f.Add(cgKey(recConsumerGroupMetadata, "g"), cgMetadataValue(3, 99))
	f.Add(cgMemberKey(recMemberMetadata, "g", "m1"), memberMetadataValue(cm))
	f.Add(cgKey(recTargetMetadata, "g"), targetMetadataValue(3))
	f.Add(cgMemberKey(recTargetMember, "g", "m1"), targetMemberValue(cm.assigned))
	f.Add(cgMemberKey(recCurrentAssignment, "g", "m1"), currentAssignmentValue(cm))
	f.Add(cgMemberKey(recCurrentAssignment, "g", "m1"), []byte(nil))
	f.Add(cgKey(recConsumerGroupMetadata, "g"), []byte(nil))
	// Share group (KIP-932) records.
	f.Add(cgKey(recShareGroupMetadata, "g"), cgMetadataValue(4, 0))
	f.Add(cgKey(recShareGroupMetadata, "g"), []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		clock := newFakeClock()
		c := &Coordinator{cfg: Config{MinSessionTimeout: time.Millisecond, MaxSessionTimeout: time.Hour, Topics: memTopics{"t": 3},
			ConsumerSessionTimeout: time.Second, ConsumerAssignors: []string{"uniform", "range"}}, clock: clock, groups: map[string]*group{},
			nparts: 1, owned: map[int32]*ownedPart{0: {loaded: true}}}
		c.log = discardLogger()
		replay(c.groups, kv{Key: key, Value: value}, clock.Now())
		for _, g := range c.groups {
			g.sortedMembers()
			g.selectProtocol()
			g.subscribedTopics()
			c.groupRecord(g)
			if g.typ == typeShare {
				c.ShareGroupDescribe(&kmsg.ShareGroupDescribeRequest{GroupIDs: []string{g.id}})
			}
			if g.typ == typeConsumer {
				c.finishLoad(g)
				c.ConsumerGroupDescribe(&kmsg.ConsumerGroupDescribeRequest{Groups: []string{g.id}})
				c.consumerSubscribedTopics(g)
				for _, m := range g.cg.members {
					memberMetadataValue(m)
					currentAssignmentValue(m)
				}
			}
		}
	})
}
