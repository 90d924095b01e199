package schemaregistry

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Schema types as the API names them.
const (
	TypeAvro     = "AVRO"
	TypeJSON     = "JSON"
	TypeProtobuf = "PROTOBUF"
)

// Dependency is a referenced schema's text, resolved from the registry.
// Parse receives a schema's dependencies in dependency order (a schema
// after everything it references), each once.
type Dependency struct {
	Name   string // the reference's name (Avro: the named type's full name)
	Schema string
}

// Format parses and compares the schemas of one schema type.
// Implementations are stateless and safe for concurrent use.
type Format interface {
	Type() string
	// Parse validates schema text with its resolved dependencies. An
	// invalid schema is an *Error with CodeInvalidSchema carrying the
	// parser's message.
	Parse(schema string, deps []Dependency) (Parsed, error)
}

// Parsed is a validated schema.
type Parsed interface {
	// Canonical is the text stored, served and used for identity: two
	// submissions with the same Canonical text (and references) are the
	// same schema and share an id.
	Canonical() string
	// CanRead returns why a reader using this schema cannot decode data
	// written with writer (same format); empty means it can.
	CanRead(writer Parsed) []string
}

// formats are the schema types this registry serves; /schemas/types lists
// exactly these and any other schemaType is refused with 42201.
var formats = map[string]Format{
	TypeAvro:     avroFormat{},
	TypeProtobuf: protobufFormat{},
	TypeJSON:     jsonFormat{},
}

// Types returns the served schema types in Confluent's listing order.
func Types() []string {
	var out []string
	for _, t := range []string{TypeJSON, TypeProtobuf, TypeAvro} {
		if _, ok := formats[t]; ok {
			out = append(out, t)
		}
	}
	return out
}

func formatOf(schemaType string) (Format, error) {
	f, ok := formats[normType(schemaType)]
	if !ok {
		return nil, errorf(CodeInvalidSchema, "Invalid schema type %s", schemaType)
	}
	return f, nil
}

// normalizeJSON decodes JSON text and encodes it again without whitespace
// and with object keys sorted (numbers kept exactly), so formatting and
// attribute order do not make two equal schemas different.
func normalizeJSON(text string) (string, error) {
	v, err := decodeExact(text)
	if err != nil {
		return "", err
	}
	return encodeSorted(v)
}

// decodeExact decodes one JSON value, numbers as json.Number.
func decodeExact(text string) (any, error) {
	d := json.NewDecoder(bytes.NewReader([]byte(text)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("unexpected data after the schema")
	}
	return v, nil
}

// encodeSorted encodes v compactly with object keys sorted.
func encodeSorted(v any) (string, error) {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return "", err
	}
	return string(bytes.TrimRight(buf.Bytes(), "\n")), nil
}
