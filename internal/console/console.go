// Package console is the managed service's web console, served by `trib
// cloud serve` at "/". Pages are Go html/template rendered on the server
// (every value escaped by the template engine, so topic names, keys,
// values and headers are shown as text), with one small script
// (assets/static/app.js) that refreshes the live parts of a page from
// server-rendered fragments. Assets are embedded: the binary needs no
// network and no build step besides `go build`.
//
// Sign-in takes an API token; the session (a random id in an HttpOnly,
// SameSite=Strict cookie) keeps the token on the server only. Every
// state-changing request carries the session's CSRF token (a form field or
// the X-CSRF-Token header) and is refused without it.
package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

//go:embed assets
var assets embed.FS

// Identity is what a token is allowed: its name and whether it may write.
type Identity struct {
	Name  string
	Write bool
}

// Node is one broker of a cluster as the control plane runs it.
type Node struct {
	ID     int32
	Listen string // Kafka listener HOST:PORT
	Admin  string // admin listener HOST:PORT (/readyz, /metrics, consumer lag)
}

// UserACL is one of a user's ACLs in DigitalOcean's simple form: a
// topic, "*" or a prefix ending in "*", and a permission (consume,
// produce, produceconsume, admin).
type UserACL struct {
	ID         string `json:"id,omitempty"`
	Topic      string `json:"topic"`
	Permission string `json:"permission"`
}

// AuditEntry is one write request of the audit log.
type AuditEntry struct {
	Time   time.Time
	Token  string
	Method string
	Path   string
	Status int
}

// ErrBadToken is returned by Config.Authenticate for an unknown token.
var ErrBadToken = errors.New("unknown token")

// Config wires the console to the control plane.
type Config struct {
	// API is the control plane's API handler (/v2/...); the console calls
	// it in-process with the user's token.
	API http.Handler
	// Authenticate looks a token up (ErrBadToken when there is none).
	Authenticate func(ctx context.Context, token string) (Identity, error)
	// Audit records a write the console makes to a cluster directly as a
	// Kafka client (an offset reset), beside the API's own audit of its
	// writes. May be nil.
	Audit func(ctx context.Context, token, method, path string, status int)
	// Nodes lists a cluster's brokers with their admin listeners (for
	// readiness, metrics and consumer lag status); called only after the
	// API let the user read the cluster. May be nil.
	Nodes func(ctx context.Context, clusterID string) ([]Node, error)
	// PreviewACLs returns the Kafka ACLs (kafka-acls.sh's notation) the
	// control plane makes for a user with DigitalOcean's ACLs acl, for
	// the ACL wizard's preview. May be nil.
	PreviewACLs func(user string, acl []UserACL) []string
	// AuditLog lists the newest writes (at most limit), newest first; the
	// console shows it to tokens with the write scope. May be nil.
	AuditLog func(ctx context.Context, limit int) ([]AuditEntry, error)
	Logger   *slog.Logger
	// SchemaRegistry is a Schema Registry's URL (user:password@ in it is
	// sent as basic auth); with it, keys and values in the registry's wire
	// format are shown decoded (Avro, Protobuf, JSON Schema). Optional.
	SchemaRegistry string
	// SessionTTL bounds a session's idle time (default 12h).
	SessionTTL time.Duration
}

// Console is the console's HTTP handler.
type Console struct {
	cfg   Config
	api   apiClient
	log   *slog.Logger
	mux   *http.ServeMux
	pages map[string]*template.Template
	kafka *kafkaClients
	stats *metricsHub
	// schemas decodes wire-format records (nil without a registry).
	schemas *schemaDecoder

	mu       sync.Mutex // guards sessions
	sessions map[string]*session
}

// session is one signed-in browser. token never leaves the server.
type session struct {
	id       string
	token    string
	csrf     string
	identity Identity
	expires  time.Time
	searches *searches
}

const (
	sessionCookie = "trib_session"
	loginCookie   = "trib_login"
)

// New returns the console handler.
func New(cfg Config) *Console {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	c := &Console{cfg: cfg, api: apiClient{h: cfg.API}, log: cfg.Logger, sessions: map[string]*session{},
		kafka: newKafkaClients(cfg.Logger), stats: newMetricsHub(cfg.Logger),
		schemas: newSchemaDecoder(cfg.SchemaRegistry)}
	c.pages = parsePages()
	c.routes()
	return c
}

