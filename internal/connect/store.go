package connect

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Log is one compacted internal topic, Connect's KafkaBasedLog: every
// worker reads it from the start into memory and appends to it.
//
// Threading: Send and ReadToEnd may be called from any goroutine. The
// apply callback given when the log is opened runs on the log's own
// reading goroutine, once per record, in offset order per partition; it
// must not call Send or ReadToEnd.
type Log interface {
	// Send appends a record (nil value: tombstone) and returns once the
	// cluster acknowledged it.
	Send(ctx context.Context, key, value []byte) error
	// ReadToEnd returns once every record acknowledged before the call
	// has been applied.
	ReadToEnd(ctx context.Context) error
	Close()
}

// ApplyFunc receives one record of a Log: partition, offset, key, value
// (nil for a tombstone).
type ApplyFunc func(partition int32, offset int64, key, value []byte)

// Target states of a connector as stored in target-state-<name>.
const (
	TargetStarted = "STARTED"
	TargetPaused  = "PAUSED"
	TargetStopped = "STOPPED"
)

// TaskID names one task of a connector.
type TaskID struct {
	Connector string `json:"connector"`
	Task      int    `json:"task"`
}

func (t TaskID) String() string { return t.Connector + "-" + strconv.Itoa(t.Task) }

// configState is the content of the config topic: Connect's
// KafkaConfigBackingStore. Task configs become visible only with the
// commit-<name> record that follows them, so a reader never sees half of
// a new task set.
type configState struct {
	offset       int64 // offset of the next record to apply
	connectors   map[string]map[string]string
	targetStates map[string]string
	tasks        map[string][]map[string]string // committed
	pending      map[string]map[int]map[string]string
	// inconsistent marks connectors whose last commit named task configs
	// that were not read (compaction can cause it): they need new task
	// configs.
	inconsistent map[string]bool
	// restarts are restart-connector requests not yet taken by the herder.
	restarts []restartRequest
	// clusterLogLevel is the last logger-cluster-root level (KIP-976).
	clusterLogLevel string

	// Zombie fencing of exactly-once sources (KIP-618). fencePending marks
	// connectors whose last task-config commit has no tasks-fencing-<name>
	// record after it: their new tasks must not start yet. fenceCount is
	// how many task ids (0..n-1) may still have a live transactional
	// producer: the last task-count record, or more when tasks of an
	// earlier commit ran without one (a worker without exactly-once
	// support wrote it).
	fencePending map[string]bool
	fenceCount   map[string]int
	// sessionKey is the last session-key record (KIP-507), nil if none.
	sessionKey *SessionKey
}

type restartRequest struct {
	Connector    string `json:"-"`
	IncludeTasks bool   `json:"include-tasks"`
	OnlyFailed   bool   `json:"only-failed"`
}

func newConfigState() *configState {
	return &configState{connectors: map[string]map[string]string{}, targetStates: map[string]string{},
		tasks: map[string][]map[string]string{}, pending: map[string]map[int]map[string]string{}, inconsistent: map[string]bool{},
		fencePending: map[string]bool{}, fenceCount: map[string]int{}}
}

// Record keys and values of the config topic.
func connectorKey(name string) []byte   { return []byte("connector-" + name) }
func taskKey(id TaskID) []byte          { return []byte("task-" + id.String()) }
func commitKey(name string) []byte      { return []byte("commit-" + name) }
func targetStateKey(name string) []byte { return []byte("target-state-" + name) }
func restartKey(name string) []byte     { return []byte("restart-connector-" + name) }
func taskCountKey(name string) []byte   { return []byte("tasks-fencing-" + name) }

// sessionKeyKey is the config-topic key of the session key (KIP-507).
const sessionKeyKey = "session-key"

func statusConnectorKey(n string) []byte { return []byte("status-connector-" + n) }
func statusTaskKey(id TaskID) []byte     { return []byte("status-task-" + id.String()) }
func statusTopicKey(topic, connector string) []byte {
	return []byte("status-topic-" + topic + ":connector-" + connector)
}

type propertiesValue struct {
	Properties map[string]string `json:"properties"`
}

type commitValue struct {
	Tasks int `json:"tasks"`
}

// taskCountValue is a tasks-fencing-<name> record: the zombies of earlier
// task generations were fenced and this many tasks may now run.
type taskCountValue struct {
	TaskCount int `json:"task-count"`
}

type targetStateValue struct {
	State   string `json:"state"`
	StateV2 string `json:"state.v2,omitempty"`
}

