package cloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tributary/tributary/internal/console"
	"github.com/tributary/tributary/internal/safe"
	"github.com/tributary/tributary/internal/security"
)

// ServerConfig configures `trib cloud serve`.
type ServerConfig struct {
	Listen  string
	DataDir string
	// Store is "sqlite" (default: <DataDir>/cloud.db) or a postgres:// URL.
	Store string
	// Binary is the trib executable brokers run (default: this one).
	Binary string
	// VersionBinaries adds versions to the catalog, each run by its own
	// trib build (an upgrade restarts the brokers onto it).
	VersionBinaries map[string]string
	// BrokerSettings are broker configs (KEY=VALUE) every broker gets.
	BrokerSettings []string
	// SchemaRegistry is a Schema Registry URL the console decodes
	// wire-format records with (optional).
	SchemaRegistry string
	Catalog        Catalog
	Logger         *slog.Logger
	Poll           time.Duration
	// RollTimeout is how long a rolling restart waits for a restarted
	// broker to be back before it stops and fails (default 5 minutes).
	RollTimeout time.Duration
	// ReassignThrottle bounds a resize's replica copies (bytes/s per
	// leader; 0: unthrottled).
	ReassignThrottle int64
}

// Server is a running control plane: store, reconciler and HTTP API.
type Server struct {
	// AdminToken is the admin token made on first start ("" otherwise).
	AdminToken string

	ln      net.Listener
	srv     *http.Server
	svc     *Service
	console *console.Console
	store   Store
	cancel  context.CancelFunc
	done    chan struct{}
}

// StorePath is the SQLite store's file in a data dir.
func StorePath(dataDir string) string { return filepath.Join(dataDir, "cloud.db") }

// Start opens the store in cfg.DataDir (creating it), makes the admin
// token on first start, starts the reconciler and serves the API.
func Start(ctx context.Context, cfg ServerConfig) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, cfg.Store, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	token, err := EnsureAdminToken(ctx, st, cfg.DataDir)
	if err != nil {
		st.Close()
		return nil, err
	}
	if cfg.Catalog.MaxNodes == 0 {
		cfg.Catalog = DefaultCatalog()
	}
	for _, v := range slices.Sorted(maps.Keys(cfg.VersionBinaries)) {
		if !slices.Contains(cfg.Catalog.Versions, v) {
			cfg.Catalog.Versions = append(cfg.Catalog.Versions, v)
		}
	}
	prov, err := NewLocalProvisioner(LocalConfig{Binary: cfg.Binary, Binaries: cfg.VersionBinaries, Root: filepath.Join(cfg.DataDir, "clusters"),
		Settings: cfg.BrokerSettings, Logger: cfg.Logger})
	if err != nil {
		st.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		st.Close()
		return nil, err
	}
	svc := New(Config{Store: st, Provisioner: prov, Catalog: cfg.Catalog, Logger: cfg.Logger, Poll: cfg.Poll, RollTimeout: cfg.RollTimeout, ReassignThrottle: cfg.ReassignThrottle})
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{AdminToken: token, ln: ln, svc: svc, store: st, cancel: cancel, done: make(chan struct{})}
	s.console = console.New(console.Config{API: Handler(svc, st, cfg.Logger), Logger: cfg.Logger, SchemaRegistry: cfg.SchemaRegistry,
		PreviewACLs: func(user string, acl []console.UserACL) []string {
			u := User{Name: user, Role: RoleNormal}
			for _, a := range acl {
				u.ACL = append(u.ACL, UserACL{Topic: a.Topic, Permission: a.Permission})
			}
			var out []string
			for _, b := range compileACLs(u, []string{"*"}) {
				out = append(out, security.ACL{ResourceType: security.ResourceType(b.ResourceType), ResourceName: b.Name,
					PatternType: security.PatternType(b.Pattern), Principal: b.Principal, Host: b.Host,
					Operation: security.Operation(b.Operation), Permission: security.Permission(b.Permission)}.String())
			}
			return out
		},
		AuditLog: func(ctx context.Context, limit int) ([]console.AuditEntry, error) {
			rs, err := st.AuditLog(ctx, limit)
			var out []console.AuditEntry
			for _, r := range rs {
				out = append(out, console.AuditEntry{Time: r.Time, Token: r.TokenName, Method: r.Method, Path: r.Path, Status: r.Status})
			}
			return out, err
		},
		Nodes: func(ctx context.Context, id string) ([]console.Node, error) {
			nodes, err := svc.Nodes(ctx, id)
			var out []console.Node
			for _, n := range nodes {
				out = append(out, console.Node{ID: n.NodeID, Listen: n.Listen, Admin: n.Admin})
			}
			return out, err
		},
		Authenticate: func(ctx context.Context, secret string) (console.Identity, error) {
			t, err := st.TokenByHash(ctx, hashToken(secret))
			if errors.Is(err, errNoRow) {
				return console.Identity{}, console.ErrBadToken
			}
			return console.Identity{Name: t.Name, Write: t.allows(ScopeWrite)}, err
		},
		Audit: func(ctx context.Context, secret, method, path string, status int) {
			t, err := st.TokenByHash(ctx, hashToken(secret))
			if err == nil {
				err = st.Audit(context.WithoutCancel(ctx), t.ID, method, path, status)
			}
			if err != nil {
				cfg.Logger.Error("audit log write failed", "err", err, "method", method, "path", path)
			}
		}})
	s.srv = &http.Server{Handler: Root(Handler(svc, st, cfg.Logger), s.console), ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	reconciled := make(chan struct{})
	safe.Go(cfg.Logger, "cloud reconciler", func() {
		defer close(reconciled)
		svc.Run(rctx)
	})
	safe.Go(cfg.Logger, "cloud http", func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("cloud API server stopped", "err", err)
		}
		cancel()
		<-reconciled
	})
	return s, nil
}

// Root serves the API under /v2/ and the web console at every other path.
func Root(api, console http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v2/", api)
	mux.Handle("/", console)
	return mux
}

// URL is the API's base URL.
func (s *Server) URL() string { return fmt.Sprintf("http://%s", s.ln.Addr()) }

// Done is closed when the server has stopped.
func (s *Server) Done() <-chan struct{} { return s.done }

// Close stops the API and the reconciler. The brokers keep running: a
// control plane restarted on the same data dir adopts them.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	s.cancel()
	<-s.done
	s.svc.Close()
	s.console.Close()
	return errors.Join(err, s.store.Close())
}
