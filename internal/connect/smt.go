package connect

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The built-in transformations and predicates, with Kafka's class names
// and config keys (org.apache.kafka.connect.transforms.*). Each works on
// schemaless data (maps, as JsonConverter with schemas.enable=false gives)
// and on data with a struct schema, as Connect's do. Integers are int64
// and floats float64 in this runtime's data model (json.Number when
// schemaless), whatever their schema's width.
//
// Deliberate differences from Kafka: ExtractField supports only
// field.syntax.version=V1 (V2's nested paths are refused by validation);
// ValueToKey passes a tombstone (null value) through unchanged; MaskField
// masks a bytes value to empty bytes.

const transformsPkg = "org.apache.kafka.connect.transforms."

// side selects a record's key or value ($Key / $Value variants).
type side bool

const (
	onKey   side = true
	onValue side = false
)

func (s side) get(r *ConnectRecord) *Data {
	if s == onKey {
		return r.Key
	}
	return r.Value
}

func (s side) set(r *ConnectRecord, d *Data) {
	if s == onKey {
		r.Key = d
	} else {
		r.Value = d
	}
}

func (s side) suffix() string {
	if s == onKey {
		return "$Key"
	}
	return "$Value"
}

func builtinTransforms() []*TransformPlugin {
	var out []*TransformPlugin
	for _, s := range []side{onKey, onValue} {
		out = append(out,
			insertFieldPlugin(s), replaceFieldPlugin(s), maskFieldPlugin(s), extractFieldPlugin(s),
			hoistFieldPlugin(s), castPlugin(s))
	}
	return append(out, valueToKeyPlugin(), regexRouterPlugin(), timestampRouterPlugin(), filterPlugin(),
		insertHeaderPlugin(), dropHeadersPlugin(),
		topicNameMatchesPlugin(), hasHeaderKeyPlugin(), recordIsTombstonePlugin())
}

// javaType names a value's type as Connect's messages do.
func javaType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "java.lang.String"
	case int64:
		return "java.lang.Long"
	case float64:
		return "java.lang.Double"
	case json.Number:
		return "java.lang.Number"
	case bool:
		return "java.lang.Boolean"
	case []byte:
		return "[B"
	case map[string]any:
		return "java.util.HashMap"
	case []any:
		return "java.util.ArrayList"
	}
	return fmt.Sprintf("%T", v)
}

func requireMap(d *Data, purpose string) (map[string]any, error) {
	var v any
	if d != nil {
		v = d.Value
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("Only Map objects supported in absence of schema for [%s], found: %s", purpose, javaType(v))
	}
	return m, nil
}

func requireStruct(d *Data, purpose string) (map[string]any, error) {
	m, ok := d.Value.(map[string]any)
	if d.Schema.Type != "struct" || !ok {
		return nil, fmt.Errorf("Only Struct objects supported for [%s], found: %s", purpose, javaType(d.Value))
	}
	return m, nil
}

func schemaless(d *Data) bool { return d == nil || d.Schema == nil }

// structField finds a field of a struct schema.
func structField(s *Schema, name string) (*SchemaField, bool) {
	for i := range s.Fields {
		if s.Fields[i].Field == name {
			return &s.Fields[i], true
		}
	}
	return nil, false
}

// fieldSpec is InsertField's "name!" (required) / "name?" (optional).
type fieldSpec struct {
	name     string
	optional bool
}

func parseFieldSpec(v string) *fieldSpec {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	switch v[len(v)-1] {
	case '!':
		return &fieldSpec{name: v[:len(v)-1]}
	case '?':
		return &fieldSpec{name: v[:len(v)-1], optional: true}
	}
	return &fieldSpec{name: v, optional: true}
}

func listNonEmpty(v string) string {
	if len(listConfig(v)) == 0 {
		return "Empty list"
	}
	return ""
}

// ---- InsertField ----

func insertFieldPlugin(s side) *TransformPlugin {
	str := func(name, doc string) ConfigKey {
		return ConfigKey{Name: name, Type: TypeString, HasDefault: true, Importance: "MEDIUM", Doc: doc}
	}
	return &TransformPlugin{Class: transformsPkg + "InsertField" + s.suffix(), Type: TypeTransformation,
		Doc: "Insert field(s) using attributes from the record metadata or a configured static value.",
		Config: []ConfigKey{
			str("topic.field", "Field name for Kafka topic. Suffix with ! to make this a required field, or ? to keep it optional (the default)."),
			str("partition.field", "Field name for Kafka partition. Suffix with ! to make this a required field, or ? to keep it optional (the default)."),
			str("offset.field", "Field name for Kafka offset - only applicable to sink connectors. Suffix with ! to make this a required field, or ? to keep it optional (the default)."),
			str("timestamp.field", "Field name for record timestamp. Suffix with ! to make this a required field, or ? to keep it optional (the default)."),
			str("static.field", "Field name for static data field. Suffix with ! to make this a required field, or ? to keep it optional (the default)."),
			str("static.value", "Static field value, if field name configured."),
			replaceNullKey(),
		},
		NewTransform: func() Transformation { return &insertField{side: s} }}
}

