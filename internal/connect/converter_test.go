package connect

import (
	"bytes"
	"testing"
)

func TestConverters(t *testing.T) {
	cases := []struct {
		class string
		props map[string]string
		in    *Data
		wire  string
		back  any
	}{
		{StringConverterClass, nil, StringData("héllo"), "héllo", "héllo"},
		{"StringConverter", nil, nil, "", nil},
		{ByteArrayConverterClass, nil, &Data{Value: []byte{0, 1}}, "\x00\x01", []byte{0, 1}},
		{JSONConverterClass, nil, StringData("a line"), `{"schema":{"type":"string","optional":false},"payload":"a line"}`, "a line"},
		{JSONConverterClass, map[string]string{"schemas.enable": "false"}, StringData("a line"), `"a line"`, "a line"},
		{JSONConverterClass, nil, &Data{Schema: &Schema{Type: "bytes"}, Value: []byte("hi")}, `{"schema":{"type":"bytes","optional":false},"payload":"aGk="}`, []byte("hi")},
	}
	for _, c := range cases {
		conv, err := NewConverter(c.class, c.props)
		if err != nil {
			t.Fatal(err)
		}
		b, err := conv.FromConnect("t", c.in)
		if err != nil || string(b) != c.wire {
			t.Errorf("%s: FromConnect = %q %v, want %q", c.class, b, err, c.wire)
			continue
		}
		if c.in == nil {
			if b != nil {
				t.Errorf("%s: null became %q", c.class, b)
			}
			continue
		}
		d, err := conv.ToConnect("t", b)
		if err != nil {
			t.Errorf("%s: ToConnect(%q): %v", c.class, b, err)
			continue
		}
		if bb, ok := c.back.([]byte); ok {
			if got, _ := d.Value.([]byte); !bytes.Equal(got, bb) {
				t.Errorf("%s: back %v, want %v", c.class, d.Value, c.back)
			}
		} else if d.Value != c.back {
			t.Errorf("%s: back %v, want %v", c.class, d.Value, c.back)
		}
	}
}

func TestJSONConverterRefusals(t *testing.T) {
	conv, _ := NewConverter(JSONConverterClass, nil)
	for _, in := range []string{`"plain"`, `{"payload":1}`, `{"schema":null,"payload":1,"x":2}`, `{`, `{"schema":{"type":"int32"},"payload":"x"}`, `{"schema":{"type":"string"},"payload":null}`} {
		if _, err := conv.ToConnect("t", []byte(in)); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
	if _, err := NewConverter("com.example.Nope", nil); err == nil {
		t.Error("unknown converter class accepted")
	}
	if _, err := NewConverter(JSONConverterClass, map[string]string{"schemas.enable": "maybe"}); err == nil {
		t.Error("bad schemas.enable accepted")
	}
}

func TestValidateFileStreamSource(t *testing.T) {
	p, _ := NewPlugins().Lookup("FileStreamSource")
	ci := Validate(p, map[string]string{"connector.class": "FileStreamSource", "name": "x", "topic": "a,b", "batch.size": "0", "tasks.max": "one"})
	errs := map[string][]string{}
	for _, c := range ci.Configs {
		if len(c.Value.Errors) > 0 {
			errs[c.Value.Name] = c.Value.Errors
		}
	}
	if ci.ErrorCount != 3 || len(errs["topic"]) != 1 || len(errs["batch.size"]) != 1 || len(errs["tasks.max"]) != 1 {
		t.Fatalf("%d errors: %v", ci.ErrorCount, errs)
	}
	ok := Validate(p, map[string]string{"connector.class": p.Class, "name": "x", "topic": "t"})
	if ok.ErrorCount != 0 {
		t.Fatalf("valid config has errors: %v", ok.Errors())
	}
	for _, alias := range []string{"FileStreamSource", "FileStreamSourceConnector", "org.apache.kafka.connect.file.FileStreamSourceConnector"} {
		if q, ok := NewPlugins().Lookup(alias); !ok || q.Class != p.Class {
			t.Errorf("alias %s not resolved", alias)
		}
	}
}
