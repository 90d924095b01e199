package schemaregistry

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"github.com/jhump/protoreflect/desc"
	"github.com/jhump/protoreflect/desc/protoprint"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// protobufFormat parses .proto text with bufbuild/protocompile: references
// are imports (a reference's name is its import path), the well-known
// types (google/protobuf/*.proto) are always available. The canonical text
// is the file printed again from its descriptor by jhump/protoreflect's
// protoprint (comments and formatting dropped, element order kept, so the
// message indexes of the wire format do not move), as Confluent re-prints
// Protobuf schemas: two formattings of one file are one schema.
//
// Compatibility follows Confluent's Protobuf rules, a diff of the original
// file against the update (see diff): adding or removing messages' fields,
// enums, enum values, oneofs and renaming fields are compatible; changing
// the package, removing a message, changing a field's kind, scalar type
// (except string↔bytes) or message/enum type, a numeric field's label,
// adding or removing a required field, removing a field of a oneof that
// remains, and moving fields into oneofs are not.
type protobufFormat struct{}

func (protobufFormat) Type() string { return TypeProtobuf }

type protobufParsed struct {
	text string
	fd   protoreflect.FileDescriptor
}

// mainProtoFile names the schema being parsed among its imports.
const mainProtoFile = "tributary.registry.schema.proto"

func (protobufFormat) Parse(text string, deps []Dependency) (Parsed, error) {
	text = strings.TrimSpace(text)
	srcs := map[string]string{mainProtoFile: text}
	for _, d := range deps {
		srcs[d.Name] = d.Schema
	}
	var errs []string
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(srcs)}),
		MaxParallelism: 1,
		Reporter: reporter.NewReporter(func(err reporter.ErrorWithPos) error {
			errs = append(errs, err.Error())
			return nil
		}, nil),
	}
	files, err := c.Compile(context.Background(), mainProtoFile)
	if err != nil || len(files) != 1 {
		msg := strings.Join(errs, "; ")
		if msg == "" && err != nil {
			msg = err.Error()
		}
		msg = strings.ReplaceAll(msg, mainProtoFile+":", "")
		return nil, errorf(CodeInvalidSchema, "Invalid schema: %s", msg)
	}
	canonical, err := printProto(files[0])
	if err != nil {
		return nil, errorf(CodeInvalidSchema, "Invalid schema: %v", err)
	}
	return &protobufParsed{text: canonical, fd: files[0]}, nil
}

func printProto(fd protoreflect.FileDescriptor) (string, error) {
	d, err := desc.WrapFile(fd)
	if err != nil {
		return "", err
	}
	p := protoprint.Printer{Indent: "  ", OmitComments: protoprint.CommentsAll}
	out, err := p.PrintProtoToString(d)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out) + "\n", nil
}

func (p *protobufParsed) Canonical() string { return p.text }

// CanRead reports whether p (the update) may follow writer (the original)
// under Confluent's Protobuf diff.
func (p *protobufParsed) CanRead(writer Parsed) []string {
	w, ok := writer.(*protobufParsed)
	if !ok {
		return []string{"schema types differ"}
	}
	return protoDiff(w.fd, p.fd)
}

func messagesOf(fd protoreflect.FileDescriptor) map[protoreflect.FullName]protoreflect.MessageDescriptor {
	out := map[protoreflect.FullName]protoreflect.MessageDescriptor{}
	var walk func(ms protoreflect.MessageDescriptors)
	walk = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			m := ms.Get(i)
			if m.IsMapEntry() {
				continue
			}
			out[m.FullName()] = m
			walk(m.Messages())
		}
	}
	walk(fd.Messages())
	return out
}

// protoDiff lists the incompatible differences from original to update.
func protoDiff(original, update protoreflect.FileDescriptor) []string {
	var msgs []string
	if original.Package() != update.Package() {
		msgs = append(msgs, fmt.Sprintf("PACKAGE_CHANGED: %q to %q", original.Package(), update.Package()))
	}
	om, um := messagesOf(original), messagesOf(update)
	names := make([]string, 0, len(om))
	for n := range om {
		names = append(names, string(n))
	}
	sort.Strings(names)
	for _, n := range names {
		o := om[protoreflect.FullName(n)]
		u, ok := um[protoreflect.FullName(n)]
		if !ok {
			msgs = append(msgs, fmt.Sprintf("MESSAGE_REMOVED: %s", n))
			continue
		}
		msgs = append(msgs, diffMessage(o, u)...)
	}
	return msgs
}

func isNumeric(k protoreflect.Kind) bool {
	switch k {
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind, protoreflect.GroupKind:
		return false
	}
	return true
}

