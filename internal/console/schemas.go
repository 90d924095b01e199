package console

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/hamba/avro/v2"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// schemaDecoder shows keys and values written in the Confluent wire
// format (magic byte 0, a 4-byte big-endian schema id, then the payload;
// Protobuf payloads start with the message indexes) as JSON, reading the
// writer's schema from a Schema Registry's REST API (GET
// /schemas/ids/{id}, references through /subjects/{s}/versions/{v}).
// Schemas are immutable once registered, so a fetched schema is cached for
// good; a failed fetch is remembered for failedSchemaTTL so a page of
// records from an unknown id asks the registry once.
//
// Concurrency: mu guards cache; fetches run outside it (two concurrent
// first reads of one id may both fetch, the second result is kept).
type schemaDecoder struct {
	base   string
	client *http.Client

	mu    sync.Mutex
	cache map[int32]*wireSchema
}

const (
	schemaFetchTimeout = 5 * time.Second
	failedSchemaTTL    = 10 * time.Second
	maxSchemaRefDepth  = 16
	maxSchemaCache     = 10_000
)

// wireSchema is one registered schema ready to decode with.
type wireSchema struct {
	Type  string // AVRO, PROTOBUF, JSON
	avro  avro.Schema
	proto protoreflect.FileDescriptor
	err   error
	at    time.Time
}

func newSchemaDecoder(base string) *schemaDecoder {
	if base == "" {
		return nil
	}
	return &schemaDecoder{base: strings.TrimRight(base, "/"), client: &http.Client{Timeout: schemaFetchTimeout},
		cache: map[int32]*wireSchema{}}
}

// registrySchema is the registry's answer for a schema (by id or by
// subject and version).
type registrySchema struct {
	Schema     string `json:"schema"`
	SchemaType string `json:"schemaType"`
	References []struct {
		Name    string `json:"name"`
		Subject string `json:"subject"`
		Version int    `json:"version"`
	} `json:"references"`
}

func (d *schemaDecoder) get(ctx context.Context, path string) (registrySchema, error) {
	var rs registrySchema
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+path, nil)
	if err != nil {
		return rs, err
	}
	req.Header.Set("Accept", "application/vnd.schemaregistry.v1+json, application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return rs, fmt.Errorf("schema registry: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return rs, fmt.Errorf("schema registry: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &e)
		if e.Message == "" {
			e.Message = resp.Status
		}
		return rs, fmt.Errorf("schema registry: GET %s: %s", path, e.Message)
	}
	if err := json.Unmarshal(body, &rs); err != nil {
		return rs, fmt.Errorf("schema registry: GET %s: %w", path, err)
	}
	if rs.SchemaType == "" {
		rs.SchemaType = "AVRO"
	}
	return rs, nil
}

// dep is a referenced schema's text under its reference name.
type dep struct{ name, schema string }

// resolve appends rs's references (each once, a schema after what it
// references) to deps.
func (d *schemaDecoder) resolve(ctx context.Context, rs registrySchema, depth int, seen map[string]bool, deps []dep) ([]dep, error) {
	if depth > maxSchemaRefDepth {
		return nil, errors.New("schema references nest too deep")
	}
	for _, ref := range rs.References {
		key := ref.Subject + "\x00" + strconv.Itoa(ref.Version)
		if seen[key] {
			continue
		}
		seen[key] = true
		sub, err := d.get(ctx, "/subjects/"+url.PathEscape(ref.Subject)+"/versions/"+strconv.Itoa(ref.Version))
		if err != nil {
			return nil, err
		}
		if deps, err = d.resolve(ctx, sub, depth+1, seen, deps); err != nil {
			return nil, err
		}
		deps = append(deps, dep{name: ref.Name, schema: sub.Schema})
	}
	return deps, nil
}

func (d *schemaDecoder) schema(ctx context.Context, id int32) *wireSchema {
	d.mu.Lock()
	ws := d.cache[id]
	d.mu.Unlock()
	if ws != nil && (ws.err == nil || time.Since(ws.at) < failedSchemaTTL) {
		return ws
	}
	ctx, cancel := context.WithTimeout(ctx, schemaFetchTimeout)
	defer cancel()
	ws = d.load(ctx, id)
	ws.at = time.Now()
	d.mu.Lock()
	if len(d.cache) >= maxSchemaCache {
		clear(d.cache)
	}
	d.cache[id] = ws
	d.mu.Unlock()
	return ws
}

