// Package config defines Kafka's topic and broker configuration keys that
// Tributary understands: their types, defaults, validation, and the broker
// config each topic config falls back to.
package config

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Type is a config value type, as DescribeConfigs v3+ reports it.
type Type int8

// Kafka's ConfigType codes (DescribeConfigs v3+).
const (
	TypeBoolean  Type = 1
	TypeString   Type = 2
	TypeInt      Type = 3
	TypeShort    Type = 4
	TypeLong     Type = 5
	TypeDouble   Type = 6
	TypeList     Type = 7
	TypeClass    Type = 8
	TypePassword Type = 9
)

// Def is one config key.
type Def struct {
	Name    string
	Type    Type
	Default string
	// BrokerKey is the broker config that supplies the default, if any.
	BrokerKey string
	// Check validates a value already parsed as Type; nil accepts any.
	Check func(string) error
	Doc   string
}

const longMax = "9223372036854775807"

func atLeast(min int64) func(string) error {
	return func(v string) error {
		n, _ := strconv.ParseInt(v, 10, 64)
		if n < min {
			return fmt.Errorf("must be at least %d", min)
		}
		return nil
	}
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		if !slices.Contains(vals, v) {
			return fmt.Errorf("must be one of %s", strings.Join(vals, ", "))
		}
		return nil
	}
}

func listOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, p := range strings.Split(v, ",") {
			if !slices.Contains(vals, strings.TrimSpace(p)) {
				return fmt.Errorf("each item must be one of %s", strings.Join(vals, ", "))
			}
		}
		return nil
	}
}

func ratio(v string) error {
	f, _ := strconv.ParseFloat(v, 64)
	if f < 0 || f > 1 {
		return fmt.Errorf("must be between 0 and 1")
	}
	return nil
}

// TopicDefs are the topic-level configs, keyed by name. It is a variable
// initializer, not an init function, because broker.go's init (which runs
// first, files being initialised in name order) derives the broker-level
// defaults and the dynamic broker keys from it.
var TopicDefs = topicDefs()

func topicDefs() map[string]Def {
	defs := map[string]Def{}
	for _, d := range []Def{
		{Name: "cleanup.policy", Type: TypeList, Default: "delete", BrokerKey: "log.cleanup.policy", Check: listOf("delete", "compact")},
		{Name: "compression.type", Type: TypeString, Default: "producer", BrokerKey: "compression.type", Check: oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")},
		{Name: "compression.gzip.level", Type: TypeInt, Default: "-1", BrokerKey: "compression.gzip.level"},
		{Name: "compression.lz4.level", Type: TypeInt, Default: "9", BrokerKey: "compression.lz4.level"},
		{Name: "compression.zstd.level", Type: TypeInt, Default: "3", BrokerKey: "compression.zstd.level"},
		{Name: "delete.retention.ms", Type: TypeLong, Default: "86400000", BrokerKey: "log.cleaner.delete.retention.ms", Check: atLeast(0)},
		{Name: "file.delete.delay.ms", Type: TypeLong, Default: "60000", BrokerKey: "log.segment.delete.delay.ms", Check: atLeast(0)},
		{Name: "flush.messages", Type: TypeLong, Default: longMax, BrokerKey: "log.flush.interval.messages", Check: atLeast(1)},
		{Name: "flush.ms", Type: TypeLong, Default: longMax, BrokerKey: "log.flush.interval.ms", Check: atLeast(0)},
		{Name: "index.interval.bytes", Type: TypeInt, Default: "4096", BrokerKey: "log.index.interval.bytes", Check: atLeast(0)},
		{Name: "max.compaction.lag.ms", Type: TypeLong, Default: longMax, BrokerKey: "log.cleaner.max.compaction.lag.ms", Check: atLeast(1)},
		{Name: "max.message.bytes", Type: TypeInt, Default: "1048588", BrokerKey: "message.max.bytes", Check: atLeast(0)},
		{Name: "message.downconversion.enable", Type: TypeBoolean, Default: "true", BrokerKey: "log.message.downconversion.enable"},
		{Name: "message.timestamp.type", Type: TypeString, Default: "CreateTime", BrokerKey: "log.message.timestamp.type", Check: oneOf("CreateTime", "LogAppendTime")},
		{Name: "message.timestamp.before.max.ms", Type: TypeLong, Default: longMax, BrokerKey: "log.message.timestamp.before.max.ms", Check: atLeast(0)},
		{Name: "message.timestamp.after.max.ms", Type: TypeLong, Default: longMax, BrokerKey: "log.message.timestamp.after.max.ms", Check: atLeast(0)},
		{Name: "min.cleanable.dirty.ratio", Type: TypeDouble, Default: "0.5", BrokerKey: "log.cleaner.min.cleanable.ratio", Check: ratio},
		{Name: "min.compaction.lag.ms", Type: TypeLong, Default: "0", BrokerKey: "log.cleaner.min.compaction.lag.ms", Check: atLeast(0)},
		{Name: "min.insync.replicas", Type: TypeInt, Default: "1", BrokerKey: "min.insync.replicas", Check: atLeast(1)},
		{Name: "preallocate", Type: TypeBoolean, Default: "false", BrokerKey: "log.preallocate"},
		{Name: "retention.bytes", Type: TypeLong, Default: "-1", BrokerKey: "log.retention.bytes"},
		{Name: "retention.ms", Type: TypeLong, Default: "604800000", BrokerKey: "log.retention.ms", Check: atLeast(-1)},
		{Name: "segment.bytes", Type: TypeInt, Default: "1073741824", BrokerKey: "log.segment.bytes", Check: atLeast(14)},
		{Name: "segment.index.bytes", Type: TypeInt, Default: "10485760", BrokerKey: "log.index.size.max.bytes", Check: atLeast(4)},
		{Name: "segment.jitter.ms", Type: TypeLong, Default: "0", BrokerKey: "log.roll.jitter.ms", Check: atLeast(0)},
		{Name: "segment.ms", Type: TypeLong, Default: "604800000", BrokerKey: "log.roll.ms", Check: atLeast(1)},
		{Name: "unclean.leader.election.enable", Type: TypeBoolean, Default: "false", BrokerKey: "unclean.leader.election.enable"},
		{Name: "follower.replication.throttled.replicas", Type: TypeList, Default: "", Check: checkThrottledReplicas},
		{Name: "leader.replication.throttled.replicas", Type: TypeList, Default: "", Check: checkThrottledReplicas},
	} {
		defs[d.Name] = d
	}
	return defs
}

// TopicNames returns the topic config names, sorted.
func TopicNames() []string {
	names := make([]string, 0, len(TopicDefs))
	for n := range TopicDefs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// parse checks that v has the def's type.
func (d Def) parse(v string) error {
	switch d.Type {
	case TypeBoolean:
		if v != "true" && v != "false" {
			return fmt.Errorf("must be true or false")
		}
	case TypeInt:
		if _, err := strconv.ParseInt(v, 10, 32); err != nil {
			return fmt.Errorf("must be a 32-bit integer")
		}
	case TypeShort:
		if _, err := strconv.ParseInt(v, 10, 16); err != nil {
			return fmt.Errorf("must be a 16-bit integer")
		}
	case TypeLong:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("must be a 64-bit integer")
		}
	case TypeDouble:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) {
			return fmt.Errorf("must be a number")
		}
	}
	return nil
}

