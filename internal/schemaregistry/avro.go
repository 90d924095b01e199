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
	canonical, err := normalizeJSON(text)
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
