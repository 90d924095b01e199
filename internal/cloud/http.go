package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
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
	mux.HandleFunc("GET /v2/databases", h.list)
	mux.HandleFunc("POST /v2/databases", h.create)
	mux.HandleFunc("GET /v2/databases/options", h.options)
	mux.HandleFunc("GET /v2/databases/{id}", h.get)
	mux.HandleFunc("DELETE /v2/databases/{id}", h.delete)
	mux.HandleFunc("PUT /v2/databases/{id}/resize", h.resize)
	mux.HandleFunc("PUT /v2/databases/{id}/upgrade", h.upgrade)
	mux.HandleFunc("PUT /v2/databases/{id}/install_update", h.installUpdate)
	mux.HandleFunc("GET /v2/databases/{id}/events", h.events)
	mux.HandleFunc("GET /v2/databases/{id}/operations", h.operations)
	mux.HandleFunc("GET /v2/databases/{id}/config", h.getConfig)
	mux.HandleFunc("PATCH /v2/databases/{id}/config", h.patchConfig)
	mux.HandleFunc("GET /v2/databases/{id}/topics", h.topics)
	mux.HandleFunc("POST /v2/databases/{id}/topics", h.createTopic)
	mux.HandleFunc("GET /v2/databases/{id}/topics/{name}", h.topic)
	mux.HandleFunc("PUT /v2/databases/{id}/topics/{name}", h.updateTopic)
	mux.HandleFunc("DELETE /v2/databases/{id}/topics/{name}", h.deleteTopic)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, errorf(KindNotFound, "The resource you were accessing could not be found."))
	})
	return h.auth(mux)
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

// decode reads a JSON body into v; malformed JSON is a 400, an oversized
// body a 413.
func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(KindTooLarge, "request body is larger than %d bytes", maxBody)
		}
		return errorf(KindBadRequest, "cannot read the request body: %v", err)
	}
	return decodeBody(b, v)
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
	return toAPI(c, nodes), nil
}

func (h *api) list(w http.ResponseWriter, r *http.Request) {
	cs, err := h.s.Clusters(r.Context())
	if err != nil {
		writeErr(w, err)
		return
	}
	tag := r.URL.Query().Get("tag_name")
	out := []apiDatabase{}
	for _, c := range cs {
		if tag != "" && !contains(c.Tags, tag) {
			continue
		}
		d, err := h.database(r.Context(), c)
		if err != nil {
			writeErr(w, err)
			return
		}
		out = append(out, d)
	}
	writeJSON(w, http.StatusOK, map[string]any{"databases": out})
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// parseCreate decodes and checks the fields this installation cannot
// honour (fuzzed: FuzzDecodeBody).
func parseCreate(b []byte) (CreateRequest, error) {
	var req apiCreateRequest
	if err := decodeBody(b, &req); err != nil {
		return CreateRequest{}, err
	}
	switch {
	case len(req.Rules) > 0:
		return CreateRequest{}, errorf(KindInvalid, "firewall rules are not offered by this installation yet")
	case req.BackupRestore != nil:
		return CreateRequest{}, errorf(KindInvalid, "backup_restore is not offered for kafka")
	case req.PrivateNetworkUUID != "":
		return CreateRequest{}, errorf(KindInvalid, "private networks are not offered by this installation")
	case req.StorageAutoscale != nil && req.StorageAutoscale.Enabled:
		return CreateRequest{}, errorf(KindInvalid, "storage autoscaling is not offered by this installation")
	}
	return CreateRequest{Name: req.Name, Engine: req.Engine, Version: req.Version, Size: req.Size, Region: req.Region,
		NumNodes: req.NumNodes, StorageSizeMiB: req.StorageSizeMiB, Tags: req.Tags}, nil
}

func (h *api) create(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		writeErr(w, errorf(KindTooLarge, "request body is larger than %d bytes", maxBody))
		return
	}
	req, err := parseCreate(b)
	if err != nil {
		writeErr(w, err)
		return
	}
	c, err := h.s.CreateCluster(r.Context(), req)
	if err != nil {
		writeErr(w, err)
		return
	}
	d, err := h.database(r.Context(), c)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"database": d})
}