func replaceNullKey() ConfigKey {
	return ConfigKey{Name: "replace.null.with.default", Type: TypeBoolean, HasDefault: true, Default: strp("true"), Importance: "MEDIUM",
		Doc: "Whether to replace fields that have a default value and that are null to the default value. When set to true, the default value is used, otherwise null is used."}
}

type insertField struct {
	side                                 side
	topic, partition, offset, ts, static *fieldSpec
	staticValue                          string
}

func (t *insertField) Configure(c map[string]string) error {
	t.topic, t.partition, t.offset = parseFieldSpec(c["topic.field"]), parseFieldSpec(c["partition.field"]), parseFieldSpec(c["offset.field"])
	t.ts, t.static, t.staticValue = parseFieldSpec(c["timestamp.field"]), parseFieldSpec(c["static.field"]), c["static.value"]
	return nil
}

const purposeInsert = "field insertion"

func (t *insertField) Apply(r *ConnectRecord) (*ConnectRecord, error) {
	d := t.side.get(r)
	if d == nil || d.Value == nil {
		return r, nil // a tombstone passes unchanged
	}
	if t.offset != nil && r.KafkaOffset == nil {
		return nil, fmt.Errorf("Offset insertion is only supported for sink connectors, record is of type: class org.apache.kafka.connect.source.SourceRecord")
	}
	type ins struct {
		spec   *fieldSpec
		schema Schema
		value  any
	}
	var adds []ins
	if t.topic != nil {
		adds = append(adds, ins{t.topic, Schema{Type: "string"}, r.Topic})
	}
	if t.partition != nil {
		var v any
		if r.Partition != nil {
			v = int64(*r.Partition)
		}
		adds = append(adds, ins{t.partition, Schema{Type: "int32"}, v})
	}
	if t.offset != nil {
		adds = append(adds, ins{t.offset, Schema{Type: "int64"}, *r.KafkaOffset})
	}
	if t.ts != nil {
		var v any
		if r.Timestamp != nil {
			v = *r.Timestamp
		}
		adds = append(adds, ins{t.ts, Schema{Type: "int64", Name: "org.apache.kafka.connect.data.Timestamp", Version: 1}, v})
	}
	if t.static != nil {
		adds = append(adds, ins{t.static, Schema{Type: "string"}, t.staticValue})
	}
	if schemaless(d) {
		m, err := requireMap(d, purposeInsert)
		if err != nil {
			return nil, err
		}
		out := cloneMap(m)
		for _, a := range adds {
			out[a.spec.name] = a.value
		}
		t.side.set(r, &Data{Value: out})
		return r, nil
	}
	m, err := requireStruct(d, purposeInsert)
	if err != nil {
		return nil, err
	}
	ns := *d.Schema
	ns.Fields = slices.Clone(d.Schema.Fields)
	out := cloneMap(m)
	for _, a := range adds {
		if a.value == nil && !a.spec.optional {
			return nil, fmt.Errorf("Invalid value: null used for required field: \"%s\", schema type: %s", a.spec.name, strings.ToUpper(a.schema.Type))
		}
		fs := a.schema
		fs.Optional = a.spec.optional
		ns.Fields = append(ns.Fields, SchemaField{Field: a.spec.name, Schema: fs})
		out[a.spec.name] = a.value
	}
	t.side.set(r, &Data{Schema: &ns, Value: out})
	return r, nil
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+4)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ---- ReplaceField ----

func replaceFieldPlugin(s side) *TransformPlugin {
	return &TransformPlugin{Class: transformsPkg + "ReplaceField" + s.suffix(), Type: TypeTransformation,
		Doc: "Filter or rename fields.",
		Config: []ConfigKey{
			{Name: "exclude", Type: TypeList, HasDefault: true, Default: strp(""), Importance: "MEDIUM", Doc: "Fields to exclude. This takes precedence over the fields to include."},
			{Name: "include", Type: TypeList, HasDefault: true, Default: strp(""), Importance: "MEDIUM", Doc: "Fields to include. If specified, only these fields will be used."},
			{Name: "renames", Type: TypeList, HasDefault: true, Default: strp(""), Importance: "MEDIUM", Doc: "Field rename mappings.",
				Check: func(v string) string {
					for _, m := range listConfig(v) {
						if a, b, ok := strings.Cut(m, ":"); !ok || a == "" || b == "" || strings.Contains(b, ":") {
							return "Invalid rename mapping: " + m
						}
					}
					return ""
				}},
			replaceNullKey(),
		},
		NewTransform: func() Transformation { return &replaceField{side: s} }}
}

