package metadata

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/raft"

	"github.com/tributary/tributary/internal/safe"
)

// The controller listener carries two protocols, told apart by the first
// byte of each connection: Raft's transport, and the controller RPC that
// brokers use to forward commands and heartbeat.
const (
	muxRaft byte = 'R'
	muxRPC  byte = 'C'
)

// mux accepts on the controller listener and routes connections. With
// TLS (a controller listener on SSL), every connection is mutual TLS
// before its first byte: the server verifies the dialer's certificate
// against its truststore and the dialer the server's, so only holders of
// a certificate the cluster's CA signed speak Raft or the controller RPC.
type mux struct {
	ln        net.Listener
	serverTLS *tls.Config // nil: PLAINTEXT
	clientTLS *tls.Config
	raftCh    chan net.Conn
	rpcCh     chan net.Conn
	done      chan struct{}
	once      sync.Once
}

// quorumHandshakeTimeout bounds a TLS handshake on the controller listener.
const quorumHandshakeTimeout = 10 * time.Second

func newMux(ln net.Listener, serverTLS, clientTLS *tls.Config) *mux {
	m := &mux{ln: ln, serverTLS: serverTLS, clientTLS: clientTLS, raftCh: make(chan net.Conn, 16), rpcCh: make(chan net.Conn, 16), done: make(chan struct{})}
	go safe.Run(nil, "controller-listener", m.loop)
	return m
}

func (m *mux) loop() {
	for {
		c, err := m.ln.Accept()
		if err != nil {
			m.close()
			return
		}
		safe.Go(nil, "controller-conn", func() {
			if m.serverTLS != nil {
				tc := tls.Server(c, m.serverTLS)
				tc.SetDeadline(time.Now().Add(quorumHandshakeTimeout))
				if err := tc.Handshake(); err != nil {
					c.Close()
					return
				}
				tc.SetDeadline(time.Time{})
				c = tc
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			var b [1]byte
			if _, err := c.Read(b[:]); err != nil {
				c.Close()
				return
			}
			c.SetReadDeadline(time.Time{})
			var ch chan net.Conn
			switch b[0] {
			case muxRaft:
				ch = m.raftCh
			case muxRPC:
				ch = m.rpcCh
			default:
				c.Close()
				return
			}
			select {
			case ch <- c:
			case <-m.done:
				c.Close()
			}
		})

	}
}

func (m *mux) close() {
	m.once.Do(func() {
		close(m.done)
		m.ln.Close()
	})
}

var errMuxClosed = errors.New("controller listener closed")

func (m *mux) accept(ch chan net.Conn) (net.Conn, error) {
	select {
	case c := <-ch:
		return c, nil
	case <-m.done:
		return nil, errMuxClosed
	}
}

// dial connects to a controller listener for kind (muxRaft, muxRPC), over
// mutual TLS when the quorum uses it.
func (m *mux) dial(addr string, kind byte, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if m.clientTLS != nil {
		cfg := m.clientTLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(c, cfg)
		tc.SetDeadline(time.Now().Add(min(timeout, quorumHandshakeTimeout)))
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, err
		}
		tc.SetDeadline(time.Time{})
		c = tc
	}
	if _, err := c.Write([]byte{kind}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// raftLayer is a raft.StreamLayer over the mux.
type raftLayer struct {
	m         *mux
	advertise net.Addr
	stop      <-chan struct{} // closed when the quorum member stops
}

func (l *raftLayer) Accept() (net.Conn, error) { return l.m.accept(l.m.raftCh) }
func (l *raftLayer) Close() error              { l.m.close(); return nil }
func (l *raftLayer) Addr() net.Addr            { return l.advertise }

// Dial connects to a peer, retrying a refused connection (the peer is down
// or restarting) until timeout. hashicorp/raft backs a follower's
// replication off exponentially per failed attempt, up to ~10s; failing fast
// while a peer restarts piled up failures, and a restarted broker then
// waited seconds for the metadata log (and to be ready) after it was back.
func (l *raftLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(timeout)
	for {
		c, err := l.m.dial(string(addr), muxRaft, time.Until(deadline))
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || time.Until(deadline) < 100*time.Millisecond {
			return c, err
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-l.stop:
			return nil, err
		case <-l.m.done:
			return nil, err
		}
	}
}
