package tests

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataOn asks broker id (and only it) for topic's metadata; it returns
// the topic's error and its partitions' replica lists.
func metadataOn(t *testing.T, cl *kgo.Client, id int32, topic string) (error, [][]int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(int(id)))
	if err != nil {
		t.Fatalf("metadata from broker %d: %v", id, err)
	}
	if len(resp.Topics) != 1 {
		t.Fatalf("metadata from broker %d: %d topics", id, len(resp.Topics))
	}
	mt := resp.Topics[0]
	parts := make([][]int32, len(mt.Partitions))
	for _, p := range mt.Partitions {
		if int(p.Partition) < len(parts) {
			parts[p.Partition] = p.Replicas
		}
	}
	return kerr.ErrorForCode(mt.ErrorCode), parts
}

// Admin results are visible when they return: right after CreateTopics,
// CreatePartitions, AlterPartitionAssignments and DeleteTopics answer
// (sent to one broker), every broker's Metadata answer shows the change.
func TestClusterAdminVisibleOnEveryBroker(t *testing.T) {
	c := startCluster(t, 3)
	cl := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for round := 0; round < 5; round++ {
		topic := fmt.Sprintf("visible-%d", round)
		// Each round goes through another broker.
		via := kadm.NewClient(newClient(t, c.addrs[round%3]))
		if _, err := via.CreateTopic(ctx, 2, 2, nil, topic); err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
		for id := int32(1); id <= 3; id++ {
			if err, parts := metadataOn(t, cl, id, topic); err != nil || len(parts) != 2 {
				t.Fatalf("round %d: broker %d right after CreateTopics: err %v, %d partitions", round, id, err, len(parts))
			}
		}

		if _, err := via.CreatePartitions(ctx, 2, topic); err != nil {
			t.Fatalf("create partitions %s: %v", topic, err)
		}
		for id := int32(1); id <= 3; id++ {
			if err, parts := metadataOn(t, cl, id, topic); err != nil || len(parts) != 4 {
				t.Fatalf("round %d: broker %d right after CreatePartitions: err %v, %d partitions", round, id, err, len(parts))
			}
		}

		_, cur := metadataOn(t, cl, 1, topic)
		target := []int32{1, 2, 3}
		if slices.Contains(cur[0], 3) && slices.Contains(cur[0], 1) {
			target = []int32{1, 3, 2}
		}
		var req kadm.AlterPartitionAssignmentsReq
		req.Assign(topic, 0, target)
		rs, err := via.AlterPartitionAssignments(ctx, req)
		if err != nil || rs[topic][0].Err != nil {
			t.Fatalf("reassign %s: %v %v", topic, err, rs[topic][0].Err)
		}
		for id := int32(1); id <= 3; id++ {
			_, parts := metadataOn(t, cl, id, topic)
			if !slices.Contains(parts[0], target[2]) {
				t.Fatalf("round %d: broker %d right after AlterPartitionAssignments: replicas %v, want the new one %d", round, id, parts[0], target[2])
			}
		}

		rs2, err := via.DeleteTopics(ctx, topic)
		if err != nil || rs2[topic].Err != nil {
			t.Fatalf("delete %s: %v %v", topic, err, rs2[topic].Err)
		}
		for id := int32(1); id <= 3; id++ {
			if err, _ := metadataOn(t, cl, id, topic); err != kerr.UnknownTopicOrPartition {
				t.Fatalf("round %d: broker %d right after DeleteTopics: %v, want UNKNOWN_TOPIC_OR_PARTITION", round, id, err)
			}
		}
	}
}