func encodeProperties(p map[string]string) []byte {
	b, _ := json.Marshal(propertiesValue{Properties: p})
	return b
}

func encodeTargetState(s string) []byte {
	v := targetStateValue{State: s, StateV2: s}
	if s == TargetStopped {
		v.State = TargetPaused // readers before STOPPED existed see PAUSED
	}
	b, _ := json.Marshal(v)
	return b
}

// apply folds one config record into the state. Malformed records are
// skipped (another writer's bytes must not stop the worker).
func (s *configState) apply(offset int64, key, value []byte) {
	s.offset = offset + 1
	k := string(key)
	switch {
	case strings.HasPrefix(k, "connector-"):
		name := strings.TrimPrefix(k, "connector-")
		if value == nil {
			delete(s.connectors, name)
			delete(s.tasks, name)
			delete(s.pending, name)
			delete(s.targetStates, name)
			delete(s.inconsistent, name)
			delete(s.fencePending, name)
			delete(s.fenceCount, name)
			return
		}
		var v propertiesValue
		if json.Unmarshal(value, &v) == nil && v.Properties != nil {
			s.connectors[name] = v.Properties
			if _, ok := s.targetStates[name]; !ok {
				s.targetStates[name] = TargetStarted
			}
		}
	case strings.HasPrefix(k, "task-"):
		id, ok := parseTaskID(strings.TrimPrefix(k, "task-"))
		if !ok {
			return
		}
		var v propertiesValue
		if value == nil || json.Unmarshal(value, &v) != nil {
			return
		}
		if s.pending[id.Connector] == nil {
			s.pending[id.Connector] = map[int]map[string]string{}
		}
		s.pending[id.Connector][id.Task] = v.Properties
	case strings.HasPrefix(k, "commit-"):
		name := strings.TrimPrefix(k, "commit-")
		var v commitValue
		if value == nil || json.Unmarshal(value, &v) != nil || v.Tasks < 0 {
			return
		}
		p := s.pending[name]
		delete(s.pending, name)
		list := make([]map[string]string, v.Tasks)
		for i := range list {
			c, ok := p[i]
			if !ok {
				s.inconsistent[name] = true
				return
			}
			list[i] = c
		}
		delete(s.inconsistent, name)
		// Tasks of the replaced generation may still be running somewhere.
		s.fenceCount[name] = max(s.fenceCount[name], len(s.tasks[name]))
		s.fencePending[name] = true
		s.tasks[name] = list
	case strings.HasPrefix(k, "tasks-fencing-"):
		name := strings.TrimPrefix(k, "tasks-fencing-")
		var v taskCountValue
		if value == nil || json.Unmarshal(value, &v) != nil || v.TaskCount < 0 {
			return
		}
		s.fenceCount[name] = v.TaskCount
		delete(s.fencePending, name)
	case k == sessionKeyKey:
		if sk, err := decodeSessionKey(value); err == nil {
			s.sessionKey = &sk
		}
	case strings.HasPrefix(k, "target-state-"):
		name := strings.TrimPrefix(k, "target-state-")
		if value == nil {
			delete(s.targetStates, name)
			return
		}
		var v targetStateValue
		if json.Unmarshal(value, &v) != nil {
			return
		}
		st := v.StateV2
		if st == "" {
			st = v.State
		}
		if st == TargetStarted || st == TargetPaused || st == TargetStopped {
			s.targetStates[name] = st
		}
	case k == "logger-cluster-root":
		var v struct {
			Level string `json:"level"`
		}
		if value != nil && json.Unmarshal(value, &v) == nil {
			s.clusterLogLevel = v.Level
		}
	case strings.HasPrefix(k, "restart-connector-"):
		var r restartRequest
		if value != nil && json.Unmarshal(value, &r) == nil {
			r.Connector = strings.TrimPrefix(k, "restart-connector-")
			s.restarts = append(s.restarts, r)
		}
	}
}

