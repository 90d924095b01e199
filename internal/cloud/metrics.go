package cloud

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sync"
	"time"

	"github.com/tributary/tributary/internal/safe"
)

// Metrics endpoints, as DigitalOcean offers them: every broker has a
// metrics endpoint (host:port, listed in the database's
// metrics_endpoints) that serves Prometheus text at /metrics behind HTTP
// basic auth, with one set of credentials for the whole installation
// (GET/PUT /v2/databases/metrics/credentials). The control plane serves
// each endpoint itself, a reverse proxy to the broker's admin listener
// (which has no auth and listens on loopback), so a credential change
// takes effect at once and the brokers need no restart. The reconciler
// opens an endpoint for every running broker and closes those of brokers
// that are gone.

// metricsCredsSetting is the settings row holding the credentials (JSON).
const metricsCredsSetting = "metrics_credentials"

// MetricsCredentials are the metrics endpoints' basic-auth credentials.
type MetricsCredentials struct {
	Username string `json:"basic_auth_username"`
	Password string `json:"basic_auth_password"`
}

var metricsUser = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,64}$`)

// MetricsCredentials returns the credentials, making them on first use.
func (s *Service) MetricsCredentials(ctx context.Context) (MetricsCredentials, error) {
	if err := installationWide(ctx); err != nil {
		return MetricsCredentials{}, err
	}
	fresh, _ := json.Marshal(MetricsCredentials{Username: "trib-metrics", Password: newPassword()})
	if err := s.cfg.Store.SetSetting(ctx, metricsCredsSetting, string(fresh), true); err != nil {
		return MetricsCredentials{}, err
	}
	v, err := s.cfg.Store.Setting(ctx, metricsCredsSetting)
	if err != nil {
		return MetricsCredentials{}, err
	}
	var c MetricsCredentials
	if err := json.Unmarshal([]byte(v), &c); err != nil {
		return MetricsCredentials{}, fmt.Errorf("store: metrics credentials: %w", err)
	}
	return c, nil
}

// UpdateMetricsCredentials replaces the credentials.
func (s *Service) UpdateMetricsCredentials(ctx context.Context, c MetricsCredentials) error {
	if err := installationWide(ctx); err != nil {
		return err
	}
	if !metricsUser.MatchString(c.Username) {
		return errorf(KindInvalid, "invalid basic_auth_username %q: 1 to 64 letters, digits, '.', '_' and '-'", c.Username)
	}
	if len(c.Password) < 8 || len(c.Password) > 256 {
		return errorf(KindInvalid, "basic_auth_password must have 8 to 256 characters")
	}
	b, _ := json.Marshal(c)
	return s.cfg.Store.SetSetting(ctx, metricsCredsSetting, string(b), false)
}

// metricsEndpoints runs the brokers' metrics endpoints.
//
// Concurrency: mu guards servers; ensure is called by the cluster
// workers (one per cluster, concurrently), closeAll once at shutdown.
type metricsEndpoints struct {
	s       *Service
	mu      sync.Mutex
	servers map[string]*metricsServer // by cluster id/node id
	lastErr map[string]string         // by cluster id: the last failure logged
}

// ensureLogged is ensure with a failure logged when it changes (it is
// retried every poll; it does not hold up the cluster's operations).
func (m *metricsEndpoints) ensureLogged(id string, nodes []Node) {
	err := m.ensure(id, nodes)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	m.mu.Lock()
	changed := m.lastErr[id] != msg
	m.lastErr[id] = msg
	m.mu.Unlock()
	if changed && err != nil {
		m.s.log.Warn("metrics endpoints", "cluster", id, "err", err)
	}
}

type metricsServer struct {
	addr, admin string
	srv         *http.Server
}

func nodeKey(n Node) string { return fmt.Sprintf("%s/%d", n.ClusterID, n.NodeID) }

// ensure makes the endpoints of cluster id exactly those of nodes (the
// running brokers): new ones are opened, those of other brokers closed.
// A port that cannot be bound is retried on the next call.
func (m *metricsEndpoints) ensure(id string, nodes []Node) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	want := map[string]Node{}
	for _, n := range nodes {
		if n.Metrics != "" {
			want[nodeKey(n)] = n
		}
	}
	for key, ms := range m.servers {
		n, ok := want[key]
		if cluster, _, _ := cutLast(key); cluster != id || (ok && n.Metrics == ms.addr && n.Admin == ms.admin) {
			continue
		}
		ms.srv.Close()
		delete(m.servers, key)
	}
	var errs []error
	for key, n := range want {
		if _, ok := m.servers[key]; ok {
			continue
		}
		ln, err := net.Listen("tcp", n.Metrics)
		if err != nil {
			errs = append(errs, fmt.Errorf("metrics endpoint of broker %d on %s: %w", n.NodeID, n.Metrics, err))
			continue
		}
		ms := &metricsServer{addr: n.Metrics, admin: n.Admin, srv: &http.Server{Handler: m.handler(n),
			ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}}
		m.servers[key] = ms
		safe.Go(m.s.log, "cloud metrics endpoint", func() {
			if err := ms.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				m.s.log.Warn("metrics endpoint stopped", "addr", ms.addr, "err", err)
			}
		})
	}
	return errors.Join(errs...)
}

// drop closes every endpoint of cluster id.
func (m *metricsEndpoints) drop(id string) {
	m.ensure(id, nil)
	m.mu.Lock()
	delete(m.lastErr, id)
	m.mu.Unlock()
}

func (m *metricsEndpoints) closeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, ms := range m.servers {
		ms.srv.Close()
		delete(m.servers, key)
	}
}

func cutLast(key string) (string, string, bool) {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '/' {
			return key[:i], key[i+1:], true
		}
	}
	return key, "", false
}

// handler serves /metrics of broker n behind the basic-auth credentials.
func (m *metricsEndpoints) handler(n Node) http.Handler {
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: n.Admin})
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
		http.Error(w, fmt.Sprintf("broker %d does not answer: %v", n.NodeID, err), http.StatusBadGateway)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			http.NotFound(w, r)
			return
		}
		creds, err := m.s.MetricsCredentials(r.Context())
		if err != nil {
			http.Error(w, "credentials unavailable", http.StatusServiceUnavailable)
			return
		}
		user, pw, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(creds.Username)) != 1 ||
			subtle.ConstantTimeCompare([]byte(pw), []byte(creds.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="trib metrics"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		r.Header.Del("Authorization")
		proxy.ServeHTTP(w, r)
	})
}
