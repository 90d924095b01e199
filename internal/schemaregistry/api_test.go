package schemaregistry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

const (
	userV1 = `{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"name","type":"string"}]}`
	// userV2 adds a field with a default: backward compatible.
	userV2 = `{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}`
	// userBad adds a field without a default: not backward compatible.
	userBad = `{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"name","type":"string"},{"name":"email","type":"string"}]}`
)

func srClient(t testing.TB, url string) *sr.Client {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// wantCode asserts err is a registry response with the error_code.
func wantCode(t testing.TB, err error, code int) {
	t.Helper()
	var re *sr.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want error_code %d, got %v", code, err)
	}
	if re.ErrorCode != code {
		t.Fatalf("want error_code %d, got %d (%s)", code, re.ErrorCode, re.Message)
	}
}

// call does a raw request and returns status and decoded error_code (0
// when the body has none).
func call(t testing.TB, method, url, body string) (int, int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", ContentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		ErrorCode int `json:"error_code"`
	}
	json.Unmarshal(b, &e)
	return resp.StatusCode, e.ErrorCode, string(b)
}

func TestRegisterLookupFetch(t *testing.T) {
	_, srv := startRegistry(t, newMemLog().view())
	cl := srClient(t, srv.URL)
	ctx := context.Background()

	s1, err := cl.CreateSchema(ctx, "users-value", sr.Schema{Schema: userV1})
	if err != nil {
		t.Fatal(err)
	}
	if s1.ID != 1 || s1.Version != 1 {
		t.Fatalf("first schema: id %d version %d", s1.ID, s1.Version)
	}
	// Idempotent in the same subject, whatever the formatting.
	again, err := cl.CreateSchema(ctx, "users-value", sr.Schema{Schema: strings.ReplaceAll(userV1, ",", " , ")})
	if err != nil || again.ID != 1 || again.Version != 1 {
		t.Fatalf("re-register: %+v %v", again, err)
	}
	// Same schema in another subject: same id, version 1 there.
	other, err := cl.CreateSchema(ctx, "people-value", sr.Schema{Schema: userV1})
	if err != nil || other.ID != 1 || other.Version != 1 {
		t.Fatalf("other subject: %+v %v", other, err)
	}
	s2, err := cl.CreateSchema(ctx, "users-value", sr.Schema{Schema: userV2})
	if err != nil || s2.ID != 2 || s2.Version != 2 {
		t.Fatalf("v2: %+v %v", s2, err)
	}
	got, err := cl.LookupSchema(ctx, "users-value", sr.Schema{Schema: userV2})
	if err != nil || got.ID != 2 || got.Version != 2 {
		t.Fatalf("lookup: %+v %v", got, err)
	}
	byID, err := cl.SchemaByID(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (avroFormat{}).Parse(byID.Schema, nil); err != nil {
		t.Fatalf("schema by id does not parse: %v", err)
	}
	latest, err := cl.SchemaByVersion(ctx, "users-value", -1)
	if err != nil || latest.Version != 2 || latest.ID != 2 {
		t.Fatalf("latest: %+v %v", latest, err)
	}
	subs, err := cl.Subjects(ctx)
	if err != nil || fmt.Sprint(subs) != "[people-value users-value]" {
		t.Fatalf("subjects: %v %v", subs, err)
	}
	types, err := cl.SupportedTypes(ctx)
	if err != nil || len(types) != 3 {
		t.Fatalf("types: %v %v", types, err)
	}
	if st, _, body := call(t, "GET", srv.URL+"/schemas/types", ""); st != 200 || body != `["JSON","PROTOBUF","AVRO"]` {
		t.Fatalf("types: %d %s", st, body)
	}
	if st, _, body := call(t, "GET", srv.URL+"/schemas/ids/1/versions", ""); st != 200 || body != `[{"subject":"people-value","version":1},{"subject":"users-value","version":1}]` {
		t.Fatalf("versions by id: %d %s", st, body)
	}
	var all []SubjectSchema
	st, _, body := call(t, "GET", srv.URL+"/schemas?latestOnly=true", "")
	if json.Unmarshal([]byte(body), &all); st != 200 || len(all) != 2 || all[0].Subject != "people-value" || all[1].Version != 2 {
		t.Fatalf("GET /schemas: %d %s", st, body)
	}
	if st, _, body := call(t, "GET", srv.URL+"/subjects/users-value/versions", ""); st != 200 || body != `[1,2]` {
		t.Fatalf("versions: %d %s", st, body)
	}
	if st, _, body := call(t, "GET", srv.URL+"/subjects/users-value/versions/1/schema", ""); st != 200 || body != byIDText(t, cl, 1) {
		t.Fatalf("raw schema: %d %s", st, body)
	}
}

func byIDText(t testing.TB, cl *sr.Client, id int) string {
	s, err := cl.SchemaByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s.Schema
}

func TestBadInput(t *testing.T) {
	_, srv := startRegistry(t, newMemLog().view())
	cl := srClient(t, srv.URL)
	ctx := context.Background()
	if _, err := cl.CreateSchema(ctx, "s", sr.Schema{Schema: userV1}); err != nil {
		t.Fatal(err)
	}
	_, err := cl.CreateSchema(ctx, "s", sr.Schema{Schema: `{"type":"record","name":"x","fields":[{"name":"a","type":"nope"}]}`})
	wantCode(t, err, 42201)
	_, err = cl.CreateSchema(ctx, "s", sr.Schema{Schema: `{not json`})
	wantCode(t, err, 42201)
	_, err = cl.CreateSchema(ctx, "s", sr.Schema{Schema: ""})
	wantCode(t, err, 42201)
	_, err = cl.CreateSchema(ctx, "s", sr.Schema{Schema: `{}`, Type: sr.TypeProtobuf})
	wantCode(t, err, 42201)
	_, err = cl.CreateSchema(ctx, "s", sr.Schema{Schema: userBad})
	wantCode(t, err, 409)
	_, err = cl.SchemaByVersion(ctx, "missing", 1)
	wantCode(t, err, 40401)
	_, err = cl.SchemaByVersion(ctx, "s", 7)
	wantCode(t, err, 40402)
	_, err = cl.SchemaByID(ctx, 99)
	wantCode(t, err, 40403)
	_, err = cl.LookupSchema(ctx, "s", sr.Schema{Schema: userV2})
	wantCode(t, err, 40403)
	for _, v := range []string{"abc", "0", "-2", "99999999999"} {
		if st, code, _ := call(t, "GET", srv.URL+"/subjects/s/versions/"+v, ""); st != 422 || code != 42202 {
			t.Fatalf("version %s: %d %d", v, st, code)
		}
	}
	if st, code, _ := call(t, "PUT", srv.URL+"/config", `{"compatibility":"SIDEWAYS"}`); st != 422 || code != 42203 {
		t.Fatalf("bad level: %d %d", st, code)
	}
	if st, code, _ := call(t, "PUT", srv.URL+"/mode", `{"mode":"SIDEWAYS"}`); st != 422 || code != 42204 {
		t.Fatalf("bad mode: %d %d", st, code)
	}
	if st, code, _ := call(t, "POST", srv.URL+"/subjects/s/versions", `{"schema":`); st != 400 || code != 400 {
		t.Fatalf("malformed body: %d %d", st, code)
	}
	if st, code, _ := call(t, "POST", srv.URL+"/subjects/%FF%01/versions", `{"schema":"\"string\""}`); st != 422 || code != 42208 {
		t.Fatalf("invalid subject: %d %d", st, code)
	}
	if st, code, _ := call(t, "PUT", srv.URL+"/schemas/types", ""); st != 405 || code != 405 {
		t.Fatalf("wrong method: %d %d", st, code)
	}
	if st, code, _ := call(t, "GET", srv.URL+"/nowhere", ""); st != 404 || code != 404 {
		t.Fatalf("unknown path: %d %d", st, code)
	}
	if st, _, body := call(t, "GET", srv.URL+"/config/s", ""); st != 404 || !strings.Contains(body, "40408") {
		t.Fatalf("subject config unset: %d %s", st, body)
	}
	if st, _, body := call(t, "GET", srv.URL+"/config/s?defaultToGlobal=true", ""); st != 200 || body != `{"compatibilityLevel":"BACKWARD"}` {
		t.Fatalf("subject config default: %d %s", st, body)
	}
	// Verbose compatibility check says why.
	st, _, body := call(t, "POST", srv.URL+"/compatibility/subjects/s/versions/latest?verbose=true", mustJSON(RegisterRequest{Schema: userBad}))
	if st != 200 || !strings.Contains(body, `"is_compatible":false`) || !strings.Contains(body, "email") {
		t.Fatalf("verbose check: %d %s", st, body)
	}
	// READONLY blocks writes with 42205, reads still work.
	if st, _, body := call(t, "PUT", srv.URL+"/mode", `{"mode":"READONLY"}`); st != 200 || body != `{"mode":"READONLY"}` {
		t.Fatalf("set mode: %d %s", st, body)
	}
	_, err = cl.CreateSchema(ctx, "s", sr.Schema{Schema: userV2})
	wantCode(t, err, 42205)
	_, err = cl.DeleteSubject(ctx, "s", sr.SoftDelete)
	wantCode(t, err, 42205)
	if _, err := cl.SchemaByVersion(ctx, "s", 1); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestDeletesAndIDsSurviveCompaction(t *testing.T) {
	log := newMemLog()
	_, srv := startRegistry(t, log.view())
	cl := srClient(t, srv.URL)
	ctx := context.Background()
	if r := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	var ids []int
	for i := range 3 {
		s, err := cl.CreateSchema(ctx, "a", sr.Schema{Schema: fmt.Sprintf(`{"type":"fixed","name":"f","size":%d}`, i+1)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	// Permanent delete needs a soft delete first.
	if st, code, _ := call(t, "DELETE", srv.URL+"/subjects/a/versions/3?permanent=true", ""); st != 404 || code != 40407 {
		t.Fatalf("permanent before soft: %d %d", st, code)
	}
	if st, _, body := call(t, "DELETE", srv.URL+"/subjects/a/versions/3", ""); st != 200 || body != "3" {
		t.Fatalf("soft delete version: %d %s", st, body)
	}
	if st, code, _ := call(t, "DELETE", srv.URL+"/subjects/a/versions/3", ""); st != 404 || code != 40406 {
		t.Fatalf("soft delete twice: %d %d", st, code)
	}
	// Soft-deleted: gone from the listing and lookups, still served by id
	// and with deleted=true.
	if st, _, body := call(t, "GET", srv.URL+"/subjects/a/versions", ""); body != "[1,2]" {
		t.Fatalf("after soft delete: %d %s", st, body)
	}
	if st, _, body := call(t, "GET", srv.URL+"/subjects/a/versions?deleted=true", ""); body != "[1,2,3]" {
		t.Fatalf("deleted=true: %d %s", st, body)
	}
	if st, _, body := call(t, "GET", srv.URL+"/subjects/a/versions?deleted=true&deletedAsNegative=true", ""); body != "[1,2,-3]" {
		t.Fatalf("deletedAsNegative: %d %s", st, body)
	}
	if st, _, body := call(t, "GET", srv.URL+"/subjects/a/versions?deleted=true&offset=1&limit=1", ""); body != "[2]" {
		t.Fatalf("offset and limit: %d %s", st, body)
	}
	if _, err := cl.SchemaByID(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := call(t, "DELETE", srv.URL+"/subjects/a/versions/3?permanent=true", ""); st != 200 {
		t.Fatalf("permanent delete: %d", st)
	}
	_, err := cl.SchemaByID(ctx, ids[2])
	wantCode(t, err, 40403)
	// Whole subject: soft, then permanent.
	if st, code, _ := call(t, "DELETE", srv.URL+"/subjects/a?permanent=true", ""); st != 404 || code != 40405 {
		t.Fatalf("permanent subject before soft: %d %d", st, code)
	}
	if vs, err := cl.DeleteSubject(ctx, "a", sr.SoftDelete); err != nil || fmt.Sprint(vs) != "[1 2]" {
		t.Fatalf("soft delete subject: %v %v", vs, err)
	}
	_, err = cl.SchemaByVersion(ctx, "a", 1)
	wantCode(t, err, 40401)
	if st, _, body := call(t, "GET", srv.URL+"/subjects?deletedOnly=true", ""); body != `["a"]` {
		t.Fatalf("deletedOnly: %d %s", st, body)
	}
	if st, code, _ := call(t, "DELETE", srv.URL+"/subjects/a", ""); st != 404 || code != 40404 {
		t.Fatalf("soft delete subject twice: %d %d", st, code)
	}
	if vs, err := cl.DeleteSubject(ctx, "a", sr.HardDelete); err != nil || fmt.Sprint(vs) != "[1 2]" {
		t.Fatalf("hard delete subject: %v %v", vs, err)
	}
	// After compaction a fresh instance never reuses the deleted ids.
	log.compact()
	_, srv2 := startRegistry(t, log.view())
	cl2 := srClient(t, srv2.URL)
	s, err := cl2.CreateSchema(ctx, "b", sr.Schema{Schema: `{"type":"fixed","name":"g","size":9}`})
	if err != nil {
		t.Fatal(err)
	}
	if s.ID <= ids[2] {
		t.Fatalf("id %d reused after permanent delete (old ids %v)", s.ID, ids)
	}
	if st, _, body := call(t, "GET", srv2.URL+"/config", ""); body != `{"compatibilityLevel":"NONE"}` {
		t.Fatalf("config after compaction: %d %s", st, body)
	}
}

func TestReferences(t *testing.T) {
	_, srv := startRegistry(t, newMemLog().view())
	cl := srClient(t, srv.URL)
	ctx := context.Background()
	addr := `{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"street","type":"string"}]}`
	if _, err := cl.CreateSchema(ctx, "address", sr.Schema{Schema: addr}); err != nil {
		t.Fatal(err)
	}
	person := `{"type":"record","name":"Person","namespace":"com.acme","fields":[{"name":"home","type":"com.acme.Address"}]}`
	// Without the reference the named type is unknown.
	_, err := cl.CreateSchema(ctx, "person", sr.Schema{Schema: person})
	wantCode(t, err, 42201)
	ref := []sr.SchemaReference{{Name: "com.acme.Address", Subject: "address", Version: 1}}
	p, err := cl.CreateSchema(ctx, "person", sr.Schema{Schema: person, References: ref})
	if err != nil {
		t.Fatal(err)
	}
	if st, _, body := call(t, "GET", srv.URL+"/subjects/address/versions/1/referencedby", ""); st != 200 || body != fmt.Sprintf("[%d]", p.ID) {
		t.Fatalf("referencedby: %d %s", st, body)
	}
	got, err := cl.SchemaByID(ctx, p.ID)
	if err != nil || len(got.References) != 1 || got.References[0].Subject != "address" {
		t.Fatalf("by id: %+v %v", got, err)
	}
	// A referenced version cannot be deleted.
	if st, code, _ := call(t, "DELETE", srv.URL+"/subjects/address/versions/1", ""); st != 422 || code != 42206 {
		t.Fatalf("delete referenced: %d %d", st, code)
	}
	_, err = cl.DeleteSubject(ctx, "address", sr.SoftDelete)
	wantCode(t, err, 42206)
}

// TestConcurrentWriters runs two registries as writers on one log at once
// (what a stale writer during an election amounts to): every id names one
// schema, and both instances and a fresh one after compaction agree.
func TestConcurrentWriters(t *testing.T) {
	log := newMemLog()
	regA, srvA := startRegistry(t, log.view())
	regB, srvB := startRegistry(t, log.view())
	ctx := context.Background()
	var wg sync.WaitGroup
	results := make([][]sr.SubjectSchema, 2)
	for w, url := range []string{srvA.URL, srvB.URL} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := srClient(t, url)
			for i := range 20 {
				s, err := cl.CreateSchema(ctx, fmt.Sprintf("w%d-%d", w, i), sr.Schema{Schema: fmt.Sprintf(`{"type":"fixed","name":"f%d_%d","size":1}`, w, i)})
				if err != nil {
					t.Error(err)
					return
				}
				results[w] = append(results[w], s)
			}
		}()
	}
	wg.Wait()
	seen := map[int]string{}
	for _, rs := range results {
		for _, s := range rs {
			if prev, ok := seen[s.ID]; ok {
				t.Fatalf("id %d handed out twice: %s and %s", s.ID, prev, s.Subject)
			}
			seen[s.ID] = s.Subject
		}
	}
	log.compact()
	regC, _ := startRegistry(t, log.view())
	for _, reg := range []*Registry{regA, regB, regC} {
		if err := reg.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		for id, subject := range seen {
			subs, err := reg.SubjectsByID(id, false)
			if err != nil || len(subs) != 1 || subs[0] != subject {
				t.Fatalf("id %d: %v %v, want %s", id, subs, err, subject)
			}
		}
	}
}

// racingLog lets another writer's record land just before this instance's
// first append: the race an election hand-over can cause.
type racingLog struct {
	*reader
	once   sync.Once
	inject func()
}

func (l *racingLog) Append(ctx context.Context, key, value []byte) (int64, error) {
	l.once.Do(l.inject)
	return l.reader.Append(ctx, key, value)
}

func TestLostRaceRetriesWithFreshID(t *testing.T) {
	log := newMemLog()
	rival := SchemaValue{Subject: "rival", Version: 1, ID: 1, Schema: `"string"`}
	rl := &racingLog{reader: log.view(), inject: func() {
		sub := "rival"
		v, _ := json.Marshal(rival)
		log.Append(context.Background(), RecordKey{KeyType: KeySchema, Subject: &sub, Version: 1}.Encode(), v)
	}}
	reg, srv := startRegistry(t, rl)
	cl := srClient(t, srv.URL)
	s, err := cl.CreateSchema(context.Background(), "mine", sr.Schema{Schema: userV1})
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != 2 {
		t.Fatalf("after losing id 1 to a rival, got id %d", s.ID)
	}
	if subs, _ := reg.SubjectsByID(1, false); fmt.Sprint(subs) != "[rival]" {
		t.Fatalf("id 1 belongs to %v", subs)
	}
	// The ignored record was superseded at its key: after compaction a
	// fresh instance sees the same state.
	log.compact()
	reg2, _ := startRegistry(t, log.view())
	for id, want := range map[int]string{1: "[rival]", 2: "[mine]"} {
		if subs, _ := reg2.SubjectsByID(id, false); fmt.Sprint(subs) != want {
			t.Fatalf("fresh instance: id %d belongs to %v, want %s", id, subs, want)
		}
	}
}

func TestProtobufReferences(t *testing.T) {
	_, srv := startRegistry(t, newMemLog().view())
	cl := srClient(t, srv.URL)
	ctx := context.Background()
	money := "syntax = \"proto3\";\npackage shop;\nmessage Money { string currency = 1; int64 units = 2; }\n"
	if _, err := cl.CreateSchema(ctx, "money", sr.Schema{Schema: money, Type: sr.TypeProtobuf}); err != nil {
		t.Fatal(err)
	}
	order := "syntax = \"proto3\";\npackage shop;\nimport \"shop/money.proto\";\nimport \"google/protobuf/timestamp.proto\";\n" +
		"message Order { string id = 1; Money total = 2; google.protobuf.Timestamp at = 3; }\n"
	_, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: order, Type: sr.TypeProtobuf})
	wantCode(t, err, 42201) // the import is not resolvable without the reference
	refs := []sr.SchemaReference{{Name: "shop/money.proto", Subject: "money", Version: 1}}
	s, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: order, Type: sr.TypeProtobuf, References: refs})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cl.SchemaByID(ctx, s.ID)
	if err != nil || got.Type != sr.TypeProtobuf || len(got.References) != 1 {
		t.Fatalf("by id: %+v %v", got, err)
	}
	// Formatting and comments do not make another schema.
	reformatted := "// orders\n" + strings.ReplaceAll(strings.ReplaceAll(order, "; ", ";\n   "), "{", "{ // body\n")
	if same, err := cl.LookupSchema(ctx, "orders-value", sr.Schema{Schema: reformatted, Type: sr.TypeProtobuf, References: refs}); err != nil || same.ID != s.ID {
		t.Fatalf("reformatted lookup: %+v %v", same, err)
	}
	// Changing a field's type is refused under the default BACKWARD.
	bad := strings.Replace(order, "string id = 1", "int64 id = 1", 1)
	_, err = cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: bad, Type: sr.TypeProtobuf, References: refs})
	wantCode(t, err, 409)
	// Adding a field is accepted.
	good := strings.Replace(order, "at = 3;", "at = 3; string note = 4;", 1)
	if s2, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: good, Type: sr.TypeProtobuf, References: refs}); err != nil || s2.Version != 2 {
		t.Fatalf("compatible update: %+v %v", s2, err)
	}
	if st, code, _ := call(t, "DELETE", srv.URL+"/subjects/money/versions/1", ""); st != 422 || code != 42206 {
		t.Fatalf("delete referenced: %d %d", st, code)
	}
}

