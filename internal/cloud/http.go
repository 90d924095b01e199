package cloud

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxBody bounds a request body.
const maxBody = 1 << 20

// Handler is the HTTP layer: DigitalOcean's Databases API paths for
// engine "kafka" over the Service, bearer-token auth and an audit log of
// writes. It holds no logic of its own beyond decoding and encoding.
func Handler(s *Service, st Store, log *slog.Logger) http.Handler {
	h := &api{s: s, st: st, log: log}
	mux := http.NewServeMux()
	for _, rt := range h.routes() {
		mux.HandleFunc(rt.pattern, h.serve(rt.fn))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, errorf(KindNotFound, "The resource you were accessing could not be found."))
	})
	return h.auth(mux)
}

// route is one API operation: "METHOD /path" (net/http's pattern) and
// its handler, which returns the status and the body to write (nil: no
// body). The OpenAPI document (openapi.json) lists exactly these.
type route struct {
	pattern string
	fn      func(r *http.Request) (int, any, error)
}

func (h *api) routes() []route {
	return []route{
		{"GET /v2/openapi.json", h.openapi},
		{"GET /v2/databases", h.list},
		{"POST /v2/databases", h.create},
		{"GET /v2/databases/options", h.options},
		{"GET /v2/databases/metrics/credentials", h.metricsCredentials},
		{"PUT /v2/databases/metrics/credentials", h.updateMetricsCredentials},
		{"GET /v2/databases/{id}", h.get},
		{"DELETE /v2/databases/{id}", h.delete},
		{"PUT /v2/databases/{id}/deletion_protection", h.deletionProtection},
		{"GET /v2/databases/{id}/ca", h.ca},
		{"PUT /v2/databases/{id}/resize", h.resize},
		{"PUT /v2/databases/{id}/upgrade", h.upgrade},
		{"PUT /v2/databases/{id}/install_update", h.installUpdate},
		{"PUT /v2/databases/{id}/maintenance", h.maintenance},
		{"GET /v2/databases/{id}/firewall", h.firewall},
		{"PUT /v2/databases/{id}/firewall", h.updateFirewall},
		{"GET /v2/databases/{id}/events", h.events},
		{"GET /v2/databases/{id}/operations", h.operations},
		{"GET /v2/databases/{id}/nodes", h.nodes},
		{"GET /v2/databases/{id}/config", h.getConfig},
		{"PATCH /v2/databases/{id}/config", h.patchConfig},
		{"GET /v2/databases/{id}/users", h.users},
		{"POST /v2/databases/{id}/users", h.createUser},
		{"GET /v2/databases/{id}/users/{name}", h.user},
		{"PUT /v2/databases/{id}/users/{name}", h.updateUser},
		{"DELETE /v2/databases/{id}/users/{name}", h.deleteUser},
		{"POST /v2/databases/{id}/users/{name}/reset_auth", h.resetAuth},
		{"GET /v2/databases/{id}/topics", h.topics},
		{"POST /v2/databases/{id}/topics", h.createTopic},
		{"GET /v2/databases/{id}/topics/{name}", h.topic},
		{"PUT /v2/databases/{id}/topics/{name}", h.updateTopic},
		{"DELETE /v2/databases/{id}/topics/{name}", h.deleteTopic},
	}
}

// serve writes what fn returns: an error as DigitalOcean's error body, a
// nil body as the bare status, anything else as JSON.
func (h *api) serve(fn func(r *http.Request) (int, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		status, body, err := fn(r)
		switch {
		case err != nil:
			writeErr(w, err)
		case body == nil:
			w.WriteHeader(status)
		default:
			writeJSON(w, status, body)
		}
	}
}