type replaceField struct {
	side             side
	exclude, include []string
	renames          map[string]string
}

func (t *replaceField) Configure(c map[string]string) error {
	t.exclude, t.include = listConfig(c["exclude"]), listConfig(c["include"])
	t.renames = map[string]string{}
	for _, m := range listConfig(c["renames"]) {
		a, b, ok := strings.Cut(m, ":")
		if !ok {
			return fmt.Errorf("Invalid rename mapping: %s", m)
		}
		t.renames[a] = b
	}
	return nil
}

func (t *replaceField) keep(f string) bool {
	return !slices.Contains(t.exclude, f) && (len(t.include) == 0 || slices.Contains(t.include, f))
}

func (t *replaceField) renamed(f string) string {
	if n, ok := t.renames[f]; ok {
		return n
	}
	return f
}

const purposeReplace = "field replacement"

func (t *replaceField) Apply(r *ConnectRecord) (*ConnectRecord, error) {
	d := t.side.get(r)
	if d == nil || d.Value == nil {
		return r, nil
	}
	if schemaless(d) {
		m, err := requireMap(d, purposeReplace)
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		for k, v := range m {
			if t.keep(k) {
				out[t.renamed(k)] = v
			}
		}
		t.side.set(r, &Data{Value: out})
		return r, nil
	}
	m, err := requireStruct(d, purposeReplace)
	if err != nil {
		return nil, err
	}
	ns := *d.Schema
	ns.Fields = nil
	out := map[string]any{}
	for _, f := range d.Schema.Fields {
		if t.keep(f.Field) {
			nf := f
			nf.Field = t.renamed(f.Field)
			ns.Fields = append(ns.Fields, nf)
			out[nf.Field] = m[f.Field]
		}
	}
	t.side.set(r, &Data{Schema: &ns, Value: out})
	return r, nil
}

// ---- MaskField ----

func maskFieldPlugin(s side) *TransformPlugin {
	return &TransformPlugin{Class: transformsPkg + "MaskField" + s.suffix(), Type: TypeTransformation,
		Doc: "Mask specified fields with a valid null value for the field type (i.e. 0, false, empty string, and so on), or with a custom replacement.",
		Config: []ConfigKey{
			{Name: "fields", Type: TypeList, Importance: "HIGH", Doc: "Names of fields to mask.", Check: listNonEmpty},
			{Name: "replacement", Type: TypeString, HasDefault: true, Importance: "LOW", Doc: "Custom value replacement, that will be applied to all 'fields' values (numeric or non-empty string values only).", Check: nonEmpty},
			replaceNullKey(),
		},
		NewTransform: func() Transformation { return &maskField{side: s} }}
}

type maskField struct {
	side        side
	fields      []string
	replacement *string
}

func (t *maskField) Configure(c map[string]string) error {
	t.fields = listConfig(c["fields"])
	if v, ok := c["replacement"]; ok {
		t.replacement = &v
	}
	return nil
}

func (t *maskField) mask(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	rep := t.replacement
	bad := func() (any, error) {
		return nil, fmt.Errorf("Cannot mask value of type %s with custom replacement.", javaType(v))
	}
	switch v.(type) {
	case string:
		if rep != nil {
			return *rep, nil
		}
		return "", nil
	case int64:
		if rep != nil {
			n, err := strconv.ParseInt(strings.TrimSpace(*rep), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("Unable to convert %s (%s) to number", *rep, javaType(v))
			}
			return n, nil
		}
		return int64(0), nil
	case float64:
		if rep != nil {
			f, err := strconv.ParseFloat(strings.TrimSpace(*rep), 64)
			if err != nil {
				return nil, fmt.Errorf("Unable to convert %s (%s) to number", *rep, javaType(v))
			}
			return f, nil
		}
		return float64(0), nil
	case json.Number:
		if rep != nil {
			if _, err := strconv.ParseFloat(strings.TrimSpace(*rep), 64); err != nil {
				return nil, fmt.Errorf("Unable to convert %s (%s) to number", *rep, javaType(v))
			}
			return json.Number(strings.TrimSpace(*rep)), nil
		}
		return json.Number("0"), nil
	case bool:
		if rep != nil {
			return bad()
		}
		return false, nil
	case []byte:
		if rep != nil {
			return bad()
		}
		return []byte{}, nil
	case map[string]any:
		if rep != nil {
			return bad()
		}
		return map[string]any{}, nil
	case []any:
		if rep != nil {
			return bad()
		}
		return []any{}, nil
	}
	return nil, fmt.Errorf("Cannot mask value of type: %s", javaType(v))
}

const purposeMask = "mask fields"

