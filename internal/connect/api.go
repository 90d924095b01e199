package connect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Errors of the herder's API; rest.go maps them to HTTP statuses in one
// table (errorStatus).
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	// ErrNoLeader: no leader is known (the group is rebalancing).
	ErrNoLeader = errors.New("Cannot complete request momentarily due to no known leader URL, likely because a rebalance is underway.")
	// ErrRebalancing: the request needs a stable assignment.
	ErrRebalancing = errors.New("Cannot complete request because a rebalance is expected or in progress")
	// ErrInvalidSignature is an internal request signed with another key
	// (Connect answers 403).
	ErrInvalidSignature = errors.New("Internal request contained invalid signature.")
)

// BadRequestError is a request Connect answers with 400.
type BadRequestError struct{ Msg string }

func (e *BadRequestError) Error() string { return e.Msg }

func badRequest(format string, a ...any) error {
	return &BadRequestError{Msg: fmt.Sprintf(format, a...)}
}

// NotFoundError carries Connect's message for a 404.
type NotFoundError struct{ Msg string }

func (e *NotFoundError) Error() string { return e.Msg }
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

func connectorNotFound(name string) error {
	return &NotFoundError{Msg: fmt.Sprintf("Connector %s not found", name)}
}

// ConflictError is a 409 with Connect's message.
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }
func (e *ConflictError) Unwrap() error { return ErrAlreadyExists }

// NotLeaderError asks the REST layer to forward the request to URL (the
// leader, or the worker owning a task).
type NotLeaderError struct{ URL string }

func (e *NotLeaderError) Error() string { return "request must be served by " + e.URL }

func pathEscape(s string) string { return url.PathEscape(s) }

// ConnectorInfo is Connect's ConnectorInfo.
type ConnectorInfo struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
	Tasks  []TaskID          `json:"tasks"`
	Type   string            `json:"type"`
}

// StateInfo is the state of a connector or task.
type StateInfo struct {
	State    string `json:"state"`
	WorkerID string `json:"worker_id"`
	Trace    string `json:"trace,omitempty"`
}

// TaskStateInfo is a task's state with its id.
type TaskStateInfo struct {
	ID int `json:"id"`
	StateInfo
}

// ConnectorStateInfo is Connect's ConnectorStateInfo.
type ConnectorStateInfo struct {
	Name      string          `json:"name"`
	Connector StateInfo       `json:"connector"`
	Tasks     []TaskStateInfo `json:"tasks"`
	Type      string          `json:"type"`
}

// TaskInfo is one entry of GET /connectors/{c}/tasks.
type TaskInfo struct {
	ID     TaskID            `json:"id"`
	Config map[string]string `json:"config"`
}

// Connectors lists connector names, sorted.
func (h *Herder) Connectors() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return nonNil(h.config.connectorNames())
}

func (h *Herder) connectorType(cfg map[string]string) string {
	if p, ok := h.plugins.Lookup(cfg["connector.class"]); ok {
		return p.Type
	}
	return TypeUnknown
}

// ConnectorInfo returns a connector's config and tasks.
func (h *Herder) ConnectorInfo(name string) (ConnectorInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.infoLocked(name)
}

func (h *Herder) infoLocked(name string) (ConnectorInfo, error) {
	cfg, ok := h.config.connectors[name]
	if !ok {
		return ConnectorInfo{}, connectorNotFound(name)
	}
	tasks := []TaskID{}
	for i := range h.config.tasks[name] {
		tasks = append(tasks, TaskID{name, i})
	}
	return ConnectorInfo{Name: name, Config: maps.Clone(cfg), Tasks: tasks, Type: h.connectorType(cfg)}, nil
}

// ConnectorConfig returns a connector's config.
func (h *Herder) ConnectorConfig(name string) (map[string]string, error) {
	info, err := h.ConnectorInfo(name)
	return info.Config, err
}

// ConnectorStatus returns the connector's and its tasks' states from the
// status topic (eventually consistent, as in Connect).
func (h *Herder) ConnectorStatus(name string) (ConnectorStateInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.statusLocked(name)
}

func (h *Herder) statusLocked(name string) (ConnectorStateInfo, error) {
	cfg, ok := h.config.connectors[name]
	if !ok {
		return ConnectorStateInfo{}, connectorNotFound(name)
	}
	out := ConnectorStateInfo{Name: name, Type: h.connectorType(cfg), Tasks: []TaskStateInfo{}}
	out.Connector = stateInfo(h.status.connectors[name])
	for i := range h.config.tasks[name] {
		out.Tasks = append(out.Tasks, TaskStateInfo{ID: i, StateInfo: stateInfo(h.status.tasks[TaskID{name, i}])})
	}
	return out, nil
}