func (d *schemaDecoder) load(ctx context.Context, id int32) *wireSchema {
	rs, err := d.get(ctx, "/schemas/ids/"+strconv.Itoa(int(id)))
	if err != nil {
		return &wireSchema{err: err}
	}
	deps, err := d.resolve(ctx, rs, 0, map[string]bool{}, nil)
	if err != nil {
		return &wireSchema{err: err}
	}
	ws := &wireSchema{Type: strings.ToUpper(rs.SchemaType)}
	switch ws.Type {
	case "AVRO":
		cache := &avro.SchemaCache{} // hamba's default cache is process-global
		for _, dp := range deps {
			if _, err := avro.ParseWithCache(dp.schema, "", cache); err != nil {
				return &wireSchema{err: fmt.Errorf("schema %d: reference %s: %w", id, dp.name, err)}
			}
		}
		ws.avro, err = avro.ParseWithCache(rs.Schema, "", cache)
	case "PROTOBUF":
		ws.proto, err = compileProto(ctx, rs.Schema, deps)
	case "JSON":
	default:
		err = fmt.Errorf("unknown schema type %q", rs.SchemaType)
	}
	if err != nil {
		return &wireSchema{err: fmt.Errorf("schema %d: %w", id, err)}
	}
	return ws
}

const protoMainFile = "tributary.console.schema.proto"

func compileProto(ctx context.Context, text string, deps []dep) (protoreflect.FileDescriptor, error) {
	srcs := map[string]string{protoMainFile: text}
	for _, dp := range deps {
		srcs[dp.name] = dp.schema
	}
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(srcs)}),
		MaxParallelism: 1,
	}
	files, err := c.Compile(ctx, protoMainFile)
	if err != nil {
		return nil, err
	}
	return files[0], nil
}

// wireView is a key or value decoded with its schema.
type wireView struct {
	Text   string // pretty-printed JSON
	Schema string // e.g. "Avro, schema 3"
	Err    string // why a wire-format record could not be decoded
}

var schemaTypeNames = map[string]string{"AVRO": "Avro", "PROTOBUF": "Protobuf", "JSON": "JSON Schema"}

// decode decodes b if it is in the wire format; ok is false when it is not
// (or d is nil).
func (d *schemaDecoder) decode(ctx context.Context, b []byte) (v wireView, ok bool) {
	if d == nil || len(b) < 5 || b[0] != 0 {
		return v, false
	}
	id := int32(binary.BigEndian.Uint32(b[1:5]))
	if id < 0 {
		return v, false
	}
	ws := d.schema(ctx, id)
	if ws.err != nil {
		return wireView{Err: ws.err.Error()}, true
	}
	v.Schema = fmt.Sprintf("%s, schema %d", schemaTypeNames[ws.Type], id)
	text, err := ws.decodePayload(b[5:])
	if err != nil {
		v.Err = fmt.Sprintf("%s: %v", v.Schema, err)
		v.Schema = ""
		return v, true
	}
	var buf bytes.Buffer
	if json.Indent(&buf, text, "", "  ") == nil {
		text = buf.Bytes()
	}
	if len(text) > maxShownBytes {
		text = append(text[:maxShownBytes:maxShownBytes], fmt.Sprintf(" … (%d bytes shown)", maxShownBytes)...)
	}
	v.Text = string(text)
	return v, true
}

func (ws *wireSchema) decodePayload(p []byte) ([]byte, error) {
	switch ws.Type {
	case "AVRO":
		// A Reader, not avro.Unmarshal: Unmarshal reports a payload that
		// ends early as no error.
		var v any
		r := avro.NewReader(nil, 0).Reset(p)
		r.ReadVal(ws.avro, &v)
		if r.Error != nil {
			return nil, r.Error
		}
		return json.Marshal(v)
	case "PROTOBUF":
		md, rest, err := protoMessage(ws.proto, p)
		if err != nil {
			return nil, err
		}
		m := dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(rest, m); err != nil {
			return nil, err
		}
		return protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(m)
	default: // JSON: the payload is the JSON document itself
		if !json.Valid(p) {
			return nil, errors.New("payload is not JSON")
		}
		return p, nil
	}
}

// protoMessage reads the message indexes that start a Protobuf payload (a
// zigzag varint count, then that many zigzag varint indexes; a count of 0
// means the file's first message) and returns the message they name and
// the rest of the payload.
func protoMessage(fd protoreflect.FileDescriptor, p []byte) (protoreflect.MessageDescriptor, []byte, error) {
	n, w := binary.Varint(p)
	if w <= 0 || n < 0 || n > 100 {
		return nil, nil, errors.New("bad message indexes")
	}
	p = p[w:]
	idx := []int64{0}
	if n > 0 {
		idx = idx[:0]
		for range n {
			i, w := binary.Varint(p)
			if w <= 0 {
				return nil, nil, errors.New("bad message indexes")
			}
			idx, p = append(idx, i), p[w:]
		}
	}
	msgs := fd.Messages()
	var md protoreflect.MessageDescriptor
	for _, i := range idx {
		if i < 0 || i >= int64(msgs.Len()) {
			return nil, nil, fmt.Errorf("no message at index %v", idx)
		}
		md = msgs.Get(int(i))
		msgs = md.Messages()
	}
	return md, p, nil
}
