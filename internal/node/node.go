// Package node runs one Tributary node: its member of the metadata quorum
// (a Raft voter or observer), its broker, and the Kafka listener. It is what
// `trib broker`, `trib dev` and in-process integration tests start.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tributary/tributary/internal/broker"
	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/metrics"
	"github.com/tributary/tributary/internal/server"
)

// Config configures a node.
type Config struct {
	NodeID  int32
	DataDir string
	// Listen is the Kafka listener host:port; port 0 picks a free port.
	Listen string
	// Listeners are the Kafka listeners with their security protocols
	// (config.Layout's); empty means one PLAINTEXT listener on Listen,
	// advertised as Advertise.
	Listeners []config.BrokerListener
	// InterBrokerListener names the listener registered as the broker's
	// address, which followers fetch from; empty means the first.
	InterBrokerListener string
	// Advertise is the host:port clients are told; empty means the
	// listener's address.
	Advertise string
	// ControllerListen is the quorum listener (Raft and controller RPC);
	// empty picks a free port on the Kafka listener's host.
	ControllerListen string
	// Controllers maps voter ids to controller addresses; empty makes this
	// node a single-voter cluster of its own.
	Controllers map[int32]string
	// ControllerAdvertise is the quorum address other nodes dial; empty
	// means this node's entry in Controllers, else the bound address.
	ControllerAdvertise string
	// ControllerName and ControllerProtocol are the controller listener's
	// name and security protocol (config.Layout's): SSL makes the quorum's
	// transport mutual TLS with that listener's ssl.* keys; empty is
	// PLAINTEXT.
	ControllerName, ControllerProtocol string
	// MetadataDir holds __cluster_metadata-0 (metadata.log.dir); empty
	// means DataDir.
	MetadataDir string
	// Settings are broker configs by Kafka name, used when Broker is nil.
	Settings map[string]string
	// Broker is the loaded broker configuration (config.Load with its
	// origins); nil builds one from Settings.
	Broker *config.Broker
	Logger *slog.Logger
	// ReadyTimeout bounds the wait for the quorum and registration.
	ReadyTimeout time.Duration
}

// Node is a running node.
type Node struct {
	Broker    *broker.Broker
	Quorum    *metadata.Quorum
	listeners []*listener
	addr      string // the inter-broker listener's bound address
	log       *slog.Logger
	done      chan error
	cancel    context.CancelFunc
	closed    bool
	// Metrics and the admin listener (admin.listen); nil when it is off.
	Metrics *metrics.Metrics
	admin   *metrics.Admin
	obs     *observer
}

