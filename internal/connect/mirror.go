package connect

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/client"
	"github.com/tributary/tributary/internal/safe"
)

// MirrorMaker 2's connectors (org.apache.kafka.connect.mirror.*) run on
// a Connect worker whose Kafka cluster is the target:
//
//   - MirrorSourceConnector replicates the source cluster's topics into
//     remote topics on the target ("<source alias>.<topic>" under the
//     default replication policy, the same name under the identity policy),
//     creating them with the source's partition count and configs, and
//     writes offset syncs (upstream offset → downstream offset) to
//     mm2-offset-syncs.<target alias>.internal.
//   - MirrorCheckpointConnector translates the source cluster's consumer
//     group offsets through the offset syncs into checkpoints in
//     <source alias>.checkpoints.internal on the target and, with
//     sync.group.offsets.enabled, commits them to the target's groups, so
//     consumers can move to the target where they stopped.
//   - MirrorHeartbeatConnector writes a heartbeat to "heartbeats" on the
//     target every emit.heartbeats.interval.seconds.
//
// Records are copied as bytes: like Kafka, these connectors expect the
// ByteArrayConverter as key.converter and value.converter. Offset syncs,
// checkpoints and heartbeats use MM2's binary formats (Kafka's protocol
// types: int16-length strings, big-endian integers), so Kafka's
// RemoteClusterUtils and MirrorMaker tooling read them.
//
// Not supported (refused by validation when set): offset-syncs on a
// cluster other than source or target, replication policies other than
// the default and identity ones, and the MM2 dedicated-mode keys.

const (
	mirrorPkg             = "org.apache.kafka.connect.mirror."
	mirrorSourceClass     = mirrorPkg + "MirrorSourceConnector"
	mirrorCheckpointClass = mirrorPkg + "MirrorCheckpointConnector"
	mirrorHeartbeatClass  = mirrorPkg + "MirrorHeartbeatConnector"
	defaultPolicy         = mirrorPkg + "DefaultReplicationPolicy"
	identityPolicy        = mirrorPkg + "IdentityReplicationPolicy"
	heartbeatsTopic       = "heartbeats"
	taskPartitionsKey     = "task.assigned.partitions"
	taskGroupsKey         = "task.assigned.groups"
)

// ---- configuration ----

func mirrorCommonKeys() []ConfigKey {
	return []ConfigKey{
		{Name: "source.cluster.alias", Type: TypeString, Importance: "HIGH", Doc: "Alias of source cluster", Check: nonEmpty},
		{Name: "target.cluster.alias", Type: TypeString, HasDefault: true, Default: strp("target"), Importance: "HIGH", Doc: "Alias of target cluster. Used in metrics reporting.", Check: nonEmpty},
		{Name: "source.cluster.bootstrap.servers", Type: TypeList, Importance: "HIGH", Doc: "Bootstrap servers of the source cluster; other source.cluster.* keys are its client security settings (security.protocol, sasl.mechanism, sasl.jaas.config, ssl.truststore.location, …).", Check: listNonEmpty},
		{Name: "target.cluster.bootstrap.servers", Type: TypeList, Importance: "HIGH", Doc: "Bootstrap servers of the target cluster (the worker's cluster); other target.cluster.* keys are its client security settings.", Check: listNonEmpty},
		{Name: "replication.policy.class", Type: TypeClass, HasDefault: true, Default: strp(defaultPolicy), Importance: "LOW",
			Doc: "Class which defines the remote topic naming convention: DefaultReplicationPolicy (\"<source alias><separator><topic>\") or IdentityReplicationPolicy (the same name).",
			Check: func(v string) string {
				switch strings.TrimSpace(v) {
				case defaultPolicy, "DefaultReplicationPolicy", identityPolicy, "IdentityReplicationPolicy":
					return ""
				}
				return fmt.Sprintf("Class %s could not be found.", strings.TrimSpace(v))
			}},
		{Name: "replication.policy.separator", Type: TypeString, HasDefault: true, Default: strp("."), Importance: "LOW", Doc: "Separator used in remote topic naming convention.", Check: nonEmpty},
		{Name: "admin.timeout.ms", Type: TypeLong, HasDefault: true, Default: strp("60000"), Importance: "LOW", Doc: "Timeout for administrative tasks, e.g. detecting new topics.", Check: atLeast(1)},
		{Name: "offset-syncs.topic.location", Type: TypeString, HasDefault: true, Default: strp("source"), Importance: "LOW",
			Doc: "The location (source/target) of the offset-syncs topic.",
			Check: func(v string) string {
				if v = strings.ToLower(strings.TrimSpace(v)); v != "source" && v != "target" {
					return "String must be one of: source, target"
				}
				return ""
			}},
	}
}

func intKey(name, def, doc string, min int64) ConfigKey {
	return ConfigKey{Name: name, Type: TypeInt, HasDefault: true, Default: strp(def), Importance: "LOW", Doc: doc, Check: atLeast(min)}
}

func boolKey(name, def, doc string) ConfigKey {
	return ConfigKey{Name: name, Type: TypeBoolean, HasDefault: true, Default: strp(def), Importance: "LOW", Doc: doc}
}

func regexListCheck(v string) string {
	for _, r := range listConfig(v) {
		if _, err := regexp.Compile(r); err != nil {
			return "Not a valid regular expression: " + err.Error()
		}
	}
	return ""
}

func rfKey(name string) ConfigKey {
	return ConfigKey{Name: name, Type: TypeInt, HasDefault: true, Default: strp("3"), Importance: "LOW",
		Doc: "Replication factor for the " + strings.TrimSuffix(name, ".replication.factor") + " topic; -1 for the broker's default.",
		Check: func(v string) string {
			if n, _ := strconv.Atoi(strings.TrimSpace(v)); n < 1 && n != -1 {
				return "Value must be -1 or at least 1"
			}
			return ""
		}}
}

func topicFilterKeys() []ConfigKey {
	return []ConfigKey{
		{Name: "topics", Type: TypeList, HasDefault: true, Default: strp(".*"), Importance: "HIGH", Doc: "Topics to replicate. Supports comma-separated topic names and regexes.", Check: regexListCheck},
		{Name: "topics.exclude", Type: TypeList, HasDefault: true, Default: strp(`.*[\-\.]internal, .*\.replica, __.*`), Importance: "HIGH", Doc: "Topics to exclude (regexes); takes precedence over topics.", Check: regexListCheck},
	}
}

