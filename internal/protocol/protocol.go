// Package protocol holds the types the listener (internal/server) and the
// request handlers (internal/broker) exchange, so that the listener does
// not import the handlers: a decoded Request, the ConnInfo of the
// connection it came on, and the Pending that produces its response. It
// does no I/O; its only state is a connection's close callbacks.
package protocol

import (
	"io"
	"sync"
	"time"

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
	// Size is the request's size on the wire (producer_byte_rate).
	Size int
}

// ListenerName is the name of the listener the request came in on, ""
// when unknown (a request built in a test).
func (r *Request) ListenerName() string {
	if r.Conn == nil {
		return ""
	}
	return r.Conn.Listener
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
	// Mute, if set, stops reading the connection's requests for d from
	// now (KIP-219 throttling of a request that gets no response: an
	// acks=0 produce over its quota). Safe from any goroutine.
	Mute func(d time.Duration)
	// Appends counts the connection's produce appends that the handler
	// has started but not finished (the broker's append stage runs them
	// off the reader goroutine); the handler waits on it before serving a
	// request that must see them. Safe from any goroutine.
	Appends InFlight

	// closeMu guards the close callbacks: OnClose and its cancel run on
	// any goroutine (a Pending), Closed on the server's connection
	// goroutine once.
	closeMu sync.Mutex
	closed  bool
	nextID  uint64
	onClose map[uint64]func()
}

// OnClose registers f to run once the connection has closed and every
// response of it has been handled (for state tied to a connection, as
// KIP-932 share sessions are); f runs on its own goroutine. If the
// connection has closed already, f runs at once. The returned cancel
// unregisters f (a no-op once it has run).
func (c *ConnInfo) OnClose(f func()) (cancel func()) {
	c.closeMu.Lock()
	if c.closed {
		c.closeMu.Unlock()
		go f() // safe: f is the caller's close handler, as after Closed
		return func() {}
	}
	if c.onClose == nil {
		c.onClose = map[uint64]func(){}
	}
	c.nextID++
	id := c.nextID
	c.onClose[id] = f
	c.closeMu.Unlock()
	return func() {
		c.closeMu.Lock()
		delete(c.onClose, id)
		c.closeMu.Unlock()
	}
}

// Closed runs the close callbacks; the server calls it once the
// connection is closed and its writer has stopped.
func (c *ConnInfo) Closed() {
	c.closeMu.Lock()
	c.closed = true
	fs := c.onClose
	c.onClose = nil
	c.closeMu.Unlock()
	for _, f := range fs {
		go f() // safe: close handlers only release state the connection held
	}
}

// Pending produces a request's response.
//
// Contract: the connection's reader goroutine calls the handler for each
// request in arrival order and queues the Pending it returns; the
// connection's writer goroutine calls the Pendings one at a time in that
// same order and writes each response before calling the next. So a
// Pending may block (fsync for acks=all, a fetch long poll) without
// reordering responses, and pipelined requests overlap their waits. A
// Pending must not call back into the connection. A nil Pending, or a
// Pending that returns nil, sends no response (acks=0).
type Pending func() kmsg.Response

// InFlight counts work started for a connection and lets a goroutine wait
// until none is left. Add and Done may run on any goroutines; Wait returns
// once the count is zero (at once if it is). Unlike sync.WaitGroup, Add may
// race with Wait. The zero value is ready; it allocates only when a Wait
// finds work in flight.
type InFlight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0; nil until a Wait needs it
}

// Add counts n more pieces of work.
func (f *InFlight) Add(n int) {
	f.mu.Lock()
	f.n += n
	f.mu.Unlock()
}

// Done marks one piece of work finished.
func (f *InFlight) Done() {
	f.mu.Lock()
	f.n--
	if f.n == 0 && f.idle != nil {
		close(f.idle)
		f.idle = nil
	}
	f.mu.Unlock()
}

// Wait blocks until no work is in flight.
func (f *InFlight) Wait() {
	f.mu.Lock()
	if f.n == 0 {
		f.mu.Unlock()
		return
	}
	if f.idle == nil {
		f.idle = make(chan struct{})
	}
	ch := f.idle
	f.mu.Unlock()
	<-ch
}

// Splice is response bytes carried by reference (a Fetch response's
// record data left in a segment file, or a large read buffer): the
// encoded response holds Marker
// as the whole value of a bytes field, and the writer sends, in its
// place, Len bytes that Src.WriteTo produces (sendfile when it is given
// the plaintext TCP connection itself). It must write exactly Len bytes
// or fail; after a failure the connection is closed. (An interface, not a
// func: a *storage.FileSlice is one as it is, where a method value
// allocated per partition.)
type Splice struct {
	Marker []byte
	Len    int64
	Src    io.WriterTo
}

// Splicer is implemented by a handler whose responses may carry Splices.
// The connection's writer calls Splices(resp) once per response before
// encoding it, on its own goroutine, and before Written.
type Splicer interface {
	Splices(resp kmsg.Response) []Splice
}
