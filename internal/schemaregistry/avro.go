package schemaregistry

import (
	"github.com/hamba/avro/v2"
)

// avroFormat parses Avro schemas with hamba/avro and checks compatibility
// with its reader/writer resolution rules (Avro's
// SchemaCompatibility.checkReaderWriterCompatibility): matching names or
// reader aliases, the numeric and string/bytes promotions, reader fields
// missing in the writer need a default, writer enum symbols must be in the
// reader unless the reader has a default, equal fixed sizes, every writer
// union branch must resolve in the reader.
//
// Canonical text is the schema's JSON with keys sorted and whitespace
// removed (not Avro's Parsing Canonical Form, which drops defaults and
// docs that matter to readers). References are named types defined by the
// dependencies; each parse uses a fresh cache so names never leak between
// schemas (hamba's default cache is process-global).
type avroFormat struct{}

func (avroFormat) Type() string { return TypeAvro }

type avroParsed struct {
	canonical string
	schema    avro.Schema
}

func (avroFormat) Parse(text string, deps []Dependency) (Parsed, error) {
	v, err := decodeExact(text)
	if err != nil {
		return nil, errorf(CodeInvalidSchema, "Invalid schema %s: %v", text, err)
	}
	canonical, err := encodeSorted(simplifyAvro(v, 0))
	if err != nil {
		return nil, errorf(CodeInvalidSchema, "Invalid schema %s: %v", text, err)
	}
	cache := &avro.SchemaCache{}
	for _, d := range deps {
		if _, err := avro.ParseWithCache(d.Schema, "", cache); err != nil {
			return nil, errorf(CodeInvalidSchema, "Invalid schema: reference %s: %v", d.Name, err)
		}
	}
	s, err := avro.ParseWithCache(canonical, "", cache)
	if err != nil {
		return nil, errorf(CodeInvalidSchema, "Invalid schema %s: %v", text, err)
	}
	return &avroParsed{canonical: canonical, schema: s}, nil
}

var avroPrimitives = map[string]bool{"null": true, "boolean": true, "int": true, "long": true, "float": true, "double": true, "bytes": true, "string": true}

// simplifyAvro writes a primitive type given as {"type":"int"} as "int",
// wherever a schema may stand, as Avro's own printing does: the two forms
// are one schema and share an id.
func simplifyAvro(v any, depth int) any {
	if depth > 256 {
		return v
	}
	switch s := v.(type) {
	case []any:
		out := make([]any, len(s))
		for i, b := range s {
			out[i] = simplifyAvro(b, depth+1)
		}
		return out
	case map[string]any:
		t, _ := s["type"].(string)
		if len(s) == 1 && avroPrimitives[t] {
			return t
		}
		out := make(map[string]any, len(s))
		for k, x := range s {
			out[k] = x
		}
		switch t {
		case "record", "error":
			if fields, ok := s["fields"].([]any); ok {
				nf := make([]any, len(fields))
				for i, f := range fields {
					if fm, ok := f.(map[string]any); ok {
						c := make(map[string]any, len(fm))
						for k, x := range fm {
							c[k] = x
						}
						if ft, ok := fm["type"]; ok {
							c["type"] = simplifyAvro(ft, depth+1)
						}
						nf[i] = c
					} else {
						nf[i] = f
					}
				}
				out["fields"] = nf
			}
		case "array":
			if it, ok := s["items"]; ok {
				out["items"] = simplifyAvro(it, depth+1)
			}
		case "map":
			if vs, ok := s["values"]; ok {
				out["values"] = simplifyAvro(vs, depth+1)
			}
		}
		if _, isString := s["type"].(string); !isString && s["type"] != nil {
			out["type"] = simplifyAvro(s["type"], depth+1)
		}
		return out
	}
	return v
}

func (p *avroParsed) Canonical() string { return p.canonical }

func (p *avroParsed) CanRead(writer Parsed) []string {
	w, ok := writer.(*avroParsed)
	if !ok {
		return []string{"schema types differ"}
	}
	if err := avro.NewSchemaCompatibility().Compatible(p.schema, w.schema); err != nil {
		return []string{err.Error()}
	}
	return nil
}