// parseTaskID splits "<connector>-<n>" at the last dash.
func parseTaskID(s string) (TaskID, bool) {
	i := strings.LastIndexByte(s, '-')
	if i < 0 {
		return TaskID{}, false
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil || n < 0 {
		return TaskID{}, false
	}
	return TaskID{Connector: s[:i], Task: n}, true
}

// targetState returns a connector's target state (STARTED when unset).
func (s *configState) targetState(name string) string {
	if t, ok := s.targetStates[name]; ok {
		return t
	}
	return TargetStarted
}

// taskIDs returns every committed task of every existing connector, sorted.
func (s *configState) taskIDs() []TaskID {
	var out []TaskID
	for _, name := range s.connectorNames() {
		for i := range s.tasks[name] {
			out = append(out, TaskID{name, i})
		}
	}
	return out
}

func (s *configState) connectorNames() []string {
	return slices.Sorted(maps.Keys(s.connectors))
}

// Connector and task states, as Connect reports them.
const (
	StateUnassigned = "UNASSIGNED"
	StateRunning    = "RUNNING"
	StatePaused     = "PAUSED"
	StateStopped    = "STOPPED"
	StateFailed     = "FAILED"
	StateRestarting = "RESTARTING"
)

// statusValue is a status-topic value (KafkaStatusBackingStore).
type statusValue struct {
	State      string  `json:"state"`
	Trace      *string `json:"trace"`
	WorkerID   string  `json:"worker_id"`
	Generation int32   `json:"generation"`
}

type topicStatusValue struct {
	Topic struct {
		Name              string `json:"name"`
		Connector         string `json:"connector"`
		Task              int    `json:"task"`
		DiscoverTimestamp int64  `json:"discoverTimestamp"`
	} `json:"topic"`
}

// statusState is the content of the status topic.
type statusState struct {
	connectors map[string]statusValue
	tasks      map[TaskID]statusValue
	topics     map[string]map[string]bool // connector → active topics
}

func newStatusState() *statusState {
	return &statusState{connectors: map[string]statusValue{}, tasks: map[TaskID]statusValue{}, topics: map[string]map[string]bool{}}
}

// apply folds a status record in. A record from an older generation than
// the one held is ignored (a zombie worker's late write), except from the
// same worker.
func (s *statusState) apply(key, value []byte) {
	k := string(key)
	keep := func(old statusValue, had bool, v statusValue) bool {
		return !had || v.Generation >= old.Generation || v.WorkerID == old.WorkerID
	}
	switch {
	case strings.HasPrefix(k, "status-connector-"):
		name := strings.TrimPrefix(k, "status-connector-")
		if value == nil {
			delete(s.connectors, name)
			return
		}
		var v statusValue
		if json.Unmarshal(value, &v) != nil {
			return
		}
		if old, had := s.connectors[name]; keep(old, had, v) {
			s.connectors[name] = v
		}
	case strings.HasPrefix(k, "status-task-"):
		id, ok := parseTaskID(strings.TrimPrefix(k, "status-task-"))
		if !ok {
			return
		}
		if value == nil {
			delete(s.tasks, id)
			return
		}
		var v statusValue
		if json.Unmarshal(value, &v) != nil {
			return
		}
		if old, had := s.tasks[id]; keep(old, had, v) {
			s.tasks[id] = v
		}
	case strings.HasPrefix(k, "status-topic-"):
		topic, conn, ok := strings.Cut(strings.TrimPrefix(k, "status-topic-"), ":connector-")
		if !ok {
			return
		}
		if value == nil {
			if m := s.topics[conn]; m != nil {
				delete(m, topic)
			}
			return
		}
		if s.topics[conn] == nil {
			s.topics[conn] = map[string]bool{}
		}
		s.topics[conn][topic] = true
	}
}

// offsetKey is the offsets-topic key: ["<connector>", {partition}].
func offsetKey(connector string, partition map[string]any) []byte {
	b, _ := json.Marshal([]any{connector, partition})
	return b
}

// offsetState is the content of the offsets topic: source offsets by key.
type offsetState struct {
	offsets map[string]map[string]any // offsetKey → offset
}

func (s *offsetState) apply(key, value []byte) {
	if value == nil {
		delete(s.offsets, string(key))
		return
	}
	v, err := decodeJSON(value)
	if err != nil {
		return
	}
	if m, ok := v.(map[string]any); ok {
		s.offsets[string(key)] = m
	}
}

// connectorOffsets lists a connector's source partitions and offsets.
func (s *offsetState) connectorOffsets(connector string) []ConnectorOffset {
	var out []ConnectorOffset
	for _, k := range slices.Sorted(maps.Keys(s.offsets)) {
		v, err := decodeJSON([]byte(k))
		if err != nil {
			continue
		}
		a, ok := v.([]any)
		if !ok || len(a) != 2 || a[0] != connector {
			continue
		}
		p, _ := a[1].(map[string]any)
		out = append(out, ConnectorOffset{Partition: p, Offset: s.offsets[k]})
	}
	return out
}

// ConnectorOffset is one entry of GET /connectors/{c}/offsets.
type ConnectorOffset struct {
	Partition map[string]any `json:"partition"`
	Offset    map[string]any `json:"offset"`
}