func (t *maskField) Apply(r *ConnectRecord) (*ConnectRecord, error) {
	d := t.side.get(r)
	if d == nil || d.Value == nil {
		return r, nil
	}
	var m map[string]any
	var err error
	if schemaless(d) {
		m, err = requireMap(d, purposeMask)
	} else {
		m, err = requireStruct(d, purposeMask)
	}
	if err != nil {
		return nil, err
	}
	out := cloneMap(m)
	for _, f := range t.fields {
		v, ok := out[f]
		if !ok {
			continue
		}
		if out[f], err = t.mask(v); err != nil {
			return nil, err
		}
	}
	t.side.set(r, &Data{Schema: d.Schema, Value: out})
	return r, nil
}

// ---- ValueToKey ----

func valueToKeyPlugin() *TransformPlugin {
	return &TransformPlugin{Class: transformsPkg + "ValueToKey", Type: TypeTransformation,
		Doc: "Replace the record key with a new key formed from a subset of fields in the record value.",
		Config: []ConfigKey{
			{Name: "fields", Type: TypeList, Importance: "HIGH", Doc: "Field names on the record value to extract as the record key.", Check: listNonEmpty},
			replaceNullKey(),
		},
		NewTransform: func() Transformation { return &valueToKey{} }}
}

type valueToKey struct{ fields []string }

func (t *valueToKey) Configure(c map[string]string) error {
	t.fields = listConfig(c["fields"])
	return nil
}

const purposeV2K = "copying fields from value to key"

func (t *valueToKey) Apply(r *ConnectRecord) (*ConnectRecord, error) {
	d := r.Value
	if d == nil || d.Value == nil {
		return r, nil
	}
	if schemaless(d) {
		m, err := requireMap(d, purposeV2K)
		if err != nil {
			return nil, err
		}
		key := map[string]any{}
		for _, f := range t.fields {
			key[f] = m[f]
		}
		r.Key = &Data{Value: key}
		return r, nil
	}
	m, err := requireStruct(d, purposeV2K)
	if err != nil {
		return nil, err
	}
	ks := &Schema{Type: "struct"}
	key := map[string]any{}
	for _, f := range t.fields {
		sf, ok := structField(d.Schema, f)
		if !ok {
			return nil, fmt.Errorf("Field does not exist: %s", f)
		}
		ks.Fields = append(ks.Fields, *sf)
		key[f] = m[f]
	}
	r.Key = &Data{Schema: ks, Value: key}
	return r, nil
}

// ---- ExtractField ----

func extractFieldPlugin(s side) *TransformPlugin {
	return &TransformPlugin{Class: transformsPkg + "ExtractField" + s.suffix(), Type: TypeTransformation,
		Doc: "Extract the specified field from a Struct when schema present, or a Map in the case of schemaless data. Any null values are passed through unmodified.",
		Config: []ConfigKey{
			{Name: "field", Type: TypeString, Importance: "MEDIUM", Doc: "Field name to extract."},
			{Name: "field.syntax.version", Type: TypeString, HasDefault: true, Default: strp("V1"), Importance: "HIGH",
				Doc: "Defines the version of the syntax to access fields. Only V1 (field names are used as they are) is supported by this worker.",
				Check: func(v string) string {
					if !strings.EqualFold(strings.TrimSpace(v), "V1") {
						return "only V1 is supported by this worker (V2 nested field paths are not)"
					}
					return ""
				}},
			replaceNullKey(),
		},
		NewTransform: func() Transformation { return &extractField{side: s} }}
}

type extractField struct {
	side  side
	field string
}

func (t *extractField) Configure(c map[string]string) error {
	t.field = c["field"]
	return nil
}

const purposeExtract = "field extraction"

func (t *extractField) Apply(r *ConnectRecord) (*ConnectRecord, error) {
	d := t.side.get(r)
	if schemaless(d) {
		if d == nil || d.Value == nil {
			t.side.set(r, nil)
			return r, nil
		}
		m, err := requireMap(d, purposeExtract)
		if err != nil {
			return nil, err
		}
		if v := m[t.field]; v != nil {
			t.side.set(r, &Data{Value: v})
		} else {
			t.side.set(r, nil)
		}
		return r, nil
	}
	sf, ok := structField(d.Schema, t.field)
	if d.Schema.Type == "struct" && !ok {
		return nil, fmt.Errorf("Unknown field: %s", t.field)
	}
	if d.Value == nil {
		if ok {
			fs := sf.Schema
			t.side.set(r, &Data{Schema: &fs})
		}
		return r, nil
	}
	m, err := requireStruct(d, purposeExtract)
	if err != nil {
		return nil, err
	}
	fs := sf.Schema
	t.side.set(r, &Data{Schema: &fs, Value: m[t.field]})
	return r, nil
}

// ---- HoistField ----