func mirrorSourcePlugin() *Plugin {
	keys := append(mirrorCommonKeys(), topicFilterKeys()...)
	keys = append(keys,
		ConfigKey{Name: "config.properties.exclude", Type: TypeList, HasDefault: true,
			Default:    strp(`follower\.replication\.throttled\.replicas, leader\.replication\.throttled\.replicas, message\.timestamp\.difference\.max\.ms, message\.timestamp\.type, unclean\.leader\.election\.enable, min\.insync\.replicas`),
			Importance: "HIGH", Doc: "Topic config properties that should not be replicated (regexes).", Check: regexListCheck},
		boolKey("refresh.topics.enabled", "true", "Whether to periodically check for new topics and partitions."),
		intKey("refresh.topics.interval.seconds", "600", "Frequency of topic refresh.", 1),
		boolKey("sync.topic.configs.enabled", "true", "Whether to periodically configure remote topics to match their corresponding upstream topics."),
		intKey("sync.topic.configs.interval.seconds", "600", "Frequency of topic config sync.", 1),
		boolKey("sync.topic.acls.enabled", "true", "Whether to periodically configure remote topic ACLs to match their corresponding upstream topics (ALLOW READ/ALL literal topic ACLs become ALLOW READ)."),
		intKey("sync.topic.acls.interval.seconds", "600", "Frequency of topic ACL sync.", 1),
		ConfigKey{Name: "replication.factor", Type: TypeInt, HasDefault: true, Default: strp("2"), Importance: "LOW", Doc: "Replication factor for newly created remote topics; -1 for the broker's default.",
			Check: func(v string) string {
				if n, _ := strconv.Atoi(strings.TrimSpace(v)); n < 1 && n != -1 {
					return "Value must be -1 or at least 1"
				}
				return ""
			}},
		rfKey("offset-syncs.topic.replication.factor"),
		ConfigKey{Name: "offset.lag.max", Type: TypeLong, HasDefault: true, Default: strp("100"), Importance: "LOW", Doc: "How out-of-sync a remote partition can be before an offset sync is emitted.", Check: atLeast(0)},
		boolKey("emit.offset-syncs.enabled", "true", "Whether to store the new offset of the replicated records in offset-syncs topic or not."),
		intKey("consumer.poll.timeout.ms", "1000", "Timeout when polling source cluster.", 1),
	)
	return &Plugin{Class: mirrorSourceClass, Type: TypeSource, Version: Version, Config: keys, Validate: mirrorValidate, ExactlyOnce: true,
		NewConnector: func() Connector { return &mirrorSourceConnector{} }, NewSourceTask: func() SourceTask { return &mirrorSourceTask{} }}
}

func mirrorCheckpointPlugin() *Plugin {
	keys := append(mirrorCommonKeys(), topicFilterKeys()...)
	keys = append(keys,
		ConfigKey{Name: "groups", Type: TypeList, HasDefault: true, Default: strp(".*"), Importance: "HIGH", Doc: "Consumer groups to replicate. Supports comma-separated group IDs and regexes.", Check: regexListCheck},
		ConfigKey{Name: "groups.exclude", Type: TypeList, HasDefault: true, Default: strp(`console-consumer-.*, connect-.*, __.*`), Importance: "HIGH", Doc: "Exclude groups. Supports comma-separated group IDs and regexes.", Check: regexListCheck},
		boolKey("emit.checkpoints.enabled", "true", "Whether to replicate consumer offsets to target cluster."),
		intKey("emit.checkpoints.interval.seconds", "60", "Frequency of checkpoints.", 1),
		boolKey("sync.group.offsets.enabled", "false", "Whether to periodically write the translated offsets to __consumer_offsets topic in target cluster, as long as no active consumers in that group are connected to the target cluster."),
		intKey("sync.group.offsets.interval.seconds", "60", "Frequency of consumer group offset sync.", 1),
		intKey("refresh.groups.interval.seconds", "600", "Frequency of group refresh.", 1),
		boolKey("refresh.groups.enabled", "true", "Whether to periodically check for new consumer groups."),
		rfKey("checkpoints.topic.replication.factor"),
	)
	return &Plugin{Class: mirrorCheckpointClass, Type: TypeSource, Version: Version, Config: keys, Validate: mirrorValidate,
		NewConnector: func() Connector { return &mirrorCheckpointConnector{} }, NewSourceTask: func() SourceTask { return &mirrorCheckpointTask{} }}
}

func mirrorHeartbeatPlugin() *Plugin {
	keys := append(mirrorCommonKeys(),
		boolKey("emit.heartbeats.enabled", "true", "Whether to emit heartbeats to target cluster."),
		intKey("emit.heartbeats.interval.seconds", "1", "Frequency of heartbeats.", 1),
		rfKey("heartbeats.topic.replication.factor"),
	)
	return &Plugin{Class: mirrorHeartbeatClass, Type: TypeSource, Version: Version, Config: keys, Validate: mirrorValidate,
		NewConnector: func() Connector { return &mirrorHeartbeatConnector{} }, NewSourceTask: func() SourceTask { return &mirrorHeartbeatTask{} }}
}

// mirrorConfig is the parsed common configuration.
type mirrorConfig struct {
	raw                   map[string]string
	source, target        string
	separator             string
	identity              bool
	adminTimeout          time.Duration
	syncsOnTarget         bool
	topics, topicsExclude []*regexp.Regexp
}

func anchored(list []string) []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, r := range list {
		if re, err := regexp.Compile(`^(?:` + r + `)$`); err == nil {
			out = append(out, re)
		}
	}
	return out
}

func matchesAny(res []*regexp.Regexp, s string) bool {
	return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(s) })
}

func parseMirrorConfig(c map[string]string, keys []ConfigKey) mirrorConfig {
	c = withDefaults(keys, c)
	m := mirrorConfig{raw: c, source: strings.TrimSpace(c["source.cluster.alias"]), target: strings.TrimSpace(c["target.cluster.alias"]),
		separator: c["replication.policy.separator"], adminTimeout: time.Duration(intConfig(c, "admin.timeout.ms", 60000)) * time.Millisecond,
		syncsOnTarget: strings.EqualFold(strings.TrimSpace(c["offset-syncs.topic.location"]), "target"),
		topics:        anchored(listConfig(c["topics"])), topicsExclude: anchored(listConfig(c["topics.exclude"]))}
	switch strings.TrimSpace(c["replication.policy.class"]) {
	case identityPolicy, "IdentityReplicationPolicy":
		m.identity = true
	}
	return m
}

func (m mirrorConfig) bool(k string) bool {
	return strings.EqualFold(strings.TrimSpace(m.raw[k]), "true")
}
func (m mirrorConfig) seconds(k string) time.Duration {
	return time.Duration(intConfig(m.raw, k, 60)) * time.Second
}

