package schemaregistry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// ContentType is the registry's media type; requests may also use
// application/vnd.schemaregistry+json or application/json.
const ContentType = "application/vnd.schemaregistry.v1+json"

// ForwardedHeader marks a write forwarded by another instance: the
// receiver serves it itself instead of forwarding again (no loops while an
// election settles; the log's first-writer-wins rule keeps ids unique).
const ForwardedHeader = "X-Tributary-Forwarded"

// maxBodyBytes bounds a request body.
const maxBodyBytes = 16 << 20

// Leader says which instance is the elected writer.
type Leader interface {
	// Writer returns the writer's base URL and whether it is this
	// instance. url is "" while no writer is known. Safe for concurrent
	// use.
	Writer() (url string, self bool)
}

// Standalone is the Leader of a single instance: always itself.
type Standalone struct{}

// Writer implements Leader.
func (Standalone) Writer() (string, bool) { return "", true }

// Handler is the registry's thin HTTP layer: it decodes requests, calls
// the Registry, encodes answers and errors (HTTPStatus), and forwards
// writes to the elected writer.
type Handler struct {
	reg     *Registry
	leader  Leader
	client  *http.Client
	logger  *slog.Logger
	timeout time.Duration
	mux     *http.ServeMux

	writerWait time.Duration
}

// NewHandler returns the HTTP API over reg. timeout bounds each write.
func NewHandler(reg *Registry, leader Leader, logger *slog.Logger, timeout time.Duration) *Handler {
	if logger == nil {
		logger = slog.Default()
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	h := &Handler{reg: reg, leader: leader, client: &http.Client{Timeout: timeout}, logger: logger, timeout: timeout, mux: http.NewServeMux(), writerWait: defaultWriterWait}
	m := h.mux
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { reply(w, map[string]any{}) })
	m.HandleFunc("POST /{$}", func(w http.ResponseWriter, r *http.Request) { reply(w, map[string]any{}) })
	m.HandleFunc("GET /schemas/types", func(w http.ResponseWriter, r *http.Request) { reply(w, Types()) })
	m.HandleFunc("GET /schemas", h.schemas)
	m.HandleFunc("GET /schemas/ids/{id}", h.schemaByID)
	m.HandleFunc("GET /schemas/ids/{id}/schema", h.rawSchemaByID)
	m.HandleFunc("GET /schemas/ids/{id}/subjects", h.subjectsByID)
	m.HandleFunc("GET /schemas/ids/{id}/versions", h.versionsByID)
	m.HandleFunc("GET /subjects", h.subjects)
	m.HandleFunc("POST /subjects/{s}", h.lookup)
	m.HandleFunc("DELETE /subjects/{s}", h.write(h.deleteSubject))
	m.HandleFunc("GET /subjects/{s}/versions", h.versions)
	m.HandleFunc("POST /subjects/{s}/versions", h.write(h.register))
	m.HandleFunc("GET /subjects/{s}/versions/{v}", h.version)
	m.HandleFunc("GET /subjects/{s}/versions/{v}/schema", h.rawVersion)
	m.HandleFunc("GET /subjects/{s}/versions/{v}/referencedby", h.referencedBy)
	m.HandleFunc("DELETE /subjects/{s}/versions/{v}", h.write(h.deleteVersion))
	m.HandleFunc("POST /compatibility/subjects/{s}/versions", h.compatibility)
	m.HandleFunc("POST /compatibility/subjects/{s}/versions/{v}", h.compatibility)
	m.HandleFunc("GET /config", h.getConfig)
	m.HandleFunc("PUT /config", h.write(h.putConfig))
	m.HandleFunc("DELETE /config", h.write(h.deleteConfig))
	m.HandleFunc("GET /config/{s}", h.getConfig)
	m.HandleFunc("PUT /config/{s}", h.write(h.putConfig))
	m.HandleFunc("DELETE /config/{s}", h.write(h.deleteConfig))
	m.HandleFunc("GET /mode", h.getMode)
	m.HandleFunc("PUT /mode", h.write(h.putMode))
	m.HandleFunc("DELETE /mode", h.write(h.deleteMode))
	m.HandleFunc("GET /mode/{s}", h.getMode)
	m.HandleFunc("PUT /mode/{s}", h.write(h.putMode))
	m.HandleFunc("DELETE /mode/{s}", h.write(h.deleteMode))
	m.HandleFunc("/", h.unrouted)
	return h
}