func hoistFieldPlugin(s side) *TransformPlugin {
	return &TransformPlugin{Class: transformsPkg + "HoistField" + s.suffix(), Type: TypeTransformation,
		Doc: "Wrap data using the specified field name in a Struct when schema present, or a Map in the case of schemaless data.",
		Config: []ConfigKey{
			{Name: "field", Type: TypeString, Importance: "MEDIUM", Doc: "Field name for the single field that will be created in the resulting Struct or Map."},
		},
		NewTransform: func() Transformation { return &hoistField{side: s} }}
}

type hoistField struct {
	side  side
	field string
}

func (t *hoistField) Configure(c map[string]string) error {
	t.field = c["field"]
	return nil
}

func (t *hoistField) Apply(r *ConnectRecord) (*ConnectRecord, error) {
	d := t.side.get(r)
	if schemaless(d) {
		var v any
		if d != nil {
			v = d.Value
		}
		t.side.set(r, &Data{Value: map[string]any{t.field: v}})
		return r, nil
	}
	ns := &Schema{Type: "struct", Fields: []SchemaField{{Field: t.field, Schema: *d.Schema}}}
	t.side.set(r, &Data{Schema: ns, Value: map[string]any{t.field: d.Value}})
	return r, nil
}

// ---- Cast ----

// castTypes are the target types of Cast, with their JsonConverter schema
// type names.
var castTypes = map[string]string{
	"int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64",
	"float32": "float", "float64": "double", "boolean": "boolean", "string": "string",
}

// parseCastSpec reads Cast's spec: "field:type,…" or a single "type" for
// the whole key or value ("" as the field).
func parseCastSpec(v string) (map[string]string, []string, error) {
	out := map[string]string{}
	var order []string
	list := listConfig(v)
	if len(list) == 0 {
		return nil, nil, fmt.Errorf("Must specify at least one field to cast.")
	}
	for _, e := range list {
		field, typ, ok := strings.Cut(e, ":")
		if !ok {
			if len(list) > 1 {
				return nil, nil, fmt.Errorf("Cast transformations that specify a type to cast the entire value to may ony specify a single cast in their spec")
			}
			field, typ = "", e
		}
		typ = strings.ToLower(strings.TrimSpace(typ))
		if _, ok := castTypes[typ]; !ok {
			return nil, nil, fmt.Errorf("Invalid type found in casting spec: %s", strings.TrimSpace(e))
		}
		field = strings.TrimSpace(field)
		if _, dup := out[field]; !dup {
			order = append(order, field)
		}
		out[field] = typ
	}
	return out, order, nil
}

func castPlugin(s side) *TransformPlugin {
	return &TransformPlugin{Class: transformsPkg + "Cast" + s.suffix(), Type: TypeTransformation,
		Doc: "Cast fields or the entire key or value to a specific type, e.g. to force an integer field to a smaller width. Cast from integers, floats, boolean and string to any other type, and cast binary to string (base64 encoded).",
		Config: []ConfigKey{
			{Name: "spec", Type: TypeList, Importance: "HIGH",
				Doc: "List of fields and the type to cast them to of the form field1:type,field2:type to cast fields of Maps or Structs. A single type to cast the entire value. Valid types are int8, int16, int32, int64, float32, float64, boolean, and string.",
				Check: func(v string) string {
					if _, _, err := parseCastSpec(v); err != nil {
						return err.Error()
					}
					return ""
				}},
			replaceNullKey(),
		},
		NewTransform: func() Transformation { return &cast{side: s} }}
}

type cast struct {
	side  side
	spec  map[string]string
	whole string // the target of a whole-value cast
}

func (t *cast) Configure(c map[string]string) error {
	spec, _, err := parseCastSpec(c["spec"])
	if err != nil {
		return err
	}
	t.spec, t.whole = spec, spec[""]
	return nil
}

// castValue converts one value to a target type, as Connect's Cast does
// (narrowing integer casts wrap, strings are parsed, booleans are 1/0).
func castValue(v any, target string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			v = i
		} else if f, err := n.Float64(); err == nil {
			v = f
		}
	}
	unexpected := func() (any, error) {
		return nil, fmt.Errorf("Unexpected type in Cast transformation: %s", javaType(v))
	}
	if target == "string" {
		switch x := v.(type) {
		case string:
			return x, nil
		case int64:
			return strconv.FormatInt(x, 10), nil
		case float64:
			return javaDouble(x), nil
		case bool:
			return strconv.FormatBool(x), nil
		case []byte:
			return base64.StdEncoding.EncodeToString(x), nil
		}
		return unexpected()
	}
	var i int64
	var f float64
	isFloat := false
	switch x := v.(type) {
	case int64:
		i = x
	case float64:
		f, isFloat = x, true
	case bool:
		if x {
			i = 1
		}
	case string:
		s := strings.TrimSpace(x)
		switch target {
		case "boolean":
			return strings.EqualFold(s, "true"), nil
		case "float32", "float64":
			bits := 64
			if target == "float32" {
				bits = 32
			}
			p, err := strconv.ParseFloat(s, bits)
			if err != nil {
				return nil, fmt.Errorf("Value (%s) was out of range for requested data type", x)
			}
			return p, nil
		default:
			bits := map[string]int{"int8": 8, "int16": 16, "int32": 32, "int64": 64}[target]
			p, err := strconv.ParseInt(s, 10, bits)
			if err != nil {
				return nil, fmt.Errorf("For input string: \"%s\"", x)
			}
			return p, nil
		}
	default:
		return unexpected()
	}
	if isFloat {
		switch target {
		case "float32":
			return float64(float32(f)), nil
		case "float64":
			return f, nil
		case "boolean":
			return f != 0, nil
		}
		i = javaD2L(f)
	} else {
		switch target {
		case "float32":
			return float64(float32(i)), nil
		case "float64":
			return float64(i), nil
		case "boolean":
			return i != 0, nil
		}
	}
	switch target {
	case "int8":
		return int64(int8(i)), nil
	case "int16":
		return int64(int16(i)), nil
	case "int32":
		return int64(int32(i)), nil
	}
	return i, nil
}

