package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Old tools keep working (issue 19): clients frozen on protocol versions
// Kafka 4 removed (KIP-896) produce, consume, and read offsets and group
// lag. sarama pins its request versions to cfg.Version and sends no
// ApiVersions below 2.4, so each case exercises exactly that Kafka
// release's versions:
//
//	0.8.2: Produce v0 / Fetch v0 (magic 0), ListOffsets v0, OffsetCommit v1, OffsetFetch v1
//	0.9:   Produce v1 / Fetch v1 (magic 0), ListOffsets v0, OffsetCommit v2, OffsetFetch v1
//	0.10:  Produce v2 / Fetch v2 (magic 1), ListOffsets v0, OffsetCommit v2, OffsetFetch v1
//	0.10.1: Fetch v3, ListOffsets v1
//	2.1:   Produce v7 / Fetch v10, ListOffsets v3+, OffsetFetch v4+ (v2 batches)
func TestSaramaOldProtocols(t *testing.T) {
	n := startNode(t, "", groupSettings())
	cases := []struct {
		name    string
		version sarama.KafkaVersion
		codecs  []sarama.CompressionCodec
		magic1  bool // timestamps survive
	}{
		{"v0.8.2", sarama.V0_8_2_0, []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy}, false},
		{"v0.9", sarama.V0_9_0_0, []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy}, false},
		{"v0.10", sarama.V0_10_0_0, []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy, sarama.CompressionLZ4}, true},
		{"v0.10.1", sarama.V0_10_1_0, []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionLZ4}, true},
		{"v2.1", sarama.V2_1_0_0, []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionZSTD}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := sarama.NewConfig()
			cfg.Version = c.version
			cfg.ClientID = "sarama-old-" + c.name
			cfg.Producer.Return.Successes = true
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			cfg.Producer.Partitioner = sarama.NewManualPartitioner
			cfg.Producer.Flush.Messages = 10 // several messages per set, so compressed wrappers hold many
			cfg.Consumer.Return.Errors = true
			cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
			addrs := []string{n.Addr()}
			topic := "old-" + c.name

			// Old clients create topics by metadata auto-creation.
			cl, err := sarama.NewClient(addrs, cfg)
			if err != nil {
				t.Fatalf("client: %v", err)
			}
			defer cl.Close()
			adm := newAdmin(t, n.Addr())
			if _, err := adm.CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
				t.Fatal(err)
			}

			// Produce: per codec, 25 messages (some keyless), in sets of 10.
			prod, err := sarama.NewSyncProducerFromClient(cl)
			if err != nil {
				t.Fatalf("producer: %v", err)
			}
			base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
			type sent struct {
				key, value string
				ts         time.Time
			}
			var want []sent
			for ci, codec := range c.codecs {
				pcfg := *cfg
				pcfg.Producer.Compression = codec
				p, err := sarama.NewSyncProducer(addrs, &pcfg)
				if err != nil {
					t.Fatalf("producer %v: %v", codec, err)
				}
				var msgs []*sarama.ProducerMessage
				for i := 0; i < 25; i++ {
					s := sent{value: fmt.Sprintf("%v-%d", codec, i), ts: base.Add(time.Duration(ci*100+i) * time.Second)}
					m := &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(s.value), Timestamp: s.ts}
					if i%5 != 0 {
						s.key = fmt.Sprintf("k%d", i)
						m.Key = sarama.StringEncoder(s.key)
					}
					want = append(want, s)
					msgs = append(msgs, m)
				}
				if err := p.SendMessages(msgs); err != nil {
					t.Fatalf("SendMessages %v: %v", codec, err)
				}
				for i, m := range msgs {
					if m.Offset != int64(ci*25+i) {
						t.Fatalf("%v message %d acknowledged at offset %d, want %d", codec, i, m.Offset, ci*25+i)
					}
				}
				p.Close()
			}
			prod.Close()
			total := int64(len(want))

			// ListOffsets (v0 below 0.10.1).
			if end, err := cl.GetOffset(topic, 0, sarama.OffsetNewest); err != nil || end != total {
				t.Fatalf("GetOffset newest: %d %v, want %d", end, err, total)
			}
			if start, err := cl.GetOffset(topic, 0, sarama.OffsetOldest); err != nil || start != 0 {
				t.Fatalf("GetOffset oldest: %d %v, want 0", start, err)
			}

			// Fetch from the middle of the log: every record from there on,
			// in order, with keys and (magic 1) timestamps.
			cons, err := sarama.NewConsumerFromClient(cl)
			if err != nil {
				t.Fatal(err)
			}
			defer cons.Close()
			const from = 7
			pc, err := cons.ConsumePartition(topic, 0, from)
			if err != nil {
				t.Fatalf("ConsumePartition: %v", err)
			}
			timeout := time.After(30 * time.Second)
			for next := int64(from); next < total; next++ {
				select {
				case m := <-pc.Messages():
					w := want[next]
					if m.Offset != next || string(m.Key) != w.key || string(m.Value) != w.value {
						t.Fatalf("offset %d: got %d %q=%q, want %q=%q", next, m.Offset, m.Key, m.Value, w.key, w.value)
					}
					if c.magic1 && !m.Timestamp.Equal(w.ts) {
						t.Fatalf("offset %d: timestamp %v, want %v", next, m.Timestamp, w.ts)
					}
				case err := <-pc.Errors():
					t.Fatalf("consume: %v", err)
				case <-timeout:
					t.Fatalf("consumed up to %d of %d", next, total)
				}
			}
			pc.Close()

			// Commit with this version's OffsetCommit, read back with its
			// OffsetFetch, and compute lag as Burrow does.
			group := "old-group-" + c.name
			om, err := sarama.NewOffsetManagerFromClient(group, cl)
			if err != nil {
				t.Fatal(err)
			}
			pom, err := om.ManagePartition(topic, 0)
			if err != nil {
				t.Fatal(err)
			}
			const committedAt = 30
			pom.MarkOffset(committedAt, "meta")
			om.Commit()
			pom.Close()
			om.Close()

			coord, err := cl.Coordinator(group)
			if err != nil {
				t.Fatalf("coordinator: %v", err)
			}
			req := &sarama.OffsetFetchRequest{ConsumerGroup: group}
			switch {
			case c.version.IsAtLeast(sarama.V2_1_0_0):
				req.Version = 5
			case c.version.IsAtLeast(sarama.V0_8_2_0):
				req.Version = 1
			}
			req.AddPartition(topic, 0)
			fr, err := coord.FetchOffset(req)
			if err != nil {
				t.Fatalf("OffsetFetch v%d: %v", req.Version, err)
			}
			blk := fr.GetBlock(topic, 0)
			if blk == nil || blk.Err != sarama.ErrNoError || blk.Offset != committedAt || blk.Metadata != "meta" {
				t.Fatalf("OffsetFetch v%d: %+v", req.Version, blk)
			}
			end, _ := cl.GetOffset(topic, 0, sarama.OffsetNewest)
			if lag := end - blk.Offset; lag != total-committedAt {
				t.Fatalf("lag %d, want %d", lag, total-committedAt)
			}
			// Modern tools see the same commit.
			offs, err := adm.FetchOffsets(context.Background(), group)
			if err != nil {
				t.Fatal(err)
			}
			if o, ok := offs.Lookup(topic, 0); !ok || o.At != committedAt {
				t.Fatalf("kadm sees %+v, want %d", o, committedAt)
			}
			if c.version.IsAtLeast(sarama.V0_10_0_0) {
				sadm, err := sarama.NewClusterAdminFromClient(cl)
				if err != nil {
					t.Fatal(err)
				}
				res, err := sadm.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0}})
				if err != nil || res.GetBlock(topic, 0) == nil || res.GetBlock(topic, 0).Offset != committedAt {
					t.Fatalf("ListConsumerGroupOffsets: %v %+v", err, res)
				}
			}
		})
	}
}

