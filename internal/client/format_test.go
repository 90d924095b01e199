package client

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestFormat(t *testing.T) {
	r := &kgo.Record{
		Topic: "events", Partition: 3, Offset: 42, Key: []byte("k1"), Value: []byte("hello"),
		Timestamp: time.UnixMilli(1700000000123),
		Headers:   []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}},
	}
	cases := []struct{ format, want string }{
		{`%s\n`, "hello\n"},
		{`%t/%p@%o %k=%s`, "events/3@42 k1=hello"},
		{`%K %S %T`, "2 5 1700000000123"},
		{`[%h]\t100%%\\`, "[a=1,b=2]\t100%\\"},
		{`no tokens`, "no tokens"},
	}
	for _, c := range cases {
		f, err := ParseFormat(c.format)
		if err != nil {
			t.Fatalf("%q: %v", c.format, err)
		}
		if got := string(f.Append(nil, r)); got != c.want {
			t.Errorf("%q: got %q, want %q", c.format, got, c.want)
		}
	}
	null := &kgo.Record{}
	if got := string(MustFormat(`%K %S %T [%k]`).Append(nil, null)); got != "-1 -1 -1 []" {
		t.Errorf("null record: got %q", got)
	}
	for _, bad := range []string{`%`, `\`, `%x`, `\q`} {
		if _, err := ParseFormat(bad); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
}

func TestParseOffset(t *testing.T) {
	cases := []struct {
		in   string
		from bool
		want startSpec
	}{
		{"", false, startSpec{kind: startEnd}},
		{"", true, startSpec{kind: startBeginning}},
		{"beginning", false, startSpec{kind: startBeginning}},
		{"oldest", false, startSpec{kind: startBeginning}},
		{"end", false, startSpec{kind: startEnd}},
		{"17", false, startSpec{kind: startAbsolute, n: 17}},
		{"-5", false, startSpec{kind: startFromEnd, n: 5}},
		{"@1700000000000", false, startSpec{kind: startTimestamp, n: 1700000000000}},
		{"s@12", false, startSpec{kind: startTimestamp, n: 12}},
	}
	for _, c := range cases {
		got, err := parseOffset(c.in, c.from)
		if err != nil || got != c.want {
			t.Errorf("parseOffset(%q, %v) = %+v, %v; want %+v", c.in, c.from, got, err, c.want)
		}
	}
	for _, bad := range []string{"x", "@", "@-1", "1.5"} {
		if _, err := parseOffset(bad, false); err == nil {
			t.Errorf("parseOffset(%q): want error", bad)
		}
	}
	if _, err := parseOffset("5", true); err == nil {
		t.Error("--from-beginning with --offset 5: want error")
	}
}

func TestBrokers(t *testing.T) {
	t.Setenv(EnvBrokers, "")
	if got := Brokers(""); len(got) != 1 || got[0] != DefaultBrokers {
		t.Errorf("default: %v", got)
	}
	t.Setenv(EnvBrokers, "h1:1, h2:2")
	if got := Brokers(""); len(got) != 2 || got[1] != "h2:2" {
		t.Errorf("env: %v", got)
	}
	if got := Brokers("x:9"); len(got) != 1 || got[0] != "x:9" {
		t.Errorf("flag: %v", got)
	}
}

func TestParsePartitions(t *testing.T) {
	got, err := ParsePartitions([]string{"0,2", "2", " 5 "})
	if err != nil || len(got) != 3 || got[0] != 0 || got[1] != 2 || got[2] != 5 {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := ParsePartitions([]string{"-1"}); err == nil {
		t.Error("-1: want error")
	}
}

func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{`%s\n`, `%t %p %o %k %s %K %S %T %h %%`, `\t\\\r`, `%`, `\`, `%z`, ``} {
		f.Add(s)
	}
	r := &kgo.Record{Topic: "t", Key: []byte("k"), Value: []byte("v"), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("1")}}}
	f.Fuzz(func(t *testing.T, s string) {
		fm, err := ParseFormat(s)
		if err != nil {
			return
		}
		fm.Append(nil, r)
		fm.Append(nil, &kgo.Record{})
	})
}
