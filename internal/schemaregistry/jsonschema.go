package schemaregistry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"reflect"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// jsonFormat parses JSON Schemas (drafts 4, 6, 7, 2019-09 and 2020-12 by
// their $schema; draft 7 without one, as Confluent) with
// santhosh-tekuri/jsonschema, which validates the schema against its
// metaschema and resolves every $ref. References are other registered
// schemas under the URL a $ref names (relative names resolve against the
// schema's own location); nothing is ever loaded from the network or the
// file system. The canonical text is the JSON with keys sorted and no
// whitespace.
//
// Compatibility (jsonCanRead) asks whether every document the writer
// schema accepts is accepted by the reader schema, following the
// principles of Confluent's JSON Schema diff: widening is compatible,
// narrowing is not (types, length, range and item bounds, multipleOf,
// pattern, enum, const, required), and the content model matters — a
// property added to an open model or removed from a closed one is
// incompatible, added to a closed model or removed from an open one is
// compatible. anyOf/oneOf compare branch by branch (a writer branch must
// be accepted by some reader branch). Keywords it cannot compare
// structurally (e.g. changed `not`, `if`/`then`/`else`, dependencies) are
// reported incompatible when they differ.
type jsonFormat struct{}

func (jsonFormat) Type() string { return TypeJSON }

type jsonParsed struct {
	canonical string
	root      any            // the decoded schema
	docs      map[string]any // reference URL (without fragment) → decoded schema, incl. the root
	base      string         // the root's URL
}

// jsonBase is where the schema being parsed lives for $ref resolution.
const jsonBase = "https://schema-registry.invalid/schemas/"

type noLoader struct{}

func (noLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("%s is not a registered reference", u)
}

func decodeJSONSchema(text string) (any, error) {
	return jsonschema.UnmarshalJSON(strings.NewReader(text))
}

