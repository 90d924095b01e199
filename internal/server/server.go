// Package server accepts Kafka protocol connections, frames and decodes
// requests with kmsg, hands them to the broker, and writes responses back in
// request order.
//
// Per connection there are two goroutines: the reader decodes requests and
// calls Handler.Handle in arrival order (so appends from one connection keep
// their order); the writer runs each returned protocol.Pending in the same order
// and writes its response, sending each before it runs the next. Up to
// maxInFlight responses may be pending, which lets pipelined produce requests
// share one fsync.
package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/bits"
	"net"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/metrics"
	"github.com/tributary/tributary/internal/protocol"
	"github.com/tributary/tributary/internal/security"
)

const maxInFlight = 64

// maxKeptBuffer is the largest response buffer a connection keeps for reuse.
const maxKeptBuffer = 64 << 20

// sizeHint estimates a response's encoded size so the buffer is grown once:
// fetch responses carry megabytes of record data.
func sizeHint(resp kmsg.Response) int {
	f, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return 0
	}
	n := 64
	for i := range f.Topics {
		n += 64 + len(f.Topics[i].Topic)
		for j := range f.Topics[i].Partitions {
			n += 96 + len(f.Topics[i].Partitions[j].RecordBatches)
		}
	}
	return n
}

// Handler serves decoded requests.
type Handler interface {
	// Versions returns the range of key's versions served (ApiVersions
	// advertises exactly these); ok is false when key is not served.
	// Called on connection reader goroutines, concurrently.
	Versions(key int16) (min, max int16, ok bool)
	// Handle starts serving req; see protocol.Pending.
	Handle(ctx context.Context, req *protocol.Request) protocol.Pending
	// UnsupportedApiVersions answers an ApiVersions request whose version is
	// not served (KIP-511: a v0 response with UNSUPPORTED_VERSION).
	UnsupportedApiVersions() kmsg.Response
	// Written is called once resp has been encoded and sent; the handler may
	// recycle buffers resp refers to.
	Written(resp kmsg.Response)
}

// Options configure a Server.
type Options struct {
	MaxRequestBytes int32 // socket.request.max.bytes
	Logger          *slog.Logger
	// Now is the clock for rate-limiting refused-request warnings;
	// time.Now if nil.
	Now func() time.Time
	// Requests, if set, counts requests per API and version and times
	// each from its arrival to its response being written.
	Requests *metrics.Requests
	// Listener is the listener's name, reported to handlers in ConnInfo.
	Listener string
	// TLS, if set, wraps every connection (SSL and SASL_SSL listeners).
	TLS *tls.Config
	// PrincipalRules returns the rules that map a client certificate's
	// subject to the principal (ssl.principal.mapping.rules); nil, or nil
	// rules, is DEFAULT. It is called at every handshake with a client
	// certificate, on the connection's goroutine, and may change its
	// answer at any time (a dynamic config).
	PrincipalRules func() security.MappingRules
	// SASL, if set, makes clients authenticate before any request but
	// ApiVersions (SASL_PLAINTEXT and SASL_SSL listeners; sasl.go).
	SASL *security.Authenticator
	// FailedAuthDelay is connection.failed.authentication.delay.ms: how
	// long a failed authentication's answer and close are held back.
	FailedAuthDelay time.Duration
	// MaxReauth is connections.max.reauth.ms: the lifetime of a SASL
	// session before the client must re-authenticate (KIP-368); 0 never.
	MaxReauth time.Duration
	// Allow, if set, is asked for every accepted connection's source
	// address before any byte is read (allowed.cidrs): false closes the
	// connection at once and counts it in Requests. It is called on the
	// accept goroutine and may change its answer at any time (a dynamic
	// config).
	Allow func(remote net.Addr) bool
}

// handshakeTimeout bounds a TLS handshake, so a client that connects and
// sends nothing (or plaintext on a TLS port) does not hold a goroutine.
const handshakeTimeout = 10 * time.Second

