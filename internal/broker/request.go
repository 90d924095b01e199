package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Request is one decoded request on a connection.
type Request struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      *string
	Msg           kmsg.Request
	Conn          *ConnInfo
}

// ConnInfo describes the client connection a request came on.
//
// The server sets Principal on the connection's reader goroutine when the
// client authenticates, before it decodes the next request; a handler and
// its Pending read it for their own request only, which comes after.
type ConnInfo struct {
	Remote string // host:port
	Local  string
	// Listener is the name of the listener the connection came in on
	// (PLAINTEXT, SSL, ...); Metadata answers with that listener's
	// advertised addresses.
	Listener string
	// Principal is the authenticated user name (the KafkaPrincipal
	// User:<name>): the mapped certificate subject on SSL with a client
	// certificate, the SASL user after authentication, else ANONYMOUS.
	Principal string
}

// Pending produces a request's response. The server calls Pending functions
// in request order on the connection's writer goroutine, so a Pending may
// block (fsync for acks=all, fetch long poll) without reordering responses.
// A nil Pending, or a Pending that returns nil, sends no response (acks=0).
type Pending func() kmsg.Response

// respond wraps a ready response.
func respond(r kmsg.Response) Pending { return func() kmsg.Response { return r } }

// listener is the name of the listener the request came in on, "" when
// unknown (a request built in a test).
func (r *Request) listener() string {
	if r.Conn == nil {
		return ""
	}
	return r.Conn.Listener
}