// Start joins the quorum, opens the broker, waits until it is registered
// and has caught up with the metadata, and starts serving clients.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	bcfg := cfg.Broker
	if bcfg == nil {
		// The node's identity as settings too, so DescribeConfigs on the
		// broker resource reports it.
		settings := maps.Clone(cfg.Settings)
		if settings == nil {
			settings = map[string]string{}
		}
		if _, ok := settings["node.id"]; !ok {
			settings["node.id"] = strconv.Itoa(int(cfg.NodeID))
		}
		if _, ok := settings["log.dirs"]; !ok && cfg.DataDir != "" {
			settings["log.dirs"] = cfg.DataDir
		}
		var err error
		if bcfg, err = config.NewBroker(settings); err != nil {
			return nil, err
		}
	}
	if len(cfg.Listeners) == 0 {
		cfg.Listeners = []config.BrokerListener{{Name: "PLAINTEXT", Protocol: "PLAINTEXT", Listen: cfg.Listen, Advertise: cfg.Advertise}}
	}
	inter := cfg.InterBrokerListener
	if inter == "" {
		inter = cfg.Listeners[0].Name
	}
	var lns []*listener
	fail := func(err error, closers ...func() error) (*Node, error) {
		for _, c := range closers {
			c()
		}
		for _, l := range lns {
			l.ln.Close()
		}
		return nil, err
	}
	var il *listener // the inter-broker listener
	for _, spec := range cfg.Listeners {
		l, err := openListener(spec, bcfg, cfg.Logger)
		if err != nil {
			return fail(err)
		}
		lns = append(lns, l)
		if spec.Name == inter {
			il = l
		}
	}
	if il == nil {
		return fail(fmt.Errorf("inter-broker listener %s is not among the listeners", inter))
	}
	interTLS, interSASL, err := il.clientSecurity(bcfg)
	if err != nil {
		return fail(err)
	}
	interClient := clientOpts(interTLS, interSASL)
	ln, adv := il.ln, il.advertise
	host, portStr, err := net.SplitHostPort(adv)
	if err != nil {
		return fail(fmt.Errorf("advertised address %q: %w", adv, err))
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fail(fmt.Errorf("advertised port %q: %w", portStr, err))
	}
	var endpoints []metadata.Endpoint
	for _, l := range lns {
		h, p, _ := net.SplitHostPort(l.advertise)
		pn, _ := strconv.Atoi(p)
		endpoints = append(endpoints, metadata.Endpoint{Name: l.spec.Name, Host: h, Port: int32(pn)})
	}
	ctlListen := cfg.ControllerListen
	if ctlListen == "" {
		if addr, ok := cfg.Controllers[cfg.NodeID]; ok {
			ctlListen = addr
		} else {
			h, _, _ := net.SplitHostPort(ln.Addr().String())
			ctlListen = net.JoinHostPort(h, "0")
		}
	}
	ctlAdv := cfg.ControllerAdvertise
	if ctlAdv == "" {
		ctlAdv = cfg.Controllers[cfg.NodeID]
	}
	if h, p, err := net.SplitHostPort(ctlListen); ctlAdv == "" && err == nil && isUnspecified(h) {
		// A quorum listener on every interface (a broker-only node on a
		// wildcard Kafka listener) is dialled at the advertised Kafka
		// host; a free port is chosen now so it can be advertised.
		if p == "0" {
			probe, err := net.Listen("tcp", ctlListen)
			if err != nil {
				return fail(fmt.Errorf("controller listener: %w", err))
			}
			_, p, _ = net.SplitHostPort(probe.Addr().String())
			probe.Close()
			ctlListen = net.JoinHostPort(h, p)
		}
		ctlAdv = net.JoinHostPort(host, p)
	}
	metaDir := cfg.MetadataDir
	if metaDir == "" {
		metaDir = cfg.DataDir
	}
	qcfg := metadata.QuorumConfig{
		NodeID: cfg.NodeID, Dir: filepath.Join(metaDir, "__cluster_metadata-0"), Listen: ctlListen, Advertise: ctlAdv,
		Voters:            cfg.Controllers,
		SessionTimeout:    time.Duration(bcfg.Int("broker.session.timeout.ms")) * time.Millisecond,
		HeartbeatInterval: time.Duration(bcfg.Int("broker.heartbeat.interval.ms")) * time.Millisecond,
		Logger:            cfg.Logger,
	}
	if cfg.ControllerProtocol == "SSL" {
		if qcfg.TLS, qcfg.ClientTLS, err = quorumTLS(bcfg, cfg.ControllerName, cfg.Logger); err != nil {
			return fail(err)
		}
	}
	if bcfg.Bool("auto.leader.rebalance.enable") {
		qcfg.LeaderRebalanceInterval = time.Duration(bcfg.Int("leader.imbalance.check.interval.seconds")) * time.Second
	}
	q, err := metadata.StartQuorum(qcfg)
	if err != nil {
		return fail(err)
	}
	bc := broker.Config{NodeID: cfg.NodeID, DataDir: cfg.DataDir, Host: host, Port: int32(port),
		Rack: bcfg.Get("broker.rack"), Broker: bcfg, Logger: cfg.Logger, Quorum: q,
		Endpoints: endpoints, InterBrokerClient: interClient, InterBrokerTLS: interTLS, InterBrokerSASL: interSASL}
	obs := newObserver(bcfg, cfg.Logger)
	if obs != nil {
		bc.OnFsync = obs.m.ObserveFsync
	}
	b, err := broker.New(bc)
	if err != nil {
		return fail(err, q.Close)
	}
	if obs != nil {
		// The admin listener answers from here on: /readyz says why the
		// broker is not ready while it starts.
		if err := obs.start(b); err != nil {
			return fail(err, b.Close, q.Close)
		}
	}
	rctx, rcancel := context.WithTimeout(ctx, cfg.ReadyTimeout)
	err = b.WaitReady(rctx)
	rcancel()
	if err == nil {
		err = b.StartGroups()
	}
	if err != nil {
		return fail(err, obs.close, b.Close, q.Close)
	}
	sctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		Broker:    b,
		Quorum:    q,
		listeners: lns,
		addr:      ln.Addr().String(),
		log:       cfg.Logger,
		done:      make(chan error, len(lns)),
		cancel:    cancel,
	}
	for _, l := range lns {
		if l.auth != nil {
			l.auth.Creds = b
		}
		l.srv = server.New(b, server.Options{MaxRequestBytes: int32(bcfg.Int("socket.request.max.bytes")), Logger: cfg.Logger,
			Requests: obs.requests(), Listener: l.spec.Name, TLS: l.tls, PrincipalRules: rulesFunc(b, l.spec.Name, l.rules),
			SASL: l.auth, FailedAuthDelay: time.Duration(bcfg.Int("connection.failed.authentication.delay.ms")) * time.Millisecond,
			MaxReauth: time.Duration(l.maxReauth) * time.Millisecond, Allow: allowFunc(b, l.spec.Name)})
	}
	for _, l := range lns {
		// safe: the accept loop; the server recovers each handler's panic.
		go func() { n.done <- l.srv.Serve(sctx, l.ln) }()
	}
	if obs != nil {
		n.Metrics, n.admin, n.obs = obs.m, obs.admin, obs
		obs.serving(n.addr, interClient)
	}
	for _, l := range lns {
		cfg.Logger.Info("broker started", "node_id", cfg.NodeID, "listener", l.spec.Name, "security_protocol", l.spec.Protocol,
			"listen", l.ln.Addr().String(), "advertise", l.advertise, "controller", q.Addr(), "data_dir", cfg.DataDir, "cluster_id", b.ClusterID())
	}
	return n, nil
}

