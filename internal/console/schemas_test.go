package console

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/tributary/tributary/internal/schemaregistry"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// memSchemasLog is the _schemas topic in memory, for a real Registry
// without a cluster.
type memSchemasLog struct {
	mu      sync.Mutex
	recs    []schemaregistry.Record
	changed chan struct{}
	next    int64 // Fetch's position; only Run's goroutine uses it
}

func (l *memSchemasLog) Append(_ context.Context, key, value []byte) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	off := int64(len(l.recs))
	l.recs = append(l.recs, schemaregistry.Record{Offset: off, Key: key, Value: value})
	close(l.changed)
	l.changed = make(chan struct{})
	return off, nil
}

func (l *memSchemasLog) EndOffset(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.recs)), nil
}

func (l *memSchemasLog) Fetch(ctx context.Context) ([]schemaregistry.Record, error) {
	for {
		l.mu.Lock()
		out := append([]schemaregistry.Record(nil), l.recs[l.next:]...)
		ch := l.changed
		l.mu.Unlock()
		if len(out) > 0 {
			l.next += int64(len(out))
			return out, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func startTestRegistry(t *testing.T) string {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg, err := schemaregistry.New(&memSchemasLog{changed: make(chan struct{})}, schemaregistry.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); reg.Run(ctx) }()
	if err := reg.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(schemaregistry.NewHandler(reg, schemaregistry.Standalone{}, quiet, 0))
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	return srv.URL
}

// register registers schema under subject through the REST API and
// returns its id.
func register(t *testing.T, base, subject string, body map[string]any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(base+"/subjects/"+subject+"/versions", "application/vnd.schemaregistry.v1+json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ID      int    `json:"id"`
		Message string `json:"message"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("register %s: %d %s %v", subject, resp.StatusCode, out.Message, err)
	}
	return out.ID
}

func wire(id int, payload ...[]byte) []byte {
	b := []byte{0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(id))
	for _, p := range payload {
		b = append(b, p...)
	}
	return b
}

// TestViewRecordDecodesWireFormat: records produced as Confluent's
// serializers write them (Avro with a referenced named type, a nested
// Protobuf message named by its indexes, JSON Schema) are shown as JSON
// with their schema named; an unknown id and a corrupt payload are shown
// raw with the reason; without a registry nothing is decoded.
func TestViewRecordDecodesWireFormat(t *testing.T) {
	base := startTestRegistry(t)
	ctx := context.Background()

	// Avro: a record referencing a named type registered under its own subject.
	addr := `{"type":"record","name":"Address","namespace":"shop","fields":[{"name":"city","type":"string"}]}`
	register(t, base, "address", map[string]any{"schema": addr})
	order := `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"to","type":"shop.Address"},{"name":"note","type":["null","string"],"default":null}]}`
	avroID := register(t, base, "orders-value", map[string]any{"schema": order,
		"references": []map[string]any{{"name": "shop.Address", "subject": "address", "version": 1}}})
	cache := &avro.SchemaCache{}
	if _, err := avro.ParseWithCache(addr, "", cache); err != nil {
		t.Fatal(err)
	}
	orderSchema, err := avro.ParseWithCache(order, "", cache)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := avro.Marshal(orderSchema, map[string]any{"id": int64(42), "to": map[string]any{"city": "Zürich"}, "note": nil})
	if err != nil {
		t.Fatal(err)
	}

	// Protobuf: the second top-level message's first nested message
	// (indexes [1, 0]).
	protoText := `syntax = "proto3"; package shop; message A { string x = 1; } message Envelope { message Item { string sku = 1; int32 qty = 2; } }`
	protoID := register(t, base, "items-value", map[string]any{"schema": protoText, "schemaType": "PROTOBUF"})
	fd, err := compileProto(ctx, protoText, nil)
	if err != nil {
		t.Fatal(err)
	}
	md := fd.Messages().Get(1).Messages().Get(0)
	m := dynamicpb.NewMessage(md)
	m.Set(md.Fields().ByName("sku"), protoValue("sku-7"))
	m.Set(md.Fields().ByName("qty"), protoValue(int32(3)))
	pb, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	indexes := binary.AppendVarint(binary.AppendVarint(binary.AppendVarint(nil, 2), 1), 0)

	jsonID := register(t, base, "events-value", map[string]any{"schemaType": "JSON",
		"schema": `{"type":"object","properties":{"n":{"type":"integer"}}}`})

	dec := newSchemaDecoder(base)
	v := viewRecord(ctx, dec, &kgo.Record{Key: wire(jsonID, []byte(`{"n":1}`)), Value: wire(avroID, payload)})
	if v.ValueSchema != "Avro, schema "+itoa(avroID) || !v.ValueJSON || v.ValueDecodeErr != "" {
		t.Fatalf("avro value: %+v", v)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(v.Value), &got); err != nil {
		t.Fatalf("avro value is not JSON: %q", v.Value)
	}
	if got["id"] != float64(42) || got["to"].(map[string]any)["city"] != "Zürich" || got["note"] != nil {
		t.Fatalf("avro value decoded as %q", v.Value)
	}
	if v.KeySchema != "JSON Schema, schema "+itoa(jsonID) || strings.Join(strings.Fields(v.Key), "") != `{"n":1}` {
		t.Fatalf("json key: %+v", v)
	}

	v = viewRecord(ctx, dec, &kgo.Record{Value: wire(protoID, indexes, pb)})
	if v.ValueSchema != "Protobuf, schema "+itoa(protoID) || v.ValueDecodeErr != "" {
		t.Fatalf("protobuf value: %+v", v)
	}
	got = nil
	if err := json.Unmarshal([]byte(v.Value), &got); err != nil || got["sku"] != "sku-7" || got["qty"] != float64(3) {
		t.Fatalf("protobuf value decoded as %q (%v)", v.Value, err)
	}
	// A count of 0 is the first message.
	am := dynamicpb.NewMessage(fd.Messages().Get(0))
	am.Set(fd.Messages().Get(0).Fields().ByName("x"), protoValue("hi"))
	ab, _ := proto.Marshal(am)
	if v := viewRecord(ctx, dec, &kgo.Record{Value: wire(protoID, []byte{0}, ab)}); !strings.Contains(v.Value, `"x": "hi"`) {
		t.Fatalf("protobuf first message: %+v", v)
	}

	// Unknown id and a truncated payload: raw, with the reason.
	v = viewRecord(ctx, dec, &kgo.Record{Value: wire(9999, []byte("zz"))})
	if v.ValueSchema != "" || v.ValueDecodeErr == "" || !v.ValueHex {
		t.Fatalf("unknown id: %+v", v)
	}
	v = viewRecord(ctx, dec, &kgo.Record{Value: wire(avroID, payload[:1])})
	if v.ValueSchema != "" || !strings.Contains(v.ValueDecodeErr, "schema "+itoa(avroID)) {
		t.Fatalf("corrupt avro: %+v", v)
	}
	// Without a registry the bytes are shown as they are.
	if v := viewRecord(ctx, nil, &kgo.Record{Value: wire(avroID, payload)}); v.ValueSchema != "" || v.ValueJSON || v.ValueDecodeErr != "" {
		t.Fatalf("no registry: %+v", v)
	}
}

func protoValue(v any) protoreflect.Value { return protoreflect.ValueOf(v) }

func itoa(i int) string { return strconv.Itoa(i) }
