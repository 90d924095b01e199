package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func producePart(t testing.TB, w *wireConn, topic string, acks int16, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	resp := w.roundTrip(produceReq(topic, 0, acks, batch), 9).(*kmsg.ProduceResponse)
	return resp.Topics[0].Partitions[0]
}

func TestProduceRejectsBadBatches(t *testing.T) {
	n := startNode(t, "", nil)
	w := dial(t, n.Addr())
	mustCreate(t, w, "strict", 1, map[string]string{"max.message.bytes": "1000"})
	good := makeBatch(-1, -1, -1, "ok")
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)-1] ^= 0xff
	badMagic := append([]byte(nil), good...)
	badMagic[16] = 1
	short := append([]byte(nil), good[:len(good)-3]...)
	twoBatches := append(append([]byte(nil), good...), good...)
	control := makeBatch(-1, -1, -1, "c")
	control[22] |= 0x20
	resign(control)
	big := makeBatch(-1, -1, -1, string(make([]byte, 2000)))
	cases := []struct {
		name  string
		batch []byte
		want  *kerr.Error
	}{
		{"bit flip fails CRC", flipped, kerr.CorruptMessage},
		{"magic 1", badMagic, kerr.UnsupportedForMessageFormat},
		{"truncated", short, kerr.CorruptMessage},
		{"two batches", twoBatches, kerr.InvalidRecord},
		{"control batch from a client", control, kerr.InvalidRecord},
		{"over max.message.bytes", big, kerr.MessageTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := producePart(t, w, "strict", 1, tc.batch)
			if p.ErrorCode != tc.want.Code || p.BaseOffset != -1 {
				t.Fatalf("error %d offset %d, want %s", p.ErrorCode, p.BaseOffset, tc.want)
			}
		})
	}
	if p := producePart(t, w, "strict", 1, good); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("good batch after bad ones: error %d offset %d", p.ErrorCode, p.BaseOffset)
	}
	resp := w.roundTrip(produceReq("strict", 0, 2, good), 9).(*kmsg.ProduceResponse)
	if c := resp.Topics[0].Partitions[0].ErrorCode; c != kerr.InvalidRequiredAcks.Code {
		t.Fatalf("acks=2: error %d", c)
	}
	if p := producePart(t, w, "nope", 1, good); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: error %d", p.ErrorCode)
	}
}

// resign recomputes a test batch's CRC after editing attributes.
func resign(b []byte) {
	crc := kmsgCRC(b[21:])
	b[17], b[18], b[19], b[20] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
}