// Server serves one listener.
type Server struct {
	h    Handler
	opts Options
	log  *slog.Logger

	mu     sync.Mutex // guards conns and closed
	conns  map[net.Conn]struct{}
	ln     net.Listener
	closed bool
	wg     sync.WaitGroup

	refused refusedLog
	authLog authFailLog
}

// New returns a server for h.
func New(h Handler, opts Options) *Server {
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = 100 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Server{h: h, opts: opts, log: opts.Logger, conns: map[net.Conn]struct{}{}, refused: refusedLog{now: opts.Now}, authLog: authFailLog{now: opts.Now}}
}

// Serve accepts connections on ln until Close or ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	go func() { // safe: only waits
		<-ctx.Done()
		s.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		if s.opts.Allow != nil && !s.opts.Allow(c.RemoteAddr()) {
			c.Close()
			s.opts.Requests.ConnectionRefused(s.opts.Listener)
			s.log.Debug("connection refused: source address not in allowed.cidrs", "listener", s.opts.Listener, "remote", c.RemoteAddr().String())
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(ctx, c) // safe: handle and run recover handler panics
	}
}

// Close stops accepting, closes every connection and waits for their
// goroutines to finish.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		if s.ln != nil {
			s.ln.Close()
		}
		for c := range s.conns {
			c.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

type pendingResp struct {
	key, version int16
	corrID       int32
	flexible     bool
	fn           protocol.Pending
	start        time.Time // arrival, for the request latency metric
	slot         int16     // the request's metrics slot (metrics.RequestSlot)
	// raw, when key is -1, is a raw SASL token to send (a v0 handshake's
	// exchange): a size and the bytes, no Kafka header.
	raw []byte
	// reqBuf is a produce request's frame, whose records the decoded
	// request aliases: returned to the pool once the response is
	// written (or, for acks=0, once handled), when nothing reads them.
	reqBuf []byte
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer s.wg.Done()
	info := &protocol.ConnInfo{Remote: c.RemoteAddr().String(), Local: c.LocalAddr().String(), Listener: s.opts.Listener, Principal: security.Anonymous}
	raw := c
	if s.opts.TLS != nil {
		tc, err := s.handshake(c, info)
		if err != nil {
			s.log.Debug("TLS handshake failed; closing connection", "listener", s.opts.Listener, "remote", info.Remote, "err", err)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			return
		}
		c = tc
	}
	ctx, cancel := context.WithCancel(ctx)
	m := &mute{}
	info.Mute = m.until
	queue := make(chan pendingResp, maxInFlight)
	writerDone := make(chan struct{})
	go func() { // safe: run recovers a Pending's panic
		defer close(writerDone)
		s.writeLoop(ctx, c, queue, cancel, m)
	}()
	err := s.readLoop(ctx, c, info, queue, m)
	close(queue)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		s.log.Debug("closing connection", "remote", info.Remote, "err", err)
	}
	<-writerDone
	cancel()
	c.Close()
	info.Closed()
	s.mu.Lock()
	delete(s.conns, raw)
	s.mu.Unlock()
}

// handshake runs the TLS handshake and takes the principal from the client
// certificate, if one was sent (ssl.client.auth=required|requested).
func (s *Server) handshake(c net.Conn, info *protocol.ConnInfo) (net.Conn, error) {
	tc := tls.Server(c, s.opts.TLS)
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	c.SetDeadline(time.Time{})
	if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
		var rules security.MappingRules
		if s.opts.PrincipalRules != nil {
			rules = s.opts.PrincipalRules()
		}
		if rules == nil {
			rules, _ = security.ParseMappingRules("")
		}
		name, err := rules.Apply(security.SubjectName(certs[0]))
		if err != nil {
			return nil, err
		}
		info.Principal = name
	}
	return tc, nil
}

// mute is a connection's KIP-219 throttle: the reader serves no request
// before the time it holds. The writer (after a throttled response) and
// the broker (ConnInfo.Mute, for acks=0) extend it; the reader waits it out.
type mute struct {
	end atomic.Int64 // unix nanos
}

