// SaslHandshake (key 17), versions 0-1, and SaslAuthenticate (key 36),
// versions 0-2.
//
// On a SASL listener the server runs the exchange itself before any other
// request reaches the broker (internal/server/sasl.go). These handlers see
// what is left: a SASL request on a listener without SASL, or a
// SaslAuthenticate after authentication without a new SaslHandshake. As
// Kafka, they answer ILLEGAL_SASL_STATE. Re-authentication (KIP-368,
// connections.max.reauth.ms) is the server's too.
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(kmsg.SASLHandshake, 0, 1, (*Broker).handleSaslHandshake)
	register(kmsg.SASLAuthenticate, 0, 2, (*Broker).handleSaslAuthenticate)
}

func (b *Broker) handleSaslHandshake(_ context.Context, r *Request) Pending {
	resp := r.Msg.(*kmsg.SASLHandshakeRequest).ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.ErrorCode = kerr.IllegalSaslState.Code
	return respond(resp)
}

func (b *Broker) handleSaslAuthenticate(_ context.Context, r *Request) Pending {
	resp := r.Msg.(*kmsg.SASLAuthenticateRequest).ResponseKind().(*kmsg.SASLAuthenticateResponse)
	resp.ErrorCode = kerr.IllegalSaslState.Code
	resp.ErrorMessage = kmsg.StringPtr("SaslAuthenticate is not expected: the connection is not on a SASL listener, or has authenticated")
	return respond(resp)
}
