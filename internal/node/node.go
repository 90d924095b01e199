// Package node runs one Tributary broker: it opens the broker's data dir,
// listens, and serves the Kafka protocol until stopped. It is what
// `trib broker`, `trib dev` and in-process integration tests start.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/tributary/tributary/internal/broker"
	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/server"
)

// Config configures a node.
type Config struct {
	NodeID  int32
	DataDir string
	// Listen is host:port; port 0 picks a free port.
	Listen string
	// Advertise is the host:port clients are told; empty means the
	// listener's address.
	Advertise string
	// Settings are broker configs by Kafka name (flag, env and file merged).
	Settings map[string]string
	Logger   *slog.Logger
}

// Node is a running broker.
type Node struct {
	Broker *broker.Broker
	srv    *server.Server
	ln     net.Listener
	addr   string
	done   chan error
	cancel context.CancelFunc
}

// Start opens the data dir and starts serving.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	bcfg, err := config.NewBroker(cfg.Settings)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	adv := cfg.Advertise
	if adv == "" {
		adv = ln.Addr().String()
	}
	host, portStr, err := net.SplitHostPort(adv)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("advertised address %q: %w", adv, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("advertised port %q: %w", portStr, err)
	}
	b, err := broker.New(broker.Config{NodeID: cfg.NodeID, DataDir: cfg.DataDir, Host: host, Port: int32(port), Broker: bcfg, Logger: cfg.Logger})
	if err != nil {
		ln.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	n := &Node{
		Broker: b,
		srv:    server.New(b, server.Options{MaxRequestBytes: int32(bcfg.Int("socket.request.max.bytes")), Logger: cfg.Logger}),
		ln:     ln,
		addr:   ln.Addr().String(),
		done:   make(chan error, 1),
		cancel: cancel,
	}
	go func() { n.done <- n.srv.Serve(ctx, ln) }()
	cfg.Logger.Info("broker started", "node_id", cfg.NodeID, "listen", n.addr, "advertise", adv, "data_dir", cfg.DataDir, "cluster_id", b.ClusterID())
	return n, nil
}

// Addr is the listening address.
func (n *Node) Addr() string { return n.addr }

// Close stops serving, closes connections, then flushes and closes logs.
func (n *Node) Close() error {
	n.cancel()
	n.srv.Close()
	err := <-n.done
	n.done <- nil // later Close calls return at once
	if cerr := n.Broker.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return err
}