type api struct {
	s   *Service
	st  Store
	log *slog.Logger
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// auth checks the bearer token's scope (read for GET and HEAD, write
// otherwise) and records every write in the audit log.
func (h *api) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || secret == "" {
			writeErr(w, errorf(KindUnauthorized, "Unable to authenticate you"))
			return
		}
		t, err := h.st.TokenByHash(r.Context(), hashToken(strings.TrimSpace(secret)))
		if err != nil {
			if errors.Is(err, errNoRow) {
				err = errorf(KindUnauthorized, "Unable to authenticate you")
			}
			writeErr(w, err)
			return
		}
		scope := ScopeWrite
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			scope = ScopeRead
		}
		if !t.allows(scope) {
			writeErr(w, errorf(KindForbidden, "You do not have access for the attempted action: this token lacks the %s scope.", scope))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		r = r.WithContext(withTenant(r.Context(), t.Tenant))
		if scope == ScopeRead {
			next.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		if err := h.st.Audit(context.WithoutCancel(r.Context()), t.ID, r.Method, r.URL.Path, sw.status); err != nil {
			h.log.Error("audit log write failed", "err", err, "method", r.Method, "path", r.URL.Path)
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	status, id := httpStatus(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		msg = "Server was unable to give you a response: " + msg
	}
	writeJSON(w, status, map[string]string{"id": id, "message": msg})
}

// readBody reads the request body; an oversized body is a 413.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(KindTooLarge, "request body is larger than %d bytes", maxBody)
		}
		return nil, errorf(KindBadRequest, "cannot read the request body: %v", err)
	}
	return b, nil
}

// body reads a JSON body as a T; malformed JSON is a 400, an oversized
// body a 413.
func body[T any](r *http.Request) (T, error) {
	var v T
	b, err := readBody(r)
	if err == nil {
		err = decodeBody(b, &v)
	}
	return v, err
}

// decodeBody unmarshals one JSON value (fuzzed: FuzzDecodeBody).
func decodeBody(b []byte, v any) error {
	if len(strings.TrimSpace(string(b))) == 0 {
		return errorf(KindBadRequest, "the request body is empty; a JSON object is expected")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errorf(KindBadRequest, "the request body is not valid JSON for this request: %v", err)
	}
	return nil
}

func (h *api) database(ctx context.Context, c Cluster) (apiDatabase, error) {
	nodes, err := h.s.Nodes(ctx, c.ID)
	if err != nil {
		return apiDatabase{}, err
	}
	users, err := h.st.Users(ctx, c.ID)
	if err != nil {
		return apiDatabase{}, err
	}
	return toAPI(c, nodes, users), nil
}

// one wraps a single object in DigitalOcean's envelope {"key": v}.
func one(status int, key string, v any, err error) (int, any, error) {
	if err != nil {
		return 0, nil, err
	}
	return status, map[string]any{key: v}, nil
}

// none answers status without a body unless err.
func none(status int, err error) (int, any, error) {
	return status, nil, err
}

func (h *api) list(r *http.Request) (int, any, error) {
	cs, err := h.s.Clusters(r.Context())
	if err != nil {
		return 0, nil, err
	}
	tag := r.URL.Query().Get("tag_name")
	out := []apiDatabase{}
	for _, c := range cs {
		if tag != "" && !slices.Contains(c.Tags, tag) {
			continue
		}
		d, err := h.database(r.Context(), c)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, d)
	}
	return one(http.StatusOK, "databases", out, nil)
}

// parseCreate decodes and checks the fields this installation cannot
// honour (fuzzed: FuzzDecodeBody).
func parseCreate(b []byte) (CreateRequest, error) {
	var req apiCreateRequest
	if err := decodeBody(b, &req); err != nil {
		return CreateRequest{}, err
	}
	switch {
	case req.BackupRestore != nil:
		return CreateRequest{}, errorf(KindInvalid, "backup_restore is not offered for kafka")
	case req.PrivateNetworkUUID != "":
		return CreateRequest{}, errorf(KindInvalid, "private networks are not offered by this installation")
	case req.StorageAutoscale != nil && req.StorageAutoscale.Enabled:
		return CreateRequest{}, errorf(KindInvalid, "storage autoscaling is not offered by this installation")
	}
	var rules []FirewallRule
	for _, r := range req.Rules {
		rules = append(rules, FirewallRule{UUID: r.UUID, Type: r.Type, Value: r.Value})
	}
	if _, err := checkFirewallRules("", rules); err != nil {
		return CreateRequest{}, err
	}
	return CreateRequest{Name: req.Name, Engine: req.Engine, Version: req.Version, Size: req.Size, Region: req.Region,
		NumNodes: req.NumNodes, StorageSizeMiB: req.StorageSizeMiB, Tags: req.Tags, Rules: rules, DeletionProtection: req.DeletionProtection}, nil
}