func stateInfo(v statusValue) StateInfo {
	if v.State == "" {
		return StateInfo{State: StateUnassigned}
	}
	s := StateInfo{State: v.State, WorkerID: v.WorkerID}
	if v.Trace != nil {
		s.Trace = *v.Trace
	}
	return s
}

// Expanded is one entry of GET /connectors?expand=….
type Expanded struct {
	Status *ConnectorStateInfo `json:"status,omitempty"`
	Info   *ConnectorInfo      `json:"info,omitempty"`
}

// ConnectorsExpanded answers GET /connectors with expand parameters.
func (h *Herder) ConnectorsExpanded(status, info bool) map[string]Expanded {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]Expanded{}
	for _, name := range h.config.connectorNames() {
		var e Expanded
		if status {
			s, _ := h.statusLocked(name)
			e.Status = &s
		}
		if info {
			i, _ := h.infoLocked(name)
			e.Info = &i
		}
		out[name] = e
	}
	return out
}

// TaskConfigs returns a connector's tasks and their configs.
func (h *Herder) TaskConfigs(name string) ([]TaskInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.config.connectors[name]; !ok {
		return nil, connectorNotFound(name)
	}
	out := []TaskInfo{}
	for i, c := range h.config.tasks[name] {
		out = append(out, TaskInfo{ID: TaskID{name, i}, Config: maps.Clone(c)})
	}
	return out, nil
}

// TaskStatus returns one task's state.
func (h *Herder) TaskStatus(name string, task int) (TaskStateInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.config.connectors[name]; !ok {
		return TaskStateInfo{}, connectorNotFound(name)
	}
	if task < 0 || task >= len(h.config.tasks[name]) {
		return TaskStateInfo{}, &NotFoundError{Msg: fmt.Sprintf("Task %s-%d not found", name, task)}
	}
	return TaskStateInfo{ID: task, StateInfo: stateInfo(h.status.tasks[TaskID{name, task}])}, nil
}

// ActiveTopics returns the topics a connector used (KIP-558).
func (h *Herder) ActiveTopics(name string) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.config.connectors[name]; !ok {
		return nil, connectorNotFound(name)
	}
	out := []string{}
	for t := range h.status.topics[name] {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}

// ResetActiveTopics forgets a connector's active topics; running tasks
// record the topics they use again.
func (h *Herder) ResetActiveTopics(ctx context.Context, name string) error {
	topics, err := h.ActiveTopics(name)
	if err != nil {
		return err
	}
	for _, t := range topics {
		if err := h.statusLog.Send(ctx, statusTopicKey(t, name), nil); err != nil {
			return err
		}
	}
	return h.statusLog.ReadToEnd(ctx)
}

// Offsets returns a connector's committed offsets: the offsets topic's
// entries for a source, the consumer group connect-<name> for a sink.
func (h *Herder) Offsets(ctx context.Context, name string) ([]ConnectorOffset, error) {
	h.mu.Lock()
	cfg, ok := h.config.connectors[name]
	var out []ConnectorOffset
	if ok && h.connectorType(cfg) != TypeSink {
		out = h.offsets.connectorOffsets(name)
	}
	h.mu.Unlock()
	if !ok {
		return nil, connectorNotFound(name)
	}
	if h.connectorType(cfg) == TypeSink {
		var err error
		if out, err = h.deps.SinkOffsets(ctx, "connect-"+name); err != nil {
			return nil, err
		}
	}
	return nonNil(out), nil
}

// OffsetsChange is one entry of PATCH /connectors/{c}/offsets; a nil
// Offset resets the partition.
type OffsetsChange struct {
	Partition map[string]any `json:"partition"`
	Offset    map[string]any `json:"offset"`
}

// stoppedConnector checks the connector exists and is STOPPED, as offset
// changes require; it returns its type.
func (h *Herder) stoppedConnector(name string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cfg, ok := h.config.connectors[name]
	if !ok {
		return "", connectorNotFound(name)
	}
	if h.config.targetState(name) != TargetStopped {
		return "", badRequest("Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/%s/stop' endpoint", name)
	}
	return h.connectorType(cfg), nil
}

