package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/protocol"
	"github.com/tributary/tributary/internal/security"
)

// SASL on a listener (SASL_PLAINTEXT, SASL_SSL). Until a connection has
// authenticated, the reader goroutine serves it here instead of in the
// broker: ApiVersions goes to the broker as usual; SaslHandshake picks the
// mechanism; then either SaslAuthenticate requests (handshake v1) or, after
// a v0 handshake, raw size-prefixed SASL tokens with no Kafka header carry
// the exchange. Any other request before authentication closes the
// connection, as Kafka does. A failed authentication is answered
// (SASL_AUTHENTICATION_FAILED; a v0 raw exchange gets no answer) after
// FailedAuthDelay, and the connection is closed. Once authenticated the
// principal is the SASL user and every request goes to the broker.
//
// Re-authentication (KIP-368): with connections.max.reauth.ms (MaxReauth)
// above 0, the final SaslAuthenticate answers that session lifetime, and
// the first request other than SaslHandshake that arrives after it ends
// closes the connection. A client re-authenticates on the same connection
// with SaslHandshake v1 and SaslAuthenticate, with the same mechanism and
// as the same principal (else the answer is an error and the connection
// is closed); success starts a new lifetime. Requests other than the
// exchange's are refused (connection closed) until it ends, as Kafka's
// clients send none meanwhile.
//
// saslConn is owned by the connection's reader goroutine; the Pendings it
// returns only carry finished responses to the writer.
type saslConn struct {
	auth    *security.Authenticator
	delay   time.Duration
	phase   saslPhase
	session security.Session
	mech    string
	// maxReauth is connections.max.reauth.ms (0: sessions do not expire).
	maxReauth time.Duration
	// expires is when the authenticated session ends (zero: never).
	expires time.Time
	// reauth is set while a re-authentication runs; principal and
	// firstMech are the first authentication's.
	reauth    bool
	principal string
	firstMech string
	now       func() time.Time
}

// errSessionExpired closes a connection whose SASL session ended without
// a re-authentication.
var errSessionExpired = errors.New("SASL session expired (connections.max.reauth.ms) without re-authentication")

// expired reports whether the authenticated session has ended.
func (sc *saslConn) expired() bool {
	return !sc.expires.IsZero() && sc.now().After(sc.expires)
}

// startReauth begins a re-authentication after a successful one.
func (sc *saslConn) startReauth() {
	sc.reauth, sc.phase, sc.session = true, saslHandshake, nil
}

// authenticated ends an exchange successfully: the principal is set (a
// re-authentication must keep it) and the session's lifetime starts.
func (sc *saslConn) finish(info *protocol.ConnInfo) error {
	p := sc.session.Principal()
	if sc.reauth && p != sc.principal {
		return fmt.Errorf("%w: re-authentication as %q, the connection is %q", security.ErrAuthenticationFailed, p, sc.principal)
	}
	sc.phase, sc.reauth, sc.principal = saslDone, false, p
	if sc.firstMech == "" {
		sc.firstMech = sc.mech
	}
	info.Principal = p
	if sc.maxReauth > 0 {
		sc.expires = sc.now().Add(sc.maxReauth)
	}
	return nil
}

type saslPhase int8

const (
	saslHandshake    saslPhase = iota // expecting SaslHandshake
	saslAuthenticate                  // expecting SaslAuthenticate (handshake v1)
	saslRaw                           // expecting a raw token (handshake v0)
	saslDone                          // authenticated
)

// errAuthClose ends a connection after its SASL answer is written.
var errAuthClose = errors.New("SASL authentication ended the connection")

// maxSASLReceive bounds a frame before authentication (Kafka's
// sasl.server.max.receive.size default), so an unauthenticated client
// cannot make the broker allocate 100 MiB.
const maxSASLReceive = 512 << 10

func (sc *saslConn) authenticated() bool { return sc.phase == saslDone }

