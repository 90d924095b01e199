package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/tributary/tributary/internal/config"
)

// browserTarget is where a browser goes for a relative Location: the
// URL parser drops ASCII tabs and newlines and, for http(s), reads a
// backslash as a slash (WHATWG URL Standard).
func browserTarget(loc string) string {
	loc = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(loc)
	return strings.ReplaceAll(loc, "\\", "/")
}

// FuzzSafeNext: the post-login redirect stays on this site, whatever the
// "next" parameter holds.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/clusters/abc/topics", "", "//evil.example", "/\\evil.example", "https://evil.example", "/\t/evil.example", "/x?next=//y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := browserTarget(safeNext(next))
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") {
			t.Fatalf("safeNext(%q) sends the browser to %q, off this site", next, got)
		}
	})
}

// FuzzParseTime: a time field never panics, and Unix milliseconds read
// back as themselves.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"1700000000123", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123+02:00", "2024-01-02 03:04:05", "2024-01-02", "-1", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		ms, err := parseTime(v)
		if err != nil {
			return
		}
		if n, perr := strconv.ParseInt(strings.TrimSpace(v), 10, 64); perr == nil && n != ms {
			t.Fatalf("parseTime(%q) = %d", v, ms)
		}
	})
}

// FuzzParseTopicConfig: the topic form's config text never panics; what it
// accepts names only known topic configs, and a number reads back as the
// number that was typed (never a silent 0).
func FuzzParseTopicConfig(f *testing.F) {
	for _, s := range []string{"# comment\nretention.ms = 3600000\ncleanup.policy=compact,delete\nmin.cleanable.dirty.ratio=0.2\npreallocate=true\n",
		"message.downconversion.enable=false", "retention.ms", "nope=1", "segment.bytes=-1", "retention.ms=1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		out, err := parseTopicConfig(text)
		if err != nil {
			return
		}
		for _, line := range strings.Split(text, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, _ := strings.Cut(line, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			api := strings.ReplaceAll(k, ".", "_")
			if k == "message.downconversion.enable" {
				api = "message_down_conversion_enable"
			}
			got, ok := out[api]
			if !ok {
				t.Fatalf("%q accepted but %s missing from %v", text, api, out)
			}
			if typeName(config.TopicDefs[k].Type) == "integer" && strings.Count(text, k+"=")+strings.Count(text, k+" ") <= 1 {
				if n, perr := strconv.ParseInt(v, 10, 64); perr != nil || n != got.(int64) {
					t.Fatalf("%s=%q accepted as %v", k, v, got)
				}
			}
		}
	})
}

// FuzzBrowseForm: any browse query is a form error or a valid position.
func FuzzBrowseForm(f *testing.F) {
	for _, s := range []string{"from=beginning&limit=10", "from=offset&offset=5&partition=2", "from=timestamp&time=2024-01-02", "limit=0", "partition=-1", "from=x", "limit=100000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		d, from, err := browseForm(&http.Request{Method: "GET", URL: &url.URL{Path: "/x", RawQuery: q}})
		if err != nil {
			return
		}
		if d.Limit < 1 || d.Limit > maxBrowse || d.Partition < -1 || from.Offset < 0 {
			t.Fatalf("%q accepted as %+v %+v", q, d, from)
		}
	})
}
