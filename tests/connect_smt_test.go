package tests

// Single message transforms on a real worker: a FileStreamSource whose
// lines are hoisted into a JSON object, stamped with a static field and
// routed to another topic by RegexRouter; a FileStreamSink that filters
// records by a predicate; and the plugin listing and validation of
// transformation configs.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConnectTransforms(t *testing.T) {
	t.Parallel() // see connectNode
	n := connectNode(t)
	w := startConnectWorker(t, n.Addr())
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	writeLines(t, in, "keep", 0, 30)
	writeLines(t, in, "drop", 30, 40)

	// Transformations and predicates are listed as plugins.
	var plugins []struct{ Class, Type string }
	mustCall(t, "GET", w.URL+"/connector-plugins?connectorsOnly=false", "", 200, &plugins)
	found := map[string]string{}
	for _, p := range plugins {
		found[p.Class] = p.Type
	}
	for class, typ := range map[string]string{
		"org.apache.kafka.connect.transforms.InsertField$Value":            "transformation",
		"org.apache.kafka.connect.transforms.RegexRouter":                  "transformation",
		"org.apache.kafka.connect.transforms.predicates.TopicNameMatches":  "predicate",
		"org.apache.kafka.connect.transforms.predicates.HasHeaderKey":      "predicate",
		"org.apache.kafka.connect.transforms.Cast$Key":                     "transformation",
		"org.apache.kafka.connect.transforms.TimestampRouter":              "transformation",
		"org.apache.kafka.connect.storage.StringConverter":                 "converter",
		"org.apache.kafka.connect.transforms.predicates.RecordIsTombstone": "predicate",
		"org.apache.kafka.connect.transforms.ValueToKey":                   "transformation",
		"org.apache.kafka.connect.transforms.Filter":                       "transformation",
		"org.apache.kafka.connect.transforms.HoistField$Value":             "transformation",
		"org.apache.kafka.connect.transforms.ReplaceField$Value":           "transformation",
		"org.apache.kafka.connect.transforms.MaskField$Value":              "transformation",
		"org.apache.kafka.connect.transforms.ExtractField$Key":             "transformation",
		"org.apache.kafka.connect.file.FileStreamSourceConnector":          "source",
	} {
		if found[class] != typ {
			t.Errorf("plugin %s: type %q, want %q", class, found[class], typ)
		}
	}
	var defs []struct{ Name string }
	mustCall(t, "GET", w.URL+"/connector-plugins/org.apache.kafka.connect.transforms.RegexRouter/config", "", 200, &defs)
	if len(defs) != 2 || defs[0].Name != "regex" || defs[1].Name != "replacement" {
		t.Errorf("RegexRouter config definitions: %+v", defs)
	}

	// Validation of a bad transformation config: errors in the body, 400 on create.
	bad := `{"connector.class":"FileStreamSource","name":"x","topic":"t","transforms":"r","transforms.r.type":"RegexRouter","transforms.r.regex":"raw"}`
	var infos struct {
		ErrorCount int `json:"error_count"`
		Configs    []struct {
			Value struct {
				Name   string   `json:"name"`
				Errors []string `json:"errors"`
			} `json:"value"`
		} `json:"configs"`
	}
	mustCall(t, "PUT", w.URL+"/connector-plugins/FileStreamSource/config/validate", bad, 200, &infos)
	if infos.ErrorCount != 1 {
		t.Errorf("validate: error_count %d, want 1 (transforms.r.replacement missing): %+v", infos.ErrorCount, infos)
	}
	code, body := httpCall(t, "POST", w.URL+"/connectors", `{"name":"x","config":`+bad+`}`)
	if code != 400 || !strings.Contains(string(body), "transforms.r.replacement") {
		t.Errorf("create with a bad transformation: %d %s", code, body)
	}

	// Source: each line → {"line": …, "origin": "dc1"} on topic "lines-clean".
	src := fmt.Sprintf(`{"name":"src","config":{"connector.class":"FileStreamSource","file":%q,"topic":"lines-raw",
		"value.converter":"org.apache.kafka.connect.json.JsonConverter","value.converter.schemas.enable":"false",
		"transforms":"hoist,stamp,route",
		"transforms.hoist.type":"org.apache.kafka.connect.transforms.HoistField$Value","transforms.hoist.field":"line",
		"transforms.stamp.type":"org.apache.kafka.connect.transforms.InsertField$Value","transforms.stamp.static.field":"origin","transforms.stamp.static.value":"dc1",
		"transforms.route.type":"org.apache.kafka.connect.transforms.RegexRouter","transforms.route.regex":"(.*)-raw","transforms.route.replacement":"$1-clean"}}`, in)
	mustCall(t, "POST", w.URL+"/connectors", src, 201, nil)
	vals := topicValues(t, n.Addr(), "lines-clean", 40)
	if len(vals) != 40 {
		t.Fatalf("lines-clean: %d records, want 40", len(vals))
	}
	var first map[string]string
	if err := json.Unmarshal([]byte(vals[0]), &first); err != nil || first["line"] != "keep-0 some text to make the line longer" || first["origin"] != "dc1" {
		t.Errorf("first record %s (%v)", vals[0], err)
	}

	// Sink: ExtractField turns each record back into its line; a header
	// inserted under a negated predicate and a Filter whose predicate
	// (a header nobody sets) never matches leave every record in place, so
	// the sink file is the source file.
	sink := fmt.Sprintf(`{"name":"snk","config":{"connector.class":"FileStreamSink","file":%q,"topics":"lines-clean",
		"value.converter":"org.apache.kafka.connect.json.JsonConverter","value.converter.schemas.enable":"false",
		"transforms":"extract,mark,dropmarked",
		"transforms.extract.type":"ExtractField$Value","transforms.extract.field":"line",
		"transforms.mark.type":"org.apache.kafka.connect.transforms.InsertHeader","transforms.mark.header":"seen","transforms.mark.value.literal":"1",
		"transforms.mark.predicate":"isOther","transforms.mark.negate":"true",
		"transforms.dropmarked.type":"Filter","transforms.dropmarked.predicate":"hasSeen",
		"predicates":"isOther,hasSeen",
		"predicates.isOther.type":"org.apache.kafka.connect.transforms.predicates.TopicNameMatches","predicates.isOther.pattern":"other.*",
		"predicates.hasSeen.type":"org.apache.kafka.connect.transforms.predicates.HasHeaderKey","predicates.hasSeen.name":"nothing-sets-this"}}`, out)
	mustCall(t, "POST", w.URL+"/connectors", sink, 201, nil)
	waitFor(t, 60*time.Second, "the sink wrote 40 lines", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Count(string(b), "\n") >= 40
	})
	if !sameFile(in, out) {
		t.Errorf("the sink file is not the source file after hoist/extract: %s", describeFiles(in, out))
	}

	// A Filter with a matching predicate drops records at the sink.
	out2 := filepath.Join(dir, "out2.txt")
	sink2 := fmt.Sprintf(`{"name":"snk2","config":{"connector.class":"FileStreamSink","file":%q,"topics":"lines-clean",
		"value.converter":"org.apache.kafka.connect.json.JsonConverter","value.converter.schemas.enable":"false",
		"transforms":"extract,all","transforms.extract.type":"ExtractField$Value","transforms.extract.field":"line",
		"transforms.all.type":"Filter","transforms.all.predicate":"clean","predicates":"clean",
		"predicates.clean.type":"TopicNameMatches","predicates.clean.pattern":".*-clean"}}`, out2)
	mustCall(t, "POST", w.URL+"/connectors", sink2, 201, nil)
	waitRunning(t, w.URL, "snk2", 1)
	var offs struct {
		Offsets []struct {
			Offset map[string]int64 `json:"offset"`
		} `json:"offsets"`
	}
	waitFor(t, 60*time.Second, "snk2 committed past the 40 filtered records", func() bool {
		code, b := httpCall(t, "GET", w.URL+"/connectors/snk2/offsets", "")
		return code == 200 && json.Unmarshal(b, &offs) == nil && len(offs.Offsets) == 1 && offs.Offsets[0].Offset["kafka_offset"] == 40
	})
	if b, _ := os.ReadFile(out2); len(b) != 0 {
		t.Errorf("the filtering sink wrote %d bytes", len(b))
	}
}