// ValidateTopic checks one topic config key and value. The error text is
// what the broker returns with INVALID_CONFIG.
func ValidateTopic(name, value string) error {
	d, ok := TopicDefs[name]
	if !ok {
		return fmt.Errorf("unknown topic config %q", name)
	}
	if err := d.parse(value); err != nil {
		return fmt.Errorf("invalid value %q for %s: %v", value, name, err)
	}
	if d.Check != nil {
		if err := d.Check(value); err != nil {
			return fmt.Errorf("invalid value %q for %s: %v", value, name, err)
		}
	}
	return nil
}

// TopicConfig is a topic's effective configuration: explicit topic values
// over broker values over defaults.
type TopicConfig struct {
	explicit map[string]string
	broker   *Broker
}

// NewTopicConfig resolves a topic's explicitly set configs against broker b.
func NewTopicConfig(explicit map[string]string, b *Broker) TopicConfig {
	return TopicConfig{explicit: explicit, broker: b}
}

// Source says where a value came from, with Kafka's DescribeConfigs codes.
type Source int8

const (
	SourceTopic         Source = 1 // DYNAMIC_TOPIC_CONFIG
	SourceStaticBroker  Source = 4 // STATIC_BROKER_CONFIG
	SourceDefault       Source = 5 // DEFAULT_CONFIG
	SourceDynamicBroker Source = 2 // DYNAMIC_BROKER_CONFIG

	SourceDynamicDefaultBroker Source = 3 // DYNAMIC_DEFAULT_BROKER_CONFIG
)

// Lookup returns the effective value of a topic config and its source.
func (c TopicConfig) Lookup(name string) (string, Source) {
	if v, ok := c.explicit[name]; ok {
		return v, SourceTopic
	}
	d := TopicDefs[name]
	if d.BrokerKey != "" && c.broker != nil {
		if v, ok := c.broker.lookupExplicit(d.BrokerKey); ok {
			return v.Value, v.Origin.Source()
		}
	}
	return d.Default, SourceDefault
}

// Get returns the effective value of name.
func (c TopicConfig) Get(name string) string { v, _ := c.Lookup(name); return v }

// Int64 returns the effective value of a numeric config.
func (c TopicConfig) Int64(name string) int64 {
	n, _ := strconv.ParseInt(c.Get(name), 10, 64)
	return n
}

// Compact reports whether cleanup.policy includes compact.
func (c TopicConfig) Compact() bool {
	// No strings.Split: the produce path asks for every batch.
	for rest := c.Get("cleanup.policy"); rest != ""; {
		var p string
		p, rest, _ = strings.Cut(rest, ",")
		if p == "compact" {
			return true
		}
	}
	return false
}

// LogAppendTime reports whether message.timestamp.type is LogAppendTime.
func (c TopicConfig) LogAppendTime() bool { return c.Get("message.timestamp.type") == "LogAppendTime" }