func TestIdempotentProduce(t *testing.T) {
	n := startNode(t, "", nil)
	w := dial(t, n.Addr())
	mustCreate(t, w, "idem", 1, nil)
	ip := w.roundTrip(kmsg.NewPtrInitProducerIDRequest(), 4).(*kmsg.InitProducerIDResponse)
	if ip.ErrorCode != 0 || ip.ProducerID < 0 || ip.ProducerEpoch != 0 {
		t.Fatalf("init producer id: %+v", ip)
	}
	pid := ip.ProducerID
	steps := []struct {
		name     string
		epoch    int16
		seq      int32
		n        int
		wantCode *kerr.Error
		wantOff  int64
	}{
		{"first batch", 0, 0, 3, nil, 0},
		{"retry of the first batch is a duplicate", 0, 0, 3, nil, 0},
		{"next in sequence", 0, 3, 2, nil, 3},
		{"gap", 0, 9, 1, kerr.OutOfOrderSequenceNumber, -1},
		{"retry of an older batch is still a duplicate", 0, 0, 3, nil, 0},
		{"in sequence after the gap was refused", 0, 5, 1, nil, 5},
		{"new epoch must start at zero", 1, 6, 1, kerr.OutOfOrderSequenceNumber, -1},
		{"new epoch from zero", 1, 0, 1, nil, 6},
		{"old epoch is fenced", 0, 6, 1, kerr.InvalidProducerEpoch, -1},
	}
	for _, s := range steps {
		vals := make([]string, s.n)
		for i := range vals {
			vals[i] = fmt.Sprint(s.seq + int32(i))
		}
		p := producePart(t, w, "idem", -1, makeBatch(pid, s.epoch, s.seq, vals...))
		wantCode := int16(0)
		if s.wantCode != nil {
			wantCode = s.wantCode.Code
		}
		if p.ErrorCode != wantCode || p.BaseOffset != s.wantOff {
			t.Fatalf("%s: error %d offset %d, want %d offset %d", s.name, p.ErrorCode, p.BaseOffset, wantCode, s.wantOff)
		}
	}
	// KIP-360: librdkafka bumps its epoch by sending its producer id and
	// epoch; without a transactional id Kafka answers a fresh producer id
	// at epoch 0, and so do we (the client renumbers from sequence 0).
	bump := kmsg.NewPtrInitProducerIDRequest()
	bump.ProducerID, bump.ProducerEpoch = pid, 1
	if ip := w.roundTrip(bump, 4).(*kmsg.InitProducerIDResponse); ip.ErrorCode != 0 || ip.ProducerID == pid || ip.ProducerID < 0 || ip.ProducerEpoch != 0 {
		t.Fatalf("init producer id with an existing id and epoch: %+v, want a new id at epoch 0", ip)
	}
	fr := w.roundTrip(fetchReq("idem", 0, 0), 12).(*kmsg.FetchResponse)
	if hw := fr.Topics[0].Partitions[0].HighWatermark; hw != 7 {
		t.Fatalf("high watermark %d, want 7 (duplicates must not be stored)", hw)
	}
	// Producer state survives a restart: a retry after restart is still a duplicate.
	dir := t.TempDir()
	n2 := startNode(t, dir, nil)
	w2 := dial(t, n2.Addr())
	mustCreate(t, w2, "idem", 1, nil)
	producePart(t, w2, "idem", -1, makeBatch(pid, 0, 0, "a", "b"))
	n2.Close()
	n3 := startNode(t, dir, nil)
	w3 := dial(t, n3.Addr())
	if p := producePart(t, w3, "idem", -1, makeBatch(pid, 0, 0, "a", "b")); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("retry after restart: error %d offset %d", p.ErrorCode, p.BaseOffset)
	}
	if p := producePart(t, w3, "idem", -1, makeBatch(pid, 0, 5, "z")); p.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap after restart: error %d", p.ErrorCode)
	}
}

func TestCompressionCodecsPassThrough(t *testing.T) {
	n := startNode(t, "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	codecID := map[string]int8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			topic := "codec-" + name
			p := newClient(t, n.Addr(), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(codec), kgo.AllowAutoTopicCreation())
			var recs []*kgo.Record
			for i := 0; i < 200; i++ {
				recs = append(recs, &kgo.Record{Value: []byte(fmt.Sprintf("value-%d-%s", i, name))})
			}
			if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			// The stored batches keep the producer's codec.
			w := dial(t, n.Addr())
			fr := w.roundTrip(fetchReq(topic, 0, 0), 12).(*kmsg.FetchResponse)
			raw := fr.Topics[0].Partitions[0].RecordBatches
			if len(raw) < 61 || int8(raw[22]&7) != codecID[name] {
				t.Fatalf("stored codec %d, want %d", raw[22]&7, codecID[name])
			}
			c := newClient(t, n.Addr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			got := 0
			for got < len(recs) {
				fs := c.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatal(err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					if want := fmt.Sprintf("value-%d-%s", got, name); string(r.Value) != want || r.Offset != int64(got) {
						t.Fatalf("record %d: %q at offset %d", got, r.Value, r.Offset)
					}
					got++
				})
			}
		})
	}
}