// until mutes the connection for d from now, unless it already is longer.
func (m *mute) until(d time.Duration) {
	end := time.Now().Add(d).UnixNano()
	for {
		cur := m.end.Load()
		if cur >= end || m.end.CompareAndSwap(cur, end) {
			return
		}
	}
}

// wait blocks until the mute ends or ctx does.
func (m *mute) wait(ctx context.Context) error {
	d := time.Until(time.Unix(0, m.end.Load()))
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) readLoop(ctx context.Context, c net.Conn, info *protocol.ConnInfo, queue chan<- pendingResp, m *mute) error {
	r := bufio.NewReaderSize(c, 64<<10)
	var sizeBuf [4]byte
	var sc *saslConn
	if s.opts.SASL != nil {
		sc = &saslConn{auth: s.opts.SASL, delay: s.opts.FailedAuthDelay, maxReauth: s.opts.MaxReauth, now: s.opts.Now}
	}
	enqueue := func(pr pendingResp) error {
		select {
		case queue <- pr:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		if _, err := io.ReadFull(r, sizeBuf[:]); err != nil {
			return err
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		minSize, maxSize := int32(8), s.opts.MaxRequestBytes
		if sc != nil && !sc.authenticated() {
			maxSize = maxSASLReceive
			if sc.phase == saslRaw {
				minSize = 0
			}
		}
		if size < minSize || size > maxSize {
			return fmt.Errorf("request size %d out of range", size)
		}
		buf := getRequestBuf(int(size))
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		// A throttled connection is muted: its next request waits.
		if err := m.wait(ctx); err != nil {
			return err
		}
		if sc != nil && sc.phase == saslRaw {
			pr, err := s.saslRawToken(sc, buf, info)
			if qerr := enqueue(pr); qerr != nil {
				return qerr
			}
			if err != nil {
				return err
			}
			continue
		}
		start := time.Now()
		req, pr, err := s.decode(buf, info)
		if err != nil {
			return err
		}
		pr.start, pr.slot = start, pr.key
		if req != nil && pr.key == kmsg.Produce.Int16() {
			pr.reqBuf = buf // the records alias it; recycled once answered
		}
		if req != nil {
			pr.slot = metrics.RequestSlot(pr.key, req.Msg)
		}
		s.opts.Requests.Received(pr.slot, pr.version)
		if sc != nil && sc.authenticated() && req != nil {
			// KIP-368: a SaslHandshake re-authenticates; any other
			// request after the session's lifetime closes the connection.
			if _, ok := req.Msg.(*kmsg.SASLHandshakeRequest); ok {
				sc.startReauth()
			} else if sc.expired() {
				s.log.Debug("closing connection", "listener", info.Listener, "remote", info.Remote, "principal", info.Principal, "err", errSessionExpired)
				return errSessionExpired
			}
		}
		if sc != nil && !sc.authenticated() && req != nil {
			handled, err := s.saslRequest(sc, req, &pr, info)
			if handled {
				if qerr := enqueue(pr); qerr != nil {
					return qerr
				}
			}
			if err != nil {
				return err
			}
			if handled {
				continue
			}
		}
		if pr.fn == nil {
			pr.fn = s.handle(ctx, req)
		}
		if pr.fn == nil { // acks=0
			putRequestBuf(pr.reqBuf)
			s.opts.Requests.Done(pr.slot, start)
			continue
		}
		select {
		case queue <- pr:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// handle calls the handler, turning a panic into a closed connection.
func (s *Server) handle(ctx context.Context, req *protocol.Request) (p protocol.Pending) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in handler", "api", kmsg.NameForKey(req.Key), "version", req.Version, "panic", v, "stack", string(debug.Stack()))
			p = func() kmsg.Response { panic(errHandlerPanic) }
		}
	}()
	return s.h.Handle(ctx, req)
}

var errHandlerPanic = errors.New("handler panicked")

// decode parses the request header and body. A request for an ApiVersions
// version we do not serve is answered per KIP-511; any other unknown key or
// version closes the connection, as Kafka does, and is logged at WARN
// (see refusedLog).
func (s *Server) decode(buf []byte, info *protocol.ConnInfo) (*protocol.Request, pendingResp, error) {
	key := int16(binary.BigEndian.Uint16(buf[0:]))
	version := int16(binary.BigEndian.Uint16(buf[2:]))
	corrID := int32(binary.BigEndian.Uint32(buf[4:]))
	pr := pendingResp{key: key, version: version, corrID: corrID}
	rest := buf[8:]
	// Nullable client id (int16 length), present in header v1 and v2 (every
	// request we could serve; header v0 is ControlledShutdown v0 only).
	if len(rest) < 2 {
		return nil, pr, errors.New("truncated request header")
	}
	var clientID *string
	n := int16(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if n >= 0 {
		if int(n) > len(rest) {
			return nil, pr, errors.New("truncated client id")
		}
		id := string(rest[:n])
		clientID = &id
		rest = rest[n:]
	}
	msg := kmsg.RequestForKey(key)
	if msg == nil {
		s.refused.note(s.log, info, clientID, key, version, "none")
		return nil, pr, fmt.Errorf("unknown api key %d", key)
	}
	if lo, hi, ok := s.h.Versions(key); !ok || version < lo || version > hi {
		if key == kmsg.ApiVersions.Int16() {
			pr.version = 0
			resp := s.h.UnsupportedApiVersions()
			pr.fn = func() kmsg.Response { return resp }
			return nil, pr, nil
		}
		served := "none"
		if ok {
			served = fmt.Sprintf("%d-%d", lo, hi)
		}
		s.refused.note(s.log, info, clientID, key, version, served)
		return nil, pr, fmt.Errorf("unsupported version %d of %s", version, kmsg.NameForKey(key))
	}
	msg.SetVersion(version)
	pr.flexible = msg.IsFlexible()
	if pr.flexible {
		var err error
		if rest, err = skipTags(rest); err != nil {
			return nil, pr, err
		}
	}
	if err := msg.ReadFrom(rest); err != nil {
		return nil, pr, fmt.Errorf("decoding %s v%d: %w", kmsg.NameForKey(key), version, err)
	}
	return &protocol.Request{Key: key, Version: version, CorrelationID: corrID, ClientID: clientID, Msg: msg, Conn: info, Size: len(buf) + 4}, pr, nil
}

// skipTags skips a tagged-field section: uvarint count, then per field a
// uvarint tag, a uvarint size and that many bytes.
func skipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, errors.New("bad tagged field count")
	}
	b = b[n:]
	for i := uint64(0); i < count; i++ {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, errors.New("bad tag")
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, errors.New("bad tagged field size")
		}
		b = b[n+int(size):]
	}
	return b, nil
}