// ServeHTTP implements http.Handler. A panic in a handler answers 500
// (50001) instead of dropping the connection.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			h.logger.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			replyError(w, errorf(CodeStoreError, "internal error"))
		}
	}()
	h.mux.ServeHTTP(w, r)
}

// unrouted answers a path no endpoint has (404) or a method the path does
// not take (405) in the registry's error shape.
func (h *Handler) unrouted(w http.ResponseWriter, r *http.Request) {
	probe := r.Clone(r.Context())
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe.Method = m
		if _, p := h.mux.Handler(probe); p != "" && p != "/" {
			replyError(w, errorf(CodeMethodNotAllowed, "HTTP 405 Method Not Allowed"))
			return
		}
	}
	replyError(w, errorf(CodeNotFound, "HTTP 404 Not Found"))
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", ContentType)
	b, err := json.Marshal(v)
	if err != nil {
		replyError(w, err)
		return
	}
	w.Write(b)
}

func replyRaw(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", ContentType)
	io.WriteString(w, s)
}

func replyError(w http.ResponseWriter, err error) {
	status, code := HTTPStatus(err)
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	b, _ := json.Marshal(struct {
		ErrorCode int    `json:"error_code"`
		Message   string `json:"message"`
	}{code, err.Error()})
	w.Write(b)
}

func qbool(r *http.Request, name string) bool {
	v, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return v
}

// page applies the offset and limit query parameters (Confluent's
// pagination: limit -1 or absent means everything).
func page[T any](r *http.Request, all []T) []T {
	q := r.URL.Query()
	off, _ := strconv.Atoi(q.Get("offset"))
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit < 0 {
		limit = -1
	}
	if off < 0 {
		off = 0
	}
	if off >= len(all) {
		return all[:0]
	}
	all = all[off:]
	if limit >= 0 && limit < len(all) {
		all = all[:limit]
	}
	return all
}

// decode reads a JSON request body into v.
func decode(r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if ct != "" {
		mt := strings.TrimSpace(strings.Split(ct, ";")[0])
		switch mt {
		case ContentType, "application/vnd.schemaregistry+json", "application/json", "application/octet-stream", "text/plain":
		default:
			return errorf(CodeBadRequest, "Unsupported content type %s", mt)
		}
	}
	d := json.NewDecoder(io.LimitReader(r.Body, maxBodyBytes))
	if err := d.Decode(v); err != nil {
		return errorf(CodeBadRequest, "Malformed request body: %v", err)
	}
	return nil
}

// write wraps a write endpoint: served here when this instance is the
// writer (or the request was already forwarded), else forwarded.
func (h *Handler) write(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		url, self := h.waitWriter(r.Context())
		if self || r.Header.Get(ForwardedHeader) != "" {
			ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
			defer cancel()
			next(w, r.WithContext(ctx))
			return
		}
		if url == "" {
			replyError(w, errorf(CodeUnknownLeader, "Unknown leader: no registry instance is elected to write"))
			return
		}
		h.forward(w, r, url)
	}
}

// defaultWriterWait bounds how long a write waits for an election to name
// a writer (an instance just started, or the writer just left) before 50004.
const defaultWriterWait = 10 * time.Second

