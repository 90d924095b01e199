// Package tests holds integration tests: they start real brokers (in-process
// nodes, or the trib binary) and talk to them with real Kafka clients.
package tests

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/node"
)

// startNode starts an in-process broker on a free loopback port with its data
// in dir (a fresh temp dir if empty). It is closed when the test ends.
func startNode(t testing.TB, dir string, settings map[string]string) *node.Node {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	n, err := node.Start(context.Background(), node.Config{
		NodeID: 1, DataDir: dir, Listen: "127.0.0.1:0", Settings: settings,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// noRebalanceDelay are settings for a node whose groups get their first
// assignment at once rather than after group.initial.rebalance.delay.ms
// (Kafka's default, 3 s): for tests of clients and services that form
// groups (Connect workers, the registry's writer election, consumers),
// where the delay is only waiting.
func noRebalanceDelay() map[string]string {
	return map[string]string{"group.initial.rebalance.delay.ms": "0"}
}

func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func newAdmin(t testing.TB, addr string) *kadm.Client {
	return kadm.NewClient(newClient(t, addr))
}
