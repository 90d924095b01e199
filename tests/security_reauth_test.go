package tests

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// connectHook counts the connections a client opens.
type connectHook struct{ n atomic.Int64 }

func (h *connectHook) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		h.n.Add(1)
	}
}

// rawSASL is a hand-driven connection to a SASL listener.
type rawSASL struct {
	t *testing.T
	c net.Conn
}

func dialSASL(t *testing.T, addr string) *rawSASL {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &rawSASL{t, c}
}

// roundTrip sends req at version and decodes the answer into resp; err is
// the read error (EOF: the broker closed the connection).
func (r *rawSASL) roundTrip(req kmsg.Request, version int16) (kmsg.Response, error) {
	req.SetVersion(version)
	if _, err := r.c.Write((&kmsg.RequestFormatter{}).AppendRequest(nil, req, 7)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(r.c, size[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r.c, b); err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	resp.SetVersion(version)
	body := b[4:] // correlation id
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		body = body[1:] // empty header tags
	}
	if err := resp.ReadFrom(body); err != nil {
		r.t.Fatalf("decoding %T: %v", resp, err)
	}
	return resp, nil
}

// plainAuth authenticates with PLAIN (SaslHandshake v1, SaslAuthenticate
// v2) and returns the final answer.
func (r *rawSASL) plainAuth(user, pass string) (*kmsg.SASLAuthenticateResponse, error) {
	hs := kmsg.NewSASLHandshakeRequest()
	hs.Mechanism = "PLAIN"
	resp, err := r.roundTrip(&hs, 1)
	if err != nil {
		return nil, err
	}
	if code := resp.(*kmsg.SASLHandshakeResponse).ErrorCode; code != 0 {
		return nil, kerr.ErrorForCode(code)
	}
	au := kmsg.NewSASLAuthenticateRequest()
	au.SASLAuthBytes = []byte("\x00" + user + "\x00" + pass)
	resp, err = r.roundTrip(&au, 2)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.SASLAuthenticateResponse), nil
}

// TestSASLReauthentication (KIP-368): with connections.max.reauth.ms the
// final SaslAuthenticate carries the session lifetime; franz-go
// re-authenticates in place and keeps producing over its connections past
// several lifetimes; a connection that does not re-authenticate is closed
// at its first request after the lifetime; a re-authentication as another
// user is refused and closes the connection.
func TestSASLReauthentication(t *testing.T) {
	const lifetime = 2500 * time.Millisecond
	n := startSASLNode(t, map[string]string{"listener.name.sasl_plaintext.connections.max.reauth.ms": "2500"})
	addr := n.ListenerAddr("SASL_PLAINTEXT")
	createUser(t, n.ListenerAddr("PLAINTEXT"), "erin", "erin-pw")
	createUser(t, n.ListenerAddr("PLAINTEXT"), "frank", "frank-pw")

	// A connection that re-authenticates goes on; a second
	// authentication as another principal is refused.
	r := dialSASL(t, addr)
	ar, err := r.plainAuth("erin", "erin-pw")
	if err != nil || ar.ErrorCode != 0 || ar.SessionLifetimeMillis != lifetime.Milliseconds() {
		t.Fatalf("authentication: %+v %v, want session lifetime %v", ar, err, lifetime)
	}
	if ar, err = r.plainAuth("erin", "erin-pw"); err != nil || ar.ErrorCode != 0 || ar.SessionLifetimeMillis != lifetime.Milliseconds() {
		t.Fatalf("re-authentication: %+v %v", ar, err)
	}
	md := kmsg.NewMetadataRequest()
	if _, err := r.roundTrip(&md, 9); err != nil {
		t.Fatalf("Metadata after re-authentication: %v", err)
	}
	if ar, err = r.plainAuth("frank", "frank-pw"); err != nil || ar.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("re-authentication as another user: %+v %v, want SASL_AUTHENTICATION_FAILED", ar, err)
	}
	if _, err := r.roundTrip(&md, 9); err == nil {
		t.Fatal("the connection survived a re-authentication as another user")
	}

	// A connection that lets its session lapse is closed at its next
	// request; the broker keeps serving others.
	r = dialSASL(t, addr)
	if ar, err := r.plainAuth("erin", "erin-pw"); err != nil || ar.ErrorCode != 0 {
		t.Fatalf("authentication: %+v %v", ar, err)
	}
	if _, err := r.roundTrip(&md, 9); err != nil {
		t.Fatalf("Metadata within the lifetime: %v", err)
	}
	time.Sleep(lifetime + 200*time.Millisecond) // the lifetime is the condition
	if _, err := r.roundTrip(&md, 9); err == nil {
		t.Fatal("a request after the session lifetime was answered")
	}

	// franz-go re-authenticates in place (no new connections) and every
	// produce succeeds across three lifetimes.
	var hook connectHook
	cl := newClient(t, addr, kgo.SASL(scram.Auth{User: "erin", Pass: "erin-pw"}.AsSha512Mechanism()), kgo.WithHooks(&hook),
		kgo.DefaultProduceTopic("reauth"), kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	conns := hook.n.Load()
	before := strings.Count(n.logs.String(), "msg=re-authenticated")
	start := time.Now()
	produced := 1
	for time.Since(start) < 3*lifetime {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce %d, %v after the first: %v", produced, time.Since(start), err)
		}
		produced++
		time.Sleep(100 * time.Millisecond)
	}
	reauths := strings.Count(n.logs.String(), "msg=re-authenticated") - before
	t.Logf("%d produces over %v, %d re-authentications, connections %d then %d", produced, time.Since(start), reauths, conns, hook.n.Load())
	if reauths < 2 {
		t.Errorf("%d re-authentications over %v with a %v lifetime", reauths, 3*lifetime, lifetime)
	}
	if hook.n.Load() != conns {
		t.Errorf("franz-go opened %d new connections instead of re-authenticating", hook.n.Load()-conns)
	}
	if strings.Contains(n.logs.String(), "erin-pw") || strings.Contains(n.logs.String(), "frank-pw") {
		t.Error("a password appears in the broker's log")
	}
}
