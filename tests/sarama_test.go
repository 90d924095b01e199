package tests

import (
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestSarama runs sarama (github.com/IBM/sarama) against the broker at
// several protocol versions: ClusterAdmin topic admin and configs, a sync
// producer (plain and idempotent, compressed), and partition consumers
// reading everything back in order.
func TestSarama(t *testing.T) {
	cases := []struct {
		name        string
		version     sarama.KafkaVersion
		idempotent  bool
		compression sarama.CompressionCodec
	}{
		{"v2.1-gzip", sarama.V2_1_0_0, false, sarama.CompressionGZIP},
		{"v2.8-default-snappy", sarama.DefaultVersion, false, sarama.CompressionSnappy},
		{"v3.6-idempotent-zstd", sarama.V3_6_0_0, true, sarama.CompressionZSTD},
		{"max-idempotent-lz4", sarama.MaxVersion, true, sarama.CompressionLZ4},
	}
	n := startNode(t, "", nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := sarama.NewConfig()
			cfg.Version = c.version
			cfg.ClientID = "sarama-test"
			cfg.Producer.Return.Successes = true
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			cfg.Producer.Compression = c.compression
			cfg.Producer.Retry.Max = 5
			if c.idempotent {
				cfg.Producer.Idempotent = true
				cfg.Net.MaxOpenRequests = 1
			}
			cfg.Consumer.Return.Errors = true
			cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
			cfg.Metadata.AllowAutoTopicCreation = false
			addrs := []string{n.Addr()}
			topic := "sarama-" + strings.NewReplacer(".", "", "-", "").Replace(c.name)

			adm, err := sarama.NewClusterAdmin(addrs, cfg)
			if err != nil {
				t.Fatalf("cluster admin: %v", err)
			}
			defer adm.Close()
			retention := "3600000"
			if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 6, ReplicationFactor: 1,
				ConfigEntries: map[string]*string{"retention.ms": &retention}}, false); err != nil {
				t.Fatalf("CreateTopic: %v", err)
			}
			err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
			if te, ok := err.(*sarama.TopicError); !ok || te.Err != sarama.ErrTopicAlreadyExists {
				t.Fatalf("duplicate CreateTopic: %v", err)
			}
			topics, err := adm.ListTopics()
			if err != nil {
				t.Fatalf("ListTopics: %v", err)
			}
			if d, ok := topics[topic]; !ok || d.NumPartitions != 6 || d.ReplicationFactor != 1 || d.ConfigEntries["retention.ms"] == nil || *d.ConfigEntries["retention.ms"] != retention {
				t.Fatalf("ListTopics: %+v", topics[topic])
			}
			md, err := adm.DescribeTopics([]string{topic})
			if err != nil || len(md) != 1 || md[0].Err != sarama.ErrNoError || len(md[0].Partitions) != 6 {
				t.Fatalf("DescribeTopics: %v %+v", err, md)
			}
			for _, p := range md[0].Partitions {
				if p.Leader != 1 || len(p.Isr) != 1 || p.Isr[0] != 1 {
					t.Fatalf("partition %d: leader %d isr %v", p.ID, p.Leader, p.Isr)
				}
			}
			entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
			if err != nil {
				t.Fatalf("DescribeConfig: %v", err)
			}
			found := false
			for _, e := range entries {
				if e.Name == "retention.ms" {
					found = e.Value == retention
				}
			}
			if !found {
				t.Fatalf("DescribeConfig: retention.ms=%s not found in %+v", retention, entries)
			}
			brokers, ctrl, err := adm.DescribeCluster()
			if err != nil || len(brokers) != 1 || brokers[0].ID() != 1 || ctrl != 1 {
				t.Fatalf("DescribeCluster: %v %v %v", brokers, ctrl, err)
			}

			prod, err := sarama.NewSyncProducer(addrs, cfg)
			if err != nil {
				t.Fatalf("sync producer: %v", err)
			}
			const total, keys = 1000, 23
			lines := keyedLines(total, keys)
			msgs := make([]*sarama.ProducerMessage, 0, 100)
			partOf := map[string]int32{}
			send := func() {
				if err := prod.SendMessages(msgs); err != nil {
					t.Fatalf("SendMessages: %v", err)
				}
				for _, m := range msgs {
					k, _ := m.Key.Encode()
					if p, ok := partOf[string(k)]; ok && p != m.Partition {
						t.Fatalf("key %s acknowledged in partitions %d and %d", k, p, m.Partition)
					}
					partOf[string(k)] = m.Partition
					if m.Offset < 0 {
						t.Fatalf("acknowledged offset %d", m.Offset)
					}
				}
				msgs = msgs[:0]
			}
			for _, l := range lines {
				k, v, _ := strings.Cut(l, ":")
				msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(k), Value: sarama.StringEncoder(v),
					Headers: []sarama.RecordHeader{{Key: []byte("h"), Value: []byte("1")}}})
				if len(msgs) == cap(msgs) {
					send()
				}
			}
			send()
			if err := prod.Close(); err != nil {
				t.Fatalf("producer close: %v", err)
			}

			cons, err := sarama.NewConsumer(addrs, cfg)
			if err != nil {
				t.Fatalf("consumer: %v", err)
			}
			defer cons.Close()
			parts, err := cons.Partitions(topic)
			if err != nil || len(parts) != 6 {
				t.Fatalf("Partitions: %v %v", parts, err)
			}
			var recs []keyedRecord
			for _, p := range parts {
				pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
				if err != nil {
					t.Fatalf("ConsumePartition %d: %v", p, err)
				}
				client, err := sarama.NewClient(addrs, cfg)
				if err != nil {
					t.Fatal(err)
				}
				end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
				client.Close()
				if err != nil {
					t.Fatalf("GetOffset: %v", err)
				}
				timeout := time.After(30 * time.Second)
				for next := int64(0); next < end; {
					select {
					case m := <-pc.Messages():
						if len(m.Headers) != 1 || string(m.Headers[0].Key) != "h" {
							t.Fatalf("headers %v", m.Headers)
						}
						recs = append(recs, keyedRecord{m.Partition, m.Offset, string(m.Key), string(m.Value)})
						next = m.Offset + 1
					case err := <-pc.Errors():
						t.Fatalf("partition %d: %v", p, err)
					case <-timeout:
						t.Fatalf("partition %d: consumed up to %d of %d", p, next, end)
					}
				}
				if err := pc.Close(); err != nil {
					t.Fatalf("partition consumer close: %v", err)
				}
			}
			checkKeyedOrder(t, recs, total, keys)

			if err := adm.DeleteTopic(topic); err != nil {
				t.Fatalf("DeleteTopic: %v", err)
			}
			if err := adm.DeleteTopic(topic); err == nil {
				t.Fatal("second DeleteTopic succeeded")
			}
		})
	}
}