// Close releases the Kafka clients and stops running searches.
func (c *Console) Close() {
	c.mu.Lock()
	for _, s := range c.sessions {
		s.searches.cancelAll()
	}
	c.mu.Unlock()
	c.kafka.close()
	c.stats.close()
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	c.mux.ServeHTTP(w, r)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// sessionOf returns the request's live session, or nil.
func (c *Console) sessionOf(r *http.Request) *session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[ck.Value]
	if s == nil {
		return nil
	}
	if time.Now().After(s.expires) {
		s.searches.cancelAll()
		delete(c.sessions, s.id)
		return nil
	}
	s.expires = time.Now().Add(c.cfg.SessionTTL)
	return s
}

// sweepLocked forgets expired sessions (each sign-in sweeps, so sessions
// abandoned without signing out do not pile up). c.mu is held.
func (c *Console) sweepLocked() {
	now := time.Now()
	for id, s := range c.sessions {
		if now.After(s.expires) {
			s.searches.cancelAll()
			delete(c.sessions, id)
		}
	}
}

func (c *Console) endSession(s *session) {
	c.mu.Lock()
	delete(c.sessions, s.id)
	c.mu.Unlock()
	s.searches.cancelAll()
}

// checkCSRF compares the request's CSRF token (form field csrf or header
// X-CSRF-Token) with the session's.
func checkCSRF(r *http.Request, want string) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// handler is a signed-in page or action.
type handler func(w http.ResponseWriter, r *http.Request, s *session)

// authed wraps h: no session sends a page to the login (an action or a
// fragment gets 401), a state-changing request needs the CSRF token, and
// write needs a token with the write scope.
func (c *Console) authed(write bool, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.sessionOf(r)
		if s == nil {
			if r.Method == http.MethodGet && r.Header.Get("X-Fragment") == "" {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "Your session has expired: sign in again.", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !checkCSRF(r, s.csrf) {
				http.Error(w, "This request has no valid CSRF token: reload the page and try again.", http.StatusForbidden)
				return
			}
		}
		if write && !s.identity.Write {
			http.Error(w, "This token has the read scope only: it cannot make changes.", http.StatusForbidden)
			return
		}
		h(w, r, s)
	}
}

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets/static")
	fileServer := http.StripPrefix("/static/", http.FileServerFS(static))
	m.HandleFunc("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
	m.HandleFunc("GET /login", c.loginPage)
	m.HandleFunc("POST /login", c.login)
	m.HandleFunc("POST /logout", c.authed(false, c.logout))
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/clusters", http.StatusSeeOther)
	})
	m.HandleFunc("GET /clusters", c.authed(false, c.clustersPage))
	m.HandleFunc("GET /audit", c.authed(true, c.auditPage))
	m.HandleFunc("GET /clusters/live", c.authed(false, c.clustersLive))
	m.HandleFunc("GET /clusters/new", c.authed(true, c.newClusterPage))
	m.HandleFunc("POST /clusters", c.authed(true, c.createCluster))
	m.HandleFunc("GET /clusters/{id}", c.authed(false, c.overviewPage))
	m.HandleFunc("GET /clusters/{id}/live", c.authed(false, c.overviewLive))
	m.HandleFunc("GET /clusters/{id}/connection", c.authed(false, c.connectionPage))
	m.HandleFunc("GET /clusters/{id}/client.properties", c.authed(false, c.clientProperties))
	m.HandleFunc("GET /clusters/{id}/topics", c.authed(false, c.topicsPage))
	m.HandleFunc("POST /clusters/{id}/topics", c.authed(true, c.createTopic))
	m.HandleFunc("GET /clusters/{id}/topics/{name}", c.authed(false, c.topicPage))
	m.HandleFunc("POST /clusters/{id}/topics/{name}/partitions", c.authed(true, c.addPartitions))
	m.HandleFunc("POST /clusters/{id}/topics/{name}/config", c.authed(true, c.alterTopicConfig))
	m.HandleFunc("POST /clusters/{id}/topics/{name}/delete", c.authed(true, c.deleteTopic))
	m.HandleFunc("GET /clusters/{id}/topics/{name}/messages", c.authed(false, c.messagesPage))
	m.HandleFunc("POST /clusters/{id}/topics/{name}/search", c.authed(false, c.startSearch))
	m.HandleFunc("GET /clusters/{id}/topics/{name}/export", c.authed(false, c.exportMessages))
	m.HandleFunc("POST /clusters/{id}/topics/{name}/produce", c.authed(true, c.produceMessage))
	m.HandleFunc("GET /clusters/{id}/search/{job}", c.authed(false, c.searchPage))
	m.HandleFunc("GET /clusters/{id}/search/{job}/live", c.authed(false, c.searchLive))
	m.HandleFunc("POST /clusters/{id}/search/{job}/cancel", c.authed(false, c.cancelSearch))
	m.HandleFunc("GET /clusters/{id}/groups", c.authed(false, c.groupsPage))
	m.HandleFunc("GET /clusters/{id}/groups/{group}", c.authed(false, c.groupPage))
	m.HandleFunc("POST /clusters/{id}/groups/{group}/reset", c.authed(true, c.resetGroup))
	m.HandleFunc("GET /clusters/{id}/users", c.authed(false, c.usersPage))
	m.HandleFunc("POST /clusters/{id}/users", c.authed(true, c.createUser))
	m.HandleFunc("POST /clusters/{id}/users/{user}/reset", c.authed(true, c.resetUser))
	m.HandleFunc("POST /clusters/{id}/users/{user}/delete", c.authed(true, c.deleteUser))
	m.HandleFunc("POST /clusters/{id}/users/{user}/acl/{acl}/delete", c.authed(true, c.deleteUserACL))
	m.HandleFunc("GET /clusters/{id}/acls", c.authed(false, c.aclsPage))
	m.HandleFunc("GET /clusters/{id}/acls/new", c.authed(true, c.aclWizard))
	m.HandleFunc("POST /clusters/{id}/acls", c.authed(true, c.applyACL))
	m.HandleFunc("GET /clusters/{id}/ca.pem", c.authed(false, c.caPEM))
	m.HandleFunc("GET /clusters/{id}/operations", c.authed(false, c.operationsPage))
	m.HandleFunc("GET /clusters/{id}/operations/live", c.authed(false, c.operationsLive))
	m.HandleFunc("POST /clusters/{id}/resize", c.authed(true, c.resize))
	m.HandleFunc("POST /clusters/{id}/upgrade", c.authed(true, c.upgrade))
	m.HandleFunc("POST /clusters/{id}/restart", c.authed(true, c.restart))
	m.HandleFunc("POST /clusters/{id}/delete", c.authed(true, c.deleteCluster))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.renderStatus(w, r, nil, http.StatusNotFound, "Page not found", "There is no page at "+r.URL.Path+".")
	})
	c.mux = m
}

