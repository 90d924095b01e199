// Package metadata holds the cluster metadata a broker serves: cluster id,
// topics (id, partition count, configs) and producer-id allocation.
//
// This version is a single-node store persisted as one JSON file written
// atomically on every change. The cluster work replaces it with a
// Raft-replicated state machine behind the same Store interface.
package metadata

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// Errors the broker maps to wire codes.
var (
	ErrTopicExists  = errors.New("topic already exists")
	ErrUnknownTopic = errors.New("unknown topic")
)

// Topic is the metadata of one topic.
type Topic struct {
	Name              string            `json:"name"`
	ID                [16]byte          `json:"id"`
	Partitions        int32             `json:"partitions"`
	ReplicationFactor int16             `json:"replication_factor"`
	Configs           map[string]string `json:"configs,omitempty"` // only explicitly set keys
}

// Clone returns a deep copy.
func (t *Topic) Clone() *Topic {
	c := *t
	c.Configs = maps.Clone(t.Configs)
	return &c
}

// Store is what the broker needs from cluster metadata.
type Store interface {
	ClusterID() string
	NodeID() int32
	Topics() []*Topic // sorted by name, copies
	Topic(name string) (*Topic, bool)
	TopicByID(id [16]byte) (*Topic, bool)
	CreateTopic(t *Topic) error
	DeleteTopic(name string) error
	SetPartitions(name string, n int32) error
	SetTopicConfigs(name string, configs map[string]string) error
	// AllocateProducerID returns a producer id never returned before.
	AllocateProducerID() (int64, error)
}

type fileState struct {
	ClusterID      string            `json:"cluster_id"`
	NodeID         int32             `json:"node_id"`
	NextProducerID int64             `json:"next_producer_id"`
	Topics         map[string]*Topic `json:"topics"`
}

// FileStore is a Store persisted to <dir>/metadata.json. mu guards st; every
// mutation rewrites the file (write temp, fsync, rename) before returning.
type FileStore struct {
	path string
	mu   sync.Mutex
	st   fileState
}

// OpenFileStore loads or initialises the store in dir.
func OpenFileStore(dir string, nodeID int32) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &FileStore{path: filepath.Join(dir, "metadata.json")}
	b, err := os.ReadFile(s.path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &s.st); err != nil {
			return nil, fmt.Errorf("metadata %s: %w", s.path, err)
		}
	case errors.Is(err, os.ErrNotExist):
		s.st = fileState{ClusterID: NewClusterID(), NodeID: nodeID, NextProducerID: 1000, Topics: map[string]*Topic{}}
		if err := s.persist(); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	if s.st.Topics == nil {
		s.st.Topics = map[string]*Topic{}
	}
	return s, nil
}

// NewClusterID returns a random id in Kafka's format (22 chars of base64url).
func NewClusterID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// NewTopicID returns a random non-zero topic id.
func NewTopicID() [16]byte {
	var b [16]byte
	for b == [16]byte{} {
		rand.Read(b[:])
	}
	return b
}

func (s *FileStore) persist() error {
	b, err := json.MarshalIndent(&s.st, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, s.path)
}

func (s *FileStore) ClusterID() string { return s.st.ClusterID }
func (s *FileStore) NodeID() int32     { return s.st.NodeID }

func (s *FileStore) Topics() []*Topic {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Topic, 0, len(s.st.Topics))
	for _, t := range s.st.Topics {
		out = append(out, t.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *FileStore) Topic(name string) (*Topic, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.Topics[name]
	if !ok {
		return nil, false
	}
	return t.Clone(), true
}

func (s *FileStore) TopicByID(id [16]byte) (*Topic, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.st.Topics {
		if t.ID == id {
			return t.Clone(), true
		}
	}
	return nil, false
}

func (s *FileStore) CreateTopic(t *Topic) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.Topics[t.Name]; ok {
		return ErrTopicExists
	}
	s.st.Topics[t.Name] = t.Clone()
	if err := s.persist(); err != nil {
		delete(s.st.Topics, t.Name)
		return err
	}
	return nil
}

func (s *FileStore) DeleteTopic(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.Topics[name]
	if !ok {
		return ErrUnknownTopic
	}
	delete(s.st.Topics, name)
	if err := s.persist(); err != nil {
		s.st.Topics[name] = t
		return err
	}
	return nil
}

func (s *FileStore) SetPartitions(name string, n int32) error {
	return s.mutate(name, func(t *Topic) { t.Partitions = n })
}

func (s *FileStore) SetTopicConfigs(name string, configs map[string]string) error {
	return s.mutate(name, func(t *Topic) { t.Configs = maps.Clone(configs) })
}

func (s *FileStore) mutate(name string, fn func(*Topic)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.Topics[name]
	if !ok {
		return ErrUnknownTopic
	}
	old := t.Clone()
	fn(t)
	if err := s.persist(); err != nil {
		s.st.Topics[name] = old
		return err
	}
	return nil
}

func (s *FileStore) AllocateProducerID() (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.st.NextProducerID
	s.st.NextProducerID++
	if err := s.persist(); err != nil {
		s.st.NextProducerID--
		return 0, err
	}
	return id, nil
}