func TestLogAppendTime(t *testing.T) {
	n := startNode(t, "", nil)
	w := dial(t, n.Addr())
	mustCreate(t, w, "lat", 1, map[string]string{"message.timestamp.type": "LogAppendTime"})
	before := time.Now().UnixMilli()
	old := makeBatch(-1, -1, -1, "a", "b")
	p := producePart(t, w, "lat", 1, old)
	if p.ErrorCode != 0 || p.LogAppendTime < before {
		t.Fatalf("error %d log append time %d (before %d)", p.ErrorCode, p.LogAppendTime, before)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := newClient(t, n.Addr(), kgo.ConsumeTopics("lat"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for got := 0; got < 2; {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			if r.Timestamp.UnixMilli() != p.LogAppendTime || r.Attrs.TimestampType() != 1 {
				t.Fatalf("record timestamp %d type %d, want %d type 1", r.Timestamp.UnixMilli(), r.Attrs.TimestampType(), p.LogAppendTime)
			}
		})
	}
}

func TestFetchOutOfRangeAndLongPoll(t *testing.T) {
	n := startNode(t, "", nil)
	w := dial(t, n.Addr())
	mustCreate(t, w, "poll", 1, nil)
	producePart(t, w, "poll", 1, makeBatch(-1, -1, -1, "a"))
	fr := w.roundTrip(fetchReq("poll", 0, 5), 12).(*kmsg.FetchResponse)
	if p := fr.Topics[0].Partitions[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code || p.HighWatermark != 1 {
		t.Fatalf("fetch past end: error %d hw %d", p.ErrorCode, p.HighWatermark)
	}
	// A long poll at the log end is woken by an append on another connection:
	// with a 20 s max wait, an answer without data would mean it was not.
	req := fetchReq("poll", 0, 1)
	req.MaxWaitMillis = 20000
	req.MinBytes = 1
	done := make(chan *kmsg.FetchResponse, 1)
	go func() { done <- w.roundTrip(req, 12).(*kmsg.FetchResponse) }()
	time.Sleep(100 * time.Millisecond)
	w2 := dial(t, n.Addr())
	producePart(t, w2, "poll", 1, makeBatch(-1, -1, -1, "b"))
	resp := <-done
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Fatalf("long poll returned error %d with %d bytes", p.ErrorCode, len(p.RecordBatches))
	}
}

// Fetch v13+ names topics by id (sessions: fetch_sessions_test.go).
func TestFetchByTopicID(t *testing.T) {
	n := startNode(t, "", nil)
	w := dial(t, n.Addr())
	mustCreate(t, w, "ids", 1, nil)
	producePart(t, w, "ids", 1, makeBatch(-1, -1, -1, "a"))
	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("ids")
	md.Topics = append(md.Topics, mt)
	id := w.roundTrip(md, 12).(*kmsg.MetadataResponse).Topics[0].TopicID
	req := fetchReq("", 0, 0)
	req.Topics[0].TopicID = id
	fr := w.roundTrip(req, 16).(*kmsg.FetchResponse)
	if p := fr.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) == 0 || fr.Topics[0].TopicID != id {
		t.Fatalf("fetch by id: error %d, %d bytes", p.ErrorCode, len(p.RecordBatches))
	}
	req.Topics[0].TopicID = [16]byte{1}
	if p := w.roundTrip(req, 16).(*kmsg.FetchResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("unknown id: error %d", p.ErrorCode)
	}
}

func TestCompactedTopicRefusesKeylessAndInternalTopicsRefuseClients(t *testing.T) {
	n := startNode(t, "", nil)
	w := dial(t, n.Addr())
	mustCreate(t, w, "changelog", 1, map[string]string{"cleanup.policy": "compact"})
	if p := producePart(t, w, "changelog", 1, makeBatch(-1, -1, -1, "no key")); p.ErrorCode != kerr.InvalidRecord.Code {
		t.Fatalf("keyless record on a compacted topic: error %d", p.ErrorCode)
	}
	mustCreate(t, w, "__consumer_offsets", 1, nil)
	if p := producePart(t, w, "__consumer_offsets", 1, makeBatch(-1, -1, -1, "x")); p.ErrorCode != kerr.InvalidTopicException.Code {
		t.Fatalf("client produce to __consumer_offsets: error %d", p.ErrorCode)
	}
}

