package server

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/protocol"
)

// refuseAll serves nothing, so every request is refused for its version.
type refuseAll struct{}

func (refuseAll) Versions(int16) (int16, int16, bool)                        { return 0, 0, false }
func (refuseAll) Handle(context.Context, *protocol.Request) protocol.Pending { return nil }
func (refuseAll) UnsupportedApiVersions() kmsg.Response                      { return kmsg.NewPtrApiVersionsResponse() }
func (refuseAll) Written(kmsg.Response)                                      {}

// frame encodes a request header (client id cid) and req's body at v.
func frame(req kmsg.Request, v int16, cid string) []byte {
	req.SetVersion(v)
	b := []byte{byte(req.Key() >> 8), byte(req.Key()), byte(v >> 8), byte(v), 0, 0, 0, 1, 0, byte(len(cid))}
	b = append(b, cid...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

func TestRefusedVersionWarnsRateLimited(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(1000, 0)
	s := New(refuseAll{}, Options{
		Logger: slog.New(slog.NewTextHandler(&out, nil)),
		Now:    func() time.Time { return now },
	})
	info := &protocol.ConnInfo{Remote: "10.0.0.1:5000"}
	send := func(cid string, v int16) {
		t.Helper()
		if _, _, err := s.decode(frame(kmsg.NewPtrListOffsetsRequest(), v, cid), info); err == nil {
			t.Fatal("refused request decoded without error")
		}
	}
	lines := func() []string {
		return strings.FieldsFunc(out.String(), func(r rune) bool { return r == '\n' })
	}

	send("burrow", 0)
	send("burrow", 0)
	if l := lines(); len(l) != 1 {
		t.Fatalf("want one line for two identical refusals, got %q", l)
	}
	l := lines()[0]
	for _, want := range []string{"level=WARN", "client_id=burrow", "api=ListOffsets", "version=0", "remote=10.0.0.1:5000"} {
		if !strings.Contains(l, want) {
			t.Errorf("log line %q lacks %q", l, want)
		}
	}
	send("burrow", 1) // another version
	send("other", 0)  // another client
	if n := len(lines()); n != 3 {
		t.Fatalf("want 3 lines after a new version and a new client, got %d: %q", n, lines())
	}
	now = now.Add(refusedInterval)
	send("burrow", 0)
	if n := len(lines()); n != 4 {
		t.Fatalf("want the refusal logged again after %v, got %d lines", refusedInterval, n)
	}

	// An unknown API key is refused and logged the same way.
	out.Reset()
	unknown := frame(kmsg.NewPtrListOffsetsRequest(), 0, "tool")
	unknown[0], unknown[1] = 0x03, 0xe7 // key 999
	if _, _, err := s.decode(unknown, info); err == nil {
		t.Fatal("unknown key decoded")
	}
	if l := out.String(); !strings.Contains(l, "client_id=tool") || !strings.Contains(l, "api_key=999") || !strings.Contains(l, "api=Unknown") {
		t.Fatalf("unknown key log: %q", l)
	}

	// ApiVersions at an unknown version is answered (KIP-511), not refused.
	out.Reset()
	if _, pr, err := s.decode(frame(kmsg.NewPtrApiVersionsRequest(), 99, "burrow"), info); err != nil || pr.fn == nil {
		t.Fatalf("ApiVersions v99: err %v, answered %v", err, pr.fn != nil)
	}
	if out.Len() != 0 {
		t.Fatalf("ApiVersions downgrade logged: %q", out.String())
	}
}