func TestJSONSchemaReferences(t *testing.T) {
	_, srv := startRegistry(t, newMemLog().view())
	cl := srClient(t, srv.URL)
	ctx := context.Background()
	addr := `{"type":"object","properties":{"street":{"type":"string"}},"additionalProperties":false}`
	if _, err := cl.CreateSchema(ctx, "address", sr.Schema{Schema: addr, Type: sr.TypeJSON}); err != nil {
		t.Fatal(err)
	}
	person := `{"type":"object","properties":{"name":{"type":"string"},"home":{"$ref":"address.json"}},"additionalProperties":false}`
	_, err := cl.CreateSchema(ctx, "person", sr.Schema{Schema: person, Type: sr.TypeJSON})
	wantCode(t, err, 42201) // unresolvable without the reference
	refs := []sr.SchemaReference{{Name: "address.json", Subject: "address", Version: 1}}
	p, err := cl.CreateSchema(ctx, "person", sr.Schema{Schema: person, Type: sr.TypeJSON, References: refs})
	if err != nil {
		t.Fatal(err)
	}
	// Equal after normalisation: same id.
	again, err := cl.LookupSchema(ctx, "person", sr.Schema{Schema: "{ \"additionalProperties\": false, " + person[1:], Type: sr.TypeJSON, References: refs})
	if err != nil || again.ID != p.ID {
		t.Fatalf("lookup of the reformatted schema: %+v %v", again, err)
	}
	// Narrowing a property is refused under BACKWARD.
	narrowed := strings.Replace(person, `"name":{"type":"string"}`, `"name":{"type":"string","maxLength":3}`, 1)
	_, err = cl.CreateSchema(ctx, "person", sr.Schema{Schema: narrowed, Type: sr.TypeJSON, References: refs})
	wantCode(t, err, 409)
	// Nothing is loaded from files or the network.
	for _, ref := range []string{"file:///etc/passwd", "http://127.0.0.1:1/x.json"} {
		_, err = cl.CreateSchema(ctx, "evil", sr.Schema{Schema: `{"$ref":"` + ref + `"}`, Type: sr.TypeJSON})
		wantCode(t, err, 42201)
	}
}

