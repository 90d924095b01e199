package connect

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Schema is the subset of Connect's data schema the runtime and its
// converters need: primitive types, structs, arrays and maps.
type Schema struct {
	Type     string        `json:"type"`
	Optional bool          `json:"optional"`
	Name     string        `json:"name,omitempty"`
	Version  int           `json:"version,omitempty"`
	Fields   []SchemaField `json:"fields,omitempty"`
	Items    *Schema       `json:"items,omitempty"`
	Keys     *Schema       `json:"keys,omitempty"`
	Values   *Schema       `json:"values,omitempty"`
}

// SchemaField is one field of a struct schema (JsonConverter's "field"
// key beside the field's schema).
type SchemaField struct {
	Field string `json:"field"`
	Schema
}

// Data is a key or value in Connect's data model: a value and its optional
// schema. Values are string, []byte, bool, int64, float64, map[string]any
// (structs and maps), []any or nil.
type Data struct {
	Schema *Schema
	Value  any
}

// StringData is a string value with Connect's STRING schema.
// The schema is shared and must not be modified.
func StringData(s string) *Data { return &Data{Schema: stringSchema, Value: s} }

// Converter turns Connect data into record bytes and back (Connect's
// Converter). A nil *Data is a null key or value.
type Converter interface {
	FromConnect(topic string, d *Data) ([]byte, error)
	ToConnect(topic string, b []byte) (*Data, error)
}

// Converter class names as Connect spells them.
const (
	StringConverterClass    = "org.apache.kafka.connect.storage.StringConverter"
	ByteArrayConverterClass = "org.apache.kafka.connect.converters.ByteArrayConverter"
	JSONConverterClass      = "org.apache.kafka.connect.json.JsonConverter"
)

// converterClasses are the converters for connector-plugins?connectorsOnly=false.
var converterClasses = []string{ByteArrayConverterClass, JSONConverterClass, StringConverterClass}

// NewConverter returns the converter class configured with props (the
// "key.converter." or "value.converter." prefixed keys, prefix removed).
// Simple class names are accepted too.
func NewConverter(class string, props map[string]string) (Converter, error) {
	switch class {
	case StringConverterClass, "StringConverter":
		return stringConverter{}, nil
	case ByteArrayConverterClass, "ByteArrayConverter":
		return byteArrayConverter{}, nil
	case JSONConverterClass, "JsonConverter":
		schemas := true
		if v, ok := props["schemas.enable"]; ok {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return nil, fmt.Errorf("schemas.enable: %q is not a boolean", v)
			}
			schemas = b
		}
		return jsonConverter{schemas: schemas}, nil
	}
	return nil, fmt.Errorf("unknown converter class %s", class)
}

type stringConverter struct{}

func (stringConverter) FromConnect(_ string, d *Data) ([]byte, error) {
	if d == nil || d.Value == nil {
		return nil, nil
	}
	return []byte(DataString(d)), nil
}

func (stringConverter) ToConnect(_ string, b []byte) (*Data, error) {
	if b == nil {
		return nil, nil
	}
	return &Data{Schema: &Schema{Type: "string", Optional: true}, Value: string(b)}, nil
}

type byteArrayConverter struct{}

func (byteArrayConverter) FromConnect(_ string, d *Data) ([]byte, error) {
	if d == nil || d.Value == nil {
		return nil, nil
	}
	switch v := d.Value.(type) {
	case []byte:
		return v, nil
	case string:
		// Not in Connect (it accepts only bytes); a string is its UTF-8.
		return []byte(v), nil
	}
	return nil, fmt.Errorf("ByteArrayConverter is not compatible with objects of type %T", d.Value)
}

func (byteArrayConverter) ToConnect(_ string, b []byte) (*Data, error) {
	if b == nil {
		return nil, nil
	}
	return &Data{Schema: &Schema{Type: "bytes", Optional: true}, Value: b}, nil
}

// jsonConverter is Connect's JsonConverter: with schemas enabled every
// value is the envelope {"schema": …, "payload": …}; without, plain JSON.
type jsonConverter struct{ schemas bool }

type jsonEnvelope struct {
	Schema  *Schema         `json:"schema"`
	Payload json.RawMessage `json:"payload"`
}

func (c jsonConverter) FromConnect(_ string, d *Data) ([]byte, error) {
	if d == nil {
		return nil, nil // a null key or value (tombstone) stays null
	}
	payload, err := marshalPayload(d.Schema, d.Value)
	if err != nil {
		return nil, err
	}
	if !c.schemas {
		return payload, nil
	}
	// The envelope by hand: marshalling it as a struct would re-scan the
	// payload (json.RawMessage is compacted), a cost per record.
	schema := stringSchemaJSON
	if d.Schema != stringSchema {
		if schema, err = json.Marshal(d.Schema); err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, len(schema)+len(payload)+24)
	out = append(out, `{"schema":`...)
	out = append(out, schema...)
	out = append(out, `,"payload":`...)
	out = append(out, payload...)
	return append(out, '}'), nil
}

