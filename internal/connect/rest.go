package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The REST layer: Kafka Connect's paths, status codes and JSON shapes over
// the Herder. It decodes requests, maps herder errors to statuses in one
// table (errorStatus) and forwards writes a follower cannot serve to the
// leader (or a task restart to the task's worker), at most once.

// maxBody bounds a request body.
const maxBody = 8 << 20

// requestTimeout bounds one request (Connect's default is 90 s).
const requestTimeout = 90 * time.Second

// forwardedHeader marks a request another worker forwarded; it is never
// forwarded again (Connect uses the forward query parameter).
const forwardedHeader = "X-Connect-Forwarded"

type rest struct {
	h   *Herder
	hc  *http.Client
	log *slog.Logger
	mux *http.ServeMux
}

// ErrorMessage is Connect's error body.
type ErrorMessage struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}

// errorStatus maps a herder error to its HTTP status.
func errorStatus(err error) int {
	var bad *BadRequestError
	switch {
	case errors.As(err, &bad), errors.Is(err, errBadJSON):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrInvalidSignature):
		return http.StatusForbidden
	case errors.Is(err, ErrAlreadyExists), errors.Is(err, ErrNoLeader), errors.Is(err, ErrRebalancing):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

var errBadJSON = errors.New("malformed JSON body")

// NewREST returns the REST handler for h; hc forwards requests.
func NewREST(h *Herder, hc *http.Client, log *slog.Logger) http.Handler {
	r := &rest{h: h, hc: hc, log: log, mux: http.NewServeMux()}
	m := r.mux
	m.HandleFunc("GET /{$}", r.root)
	m.HandleFunc("GET /health", r.health)
	m.HandleFunc("GET /connectors", r.listConnectors)
	m.HandleFunc("POST /connectors", r.createConnector)
	m.HandleFunc("GET /connectors/{c}", r.getConnector)
	m.HandleFunc("DELETE /connectors/{c}", r.deleteConnector)
	m.HandleFunc("GET /connectors/{c}/config", r.getConfig)
	m.HandleFunc("PUT /connectors/{c}/config", r.putConfig)
	m.HandleFunc("PATCH /connectors/{c}/config", r.patchConfig)
	m.HandleFunc("GET /connectors/{c}/status", r.getStatus)
	m.HandleFunc("POST /connectors/{c}/restart", r.restartConnector)
	m.HandleFunc("PUT /connectors/{c}/pause", r.targetState(TargetPaused, http.StatusAccepted))
	m.HandleFunc("PUT /connectors/{c}/resume", r.targetState(TargetStarted, http.StatusAccepted))
	m.HandleFunc("PUT /connectors/{c}/stop", r.targetState(TargetStopped, http.StatusNoContent))
	m.HandleFunc("GET /connectors/{c}/tasks", r.getTasks)
	m.HandleFunc("POST /connectors/{c}/tasks", r.putTasks)
	m.HandleFunc("PUT /connectors/{c}/fence", r.fence)
	m.HandleFunc("GET /connectors/{c}/tasks/{t}/status", r.getTaskStatus)
	m.HandleFunc("POST /connectors/{c}/tasks/{t}/restart", r.restartTask)
	m.HandleFunc("GET /connectors/{c}/topics", r.getTopics)
	m.HandleFunc("PUT /connectors/{c}/topics/reset", r.resetTopics)
	m.HandleFunc("GET /connectors/{c}/offsets", r.getOffsets)
	m.HandleFunc("PATCH /connectors/{c}/offsets", r.alterOffsets)
	m.HandleFunc("DELETE /connectors/{c}/offsets", r.resetOffsets)
	m.HandleFunc("GET /admin/loggers", r.listLoggers)
	m.HandleFunc("GET /admin/loggers/{l}", r.getLogger)
	m.HandleFunc("PUT /admin/loggers/{l}", r.putLogger)
	m.HandleFunc("GET /connector-plugins", r.listPlugins)
	m.HandleFunc("GET /connector-plugins/{p}/config", r.pluginConfig)
	m.HandleFunc("PUT /connector-plugins/{p}/config/validate", r.validate)
	m.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "HTTP 404 Not Found")
	})
	return r
}

func (r *rest) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), requestTimeout)
	defer cancel()
	r.mux.ServeHTTP(w, req.WithContext(ctx))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorMessage{ErrorCode: status, Message: msg})
}