// TestSaramaAdminExtras: sarama's CreatePartitions, AlterConfig,
// IncrementalAlterConfig, DeleteRecords and GetOffset (earliest, latest, by
// timestamp) against the broker.
func TestSaramaAdminExtras(t *testing.T) {
	n := startNode(t, "", nil)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	addrs := []string{n.Addr()}
	adm, err := sarama.NewClusterAdmin(addrs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	const topic = "extras"
	if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	if err := adm.CreatePartitions(topic, 4, nil, false); err != nil {
		t.Fatalf("CreatePartitions: %v", err)
	}
	if err := adm.CreatePartitions(topic, 3, nil, false); err == nil {
		t.Fatal("CreatePartitions shrinking 4 -> 3 succeeded")
	}
	md, err := adm.DescribeTopics([]string{topic})
	if err != nil || len(md) != 1 || len(md[0].Partitions) != 4 {
		t.Fatalf("after CreatePartitions: %v %+v", err, md)
	}

	v := "1000000"
	if err := adm.AlterConfig(sarama.TopicResource, topic, map[string]*string{"retention.bytes": &v}, false); err != nil {
		t.Fatalf("AlterConfig: %v", err)
	}
	ms := "7200000"
	if err := adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &ms},
	}, false); err != nil {
		t.Fatalf("IncrementalAlterConfig: %v", err)
	}
	bad := "-5x"
	if err := adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &bad},
	}, false); err == nil {
		t.Fatal("IncrementalAlterConfig retention.ms=-5x succeeded")
	}
	entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range entries {
		if e.Source == sarama.SourceTopic {
			got[e.Name] = e.Value
		}
	}
	// AlterConfigs replaces the whole set, so retention.bytes stays and
	// retention.ms is added by the incremental call.
	if got["retention.bytes"] != v || got["retention.ms"] != ms || len(got) != 2 {
		t.Fatalf("topic overrides %v", got)
	}

	prod, err := sarama.NewSyncProducer(addrs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var stamps []time.Time
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := 0; i < 10; i++ {
		ts := base.Add(time.Duration(i) * time.Minute)
		stamps = append(stamps, ts)
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder("v"), Timestamp: ts}); err != nil {
			t.Fatal(err)
		}
	}
	prod.Close()
	cl, err := sarama.NewClient(addrs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const part = 0
	if end, err := cl.GetOffset(topic, part, sarama.OffsetNewest); err != nil || end != 10 {
		t.Fatalf("GetOffset newest: %d %v, want 10", end, err)
	}
	if off, err := cl.GetOffset(topic, part, stamps[4].UnixMilli()); err != nil || off != 4 {
		t.Fatalf("GetOffset by timestamp: %d %v, want 4", off, err)
	}
	if err := adm.DeleteRecords(topic, map[int32]int64{part: 3}); err != nil {
		t.Fatalf("DeleteRecords: %v", err)
	}
	if off, err := cl.GetOffset(topic, part, sarama.OffsetOldest); err != nil || off != 3 {
		t.Fatalf("GetOffset oldest after DeleteRecords: %d %v, want 3", off, err)
	}
}