// javaD2L is Java's (long) of a double: NaN is 0, out of range saturates.
func javaD2L(f float64) int64 {
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

// javaDouble renders a float64 as Java's Double.toString.
func javaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	a := math.Abs(f)
	if a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'E', -1, 64) // 1.5E+10
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	exp = strings.TrimPrefix(exp, "+")
	n, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(n)
}

const purposeCast = "cast types"

func (t *cast) Apply(r *ConnectRecord) (*ConnectRecord, error) {
	d := t.side.get(r)
	if d == nil || d.Value == nil {
		return r, nil
	}
	if t.whole != "" {
		v, err := castValue(d.Value, t.whole)
		if err != nil {
			return nil, err
		}
		var ns *Schema
		if d.Schema != nil {
			ns = &Schema{Type: castTypes[t.whole], Optional: d.Schema.Optional}
		}
		t.side.set(r, &Data{Schema: ns, Value: v})
		return r, nil
	}
	var m map[string]any
	var err error
	if schemaless(d) {
		m, err = requireMap(d, purposeCast)
	} else {
		m, err = requireStruct(d, purposeCast)
	}
	if err != nil {
		return nil, err
	}
	out := cloneMap(m)
	for f, typ := range t.spec {
		v, ok := out[f]
		if !ok {
			continue
		}
		if out[f], err = castValue(v, typ); err != nil {
			return nil, err
		}
	}
	var ns *Schema
	if d.Schema != nil {
		c := *d.Schema
		c.Fields = slices.Clone(d.Schema.Fields)
		for i := range c.Fields {
			if typ, ok := t.spec[c.Fields[i].Field]; ok {
				c.Fields[i].Schema = Schema{Type: castTypes[typ], Optional: c.Fields[i].Optional}
			}
		}
		ns = &c
	}
	t.side.set(r, &Data{Schema: ns, Value: out})
	return r, nil
}

// ---- RegexRouter ----

func regexRouterPlugin() *TransformPlugin {
	return &TransformPlugin{Class: transformsPkg + "RegexRouter", Type: TypeTransformation,
		Doc: "Update the record topic using the configured regular expression and replacement string. The regular expression must match the whole topic name; the replacement may refer to capture groups as $1.",
		Config: []ConfigKey{
			{Name: "regex", Type: TypeString, Importance: "HIGH", Doc: "Regular expression to use for matching.", Check: regexCheck},
			{Name: "replacement", Type: TypeString, Importance: "HIGH", Doc: "Replacement string."},
		},
		NewTransform: func() Transformation { return &regexRouter{} }}
}

type regexRouter struct {
	re          *regexp.Regexp
	replacement string
}

func (t *regexRouter) Configure(c map[string]string) error {
	re, err := regexp.Compile(`^(?:` + c["regex"] + `)$`)
	if err != nil {
		return err
	}
	t.re, t.replacement = re, javaReplacement(c["replacement"], re.NumSubexp())
	return nil
}

// javaReplacement turns a java.util.regex replacement ($1, ${name}, \$)
// into Go's template syntax ($1 is read greedily as long as the group
// exists, as Java does).
func javaReplacement(s string, groups int) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] == '$' {
				b.WriteString("$$")
			} else {
				b.WriteByte(s[i])
			}
		case c == '$' && i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				b.WriteString("$$")
				continue
			}
			b.WriteString(s[i : i+end+1])
			i += end
		case c == '$' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			n := int(s[i+1] - '0')
			j := i + 2
			for j < len(s) && s[j] >= '0' && s[j] <= '9' && n*10+int(s[j]-'0') <= groups {
				n = n*10 + int(s[j]-'0')
				j++
			}
			b.WriteString("${" + strconv.Itoa(n) + "}")
			i = j - 1
		case c == '$':
			b.WriteString("$$")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (t *regexRouter) Apply(r *ConnectRecord) (*ConnectRecord, error) {
	if m := t.re.FindStringSubmatchIndex(r.Topic); m != nil {
		r.Topic = string(t.re.ExpandString(nil, t.replacement, r.Topic, m))
	}
	return r, nil
}

