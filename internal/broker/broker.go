// Package broker answers Kafka requests: one file per API family, named by
// the lowest API key it serves (00_produce.go, 01_fetch.go, ...). Each file
// registers its handlers with the versions it serves; ApiVersions advertises
// exactly that table.
//
// Concurrency: Broker.mu guards the topics maps. A *topic value is immutable
// once published; config or partition changes publish a new value. Handlers
// take mu only to look topics up, never across I/O.
package broker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/group"
	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/storage"
)

// Config configures a broker.
type Config struct {
	NodeID  int32
	DataDir string
	// Host and Port are advertised in Metadata.
	Host   string
	Port   int32
	Broker *config.Broker
	Logger *slog.Logger
	// Now is the clock; tests inject one.
	Now func() time.Time
}

// Broker is a single node's request handler and partition registry.
type Broker struct {
	cfg  Config
	log  *slog.Logger
	meta metadata.Store
	// store owns the partition logs of DataDir (checkpoints, flusher,
	// retention, cleaner).
	store *storage.Manager

	// createMu serializes topic creation, deletion and partition changes
	// (check-then-create must be atomic); it is taken before mu.
	createMu sync.Mutex

	// groups is the group coordinator (see group_hooks.go).
	groups *group.Coordinator

	mu     sync.RWMutex
	topics map[string]*topic
	byID   map[[16]byte]*topic
}

type topic struct {
	meta  *metadata.Topic
	cfg   config.TopicConfig
	parts []*partition.Partition
}

func (t *topic) partition(i int32) *partition.Partition {
	if i < 0 || int(i) >= len(t.parts) {
		return nil
	}
	return t.parts[i]
}

// New opens the broker's data dir: metadata and every partition log.
func New(cfg Config) (*Broker, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Broker == nil {
		cfg.Broker, _ = config.NewBroker(nil)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	meta, err := metadata.OpenFileStore(filepath.Join(cfg.DataDir, "__tributary_metadata"), cfg.NodeID)
	if err != nil {
		return nil, err
	}
	store, err := storage.OpenManager(storage.ManagerConfig{Dir: cfg.DataDir, Logger: cfg.Logger, Now: cfg.Now,
		RetentionCheckInterval: brokerMillis(cfg.Broker, "log.retention.check.interval.ms"),
		CheckpointInterval:     brokerMillis(cfg.Broker, "log.flush.offset.checkpoint.interval.ms"),
		CleanerInterval:        brokerMillis(cfg.Broker, "log.cleaner.backoff.ms")})
	if err != nil {
		return nil, err
	}
	b := &Broker{cfg: cfg, log: cfg.Logger, meta: meta, store: store, topics: map[string]*topic{}, byID: map[[16]byte]*topic{}}
	for _, mt := range meta.Topics() {
		t, err := b.openTopic(mt)
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("opening topic %s: %w", mt.Name, err)
		}
		b.publish(t)
	}
	if b.groups, err = b.newGroupCoordinator(); err != nil {
		b.Close()
		return nil, fmt.Errorf("loading consumer groups: %w", err)
	}
	return b, nil
}

// ClusterID is the cluster's id.
func (b *Broker) ClusterID() string { return b.meta.ClusterID() }

func (b *Broker) partitionDir(topic string, i int32) string {
	return filepath.Join(b.cfg.DataDir, topic+"-"+strconv.Itoa(int(i)))
}

// brokerMillis reads a broker interval config (0: the storage default).
func brokerMillis(c *config.Broker, name string) time.Duration {
	v, ok := c.Explicit(name)
	if !ok {
		return 0
	}
	ms, _ := strconv.ParseInt(v, 10, 64)
	return time.Duration(ms) * time.Millisecond
}

func (b *Broker) openPartition(topic string, i int32, cfg config.TopicConfig) (*partition.Partition, error) {
	l, err := b.store.Open(topic, i, storage.FromConfig(cfg.Get))
	if err != nil {
		return nil, err
	}
	p, err := partition.Open(topic, i, l)
	if err != nil {
		l.Close()
		return nil, err
	}
	return p, nil
}

func (b *Broker) openTopic(mt *metadata.Topic) (*topic, error) {
	t := &topic{meta: mt, cfg: config.NewTopicConfig(mt.Configs, b.cfg.Broker)}
	for i := int32(0); i < mt.Partitions; i++ {
		p, err := b.openPartition(mt.Name, i, t.cfg)
		if err != nil {
			for _, p := range t.parts {
				p.Close()
			}
			return nil, err
		}
		t.parts = append(t.parts, p)
	}
	return t, nil
}

func (b *Broker) publish(t *topic) {
	b.mu.Lock()
	b.topics[t.meta.Name] = t
	b.byID[t.meta.ID] = t
	b.mu.Unlock()
}

func (b *Broker) topic(name string) *topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.topics[name]
}

func (b *Broker) topicByID(id [16]byte) *topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.byID[id]
}

// topicNames returns every topic name, sorted.
func (b *Broker) topicNames() []string {
	b.mu.RLock()
	names := make([]string, 0, len(b.topics))
	for n := range b.topics {
		names = append(names, n)
	}
	b.mu.RUnlock()
	sort.Strings(names)
	return names
}

// Close flushes and closes every partition.
func (b *Broker) Close() error {
	if b.groups != nil {
		b.groups.Close()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var first error
	for _, t := range b.topics {
		for _, p := range t.parts {
			if err := p.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	b.topics = map[string]*topic{}
	b.byID = map[[16]byte]*topic{}
	if b.store != nil {
		if err := b.store.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (b *Broker) now() time.Time { return b.cfg.Now() }

// api is one served API key.
type api struct {
	min, max int16
	fn       func(b *Broker, ctx context.Context, r *Request) Pending
}

var apis = map[int16]api{}

// register is called from each API file's init.
func register(key kmsg.Key, min, max int16, fn func(b *Broker, ctx context.Context, r *Request) Pending) {
	if _, dup := apis[key.Int16()]; dup {
		panic("api registered twice: " + key.Name())
	}
	apis[key.Int16()] = api{min: min, max: max, fn: fn}
}

// Supports reports whether key at version is served.
func (b *Broker) Supports(key, version int16) bool {
	a, ok := apis[key]
	return ok && version >= a.min && version <= a.max
}

// Handle serves one request.
func (b *Broker) Handle(ctx context.Context, r *Request) Pending {
	return apis[r.Key].fn(b, ctx, r)
}