// A modern client reads what an old producer wrote, and an old consumer
// what a modern producer wrote (headers dropped, records intact).
func TestOldAndNewClientsInterleave(t *testing.T) {
	n := startNode(t, "", nil)
	const topic = "interleave"
	if _, err := newAdmin(t, n.Addr()).CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, n.Addr(), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		r := &kgo.Record{Key: []byte(fmt.Sprintf("new%d", i)), Value: []byte("v"), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("x")}}}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V0_9_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.Compression = sarama.CompressionGZIP
	old, err := sarama.NewSyncProducer([]string{n.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, _, err := old.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("old%d", i)), Value: sarama.StringEncoder("v")}); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	// Modern consumer: all ten; magic 0 records have no timestamp.
	cons := newClient(t, n.Addr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < 10 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, fmt.Sprintf("%d:%s", r.Offset, r.Key)) })
	}
	for i, g := range got {
		prefix := "new"
		if i >= 5 {
			prefix = "old"
		}
		if g != fmt.Sprintf("%d:%s%d", i, prefix, i%5) {
			t.Fatalf("modern consumer read %v", got)
		}
	}

	// Old consumer (Fetch v1, magic 0).
	oc, err := sarama.NewConsumer([]string{n.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	pc, err := oc.ConsumePartition(topic, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for i := 0; i < 10; i++ {
		select {
		case m := <-pc.Messages():
			prefix := "new"
			if i >= 5 {
				prefix = "old"
			}
			if m.Offset != int64(i) || string(m.Key) != fmt.Sprintf("%s%d", prefix, i%5) || len(m.Headers) != 0 {
				t.Fatalf("old consumer: offset %d key %q headers %v", m.Offset, m.Key, m.Headers)
			}
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-time.After(30 * time.Second):
			t.Fatalf("old consumer stuck at %d", i)
		}
	}
}

// TestKcatOldProtocol drives kcat (librdkafka) with ApiVersions disabled and
// the broker version pinned to 0.9.0 and 0.10.0, so it speaks Produce v1 /
// Fetch v1 (magic 0) and Produce v2 / Fetch v2 (magic 1) with ListOffsets
// v0 and Metadata v0: produce keyed lines (plain and compressed), consume
// them back.
func TestKcatOldProtocol(t *testing.T) {
	kcat := requireTool(t, "kcat", "apt-get install kcat")
	n := startNode(t, "", nil)
	for _, c := range []struct{ fallback, codec string }{
		{"0.8.2", "none"}, {"0.8.2", "snappy"}, {"0.9.0", "gzip"}, {"0.9.0", "lz4"},
	} {
		t.Run(c.fallback+"-"+c.codec, func(t *testing.T) {
			topic := "kcat-old-" + strings.ReplaceAll(c.fallback, ".", "") + "-" + c.codec
			if _, err := newAdmin(t, n.Addr()).CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			old := []string{"-b", n.Addr(), "-X", "api.version.request=false", "-X", "broker.version.fallback=" + c.fallback}
			var in strings.Builder
			for i := 0; i < 200; i++ {
				fmt.Fprintf(&in, "k%d:line-%d\n", i%7, i)
			}
			if _, errOut, err := runCmd(t, time.Minute, in.String(), nil, kcat, append(old, "-P", "-t", topic, "-K", ":", "-z", c.codec, "-X", "linger.ms=50")...); err != nil {
				t.Fatalf("kcat -P: %v\n%s", err, tail(errOut))
			}
			out, errOut, err := runCmd(t, time.Minute, "", nil, kcat, append(old, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%o %k:%s\n")...)
			if err != nil {
				t.Fatalf("kcat -C: %v\n%s", err, tail(errOut))
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 200 {
				t.Fatalf("consumed %d lines, want 200:\n%s\n%s", len(lines), tail(out), tail(errOut))
			}
			for i, l := range lines {
				if want := fmt.Sprintf("%d k%d:line-%d", i, i%7, i); l != want {
					t.Fatalf("line %d: %q, want %q", i, l, want)
				}
			}
		})
	}
}

// Burrow-style lag monitoring with a 0.8.2-era client: it consumes
// __consumer_offsets with Fetch v0 (down-converted to magic 0) and decodes
// the commit records itself, and reads log ends with ListOffsets v0.
func TestSaramaOldReadsConsumerOffsetsTopic(t *testing.T) {
	n := startNode(t, "", groupSettings())
	ctx := context.Background()
	adm := newAdmin(t, n.Addr())
	const topic, group = "burrowed", "burrow-watched"
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	produceN(t, newClient(t, n.Addr()), topic, 20)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 12, LeaderEpoch: -1})
	if r, err := adm.CommitOffsets(ctx, group, offs); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V0_8_2_0
	cfg.ClientID = "burrow"
	cfg.Consumer.Return.Errors = true
	cl, err := sarama.NewClient([]string{n.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cons, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	parts, err := cl.Partitions("__consumer_offsets")
	if err != nil || len(parts) != 5 {
		t.Fatalf("__consumer_offsets partitions: %v %v", parts, err)
	}
	found := int64(-1)
	for _, p := range parts {
		end, err := cl.GetOffset("__consumer_offsets", p, sarama.OffsetNewest)
		if err != nil {
			t.Fatalf("GetOffset: %v", err)
		}
		if end == 0 {
			continue
		}
		pc, err := cons.ConsumePartition("__consumer_offsets", p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for next := int64(0); next < end; {
			select {
			case m := <-pc.Messages():
				next = m.Offset + 1
				var k kmsg.OffsetCommitKey
				if m.Key == nil || k.ReadFrom(m.Key) != nil || k.Version > 1 || k.Group != group || m.Value == nil {
					continue // group metadata or another group
				}
				var v kmsg.OffsetCommitValue
				if err := v.ReadFrom(m.Value); err != nil {
					t.Fatalf("offset commit value: %v", err)
				}
				if k.Topic == topic && k.Partition == 0 {
					found = v.Offset
				}
			case err := <-pc.Errors():
				t.Fatal(err)
			case <-time.After(30 * time.Second):
				t.Fatalf("partition %d stuck", p)
			}
		}
		pc.Close()
	}
	if found != 12 {
		t.Fatalf("commit read from __consumer_offsets: %d, want 12", found)
	}
	end, err := cl.GetOffset(topic, 0, sarama.OffsetNewest)
	if err != nil || end-found != 8 {
		t.Fatalf("lag %d (end %d, %v), want 8", end-found, end, err)
	}
}