func TestImportMode(t *testing.T) {
	_, srv := startRegistry(t, newMemLog().view())
	cl := srClient(t, srv.URL)
	ctx := context.Background()
	if st, _, body := call(t, "PUT", srv.URL+"/mode", `{"mode":"IMPORT"}`); st != 200 || body != `{"mode":"IMPORT"}` {
		t.Fatalf("import mode: %d %s", st, body)
	}
	// Caller-chosen ids and versions, no compatibility check.
	if _, err := cl.CreateSchemaWithIDAndVersion(ctx, "imp", sr.Schema{Schema: userV1}, 100, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateSchemaWithIDAndVersion(ctx, "imp", sr.Schema{Schema: userBad}, 90, 6); err != nil {
		t.Fatal(err)
	}
	got, err := cl.SchemaByVersion(ctx, "imp", 5)
	if err != nil || got.ID != 100 {
		t.Fatalf("imported version: %+v %v", got, err)
	}
	// The same schema under another id is refused.
	_, err = cl.CreateSchemaWithIDAndVersion(ctx, "other", sr.Schema{Schema: userV1}, 101, 1)
	wantCode(t, err, 42207)
	// Back to READWRITE: new ids continue after the highest imported.
	if st, _, _ := call(t, "PUT", srv.URL+"/mode", `{"mode":"READWRITE"}`); st != 200 {
		t.Fatal(st)
	}
	s, err := cl.CreateSchema(ctx, "fresh", sr.Schema{Schema: `"string"`})
	if err != nil || s.ID != 101 {
		t.Fatalf("after import: %+v %v", s, err)
	}
	// IMPORT over existing schemas needs force.
	if st, code, _ := call(t, "PUT", srv.URL+"/mode", `{"mode":"IMPORT"}`); st != 422 || code != 42205 {
		t.Fatalf("import over schemas: %d %d", st, code)
	}
	if st, _, _ := call(t, "PUT", srv.URL+"/mode?force=true", `{"mode":"IMPORT"}`); st != 200 {
		t.Fatalf("forced import: %d", st)
	}
}

func TestAvroIdentityIgnoresSpelling(t *testing.T) {
	_, srv := startRegistry(t, newMemLog().view())
	cl := srClient(t, srv.URL)
	ctx := context.Background()
	a, err := cl.CreateSchema(ctx, "x", sr.Schema{Schema: `{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":{"type":"array","items":"int"}}]}`})
	if err != nil {
		t.Fatal(err)
	}
	// Other key order, whitespace and {"type":"string"} for "string".
	b, err := cl.LookupSchema(ctx, "x", sr.Schema{Schema: `{ "fields": [ {"type": {"type":"string"}, "name":"a"}, {"name":"b","type":{"items":{"type":"int"},"type":"array"}} ], "name": "R", "type": "record" }`})
	if err != nil || b.ID != a.ID {
		t.Fatalf("same schema spelled differently: %+v %v", b, err)
	}
}

// fixedLeader names a writer URL that is not this instance (or none).
type fixedLeader struct{ url string }

func (l fixedLeader) Writer() (string, bool) { return l.url, false }

func TestWritesForwardToTheWriter(t *testing.T) {
	log := newMemLog()
	regA, srvA := startRegistry(t, log.view())
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	regB, err := New(log.view(), Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go regB.Run(ctx)
	hB := NewHandler(regB, fixedLeader{srvA.URL}, quiet, 0)
	srvB := httptest.NewServer(hB)
	defer srvB.Close()

	// A write to B is served by A and readable on B right away.
	st, _, body := call(t, "POST", srvB.URL+"/subjects/fwd/versions", `{"schema":"\"string\""}`)
	if st != 200 || body != `{"id":1}` {
		t.Fatalf("forwarded register: %d %s", st, body)
	}
	if st, _, body := call(t, "GET", srvB.URL+"/subjects/fwd/versions/1", ""); st != 200 || !strings.Contains(body, `"id":1`) {
		t.Fatalf("read on B after a forwarded write: %d %s", st, body)
	}
	if s, err := regA.Version("fwd", 1, false); err != nil || s.ID != 1 {
		t.Fatalf("on A: %+v %v", s, err)
	}
	// Errors come back as the writer answered them.
	if st, code, _ := call(t, "POST", srvB.URL+"/subjects/fwd/versions", `{"schema":"{"}`); st != 422 || code != 42201 {
		t.Fatalf("forwarded bad schema: %d %d", st, code)
	}
	// No writer known: 50004 after the wait.
	hC := NewHandler(regB, fixedLeader{""}, quiet, 0)
	hC.writerWait = 50 * time.Millisecond
	srvC := httptest.NewServer(hC)
	defer srvC.Close()
	if st, code, _ := call(t, "PUT", srvC.URL+"/config", `{"compatibility":"NONE"}`); st != 500 || code != 50004 {
		t.Fatalf("no writer: %d %d", st, code)
	}
	// A writer that cannot be reached: 50003.
	hD := NewHandler(regB, fixedLeader{"http://127.0.0.1:1"}, quiet, 0)
	srvD := httptest.NewServer(hD)
	defer srvD.Close()
	if st, code, _ := call(t, "DELETE", srvD.URL+"/subjects/fwd", ""); st != 500 || code != 50003 {
		t.Fatalf("unreachable writer: %d %d", st, code)
	}
}