// waitWriter returns the elected writer, waiting up to writerWait while
// none is known.
func (h *Handler) waitWriter(ctx context.Context) (string, bool) {
	deadline := time.Now().Add(h.writerWait)
	for {
		url, self := h.leader.Writer()
		if url != "" || self || time.Now().After(deadline) {
			return url, self
		}
		select {
		case <-ctx.Done():
			return url, self
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (h *Handler) forward(w http.ResponseWriter, r *http.Request, base string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		replyError(w, errorf(CodeBadRequest, "reading request body: %v", err))
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, strings.TrimRight(base, "/")+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		replyError(w, errorf(CodeForwardingFailed, "Error while forwarding the request to the leader: %v", err))
		return
	}
	for _, k := range []string{"Content-Type", "Accept"} {
		if v := r.Header.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	req.Header.Set(ForwardedHeader, "1")
	resp, err := h.client.Do(req)
	if err != nil {
		replyError(w, errorf(CodeForwardingFailed, "Error while forwarding the request to the leader: %v", err))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		// Read your writes: answer once this instance has applied the
		// writer's record, so a read sent here next sees it.
		if err := h.reg.Sync(r.Context()); err != nil {
			h.logger.Warn("catching up after a forwarded write", "err", err)
		}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

func (h *Handler) schemas(w http.ResponseWriter, r *http.Request) {
	reply(w, page(r, h.reg.Schemas(r.URL.Query().Get("subjectPrefix"), qbool(r, "deleted"), qbool(r, "latestOnly"))))
}

func (h *Handler) schemaByID(w http.ResponseWriter, r *http.Request) {
	id, err := ParseID(r.PathValue("id"))
	if err == nil {
		var s SchemaInfo
		if s, err = h.reg.SchemaByID(id, qbool(r, "fetchMaxId")); err == nil {
			reply(w, s)
			return
		}
	}
	replyError(w, err)
}

func (h *Handler) rawSchemaByID(w http.ResponseWriter, r *http.Request) {
	id, err := ParseID(r.PathValue("id"))
	if err == nil {
		var s SchemaInfo
		if s, err = h.reg.SchemaByID(id, false); err == nil {
			replyRaw(w, s.Schema)
			return
		}
	}
	replyError(w, err)
}

func (h *Handler) subjectsByID(w http.ResponseWriter, r *http.Request) {
	id, err := ParseID(r.PathValue("id"))
	if err == nil {
		var out []string
		if out, err = h.reg.SubjectsByID(id, qbool(r, "deleted")); err == nil {
			reply(w, page(r, out))
			return
		}
	}
	replyError(w, err)
}

func (h *Handler) versionsByID(w http.ResponseWriter, r *http.Request) {
	id, err := ParseID(r.PathValue("id"))
	if err == nil {
		var out []SubjectVersion
		if out, err = h.reg.VersionsByID(id, qbool(r, "deleted")); err == nil {
			reply(w, page(r, out))
			return
		}
	}
	replyError(w, err)
}

func (h *Handler) subjects(w http.ResponseWriter, r *http.Request) {
	reply(w, page(r, h.reg.Subjects(r.URL.Query().Get("subjectPrefix"), qbool(r, "deleted"), qbool(r, "deletedOnly"))))
}

func (h *Handler) lookup(w http.ResponseWriter, r *http.Request) {
	var req RegisterRequest
	err := decode(r, &req)
	if err == nil {
		var s SubjectSchema
		if s, err = h.reg.Lookup(r.PathValue("s"), req, qbool(r, "deleted")); err == nil {
			reply(w, s)
			return
		}
	}
	replyError(w, err)
}

func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	var req RegisterRequest
	err := decode(r, &req)
	if err == nil {
		var s SubjectSchema
		if s, err = h.reg.Register(r.Context(), r.PathValue("s"), req); err == nil {
			reply(w, map[string]int{"id": s.ID})
			return
		}
	}
	replyError(w, err)
}

func (h *Handler) deleteSubject(w http.ResponseWriter, r *http.Request) {
	vs, err := h.reg.DeleteSubject(r.Context(), r.PathValue("s"), qbool(r, "permanent"))
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, vs)
}

func (h *Handler) versions(w http.ResponseWriter, r *http.Request) {
	vs, err := h.reg.Versions(r.PathValue("s"), qbool(r, "deleted"), qbool(r, "deletedOnly"), qbool(r, "deletedAsNegative"))
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, page(r, vs))
}

func (h *Handler) subjectVersion(r *http.Request) (SubjectSchema, error) {
	v, err := ParseVersion(r.PathValue("v"))
	if err != nil {
		return SubjectSchema{}, err
	}
	return h.reg.Version(r.PathValue("s"), v, qbool(r, "deleted"))
}

func (h *Handler) version(w http.ResponseWriter, r *http.Request) {
	s, err := h.subjectVersion(r)
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, s)
}

func (h *Handler) rawVersion(w http.ResponseWriter, r *http.Request) {
	s, err := h.subjectVersion(r)
	if err != nil {
		replyError(w, err)
		return
	}
	replyRaw(w, s.Schema)
}

func (h *Handler) referencedBy(w http.ResponseWriter, r *http.Request) {
	v, err := ParseVersion(r.PathValue("v"))
	if err == nil {
		var ids []int
		if ids, err = h.reg.ReferencedBy(r.PathValue("s"), v, qbool(r, "deleted")); err == nil {
			reply(w, page(r, ids))
			return
		}
	}
	replyError(w, err)
}

func (h *Handler) deleteVersion(w http.ResponseWriter, r *http.Request) {
	v, err := ParseVersion(r.PathValue("v"))
	if err == nil {
		if v, err = h.reg.DeleteVersion(r.Context(), r.PathValue("s"), v, qbool(r, "permanent")); err == nil {
			reply(w, v)
			return
		}
	}
	replyError(w, err)
}

func (h *Handler) compatibility(w http.ResponseWriter, r *http.Request) {
	version := 0
	if vs := r.PathValue("v"); vs != "" {
		v, err := ParseVersion(vs)
		if err != nil {
			replyError(w, err)
			return
		}
		version = v
	}
	var req RegisterRequest
	if err := decode(r, &req); err != nil {
		replyError(w, err)
		return
	}
	msgs, err := h.reg.CheckCompatibility(r.PathValue("s"), version, req)
	if err != nil {
		replyError(w, err)
		return
	}
	out := struct {
		IsCompatible bool     `json:"is_compatible"`
		Messages     []string `json:"messages,omitempty"`
	}{IsCompatible: len(msgs) == 0}
	if qbool(r, "verbose") {
		out.Messages = msgs
	}
	reply(w, out)
}

func (h *Handler) getConfig(w http.ResponseWriter, r *http.Request) {
	c, err := h.reg.Config(r.PathValue("s"), qbool(r, "defaultToGlobal"))
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, c)
}