func (s *Server) writeLoop(ctx context.Context, c net.Conn, queue <-chan pendingResp, cancel context.CancelFunc, m *mute) {
	w := bufio.NewWriterSize(c, 64<<10)
	var buf []byte
	failed := false
	for pr := range queue {
		if failed {
			continue // drain so the reader never blocks
		}
		if pr.key == -1 { // a raw SASL token; nil after a failure
			if _, ok := s.run(pr); !ok || pr.raw == nil {
				continue
			}
			resp := binary.BigEndian.AppendUint32(nil, uint32(len(pr.raw)))
			if _, err := w.Write(append(resp, pr.raw...)); err != nil || w.Flush() != nil {
				failed = true
				cancel()
				c.Close()
			}
			continue
		}
		resp, ok := s.run(pr)
		if !ok {
			failed = true
			cancel()
			c.Close()
			continue
		}
		if resp == nil {
			continue
		}
		resp.SetVersion(pr.version)
		// Quota throttling (KIP-219): the connection is muted for the
		// throttle time; a version whose client does not throttle itself
		// gets its response only after that time, as Kafka delays it.
		if t, ok := resp.(kmsg.ThrottleResponse); ok {
			if ms, after := t.Throttle(); ms > 0 {
				d := time.Duration(ms) * time.Millisecond
				m.until(d)
				if !after {
					if err := w.Flush(); err != nil {
						s.h.Written(resp) // never sent: forget its splices
						failed = true
						cancel()
						c.Close()
						continue
					}
					t := time.NewTimer(d) // the connection may close meanwhile
					select {
					case <-t.C:
					case <-ctx.Done():
					}
					t.Stop()
				}
			}
		}
		if n := sizeHint(resp); cap(buf) < n {
			buf = make([]byte, 0, n)
		}
		buf = append(buf[:0], 0, 0, 0, 0)
		buf = binary.BigEndian.AppendUint32(buf, uint32(pr.corrID))
		// Response header v1 carries tagged fields, except for ApiVersions,
		// whose response header is always v0.
		if pr.flexible && pr.key != kmsg.ApiVersions.Int16() {
			buf = append(buf, 0)
		}
		var splices []protocol.Splice
		if sp, ok := s.h.(protocol.Splicer); ok {
			splices = sp.Splices(resp)
		}
		buf = resp.AppendTo(buf)
		s.h.Written(resp)
		var err error
		if len(splices) > 0 {
			err = writeSpliced(w, c, buf, splices, pr.flexible)
		} else {
			binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
			_, err = w.Write(buf)
		}
		if err != nil {
			failed = true
			cancel()
			c.Close()
			continue
		}
		putRequestBuf(pr.reqBuf)
		s.opts.Requests.Done(pr.slot, pr.start)
		// Every response is sent before the next Pending runs: that one
		// may block (an acks=all produce waits for fsync and the ISR, a
		// fetch long-polls), and a response left in the buffer meanwhile
		// would wait with it. Flushing only when the queue was empty held
		// each pipelined acks=all produce response until the next request
		// was answered too (5.4 ms median, 20 ms p99 at 86k records/s with
		// RF=3, an idempotent producer keeping 5 requests in flight).
		if err := w.Flush(); err != nil {
			failed = true
			cancel()
			c.Close()
		}
		if cap(buf) > maxKeptBuffer {
			buf = nil // do not pin very large buffers on an idle connection
		}
	}
}