// safeNext keeps a post-login redirect on this site: a path starting
// with one "/". Control characters and backslashes are refused outright:
// a browser drops tabs and newlines from a Location and reads "\\" as "/",
// so "/\t/evil.example" would otherwise leave the site (FuzzSafeNext).
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return "/clusters"
	}
	return next
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if c.sessionOf(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.renderLogin(w, r, http.StatusOK, "")
}

// renderLogin shows the sign-in form with a fresh login CSRF token (a
// double-submit cookie: the form's value must equal the cookie's).
func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	tok := randomHex(16)
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: tok, Path: "/login", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secureRequest(r), MaxAge: 3600})
	c.render(w, r, nil, status, "login", nil, map[string]any{"CSRF": tok, "Error": msg, "Next": r.FormValue("next")})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(loginCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		c.renderLogin(w, r, http.StatusForbidden, "The sign-in form expired or was not sent by this page: try again.")
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" {
		c.renderLogin(w, r, http.StatusUnauthorized, "Enter an API token.")
		return
	}
	id, err := c.cfg.Authenticate(r.Context(), token)
	if err != nil {
		if !errors.Is(err, ErrBadToken) {
			c.log.Error("console sign-in: token lookup failed", "err", err)
		}
		c.renderLogin(w, r, http.StatusUnauthorized, "That token is not valid.")
		return
	}
	s := &session{id: randomHex(32), token: token, csrf: randomHex(32), identity: id,
		expires: time.Now().Add(c.cfg.SessionTTL), searches: newSearches()}
	c.mu.Lock()
	c.sweepLocked()
	c.sessions[s.id] = s
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secureRequest(r)})
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/login", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secureRequest(r)})
	c.log.Info("console sign-in", "token", id.Name)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	c.endSession(s)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secureRequest(r)})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
