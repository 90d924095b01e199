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
type ConnInfo struct {
	Remote string // host:port
	Local  string
}

// Pending produces a request's response. The server calls Pending functions
// in request order on the connection's writer goroutine, so a Pending may
// block (fsync for acks=all, fetch long poll) without reordering responses.
// A nil Pending, or a Pending that returns nil, sends no response (acks=0).
type Pending func() kmsg.Response

// respond wraps a ready response.
func respond(r kmsg.Response) Pending { return func() kmsg.Response { return r } }
