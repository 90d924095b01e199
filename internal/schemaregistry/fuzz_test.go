package schemaregistry

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzApply feeds arbitrary _schemas records (read from the topic, which
// anyone with produce rights can write) to the state: it must never panic
// and must stay servable.
func FuzzApply(f *testing.F) {
	sub := "s"
	f.Add(RecordKey{KeyType: KeySchema, Subject: &sub, Version: 1}.Encode(), []byte(`{"subject":"s","version":1,"id":1,"schema":"\"string\"","deleted":false}`))
	f.Add(RecordKey{KeyType: KeySchema, Subject: &sub, Version: 1}.Encode(), []byte(nil))
	f.Add(RecordKey{KeyType: KeyConfig}.Encode(), []byte(`{"compatibilityLevel":"FULL"}`))
	f.Add(RecordKey{KeyType: KeyMode, Subject: &sub}.Encode(), []byte(`{"mode":"READONLY"}`))
	f.Add(RecordKey{KeyType: KeyDeleteSubject, Subject: &sub}.Encode(), []byte(`{"subject":"s","version":3}`))
	f.Add(RecordKey{KeyType: KeyNoop}.Encode(), []byte(`{"maxId":9}`))
	f.Add([]byte(`{"keytype":"SCHEMA","subject":"s","version":-1,"magic":1}`), []byte(`{}`))
	f.Add([]byte(`not json`), []byte(`{`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		st := newState()
		seed := SchemaValue{Subject: "s", Version: 1, ID: 1, Schema: `"string"`}
		st.putVersion(seed)
		st.apply(key, value)
		st.apply(key, nil)
		st.apply(key, value)
		reg := &Registry{st: st, defaultLevel: LevelBackward, parsed: map[int]Parsed{}, changed: make(chan struct{})}
		for _, s := range reg.Subjects("", true, false) {
			reg.Versions(s, true, false, true)
			reg.Version(s, -1, true)
			reg.ReferencedBy(s, -1, true)
			reg.CheckCompatibility(s, 0, RegisterRequest{Schema: `"string"`})
		}
		for id := range st.schemas {
			reg.SchemaByID(id, true)
			reg.VersionsByID(id, true)
		}
	})
}

// FuzzAvroParse: the parser never panics on a schema text, and what it
// accepts has a stable canonical form and can read its own data.
func FuzzAvroParse(f *testing.F) {
	for _, s := range []string{userV1, userV2, `"string"`, `["null","int"]`, `{"type":"enum","name":"e","symbols":["A"]}`,
		`{"type":"record","name":"n","fields":[{"name":"next","type":["null","n"]}]}`, `{"type":"fixed","name":"f","size":-1}`,
		`{"type":"map","values":{"type":"array","items":"long"}}`, `{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		p, err := avroFormat{}.Parse(text, nil)
		if err != nil {
			return
		}
		again, err := avroFormat{}.Parse(p.Canonical(), nil)
		if err != nil {
			t.Fatalf("canonical form %s does not parse: %v", p.Canonical(), err)
		}
		if again.Canonical() != p.Canonical() {
			t.Fatalf("canonical form not stable: %s then %s", p.Canonical(), again.Canonical())
		}
		if msgs := p.CanRead(again); len(msgs) > 0 {
			t.Fatalf("schema cannot read itself: %v", msgs)
		}
	})
}

// FuzzProtobufParse: the compiler never panics on a schema text, and what
// it accepts can follow itself under every level.
func FuzzProtobufParse(f *testing.F) {
	for _, s := range []string{`syntax = "proto3"; package p; message M { string a = 1; repeated int32 b = 2; map<string, M> m = 3; }`,
		`syntax = "proto2"; message M { required int32 a = 1; oneof o { string x = 2; } }`,
		`syntax = "proto3"; import "google/protobuf/any.proto"; message M { google.protobuf.Any a = 1; enum E { Z = 0; } E e = 2; }`,
		`edition = "2023"; message M { int32 a = 1; }`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		p, err := protobufFormat{}.Parse(text, nil)
		if err != nil {
			return
		}
		again, err := protobufFormat{}.Parse(p.Canonical(), nil)
		if err != nil || again.Canonical() != p.Canonical() {
			t.Fatalf("canonical form does not parse to itself: %v\n%s", err, p.Canonical())
		}
		if msgs := p.CanRead(again); len(msgs) > 0 {
			t.Fatalf("schema cannot follow itself: %v", msgs)
		}
	})
}

// FuzzJSONSchemaParse: parsing never panics; what parses has a stable
// canonical form and accepts what it accepts itself (the compatibility
// walk terminates on any schema, recursive ones included).
func FuzzJSONSchemaParse(f *testing.F) {
	for _, s := range []string{`{"type":"object","properties":{"a":{"$ref":"#/definitions/A"}},"definitions":{"A":{"anyOf":[{"type":"string"},{"$ref":"#"}]}}}`,
		`{"$schema":"https://json-schema.org/draft/2020-12/schema","prefixItems":[true],"items":{"enum":[1,"x",null]}}`,
		`{"oneOf":[{"type":"integer","multipleOf":0.5},{"not":{"const":3}}],"required":["a"]}`, `true`, `false`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		p, err := jsonFormat{}.Parse(text, nil)
		if err != nil {
			return
		}
		again, err := jsonFormat{}.Parse(p.Canonical(), nil)
		if err != nil || again.Canonical() != p.Canonical() {
			t.Fatalf("canonical form %s: %v", p.Canonical(), err)
		}
		p.CanRead(again) // terminates; allOf and anchors may be judged conservatively
	})
}

// FuzzHTTP sends arbitrary requests to the API: every answer is a
// documented status, never a recovered panic (500).
func FuzzHTTP(f *testing.F) {
	for _, c := range [][3]string{
		{"POST", "/subjects/s/versions", `{"schema":"\"string\""}`},
		{"POST", "/subjects/s", `{"schema":"\"string\"","references":[{"name":"x","subject":"s","version":1}]}`},
		{"POST", "/compatibility/subjects/s/versions/latest?verbose=true", `{"schema":"\"int\""}`},
		{"DELETE", "/subjects/s/versions/1?permanent=true", ``},
		{"PUT", "/config/s", `{"compatibility":"FULL"}`},
		{"PUT", "/mode", `{"mode":"IMPORT"}`},
		{"POST", "/subjects/s/versions", `{"schema":"\"string\"","id":7,"version":3}`},
		{"GET", "/schemas/ids/1/versions?deleted=true", ``},
		{"GET", "/subjects/s/versions/1/referencedby", ``},
		{"DELETE", "/subjects/s", ``},
	} {
		f.Add(c[0], c[1], c[2])
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg, err := New(newMemLog().view(), Options{Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go reg.Run(ctx)
	h := NewHandler(reg, Standalone{}, quiet, 0)
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#") {
			return
		}
		switch method {
		case "GET", "POST", "PUT", "DELETE":
		default:
			return
		}
		if _, err := url.Parse("http://registry" + path); err != nil {
			return // not a request an HTTP server would route
		}
		req := httptest.NewRequest(method, "http://registry"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ContentType)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, w.Code, w.Body)
		}
	})
}