// remoteTopic is the replication policy's name for a source topic on the
// target. Heartbeats topics are always prefixed (as Kafka's identity
// policy does), so heartbeats from many clusters stay apart.
func (m mirrorConfig) remoteTopic(topic string) string {
	if m.identity && !isHeartbeatsTopic(topic, m.separator) {
		return topic
	}
	return m.source + m.separator + topic
}

// topicSource is the cluster alias a remote topic came from ("" for a
// local topic), under the default policy.
func (m mirrorConfig) topicSource(topic string) string {
	i := strings.Index(topic, m.separator)
	if i <= 0 {
		return ""
	}
	return topic[:i]
}

func isHeartbeatsTopic(topic, sep string) bool {
	return topic == heartbeatsTopic || strings.HasSuffix(topic, sep+heartbeatsTopic)
}

// isInternalTopic is the replication policy's internal topic test.
func (m mirrorConfig) isInternalTopic(t string) bool {
	return strings.HasPrefix(t, "__") || strings.HasPrefix(t, ".") || strings.HasSuffix(t, ".internal") ||
		strings.HasPrefix(t, "mm2-offset-syncs.") || strings.HasSuffix(t, "-internal")
}

// replicates is MirrorSourceConnector's topic choice: allowed by the
// filter (or a heartbeats topic), not internal, and not a cycle back to
// the target.
func (m mirrorConfig) replicates(topic string) bool {
	if !(matchesAny(m.topics, topic) && !matchesAny(m.topicsExclude, topic)) && !isHeartbeatsTopic(topic, m.separator) {
		return false
	}
	if m.isInternalTopic(topic) {
		return false
	}
	if !m.identity {
		for t := topic; ; {
			src := m.topicSource(t)
			if src == "" {
				break
			}
			if src == m.target {
				return false // a cycle: this topic came from the target
			}
			t = t[len(src)+len(m.separator):]
		}
	}
	return true
}

func (m mirrorConfig) offsetSyncsTopic() string { return "mm2-offset-syncs." + m.target + ".internal" }
func (m mirrorConfig) checkpointsTopic() string { return m.source + ".checkpoints.internal" }

// clusterClient opens a client for the source or target cluster from its
// "<which>.cluster." keys.
func (m mirrorConfig) clusterClient(which string, opts ...kgo.Opt) (*kgo.Client, error) {
	props := map[string]string{}
	for k, v := range m.raw {
		if rest, ok := strings.CutPrefix(k, which+".cluster."); ok && rest != "alias" {
			props[rest] = v
		}
	}
	servers := listConfig(props["bootstrap.servers"])
	if len(servers) == 0 {
		return nil, fmt.Errorf("%s.cluster.bootstrap.servers is not set", which)
	}
	delete(props, "bootstrap.servers")
	sec, err := client.SecurityOptions(props, which+".cluster")
	if err != nil {
		return nil, err
	}
	all := append([]kgo.Opt{kgo.SeedBrokers(servers...)}, sec...)
	return kgo.NewClient(append(all, opts...)...)
}

func mirrorValidate(config map[string]string) map[string][]string {
	errs := map[string][]string{}
	for k := range config {
		for _, which := range []string{"source", "target"} {
			rest, ok := strings.CutPrefix(k, which+".cluster.")
			if !ok || rest == "alias" || rest == "bootstrap.servers" {
				continue
			}
			if _, err := client.SecurityOptions(map[string]string{rest: config[k]}, which+".cluster"); err != nil {
				errs[k] = append(errs[k], err.Error())
			}
		}
	}
	return errs
}

func contextLogger(ctx ConnectorContext) *slog.Logger {
	if ctx == nil {
		return slog.Default()
	}
	return ctx.Logger()
}

// ---- binary formats (Kafka protocol types) ----

func putString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func offsetSyncKey(topic string, partition int32) []byte {
	return binary.BigEndian.AppendUint32(putString(nil, topic), uint32(partition))
}

func offsetSyncValue(upstream, downstream int64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(upstream)), uint64(downstream))
}

// reader decodes Kafka protocol types; errors stick.
type protoReader struct {
	b   []byte
	err error
}

func (r *protoReader) need(n int) bool {
	if r.err == nil && len(r.b) < n {
		r.err = errors.New("truncated")
	}
	return r.err == nil
}

func (r *protoReader) int16() int16 {
	if !r.need(2) {
		return 0
	}
	v := int16(binary.BigEndian.Uint16(r.b))
	r.b = r.b[2:]
	return v
}

func (r *protoReader) int32() int32 {
	if !r.need(4) {
		return 0
	}
	v := int32(binary.BigEndian.Uint32(r.b))
	r.b = r.b[4:]
	return v
}

func (r *protoReader) int64() int64 {
	if !r.need(8) {
		return 0
	}
	v := int64(binary.BigEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *protoReader) string() string {
	n := int(r.int16())
	if n < 0 {
		r.err = errors.New("negative string length")
		return ""
	}
	if !r.need(n) {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// OffsetSync is one record of the offset-syncs topic.
type OffsetSync struct {
	Topic      string
	Partition  int32
	Upstream   int64
	Downstream int64
}

// DecodeOffsetSync reads an offset-syncs record.
func DecodeOffsetSync(key, value []byte) (OffsetSync, error) {
	k, v := protoReader{b: key}, protoReader{b: value}
	s := OffsetSync{Topic: k.string(), Partition: k.int32(), Upstream: v.int64(), Downstream: v.int64()}
	return s, errors.Join(k.err, v.err)
}

// Checkpoint is one record of <source>.checkpoints.internal.
type Checkpoint struct {
	Group      string
	Topic      string // the remote topic
	Partition  int32
	Upstream   int64
	Downstream int64
	Metadata   string
}

func (c Checkpoint) key() []byte {
	return binary.BigEndian.AppendUint32(putString(putString(nil, c.Group), c.Topic), uint32(c.Partition))
}

func (c Checkpoint) value() []byte {
	b := binary.BigEndian.AppendUint16(nil, 0) // version 0
	b = binary.BigEndian.AppendUint64(b, uint64(c.Upstream))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Downstream))
	return putString(b, c.Metadata)
}

// DecodeCheckpoint reads a checkpoint record.
func DecodeCheckpoint(key, value []byte) (Checkpoint, error) {
	k, v := protoReader{b: key}, protoReader{b: value}
	c := Checkpoint{Group: k.string(), Topic: k.string(), Partition: k.int32()}
	if ver := v.int16(); v.err == nil && ver != 0 {
		return c, fmt.Errorf("checkpoint version %d", ver)
	}
	c.Upstream, c.Downstream, c.Metadata = v.int64(), v.int64(), v.string()
	return c, errors.Join(k.err, v.err)
}

func heartbeatKey(source, target string) []byte { return putString(putString(nil, source), target) }

func heartbeatValue(ts int64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint16(nil, 0), uint64(ts))
}