func kindClass(f protoreflect.FieldDescriptor) string {
	switch {
	case f.IsMap():
		return "map"
	case f.Kind() == protoreflect.MessageKind || f.Kind() == protoreflect.GroupKind:
		return "message"
	case f.Kind() == protoreflect.EnumKind:
		return "enum"
	}
	return "scalar"
}

func diffMessage(o, u protoreflect.MessageDescriptor) []string {
	var msgs []string
	name := o.FullName()
	of, uf := o.Fields(), u.Fields()
	movedInto := map[string]int{} // new oneof → fields moved into it
	for i := range of.Len() {
		f := of.Get(i)
		g := uf.ByNumber(f.Number())
		if g == nil {
			if f.Cardinality() == protoreflect.Required {
				msgs = append(msgs, fmt.Sprintf("REQUIRED_FIELD_REMOVED: %s field %d", name, f.Number()))
			}
			if oo := f.ContainingOneof(); oo != nil && !oo.IsSynthetic() && u.Oneofs().ByName(oo.Name()) != nil {
				msgs = append(msgs, fmt.Sprintf("ONEOF_FIELD_REMOVED: %s field %d of oneof %s", name, f.Number(), oo.Name()))
			}
			continue
		}
		at := fmt.Sprintf("%s field %d", name, f.Number())
		switch oc, uc := kindClass(f), kindClass(g); {
		case oc != uc:
			msgs = append(msgs, fmt.Sprintf("FIELD_KIND_CHANGED: %s from %s to %s", at, oc, uc))
		case oc == "scalar" && f.Kind() != g.Kind():
			sb := func(k protoreflect.Kind) bool { return k == protoreflect.StringKind || k == protoreflect.BytesKind }
			if !(sb(f.Kind()) && sb(g.Kind())) {
				msgs = append(msgs, fmt.Sprintf("FIELD_SCALAR_KIND_CHANGED: %s from %s to %s", at, f.Kind(), g.Kind()))
			}
		case oc == "message" && f.Message().FullName() != g.Message().FullName():
			msgs = append(msgs, fmt.Sprintf("FIELD_NAMED_TYPE_CHANGED: %s from %s to %s", at, f.Message().FullName(), g.Message().FullName()))
		case oc == "enum" && f.Enum().FullName() != g.Enum().FullName():
			msgs = append(msgs, fmt.Sprintf("FIELD_NAMED_TYPE_CHANGED: %s from %s to %s", at, f.Enum().FullName(), g.Enum().FullName()))
		case oc == "map":
			if kindClass(f.MapValue()) != kindClass(g.MapValue()) || f.MapKey().Kind() != g.MapKey().Kind() ||
				(kindClass(f.MapValue()) == "scalar" && f.MapValue().Kind() != g.MapValue().Kind()) {
				msgs = append(msgs, fmt.Sprintf("FIELD_KIND_CHANGED: %s map types differ", at))
			}
		}
		if oc, uc := f.Cardinality() == protoreflect.Repeated, g.Cardinality() == protoreflect.Repeated; oc != uc && isNumeric(f.Kind()) && !f.IsMap() {
			msgs = append(msgs, fmt.Sprintf("FIELD_NUMERIC_LABEL_CHANGED: %s", at))
		}
		if (f.Cardinality() == protoreflect.Required) != (g.Cardinality() == protoreflect.Required) {
			if g.Cardinality() == protoreflect.Required {
				msgs = append(msgs, fmt.Sprintf("REQUIRED_FIELD_ADDED: %s", at))
			} else {
				msgs = append(msgs, fmt.Sprintf("REQUIRED_FIELD_REMOVED: %s", at))
			}
		}
		fo, uo := realOneof(f), realOneof(g)
		if fo == nil && uo != nil {
			if o.Oneofs().ByName(uo.Name()) != nil {
				msgs = append(msgs, fmt.Sprintf("FIELD_MOVED_TO_EXISTING_ONEOF: %s into %s", at, uo.Name()))
			} else {
				movedInto[string(uo.Name())]++
			}
		}
	}
	for i := range uf.Len() {
		g := uf.Get(i)
		if of.ByNumber(g.Number()) == nil && g.Cardinality() == protoreflect.Required {
			msgs = append(msgs, fmt.Sprintf("REQUIRED_FIELD_ADDED: %s field %d", name, g.Number()))
		}
	}
	oneofs := make([]string, 0, len(movedInto))
	for n, c := range movedInto {
		if c > 1 {
			oneofs = append(oneofs, n)
		}
	}
	sort.Strings(oneofs)
	for _, n := range oneofs {
		msgs = append(msgs, fmt.Sprintf("MULTIPLE_FIELDS_MOVED_TO_ONEOF: %s oneof %s", name, n))
	}
	return msgs
}

func realOneof(f protoreflect.FieldDescriptor) protoreflect.OneofDescriptor {
	if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
		return o
	}
	return nil
}
