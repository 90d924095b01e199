package connect

import (
	"strings"
	"testing"
)

// Each case configures a chain from connector config keys, reads the key
// and value through JsonConverter (schemas as the case says), applies the
// chain to a sink record (topic t, partition 3, offset 42, timestamp
// 1700000000123, header h=v) or a source record, and writes the result
// back through the converter.
func TestTransformChain(t *testing.T) {
	const structVal = `{"schema":{"type":"struct","optional":false,"fields":[{"field":"id","type":"int64","optional":false},{"field":"name","type":"string","optional":true},{"field":"score","type":"double","optional":true}]},"payload":{"id":7,"name":"ann","score":2.5}}`
	cases := []struct {
		name      string
		config    string // k=v lines
		schemas   bool
		source    bool
		topic     string
		key, val  string
		wantTopic string
		wantKey   string
		wantVal   string
		dropped   bool
		err       string
	}{
		{name: "insert field schemaless", config: `transforms=i
transforms.i.type=org.apache.kafka.connect.transforms.InsertField$Value
transforms.i.topic.field=t
transforms.i.partition.field=p
transforms.i.offset.field=o
transforms.i.timestamp.field=ts
transforms.i.static.field=origin
transforms.i.static.value=dc1`,
			val: `{"a":1}`, wantVal: `{"a":1,"o":42,"origin":"dc1","p":3,"t":"t","ts":1700000000123}`},
		{name: "insert field struct", schemas: true, config: `transforms=i
transforms.i.type=InsertField$Value
transforms.i.topic.field=t!
transforms.i.static.field=origin
transforms.i.static.value=dc1`,
			val:     structVal,
			wantVal: `{"schema":{"type":"struct","optional":false,"fields":[{"field":"id","type":"int64","optional":false},{"field":"name","type":"string","optional":true},{"field":"score","type":"double","optional":true},{"field":"t","type":"string","optional":false},{"field":"origin","type":"string","optional":true}]},"payload":{"id":7,"name":"ann","score":2.5,"t":"t","origin":"dc1"}}`},
		{name: "insert field on a string with schema fails", schemas: true, config: "transforms=i\ntransforms.i.type=InsertField$Value\ntransforms.i.topic.field=t",
			val: `{"schema":{"type":"string","optional":false},"payload":"x"}`, err: "Only Struct objects supported for [field insertion], found: java.lang.String"},
		{name: "insert offset on a source record fails", source: true, config: "transforms=i\ntransforms.i.type=InsertField$Value\ntransforms.i.offset.field=o",
			val: `{"a":1}`, err: "Offset insertion is only supported for sink connectors"},
		{name: "insert field passes tombstones", config: "transforms=i\ntransforms.i.type=InsertField$Value\ntransforms.i.topic.field=t",
			val: `null`, wantVal: `null`},
		{name: "replace field", config: `transforms=r
transforms.r.type=org.apache.kafka.connect.transforms.ReplaceField$Value
transforms.r.exclude=b
transforms.r.renames=a:x,c:y`,
			val: `{"a":1,"b":2,"c":3,"d":4}`, wantVal: `{"d":4,"x":1,"y":3}`},
		{name: "replace field struct include", schemas: true, config: "transforms=r\ntransforms.r.type=ReplaceField$Value\ntransforms.r.include=score,id\ntransforms.r.renames=id:key",
			val: structVal, wantVal: `{"schema":{"type":"struct","optional":false,"fields":[{"field":"key","type":"int64","optional":false},{"field":"score","type":"double","optional":true}]},"payload":{"key":7,"score":2.5}}`},
		{name: "mask field", config: "transforms=m\ntransforms.m.type=MaskField$Value\ntransforms.m.fields=s,n,b,o",
			val: `{"s":"secret","n":12,"b":true,"o":{"x":1},"keep":"k"}`, wantVal: `{"b":false,"keep":"k","n":0,"o":{},"s":""}`},
		{name: "mask field replacement", schemas: true, config: "transforms=m\ntransforms.m.type=MaskField$Value\ntransforms.m.fields=name,id\ntransforms.m.replacement=99",
			val: structVal, wantVal: `{"schema":{"type":"struct","optional":false,"fields":[{"field":"id","type":"int64","optional":false},{"field":"name","type":"string","optional":true},{"field":"score","type":"double","optional":true}]},"payload":{"id":99,"name":"99","score":2.5}}`},
		{name: "value to key", config: "transforms=v\ntransforms.v.type=org.apache.kafka.connect.transforms.ValueToKey\ntransforms.v.fields=id,zone",
			key: `"old"`, val: `{"id":5,"zone":"eu","x":1}`, wantKey: `{"id":5,"zone":"eu"}`, wantVal: `{"id":5,"x":1,"zone":"eu"}`},
		{name: "value to key struct missing field", schemas: true, config: "transforms=v\ntransforms.v.type=ValueToKey\ntransforms.v.fields=nope",
			val: structVal, err: "Field does not exist: nope"},
		{name: "value to key then extract key", config: "transforms=v,e\ntransforms.v.type=ValueToKey\ntransforms.v.fields=id\ntransforms.e.type=org.apache.kafka.connect.transforms.ExtractField$Key\ntransforms.e.field=id",
			val: `{"id":5,"x":1}`, wantKey: `5`, wantVal: `{"id":5,"x":1}`},
		{name: "extract field struct", schemas: true, config: "transforms=e\ntransforms.e.type=ExtractField$Value\ntransforms.e.field=name",
			val: structVal, wantVal: `{"schema":{"type":"string","optional":true},"payload":"ann"}`},
		{name: "extract unknown field struct", schemas: true, config: "transforms=e\ntransforms.e.type=ExtractField$Value\ntransforms.e.field=zzz",
			val: structVal, err: "Unknown field: zzz"},
		{name: "hoist field", config: "transforms=h\ntransforms.h.type=HoistField$Value\ntransforms.h.field=line",
			val: `"hello"`, wantVal: `{"line":"hello"}`},
		{name: "hoist field with schema", schemas: true, config: "transforms=h\ntransforms.h.type=HoistField$Value\ntransforms.h.field=line",
			val: `{"schema":{"type":"string","optional":false},"payload":"hi"}`, wantVal: `{"schema":{"type":"struct","optional":false,"fields":[{"field":"line","type":"string","optional":false}]},"payload":{"line":"hi"}}`},
		{name: "cast fields", config: "transforms=c\ntransforms.c.type=org.apache.kafka.connect.transforms.Cast$Value\ntransforms.c.spec=a:int8,b:string,c:float64,d:boolean,e:int32",
			val: `{"a":300,"b":1.5,"c":"2.25","d":0,"e":"17"}`, wantVal: `{"a":44,"b":"1.5","c":2.25,"d":false,"e":17}`},
		{name: "cast struct field", schemas: true, config: "transforms=c\ntransforms.c.type=Cast$Value\ntransforms.c.spec=score:int32,id:string",
			val: structVal, wantVal: `{"schema":{"type":"struct","optional":false,"fields":[{"field":"id","type":"string","optional":false},{"field":"name","type":"string","optional":true},{"field":"score","type":"int32","optional":true}]},"payload":{"id":"7","name":"ann","score":2}}`},
		{name: "cast whole value", config: "transforms=c\ntransforms.c.type=Cast$Key\ntransforms.c.spec=string",
			key: `12`, val: `1`, wantKey: `"12"`, wantVal: `1`},
		{name: "cast bad string", config: "transforms=c\ntransforms.c.type=Cast$Value\ntransforms.c.spec=int32",
			val: `"abc"`, err: `For input string: "abc"`},
		{name: "regex router", config: "transforms=r\ntransforms.r.type=org.apache.kafka.connect.transforms.RegexRouter\ntransforms.r.regex=(.*)-raw\ntransforms.r.replacement=$1-clean",
			topic: "orders-raw", val: `1`, wantTopic: "orders-clean", wantVal: `1`},
		{name: "regex router no match keeps topic", config: "transforms=r\ntransforms.r.type=RegexRouter\ntransforms.r.regex=raw\ntransforms.r.replacement=x",
			topic: "orders-raw", val: `1`, wantTopic: "orders-raw", wantVal: `1`},
		{name: "timestamp router", config: "transforms=r\ntransforms.r.type=org.apache.kafka.connect.transforms.TimestampRouter\ntransforms.r.timestamp.format=yyyy-MM-dd'T'HH",
			topic: "logs", val: `1`, wantTopic: "logs-2023-11-14T22", wantVal: `1`},
		{name: "timestamp router default", config: "transforms=r\ntransforms.r.type=TimestampRouter\ntransforms.r.topic.format=${timestamp}_${topic}",
			topic: "logs", val: `1`, wantTopic: "20231114_logs", wantVal: `1`},
		{name: "filter all", config: "transforms=f\ntransforms.f.type=org.apache.kafka.connect.transforms.Filter", val: `1`, dropped: true},
		{name: "filter by topic predicate", config: `transforms=f
transforms.f.type=Filter
transforms.f.predicate=isLogs
predicates=isLogs
predicates.isLogs.type=org.apache.kafka.connect.transforms.predicates.TopicNameMatches
predicates.isLogs.pattern=log.*`, topic: "logs", val: `1`, dropped: true},
		{name: "filter negated predicate keeps", config: `transforms=f
transforms.f.type=Filter
transforms.f.predicate=isLogs
transforms.f.negate=true
predicates=isLogs
predicates.isLogs.type=TopicNameMatches
predicates.isLogs.pattern=log.*`, topic: "logs", val: `1`, wantTopic: "logs", wantVal: `1`},
		{name: "header predicate", config: `transforms=f
transforms.f.type=Filter
transforms.f.predicate=hasH
predicates=hasH
predicates.hasH.type=org.apache.kafka.connect.transforms.predicates.HasHeaderKey
predicates.hasH.name=h`, val: `1`, dropped: true},
		{name: "tombstone predicate", config: `transforms=f
transforms.f.type=Filter
transforms.f.predicate=tomb
predicates=tomb
predicates.tomb.type=RecordIsTombstone`, val: `null`, dropped: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := map[string]string{}
			for _, l := range strings.Split(tc.config, "\n") {
				k, v, _ := strings.Cut(l, "=")
				cfg[k] = v
			}
			// The config must validate as a connector's.
			full := map[string]string{"name": "c", "connector.class": "FileStreamSink", "topics": "t"}
			for k, v := range cfg {
				full[k] = v
			}
			if infos := Validate(fileStreamSinkPlugin(), full); infos.ErrorCount != 0 {
				t.Fatalf("config invalid: %v", infos.Errors())
			}
			chain, err := NewTransformChain(cfg)
			if err != nil {
				t.Fatal(err)
			}
			conv := jsonConverter{schemas: tc.schemas}
			data := func(s string) *Data {
				if s == "" {
					return nil
				}
				d, err := conv.ToConnect("t", []byte(s))
				if err != nil {
					t.Fatalf("input %s: %v", s, err)
				}
				return d
			}
			topic := tc.topic
			if topic == "" {
				topic = "t"
			}
			part, off, ts := int32(3), int64(42), int64(1700000000123)
			r := &ConnectRecord{Topic: topic, Key: data(tc.key), Value: data(tc.val), Timestamp: &ts, Headers: []Header{{"h", []byte("v")}}}
			if !tc.source {
				r.Partition, r.KafkaOffset = &part, &off
			}
			out, err := chain.Apply(r)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.dropped {
				if out != nil {
					t.Fatalf("record not dropped: %+v", out)
				}
				return
			}
			if out == nil {
				t.Fatal("record dropped")
			}
			enc := func(d *Data) string {
				b, err := conv.FromConnect(out.Topic, d)
				if err != nil {
					t.Fatal(err)
				}
				if b == nil {
					return "null"
				}
				return string(b)
			}
			want := func(s string) string {
				if s == "" {
					return "null"
				}
				return s
			}
			if tc.wantTopic != "" && out.Topic != tc.wantTopic {
				t.Errorf("topic %q, want %q", out.Topic, tc.wantTopic)
			}
			if got := enc(out.Key); got != want(tc.wantKey) {
				t.Errorf("key\n got %s\nwant %s", got, want(tc.wantKey))
			}
			if got := enc(out.Value); got != want(tc.wantVal) {
				t.Errorf("value\n got %s\nwant %s", got, want(tc.wantVal))
			}
		})
	}
}