// AlterOffsets writes (or, for a nil offset, resets) a STOPPED
// connector's offsets: the offsets topic for a source, the consumer group
// connect-<name> for a sink ({"kafka_topic","kafka_partition"} →
// {"kafka_offset"}).
func (h *Herder) AlterOffsets(ctx context.Context, name string, changes []OffsetsChange) error {
	typ, err := h.stoppedConnector(name)
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		return badRequest("Partitions to modify offsets for must be specified")
	}
	if typ == TypeSink {
		m := map[string]map[int32]int64{}
		for _, c := range changes {
			topic, ok1 := c.Partition["kafka_topic"].(string)
			part, err1 := jsonInt(c.Partition["kafka_partition"])
			if !ok1 || topic == "" || err1 != nil || part < 0 || part > 1<<31-1 {
				return badRequest("Sink connector partitions must have a string kafka_topic and a non-negative integer kafka_partition: %v", c.Partition)
			}
			off := int64(-1)
			if c.Offset != nil {
				o, err := jsonInt(c.Offset["kafka_offset"])
				if err != nil || o < 0 {
					return badRequest("Sink connector offsets must have a non-negative integer kafka_offset: %v", c.Offset)
				}
				off = o
			}
			if m[topic] == nil {
				m[topic] = map[int32]int64{}
			}
			m[topic][int32(part)] = off
		}
		return h.deps.AlterSinkOffsets(ctx, "connect-"+name, m, false)
	}
	for _, c := range changes {
		if c.Partition == nil {
			return badRequest("Source partitions may not be null")
		}
		var v []byte
		if c.Offset != nil {
			v, _ = json.Marshal(c.Offset)
		}
		if err := h.offsetLog.Send(ctx, offsetKey(name, c.Partition), v); err != nil {
			return err
		}
	}
	return h.offsetLog.ReadToEnd(ctx)
}

// ResetOffsets removes every offset of a STOPPED connector.
func (h *Herder) ResetOffsets(ctx context.Context, name string) error {
	typ, err := h.stoppedConnector(name)
	if err != nil {
		return err
	}
	if typ == TypeSink {
		return h.deps.AlterSinkOffsets(ctx, "connect-"+name, nil, true)
	}
	if err := h.offsetLog.ReadToEnd(ctx); err != nil {
		return err
	}
	h.mu.Lock()
	offs := h.offsets.connectorOffsets(name)
	h.mu.Unlock()
	for _, o := range offs {
		if err := h.offsetLog.Send(ctx, offsetKey(name, o.Partition), nil); err != nil {
			return err
		}
	}
	return h.offsetLog.ReadToEnd(ctx)
}

// jsonInt reads an integer decoded from JSON.
func jsonInt(v any) (int64, error) {
	switch n := v.(type) {
	case json.Number:
		return n.Int64()
	case float64:
		if n != float64(int64(n)) {
			return 0, fmt.Errorf("%v is not an integer", n)
		}
		return int64(n), nil
	}
	return 0, fmt.Errorf("%v is not a number", v)
}

