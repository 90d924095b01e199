package metadata

import (
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

// mux accepts on the controller listener and routes connections.
type mux struct {
	ln     net.Listener
	raftCh chan net.Conn
	rpcCh  chan net.Conn
	done   chan struct{}
	once   sync.Once
}

func newMux(ln net.Listener) *mux {
	m := &mux{ln: ln, raftCh: make(chan net.Conn, 16), rpcCh: make(chan net.Conn, 16), done: make(chan struct{})}
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

func dialMux(addr string, kind byte, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
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
		c, err := dialMux(string(addr), muxRaft, time.Until(deadline))
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
