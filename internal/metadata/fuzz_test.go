package metadata

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/hashicorp/raft"
)

// FuzzApply feeds arbitrary Raft log entries (one command per line) to the
// metadata state machine, as a corrupt or hostile log would: each entry is
// applied or refused with an error, never by recovering a panic in apply;
// two replicas applying the same entries end in the same state; and that
// state survives a snapshot and restore unchanged.
func FuzzApply(f *testing.F) {
	seed := func(cmds ...*Command) []byte {
		var b bytes.Buffer
		for _, c := range cmds {
			j, err := json.Marshal(c)
			if err != nil {
				f.Fatal(err)
			}
			b.Write(j)
			b.WriteByte('\n')
		}
		return b.Bytes()
	}
	reg := func(id int32) *Command { return &Command{RegisterBroker: &Broker{ID: id, Incarnation: "a"}} }
	topic := &Command{CreateTopic: &Topic{Name: "t", ReplicationFactor: 3,
		Parts: []Partition{{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1}}}}
	f.Add(seed(&Command{InitCluster: &InitCluster{ClusterID: "c"}}, reg(1), reg(2), reg(3), topic,
		&Command{AlterPartition: &AlterPartition{Topic: "t", Leader: 1, ISR: []int32{1, 2}}},
		&Command{ReplicaOffline: &ReplicaOffline{Broker: 1, Topic: "t"}},
		&Command{ElectLeader: &ElectLeader{Topic: "t", Unclean: true}},
		&Command{Reassign: &Reassign{Topic: "t", Target: []int32{2, 3}}},
		&Command{CreatePartitions: &CreatePartitions{Name: "t", Parts: []Partition{{Replicas: []int32{2}, ISR: []int32{2}, Leader: 2}}}},
		&Command{SetTopicConfigs: &SetTopicConfigs{Name: "t", Configs: map[string]string{"retention.ms": "1"}}},
		&Command{FenceBroker: &FenceBroker{ID: 2}},
		&Command{AllocateIDs: &AllocateIDs{Count: 10}},
		&Command{DeleteTopic: &DeleteTopic{Name: "t"}}))
	f.Add(seed(reg(1), &Command{CreateTopic: &Topic{Name: "u", Parts: []Partition{{Replicas: []int32{9}, Leader: 9}}}},
		&Command{AlterPartition: &AlterPartition{Topic: "u", Partition: 5, ISR: nil}},
		&Command{ReplicaOffline: &ReplicaOffline{Broker: 1, Topic: "u", Partition: -1, Online: true}}))
	f.Add([]byte("{}\nnull\n{\"create_topic\":{}}\n{\"alter_partition\":{\"topic\":\"x\",\"partition\":-7}}\n"))
	f.Add([]byte("{\"create_topic\":{\"name\":\"\",\"partitions\":[{}]}}\n{\"reassign\":{\"topic\":\"\",\"cancel\":true}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := newFSM(), newFSM()
		for i, line := range bytes.Split(data, []byte{'\n'}) {
			l := &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: line}
			res := a.Apply(l).(Result)
			if res.Err == errApplyPanicked {
				t.Fatalf("entry %d %q: apply panicked", i, line)
			}
			b.Apply(l)
		}
		sa, err := json.Marshal(a.state())
		if err != nil {
			t.Fatal(err)
		}
		sb, err := json.Marshal(b.state())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sa, sb) {
			t.Fatalf("two replicas of the same log differ:\n%s\n%s", sa, sb)
		}
		c := newFSM()
		if err := c.Restore(readCloser{bytes.NewReader(sa)}); err != nil {
			t.Fatalf("restoring %s: %v", sa, err)
		}
		sc, err := json.Marshal(c.state())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sa, sc) {
			t.Fatalf("snapshot %s restored as %s", sa, sc)
		}
	})
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