func (h *api) create(r *http.Request) (int, any, error) {
	b, err := readBody(r)
	if err != nil {
		return 0, nil, err
	}
	req, err := parseCreate(b)
	if err != nil {
		return 0, nil, err
	}
	c, err := h.s.CreateCluster(r.Context(), req)
	if err != nil {
		return 0, nil, err
	}
	d, err := h.database(r.Context(), c)
	return one(http.StatusCreated, "database", d, err)
}

func (h *api) options(*http.Request) (int, any, error) {
	cat := h.s.Catalog()
	o := apiEngineOptions{Regions: cat.Regions, Versions: cat.Versions}
	for n := cat.MinNodes; n <= cat.MaxNodes; n++ {
		o.Layouts = append(o.Layouts, apiLayout{NumNodes: n, Sizes: cat.Sizes})
	}
	return one(http.StatusOK, "options", map[string]any{Engine: o}, nil)
}

func (h *api) get(r *http.Request) (int, any, error) {
	c, err := h.s.Cluster(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	d, err := h.database(r.Context(), c)
	return one(http.StatusOK, "database", d, err)
}

func (h *api) delete(r *http.Request) (int, any, error) {
	return none(http.StatusNoContent, h.s.DeleteCluster(r.Context(), r.PathValue("id")))
}

// deletionProtection (Tributary's) sets or clears a cluster's deletion
// protection: {"deletion_protection": true|false}.
func (h *api) deletionProtection(r *http.Request) (int, any, error) {
	req, err := body[struct {
		DeletionProtection *bool `json:"deletion_protection"`
	}](r)
	if err != nil {
		return 0, nil, err
	}
	if req.DeletionProtection == nil {
		return 0, nil, errorf(KindInvalid, "deletion_protection (true or false) is required")
	}
	return none(http.StatusNoContent, h.s.SetDeletionProtection(r.Context(), r.PathValue("id"), *req.DeletionProtection))
}

// ca answers the cluster's CA certificate; godo's DatabaseCA has it as
// []byte, so it is the PEM in base64.
func (h *api) ca(r *http.Request) (int, any, error) {
	c, err := h.s.Cluster(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if !c.Secure() {
		return 0, nil, errorf(KindNotFound, "this database cluster was made before TLS was offered and has no CA")
	}
	return one(http.StatusOK, "ca", map[string][]byte{"certificate": []byte(c.CACert)}, nil)
}

func (h *api) resize(r *http.Request) (int, any, error) {
	req, err := body[apiResizeRequest](r)
	if err != nil {
		return 0, nil, err
	}
	_, err = h.s.ResizeCluster(r.Context(), r.PathValue("id"), ResizeRequest{Size: req.Size, NumNodes: req.NumNodes, StorageSizeMiB: req.StorageSizeMiB})
	return none(http.StatusAccepted, err)
}

// upgrade upgrades the cluster's version, in its maintenance window when
// it has one ("force": true, Tributary's addition, starts it now).
func (h *api) upgrade(r *http.Request) (int, any, error) {
	req, err := body[struct {
		Version string `json:"version"`
		Force   bool   `json:"force"`
	}](r)
	if err != nil {
		return 0, nil, err
	}
	return none(http.StatusNoContent, h.s.UpgradeCluster(r.Context(), r.PathValue("id"), req.Version, req.Force))
}

// installUpdate starts the pending upgrade now, or restarts every broker
// one at a time (a rolling restart) when none is pending.
func (h *api) installUpdate(r *http.Request) (int, any, error) {
	return none(http.StatusNoContent, h.s.InstallUpdate(r.Context(), r.PathValue("id")))
}

func (h *api) maintenance(r *http.Request) (int, any, error) {
	req, err := body[struct {
		Day  string `json:"day"`
		Hour string `json:"hour"`
	}](r)
	if err != nil {
		return 0, nil, err
	}
	return none(http.StatusNoContent, h.s.UpdateMaintenance(r.Context(), r.PathValue("id"), req.Day, req.Hour))
}

func (h *api) firewall(r *http.Request) (int, any, error) {
	rules, err := h.s.FirewallRules(r.Context(), r.PathValue("id"))
	out := []apiFirewallRule{}
	for _, fr := range rules {
		out = append(out, toAPIFirewallRule(fr))
	}
	return one(http.StatusOK, "rules", out, err)
}

func (h *api) updateFirewall(r *http.Request) (int, any, error) {
	req, err := body[struct {
		Rules []apiFirewallRule `json:"rules"`
	}](r)
	if err != nil {
		return 0, nil, err
	}
	var rules []FirewallRule
	for _, fr := range req.Rules {
		rules = append(rules, FirewallRule{UUID: fr.UUID, Type: fr.Type, Value: fr.Value, CreatedAt: fr.CreatedAt})
	}
	return none(http.StatusNoContent, h.s.SetFirewallRules(r.Context(), r.PathValue("id"), rules))
}

func (h *api) events(r *http.Request) (int, any, error) {
	id := r.PathValue("id")
	c, err := h.s.Cluster(r.Context(), id)
	if err != nil {
		return 0, nil, err
	}
	evs, err := h.s.Events(r.Context(), id)
	out := []apiEvent{}
	for _, e := range evs {
		out = append(out, apiEvent{ID: strconv.FormatInt(e.ID, 10), ClusterName: c.Name, EventType: e.Type,
			CreateTime: e.Time.UTC().Format(time.RFC3339)})
	}
	return one(http.StatusOK, "events", out, err)
}

func (h *api) operations(r *http.Request) (int, any, error) {
	ops, err := h.s.Operations(r.Context(), r.PathValue("id"))
	out := []apiOperation{}
	for _, op := range ops {
		out = append(out, toAPIOperation(op))
	}
	return one(http.StatusOK, "operations", out, err)
}

func (h *api) metricsCredentials(r *http.Request) (int, any, error) {
	c, err := h.s.MetricsCredentials(r.Context())
	return one(http.StatusOK, "credentials", c, err)
}

func (h *api) updateMetricsCredentials(r *http.Request) (int, any, error) {
	req, err := body[struct {
		Credentials *MetricsCredentials `json:"credentials"`
	}](r)
	if err != nil {
		return 0, nil, err
	}
	if req.Credentials == nil {
		return 0, nil, errorf(KindInvalid, "credentials is required")
	}
	return none(http.StatusNoContent, h.s.UpdateMetricsCredentials(r.Context(), *req.Credentials))
}

// nodes lists the brokers with their disk usage (Tributary's).
func (h *api) nodes(r *http.Request) (int, any, error) {
	ns, err := h.s.NodeStatuses(r.Context(), r.PathValue("id"))
	out := []apiNode{}
	for _, n := range ns {
		out = append(out, toAPINode(n))
	}
	return one(http.StatusOK, "nodes", out, err)
}

func (h *api) getConfig(r *http.Request) (int, any, error) {
	cfg, err := h.s.BrokerConfig(r.Context(), r.PathValue("id"))
	return one(http.StatusOK, "config", cfg, err)
}

func (h *api) patchConfig(r *http.Request) (int, any, error) {
	req, err := body[struct {
		Config json.RawMessage `json:"config"`
	}](r)
	if err != nil {
		return 0, nil, err
	}
	return none(http.StatusOK, h.s.UpdateBrokerConfig(r.Context(), r.PathValue("id"), req.Config))
}

func (h *api) users(r *http.Request) (int, any, error) {
	us, err := h.s.Users(r.Context(), r.PathValue("id"))
	out := []apiUser{}
	for _, u := range us {
		out = append(out, toAPIUser(u))
	}
	return one(http.StatusOK, "users", out, err)
}

// userRequest is godo's DatabaseCreateUserRequest / DatabaseUpdateUserRequest.
type userRequest struct {
	Name     string           `json:"name"`
	Settings *apiUserSettings `json:"settings"`
}

func (u userRequest) acl() []UserACL {
	if u.Settings == nil {
		return nil
	}
	return u.Settings.ACL
}

func (h *api) createUser(r *http.Request) (int, any, error) {
	req, err := body[userRequest](r)
	if err != nil {
		return 0, nil, err
	}
	u, err := h.s.CreateUser(r.Context(), r.PathValue("id"), req.Name, req.acl())
	return one(http.StatusCreated, "user", toAPIUser(u), err)
}

func (h *api) user(r *http.Request) (int, any, error) {
	u, err := h.s.User(r.Context(), r.PathValue("id"), r.PathValue("name"))
	return one(http.StatusOK, "user", toAPIUser(u), err)
}

func (h *api) updateUser(r *http.Request) (int, any, error) {
	req, err := body[userRequest](r)
	if err != nil {
		return 0, nil, err
	}
	u, err := h.s.UpdateUserACL(r.Context(), r.PathValue("id"), r.PathValue("name"), req.acl())
	return one(http.StatusOK, "user", toAPIUser(u), err)
}

func (h *api) deleteUser(r *http.Request) (int, any, error) {
	return none(http.StatusNoContent, h.s.DeleteUser(r.Context(), r.PathValue("id"), r.PathValue("name")))
}

// resetAuth gives the user a new password; the body (godo sends
// mysql_settings or nothing) is not read.
func (h *api) resetAuth(r *http.Request) (int, any, error) {
	u, err := h.s.ResetUserAuth(r.Context(), r.PathValue("id"), r.PathValue("name"))
	return one(http.StatusOK, "user", toAPIUser(u), err)
}

func (h *api) topics(r *http.Request) (int, any, error) {
	ts, err := h.s.Topics(r.Context(), r.PathValue("id"))
	return one(http.StatusOK, "topics", ts, err)
}

func (h *api) createTopic(r *http.Request) (int, any, error) {
	req, err := body[TopicRequest](r)
	if err != nil {
		return 0, nil, err
	}
	t, err := h.s.CreateTopic(r.Context(), r.PathValue("id"), req)
	return one(http.StatusCreated, "topic", t, err)
}

func (h *api) topic(r *http.Request) (int, any, error) {
	t, err := h.s.Topic(r.Context(), r.PathValue("id"), r.PathValue("name"))
	return one(http.StatusOK, "topic", t, err)
}

func (h *api) updateTopic(r *http.Request) (int, any, error) {
	req, err := body[TopicRequest](r)
	if err != nil {
		return 0, nil, err
	}
	return none(http.StatusOK, h.s.UpdateTopic(r.Context(), r.PathValue("id"), r.PathValue("name"), req))
}

func (h *api) deleteTopic(r *http.Request) (int, any, error) {
	return none(http.StatusNoContent, h.s.DeleteTopic(r.Context(), r.PathValue("id"), r.PathValue("name")))
}

// openAPIDoc is the API's OpenAPI document, kept by hand beside the
// routes; TestOpenAPIMatchesRoutes checks that it lists exactly them.
//
//go:embed openapi.json
var openAPIDoc []byte

func (h *api) openapi(*http.Request) (int, any, error) {
	return http.StatusOK, json.RawMessage(openAPIDoc), nil
}