// TestConnectGroupProtocol checks what the workers put in the group, as a
// Java worker would read it: protocol type "connect", sub-protocol
// "compatible" (KIP-415), binary member metadata (version 1, the worker's
// URL, the config offset) and assignments naming the leader's URL.
func TestConnectGroupProtocol(t *testing.T) {
	t.Parallel() // see connectNode
	n := connectNode(t)
	w1 := startConnectWorker(t, n.Addr())
	w2 := startConnectWorker(t, n.Addr())
	adm := newAdmin(t, n.Addr())
	str := func(b []byte) (string, []byte) {
		if len(b) < 2 {
			return "", nil
		}
		l := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+l {
			return "", nil
		}
		return string(b[2 : 2+l]), b[2+l:]
	}
	waitFor(t, 30*time.Second, "a stable connect group of two workers in the documented format", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		dg, err := adm.DescribeGroups(ctx, "connect-cluster")
		if err != nil {
			return false
		}
		g := dg["connect-cluster"]
		if g.State != "Stable" || g.ProtocolType != "connect" || g.Protocol != "sessioned" || len(g.Members) != 2 {
			return false
		}
		urls := map[string]bool{}
		for _, m := range g.Members {
			// franz-go's kmsg reads Connect's member metadata.
			md, ok := m.Join.AsConnect()
			if !ok || md.Version != 2 {
				return false
			}
			urls[strings.TrimSuffix(md.URL, "/")] = true
			// The assignment by hand: version 2, no error, the leader's id and URL.
			a, ok := m.Assigned.Raw()
			if !ok {
				if c, isConnect := m.Assigned.AsConnect(); isConnect {
					a = c.AppendTo(nil)
				}
			}
			if len(a) < 4 || binary.BigEndian.Uint16(a) != 2 || binary.BigEndian.Uint16(a[2:]) != 0 {
				return false
			}
			if _, rest := str(a[4:]); rest != nil {
				leaderURL, _ := str(rest)
				if leaderURL != w1.URL+"/" && leaderURL != w2.URL+"/" {
					t.Errorf("assignment's leader URL %q", leaderURL)
				}
			}
		}
		return urls[w1.URL] && urls[w2.URL]
	})
}
