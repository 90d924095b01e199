package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"sort"
	"strconv"
	"strings"
)

// BrokerDefs are the broker configs Tributary honours, with Kafka's names.
// Kafka broker keys that Tributary accepts without effect are in
// NotApplicable, those it refuses in Refused (kafka.go); any other key is
// refused as unknown. docs/CONFIG.md lists all three.
var BrokerDefs = map[string]Def{}

func init() {
	for _, d := range []Def{
		// Identity, listeners and the metadata quorum (layout.go).
		{Name: "node.id", Type: TypeInt, Default: "1", Check: atLeast(0)},
		{Name: "broker.id", Type: TypeInt, Default: "", Check: atLeast(0)},
		{Name: "process.roles", Type: TypeList, Default: "", Check: listOf("broker", "controller")},
		{Name: "log.dirs", Type: TypeList, Default: ""},
		{Name: "log.dir", Type: TypeString, Default: "./data"},
		{Name: "metadata.log.dir", Type: TypeString, Default: ""},
		{Name: "listeners", Type: TypeList, Default: "PLAINTEXT://127.0.0.1:9092"},
		{Name: "advertised.listeners", Type: TypeList, Default: ""},
		{Name: "listener.security.protocol.map", Type: TypeList, Default: defaultProtocolMap},
		{Name: "controller.listener.names", Type: TypeList, Default: "CONTROLLER"},
		{Name: "inter.broker.listener.name", Type: TypeString, Default: ""},
		{Name: "security.inter.broker.protocol", Type: TypeString, Default: "PLAINTEXT", Check: oneOf("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")},
		{Name: "controller.quorum.voters", Type: TypeList, Default: ""},
		{Name: "controller.quorum.bootstrap.servers", Type: TypeList, Default: ""},

		// TLS (security.go); each may also be set per listener as
		// listener.name.<listener>.<key>. Stores are PEM files only.
		{Name: "ssl.keystore.type", Type: TypeString, Default: "PEM", Check: oneOf("PEM")},
		{Name: "ssl.keystore.location", Type: TypeString, Default: ""},
		{Name: "ssl.key.password", Type: TypePassword, Default: ""},
		{Name: "ssl.truststore.type", Type: TypeString, Default: "PEM", Check: oneOf("PEM")},
		{Name: "ssl.truststore.location", Type: TypeString, Default: ""},
		{Name: "ssl.client.auth", Type: TypeString, Default: "none", Check: oneOf("required", "requested", "none")},
		{Name: "ssl.enabled.protocols", Type: TypeList, Default: "TLSv1.2,TLSv1.3", Check: listOf("TLSv1.2", "TLSv1.3")},
		{Name: "ssl.protocol", Type: TypeString, Default: "TLSv1.3", Check: oneOf("TLSv1.2", "TLSv1.3", "TLS")},
		{Name: "ssl.principal.mapping.rules", Type: TypeString, Default: "DEFAULT", Check: mappingRules},
		{Name: "ssl.endpoint.identification.algorithm", Type: TypeString, Default: "https", Check: oneOf("https", "")},
		// SASL (security.go). Kafka's defaults are GSSAPI, which
		// Tributary does not offer.
		{Name: "sasl.enabled.mechanisms", Type: TypeList, Default: "SCRAM-SHA-256,SCRAM-SHA-512", Check: listOf("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")},
		{Name: "sasl.mechanism.inter.broker.protocol", Type: TypeString, Default: "PLAIN", Check: oneOf("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")},
		// The authorizer (ACLs in the metadata quorum): on when
		// authorizer.class.name names Kafka's KRaft authorizer.
		{Name: "authorizer.class.name", Type: TypeClass, Default: "", Check: oneOf("", StandardAuthorizer)},
		{Name: "super.users", Type: TypeString, Default: ""},
		{Name: "allow.everyone.if.no.acl.found", Type: TypeBoolean, Default: "false"},
		{Name: "connection.failed.authentication.delay.ms", Type: TypeInt, Default: "100", Check: atLeast(0)},
		// Tributary's: the source addresses a listener accepts connections
		// from (addresses or CIDR ranges; empty: any), checked at accept;
		// also per listener, and dynamic (security.go).
		{Name: "allowed.cidrs", Type: TypeList, Default: "", Check: allowedCIDRs},
		// KIP-368: a SASL session's lifetime (0: none); also per listener.
		{Name: "connections.max.reauth.ms", Type: TypeLong, Default: "0", Check: atLeast(0)},
		// Client quotas (AlterClientQuotas): how use is measured.
		// Replication throttling (throttle.go), dynamic.
		{Name: LeaderThrottledRateKey, Type: TypeLong, Default: longMax, Check: atLeast(0)},
		{Name: FollowerThrottledRateKey, Type: TypeLong, Default: longMax, Check: atLeast(0)},
		{Name: "quota.window.num", Type: TypeInt, Default: "11", Check: atLeast(2)},
		{Name: "quota.window.size.seconds", Type: TypeInt, Default: "1", Check: atLeast(1)},

		{Name: "auto.create.topics.enable", Type: TypeBoolean, Default: "true"},
		{Name: "num.partitions", Type: TypeInt, Default: "1", Check: atLeast(1)},
		{Name: "default.replication.factor", Type: TypeShort, Default: "1", Check: atLeast(1)},
		{Name: "delete.topic.enable", Type: TypeBoolean, Default: "true"},
		{Name: "socket.request.max.bytes", Type: TypeInt, Default: "104857600", Check: atLeast(1)},
		{Name: "message.max.bytes", Type: TypeInt, Default: "1048588", Check: atLeast(0)},
		{Name: "log.cleanup.policy", Type: TypeList, Default: "delete", Check: listOf("delete", "compact")},
		{Name: "log.cleaner.enable", Type: TypeBoolean, Default: "true", Check: oneOf("true")},
		{Name: "compression.type", Type: TypeString, Default: "producer", Check: oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")},
		{Name: "log.retention.ms", Type: TypeLong, Default: "604800000", Check: atLeast(-1)},
		{Name: "log.retention.minutes", Type: TypeInt, Default: ""},
		{Name: "log.retention.hours", Type: TypeInt, Default: "168"},
		{Name: "log.retention.bytes", Type: TypeLong, Default: "-1"},
		{Name: "log.segment.bytes", Type: TypeInt, Default: "1073741824", Check: atLeast(14)},
		{Name: "log.roll.ms", Type: TypeLong, Default: "604800000", Check: atLeast(1)},
		{Name: "log.roll.hours", Type: TypeInt, Default: "168", Check: atLeast(1)},
		{Name: "log.roll.jitter.hours", Type: TypeInt, Default: "0", Check: atLeast(0)},
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
		// Tributary's own: the data dir's size budget (a managed
		// broker's disk size). When set, the dir counts as a volume of
		// this size holding the dir's files, so log.dir.min.free.bytes
		// applies to what is left of the budget. 0: the whole volume.
		{Name: "log.dir.max.bytes", Type: TypeLong, Default: "0", Check: atLeast(0)},
		// Tributary's own: encryption at rest with a key-encryption key
		// the operator brings (storage/crypt.go): a file holding a
		// 256-bit key (hex or base64) or a command printing it (a KMS
		// client). The previous key re-wraps segment keys at start-up
		// (rotation). Static: read when the broker starts.
		{Name: "log.encryption.enable", Type: TypeBoolean, Default: "false"},
		{Name: "log.encryption.key.file", Type: TypeString, Default: ""},
		{Name: "log.encryption.key.command", Type: TypePassword, Default: ""},
		{Name: "log.encryption.previous.key.file", Type: TypeString, Default: ""},
		{Name: "log.encryption.previous.key.command", Type: TypePassword, Default: ""},
		// Tributary's own: segment file descriptors (.log, .index,
		// .timeindex) kept open at once; the least recently used idle
		// one is closed beyond it and reopened on demand. 0: half the
		// process's descriptor limit (RLIMIT_NOFILE).
		{Name: "log.open.files.max", Type: TypeInt, Default: "0", Check: atLeast(0)},
		// KIP-578's name (not in Kafka): the partition replicas one
		// broker may host. CreateTopics and CreatePartitions that would
		// place more on any broker are refused whole with
		// INVALID_PARTITIONS before anything is created.
		{Name: "max.broker.partitions", Type: TypeInt, Default: "20000", Check: atLeast(1)},
		{Name: "min.insync.replicas", Type: TypeInt, Default: "1", Check: atLeast(1)},
		{Name: "unclean.leader.election.enable", Type: TypeBoolean, Default: "false"},
		{Name: "offsets.topic.num.partitions", Type: TypeInt, Default: "50", Check: atLeast(1)},
		{Name: "offsets.topic.replication.factor", Type: TypeShort, Default: "3", Check: atLeast(1)},
		{Name: "broker.heartbeat.interval.ms", Type: TypeInt, Default: "2000", Check: atLeast(1)},
		{Name: "broker.session.timeout.ms", Type: TypeInt, Default: "9000", Check: atLeast(1)},
		{Name: "replica.lag.time.max.ms", Type: TypeLong, Default: "30000", Check: atLeast(1)},
		{Name: "replica.fetch.wait.max.ms", Type: TypeInt, Default: "500", Check: atLeast(1)},
		{Name: "max.incremental.fetch.session.cache.slots", Type: TypeInt, Default: "1000", Check: atLeast(0)},
		{Name: "broker.rack", Type: TypeString, Default: ""},
		{Name: "auto.leader.rebalance.enable", Type: TypeBoolean, Default: "true"},
		{Name: "controlled.shutdown.enable", Type: TypeBoolean, Default: "true", Check: oneOf("true")},
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
		{Name: "group.share.session.timeout.ms", Type: TypeInt, Default: "45000", Check: atLeast(1)},
		{Name: "group.share.heartbeat.interval.ms", Type: TypeInt, Default: "5000", Check: atLeast(1)},
		{Name: "group.share.max.size", Type: TypeShort, Default: "200", Check: atLeast(1)},
		{Name: "group.share.record.lock.duration.ms", Type: TypeInt, Default: "30000", Check: atLeast(1000)},
		{Name: "group.share.delivery.count.limit", Type: TypeInt, Default: "5", Check: atLeast(2)},
		{Name: "group.share.min.record.lock.duration.ms", Type: TypeInt, Default: "15000", Check: atLeast(1000)},
		{Name: "group.share.max.record.lock.duration.ms", Type: TypeInt, Default: "60000", Check: atLeast(1000)},
		{Name: "group.share.min.delivery.count.limit", Type: TypeInt, Default: "2", Check: atLeast(2)},
		{Name: "group.share.max.delivery.count.limit", Type: TypeInt, Default: "10", Check: atLeast(2)},
		{Name: "group.share.partition.max.record.locks", Type: TypeInt, Default: "2000", Check: atLeast(100)},
		{Name: "group.share.max.share.sessions", Type: TypeInt, Default: "2000", Check: atLeast(1)},
		{Name: "share.coordinator.state.topic.num.partitions", Type: TypeInt, Default: "50", Check: atLeast(1)},
		{Name: "share.coordinator.state.topic.replication.factor", Type: TypeShort, Default: "3", Check: atLeast(1)},
		{Name: "share.coordinator.state.topic.min.isr", Type: TypeShort, Default: "2", Check: atLeast(1)},
		{Name: "transactional.id.expiration.ms", Type: TypeInt, Default: "604800000", Check: atLeast(1)},
		{Name: "transaction.max.timeout.ms", Type: TypeInt, Default: "900000", Check: atLeast(1)},
		{Name: "transaction.partition.verification.enable", Type: TypeBoolean, Default: "true"},
		{Name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", Type: TypeInt, Default: "10000", Check: atLeast(1)},
		{Name: "transaction.state.log.num.partitions", Type: TypeInt, Default: "50", Check: atLeast(1)},
		{Name: "transaction.state.log.replication.factor", Type: TypeShort, Default: "3", Check: atLeast(1)},
		{Name: "transaction.state.log.min.isr", Type: TypeInt, Default: "2", Check: atLeast(1)},
		{Name: "producer.id.expiration.ms", Type: TypeInt, Default: "86400000", Check: atLeast(1)},
		// Tributary's own: observability (docs/METRICS.md). The admin
		// HTTP listener (/metrics, /healthz, /readyz) is off when empty;
		// ":PORT" binds to localhost only.
		{Name: "admin.listen", Type: TypeString, Default: "", Check: hostPort},
		{Name: "metrics.partition.series.enable", Type: TypeBoolean, Default: "false"},
		{Name: "consumer.lag.sample.interval.ms", Type: TypeInt, Default: "5000", Check: atLeast(100)},
		{Name: "consumer.lag.window.commits", Type: TypeInt, Default: "10", Check: atLeast(2)},
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

// hostPort accepts host:port (host may be empty).
func hostPort(v string) error {
	if v == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// timeSynonyms are Kafka's alternative units for one broker setting, in
// Kafka's precedence order (ms over minutes over hours) with the factor
// that turns each into the first key's unit.
var timeSynonyms = map[string][]synonym{
	"log.retention.ms":   {{"log.retention.ms", 1}, {"log.retention.minutes", 60_000}, {"log.retention.hours", 3_600_000}},
	"log.roll.ms":        {{"log.roll.ms", 1}, {"log.roll.hours", 3_600_000}},
	"log.roll.jitter.ms": {{"log.roll.jitter.ms", 1}, {"log.roll.jitter.hours", 3_600_000}},
}

type synonym struct {
	name   string
	factor int64
}

// Origin says where an effective broker value came from, for
// `trib broker --print-config`. Later origins override earlier ones.
type Origin int8

const (
	OriginDefault Origin = iota
	OriginFile           // --config FILE
	OriginEnv            // TRIB_<KEY>
	OriginFlag           // a command-line flag (--set, --node-id, ...)
	// OriginDynamicDefault and OriginDynamic are dynamic broker configs
	// (AlterConfigs on the broker resource, stored in the metadata quorum):
	// the cluster-wide default, and this broker's own, which wins.
	OriginDynamicDefault
	OriginDynamic
)

func (o Origin) String() string {
	switch o {
	case OriginFile:
		return "file"
	case OriginEnv:
		return "env"
	case OriginFlag:
		return "flag"
	case OriginDynamicDefault:
		return "dynamic cluster default"
	case OriginDynamic:
		return "dynamic"
	}
	return "default"
}

// Source maps an origin to Kafka's DescribeConfigs source.
func (o Origin) Source() Source {
	switch o {
	case OriginDefault:
		return SourceDefault
	case OriginDynamicDefault:
		return SourceDynamicDefaultBroker
	case OriginDynamic:
		return SourceDynamicBroker
	}
	return SourceStaticBroker
}

// Layer is one origin's explicit values: a file, the environment, flags.
type Layer struct {
	Origin Origin
	// Where names the origin for messages and --print-config: the file's
	// path, the environment variable, the flag.
	Where  map[string]string
	Values map[string]string
}

// Value is one explicit setting with where it came from.
type Value struct {
	Value  string
	Origin Origin
	Where  string
}

// Broker is a broker's static configuration: explicit values from flags,
// environment or config file over defaults. It is immutable after Load.
type Broker struct {
	explicit map[string]Value
	// notApplicable are set keys from NotApplicable: accepted, no effect.
	notApplicable map[string]Value
}

// NewBroker validates explicit values (as if from flags) and returns the
// broker config.
func NewBroker(explicit map[string]string) (*Broker, error) {
	return LoadBroker(Layer{Origin: OriginFlag, Values: explicit})
}

// LoadBroker merges layers (later ones override earlier ones for the same
// key), validates every key and returns the broker config. Every problem
// is reported, not only the first: an unknown key, a key Tributary refuses,
// an invalid value.
func LoadBroker(layers ...Layer) (*Broker, error) {
	b := &Broker{explicit: map[string]Value{}, notApplicable: map[string]Value{}}
	merged := map[string]Value{}
	for _, l := range layers {
		for k, v := range l.Values {
			merged[k] = Value{Value: v, Origin: l.Origin, Where: l.Where[k]}
		}
	}
	var errs []error
	for _, k := range sortedKeys(merged) {
		v := merged[k]
		at := v.Origin.String()
		if v.Where != "" {
			at = v.Where
		}
		if err := checkBrokerKey(k, v.Value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", at, err))
			continue
		}
		if _, ok := BrokerDefs[k]; ok || isListenerKey(k) {
			b.explicit[k] = v
		} else {
			b.notApplicable[k] = v
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return b, nil
}

// checkBrokerKey validates one key and value.
func checkBrokerKey(k, v string) error {
	if d, ok := BrokerDefs[k]; ok {
		if err := d.parse(v); err != nil {
			return fmt.Errorf("invalid value %q for %s: %v", v, k, err)
		}
		if d.Check != nil {
			if err := d.Check(v); err != nil {
				return fmt.Errorf("invalid value %q for %s: %v", v, k, err)
			}
		}
		return nil
	}
	if _, ok := NotApplicable[k]; ok {
		return nil
	}
	if inner, ok := listenerInnerKey(k); ok {
		if strings.HasSuffix(inner, jaasSuffix) {
			return checkJAAS(k, v)
		}
		return checkBrokerKey(inner, v)
	}
	if reason, ok := refusedReason(k); ok {
		return fmt.Errorf("%s is not supported: %s", k, reason)
	}
	if td, ok := TopicDefs[k]; ok && td.BrokerKey != "" {
		return fmt.Errorf("unknown broker config %q: that is a topic config; its broker-wide default is %s", k, td.BrokerKey)
	}
	if near := nearestKey(k); near != "" {
		return fmt.Errorf("unknown broker config %q: did you mean %s?", k, near)
	}
	return fmt.Errorf("unknown broker config %q (not a Kafka broker config Tributary knows; see docs/CONFIG.md)", k)
}

// nearestKey is the known broker config closest to k by edit distance, if
// it is close enough to be a typo.
func nearestKey(k string) string {
	best, bestD := "", 3
	for _, name := range KnownBrokerKeys() {
		if d := editDistance(k, name, bestD); d < bestD {
			best, bestD = name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, or max if it is at
// least max.
func editDistance(a, b string, max int) int {
	if d := len(a) - len(b); d >= max || -d >= max {
		return max
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], max)
}

// KnownBrokerKey reports whether name is a broker config name Tributary
// knows in any way (honoured, not applicable, or refused by exact name):
// the names `trib broker` reads from TRIB_<KEY> environment variables.
func KnownBrokerKey(name string) bool {
	if _, ok := BrokerDefs[name]; ok {
		return true
	}
	if _, ok := NotApplicable[name]; ok {
		return true
	}
	_, ok := Refused[name]
	return ok
}

// KnownBrokerKeys returns every name KnownBrokerKey accepts, sorted.
func KnownBrokerKeys() []string {
	var out []string
	for _, m := range []map[string]string{NotApplicable, Refused} {
		for k := range m {
			out = append(out, k)
		}
	}
	for k := range BrokerDefs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// EnvName is the environment variable that sets broker config name:
// TRIB_ and the name in upper case with dots and dashes as underscores.
func EnvName(name string) string {
	return "TRIB_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(name))
}

// Explicit returns a value only if it was set explicitly (for a setting
// with time synonyms, by any of them).
func (b *Broker) Explicit(name string) (string, bool) {
	v, ok := b.lookupExplicit(name)
	return v.Value, ok
}

// lookupExplicit resolves name's explicit value. For a setting with time
// synonyms (log.retention.ms/minutes/hours) the synonym from the highest
// origin wins, so a flag overrides a file whichever unit each uses; within
// one origin Kafka's order applies (ms, then minutes, then hours). A
// negative result means "no limit" and is -1, as in Kafka.
func (b *Broker) lookupExplicit(name string) (Value, bool) {
	syns, ok := timeSynonyms[name]
	if !ok {
		v, ok := b.explicit[name]
		return v, ok
	}
	var best Value
	var bestSyn synonym
	found := false
	for _, s := range syns {
		v, ok := b.explicit[s.name]
		if ok && (!found || v.Origin > best.Origin) {
			best, bestSyn, found = v, s, true
		}
	}
	if !found {
		return Value{}, false
	}
	n, _ := strconv.ParseInt(best.Value, 10, 64)
	n *= bestSyn.factor
	if n < 0 {
		n = -1
	}
	if bestSyn.name != name && !strings.Contains(best.Where, bestSyn.name) {
		best.Where = strings.TrimSpace(best.Where + " (" + bestSyn.name + ")")
	}
	best.Value = strconv.FormatInt(n, 10)
	return best, true
}

// Lookup returns the effective value and its DescribeConfigs source.
func (b *Broker) Lookup(name string) (string, Source) {
	v := b.Effective(name)
	return v.Value, v.Origin.Source()
}

// Effective returns the effective value of name with its origin.
func (b *Broker) Effective(name string) Value {
	if v, ok := b.lookupExplicit(name); ok {
		return v
	}
	if v, ok := b.notApplicable[name]; ok {
		return v
	}
	return Value{Value: BrokerDefs[name].Default, Origin: OriginDefault}
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

// Names returns every honoured broker config name, sorted.
func (b *Broker) Names() []string {
	names := make([]string, 0, len(BrokerDefs))
	for n := range BrokerDefs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NotApplicableSet returns the set keys that Tributary accepts without
// effect, sorted, with their values.
func (b *Broker) NotApplicableSet() []string { return sortedKeys(b.notApplicable) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// DynamicBrokerKey reports whether a broker config can be changed at
// runtime with AlterConfigs on the broker resource: as in Kafka, the
// broker-level defaults of topic configs (log.retention.ms,
// log.cleanup.policy, message.max.bytes, min.insync.replicas, ...), which
// every topic without its own value follows.
// Also dynamic: allowed.cidrs, broker-wide or per listener
// (listener.name.<listener>.allowed.cidrs), so a listener's allow-list
// changes without a restart; and, per listener only (Tributary's
// difference: Kafka reads it at start-up),
// listener.name.<listener>.ssl.principal.mapping.rules, so a certificate
// can be refused from the next handshake on (the managed service's
// per-user certificates, which a reset replaces).
func DynamicBrokerKey(name string) bool {
	if inner, ok := listenerInnerKey(name); ok {
		return inner == AllowedCIDRsKey || inner == PrincipalMappingRulesKey
	}
	return dynamicBrokerKeys[name]
}

var dynamicBrokerKeys = map[string]bool{}

func init() {
	for _, td := range TopicDefs {
		if td.BrokerKey != "" {
			dynamicBrokerKeys[td.BrokerKey] = true
		}
	}
	dynamicBrokerKeys[AllowedCIDRsKey] = true
	dynamicBrokerKeys[LeaderThrottledRateKey] = true
	dynamicBrokerKeys[FollowerThrottledRateKey] = true
}

// ValidateDynamicBroker checks a dynamic broker config key and value.
func ValidateDynamicBroker(name, value string) error {
	if !DynamicBrokerKey(name) {
		if _, ok := BrokerDefs[name]; ok {
			return fmt.Errorf("%s cannot be changed at runtime (read-only); set it in the broker's configuration and restart", name)
		}
		return fmt.Errorf("%s is not a broker config that can be changed at runtime", name)
	}
	return checkBrokerKey(name, value)
}

// WithDynamic returns b with dynamic broker configs over its static ones:
// the cluster-wide defaults, then this broker's own. Keys that are not
// dynamic or values that do not validate are skipped (the proposer
// validated them; a newer version may know keys this one does not).
func (b *Broker) WithDynamic(clusterDefault, perBroker map[string]string) *Broker {
	n := &Broker{explicit: maps.Clone(b.explicit), notApplicable: b.notApplicable}
	for _, layer := range []struct {
		vals   map[string]string
		origin Origin
	}{{clusterDefault, OriginDynamicDefault}, {perBroker, OriginDynamic}} {
		for k, v := range layer.vals {
			if ValidateDynamicBroker(k, v) == nil {
				n.explicit[k] = Value{Value: v, Origin: layer.origin}
			}
		}
	}
	return n
}