// marshalPayload encodes a value as JSON, a struct's fields in its
// schema's order (as Connect writes them).
func marshalPayload(s *Schema, v any) ([]byte, error) {
	if s == nil || v == nil {
		return json.Marshal(v)
	}
	switch s.Type {
	case "struct":
		m, ok := v.(map[string]any)
		if !ok {
			return json.Marshal(v)
		}
		b := []byte{'{'}
		for i, f := range s.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			k, _ := json.Marshal(f.Field)
			b = append(append(b, k...), ':')
			fv, err := marshalPayload(&f.Schema, m[f.Field])
			if err != nil {
				return nil, err
			}
			b = append(b, fv...)
		}
		return append(b, '}'), nil
	case "array":
		a, ok := v.([]any)
		if !ok || s.Items == nil || s.Items.Type != "struct" {
			return json.Marshal(v)
		}
		b := []byte{'['}
		for i, x := range a {
			if i > 0 {
				b = append(b, ',')
			}
			xb, err := marshalPayload(s.Items, x)
			if err != nil {
				return nil, err
			}
			b = append(b, xb...)
		}
		return append(b, ']'), nil
	}
	return json.Marshal(v)
}

// stringSchema is the schema of StringData, whose JSON is encoded once.
var (
	stringSchema         = &Schema{Type: "string"}
	stringSchemaJSON, _  = json.Marshal(stringSchema)
	stringEnvelopePrefix = []byte(`{"schema":` + string(stringSchemaJSON) + `,"payload":`)
)

func (c jsonConverter) ToConnect(_ string, b []byte) (*Data, error) {
	if b == nil {
		return nil, nil
	}
	if !c.schemas {
		v, err := decodeJSON(b)
		if err != nil {
			return nil, fmt.Errorf("converting byte[] to Kafka Connect data failed due to serialization error: %w", err)
		}
		return &Data{Value: v}, nil
	}
	// Fast path for the common envelope of a string (what FileStreamSource
	// writes): one parse of the payload instead of three.
	if p, ok := bytes.CutPrefix(b, stringEnvelopePrefix); ok && len(p) > 0 && p[len(p)-1] == '}' {
		var s string
		if json.Unmarshal(p[:len(p)-1], &s) == nil {
			return &Data{Schema: stringSchema, Value: s}, nil
		}
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("converting byte[] to Kafka Connect data failed due to serialization error: invalid JSON")
	}
	var env struct {
		Schema  json.RawMessage `json:"schema"`
		Payload json.RawMessage `json:"payload"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(&env)
	rawSchema, rawPayload := env.Schema, env.Payload
	if err != nil || rawSchema == nil || rawPayload == nil {
		return nil, errors.New(`JsonConverter with schemas.enable requires "schema" and "payload" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.`)
	}
	var s *Schema
	if err := json.Unmarshal(rawSchema, &s); err != nil {
		return nil, fmt.Errorf("invalid schema: %w", err)
	}
	v, err := decodeJSON(rawPayload)
	if err != nil {
		return nil, err
	}
	if s != nil {
		if v, err = fromSchema(s, v); err != nil {
			return nil, err
		}
	}
	return &Data{Schema: s, Value: v}, nil
}

// decodeJSON decodes one JSON value keeping numbers as json.Number.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

// fromSchema converts a decoded JSON payload to the runtime type of its
// schema (integers to int64, floats to float64, bytes from base64).
func fromSchema(s *Schema, v any) (any, error) {
	if v == nil {
		if !s.Optional {
			return nil, fmt.Errorf("invalid null value for required %s field", s.Type)
		}
		return nil, nil
	}
	mismatch := func() (any, error) { return nil, fmt.Errorf("JSON value %v does not match schema type %s", v, s.Type) }
	switch s.Type {
	case "string":
		if x, ok := v.(string); ok {
			return x, nil
		}
		return mismatch()
	case "boolean":
		if x, ok := v.(bool); ok {
			return x, nil
		}
		return mismatch()
	case "int8", "int16", "int32", "int64":
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				return i, nil
			}
		}
		return mismatch()
	case "float", "float32", "float64", "double":
		if n, ok := v.(json.Number); ok {
			if f, err := n.Float64(); err == nil {
				return f, nil
			}
		}
		return mismatch()
	case "bytes":
		if x, ok := v.(string); ok {
			b, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return nil, fmt.Errorf("invalid bytes payload: %w", err)
			}
			return b, nil
		}
		return mismatch()
	case "array":
		a, ok := v.([]any)
		if !ok || s.Items == nil {
			return mismatch()
		}
		for i := range a {
			x, err := fromSchema(s.Items, a[i])
			if err != nil {
				return nil, err
			}
			a[i] = x
		}
		return a, nil
	case "map":
		m, ok := v.(map[string]any)
		if !ok || s.Values == nil {
			return mismatch()
		}
		for k := range m {
			x, err := fromSchema(s.Values, m[k])
			if err != nil {
				return nil, err
			}
			m[k] = x
		}
		return m, nil
	case "struct":
		m, ok := v.(map[string]any)
		if !ok {
			return mismatch()
		}
		for _, f := range s.Fields {
			x, err := fromSchema(&f.Schema, m[f.Field])
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Field, err)
			}
			m[f.Field] = x
		}
		return m, nil
	}
	return nil, fmt.Errorf("unknown schema type %q", s.Type)
}

// DataString renders a value as Connect's toString would for the common
// types: strings as they are, bytes as their text, others as JSON.
func DataString(d *Data) string {
	if d == nil || d.Value == nil {
		return "null"
	}
	switch v := d.Value.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case json.Number:
		return v.String()
	}
	b, err := json.Marshal(d.Value)
	if err != nil {
		return fmt.Sprint(d.Value)
	}
	return string(b)
}