// request serves req before authentication. handled is false for a request
// the broker answers (ApiVersions); err closes the connection, after pr's
// answer when pr.fn is set.
func (s *Server) saslRequest(sc *saslConn, req *protocol.Request, pr *pendingResp, info *protocol.ConnInfo) (handled bool, err error) {
	switch m := req.Msg.(type) {
	case *kmsg.ApiVersionsRequest:
		return false, nil
	case *kmsg.SASLHandshakeRequest:
		if sc.phase != saslHandshake {
			return false, fmt.Errorf("SaslHandshake during the SASL exchange")
		}
		resp := m.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.SupportedMechanisms = sc.auth.Enabled
		pr.fn = func() kmsg.Response { return resp }
		if sc.reauth && (m.Version == 0 || m.Mechanism != sc.firstMech) {
			// KIP-368: re-authentication uses SaslAuthenticate (handshake
			// v1) and the first authentication's mechanism.
			resp.ErrorCode = kerr.IllegalSaslState.Code
			s.authLog.note(s.log, info, sc.firstMech, m.Mechanism, security.ErrIllegalSASLState)
			return true, errAuthClose
		}
		sess, serr := sc.auth.Start(m.Mechanism)
		if serr != nil {
			resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
			s.authLog.note(s.log, info, "", m.Mechanism, serr)
			return true, errAuthClose
		}
		sc.session, sc.mech = sess, m.Mechanism
		sc.phase = saslAuthenticate
		if m.Version == 0 {
			sc.phase = saslRaw
		}
		return true, nil
	case *kmsg.SASLAuthenticateRequest:
		resp := m.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		pr.fn = func() kmsg.Response { return resp }
		if sc.phase != saslAuthenticate {
			resp.ErrorCode = kerr.IllegalSaslState.Code
			resp.ErrorMessage = kmsg.StringPtr("SaslAuthenticate before SaslHandshake v1")
			return true, errAuthClose
		}
		out, done, serr := sc.session.Step(m.SASLAuthBytes)
		if serr != nil {
			resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
			resp.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("Authentication failed during authentication due to invalid credentials with SASL mechanism %s", sc.mech))
			s.authLog.note(s.log, info, sc.mech, "", serr)
			delay := sc.delay
			pr.fn = func() kmsg.Response { time.Sleep(delay); return resp }
			return true, errAuthClose
		}
		resp.SASLAuthBytes = out
		if done {
			if sc.reauth {
				defer func() {
					if err == nil {
						s.log.Debug("re-authenticated", "listener", info.Listener, "remote", info.Remote, "principal", info.Principal)
					}
				}()
			}
			if ferr := sc.finish(info); ferr != nil {
				resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
				resp.ErrorMessage = kmsg.StringPtr("re-authentication must keep the connection's principal")
				resp.SASLAuthBytes = nil
				s.authLog.note(s.log, info, sc.mech, "", ferr)
				return true, errAuthClose
			}
			resp.SessionLifetimeMillis = sc.maxReauth.Milliseconds()
		}
		return true, nil
	}
	return false, fmt.Errorf("unexpected %s request before SASL authentication", kmsg.NameForKey(req.Key))
}

// saslRawToken serves one token of a v0 handshake's raw exchange.
func (s *Server) saslRawToken(sc *saslConn, tok []byte, info *protocol.ConnInfo) (pendingResp, error) {
	pr := pendingResp{key: -1}
	out, done, err := sc.session.Step(tok)
	if err != nil {
		s.authLog.note(s.log, info, sc.mech, "", err)
		delay := sc.delay
		pr.fn = func() kmsg.Response { time.Sleep(delay); return nil }
		return pr, errAuthClose
	}
	if done {
		if err := sc.finish(info); err != nil { // a v0 exchange is never a re-authentication
			return pr, err
		}
	}
	pr.raw = out
	if pr.raw == nil {
		pr.raw = []byte{} // an empty token is still sent (PLAIN's success)
	}
	pr.fn = func() kmsg.Response { return nil }
	return pr, nil
}

// authFailLog rate-limits the INFO line for failed authentications: at
// most one per client host per authLogInterval, so a brute-force attempt
// does not flood the log. The line carries the mechanism and why, never a
// password or a token.
type authFailLog struct {
	mu   sync.Mutex // guards last
	last map[string]time.Time
	now  func() time.Time
}

const authLogInterval = time.Minute

func (a *authFailLog) note(log *slog.Logger, info *protocol.ConnInfo, mech, requested string, err error) {
	log.Debug("failed authentication", "listener", info.Listener, "remote", info.Remote, "mechanism", mech, "err", err)
	host, _, _ := net.SplitHostPort(info.Remote)
	now := a.now()
	a.mu.Lock()
	if a.last == nil || len(a.last) > 4096 {
		a.last = map[string]time.Time{}
	}
	if t, ok := a.last[host]; ok && now.Sub(t) < authLogInterval {
		a.mu.Unlock()
		return
	}
	a.last[host] = now
	a.mu.Unlock()
	reason := "invalid credentials"
	switch {
	case errors.Is(err, security.ErrUnsupportedMechanism):
		reason = "unsupported mechanism " + fmt.Sprintf("%q", requested)
	case errors.Is(err, security.ErrIllegalSASLState):
		reason = "unexpected SASL message"
	}
	log.Info("failed authentication; closing connection (further failures from this host are not logged for a minute)",
		"listener", info.Listener, "remote", info.Remote, "mechanism", mech, "reason", reason)
}
