// Package connect is Tributary's Kafka Connect–compatible runtime: a worker
// (the herder) that keeps connector and task configurations, statuses and
// source offsets in compacted Kafka topics, runs connectors and tasks, and
// coordinates with other workers of the same group through the Kafka group
// protocol (protocol type "connect"). rest.go is the thin HTTP layer with
// Kafka Connect's paths and JSON shapes; everything else is the core, which
// talks to Kafka only through the small interfaces in this file and
// store.go (Log, Producer, SinkConsumer, GroupCoordinator), so tests run it
// over in-memory fakes.
//
// It is a Kafka client of the cluster (franz-go kgo/kadm in kafka.go) and
// never imports the broker.
package connect

import (
	"context"
	"log/slog"
	"sort"
	"strings"
)

// Connector types, as Connect serialises them.
const (
	TypeSource  = "source"
	TypeSink    = "sink"
	TypeUnknown = "unknown"
)

// Connector is one running connector instance, Connect's Connector: it is
// started with the connector config and splits the work into task configs.
// Start, TaskConfigs and Stop are called on one goroutine, in that order
// (TaskConfigs possibly many times).
type Connector interface {
	Start(config map[string]string) error
	// TaskConfigs returns at most maxTasks task configurations.
	TaskConfigs(maxTasks int) ([]map[string]string, error)
	Stop() error
}

// Header is one record header. Values are the raw header bytes (the
// worker has no header converter: Connect's SimpleHeaderConverter writes
// strings as their UTF-8, which these are).
type Header struct {
	Key   string
	Value []byte
}

// SourceRecord is one record a source task produced. SourcePartition and
// SourceOffset are the connector-defined position maps committed to the
// offsets topic once the record is acknowledged. Partition nil lets the
// producer's partitioner choose (murmur2 of the key, as Kafka's); Timestamp
// nil is the time of production (ms since the epoch otherwise).
type SourceRecord struct {
	SourcePartition map[string]any
	SourceOffset    map[string]any
	Topic           string
	Partition       *int32
	Key             *Data
	Value           *Data
	Timestamp       *int64
	Headers         []Header
}

// OffsetReader gives a starting source task the last committed offset of
// a source partition (nil when none).
type OffsetReader interface {
	Offset(partition map[string]any) map[string]any
}

// SourceTask is Connect's SourceTask. Start, Poll and Stop are called on
// the task's goroutine; Poll should return within about a second when
// there is nothing to read (or when ctx is done) so the task can be paused
// or stopped. Commit is called after offsets up to the acknowledged
// records were written.
type SourceTask interface {
	Start(config map[string]string, offsets OffsetReader) error
	Poll(ctx context.Context) ([]SourceRecord, error)
	Commit() error
	Stop() error
}

// RecordCommitter is an optional SourceTask interface (Connect's
// commitRecord): CommitRecord runs, on any goroutine, once a record is
// acknowledged, with the partition and offset it was written at. The
// record is as Poll returned it (before transformations).
type RecordCommitter interface {
	CommitRecord(r SourceRecord, partition int32, offset int64)
}

// ConnectorContext is what a running connector may ask of the runtime.
type ConnectorContext interface {
	// RequestTaskReconfiguration has the runtime ask TaskConfigs again
	// (e.g. a mirror found new partitions).
	RequestTaskReconfiguration()
	// Logger is the worker's logger, with the connector's name.
	Logger() *slog.Logger
}

// LoggingTask is an optional SourceTask or SinkTask interface: SetLogger
// runs before Start with the worker's logger (with the task's id).
type LoggingTask interface {
	SetLogger(l *slog.Logger)
}

// ContextConnector is an optional Connector interface: Initialize runs
// before Start with the connector's context.
type ContextConnector interface {
	Initialize(ctx ConnectorContext)
}

// SinkRecord is one consumed record handed to a sink task, already
// converted.
type SinkRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       *Data
	Value     *Data
	// Timestamp is the record's timestamp in ms since the epoch.
	Timestamp int64
	Headers   []Header
}

// SinkTask is Connect's SinkTask. All methods run on the task's
// goroutine. Flush must make everything Put so far durable in the target:
// the consumer group's offsets are committed right after it.
type SinkTask interface {
	Start(config map[string]string) error
	Put(records []SinkRecord) error
	Flush() error
	Stop() error
}

// Plugin describes a connector class.
type Plugin struct {
	// Class is the full class name, e.g.
	// org.apache.kafka.connect.file.FileStreamSourceConnector.
	Class   string
	Type    string
	Version string
	// Config is the connector-specific config definition (the common keys
	// of every connector are added by the runtime).
	Config []ConfigKey
	// Validate checks cross-field rules beyond the definitions; it returns
	// errors by key.
	Validate func(config map[string]string) map[string][]string

	// ExactlyOnce: the source connector can run with exactly-once support
	// (its offsets describe its position completely).
	ExactlyOnce bool

	NewConnector  func() Connector
	NewSourceTask func() SourceTask
	NewSinkTask   func() SinkTask
}

// Alias is the class's simple name (FileStreamSourceConnector).
func (p *Plugin) Alias() string {
	return p.Class[strings.LastIndexByte(p.Class, '.')+1:]
}

// ShortAlias is the simple name without "Connector" (FileStreamSource).
func (p *Plugin) ShortAlias() string {
	return strings.TrimSuffix(p.Alias(), "Connector")
}

// Plugins is the set of connector classes a worker offers.
type Plugins struct{ list []*Plugin }

// NewPlugins returns the built-in connectors.
func NewPlugins() *Plugins {
	return &Plugins{list: []*Plugin{fileStreamSourcePlugin(), fileStreamSinkPlugin(),
		mirrorSourcePlugin(), mirrorCheckpointPlugin(), mirrorHeartbeatPlugin()}}
}

// Lookup finds a plugin by full class name, simple name, or simple name
// without the Connector suffix, as Connect resolves connector.class.
func (ps *Plugins) Lookup(name string) (*Plugin, bool) {
	for _, p := range ps.list {
		if name == p.Class || name == p.Alias() || name == p.ShortAlias() {
			return p, true
		}
	}
	return nil, false
}

// List returns the plugins sorted by class name.
func (ps *Plugins) List() []*Plugin {
	out := append([]*Plugin(nil), ps.list...)
	sort.Slice(out, func(i, j int) bool { return out[i].Class < out[j].Class })
	return out
}