// fail answers a herder error: a NotLeaderError is forwarded (once).
func (r *rest) fail(w http.ResponseWriter, req *http.Request, body []byte, err error) {
	var nl *NotLeaderError
	if errors.As(err, &nl) {
		if req.Header.Get(forwardedHeader) != "" || req.URL.Query().Get("forward") == "false" {
			writeError(w, http.StatusConflict, "Cannot complete request because of a conflicting operation (e.g. worker rebalance)")
			return
		}
		r.forward(w, req, body, nl.URL)
		return
	}
	status := errorStatus(err)
	if status == http.StatusInternalServerError {
		r.log.Warn("connect REST request failed", "method", req.Method, "path", req.URL.Path, "err", err)
	}
	writeError(w, status, err.Error())
}

// forward replays the request on another worker and copies its answer.
func (r *rest) forward(w http.ResponseWriter, req *http.Request, body []byte, base string) {
	u := strings.TrimSuffix(base, "/") + req.URL.EscapedPath()
	if req.URL.RawQuery != "" {
		u += "?" + req.URL.RawQuery
	}
	freq, err := http.NewRequestWithContext(req.Context(), req.Method, u, bytes.NewReader(body))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	freq.Header.Set("Content-Type", "application/json")
	freq.Header.Set(forwardedHeader, "true")
	for _, k := range []string{SignatureHeader, SignatureAlgorithmHeader} {
		if v, ok := req.Header[k]; ok {
			freq.Header[k] = v
		}
	}
	resp, err := r.hc.Do(freq)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "Error trying to forward REST request: "+err.Error())
		return
	}
	defer resp.Body.Close()
	for _, k := range []string{"Content-Type", "Location"} {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// headerValue is a header's first value, nil when the header is absent
// (an empty header is present).
func headerValue(h http.Header, key string) *string {
	if v, ok := h[http.CanonicalHeaderKey(key)]; ok && len(v) > 0 {
		return &v[0]
	}
	return nil
}

// readBody reads a bounded body.
func readBody(req *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(req.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxBody {
		return nil, badRequest("request body larger than %d bytes", maxBody)
	}
	return b, nil
}

// CreateRequest is the body of POST /connectors.
type CreateRequest struct {
	Name         string
	Config       map[string]string
	InitialState string
}

// ParseCreateRequest decodes POST /connectors: {"name", "config",
// "initial_state"}. Scalar config values are taken as strings, as Connect's
// JSON mapper does; objects, arrays and nulls are refused.
func ParseCreateRequest(body []byte) (CreateRequest, error) {
	var raw struct {
		Name         *string         `json:"name"`
		Config       json.RawMessage `json:"config"`
		InitialState *string         `json:"initial_state"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return CreateRequest{}, fmt.Errorf("%w: %v", errBadJSON, err)
	}
	var out CreateRequest
	if raw.Name != nil {
		out.Name = strings.TrimSpace(*raw.Name)
	}
	if raw.InitialState != nil {
		out.InitialState = *raw.InitialState
	}
	if len(raw.Config) == 0 || string(raw.Config) == "null" {
		return out, badRequest("Connector config is required")
	}
	cfg, err := ParseConfigMap(raw.Config)
	if err != nil {
		return out, err
	}
	out.Config = cfg
	return out, nil
}

// ParseConfigMap decodes a flat config object; scalars become strings.
func ParseConfigMap(body []byte) (map[string]string, error) {
	m, err := parseScalarMap(body, false)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = *v
	}
	return out, nil
}

// parseScalarMap decodes {"k": scalar|null}; nulls only when allowNull.
func parseScalarMap(body []byte, allowNull bool) (map[string]*string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadJSON, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%w: expected a JSON object", errBadJSON)
	}
	out := make(map[string]*string, len(m))
	for k, raw := range m {
		v, err := decodeJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errBadJSON, err)
		}
		switch x := v.(type) {
		case string:
			out[k] = &x
		case json.Number:
			s := x.String()
			out[k] = &s
		case bool:
			s := strconv.FormatBool(x)
			out[k] = &s
		case nil:
			if !allowNull {
				return nil, badRequest("config %s: null values are not allowed", k)
			}
			out[k] = nil
		default:
			return nil, badRequest("config %s: values must be strings", k)
		}
	}
	return out, nil
}

func (r *rest) root(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": Version, "commit": "tributary", "kafka_cluster_id": r.h.ClusterID()})
}

func (r *rest) health(w http.ResponseWriter, _ *http.Request) {
	if !r.h.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting", "message": "Worker is still starting up."})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "healthy", "message": "Worker has completed startup and is ready to handle requests."})
}

func (r *rest) listConnectors(w http.ResponseWriter, req *http.Request) {
	var status, info bool
	for _, e := range req.URL.Query()["expand"] {
		status = status || e == "status"
		info = info || e == "info"
	}
	if !status && !info {
		writeJSON(w, http.StatusOK, r.h.Connectors())
		return
	}
	writeJSON(w, http.StatusOK, r.h.ConnectorsExpanded(status, info))
}

// checkName puts the URL's name into the config, refusing a different one.
func checkName(name string, cfg map[string]string) error {
	if n, ok := cfg["name"]; ok {
		if strings.TrimSpace(n) != name {
			return badRequest("Connector name configuration (%s) doesn't match connector name in the URL (%s)", n, name)
		}
	}
	cfg["name"] = name
	return nil
}

func (r *rest) createConnector(w http.ResponseWriter, req *http.Request) {
	body, err := readBody(req)
	if err != nil {
		r.fail(w, req, nil, err)
		return
	}
	cr, err := ParseCreateRequest(body)
	if err == nil {
		err = checkName(cr.Name, cr.Config)
	}
	if err != nil {
		r.fail(w, req, body, err)
		return
	}
	_, info, err := r.h.PutConnectorConfig(req.Context(), cr.Name, cr.Config, false, cr.InitialState)
	if err != nil {
		r.fail(w, req, body, err)
		return
	}
	w.Header().Set("Location", "/connectors/"+pathEscape(cr.Name))
	writeJSON(w, http.StatusCreated, info)
}

func (r *rest) getConnector(w http.ResponseWriter, req *http.Request) {
	info, err := r.h.ConnectorInfo(req.PathValue("c"))
	if err != nil {
		r.fail(w, req, nil, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (r *rest) deleteConnector(w http.ResponseWriter, req *http.Request) {
	if err := r.h.DeleteConnector(req.Context(), req.PathValue("c")); err != nil {
		r.fail(w, req, nil, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *rest) getConfig(w http.ResponseWriter, req *http.Request) {
	cfg, err := r.h.ConnectorConfig(req.PathValue("c"))
	if err != nil {
		r.fail(w, req, nil, err)
		return
	}
	writeJSON(w, http.StatusOK, cfg)
}

func (r *rest) putConfig(w http.ResponseWriter, req *http.Request) {
	name := req.PathValue("c")
	body, err := readBody(req)
	var cfg map[string]string
	if err == nil {
		cfg, err = ParseConfigMap(body)
	}
	if err == nil {
		err = checkName(name, cfg)
	}
	if err != nil {
		r.fail(w, req, body, err)
		return
	}
	created, info, err := r.h.PutConnectorConfig(req.Context(), name, cfg, true, "")
	if err != nil {
		r.fail(w, req, body, err)
		return
	}
	if created {
		w.Header().Set("Location", "/connectors/"+pathEscape(name))
		writeJSON(w, http.StatusCreated, info)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (r *rest) patchConfig(w http.ResponseWriter, req *http.Request) {
	body, err := readBody(req)
	var patch map[string]*string
	if err == nil {
		patch, err = parseScalarMap(body, true)
	}
	if err != nil {
		r.fail(w, req, body, err)
		return
	}
	info, err := r.h.PatchConnectorConfig(req.Context(), req.PathValue("c"), patch)
	if err != nil {
		r.fail(w, req, body, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (r *rest) getStatus(w http.ResponseWriter, req *http.Request) {
	st, err := r.h.ConnectorStatus(req.PathValue("c"))
	if err != nil {
		r.fail(w, req, nil, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func queryBool(req *http.Request, k string) (bool, error) {
	v := req.URL.Query().Get(k)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("query parameter %s: %q is not a boolean", k, v)
	}
	return b, nil
}

func (r *rest) restartConnector(w http.ResponseWriter, req *http.Request) {
	includeTasks, err := queryBool(req, "includeTasks")
	var onlyFailed bool
	if err == nil {
		onlyFailed, err = queryBool(req, "onlyFailed")
	}
	if err != nil {
		r.fail(w, req, nil, err)
		return
	}
	st, err := r.h.RestartConnector(req.Context(), req.PathValue("c"), includeTasks, onlyFailed)
	if err != nil {
		r.fail(w, req, nil, err)
		return
	}
	if !includeTasks && !onlyFailed {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusAccepted, st)
}

func (r *rest) targetState(state string, status int) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if err := r.h.SetTargetState(req.Context(), req.PathValue("c"), state); err != nil {
			r.fail(w, req, nil, err)
			return
		}
		w.WriteHeader(status)
	}
}

func (r *rest) getTasks(w http.ResponseWriter, req *http.Request) {
	tasks, err := r.h.TaskConfigs(req.PathValue("c"))
	if err != nil {
		r.fail(w, req, nil, err)
		return
	}
	writeJSON(w, http.StatusOK, tasks)
}

// putTasks is the internal endpoint for task configs (leader only).
func (r *rest) putTasks(w http.ResponseWriter, req *http.Request) {
	body, err := readBody(req)
	var configs []map[string]string
	if err == nil {
		if jerr := json.Unmarshal(body, &configs); jerr != nil {
			err = fmt.Errorf("%w: %v", errBadJSON, jerr)
		}
	}
	var sig *RequestSignature
	if err == nil {
		sig, err = ParseRequestSignature(headerValue(req.Header, SignatureAlgorithmHeader), headerValue(req.Header, SignatureHeader))
	}
	if err == nil {
		err = r.h.PutTaskConfigs(req.Context(), req.PathValue("c"), configs, body, sig)
	}
	if err != nil {
		r.fail(w, req, body, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fence is the internal zombie-fencing request (KIP-618): 204 once the
// leader fenced (or nothing was pending).
func (r *rest) fence(w http.ResponseWriter, req *http.Request) {
	body, err := readBody(req)
	var sig *RequestSignature
	if err == nil {
		sig, err = ParseRequestSignature(headerValue(req.Header, SignatureAlgorithmHeader), headerValue(req.Header, SignatureHeader))
	}
	if err == nil {
		err = r.h.FenceZombies(req.Context(), req.PathValue("c"), body, sig)
	}
	if err != nil {
		r.fail(w, req, body, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func taskParam(req *http.Request) (int, error) {
	t, err := strconv.Atoi(req.PathValue("t"))
	if err != nil || t < 0 {
		return 0, &NotFoundError{Msg: fmt.Sprintf("Task %s-%s not found", req.PathValue("c"), req.PathValue("t"))}
	}
	return t, nil
}

func (r *rest) getTaskStatus(w http.ResponseWriter, req *http.Request) {
	t, err := taskParam(req)
	var st TaskStateInfo
	if err == nil {
		st, err = r.h.TaskStatus(req.PathValue("c"), t)
	}
	if err != nil {
		r.fail(w, req, nil, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (r *rest) restartTask(w http.ResponseWriter, req *http.Request) {
	t, err := taskParam(req)
	if err == nil {
		err = r.h.RestartTask(req.Context(), req.PathValue("c"), t)
	}
	if err != nil {
		r.fail(w, req, nil, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *rest) getTopics(w http.ResponseWriter, req *http.Request) {
	name := req.PathValue("c")
	topics, err := r.h.ActiveTopics(name)
	if err != nil {
		r.fail(w, req, nil, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]map[string][]string{name: {"topics": topics}})
}

func (r *rest) resetTopics(w http.ResponseWriter, req *http.Request) {
	if err := r.h.ResetActiveTopics(req.Context(), req.PathValue("c")); err != nil {
		r.fail(w, req, nil, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (r *rest) getOffsets(w http.ResponseWriter, req *http.Request) {
	offs, err := r.h.Offsets(req.Context(), req.PathValue("c"))
	if err != nil {
		r.fail(w, req, nil, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"offsets": offs})
}

// ParseOffsetsRequest decodes the body of PATCH /connectors/{c}/offsets.
func ParseOffsetsRequest(body []byte) ([]OffsetsChange, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var req struct {
		Offsets []OffsetsChange `json:"offsets"`
	}
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadJSON, err)
	}
	if req.Offsets == nil {
		return nil, badRequest("Partitions to modify offsets for must be specified")
	}
	return req.Offsets, nil
}

func (r *rest) alterOffsets(w http.ResponseWriter, req *http.Request) {
	body, err := readBody(req)
	var changes []OffsetsChange
	if err == nil {
		changes, err = ParseOffsetsRequest(body)
	}
	if err == nil {
		err = r.h.AlterOffsets(req.Context(), req.PathValue("c"), changes)
	}
	if err != nil {
		r.fail(w, req, body, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "The offsets for this connector have been altered successfully"})
}

func (r *rest) resetOffsets(w http.ResponseWriter, req *http.Request) {
	if err := r.h.ResetOffsets(req.Context(), req.PathValue("c")); err != nil {
		r.fail(w, req, nil, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "The Connect framework-managed offsets for this connector have been reset successfully. However, if this connector manages offsets externally, they will need to be manually reset in the system that the connector uses."})
}

func (r *rest) listLoggers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, r.h.Loggers())
}

func (r *rest) getLogger(w http.ResponseWriter, req *http.Request) {
	l, err := r.h.Logger(req.PathValue("l"))
	if err != nil {
		r.fail(w, req, nil, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (r *rest) putLogger(w http.ResponseWriter, req *http.Request) {
	body, err := readBody(req)
	var lv struct {
		Level *string `json:"level"`
	}
	if err == nil {
		if jerr := json.Unmarshal(body, &lv); jerr != nil {
			err = fmt.Errorf("%w: %v", errBadJSON, jerr)
		} else if lv.Level == nil {
			err = badRequest("The request body must specify a 'level' field")
		}
	}
	scope := req.URL.Query().Get("scope")
	if err == nil && scope != "" && !strings.EqualFold(scope, "worker") && !strings.EqualFold(scope, "cluster") {
		err = badRequest("Invalid scope '%s'; must be one of worker or cluster", scope)
	}
	var affected []string
	if err == nil {
		affected, err = r.h.SetLogger(req.Context(), req.PathValue("l"), *lv.Level, strings.EqualFold(scope, "cluster"))
	}
	if err != nil {
		r.fail(w, req, body, err)
		return
	}
	if strings.EqualFold(scope, "cluster") {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, affected)
}

// PluginInfo is one entry of GET /connector-plugins.
type PluginInfo struct {
	Class   string `json:"class"`
	Type    string `json:"type"`
	Version string `json:"version,omitempty"`
}

func (r *rest) listPlugins(w http.ResponseWriter, req *http.Request) {
	connectorsOnly := true
	if v := req.URL.Query().Get("connectorsOnly"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			r.fail(w, req, nil, badRequest("query parameter connectorsOnly: %q is not a boolean", v))
			return
		}
		connectorsOnly = b
	}
	out := []PluginInfo{}
	for _, p := range r.h.Plugins().List() {
		out = append(out, PluginInfo{Class: p.Class, Type: p.Type, Version: p.Version})
	}
	if !connectorsOnly {
		for _, c := range converterClasses {
			out = append(out, PluginInfo{Class: c, Type: "converter", Version: Version})
		}
		for _, p := range TransformPlugins() {
			out = append(out, PluginInfo{Class: p.Class, Type: p.Type, Version: Version})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (r *rest) plugin(name string) (*Plugin, error) {
	p, ok := r.h.Plugins().Lookup(name)
	if !ok {
		return nil, &NotFoundError{Msg: fmt.Sprintf("Unknown plugin %s.", name)}
	}
	return p, nil
}

func (r *rest) pluginConfig(w http.ResponseWriter, req *http.Request) {
	if tp, ok := LookupTransform(req.PathValue("p")); ok {
		writeJSON(w, http.StatusOK, TransformPluginConfig(tp))
		return
	}
	p, err := r.plugin(req.PathValue("p"))
	if err != nil {
		r.fail(w, req, nil, err)
		return
	}
	writeJSON(w, http.StatusOK, PluginConfig(p))
}

func (r *rest) validate(w http.ResponseWriter, req *http.Request) {
	name := req.PathValue("p")
	body, err := readBody(req)
	var cfg map[string]string
	if err == nil {
		cfg, err = ParseConfigMap(body)
	}
	var p *Plugin
	if err == nil {
		p, err = r.plugin(name)
	}
	if err == nil {
		if c, ok := cfg["connector.class"]; ok {
			if cp, ok := r.h.Plugins().Lookup(strings.TrimSpace(c)); !ok || cp != p {
				err = badRequest("Included connector type %s does not match request type %s", c, name)
			}
		} else {
			cfg["connector.class"] = name
		}
	}
	if err != nil {
		r.fail(w, req, nil, err)
		return
	}
	writeJSON(w, http.StatusOK, Validate(p, cfg))
}
