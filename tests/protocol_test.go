package tests

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/broker"
)

func TestApiVersionsAdvertisesServedRanges(t *testing.T) {
	n := startNode(t, "", nil)
	w := dial(t, n.Addr())
	for _, v := range []int16{0, 1, 2, 3, 4} {
		resp := w.roundTrip(kmsg.NewPtrApiVersionsRequest(), v).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("v%d: error %d", v, resp.ErrorCode)
		}
		want := broker.AdvertisedAPIs()
		if len(resp.ApiKeys) != len(want) {
			t.Fatalf("v%d: %d keys, want %d", v, len(resp.ApiKeys), len(want))
		}
		for i, k := range resp.ApiKeys {
			if k.ApiKey != want[i].ApiKey || k.MinVersion != want[i].MinVersion || k.MaxVersion != want[i].MaxVersion {
				t.Fatalf("v%d: key %d = %+v, want %+v", v, i, k, want[i])
			}
			if req := kmsg.RequestForKey(k.ApiKey); req == nil || k.MaxVersion > req.MaxVersion() || k.MinVersion > k.MaxVersion {
				t.Fatalf("advertised range %+v is not a valid kmsg range", k)
			}
		}
	}
	// The minimums every mainstream client needs (kafka-python 2.0, kafkajs 2,
	// librdkafka 2.0 start at these or above; Java 4 and franz-go go to the max).
	need := map[int16][2]int16{0: {3, 13}, 1: {4, 18}, 2: {1, 11}, 3: {0, 13}, 18: {0, 4}, 19: {2, 7}, 20: {1, 6}, 32: {1, 4}}
	got := map[int16]kmsg.ApiVersionsResponseApiKey{}
	for _, k := range broker.AdvertisedAPIs() {
		got[k.ApiKey] = k
	}
	for key, r := range need {
		k, ok := got[key]
		if !ok || k.MinVersion > r[0] || k.MaxVersion < r[1] {
			t.Errorf("%s advertised %+v, need at least %d-%d", kmsg.NameForKey(key), k, r[0], r[1])
		}
	}
}

// KIP-511: an ApiVersions version the broker does not know is answered at v0
// with UNSUPPORTED_VERSION and the supported ranges.
func TestApiVersionsUnknownVersionFallsBack(t *testing.T) {
	n := startNode(t, "", nil)
	w := dial(t, n.Addr())
	req := kmsg.NewPtrApiVersionsRequest()
	b := frame(req, 3, 7)
	binary.BigEndian.PutUint16(b[6:], 99) // version 99
	w.send(b)
	id, body, err := w.readFrame()
	if err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	if id != 7 || resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
		t.Fatalf("got id %d error %d with %d keys", id, resp.ErrorCode, len(resp.ApiKeys))
	}
	// The connection stays usable for the downgraded request.
	if r := w.roundTrip(kmsg.NewPtrApiVersionsRequest(), 3).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
		t.Fatalf("retry: error %d", r.ErrorCode)
	}
}

func TestMalformedFramesCloseOnlyThatConnection(t *testing.T) {
	n := startNode(t, "", nil)
	setup := dial(t, n.Addr())
	mustCreate(t, setup, "keep", 1, nil)
	setup.roundTrip(produceReq("keep", 0, -1, makeBatch(-1, -1, -1, "a", "b")), 9)

	meta := frame(kmsg.NewPtrMetadataRequest(), 12, 1)
	produce := frame(produceReq("keep", 0, 1, makeBatch(-1, -1, -1, "x")), 9, 1)
	cases := []struct {
		name string
		b    []byte
	}{
		{"negative size", []byte{0xff, 0xff, 0xff, 0xff}},
		{"size over socket.request.max.bytes", []byte{0x10, 0, 0, 0}},
		{"size below a header", []byte{0, 0, 0, 3, 0, 0, 0}},
		{"unknown api key", func() []byte { b := append([]byte(nil), meta...); binary.BigEndian.PutUint16(b[4:], 999); return b }()},
		{"unsupported metadata version", func() []byte { b := append([]byte(nil), meta...); binary.BigEndian.PutUint16(b[6:], 99); return b }()},
		{"produce v99", func() []byte { b := append([]byte(nil), produce...); binary.BigEndian.PutUint16(b[6:], 99); return b }()},
		{"client id longer than frame", func() []byte { b := append([]byte(nil), meta...); binary.BigEndian.PutUint16(b[12:], 5000); return b }()},
		{"truncated body", func() []byte {
			b := append([]byte(nil), produce[:len(produce)-20]...)
			binary.BigEndian.PutUint32(b, uint32(len(b)-4))
			return b
		}()},
		{"garbage body", func() []byte {
			b := append([]byte(nil), produce[:18]...)
			b = append(b, strings.Repeat("\xff", 40)...)
			binary.BigEndian.PutUint32(b, uint32(len(b)-4))
			return b
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := dial(t, n.Addr())
			w.send(tc.b)
			w.expectClosed()
		})
	}
	// Nothing stored was harmed and the broker still serves.
	w := dial(t, n.Addr())
	fr := w.roundTrip(fetchReq("keep", 0, 0), 12).(*kmsg.FetchResponse)
	if p := fr.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.HighWatermark != 2 {
		t.Fatalf("after bad input: error %d hw %d, want 0 and 2", p.ErrorCode, p.HighWatermark)
	}
}

func fetchReq(topic string, partition int32, offset int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes = 1 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// Requests pipelined on one connection are answered in order, including
// when an earlier one (acks=all) waits for an fsync.
func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	n := startNode(t, "", nil)
	w := dial(t, n.Addr())
	mustCreate(t, w, "pipe", 1, nil)
	var out []byte
	const count = 50
	for i := 0; i < count; i++ {
		id := int32(1000 + i)
		switch i % 3 {
		case 0:
			out = append(out, frame(produceReq("pipe", 0, -1, makeBatch(-1, -1, -1, "v")), 9, id)...)
		case 1:
			out = append(out, frame(kmsg.NewPtrMetadataRequest(), 12, id)...)
		default:
			out = append(out, frame(kmsg.NewPtrApiVersionsRequest(), 3, id)...)
		}
	}
	w.send(out)
	for i := 0; i < count; i++ {
		id, _, err := w.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		if id != int32(1000+i) {
			t.Fatalf("response %d has correlation id %d", i, id)
		}
	}
}

// acks=0 produces get no response; the next request's answer comes first.
func TestAcksZeroSendsNoResponse(t *testing.T) {
	n := startNode(t, "", nil)
	w := dial(t, n.Addr())
	mustCreate(t, w, "fire", 1, nil)
	w.send(frame(produceReq("fire", 0, 0, makeBatch(-1, -1, -1, "x")), 9, 50))
	resp := w.roundTrip(fetchReq("fire", 0, 0), 12).(*kmsg.FetchResponse)
	if hw := resp.Topics[0].Partitions[0].HighWatermark; hw != 1 {
		t.Fatalf("hw %d, want 1", hw)
	}
}