func bytesData(b []byte) *Data {
	if b == nil {
		return nil
	}
	return &Data{Schema: &Schema{Type: "bytes", Optional: true}, Value: b}
}

// ---- MirrorSourceConnector ----

type mirrorSourceConnector struct {
	ctx    ConnectorContext
	cfg    mirrorConfig
	log    *slog.Logger
	src    *kgo.Client
	tgt    *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex // guards known
	known []topicPartition
}

type topicPartition struct {
	Topic     string
	Partition int32
}

func (tp topicPartition) String() string { return tp.Topic + "-" + strconv.Itoa(int(tp.Partition)) }

func parseTopicPartition(s string) (topicPartition, bool) {
	i := strings.LastIndexByte(s, '-')
	if i <= 0 {
		return topicPartition{}, false
	}
	p, err := strconv.ParseInt(s[i+1:], 10, 32)
	if err != nil || p < 0 {
		return topicPartition{}, false
	}
	return topicPartition{s[:i], int32(p)}, true
}

func (c *mirrorSourceConnector) Initialize(ctx ConnectorContext) { c.ctx = ctx }

func (c *mirrorSourceConnector) Start(config map[string]string) error {
	c.cfg = parseMirrorConfig(config, mirrorSourcePlugin().Config)
	c.log = contextLogger(c.ctx)
	var err error
	if c.src, err = c.cfg.clusterClient("source"); err != nil {
		return err
	}
	if c.tgt, err = c.cfg.clusterClient("target"); err != nil {
		c.src.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	safe.Go(c.log, "mirror source refresh", func() { c.loop(ctx) })
	return nil
}

// loop refreshes the topic-partitions (and creates remote topics), syncs
// configs and ACLs on their intervals.
func (c *mirrorSourceConnector) loop(ctx context.Context) {
	defer close(c.done)
	var lastConfigs, lastACLs time.Time
	refresh := c.cfg.seconds("refresh.topics.interval.seconds")
	first := true
	for {
		if first || c.cfg.bool("refresh.topics.enabled") {
			if err := c.refresh(ctx, first); err != nil && ctx.Err() == nil {
				c.log.Warn("mirror: refreshing topics", "err", err)
			}
		}
		if c.cfg.bool("sync.topic.configs.enabled") && time.Since(lastConfigs) >= c.cfg.seconds("sync.topic.configs.interval.seconds") {
			if err := c.syncConfigs(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("mirror: syncing topic configs", "err", err)
			}
			lastConfigs = time.Now()
		}
		if c.cfg.bool("sync.topic.acls.enabled") && time.Since(lastACLs) >= c.cfg.seconds("sync.topic.acls.interval.seconds") {
			if err := c.syncACLs(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("mirror: syncing topic ACLs", "err", err)
			}
			lastACLs = time.Now()
		}
		first = false
		wait := min(refresh, c.cfg.seconds("sync.topic.configs.interval.seconds"), c.cfg.seconds("sync.topic.acls.interval.seconds"))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// sourceTopics lists the replicated source topics and their partition counts.
func (c *mirrorSourceConnector) sourceTopics(ctx context.Context) (map[string]int32, error) {
	adm := kadm.NewClient(c.src)
	td, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int32{}
	for _, t := range td.Sorted() {
		if t.Err == nil && c.cfg.replicates(t.Topic) {
			out[t.Topic] = int32(len(t.Partitions))
		}
	}
	return out, nil
}

func (c *mirrorSourceConnector) refresh(ctx context.Context, first bool) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.adminTimeout)
	defer cancel()
	topics, err := c.sourceTopics(ctx)
	if err != nil {
		return err
	}
	if err := c.createRemoteTopics(ctx, topics); err != nil {
		return err
	}
	if c.cfg.bool("emit.offset-syncs.enabled") {
		cl := c.src
		if c.cfg.syncsOnTarget {
			cl = c.tgt
		}
		if err := createCompacted(ctx, cl, c.cfg.offsetSyncsTopic(), int16(intConfig(c.cfg.raw, "offset-syncs.topic.replication.factor", 3))); err != nil {
			return err
		}
	}
	var tps []topicPartition
	for t, n := range topics {
		for p := range n {
			tps = append(tps, topicPartition{t, p})
		}
	}
	slices.SortFunc(tps, func(a, b topicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	c.mu.Lock()
	changed := !slices.Equal(tps, c.known)
	c.known = tps
	c.mu.Unlock()
	if changed && c.ctx != nil {
		c.log.Info("mirror: replicated topic-partitions changed", "partitions", len(tps))
		c.ctx.RequestTaskReconfiguration()
	}
	return nil
}

// createCompacted creates a one-partition compacted topic if missing.
func createCompacted(ctx context.Context, cl *kgo.Client, topic string, rf int16) error {
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, rf, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating %s: %w", topic, err)
	}
	return nil
}

// createRemoteTopics creates missing remote topics with the source's
// partition count and replicated configs, and adds partitions to remote
// topics that have fewer than their source.
func (c *mirrorSourceConnector) createRemoteTopics(ctx context.Context, topics map[string]int32) error {
	tadm := kadm.NewClient(c.tgt)
	remote := map[string]string{}
	var names []string
	for t := range topics {
		remote[c.cfg.remoteTopic(t)] = t
		names = append(names, c.cfg.remoteTopic(t))
	}
	if len(names) == 0 {
		return nil
	}
	existing, err := tadm.ListTopics(ctx, names...)
	if err != nil {
		return err
	}
	rf := int16(intConfig(c.cfg.raw, "replication.factor", 2))
	var errs []error
	for _, rt := range names {
		src := remote[rt]
		want := topics[src]
		if d, ok := existing[rt]; ok && (d.Err == nil || len(d.Partitions) > 0) {
			if have := int32(len(d.Partitions)); have < want {
				resp, err := tadm.UpdatePartitions(ctx, int(want), rt)
				if err == nil {
					err = resp.Error()
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("adding partitions to %s: %w", rt, err))
					continue
				}
				c.log.Info("mirror: added partitions to remote topic", "topic", rt, "partitions", want)
			}
			continue
		}
		configs, err := c.replicatedConfigs(ctx, src)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		resp, err := tadm.CreateTopic(ctx, want, rf, configs, rt)
		if err == nil {
			err = resp.Err
		}
		if errors.Is(err, kerr.TopicAlreadyExists) {
			continue // kgo may answer a recent metadata request from its cache
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("creating remote topic %s: %w", rt, err))
			continue
		}
		c.log.Info("mirror: created remote topic", "topic", rt, "source_topic", src, "partitions", want)
	}
	return errors.Join(errs...)
}

