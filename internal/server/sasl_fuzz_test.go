package server

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/broker"
	"github.com/tributary/tributary/internal/protocol"
	"github.com/tributary/tributary/internal/security"
)

// echoHandler answers every served request with its empty response.
type echoHandler struct{}

func (echoHandler) Versions(key int16) (int16, int16, bool) {
	for _, a := range broker.AdvertisedAPIs() {
		if a.ApiKey == key {
			return a.MinVersion, a.MaxVersion, true
		}
	}
	return 0, 0, false
}

func (echoHandler) Handle(_ context.Context, r *protocol.Request) protocol.Pending {
	resp := r.Msg.ResponseKind()
	return func() kmsg.Response { return resp }
}

func (echoHandler) UnsupportedApiVersions() kmsg.Response { return kmsg.NewPtrApiVersionsResponse() }
func (echoHandler) Written(kmsg.Response)                 {}

type fuzzCreds map[string]security.ScramCredential

func (c fuzzCreds) Scram(user, mech string) (security.ScramCredential, bool) {
	v, ok := c[user+"/"+mech]
	return v, ok
}

func saslFrame(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// FuzzSASLConnection runs arbitrary bytes through a SASL listener's
// connection loop (handshake v0 raw tokens and v1, SaslAuthenticate,
// requests before authentication, re-authentication and expiry): the connection answers or closes, the
// server never panics or hangs.
func FuzzSASLConnection(f *testing.F) {
	creds := fuzzCreds{}
	for _, mech := range []string{security.MechanismScramSHA256, security.MechanismScramSHA512} {
		salted, _ := security.SaltPassword(mech, "pw", []byte("salt"), 4096)
		c, _ := security.ScramFromSalted(mech, []byte("salt"), salted, 4096)
		creds["u/"+mech] = c
	}
	auth := &security.Authenticator{Enabled: security.Mechanisms, Creds: creds}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Mechanism = "PLAIN"
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.SASLAuthBytes = []byte("\x00u\x00pw")
	md := kmsg.NewPtrMetadataRequest()
	f.Add(append(append(saslFrame(body(hs, 1)), saslFrame(body(au, 1))...), saslFrame(body(md, 9))...))
	f.Add(append(saslFrame(body(hs, 0)), saslFrame([]byte("\x00u\x00pw"))...))
	hs2 := kmsg.NewPtrSASLHandshakeRequest()
	hs2.Mechanism = "SCRAM-SHA-256"
	au2 := kmsg.NewPtrSASLAuthenticateRequest()
	au2.SASLAuthBytes = []byte("n,,n=u,r=abc")
	f.Add(append(saslFrame(body(hs2, 1)), saslFrame(body(au2, 2))...))
	f.Add(saslFrame(body(md, 9)))
	// Re-authentication (KIP-368): same user, then another mechanism.
	reauth := append(saslFrame(body(hs, 1)), saslFrame(body(au, 2))...)
	reauth = append(reauth, reauth...)
	f.Add(append(append(reauth, saslFrame(body(md, 9))...), saslFrame(body(hs2, 1))...))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := New(echoHandler{}, Options{SASL: auth, MaxReauth: 50 * time.Millisecond})
		srv, cl := net.Pipe()
		s.mu.Lock()
		s.conns[srv] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(context.Background(), srv)
		go func() { cl.Write(data); cl.Close() }() // safe: test only
		cl.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, cl)
		cl.Close()
		done := make(chan struct{})
		go func() { s.Close(); close(done) }() // safe: test only
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("the connection loop hung on %q", data)
		}
	})
}
