package config

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParseListeners: listeners values never panic, and what is accepted
// is written back (Listener.String) to the same listeners.
func FuzzParseListeners(f *testing.F) {
	for _, s := range []string{"PLAINTEXT://:9092,CONTROLLER://localhost:9093", "SASL_SSL://[::1]:9094", "a://h:0, b://h:65535", "X://h:65536", "X://h", "://h:1", "A://h:1,a://h:2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ls, err := ParseListeners("listeners", s)
		if err != nil {
			return
		}
		var parts []string
		for _, l := range ls {
			if l.Port < 0 || l.Port > 65535 || l.Name != strings.ToUpper(l.Name) {
				t.Fatalf("%q accepted as %+v", s, l)
			}
			parts = append(parts, l.String())
		}
		again, err := ParseListeners("listeners", strings.Join(parts, ","))
		if err != nil || !reflect.DeepEqual(again, ls) {
			t.Fatalf("%q: %+v written as %q reads back as %+v (%v)", s, ls, strings.Join(parts, ","), again, err)
		}
	})
}

// FuzzParseVoters: controller.quorum.voters never panics; accepted ids
// are non-negative and addresses HOST:PORT.
func FuzzParseVoters(f *testing.F) {
	for _, s := range []string{"1@localhost:9093,2@[::1]:9093", "", "1@h", "-1@h:1", "1@h:1,1@h:2", "x@h:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		vs, err := ParseVoters(s)
		if err != nil {
			return
		}
		for id, addr := range vs {
			if id < 0 || addr == "" {
				t.Fatalf("%q accepted as %v", s, vs)
			}
		}
	})
}

// FuzzParseProperties: a server.properties file never panics the reader
// or the broker config built from it (a bad value is an error).
func FuzzParseProperties(f *testing.F) {
	for _, s := range []string{"# c\nnode.id=1\nlisteners=PLAINTEXT://:9092\nlog.dirs=/tmp/x\n", "a: b\n! c\nk v\\\n  w\n", "x=\\u00e9\\t\\=", "x=\\u12", "num.partitions=abc", "log.retention.ms=-5\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		props, _, err := ParseProperties(strings.NewReader(s))
		if err != nil {
			return
		}
		NewBroker(props)
	})
}