// replicatedConfigs are a source topic's explicitly set configs minus
// config.properties.exclude.
func (c *mirrorSourceConnector) replicatedConfigs(ctx context.Context, topic string) (map[string]*string, error) {
	if !c.cfg.bool("sync.topic.configs.enabled") {
		return nil, nil
	}
	rcs, err := kadm.NewClient(c.src).DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return nil, err
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return nil, err
	}
	if rc.Err != nil {
		return nil, rc.Err
	}
	exclude := anchored(listConfig(c.cfg.raw["config.properties.exclude"]))
	out := map[string]*string{}
	for _, cfg := range rc.Configs {
		if cfg.Source != kmsg.ConfigSourceDynamicTopicConfig || cfg.Value == nil || matchesAny(exclude, cfg.Key) {
			continue
		}
		out[cfg.Key] = cfg.Value
	}
	return out, nil
}

// syncConfigs sets the replicated configs on every remote topic.
func (c *mirrorSourceConnector) syncConfigs(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.adminTimeout)
	defer cancel()
	c.mu.Lock()
	topics := map[string]bool{}
	for _, tp := range c.known {
		topics[tp.Topic] = true
	}
	c.mu.Unlock()
	var errs []error
	for t := range topics {
		configs, err := c.replicatedConfigs(ctx, t)
		if err != nil || len(configs) == 0 {
			errs = append(errs, err)
			continue
		}
		var alter []kadm.AlterConfig
		for k, v := range configs {
			alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: v})
		}
		resp, err := kadm.NewClient(c.tgt).AlterTopicConfigs(ctx, alter, c.cfg.remoteTopic(t))
		if err == nil {
			for _, r := range resp {
				errs = append(errs, r.Err)
			}
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// syncACLs copies the source's literal ALLOW READ/ALL topic ACLs of the
// replicated topics as ALLOW READ ACLs on the remote topics (MM2's rule:
// consumers may read the replica; writes stay with MirrorMaker). A
// cluster without an authorizer is skipped.
func (c *mirrorSourceConnector) syncACLs(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.adminTimeout)
	defer cancel()
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeTopic, kmsg.ACLResourcePatternTypeLiteral
	req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAllow
	resp, err := req.RequestWith(ctx, c.src)
	if err != nil {
		return err
	}
	if resp.ErrorCode == kerr.SecurityDisabled.Code {
		return nil
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return err
	}
	create := kmsg.NewPtrCreateACLsRequest()
	for _, r := range resp.Resources {
		if !c.cfg.replicates(r.ResourceName) {
			continue
		}
		for _, a := range r.ACLs {
			if a.Operation != kmsg.ACLOperationRead && a.Operation != kmsg.ACLOperationAll {
				continue
			}
			cr := kmsg.NewCreateACLsRequestCreation()
			cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = kmsg.ACLResourceTypeTopic, c.cfg.remoteTopic(r.ResourceName), kmsg.ACLResourcePatternTypeLiteral
			cr.Principal, cr.Host, cr.Operation, cr.PermissionType = a.Principal, a.Host, kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
			create.Creations = append(create.Creations, cr)
		}
	}
	if len(create.Creations) == 0 {
		return nil
	}
	cresp, err := create.RequestWith(ctx, c.tgt)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range cresp.Results {
		if r.ErrorCode != kerr.SecurityDisabled.Code {
			errs = append(errs, kerr.ErrorForCode(r.ErrorCode))
		}
	}
	return errors.Join(errs...)
}

// TaskConfigs spreads the known partitions round-robin over at most
// maxTasks tasks (none while no partition is known).
func (c *mirrorSourceConnector) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	c.mu.Lock()
	known := slices.Clone(c.known)
	c.mu.Unlock()
	n := min(maxTasks, len(known))
	groups := make([][]string, n)
	for i, tp := range known {
		groups[i%n] = append(groups[i%n], tp.String())
	}
	out := make([]map[string]string, n)
	for i := range out {
		t := maps.Clone(c.cfg.raw)
		t[taskPartitionsKey] = strings.Join(groups[i], ",")
		out[i] = t
	}
	return out, nil
}

func (c *mirrorSourceConnector) Stop() error {
	if c.cancel != nil {
		c.cancel()
		<-c.done
	}
	if c.src != nil {
		c.src.Close()
	}
	if c.tgt != nil {
		c.tgt.Close()
	}
	return nil
}

// mirrorPartitionState decides when an offset sync is due (MM2's rules):
// the first record of this task's lifetime, a downstream offset more than
// offset.lag.max past the last sync, a gap upstream (compaction,
// transaction markers) or a downstream offset going back. Other updates
// are kept as the partition's delayed sync, sent at the next commit.
type mirrorPartitionState struct {
	lastSyncDownstream int64 // -1: none this lifetime
	prevUpstream       int64
	prevDownstream     int64
	delayed            *OffsetSync
}

func (s *mirrorPartitionState) update(up, down, maxLag int64) bool {
	due := s.lastSyncDownstream == -1 ||
		down-(s.lastSyncDownstream+1) >= maxLag ||
		up-s.prevUpstream != 1 ||
		down < s.prevDownstream
	if due {
		s.lastSyncDownstream = down
	}
	s.prevUpstream, s.prevDownstream = up, down
	return due
}

// ---- MirrorSourceTask ----

type mirrorSourceTask struct {
	cfg     mirrorConfig
	log     *slog.Logger
	cons    *kgo.Client
	syncs   *kgo.Client // offset syncs; nil when disabled
	timeout time.Duration
	maxLag  int64

	mu     sync.Mutex // guards states
	states map[topicPartition]*mirrorPartitionState
}

func mirrorPartition(alias string, tp topicPartition) map[string]any {
	return map[string]any{"cluster": alias, "topic": tp.Topic, "partition": tp.Partition}
}

func (t *mirrorSourceTask) SetLogger(l *slog.Logger) { t.log = l }

