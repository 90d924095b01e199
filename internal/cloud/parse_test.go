package cloud

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseConfig(t *testing.T) {
	for _, c := range []struct {
		in   string
		want map[string]string
		kind Kind // when an error is expected
	}{
		{`{"retention_ms": 1000, "cleanup_policy": "compact_delete", "min_cleanable_dirty_ratio": 0.25, "preallocate": true}`,
			map[string]string{"retention.ms": "1000", "cleanup.policy": "compact,delete", "min.cleanable.dirty.ratio": "0.25", "preallocate": "true"}, 0},
		{`{"message_down_conversion_enable": false}`, map[string]string{"message.downconversion.enable": "false"}, 0},
		{`{"retention_ms": null}`, map[string]string{}, 0},
		{`{"retention_ms": "1000"}`, nil, KindInvalid},
		{`{"segment_bytes": -1}`, nil, KindInvalid},
		{`{"retention_ms": 1.5}`, nil, KindInvalid},
		{`{"preallocate": 1}`, nil, KindInvalid},
		{`{"no_such_key": 1}`, nil, KindInvalid},
		{`[1]`, nil, KindBadRequest},
	} {
		got, err := parseConfig(json.RawMessage(c.in), topicKeys, "config")
		if c.want == nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != c.kind {
				t.Errorf("%s: %v, want kind %d", c.in, err, c.kind)
			}
			continue
		}
		if err != nil || len(got) != len(c.want) {
			t.Errorf("%s: %v %v, want %v", c.in, got, err, c.want)
			continue
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%s: %s=%q, want %q", c.in, k, got[k], v)
			}
		}
		// Rendering gives back the same keys.
		if r := renderConfig(got, topicKeys); len(r) != len(got) {
			t.Errorf("%s: rendered %v", c.in, r)
		}
	}
}

func TestParseCreate(t *testing.T) {
	r, err := parseCreate([]byte(`{"name":"a1b","engine":"kafka","size":"local","num_nodes":3,"private_network_uuid":"","project_id":"","rules":null,"tags":["x"]}`))
	if err != nil || r.Name != "a1b" || r.NumNodes != 3 || len(r.Tags) != 1 {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = parseCreate([]byte(`{"name":"a1b","rules":[{"type":"ip_addr","value":"1.2.3.4"}]}`))
	if err != nil || len(r.Rules) != 1 || r.Rules[0].Value != "1.2.3.4" {
		t.Fatalf("create with a trusted source: %+v %v", r, err)
	}
	if r, err = parseCreate([]byte(`{"name":"a1b","rules":[{"type":"ip_addr","value":"10.0.0.0/8"}]}`)); err != nil || len(r.Rules) != 1 {
		t.Fatalf("create with a trusted CIDR range: %+v %v", r, err)
	}
	for _, bad := range []string{``, `{`, `[]`, `{"num_nodes":"3"}`, `{"rules":[{"type":"ip_addr","value":"10.0.0.0/33"}]}`, `{"rules":[{"type":"ip_addr","value":"db.example.com"}]}`, `{"rules":[{"type":"tag","value":"web"}]}`, `{"private_network_uuid":"x"}`} {
		if _, err := parseCreate([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		} else if s, _ := httpStatus(err); s >= 500 {
			t.Errorf("%q: status %d", bad, s)
		}
	}
}

// FuzzDecodeBody: request bodies never panic and are refused with a 4xx.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{`{"name":"a","engine":"kafka","num_nodes":3}`, `{"config":{"retention_ms":1}}`,
		`{"name":"t","partition_count":3,"config":{"cleanup_policy":"compact"}}`, `{"rules":[1]}`, `null`, `{"config":[]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(err error) {
			if err != nil {
				if s, _ := httpStatus(err); s < 400 || s >= 500 {
					t.Fatalf("%q: %v → status %d", b, err, s)
				}
			}
		}
		_, err := parseCreate(b)
		check(err)
		var tr TopicRequest
		if err := decodeBody(b, &tr); err == nil {
			_, err = parseConfig(tr.Config, topicKeys, "config")
			check(err)
		} else {
			check(err)
		}
		var rr apiResizeRequest
		check(decodeBody(b, &rr))
		_, err = parseConfig(b, brokerKeys, "config")
		check(err)
	})
}