// Validation reports transformation and predicate errors on their keys,
// with Connect's enriched groups.
func TestTransformValidation(t *testing.T) {
	cfg := map[string]string{"name": "c", "connector.class": "FileStreamSource", "topic": "t",
		"transforms": "a,b,c,d", "transforms.a.type": "org.example.Nope",
		"transforms.b.type": "RegexRouter", "transforms.b.regex": "(", // missing replacement, bad regex
		"transforms.c.type": "Filter", "transforms.c.predicate": "undefined",
		// d has no type
		"predicates": "p", "predicates.p.type": "TopicNameMatches",
	}
	infos := Validate(fileStreamSourcePlugin(), cfg)
	errs := map[string]string{}
	for _, c := range infos.Configs {
		if len(c.Value.Errors) > 0 {
			errs[c.Definition.Name] = strings.Join(c.Value.Errors, "; ")
		}
	}
	want := map[string]string{
		"transforms.a.type":        "Class org.example.Nope could not be found.",
		"transforms.b.regex":       "Not a valid regular expression",
		"transforms.b.replacement": `Missing required configuration "transforms.b.replacement"`,
		"transforms.c.predicate":   "The predicate undefined is not defined in predicates",
		"transforms.d.type":        `Missing required configuration "transforms.d.type"`,
		"predicates.p.pattern":     `Missing required configuration "predicates.p.pattern"`,
	}
	for k, w := range want {
		if !strings.Contains(errs[k], w) {
			t.Errorf("%s: errors %q, want %q", k, errs[k], w)
		}
	}
	if len(errs) != len(want) {
		t.Errorf("errors on %v, want exactly %d keys", errs, len(want))
	}
	groups := strings.Join(infos.Groups, ",")
	for _, g := range []string{"Transforms: b", "Predicates: p"} {
		if !strings.Contains(groups, g) {
			t.Errorf("groups %s lack %q", groups, g)
		}
	}
	if infos.ErrorCount != len(want) {
		t.Errorf("error_count %d, want %d", infos.ErrorCount, len(want))
	}
}

func TestJavaReplacement(t *testing.T) {
	for _, c := range []struct {
		in     string
		groups int
		want   string
	}{
		{"$1-x", 1, "${1}-x"},
		{"$12", 1, "${1}2"},
		{"$12", 12, "${12}"},
		{`\$1`, 1, "$$1"},
		{"a$", 0, "a$$"},
		{"${name}", 1, "${name}"},
	} {
		if got := javaReplacement(c.in, c.groups); got != c.want {
			t.Errorf("javaReplacement(%q, %d) = %q, want %q", c.in, c.groups, got, c.want)
		}
	}
	for f, want := range map[float64]string{1.5: "1.5", 2: "2.0", 1e10: "1.0E10", 0.0001: "1.0E-4", 1234567: "1234567.0"} {
		if got := javaDouble(f); got != want {
			t.Errorf("javaDouble(%v) = %s, want %s", f, got, want)
		}
	}
}
