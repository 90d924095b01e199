package connect

import (
	"encoding/json"
	"testing"
)

// FuzzParseCreateRequest: the POST /connectors body parser never panics,
// and what it accepts has a config of strings that re-encodes to JSON.
func FuzzParseCreateRequest(f *testing.F) {
	for _, s := range []string{
		`{"name":"a","config":{"connector.class":"FileStreamSource","file":"/x","topic":"t"}}`,
		`{"name":" a ","config":{"tasks.max":2,"x":true},"initial_state":"PAUSED"}`,
		`{"name":"a","config":null}`, `{"config":{"a":{"b":1}}}`, `[]`, `{`, `{"name":1}`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cr, err := ParseCreateRequest(b)
		if err != nil {
			return
		}
		if cr.Config == nil {
			t.Fatal("accepted without a config")
		}
		if _, err := json.Marshal(cr.Config); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzParseScalarMap: PUT/PATCH config bodies.
func FuzzParseScalarMap(f *testing.F) {
	for _, s := range []string{`{"a":"b","c":1.5e3,"d":false,"e":null}`, `{}`, `{"a":[1]}`, `"x"`, `{"a":"\u0000"}`} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, allowNull bool) {
		m, err := parseScalarMap(b, allowNull)
		if err != nil {
			return
		}
		for k, v := range m {
			if v == nil && !allowNull {
				t.Fatalf("null for %q accepted", k)
			}
		}
	})
}

// FuzzJSONConverter: record values from the topic never panic the
// converter.
func FuzzJSONConverter(f *testing.F) {
	for _, s := range []string{`{"schema":{"type":"struct","fields":[{"field":"a","type":"int32"}]},"payload":{"a":1}}`,
		`{"schema":{"type":"array","items":{"type":"bytes"}},"payload":["aGk="]}`, `{"schema":{"type":"map","values":{"type":"string"}},"payload":{"k":"v"}}`, `1`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, schemas := range []bool{true, false} {
			c := jsonConverter{schemas: schemas}
			if d, err := c.ToConnect("t", b); err == nil && d != nil {
				DataString(d)
			}
		}
	})
}

// FuzzParseOffsetsRequest: PATCH /connectors/{c}/offsets bodies.
func FuzzParseOffsetsRequest(f *testing.F) {
	for _, s := range []string{`{"offsets":[{"partition":{"filename":"/x"},"offset":{"position":0}}]}`,
		`{"offsets":[{"partition":{"kafka_topic":"t","kafka_partition":0},"offset":null}]}`, `{"offsets":null}`, `{}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		changes, err := ParseOffsetsRequest(b)
		if err == nil && changes == nil {
			t.Fatal("accepted without offsets")
		}
		for _, c := range changes {
			if c.Partition != nil {
				jsonInt(c.Partition["kafka_partition"])
			}
		}
	})
}