func (t *mirrorSourceTask) Start(config map[string]string, offsets OffsetReader) error {
	t.cfg = parseMirrorConfig(config, mirrorSourcePlugin().Config)
	if t.log == nil {
		t.log = slog.Default()
	}
	t.timeout = time.Duration(intConfig(t.cfg.raw, "consumer.poll.timeout.ms", 1000)) * time.Millisecond
	t.maxLag = intConfig(t.cfg.raw, "offset.lag.max", 100)
	t.states = map[topicPartition]*mirrorPartitionState{}
	starts := map[string]map[int32]kgo.Offset{}
	for _, s := range listConfig(config[taskPartitionsKey]) {
		tp, ok := parseTopicPartition(s)
		if !ok {
			return fmt.Errorf("%s: bad topic-partition %q", taskPartitionsKey, s)
		}
		at := kgo.NewOffset().AtStart()
		if off := offsets.Offset(mirrorPartition(t.cfg.source, tp)); off != nil {
			o, err := jsonInt(off["offset"])
			if err != nil {
				return fmt.Errorf("committed offset of %s: %w", tp, err)
			}
			at = kgo.NewOffset().At(o + 1)
		}
		if starts[tp.Topic] == nil {
			starts[tp.Topic] = map[int32]kgo.Offset{}
		}
		starts[tp.Topic][tp.Partition] = at
		t.states[tp] = &mirrorPartitionState{lastSyncDownstream: -1, prevUpstream: -1, prevDownstream: -1}
	}
	var err error
	if t.cons, err = t.cfg.clusterClient("source", kgo.ConsumePartitions(starts), kgo.FetchMaxWait(500*time.Millisecond)); err != nil {
		return err
	}
	if t.cfg.bool("emit.offset-syncs.enabled") {
		which := "source"
		if t.cfg.syncsOnTarget {
			which = "target"
		}
		if t.syncs, err = t.cfg.clusterClient(which, kgo.ProducerLinger(0)); err != nil {
			t.cons.Close()
			return err
		}
	}
	return nil
}

func (t *mirrorSourceTask) Poll(ctx context.Context) ([]SourceRecord, error) {
	pctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	fs := t.cons.PollRecords(pctx, 2000)
	fs.EachError(func(topic string, p int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
			t.log.Warn("mirror: fetching from the source cluster", "topic", topic, "partition", p, "err", err)
		}
	})
	var out []SourceRecord
	fs.EachRecord(func(r *kgo.Record) {
		tp := topicPartition{r.Topic, r.Partition}
		part := r.Partition
		ts := r.Timestamp.UnixMilli()
		sr := SourceRecord{SourcePartition: mirrorPartition(t.cfg.source, tp), SourceOffset: map[string]any{"offset": r.Offset},
			Topic: t.cfg.remoteTopic(r.Topic), Partition: &part, Key: bytesData(r.Key), Value: bytesData(r.Value), Timestamp: &ts}
		for _, h := range r.Headers {
			sr.Headers = append(sr.Headers, Header{Key: h.Key, Value: h.Value})
		}
		out = append(out, sr)
	})
	return out, nil
}

// CommitRecord records the downstream offset of a replicated record and
// sends an offset sync when one is due.
func (t *mirrorSourceTask) CommitRecord(r SourceRecord, _ int32, downstream int64) {
	if t.syncs == nil {
		return
	}
	topic, _ := r.SourcePartition["topic"].(string)
	part, _ := r.SourcePartition["partition"].(int32)
	up, _ := r.SourceOffset["offset"].(int64)
	tp := topicPartition{topic, part}
	sync := OffsetSync{Topic: topic, Partition: part, Upstream: up, Downstream: downstream}
	t.mu.Lock()
	st := t.states[tp]
	due := st != nil && st.update(up, downstream, t.maxLag)
	if st != nil {
		if due {
			st.delayed = nil
		} else {
			st.delayed = &sync
		}
	}
	t.mu.Unlock()
	if due {
		t.sendSync(sync)
	}
}

func (t *mirrorSourceTask) sendSync(s OffsetSync) {
	t.syncs.Produce(context.Background(), &kgo.Record{Topic: t.cfg.offsetSyncsTopic(), Partition: 0,
		Key: offsetSyncKey(s.Topic, s.Partition), Value: offsetSyncValue(s.Upstream, s.Downstream)},
		func(_ *kgo.Record, err error) {
			if err != nil {
				t.log.Warn("mirror: writing an offset sync", "err", err)
			}
		})
}

// Commit sends the delayed offset syncs (after the offsets were written).
func (t *mirrorSourceTask) Commit() error {
	if t.syncs == nil {
		return nil
	}
	var due []OffsetSync
	t.mu.Lock()
	for _, st := range t.states {
		if st.delayed != nil {
			due = append(due, *st.delayed)
			st.lastSyncDownstream, st.delayed = st.delayed.Downstream, nil
		}
	}
	t.mu.Unlock()
	for _, s := range due {
		t.sendSync(s)
	}
	return nil
}

func (t *mirrorSourceTask) Stop() error {
	if t.cons != nil {
		t.cons.Close()
	}
	if t.syncs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t.syncs.Flush(ctx)
		cancel()
		t.syncs.Close()
	}
	return nil
}

// ---- MirrorHeartbeatConnector ----

type mirrorHeartbeatConnector struct {
	ctx ConnectorContext
	cfg mirrorConfig
}

func (c *mirrorHeartbeatConnector) Initialize(ctx ConnectorContext) { c.ctx = ctx }

func (c *mirrorHeartbeatConnector) Start(config map[string]string) error {
	c.cfg = parseMirrorConfig(config, mirrorHeartbeatPlugin().Config)
	if !c.cfg.bool("emit.heartbeats.enabled") {
		return nil
	}
	tgt, err := c.cfg.clusterClient("target")
	if err != nil {
		return err
	}
	// In the background: Start runs on the worker's herder goroutine.
	safe.Go(contextLogger(c.ctx), "mirror heartbeats topic", func() {
		defer tgt.Close()
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.adminTimeout)
		defer cancel()
		if err := createCompacted(ctx, tgt, heartbeatsTopic, int16(intConfig(c.cfg.raw, "heartbeats.topic.replication.factor", 3))); err != nil {
			contextLogger(c.ctx).Warn("mirror: creating the heartbeats topic", "err", err)
		}
	})
	return nil
}

// TaskConfigs: one task, none when heartbeats are disabled.
func (c *mirrorHeartbeatConnector) TaskConfigs(int) ([]map[string]string, error) {
	if !c.cfg.bool("emit.heartbeats.enabled") {
		return []map[string]string{}, nil
	}
	return []map[string]string{maps.Clone(c.cfg.raw)}, nil
}