// ---- TimestampRouter ----

func timestampRouterPlugin() *TransformPlugin {
	return &TransformPlugin{Class: transformsPkg + "TimestampRouter", Type: TypeTransformation,
		Doc: "Update the record's topic field as a function of the original topic value and the record timestamp.",
		Config: []ConfigKey{
			{Name: "topic.format", Type: TypeString, HasDefault: true, Default: strp("${topic}-${timestamp}"), Importance: "HIGH",
				Doc: "Format string which can contain ${topic} and ${timestamp} as placeholders for the topic and timestamp, respectively.", Check: nonEmpty},
			{Name: "timestamp.format", Type: TypeString, HasDefault: true, Default: strp("yyyyMMdd"), Importance: "HIGH",
				Doc: "Format string for the timestamp that is compatible with java.text.SimpleDateFormat (UTC).",
				Check: func(v string) string {
					if _, err := parseSimpleDateFormat(v); err != nil {
						return err.Error()
					}
					return ""
				}},
		},
		NewTransform: func() Transformation { return &timestampRouter{} }}
}

type timestampRouter struct {
	topicFormat string
	ts          []dateToken
}

func (t *timestampRouter) Configure(c map[string]string) error {
	t.topicFormat = c["topic.format"]
	var err error
	t.ts, err = parseSimpleDateFormat(c["timestamp.format"])
	return err
}

func (t *timestampRouter) Apply(r *ConnectRecord) (*ConnectRecord, error) {
	if r.Timestamp == nil {
		return nil, fmt.Errorf("Timestamp missing on record: topic %s", r.Topic)
	}
	ts := formatSimpleDate(t.ts, time.UnixMilli(*r.Timestamp).UTC())
	r.Topic = strings.ReplaceAll(strings.ReplaceAll(t.topicFormat, "${topic}", r.Topic), "${timestamp}", ts)
	return r, nil
}

// dateToken is a run of one pattern letter (n times) or literal text.
type dateToken struct {
	letter  byte
	n       int
	literal string
}

// parseSimpleDateFormat reads the java.text.SimpleDateFormat patterns
// Connect users write: y M d H h m s S a E D and quoted literals.
func parseSimpleDateFormat(p string) ([]dateToken, error) {
	var out []dateToken
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == '\'':
			if i+1 < len(p) && p[i+1] == '\'' {
				out = append(out, dateToken{literal: "'"})
				i += 2
				continue
			}
			end := strings.IndexByte(p[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("Unterminated quote")
			}
			out = append(out, dateToken{literal: p[i+1 : i+1+end]})
			i += end + 2
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			if !strings.ContainsRune("yMdHhmsSaED", rune(c)) {
				return nil, fmt.Errorf("Illegal pattern character '%c'", c)
			}
			j := i
			for j < len(p) && p[j] == c {
				j++
			}
			out = append(out, dateToken{letter: c, n: j - i})
			i = j
		default:
			out = append(out, dateToken{literal: string(c)})
			i++
		}
	}
	return out, nil
}

func formatSimpleDate(toks []dateToken, t time.Time) string {
	var b strings.Builder
	pad := func(v, n int) {
		s := strconv.Itoa(v)
		for len(s) < n {
			s = "0" + s
		}
		b.WriteString(s)
	}
	for _, k := range toks {
		switch k.letter {
		case 0:
			b.WriteString(k.literal)
		case 'y':
			if k.n == 2 {
				pad(t.Year()%100, 2)
			} else {
				pad(t.Year(), k.n)
			}
		case 'M':
			switch {
			case k.n >= 4:
				b.WriteString(t.Month().String())
			case k.n == 3:
				b.WriteString(t.Month().String()[:3])
			default:
				pad(int(t.Month()), k.n)
			}
		case 'd':
			pad(t.Day(), k.n)
		case 'D':
			pad(t.YearDay(), k.n)
		case 'H':
			pad(t.Hour(), k.n)
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			pad(h, k.n)
		case 'm':
			pad(t.Minute(), k.n)
		case 's':
			pad(t.Second(), k.n)
		case 'S':
			pad(t.Nanosecond()/1e6, k.n)
		case 'a':
			if t.Hour() < 12 {
				b.WriteString("AM")
			} else {
				b.WriteString("PM")
			}
		case 'E':
			if k.n >= 4 {
				b.WriteString(t.Weekday().String())
			} else {
				b.WriteString(t.Weekday().String()[:3])
			}
		}
	}
	return b.String()
}

// ---- Filter ----