// Addr is the inter-broker Kafka listener's bound address.
func (n *Node) Addr() string { return n.addr }

// ListenerAddr is the bound address of the named listener, "" if there is
// none.
func (n *Node) ListenerAddr(name string) string {
	for _, l := range n.listeners {
		if l.spec.Name == name {
			return l.ln.Addr().String()
		}
	}
	return ""
}

// AdminAddr is the admin HTTP listener's address, "" when admin.listen is
// not set.
func (n *Node) AdminAddr() string {
	if n.admin == nil {
		return ""
	}
	return n.admin.Addr()
}

// Close does a controlled shutdown: leaderships move to other in-sync
// replicas and the controller role to another voter, then the listener,
// broker (flushing and closing logs) and quorum member stop.
func (n *Node) Close() error {
	if n.closed {
		return nil
	}
	n.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := n.Broker.ControlledShutdown(ctx); err != nil {
		n.log.Warn("controlled shutdown incomplete", "err", err)
	}
	cancel()
	n.obs.stopping() // /readyz answers not ready from here on
	n.Quorum.TransferLeadership()
	n.cancel()
	var err error
	for _, l := range n.listeners {
		l.srv.Close()
	}
	for range n.listeners {
		err = errors.Join(err, <-n.done)
	}
	err = errors.Join(err, n.Broker.Close(), n.Quorum.Close(), n.obs.close())
	return err
}

// Kill stops the node abruptly, as close to a crash as a process allows:
// no controlled shutdown and no leadership transfer. The node falls
// silent to the cluster first (broker loops halted, quorum member
// closed), then its listeners close and wait for the requests in flight,
// which may take up to their timeouts (offsets.commit.timeout.ms for an
// offset commit its followers can no longer replicate). For tests. A
// node already stopped (Close or Kill) is left as it is.
func (n *Node) Kill() {
	if n.closed {
		return
	}
	n.closed = true
	n.obs.close()
	n.cancel()
	n.Broker.Halt()
	n.Quorum.Close()
	for _, l := range n.listeners {
		l.srv.Close()
	}
	for range n.listeners {
		<-n.done
	}
	n.Broker.Close()
}

func isUnspecified(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || ip != nil && ip.IsUnspecified()
}