func (c *mirrorHeartbeatConnector) Stop() error { return nil }

type mirrorHeartbeatTask struct {
	cfg      mirrorConfig
	interval time.Duration
	next     time.Time
}

func (t *mirrorHeartbeatTask) Start(config map[string]string, _ OffsetReader) error {
	t.cfg = parseMirrorConfig(config, mirrorHeartbeatPlugin().Config)
	t.interval = t.cfg.seconds("emit.heartbeats.interval.seconds")
	return nil
}

func (t *mirrorHeartbeatTask) Poll(ctx context.Context) ([]SourceRecord, error) {
	if d := time.Until(t.next); d > 0 {
		sleepCtx(ctx, min(d, time.Second))
		return nil, nil
	}
	now := time.Now()
	t.next = now.Add(t.interval)
	ts := now.UnixMilli()
	part := int32(0)
	return []SourceRecord{{
		SourcePartition: map[string]any{"sourceClusterAlias": t.cfg.source, "targetClusterAlias": t.cfg.target},
		SourceOffset:    map[string]any{"offset": 0},
		Topic:           heartbeatsTopic, Partition: &part, Timestamp: &ts,
		Key: bytesData(heartbeatKey(t.cfg.source, t.cfg.target)), Value: bytesData(heartbeatValue(ts)),
	}}, nil
}

func (t *mirrorHeartbeatTask) Commit() error { return nil }
func (t *mirrorHeartbeatTask) Stop() error   { return nil }

// ---- MirrorCheckpointConnector ----

type mirrorCheckpointConnector struct {
	ctx    ConnectorContext
	cfg    mirrorConfig
	log    *slog.Logger
	src    *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex // guards groups
	groups []string
}

func (c *mirrorCheckpointConnector) Initialize(ctx ConnectorContext) { c.ctx = ctx }

func (c *mirrorCheckpointConnector) Start(config map[string]string) error {
	c.cfg = parseMirrorConfig(config, mirrorCheckpointPlugin().Config)
	c.log = contextLogger(c.ctx)
	if !c.cfg.bool("emit.checkpoints.enabled") && !c.cfg.bool("sync.group.offsets.enabled") {
		return nil
	}
	var err error
	if c.src, err = c.cfg.clusterClient("source"); err != nil {
		return err
	}
	tgt, err := c.cfg.clusterClient("target")
	if err != nil {
		c.src.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	safe.Go(c.log, "mirror checkpoint refresh", func() {
		defer close(c.done)
		cctx, ccancel := context.WithTimeout(ctx, c.cfg.adminTimeout)
		err := createCompacted(cctx, tgt, c.cfg.checkpointsTopic(), int16(intConfig(c.cfg.raw, "checkpoints.topic.replication.factor", 3)))
		ccancel()
		tgt.Close()
		if err != nil {
			c.log.Warn("mirror: creating the checkpoints topic", "err", err)
		}
		first := true
		for {
			if first || c.cfg.bool("refresh.groups.enabled") {
				if err := c.refresh(ctx); err != nil && ctx.Err() == nil {
					c.log.Warn("mirror: listing consumer groups", "err", err)
				}
			}
			first = false
			select {
			case <-ctx.Done():
				return
			case <-time.After(c.cfg.seconds("refresh.groups.interval.seconds")):
			}
		}
	})
	return nil
}

func (c *mirrorCheckpointConnector) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.adminTimeout)
	defer cancel()
	listed, err := kadm.NewClient(c.src).ListGroups(ctx)
	if err != nil {
		return err
	}
	include, exclude := anchored(listConfig(c.cfg.raw["groups"])), anchored(listConfig(c.cfg.raw["groups.exclude"]))
	var groups []string
	for _, g := range listed.Groups() {
		if matchesAny(include, g) && !matchesAny(exclude, g) {
			groups = append(groups, g)
		}
	}
	slices.Sort(groups)
	c.mu.Lock()
	changed := !slices.Equal(groups, c.groups)
	c.groups = groups
	c.mu.Unlock()
	if changed && c.ctx != nil {
		c.ctx.RequestTaskReconfiguration()
	}
	return nil
}

func (c *mirrorCheckpointConnector) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	c.mu.Lock()
	groups := slices.Clone(c.groups)
	c.mu.Unlock()
	n := min(maxTasks, len(groups))
	parts := make([][]string, n)
	for i, g := range groups {
		parts[i%n] = append(parts[i%n], g)
	}
	out := make([]map[string]string, n)
	for i := range out {
		t := maps.Clone(c.cfg.raw)
		t[taskGroupsKey] = strings.Join(parts[i], ",")
		out[i] = t
	}
	return out, nil
}

func (c *mirrorCheckpointConnector) Stop() error {
	if c.cancel != nil {
		c.cancel()
		<-c.done
	}
	if c.src != nil {
		c.src.Close()
	}
	return nil
}

// offsetSyncStore keeps the offset syncs read from the offset-syncs topic,
// per source partition in upstream order (the latest few hundred).
type offsetSyncStore struct {
	mu    sync.Mutex
	syncs map[topicPartition][]OffsetSync
}

const maxSyncsPerPartition = 256

func (s *offsetSyncStore) add(o OffsetSync) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tp := topicPartition{o.Topic, o.Partition}
	list := s.syncs[tp]
	// A sync going back upstream (a truncated or reset source) replaces
	// what it contradicts.
	i := len(list)
	for i > 0 && list[i-1].Upstream >= o.Upstream {
		i--
	}
	list = append(list[:i], o)
	if len(list) > maxSyncsPerPartition {
		list = list[len(list)-maxSyncsPerPartition:]
	}
	s.syncs[tp] = list
}

// translate maps an upstream consumer offset to the downstream one: the
// latest sync at or before it gives its downstream offset when exact, one
// past it otherwise (a consumer there has read at most up to the synced
// record). ok is false when no sync is old enough.
func (s *offsetSyncStore) translate(tp topicPartition, upstream int64) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.syncs[tp]
	i := len(list) - 1
	for i >= 0 && list[i].Upstream > upstream {
		i--
	}
	if i < 0 {
		return 0, false
	}
	if list[i].Upstream == upstream {
		return list[i].Downstream, true
	}
	return list[i].Downstream + 1, true
}

type mirrorCheckpointTask struct {
	cfg      mirrorConfig
	log      *slog.Logger
	groups   []string
	src, tgt *kgo.Client
	syncCons *kgo.Client
	store    offsetSyncStore
	stop     chan struct{}
	done     chan struct{}

	nextEmit, nextSync time.Time
	// last is the last checkpoint emitted per group and remote partition.
	last map[string]map[topicPartition]Checkpoint
}