func (jsonFormat) Parse(text string, deps []Dependency) (Parsed, error) {
	canonical, err := normalizeJSON(text)
	if err != nil {
		return nil, errorf(CodeInvalidSchema, "Invalid schema %s: %v", text, err)
	}
	root, err := decodeJSONSchema(canonical)
	if err != nil {
		return nil, errorf(CodeInvalidSchema, "Invalid schema: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.UseLoader(noLoader{})
	p := &jsonParsed{canonical: canonical, root: root, docs: map[string]any{}, base: jsonBase + "schema.json"}
	for _, d := range deps {
		doc, err := decodeJSONSchema(d.Schema)
		if err != nil {
			return nil, errorf(CodeInvalidSchema, "Invalid schema: reference %s: %v", d.Name, err)
		}
		u := resolveURL(jsonBase, d.Name)
		if err := c.AddResource(u, doc); err != nil {
			return nil, errorf(CodeInvalidSchema, "Invalid schema: reference %s: %v", d.Name, err)
		}
		p.docs[u] = doc
	}
	if err := c.AddResource(p.base, root); err != nil {
		return nil, errorf(CodeInvalidSchema, "Invalid schema: %v", err)
	}
	p.docs[p.base] = root
	if _, err := c.Compile(p.base); err != nil {
		return nil, errorf(CodeInvalidSchema, "Invalid schema: %v", strings.ReplaceAll(err.Error(), jsonBase, ""))
	}
	return p, nil
}

func resolveURL(base, ref string) string {
	b, err := url.Parse(base)
	if err != nil {
		return ref
	}
	r, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return b.ResolveReference(r).String()
}

func (p *jsonParsed) Canonical() string { return p.canonical }

func (p *jsonParsed) CanRead(writer Parsed) []string {
	w, ok := writer.(*jsonParsed)
	if !ok {
		return []string{"schema types differ"}
	}
	c := &jsonCompat{r: p, w: w, seen: map[[2]uintptr]bool{}}
	c.check(node{p.root, p.base}, node{w.root, w.base}, "#")
	return c.msgs
}

// node is a subschema with the URL its relative $refs resolve against.
type node struct {
	v    any
	base string
}

type jsonCompat struct {
	r, w  *jsonParsed
	seen  map[[2]uintptr]bool
	msgs  []string
	depth int
}

func (c *jsonCompat) fail(path, kind, detail string) {
	c.msgs = append(c.msgs, fmt.Sprintf("%s at %s: %s", kind, path, detail))
}

// deref follows $ref (alone or with siblings, which draft 7 ignores) to
// its target in the schema's documents.
func derefRef(p *jsonParsed, n node) (node, bool) {
	for range 32 {
		m, ok := n.v.(map[string]any)
		if !ok {
			return n, true
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return n, true
		}
		u := resolveURL(n.base, ref)
		docURL, frag, _ := strings.Cut(u, "#")
		doc, ok := p.docs[docURL]
		if !ok {
			return n, false
		}
		target, ok := jsonPointer(doc, frag)
		if !ok {
			return n, false
		}
		n = node{target, docURL}
	}
	return n, false
}

func jsonPointer(doc any, frag string) (any, bool) {
	if frag == "" || frag == "/" {
		return doc, true
	}
	if !strings.HasPrefix(frag, "/") {
		return nil, false // anchors are not compared structurally
	}
	cur := doc
	for _, tok := range strings.Split(frag[1:], "/") {
		tok, _ = url.PathUnescape(tok)
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			var i int
			if _, err := fmt.Sscan(tok, &i); err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

func ptr(v any) uintptr {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Map || rv.Kind() == reflect.Slice {
		return rv.Pointer()
	}
	return 0
}

// trivial reports a schema accepting everything: true, {} or only
// annotations.
func trivial(v any) bool {
	switch s := v.(type) {
	case bool:
		return s
	case map[string]any:
		for k := range s {
			switch k {
			case "title", "description", "default", "examples", "$comment", "$schema", "$id", "id", "definitions", "$defs", "readOnly", "writeOnly", "deprecated":
			default:
				return false
			}
		}
		return true
	}
	return false
}

func types(m map[string]any) map[string]bool {
	switch t := m["type"].(type) {
	case string:
		return map[string]bool{t: true}
	case []any:
		out := map[string]bool{}
		for _, x := range t {
			if s, ok := x.(string); ok {
				out[s] = true
			}
		}
		return out
	}
	return nil
}

func num(v any) (*big.Rat, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(n.String())
	return r, ok
}

func canon(v any) string {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.Encode(v)
	return buf.String()
}

// check records why reader r does not accept every document writer w does.
func (c *jsonCompat) check(rn, wn node, path string) {
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > 64 {
		return
	}
	var ok bool
	if rn, ok = derefRef(c.r, rn); !ok {
		c.fail(path, "REFERENCE_UNRESOLVED", "a reader $ref cannot be compared")
		return
	}
	if wn, ok = derefRef(c.w, wn); !ok {
		c.fail(path, "REFERENCE_UNRESOLVED", "a writer $ref cannot be compared")
		return
	}
	key := [2]uintptr{ptr(rn.v), ptr(wn.v)}
	if key[0] != 0 && key[1] != 0 {
		if c.seen[key] {
			return // recursive schema: assume compatible on the cycle
		}
		c.seen[key] = true
	}
	if trivial(rn.v) {
		return
	}
	if b, ok := wn.v.(bool); ok && !b {
		return // the writer accepts nothing
	}
	if b, ok := rn.v.(bool); ok && !b {
		c.fail(path, "SCHEMA_NARROWED", "the reader accepts nothing")
		return
	}
	r, _ := rn.v.(map[string]any)
	w, _ := wn.v.(map[string]any)
	if w == nil {
		w = map[string]any{} // writer true: accepts everything
	}
	if r == nil {
		return
	}

	// Sum types.
	rAny, rOne := r["anyOf"], r["oneOf"]
	wAny, wOne := w["anyOf"], w["oneOf"]
	rSum, _ := firstNonNil(rOne, rAny).([]any)
	wSum, _ := firstNonNil(wOne, wAny).([]any)
	switch {
	case rSum != nil && wSum != nil:
		if rOne != nil && wAny != nil && wOne == nil {
			c.fail(path, "COMBINED_TYPE_CHANGED", "anyOf became oneOf")
		}
		for i, wb := range wSum {
			if !c.acceptedBySome(rSum, rn.base, node{wb, wn.base}, fmt.Sprintf("%s/anyOf/%d", path, i)) {
				c.fail(path, "COMBINED_TYPE_SUBSCHEMAS_CHANGED", fmt.Sprintf("writer branch %d is accepted by no reader branch", i))
			}
		}
		return
	case rSum != nil:
		if !c.acceptedBySome(rSum, rn.base, wn, path) {
			c.fail(path, "SUM_TYPE_NARROWED", "the writer schema is accepted by no reader branch")
		}
		return
	case wSum != nil:
		for i, wb := range wSum {
			c.check(rn, node{wb, wn.base}, fmt.Sprintf("%s/anyOf/%d", path, i))
		}
		return
	}
	// Each reader allOf branch must accept the writer: the writer as a
	// whole, or one of the writer's own allOf branches (the writer is
	// narrower than each of them). Beyond that, a writer's allOf is not
	// used: checking its own keywords without the branches is conservative
	// (it may call a compatible change incompatible, never the reverse).
	if rAll, ok := r["allOf"].([]any); ok {
		wAll, _ := w["allOf"].([]any)
		for i, rb := range rAll {
			at := fmt.Sprintf("%s/allOf/%d", path, i)
			candidates := append([]any{wn.v}, wAll...)
			accepted := false
			for _, wb := range candidates {
				if c.acceptedBySome([]any{rb}, rn.base, node{wb, wn.base}, at) {
					accepted = true
					break
				}
			}
			if !accepted {
				c.check(node{rb, rn.base}, wn, at)
			}
		}
	}
	for _, k := range []string{"not", "if", "then", "else", "dependencies", "dependentRequired", "dependentSchemas", "contains", "propertyNames", "unevaluatedProperties", "unevaluatedItems"} {
		if rv, ok := r[k]; ok && canon(rv) != canon(w[k]) {
			c.fail(path, strings.ToUpper(k)+"_CHANGED", "the reader's "+k+" differs")
		}
	}

	// Types.
	rt, wt := types(r), types(w)
	if rt != nil {
		if wt == nil {
			c.fail(path, "TYPE_NARROWED", "the reader restricts the type")
		} else {
			for t := range wt {
				if !rt[t] && !(t == "integer" && rt["number"]) {
					c.fail(path, "TYPE_NARROWED", fmt.Sprintf("the reader does not accept %s", t))
				}
			}
		}
	}
	if rt == nil {
		rt = map[string]bool{"string": true, "number": true, "integer": true, "object": true, "array": true, "boolean": true, "null": true}
	}
	if wt == nil {
		wt = rt
	}
	has := func(ts ...string) bool {
		for _, t := range ts {
			if wt[t] {
				return true
			}
		}
		return false
	}

	// enum and const.
	if re, ok := r["enum"].([]any); ok {
		allowed := map[string]bool{}
		for _, v := range re {
			allowed[canon(v)] = true
		}
		we, ok := w["enum"].([]any)
		if cv, isConst := w["const"]; isConst {
			we, ok = []any{cv}, true
		}
		if !ok {
			c.fail(path, "ENUM_ARRAY_NARROWED", "the reader adds an enum")
		} else {
			for _, v := range we {
				if !allowed[canon(v)] {
					c.fail(path, "ENUM_ARRAY_NARROWED", fmt.Sprintf("the reader does not accept %s", strings.TrimSpace(canon(v))))
				}
			}
		}
	}
	if rc, ok := r["const"]; ok {
		if wc, ok := w["const"]; !ok || canon(wc) != canon(rc) {
			c.fail(path, "CONST_CHANGED", "the reader adds or changes const")
		}
	}

	// Bounds: an upper bound may only grow, a lower bound only shrink.
	upper := func(k string) {
		rv, ok := num(r[k])
		if !ok {
			return
		}
		if wv, ok := num(w[k]); !ok || wv.Cmp(rv) > 0 {
			c.fail(path, strings.ToUpper(k)+"_NARROWED", fmt.Sprintf("%s %s", k, rv.RatString()))
		}
	}
	lower := func(k string) {
		rv, ok := num(r[k])
		if !ok {
			return
		}
		if wv, ok := num(w[k]); !ok && rv.Sign() > 0 || ok && wv.Cmp(rv) < 0 {
			c.fail(path, strings.ToUpper(k)+"_NARROWED", fmt.Sprintf("%s %s", k, rv.RatString()))
		}
	}
	if has("number", "integer") {
		upper("maximum")
		upper("exclusiveMaximum")
		lower("minimum")
		lower("exclusiveMinimum")
		if rm, ok := num(r["multipleOf"]); ok && rm.Sign() > 0 {
			wm, ok := num(w["multipleOf"])
			if !ok || !new(big.Rat).Quo(wm, rm).IsInt() {
				c.fail(path, "MULTIPLE_OF_CHANGED", "the writer's values are not all multiples of "+rm.RatString())
			}
		}
	}
	if has("string") {
		upper("maxLength")
		lower("minLength")
		if rp, ok := r["pattern"]; ok && canon(rp) != canon(w["pattern"]) {
			c.fail(path, "PATTERN_CHANGED", "the reader adds or changes pattern")
		}
		if rf, ok := r["format"]; ok && canon(rf) != canon(w["format"]) {
			c.fail(path, "FORMAT_CHANGED", "the reader adds or changes format")
		}
	}
	if has("array") {
		upper("maxItems")
		lower("minItems")
		if r["uniqueItems"] == true && w["uniqueItems"] != true {
			c.fail(path, "UNIQUE_ITEMS_ADDED", "the reader requires unique items")
		}
		c.checkItems(r, w, rn.base, wn.base, path)
	}
	if has("object") {
		upper("maxProperties")
		lower("minProperties")
		c.checkObject(r, w, rn.base, wn.base, path)
	}
}

func firstNonNil(vs ...any) any {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

func (c *jsonCompat) acceptedBySome(rs []any, rbase string, wn node, path string) bool {
	for _, rb := range rs {
		sub := &jsonCompat{r: c.r, w: c.w, seen: map[[2]uintptr]bool{}, depth: c.depth}
		sub.check(node{rb, rbase}, wn, path)
		if len(sub.msgs) == 0 {
			return true
		}
	}
	return false
}

// additional returns an object's additionalProperties (absent: true).
func additional(m map[string]any) any {
	if v, ok := m["additionalProperties"]; ok {
		return v
	}
	return true
}

func (c *jsonCompat) checkObject(r, w map[string]any, rbase, wbase, path string) {
	rp, _ := r["properties"].(map[string]any)
	wp, _ := w["properties"].(map[string]any)
	ra, wa := additional(r), additional(w)
	names := func(m map[string]any) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	for _, k := range names(wp) {
		at := path + "/properties/" + k
		if rv, ok := rp[k]; ok {
			c.check(node{rv, rbase}, node{wp[k], wbase}, at)
			continue
		}
		if b, ok := ra.(bool); ok && !b {
			c.fail(at, "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "the reader no longer accepts "+k)
		} else if !ok {
			c.check(node{ra, rbase}, node{wp[k], wbase}, at)
		}
	}
	for _, k := range names(rp) {
		if _, ok := wp[k]; ok {
			continue
		}
		at := path + "/properties/" + k
		switch wv := wa.(type) {
		case bool:
			if wv && !trivial(rp[k]) {
				c.fail(at, "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", "the writer may send "+k+" with any value")
			}
		default:
			c.check(node{rp[k], rbase}, node{wv, wbase}, at)
		}
	}
	switch rv := ra.(type) {
	case bool:
		if !rv {
			if wb, ok := wa.(bool); !ok || wb {
				c.fail(path, "ADDITIONAL_PROPERTIES_NARROWED", "the reader closes the content model")
			}
		}
	default:
		if wb, ok := wa.(bool); !ok {
			c.check(node{rv, rbase}, node{wa, wbase}, path+"/additionalProperties")
		} else if wb && !trivial(rv) {
			c.fail(path, "ADDITIONAL_PROPERTIES_NARROWED", "the reader restricts additional properties")
		}
	}
	if rpp, ok := r["patternProperties"].(map[string]any); ok {
		wpp, _ := w["patternProperties"].(map[string]any)
		for _, k := range names(rpp) {
			if wv, ok := wpp[k]; ok {
				c.check(node{rpp[k], rbase}, node{wv, wbase}, path+"/patternProperties/"+k)
			} else if wb, ok := wa.(bool); !ok || wb {
				c.fail(path, "PATTERN_PROPERTIES_CHANGED", "the reader adds pattern properties "+k)
			}
		}
	}
	wreq := map[string]bool{}
	if l, ok := w["required"].([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				wreq[s] = true
			}
		}
	}
	if l, ok := r["required"].([]any); ok {
		for _, x := range l {
			s, _ := x.(string)
			if wreq[s] {
				continue
			}
			if pm, ok := rp[s].(map[string]any); ok {
				if _, hasDefault := pm["default"]; hasDefault {
					continue
				}
			}
			c.fail(path, "REQUIRED_PROPERTY_ADDED", "the reader requires "+s)
		}
	}
}

func (c *jsonCompat) checkItems(r, w map[string]any, rbase, wbase, path string) {
	tuple := func(m map[string]any) ([]any, any) {
		if l, ok := m["prefixItems"].([]any); ok {
			return l, firstNonNil(m["items"], true)
		}
		if l, ok := m["items"].([]any); ok {
			return l, firstNonNil(m["additionalItems"], true)
		}
		return nil, firstNonNil(m["items"], true)
	}
	rt, rrest := tuple(r)
	wt, wrest := tuple(w)
	n := max(len(rt), len(wt))
	for i := range n {
		rv, wv := rrest, wrest
		if i < len(rt) {
			rv = rt[i]
		}
		if i < len(wt) {
			wv = wt[i]
		}
		c.check(node{rv, rbase}, node{wv, wbase}, fmt.Sprintf("%s/items/%d", path, i))
	}
	c.check(node{rrest, rbase}, node{wrest, wbase}, path+"/items")
}
