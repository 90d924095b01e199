package config

import (
	"fmt"
	"sort"
	"strconv"
)

// BrokerDefs are the broker configs Tributary reads, with Kafka's names.
var BrokerDefs = map[string]Def{}

func init() {
	for _, d := range []Def{
		{Name: "auto.create.topics.enable", Type: TypeBoolean, Default: "true"},
		{Name: "num.partitions", Type: TypeInt, Default: "1", Check: atLeast(1)},
		{Name: "default.replication.factor", Type: TypeShort, Default: "1", Check: atLeast(1)},
		{Name: "delete.topic.enable", Type: TypeBoolean, Default: "true"},
		{Name: "socket.request.max.bytes", Type: TypeInt, Default: "104857600", Check: atLeast(1)},
		{Name: "message.max.bytes", Type: TypeInt, Default: "1048588", Check: atLeast(0)},
		{Name: "log.dirs", Type: TypeString, Default: "./data"},
		{Name: "node.id", Type: TypeInt, Default: "1"},
		{Name: "broker.id", Type: TypeInt, Default: "1"},
		{Name: "listeners", Type: TypeString, Default: "PLAINTEXT://127.0.0.1:9092"},
		{Name: "advertised.listeners", Type: TypeString, Default: ""},
		{Name: "log.cleanup.policy", Type: TypeList, Default: "delete", Check: listOf("delete", "compact")},
		{Name: "compression.type", Type: TypeString, Default: "producer", Check: oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")},
		{Name: "log.retention.ms", Type: TypeLong, Default: "604800000", Check: atLeast(-1)},
		{Name: "log.retention.bytes", Type: TypeLong, Default: "-1"},
		{Name: "log.segment.bytes", Type: TypeInt, Default: "1073741824", Check: atLeast(14)},
		{Name: "log.roll.ms", Type: TypeLong, Default: "604800000", Check: atLeast(1)},
		{Name: "log.index.interval.bytes", Type: TypeInt, Default: "4096", Check: atLeast(0)},
		{Name: "log.index.size.max.bytes", Type: TypeInt, Default: "10485760", Check: atLeast(4)},
		{Name: "log.flush.interval.messages", Type: TypeLong, Default: longMax, Check: atLeast(1)},
		{Name: "log.flush.interval.ms", Type: TypeLong, Default: longMax, Check: atLeast(0)},
		{Name: "log.message.timestamp.type", Type: TypeString, Default: "CreateTime", Check: oneOf("CreateTime", "LogAppendTime")},
		{Name: "log.cleaner.delete.retention.ms", Type: TypeLong, Default: "86400000", Check: atLeast(0)},
		{Name: "log.cleaner.min.cleanable.ratio", Type: TypeDouble, Default: "0.5", Check: ratio},
		{Name: "log.cleaner.min.compaction.lag.ms", Type: TypeLong, Default: "0", Check: atLeast(0)},
		{Name: "log.cleaner.max.compaction.lag.ms", Type: TypeLong, Default: longMax, Check: atLeast(1)},
		{Name: "log.retention.check.interval.ms", Type: TypeLong, Default: "300000", Check: atLeast(1)},
		{Name: "log.flush.offset.checkpoint.interval.ms", Type: TypeInt, Default: "60000", Check: atLeast(0)},
		{Name: "log.cleaner.backoff.ms", Type: TypeLong, Default: "15000", Check: atLeast(0)},
		{Name: "log.segment.delete.delay.ms", Type: TypeLong, Default: "60000", Check: atLeast(0)},
		// Tributary's own: the free space kept in the data dir's volume;
		// partition appends fail with KAFKA_STORAGE_ERROR below it, so
		// the metadata quorum can still write (like Redpanda's
		// storage_min_free_bytes). 0 refuses only on ENOSPC.
		{Name: "log.dir.min.free.bytes", Type: TypeLong, Default: "104857600", Check: atLeast(0)},
		{Name: "min.insync.replicas", Type: TypeInt, Default: "1", Check: atLeast(1)},
		{Name: "unclean.leader.election.enable", Type: TypeBoolean, Default: "false"},
		{Name: "offsets.topic.num.partitions", Type: TypeInt, Default: "50", Check: atLeast(1)},
		{Name: "offsets.topic.replication.factor", Type: TypeShort, Default: "3", Check: atLeast(1)},
		{Name: "broker.heartbeat.interval.ms", Type: TypeInt, Default: "2000", Check: atLeast(1)},
		{Name: "broker.session.timeout.ms", Type: TypeInt, Default: "9000", Check: atLeast(1)},
		{Name: "replica.lag.time.max.ms", Type: TypeLong, Default: "30000", Check: atLeast(1)},
		{Name: "replica.fetch.wait.max.ms", Type: TypeInt, Default: "500", Check: atLeast(1)},
		{Name: "broker.rack", Type: TypeString, Default: ""},
		{Name: "auto.leader.rebalance.enable", Type: TypeBoolean, Default: "true"},
		{Name: "leader.imbalance.check.interval.seconds", Type: TypeLong, Default: "300", Check: atLeast(1)},
		{Name: "offsets.retention.minutes", Type: TypeInt, Default: "10080", Check: atLeast(1)},
		{Name: "offsets.retention.check.interval.ms", Type: TypeLong, Default: "600000", Check: atLeast(1)},
		{Name: "offsets.commit.timeout.ms", Type: TypeInt, Default: "5000", Check: atLeast(1)},
		{Name: "offset.metadata.max.bytes", Type: TypeInt, Default: "4096", Check: atLeast(0)},
		{Name: "group.max.size", Type: TypeInt, Default: "2147483647", Check: atLeast(1)},
		{Name: "group.initial.rebalance.delay.ms", Type: TypeInt, Default: "3000", Check: atLeast(0)},
		{Name: "group.min.session.timeout.ms", Type: TypeInt, Default: "6000"},
		{Name: "group.max.session.timeout.ms", Type: TypeInt, Default: "1800000"},
		{Name: "group.consumer.session.timeout.ms", Type: TypeInt, Default: "45000", Check: atLeast(1)},
		{Name: "group.consumer.heartbeat.interval.ms", Type: TypeInt, Default: "5000", Check: atLeast(1)},
		{Name: "group.consumer.assignors", Type: TypeList, Default: "uniform,range", Check: listOf("uniform", "range")},
		{Name: "group.consumer.max.size", Type: TypeInt, Default: "2147483647", Check: atLeast(1)},
		{Name: "transactional.id.expiration.ms", Type: TypeInt, Default: "604800000", Check: atLeast(1)},
		{Name: "producer.id.expiration.ms", Type: TypeInt, Default: "86400000", Check: atLeast(1)},
	} {
		BrokerDefs[d.Name] = d
	}
	// Broker keys that only exist as fallbacks for topic configs.
	for _, td := range TopicDefs {
		if td.BrokerKey != "" {
			if _, ok := BrokerDefs[td.BrokerKey]; !ok {
				BrokerDefs[td.BrokerKey] = Def{Name: td.BrokerKey, Type: td.Type, Default: td.Default, Check: td.Check}
			}
		}
	}
}

// Broker is a broker's static configuration: explicit values from flags,
// environment or config file over defaults. It is immutable after Load.
type Broker struct {
	explicit map[string]string
}

// NewBroker validates explicit values and returns the broker config.
func NewBroker(explicit map[string]string) (*Broker, error) {
	b := &Broker{explicit: map[string]string{}}
	for k, v := range explicit {
		d, ok := BrokerDefs[k]
		if !ok {
			return nil, fmt.Errorf("unknown broker config %q", k)
		}
		if err := d.parse(v); err != nil {
			return nil, fmt.Errorf("invalid value %q for %s: %v", v, k, err)
		}
		if d.Check != nil {
			if err := d.Check(v); err != nil {
				return nil, fmt.Errorf("invalid value %q for %s: %v", v, k, err)
			}
		}
		b.explicit[k] = v
	}
	return b, nil
}

// Explicit returns a value only if it was set explicitly.
func (b *Broker) Explicit(name string) (string, bool) {
	v, ok := b.explicit[name]
	return v, ok
}

// Lookup returns the effective value and its source.
func (b *Broker) Lookup(name string) (string, Source) {
	if v, ok := b.explicit[name]; ok {
		return v, SourceStaticBroker
	}
	return BrokerDefs[name].Default, SourceDefault
}

// Get returns the effective value of name.
func (b *Broker) Get(name string) string { v, _ := b.Lookup(name); return v }

// Int returns the effective value of a numeric config.
func (b *Broker) Int(name string) int64 {
	n, _ := strconv.ParseInt(b.Get(name), 10, 64)
	return n
}

// Bool returns the effective value of a boolean config.
func (b *Broker) Bool(name string) bool { return b.Get(name) == "true" }

// Names returns every broker config name, sorted.
func (b *Broker) Names() []string {
	names := make([]string, 0, len(BrokerDefs))
	for n := range BrokerDefs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