func (t *mirrorCheckpointTask) SetLogger(l *slog.Logger) { t.log = l }

func (t *mirrorCheckpointTask) Start(config map[string]string, _ OffsetReader) error {
	t.cfg = parseMirrorConfig(config, mirrorCheckpointPlugin().Config)
	if t.log == nil {
		t.log = slog.Default()
	}
	t.groups = listConfig(config[taskGroupsKey])
	t.store.syncs = map[topicPartition][]OffsetSync{}
	t.last = map[string]map[topicPartition]Checkpoint{}
	var err error
	if t.src, err = t.cfg.clusterClient("source"); err != nil {
		return err
	}
	if t.tgt, err = t.cfg.clusterClient("target"); err != nil {
		t.src.Close()
		return err
	}
	which := "source"
	if t.cfg.syncsOnTarget {
		which = "target"
	}
	if t.syncCons, err = t.cfg.clusterClient(which, kgo.ConsumeTopics(t.cfg.offsetSyncsTopic()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond)); err != nil {
		t.src.Close()
		t.tgt.Close()
		return err
	}
	t.stop, t.done = make(chan struct{}), make(chan struct{})
	safe.Go(t.log, "mirror offset syncs reader", func() {
		defer close(t.done)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		safe.Go(t.log, "mirror offset syncs stop", func() {
			select {
			case <-t.stop:
				cancel()
			case <-ctx.Done():
			}
		})
		for ctx.Err() == nil {
			fs := t.syncCons.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				if s, err := DecodeOffsetSync(r.Key, r.Value); err == nil {
					t.store.add(s)
				}
			})
		}
	})
	return nil
}

// Poll emits the checkpoints of the task's groups every
// emit.checkpoints.interval.seconds and, with sync.group.offsets.enabled,
// commits them to the target's idle groups.
func (t *mirrorCheckpointTask) Poll(ctx context.Context) ([]SourceRecord, error) {
	now := time.Now()
	emit := t.cfg.bool("emit.checkpoints.enabled") && !now.Before(t.nextEmit)
	syncGroups := t.cfg.bool("sync.group.offsets.enabled") && !now.Before(t.nextSync)
	if !emit && !syncGroups {
		sleepCtx(ctx, time.Second)
		return nil, nil
	}
	actx, cancel := context.WithTimeout(ctx, t.cfg.adminTimeout)
	defer cancel()
	checkpoints, err := t.checkpoints(actx)
	if err != nil {
		t.log.Warn("mirror: reading consumer group offsets", "err", err)
		sleepCtx(ctx, time.Second)
		return nil, nil
	}
	var out []SourceRecord
	if emit {
		t.nextEmit = now.Add(t.cfg.seconds("emit.checkpoints.interval.seconds"))
		part := int32(0)
		for _, c := range checkpoints {
			tp := topicPartition{c.Topic, c.Partition}
			if prev, ok := t.last[c.Group][tp]; ok && prev == c {
				continue
			}
			if t.last[c.Group] == nil {
				t.last[c.Group] = map[topicPartition]Checkpoint{}
			}
			t.last[c.Group][tp] = c
			ts := now.UnixMilli()
			out = append(out, SourceRecord{
				SourcePartition: map[string]any{"group": c.Group, "topic": c.Topic, "partition": c.Partition},
				SourceOffset:    map[string]any{"offset": 0},
				Topic:           t.cfg.checkpointsTopic(), Partition: &part, Timestamp: &ts,
				Key: bytesData(c.key()), Value: bytesData(c.value()),
			})
		}
	}
	if syncGroups {
		t.nextSync = now.Add(t.cfg.seconds("sync.group.offsets.interval.seconds"))
		if err := t.syncGroupOffsets(actx, checkpoints); err != nil {
			t.log.Warn("mirror: syncing group offsets to the target", "err", err)
		}
	}
	return out, nil
}

// checkpoints translates the task's groups' committed offsets on
// replicated topics.
func (t *mirrorCheckpointTask) checkpoints(ctx context.Context) ([]Checkpoint, error) {
	adm := kadm.NewClient(t.src)
	var out []Checkpoint
	for _, g := range t.groups {
		offs, err := adm.FetchOffsets(ctx, g)
		if err != nil {
			if errors.Is(err, kerr.GroupIDNotFound) {
				continue
			}
			return nil, err
		}
		for _, o := range offs.Sorted() {
			if o.Err != nil || o.At < 0 || !t.cfg.replicates(o.Topic) {
				continue
			}
			down, ok := t.store.translate(topicPartition{o.Topic, o.Partition}, o.At)
			if !ok {
				continue
			}
			out = append(out, Checkpoint{Group: g, Topic: t.cfg.remoteTopic(o.Topic), Partition: o.Partition, Upstream: o.At, Downstream: down, Metadata: o.Metadata})
		}
	}
	return out, nil
}

// syncGroupOffsets commits translated offsets to target groups that have
// no active members, never moving a group's offset back.
func (t *mirrorCheckpointTask) syncGroupOffsets(ctx context.Context, cps []Checkpoint) error {
	adm := kadm.NewClient(t.tgt)
	byGroup := map[string][]Checkpoint{}
	for _, c := range cps {
		byGroup[c.Group] = append(byGroup[c.Group], c)
	}
	var errs []error
	for g, list := range byGroup {
		dg, err := adm.DescribeGroups(ctx, g)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if d, ok := dg[g]; ok && d.Err == nil && len(d.Members) > 0 {
			continue // active on the target: its own commits win
		}
		current, err := adm.FetchOffsets(ctx, g)
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			errs = append(errs, err)
			continue
		}
		set := kadm.Offsets{}
		for _, c := range list {
			if cur, ok := current.Lookup(c.Topic, c.Partition); ok && cur.Err == nil && cur.At >= c.Downstream {
				continue
			}
			set.Add(kadm.Offset{Topic: c.Topic, Partition: c.Partition, At: c.Downstream, LeaderEpoch: -1, Metadata: c.Metadata})
		}
		if len(set) == 0 {
			continue
		}
		resp, err := adm.CommitOffsets(ctx, g, set)
		if err == nil {
			err = resp.Error()
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (t *mirrorCheckpointTask) Commit() error { return nil }

func (t *mirrorCheckpointTask) Stop() error {
	if t.stop != nil {
		close(t.stop)
		<-t.done
	}
	for _, c := range []*kgo.Client{t.syncCons, t.src, t.tgt} {
		if c != nil {
			c.Close()
		}
	}
	return nil
}