// writeSpliced writes the encoded response frame buf (its size field not
// yet set) with each splice's bytes in place of its marker: the field's
// length prefix is rewritten for the real length (an int32, or a compact
// uvarint of length+1 in flexible versions) and the bytes come from
// WriteTo, given the connection itself when it is plaintext TCP (so a
// segment file goes out with sendfile) after the buffered part is
// flushed, else the buffered writer. A splice whose marker is not in buf
// (its partition was dropped from the response) is skipped.
func writeSpliced(w *bufio.Writer, c net.Conn, buf []byte, splices []protocol.Splice, flexible bool) error {
	type piece struct {
		from, to int // bytes of buf replaced: length prefix and marker
		prefix   [binary.MaxVarintLen32]byte
		nprefix  int // prefix[:nprefix] is the real length prefix
		sp       *protocol.Splice
	}
	pieces := make([]piece, 0, len(splices))
	total := int64(len(buf) - 4)
	const at = 4 // after the frame size
	from := at   // markers are mostly in splice order: look after the last
	for i := range splices {
		sp := &splices[i]
		j := bytes.Index(buf[from:], sp.Marker)
		if j >= 0 {
			j += from
		} else if j = bytes.Index(buf[at:from], sp.Marker); j >= 0 {
			j += at
		} else {
			continue
		}
		from = j + len(sp.Marker)
		var mp [binary.MaxVarintLen32]byte
		prefix := splicePrefix(mp[:0], int64(len(sp.Marker)), flexible)
		if j-len(prefix) < at || !bytes.Equal(buf[j-len(prefix):j], prefix) {
			return fmt.Errorf("spliced field at %d has no length prefix", j)
		}
		if sp.Len < 0 || sp.Len > math.MaxInt32 {
			return fmt.Errorf("splice of %d bytes", sp.Len)
		}
		p := piece{from: j - len(prefix), to: j + len(sp.Marker), sp: sp}
		p.nprefix = len(splicePrefix(p.prefix[:0], sp.Len, flexible))
		pieces = append(pieces, p)
		total += int64(p.nprefix) + sp.Len - int64(p.to-p.from)
	}
	// The response may list partitions in another order than they were
	// read (fetch sessions reorder them).
	slices.SortFunc(pieces, func(a, b piece) int { return a.from - b.from })
	if total > math.MaxInt32 {
		return fmt.Errorf("response of %d bytes", total)
	}
	binary.BigEndian.PutUint32(buf, uint32(total))
	tcp, _ := c.(*net.TCPConn)
	prev := 0
	for i := range pieces {
		p := &pieces[i] // not a copy: its prefix would escape per piece
		if _, err := w.Write(buf[prev:p.from]); err != nil {
			return err
		}
		if _, err := w.Write(p.prefix[:p.nprefix]); err != nil {
			return err
		}
		var dst io.Writer = w
		if tcp != nil {
			if err := w.Flush(); err != nil {
				return err
			}
			dst = tcp
		}
		n, err := p.sp.Src.WriteTo(dst)
		if err == nil && n != p.sp.Len {
			err = fmt.Errorf("spliced %d of %d bytes", n, p.sp.Len)
		}
		if err != nil {
			return err
		}
		prev = p.to
	}
	_, err := w.Write(buf[prev:])
	return err
}

