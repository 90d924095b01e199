package tests

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// wireConn is a raw Kafka connection for tests that need exact bytes:
// malformed frames, pipelining, versions a client library would not send.
type wireConn struct {
	t  testing.TB
	c  net.Conn
	r  *bufio.Reader
	id int32
}

func dial(t testing.TB, addr string) *wireConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &wireConn{t: t, c: c, r: bufio.NewReader(c)}
}

// frame encodes req at version v as a complete request frame.
func frame(req kmsg.Request, v int16, corrID int32) []byte {
	req.SetVersion(v)
	b := make([]byte, 4, 64)
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(v))
	b = binary.BigEndian.AppendUint32(b, uint32(corrID))
	b = binary.BigEndian.AppendUint16(b, 4)
	b = append(b, "test"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func (w *wireConn) send(b []byte) {
	w.t.Helper()
	if _, err := w.c.Write(b); err != nil {
		w.t.Fatal(err)
	}
}

// readFrame returns the next response frame's correlation id and body.
func (w *wireConn) readFrame() (int32, []byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(w.r, size[:]); err != nil {
		return 0, nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(w.r, buf); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(buf)), buf[4:], nil
}

// roundTrip sends req at version v and decodes the response into resp.
func (w *wireConn) roundTrip(req kmsg.Request, v int16) kmsg.Response {
	w.t.Helper()
	w.id++
	w.send(frame(req, v, w.id))
	id, body, err := w.readFrame()
	if err != nil {
		w.t.Fatalf("reading response: %v", err)
	}
	if id != w.id {
		w.t.Fatalf("correlation id %d, want %d", id, w.id)
	}
	resp := req.ResponseKind()
	resp.SetVersion(v)
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		body = body[1:] // empty tagged fields in response header v1
	}
	if err := resp.ReadFrom(body); err != nil {
		w.t.Fatalf("decoding %s v%d response: %v", kmsg.NameForKey(req.Key()), v, err)
	}
	return resp
}

// expectClosed asserts the broker closed the connection.
func (w *wireConn) expectClosed() {
	w.t.Helper()
	w.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := w.readFrame(); err == nil {
		w.t.Fatal("expected the broker to close the connection, got a response")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		w.t.Fatal("expected the broker to close the connection, it stayed open")
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// makeBatch builds a v2 batch of values with optional producer identity.
func makeBatch(pid int64, epoch int16, seq int32, values ...string) []byte {
	now := time.Now().UnixMilli()
	rb := kmsg.RecordBatch{
		Magic: 2, ProducerID: pid, ProducerEpoch: epoch, FirstSequence: seq,
		FirstTimestamp: now, MaxTimestamp: now, LastOffsetDelta: int32(len(values) - 1),
		NumRecords: int32(len(values)),
	}
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		body := r.AppendTo(nil)[1:] // drop the placeholder length varint (0)
		recs = binary.AppendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
	}
	rb.Records = recs
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

func produceReq(topic string, partition int32, acks int16, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = acks
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func createTopicReq(name string, partitions int32, configs map[string]string) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = name
	rt.NumPartitions = partitions
	rt.ReplicationFactor = 1
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

func mustCreate(t testing.TB, w *wireConn, name string, partitions int32, configs map[string]string) {
	t.Helper()
	resp := w.roundTrip(createTopicReq(name, partitions, configs), 7).(*kmsg.CreateTopicsResponse)
	if c := resp.Topics[0].ErrorCode; c != 0 {
		t.Fatalf("create %s: error %d %v", name, c, fmt.Sprint(resp.Topics[0].ErrorMessage))
	}
}

func kmsgCRC(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// initTxnProducer sends InitProducerId (at version) for transactional id
// with timeoutMs, after a FindCoordinator that creates
// __transaction_state, again while the coordinator is loading or moving
// (at most 20 s), and returns the last answer.
func (w *wireConn) initTxnProducer(id string, timeoutMs int32, version int16) *kmsg.InitProducerIDResponse {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch = kmsg.StringPtr(id), timeoutMs, -1, -1
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKey, fc.CoordinatorType = id, 1
		w.roundTrip(fc, 3)
		resp := w.roundTrip(req, version).(*kmsg.InitProducerIDResponse)
		switch resp.ErrorCode {
		case kerr.CoordinatorLoadInProgress.Code, kerr.CoordinatorNotAvailable.Code, kerr.NotCoordinator.Code:
			if time.Now().Before(deadline) {
				continue
			}
		}
		return resp
	}
}

// mustInitTxnProducer is initTxnProducer with a 30 s transaction timeout
// that must succeed; it returns the producer id and epoch.
func (w *wireConn) mustInitTxnProducer(id string, version int16) (int64, int16) {
	w.t.Helper()
	resp := w.initTxnProducer(id, 30000, version)
	if resp.ErrorCode != 0 {
		w.t.Fatalf("InitProducerId %s: %v", id, kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.ProducerID, resp.ProducerEpoch
}