// A topic's compression.type other than "producer" recompresses batches.
func TestTopicCompressionTypeRecompresses(t *testing.T) {
	n := startNode(t, "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cases := []struct {
		topic, config string
		codec         kgo.CompressionCodec
		want          int8
	}{
		{"to-zstd", "zstd", kgo.NoCompression(), 4},
		{"to-none", "uncompressed", kgo.GzipCompression(), 0},
		{"to-lz4", "lz4", kgo.SnappyCompression(), 3},
	}
	w := dial(t, n.Addr())
	for _, tc := range cases {
		mustCreate(t, w, tc.topic, 1, map[string]string{"compression.type": tc.config})
		p := newClient(t, n.Addr(), kgo.DefaultProduceTopic(tc.topic), kgo.ProducerBatchCompression(tc.codec))
		var recs []*kgo.Record
		for i := 0; i < 100; i++ {
			recs = append(recs, &kgo.Record{Key: []byte("k"), Value: []byte(fmt.Sprintf("%s-%d", tc.topic, i))})
		}
		if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		fr := w.roundTrip(fetchReq(tc.topic, 0, 0), 12).(*kmsg.FetchResponse)
		raw := fr.Topics[0].Partitions[0].RecordBatches
		if len(raw) < 61 || int8(raw[22]&7) != tc.want {
			t.Fatalf("%s: stored codec %d, want %d", tc.topic, raw[22]&7, tc.want)
		}
		c := newClient(t, n.Addr(), kgo.ConsumeTopics(tc.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		for got := 0; got < len(recs); {
			fs := c.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if want := fmt.Sprintf("%s-%d", tc.topic, got); string(r.Value) != want {
					t.Fatalf("record %d = %q, want %q", got, r.Value, want)
				}
				got++
			})
		}
	}
}

// Appends run off the connection's reader goroutine (the broker's append
// stage): pipelined idempotent produce requests to several partitions,
// sent in one write, must be appended in their order on the connection
// (every sequence in order, none refused as out of order), answered in
// request order, and a ListOffsets pipelined right behind them must see
// every one of their records.
func TestPipelinedProduceAppendsInOrder(t *testing.T) {
	n := startNode(t, "", nil)
	w := dial(t, n.Addr())
	const parts, rounds = 6, 40
	mustCreate(t, w, "pipeorder", parts, nil)
	ip := w.roundTrip(kmsg.NewPtrInitProducerIDRequest(), 4).(*kmsg.InitProducerIDResponse)
	if ip.ErrorCode != 0 {
		t.Fatalf("init producer id: %+v", ip)
	}
	var out []byte
	for r := 0; r < rounds; r++ {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "pipeorder"
		for p := 0; p < parts; p++ {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition = int32(p)
			rp.Records = makeBatch(ip.ProducerID, ip.ProducerEpoch, int32(2*r), fmt.Sprint(r, "a"), fmt.Sprint(r, "b"))
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		out = append(out, frame(req, 9, int32(100+r))...)
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.ReplicaID = -1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "pipeorder"
	for p := 0; p < parts; p++ {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition, lp.Timestamp = int32(p), -1 // latest
		lt.Partitions = append(lt.Partitions, lp)
	}
	lo.Topics = append(lo.Topics, lt)
	out = append(out, frame(lo, 1, 999)...)
	w.send(out)
	for r := 0; r < rounds; r++ {
		id, body, err := w.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		if id != int32(100+r) {
			t.Fatalf("response %d has correlation id %d", r, id)
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.SetVersion(9)
		if err := resp.ReadFrom(body[1:]); err != nil { // v9 is flexible: empty header tags
			t.Fatal(err)
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != 0 || p.BaseOffset != int64(2*r) {
				t.Fatalf("request %d partition %d: error %d offset %d, want offset %d", r, p.Partition, p.ErrorCode, p.BaseOffset, 2*r)
			}
		}
	}
	id, body, err := w.readFrame()
	if err != nil || id != 999 {
		t.Fatalf("list offsets: id %d err %v", id, err)
	}
	resp := kmsg.NewPtrListOffsetsResponse()
	resp.SetVersion(1)
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != 0 || p.Offset != 2*rounds {
			t.Fatalf("partition %d: latest offset %d (error %d), want %d: a request after the produces must see their appends", p.Partition, p.Offset, p.ErrorCode, 2*rounds)
		}
	}
}
