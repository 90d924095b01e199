package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/protocol"
)

// The request types live in internal/protocol, which the listener imports
// instead of this package; the handlers use these short names.
type (
	// Request is one decoded request on a connection.
	Request = protocol.Request
	// ConnInfo describes the client connection a request came on.
	ConnInfo = protocol.ConnInfo
	// Pending produces a request's response (see protocol.Pending for
	// the ordering contract).
	Pending = protocol.Pending
)

// respond wraps a ready response.
func respond(r kmsg.Response) Pending { return func() kmsg.Response { return r } }