func filterPlugin() *TransformPlugin {
	return &TransformPlugin{Class: transformsPkg + "Filter", Type: TypeTransformation,
		Doc:          "Drops all records, filtering them from subsequent transformations in the chain. This is intended to be used conditionally to filter out records matching (or not matching) a particular Predicate.",
		NewTransform: func() Transformation { return filter{} }}
}

type filter struct{}

func (filter) Configure(map[string]string) error            { return nil }
func (filter) Apply(*ConnectRecord) (*ConnectRecord, error) { return nil, nil }

// ---- InsertHeader / DropHeaders ----

func insertHeaderPlugin() *TransformPlugin {
	return &TransformPlugin{Class: transformsPkg + "InsertHeader", Type: TypeTransformation,
		Doc: "Add a header to each record.",
		Config: []ConfigKey{
			{Name: "header", Type: TypeString, Importance: "HIGH", Doc: "The name of the header.", Check: nonEmpty},
			{Name: "value.literal", Type: TypeString, Importance: "HIGH", Doc: "The literal value that is to be set as the header value on all records."},
		},
		NewTransform: func() Transformation { return &insertHeader{} }}
}

type insertHeader struct{ key, value string }

func (t *insertHeader) Configure(c map[string]string) error {
	t.key, t.value = c["header"], c["value.literal"]
	return nil
}

func (t *insertHeader) Apply(r *ConnectRecord) (*ConnectRecord, error) {
	r.Headers = append(slices.Clip(r.Headers), Header{Key: t.key, Value: []byte(t.value)})
	return r, nil
}

func dropHeadersPlugin() *TransformPlugin {
	return &TransformPlugin{Class: transformsPkg + "DropHeaders", Type: TypeTransformation,
		Doc: "Removes one or more headers from each record.",
		Config: []ConfigKey{
			{Name: "headers", Type: TypeList, Importance: "HIGH", Doc: "The name of the headers to be removed.", Check: listNonEmpty},
		},
		NewTransform: func() Transformation { return &dropHeaders{} }}
}

type dropHeaders struct{ names []string }

func (t *dropHeaders) Configure(c map[string]string) error {
	t.names = listConfig(c["headers"])
	return nil
}

func (t *dropHeaders) Apply(r *ConnectRecord) (*ConnectRecord, error) {
	var out []Header
	for _, h := range r.Headers {
		if !slices.Contains(t.names, h.Key) {
			out = append(out, h)
		}
	}
	r.Headers = out
	return r, nil
}

// ---- Predicates ----

const predicatesPkg = transformsPkg + "predicates."

func topicNameMatchesPlugin() *TransformPlugin {
	return &TransformPlugin{Class: predicatesPkg + "TopicNameMatches", Type: TypePredicate,
		Doc: "A predicate which is true for records with a topic name that matches the configured regular expression.",
		Config: []ConfigKey{
			{Name: "pattern", Type: TypeString, Importance: "MEDIUM", Doc: "A Java regular expression for matching against the name of a record's topic.",
				Check: func(v string) string {
					if r := nonEmpty(v); r != "" {
						return r
					}
					return regexCheck(v)
				}},
		},
		NewPredicate: func() Predicate { return &topicNameMatches{} }}
}

type topicNameMatches struct{ re *regexp.Regexp }

func (p *topicNameMatches) Configure(c map[string]string) error {
	re, err := regexp.Compile(`^(?:` + c["pattern"] + `)$`)
	p.re = re
	return err
}

func (p *topicNameMatches) Test(r *ConnectRecord) bool { return p.re.MatchString(r.Topic) }

func hasHeaderKeyPlugin() *TransformPlugin {
	return &TransformPlugin{Class: predicatesPkg + "HasHeaderKey", Type: TypePredicate,
		Doc: "A predicate which is true for records with at least one header with the configured name.",
		Config: []ConfigKey{
			{Name: "name", Type: TypeString, Importance: "MEDIUM", Doc: "The header name.", Check: nonEmpty},
		},
		NewPredicate: func() Predicate { return &hasHeaderKey{} }}
}

type hasHeaderKey struct{ name string }

func (p *hasHeaderKey) Configure(c map[string]string) error {
	p.name = c["name"]
	return nil
}

func (p *hasHeaderKey) Test(r *ConnectRecord) bool {
	return slices.ContainsFunc(r.Headers, func(h Header) bool { return h.Key == p.name })
}

func recordIsTombstonePlugin() *TransformPlugin {
	return &TransformPlugin{Class: predicatesPkg + "RecordIsTombstone", Type: TypePredicate,
		Doc:          "A predicate which is true for records which are tombstones (i.e. have null value).",
		NewPredicate: func() Predicate { return recordIsTombstone{} }}
}

type recordIsTombstone struct{}

func (recordIsTombstone) Configure(map[string]string) error { return nil }
func (recordIsTombstone) Test(r *ConnectRecord) bool        { return r.Value == nil || r.Value.Value == nil }