// splicePrefix appends the length prefix of a bytes field of n bytes.
func splicePrefix(b []byte, n int64, flexible bool) []byte {
	if flexible {
		return binary.AppendUvarint(b, uint64(n)+1)
	}
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

// run calls a Pending, turning a panic into a failed connection.
func (s *Server) run(pr pendingResp) (resp kmsg.Response, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != errHandlerPanic {
				s.log.Error("panic producing response", "api", kmsg.NameForKey(pr.key), "version", pr.version, "panic", v, "stack", string(debug.Stack()))
			}
			resp, ok = nil, false
		}
	}()
	return pr.fn(), true
}

// Request frames of produce requests are recycled (Kafka clients send
// megabytes per second of them; allocating each was most of the broker's
// allocation). Frames of other requests are left to the GC: their decoded
// fields may be kept (group metadata, configs). The pools are by size
// class, four per power of two from 4 KiB to 128 MiB (a frame is at most
// a quarter larger than its request): a request takes a frame of its class
// or allocates one of the class's full size, so the frames of a producer
// whose requests vary in size (a request of a producer of 1,000 partitions
// carries a few hundred batches, 0.1 to 18 MB) are reused rather than
// dropped and allocated (and zeroed) again, and a small request never
// takes a large frame. Smaller and larger frames are allocated exactly and
// not pooled.
var requestPools [requestClasses]sync.Pool

const (
	minPooledShift   = 12 // 4 KiB
	maxPooledShift   = 27 // 128 MiB
	requestClasses   = (maxPooledShift-minPooledShift)*4 + 1
	minPooledRequest = 1 << minPooledShift
	maxPooledRequest = 1 << maxPooledShift
)

// requestClass is the pool of frames of at least n bytes and the size of
// its frames, or -1 outside the pooled sizes.
func requestClass(n int) (int, int) {
	if n < minPooledRequest || n > maxPooledRequest {
		return -1, 0
	}
	if n == minPooledRequest {
		return 0, n
	}
	k := bits.Len(uint(n - 1)) // 1<<(k-1) < n <= 1<<k
	step := 1 << (k - 3)       // a quarter of 1<<(k-1)
	j := (n - 1<<(k-1) + step - 1) / step
	return (k-1-minPooledShift)*4 + j, 1<<(k-1) + j*step
}

func getRequestBuf(n int) []byte {
	c, size := requestClass(n)
	if c < 0 {
		return make([]byte, n)
	}
	if p, ok := requestPools[c].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, size)
}

func putRequestBuf(b []byte) {
	c, size := requestClass(cap(b))
	if c < 0 || cap(b) != size {
		return
	}
	requestPools[c].Put(&b)
}