// leader returns nil when this worker is the leader, else the error the
// REST layer forwards on. During a rebalance it waits for the group to
// settle (as Connect queues requests until the herder is stable), up to
// ctx's deadline.
func (h *Herder) leader(ctx context.Context) error {
	for {
		h.mu.Lock()
		rebalancing, isLeader, url := h.rebalancing, h.isLeader, h.leaderURL
		h.mu.Unlock()
		if !rebalancing {
			if isLeader {
				return nil
			}
			if url == "" {
				return ErrNoLeader
			}
			return &NotLeaderError{URL: url}
		}
		select {
		case <-ctx.Done():
			if url == "" {
				return ErrNoLeader
			}
			return ErrRebalancing
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ValidateConfig validates a connector config (the connector.class picks
// the plugin).
func (h *Herder) ValidateConfig(cfg map[string]string) (ConfigInfos, *Plugin, error) {
	class, ok := cfg["connector.class"]
	if !ok || strings.TrimSpace(class) == "" {
		return ConfigInfos{}, nil, badRequest("Connector config %s contains no connector type", formatConfig(cfg))
	}
	p, ok := h.plugins.Lookup(strings.TrimSpace(class))
	if !ok {
		return ConfigInfos{}, nil, badRequest("Failed to find any class that implements Connector and which name matches %s, available connectors are: %s", class, h.pluginNames())
	}
	return Validate(p, cfg), p, nil
}

func (h *Herder) pluginNames() string {
	var names []string
	for _, p := range h.plugins.List() {
		names = append(names, p.Class)
	}
	return strings.Join(names, ", ")
}

func formatConfig(cfg map[string]string) string {
	b, _ := json.Marshal(cfg)
	return string(b)
}

// PutConnectorConfig creates or (allowReplace) updates a connector. It
// reports whether it was created. Only the leader writes; others return a
// NotLeaderError.
func (h *Herder) PutConnectorConfig(ctx context.Context, name string, cfg map[string]string, allowReplace bool, initialState string) (bool, ConnectorInfo, error) {
	if strings.TrimSpace(name) == "" {
		return false, ConnectorInfo{}, badRequest("Connector name is required")
	}
	if strings.ContainsAny(name, "/") {
		return false, ConnectorInfo{}, badRequest("Connector name cannot contain '/'")
	}
	switch initialState {
	case "", "RUNNING":
		initialState = ""
	case "PAUSED":
		initialState = TargetPaused
	case "STOPPED":
		initialState = TargetStopped
	default:
		return false, ConnectorInfo{}, badRequest("Invalid initial state %s; must be one of RUNNING, PAUSED, STOPPED", initialState)
	}
	infos, _, err := h.ValidateConfig(cfg)
	if err != nil {
		return false, ConnectorInfo{}, err
	}
	if infos.ErrorCount > 0 {
		msgs := infos.Errors()
		return false, ConnectorInfo{}, badRequest("Connector configuration is invalid and contains the following %d error(s):\n%s\nYou can also find the above list of errors at the endpoint `/connector-plugins/{connectorType}/config/validate`",
			len(msgs), strings.Join(msgs, "\n"))
	}
	if err := h.leader(ctx); err != nil {
		return false, ConnectorInfo{}, err
	}
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	if err := h.configLog.ReadToEnd(ctx); err != nil {
		return false, ConnectorInfo{}, err
	}
	h.mu.Lock()
	_, exists := h.config.connectors[name]
	h.mu.Unlock()
	if exists && !allowReplace {
		return false, ConnectorInfo{}, &ConflictError{Msg: fmt.Sprintf("Connector %s already exists", name)}
	}
	if !exists && initialState != "" {
		if err := h.configLog.Send(ctx, targetStateKey(name), encodeTargetState(initialState)); err != nil {
			return false, ConnectorInfo{}, err
		}
		if initialState == TargetStopped {
			b, _ := json.Marshal(commitValue{Tasks: 0})
			if err := h.configLog.Send(ctx, commitKey(name), b); err != nil {
				return false, ConnectorInfo{}, err
			}
		}
	}
	if err := h.configLog.Send(ctx, connectorKey(name), encodeProperties(cfg)); err != nil {
		return false, ConnectorInfo{}, err
	}
	if err := h.configLog.ReadToEnd(ctx); err != nil {
		return false, ConnectorInfo{}, err
	}
	info, err := h.ConnectorInfo(name)
	return !exists, info, err
}

// PatchConnectorConfig applies a partial config (nil removes a key).
func (h *Herder) PatchConnectorConfig(ctx context.Context, name string, patch map[string]*string) (ConnectorInfo, error) {
	cur, err := h.ConnectorConfig(name)
	if err != nil {
		return ConnectorInfo{}, err
	}
	for k, v := range patch {
		if v == nil {
			delete(cur, k)
		} else {
			cur[k] = *v
		}
	}
	if n, ok := cur["name"]; ok && n != name {
		return ConnectorInfo{}, badRequest("Connector name configuration (%s) doesn't match connector name in the URL (%s)", n, name)
	}
	_, info, err := h.PutConnectorConfig(ctx, name, cur, true, "")
	return info, err
}

// DeleteConnector removes a connector: tombstones for its config and
// target state, and its statuses.
func (h *Herder) DeleteConnector(ctx context.Context, name string) error {
	if _, err := h.ConnectorInfo(name); err != nil {
		return err
	}
	if err := h.leader(ctx); err != nil {
		return err
	}
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	h.mu.Lock()
	ntasks := len(h.config.tasks[name])
	h.mu.Unlock()
	if err := h.configLog.Send(ctx, connectorKey(name), nil); err != nil {
		return err
	}
	if err := h.configLog.Send(ctx, targetStateKey(name), nil); err != nil {
		return err
	}
	if err := h.configLog.ReadToEnd(ctx); err != nil {
		return err
	}
	h.statusLog.Send(ctx, statusConnectorKey(name), nil)
	for i := range ntasks {
		h.statusLog.Send(ctx, statusTaskKey(TaskID{name, i}), nil)
	}
	return nil
}

// SetTargetState pauses (PAUSED), resumes (STARTED) or stops (STOPPED) a
// connector. Stopping also writes an empty task set.
func (h *Herder) SetTargetState(ctx context.Context, name, state string) error {
	if _, err := h.ConnectorInfo(name); err != nil {
		return err
	}
	if err := h.leader(ctx); err != nil {
		return err
	}
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	if err := h.configLog.Send(ctx, targetStateKey(name), encodeTargetState(state)); err != nil {
		return err
	}
	if state == TargetStopped {
		b, _ := json.Marshal(commitValue{Tasks: 0})
		if err := h.configLog.Send(ctx, commitKey(name), b); err != nil {
			return err
		}
	}
	return h.configLog.ReadToEnd(ctx)
}

// PutTaskConfigs is the internal endpoint a connector's worker uses to
// have the leader write its task configs.
//
// Under the sessioned sub-protocol the request must be signed: body is
// the request body as received and sig its signature (nil: unsigned).
func (h *Herder) PutTaskConfigs(ctx context.Context, name string, configs []map[string]string, body []byte, sig *RequestSignature) error {
	// No waiting out a rebalance here: the worker posting is part of it,
	// and the leader stays the config writer until the next sync.
	if err := h.internalAtLeader(name, body, sig); err != nil {
		return err
	}
	return h.writeTaskConfigs(ctx, name, configs)
}

// internalAtLeader admits an internal request about connector name: its
// signature verifies (verifyInternal), the connector exists, and this
// worker leads (else ErrNoLeader, or NotLeaderError naming the leader for
// the caller to forward to).
func (h *Herder) internalAtLeader(name string, body []byte, sig *RequestSignature) error {
	if err := h.verifyInternal(body, sig); err != nil {
		return err
	}
	if _, err := h.ConnectorInfo(name); err != nil {
		return err
	}
	h.mu.Lock()
	leader, url := h.isLeader, h.leaderURL
	h.mu.Unlock()
	if !leader {
		if url == "" {
			return ErrNoLeader
		}
		return &NotLeaderError{URL: url}
	}
	return nil
}

// RestartConnector records a restart request in the config topic; the
// workers owning the connector (and its tasks) act on it. It returns the
// status with what will restart as RESTARTING.
func (h *Herder) RestartConnector(ctx context.Context, name string, includeTasks, onlyFailed bool) (ConnectorStateInfo, error) {
	st, err := h.ConnectorStatus(name)
	if err != nil {
		return st, err
	}
	if err := h.leader(ctx); err != nil {
		return st, err
	}
	b, _ := json.Marshal(restartRequest{IncludeTasks: includeTasks, OnlyFailed: onlyFailed})
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	if err := h.configLog.Send(ctx, restartKey(name), b); err != nil {
		return st, err
	}
	if !onlyFailed || st.Connector.State == StateFailed {
		st.Connector.State = StateRestarting
	}
	if includeTasks {
		for i := range st.Tasks {
			if !onlyFailed || st.Tasks[i].State == StateFailed {
				st.Tasks[i].State = StateRestarting
			}
		}
	}
	return st, h.configLog.ReadToEnd(ctx)
}

// RestartTask restarts one task on the worker that runs it; another worker
// gets a NotLeaderError naming the owner.
func (h *Herder) RestartTask(ctx context.Context, name string, task int) error {
	ts, err := h.TaskStatus(name, task)
	if err != nil {
		return err
	}
	id := TaskID{name, task}
	h.mu.Lock()
	mine := false
	for _, t := range h.assigned.Tasks {
		mine = mine || t == id
	}
	rebalancing := h.rebalancing
	h.mu.Unlock()
	if rebalancing {
		return ErrRebalancing
	}
	if !mine {
		if ts.WorkerID == "" || ts.WorkerID == h.cfg.WorkerID {
			return ErrRebalancing
		}
		return &NotLeaderError{URL: "http://" + ts.WorkerID}
	}
	done := make(chan struct{})
	select {
	case h.requests <- func() { h.restartTask(id); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Plugins returns the worker's plugins.
func (h *Herder) Plugins() *Plugins { return h.plugins }

// ClusterID is the Kafka cluster id for GET /.
func (h *Herder) ClusterID() string { return h.deps.ClusterID }

// Ready reports whether the worker has read its topics and joined.
func (h *Herder) Ready() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.started && h.generation > 0
}