// configRequest is PUT /config's body: "compatibility", not
// "compatibilityLevel".
type configRequest struct {
	Compatibility string `json:"compatibility"`
	Normalize     *bool  `json:"normalize,omitempty"`
}

func (h *Handler) putConfig(w http.ResponseWriter, r *http.Request) {
	var req configRequest
	err := decode(r, &req)
	if err == nil {
		req.Compatibility = strings.ToUpper(req.Compatibility)
		if err = h.reg.SetConfig(r.Context(), r.PathValue("s"), ConfigValue{CompatibilityLevel: req.Compatibility, Normalize: req.Normalize}); err == nil {
			reply(w, req)
			return
		}
	}
	replyError(w, err)
}

func (h *Handler) deleteConfig(w http.ResponseWriter, r *http.Request) {
	prev, err := h.reg.DeleteConfig(r.Context(), r.PathValue("s"))
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, prev)
}

type modeBody struct {
	Mode string `json:"mode"`
}

func (h *Handler) getMode(w http.ResponseWriter, r *http.Request) {
	m, err := h.reg.Mode(r.PathValue("s"), qbool(r, "defaultToGlobal"))
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, modeBody{m})
}

func (h *Handler) putMode(w http.ResponseWriter, r *http.Request) {
	var req modeBody
	err := decode(r, &req)
	if err == nil {
		req.Mode = strings.ToUpper(req.Mode)
		if err = h.reg.SetMode(r.Context(), r.PathValue("s"), req.Mode, qbool(r, "force")); err == nil {
			reply(w, req)
			return
		}
	}
	replyError(w, err)
}

func (h *Handler) deleteMode(w http.ResponseWriter, r *http.Request) {
	prev, err := h.reg.DeleteMode(r.Context(), r.PathValue("s"))
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, modeBody{prev})
}