func (h *api) options(w http.ResponseWriter, _ *http.Request) {
	cat := h.s.Catalog()
	o := apiEngineOptions{Regions: cat.Regions, Versions: cat.Versions}
	for n := cat.MinNodes; n <= cat.MaxNodes; n++ {
		o.Layouts = append(o.Layouts, apiLayout{NumNodes: n, Sizes: cat.Sizes})
	}
	writeJSON(w, http.StatusOK, map[string]any{"options": map[string]any{Engine: o}})
}

func (h *api) get(w http.ResponseWriter, r *http.Request) {
	c, err := h.s.Cluster(r.Context(), r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	d, err := h.database(r.Context(), c)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"database": d})
}

func (h *api) delete(w http.ResponseWriter, r *http.Request) {
	if err := h.s.DeleteCluster(r.Context(), r.PathValue("id")); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *api) resize(w http.ResponseWriter, r *http.Request) {
	var req apiResizeRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if _, err := h.s.ResizeCluster(r.Context(), r.PathValue("id"), ResizeRequest{Size: req.Size, NumNodes: req.NumNodes, StorageSizeMiB: req.StorageSizeMiB}); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (h *api) events(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, err := h.s.Cluster(r.Context(), id)
	if err != nil {
		writeErr(w, err)
		return
	}
	evs, err := h.s.Events(r.Context(), id)
	if err != nil {
		writeErr(w, err)
		return
	}
	out := []apiEvent{}
	for _, e := range evs {
		out = append(out, apiEvent{ID: strconv.FormatInt(e.ID, 10), ClusterName: c.Name, EventType: e.Type,
			CreateTime: e.Time.UTC().Format(time.RFC3339)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out})
}

func (h *api) operations(w http.ResponseWriter, r *http.Request) {
	ops, err := h.s.Operations(r.Context(), r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	out := []apiOperation{}
	for _, op := range ops {
		out = append(out, toAPIOperation(op))
	}
	writeJSON(w, http.StatusOK, map[string]any{"operations": out})
}

func (h *api) getConfig(w http.ResponseWriter, r *http.Request) {
	cfg, err := h.s.BrokerConfig(r.Context(), r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"config": cfg})
}

func (h *api) patchConfig(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Config json.RawMessage `json:"config"`
	}
	if err := decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if err := h.s.UpdateBrokerConfig(r.Context(), r.PathValue("id"), req.Config); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *api) topics(w http.ResponseWriter, r *http.Request) {
	ts, err := h.s.Topics(r.Context(), r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"topics": ts})
}

func (h *api) createTopic(w http.ResponseWriter, r *http.Request) {
	var req TopicRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	t, err := h.s.CreateTopic(r.Context(), r.PathValue("id"), req)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"topic": t})
}

func (h *api) topic(w http.ResponseWriter, r *http.Request) {
	t, err := h.s.Topic(r.Context(), r.PathValue("id"), r.PathValue("name"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"topic": t})
}

func (h *api) updateTopic(w http.ResponseWriter, r *http.Request) {
	var req TopicRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if err := h.s.UpdateTopic(r.Context(), r.PathValue("id"), r.PathValue("name"), req); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *api) deleteTopic(w http.ResponseWriter, r *http.Request) {
	if err := h.s.DeleteTopic(r.Context(), r.PathValue("id"), r.PathValue("name")); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *api) upgrade(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Version string `json:"version"`
	}
	if err := decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if req.Version == "" {
		writeErr(w, errorf(KindInvalid, "version is required"))
		return
	}
	c, err := h.s.Cluster(r.Context(), r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	if req.Version == c.Version {
		writeErr(w, errorf(KindInvalid, "the cluster already runs version %s", c.Version))
		return
	}
	if _, err := h.s.RestartCluster(r.Context(), c.ID, req.Version); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// installUpdate restarts every broker, one at a time (a rolling restart).
func (h *api) installUpdate(w http.ResponseWriter, r *http.Request) {
	if _, err := h.s.RestartCluster(r.Context(), r.PathValue("id"), ""); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
