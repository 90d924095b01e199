package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminConfig configures the admin HTTP listener (admin.listen).
type AdminConfig struct {
	// Addr is host:port; port 0 picks a free port. A bare ":port" binds
	// to localhost only: the listener is exposed beyond this host only
	// when a host (or 0.0.0.0) is named.
	Addr    string
	Metrics *Metrics
	// Ready returns the reasons this broker is not ready (none: ready).
	Ready  func() []string
	Logger *slog.Logger
}

// Admin is a running admin listener: /metrics, /healthz, /readyz and
// /v1/consumer-groups/lag.
type Admin struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// maxHeaderBytes bounds a request's header (query string included);
// larger requests get 431 from net/http.
const maxHeaderBytes = 16 << 10

// StartAdmin binds cfg.Addr and serves in the background.
func StartAdmin(cfg AdminConfig) (*Admin, error) {
	addr := cfg.Addr
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	a := &Admin{ln: ln, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Metrics.Registry, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		// Concurrent scrapes share one collection, so a burst of them
		// costs one snapshot of the broker.
		CoalesceGather: true,
		Timeout:        20 * time.Second,
		ErrorLog:       slogErrorLog{cfg.Logger},
		ErrorHandling:  promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		var reasons []string
		if cfg.Ready != nil {
			reasons = cfg.Ready()
		}
		if len(reasons) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			for _, r := range reasons {
				fmt.Fprintln(w, "not ready:", r)
			}
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /v1/consumer-groups/lag", func(w http.ResponseWriter, r *http.Request) {
		group := r.URL.Query().Get("group")
		lags := cfg.Metrics.Lag.Lags(cfg.Metrics.now().UnixMilli(), group)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(LagReport{Partitions: lags, Groups: groupStatuses(lags)})
	})
	a.srv = &http.Server{Handler: mux, MaxHeaderBytes: maxHeaderBytes, ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 2 * time.Minute, ErrorLog: nil}
	// safe: net/http recovers panics in handlers; Serve returns when the
	// listener closes.
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("admin listener stopped", "err", err)
		}
	}()
	return a, nil
}

// Addr is the bound address.
func (a *Admin) Addr() string { return a.ln.Addr().String() }

// Close stops the listener, letting requests in flight finish for up to
// a few seconds.
func (a *Admin) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := a.srv.Shutdown(ctx)
	if err != nil {
		err = a.srv.Close()
	}
	<-a.done
	return err
}

// LagReport is the body of /v1/consumer-groups/lag.
type LagReport struct {
	Groups     map[string]string `json:"groups"` // group -> OK, WARN or ERR
	Partitions []PartitionLag    `json:"partitions"`
}

func groupStatuses(lags []PartitionLag) map[string]string {
	by := map[string][]LagStatus{}
	for _, l := range lags {
		by[l.Group] = append(by[l.Group], l.Status)
	}
	out := make(map[string]string, len(by))
	for g, s := range by {
		out[g] = GroupStatus(s).String()
	}
	return out
}

type slogErrorLog struct{ l *slog.Logger }

func (s slogErrorLog) Println(v ...any) { s.l.Warn("metrics scrape", "err", fmt.Sprint(v...)) }
