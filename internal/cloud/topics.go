package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/tributary/tributary/internal/config"
)

// configKey is one field of DigitalOcean's TopicConfig or KafkaConfig:
// its JSON name, Kafka's config name and its JSON type.
type configKey struct {
	api, kafka string
	typ        string // "string", "uint", "int", "bool", "float"
}

func keys(typed ...string) []configKey {
	var out []configKey
	for _, t := range typed {
		api, typ, _ := strings.Cut(t, ":")
		out = append(out, configKey{api: api, kafka: strings.ReplaceAll(api, "_", "."), typ: typ})
	}
	return out
}

// topicKeys are godo's TopicConfig fields.
var topicKeys = func() []configKey {
	ks := keys("cleanup_policy:string", "compression_type:string", "delete_retention_ms:uint", "file_delete_delay_ms:uint",
		"flush_messages:uint", "flush_ms:uint", "index_interval_bytes:uint", "max_compaction_lag_ms:uint",
		"max_message_bytes:uint", "message_down_conversion_enable:bool", "message_format_version:string",
		"message_timestamp_difference_max_ms:uint", "message_timestamp_type:string", "min_cleanable_dirty_ratio:float",
		"min_compaction_lag_ms:uint", "min_insync_replicas:uint", "preallocate:bool", "retention_bytes:int",
		"retention_ms:int", "segment_bytes:uint", "segment_index_bytes:uint", "segment_jitter_ms:uint", "segment_ms:uint")
	for i := range ks {
		if ks[i].api == "message_down_conversion_enable" {
			ks[i].kafka = "message.downconversion.enable"
		}
	}
	return ks
}()

// brokerKeys are godo's KafkaConfig fields (cluster-wide broker configs).
var brokerKeys = keys("group_initial_rebalance_delay_ms:int", "group_min_session_timeout_ms:int", "group_max_session_timeout_ms:int",
	"message_max_bytes:int", "log_cleaner_delete_retention_ms:int", "log_cleaner_min_compaction_lag_ms:uint",
	"log_flush_interval_ms:uint", "log_index_interval_bytes:int", "log_message_downconversion_enable:bool",
	"log_message_timestamp_difference_max_ms:uint", "log_preallocate:bool", "log_retention_bytes:int",
	"log_retention_hours:int", "log_retention_ms:int", "log_roll_jitter_ms:uint", "log_segment_delete_delay_ms:int",
	"auto_create_topics_enable:bool")

// parseConfig turns a TopicConfig / KafkaConfig JSON object into Kafka
// config names and values, refusing unknown keys and values of the wrong
// JSON type.
func parseConfig(raw json.RawMessage, table []configKey, what string) (map[string]string, error) {
	out := map[string]string{}
	if len(raw) == 0 || string(raw) == "null" {
		return out, nil
	}
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&m); err != nil {
		return nil, errorf(KindBadRequest, "%s must be a JSON object: %v", what, err)
	}
	for name, v := range m {
		i := -1
		for j, k := range table {
			if k.api == name {
				i = j
			}
		}
		if i < 0 {
			return nil, errorf(KindInvalid, "unknown %s key %q", what, name)
		}
		k := table[i]
		if string(v) == "null" {
			continue
		}
		val, err := jsonValue(v, k.typ)
		if err != nil {
			return nil, errorf(KindInvalid, "%s.%s: %v", what, name, err)
		}
		if k.api == "cleanup_policy" && val == "compact_delete" {
			val = "compact,delete"
		}
		out[k.kafka] = val
	}
	return out, nil
}

// jsonValue checks v's JSON type and returns it as Kafka's string form.
func jsonValue(v json.RawMessage, typ string) (string, error) {
	switch typ {
	case "string":
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", errors.New("must be a string")
		}
		return s, nil
	case "bool":
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return "", errors.New("must be true or false")
		}
		return strconv.FormatBool(b), nil
	case "float":
		var f float64
		if err := json.Unmarshal(v, &f); err != nil || math.IsNaN(f) {
			return "", errors.New("must be a number")
		}
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	default:
		if t := bytes.TrimSpace(v); len(t) == 0 || t[0] == '"' {
			return "", errors.New("must be an integer")
		}
		var n json.Number
		d := json.NewDecoder(bytes.NewReader(v))
		d.UseNumber()
		if err := d.Decode(&n); err != nil {
			return "", errors.New("must be an integer")
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			return "", errors.New("must be an integer in the 64-bit range")
		}
		if typ == "uint" && i < 0 {
			return "", errors.New("must not be negative")
		}
		return n.String(), nil
	}
}

// renderConfig turns Kafka configs into the JSON object of table's keys.
func renderConfig(vals map[string]string, table []configKey) map[string]any {
	out := map[string]any{}
	for _, k := range table {
		v, ok := vals[k.kafka]
		if !ok {
			continue
		}
		switch k.typ {
		case "string":
			if k.api == "cleanup_policy" && (v == "compact,delete" || v == "delete,compact") {
				v = "compact_delete"
			}
			out[k.api] = v
		case "bool":
			out[k.api] = v == "true"
		case "float":
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				out[k.api] = f
			}
		default:
			if i, err := strconv.ParseInt(v, 10, 64); err == nil && !(k.typ == "uint" && i < 0) {
				out[k.api] = i
			}
		}
	}
	return out
}

var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// TopicRequest creates or updates a topic (DigitalOcean's
// DatabaseCreateTopicRequest / DatabaseUpdateTopicRequest).
type TopicRequest struct {
	Name              string          `json:"name"`
	PartitionCount    *int32          `json:"partition_count"`
	ReplicationFactor *int16          `json:"replication_factor"`
	Config            json.RawMessage `json:"config"`
}

// topicAdmin returns an admin client for an online cluster.
func (s *Service) topicAdmin(ctx context.Context, id string) (Cluster, *kadm.Client, error) {
	c, err := s.Cluster(ctx, id)
	if err != nil {
		return c, nil, err
	}
	if c.Status == StatusCreating || c.Status == StatusDeleting {
		return c, nil, errorf(KindConflict, "the database cluster is %s", c.Status)
	}
	adm, err := s.admin(ctx, id)
	return c, adm, err
}

func kafkaErr(what string, err error) error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch ke {
		case kerr.TopicAlreadyExists:
			return errorf(KindConflict, "%s: %v", what, err)
		case kerr.UnknownTopicOrPartition:
			return errorf(KindNotFound, "%s: %v", what, err)
		case kerr.InvalidTopicException, kerr.InvalidPartitions, kerr.InvalidReplicationFactor, kerr.InvalidConfig,
			kerr.InvalidRequest, kerr.PolicyViolation:
			return errorf(KindInvalid, "%s: %v", what, err)
		}
	}
	return errorf(KindUnavailable, "%s: %v", what, err)
}

// CreateTopic creates a topic: 3 partitions and replication factor 2
// (at most the broker count) unless given.
func (s *Service) CreateTopic(ctx context.Context, id string, r TopicRequest) (apiTopic, error) {
	c, adm, err := s.topicAdmin(ctx, id)
	if err != nil {
		return apiTopic{}, err
	}
	if !topicName.MatchString(r.Name) || r.Name == "." || r.Name == ".." {
		return apiTopic{}, errorf(KindInvalid, "invalid topic name %q: 1 to 249 of a-z A-Z 0-9 . _ -", r.Name)
	}
	parts, rf := int32(3), int16(min(2, c.NumNodes))
	if r.PartitionCount != nil {
		parts = *r.PartitionCount
	}
	if r.ReplicationFactor != nil {
		rf = *r.ReplicationFactor
	}
	if parts < 1 || parts > 10000 {
		return apiTopic{}, errorf(KindInvalid, "partition_count %d is out of range 1..10000", parts)
	}
	if rf < 1 || int(rf) > c.NumNodes {
		return apiTopic{}, errorf(KindInvalid, "replication_factor %d is out of range: the cluster has %d nodes", rf, c.NumNodes)
	}
	cfg, err := parseConfig(r.Config, topicKeys, "config")
	if err != nil {
		return apiTopic{}, err
	}
	kcfg := map[string]*string{}
	for k, v := range cfg {
		if err := config.ValidateTopic(k, v); err != nil {
			return apiTopic{}, errorf(KindInvalid, "config %s: %v", k, err)
		}
		kcfg[k] = &v
	}
	resp, err := adm.CreateTopic(ctx, parts, rf, kcfg, r.Name)
	if err == nil {
		err = resp.Err
		if err != nil && resp.ErrMessage != "" {
			err = fmt.Errorf("%w: %s", err, resp.ErrMessage)
		}
	}
	if err != nil {
		return apiTopic{}, kafkaErr("create topic "+r.Name, err)
	}
	// Answer as DigitalOcean does, with the topic's partitions: described
	// once the brokers' metadata lists every one of them (a broker learns
	// a new topic from the quorum shortly after CreateTopics answers).
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var t apiTopic
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		t, err = s.Topic(dctx, id, r.Name)
		if err == nil && len(t.Partitions) == int(parts) {
			return t, nil
		}
		select {
		case <-dctx.Done():
			if err == nil {
				err = fmt.Errorf("%d of %d partitions described", len(t.Partitions), parts)
			}
			return apiTopic{}, errorf(KindUnavailable, "topic %s was created but cannot be described yet: %v", r.Name, err)
		case <-time.After(wait):
		}
	}
}

// Topics lists the cluster's topics (internal ones left out).
func (s *Service) Topics(ctx context.Context, id string) ([]apiTopic, error) {
	_, adm, err := s.topicAdmin(ctx, id)
	if err != nil {
		return nil, err
	}
	tds, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, kafkaErr("list topics", err)
	}
	out := []apiTopic{}
	for _, td := range tds.Sorted() {
		if td.Err != nil {
			continue
		}
		t := apiTopic{Name: td.Topic, ReplicationFactor: uint32(td.Partitions.NumReplicas()), State: "active"}
		for _, p := range td.Partitions.Sorted() {
			t.Partitions = append(t.Partitions, apiTopicPartition{ID: uint32(p.Partition), InSyncReplicas: uint32(len(p.ISR)),
				ConsumerGroups: []apiTopicConsumerGroup{}})
		}
		out = append(out, t)
	}
	return out, nil
}

// Topic describes one topic: partitions with size (on the leader),
// in-sync replica count, earliest offset and consumer groups' committed
// offsets, and its configs set on the topic.
func (s *Service) Topic(ctx context.Context, id, name string) (apiTopic, error) {
	_, adm, err := s.topicAdmin(ctx, id)
	if err != nil {
		return apiTopic{}, err
	}
	tds, err := adm.ListTopics(ctx, name)
	if err != nil {
		return apiTopic{}, kafkaErr("describe topic", err)
	}
	td, ok := tds[name]
	if !ok || td.Err != nil {
		return apiTopic{}, errorf(KindNotFound, "topic %q not found", name)
	}
	t := apiTopic{Name: name, ReplicationFactor: uint32(td.Partitions.NumReplicas()), State: "active"}
	starts, _ := adm.ListStartOffsets(ctx, name)
	sizes := map[int32]int64{}
	// Every partition named: a topic with no partitions asks for none
	// (the sizes were all 0).
	set := kadm.TopicsSet{}
	leaders := map[int32]int32{}
	for _, p := range td.Partitions {
		set.Add(name, p.Partition)
		leaders[p.Partition] = p.Leader
	}
	if dirs, err := adm.DescribeAllLogDirs(ctx, set); err == nil {
		dirs.Each(func(d kadm.DescribedLogDir) {
			d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
				if p.Topic == name && leaders[p.Partition] == d.Broker {
					sizes[p.Partition] = p.Size
				}
			})
		})
	}
	groupOffsets := map[int32][]apiTopicConsumerGroup{}
	if groups, err := adm.ListGroups(ctx); err == nil {
		fetched := adm.FetchManyOffsets(ctx, groups.Groups()...)
		var names []string
		for g := range fetched {
			names = append(names, g)
		}
		sort.Strings(names)
		for _, g := range names {
			r := fetched[g]
			if r.Err != nil {
				continue
			}
			for p, o := range r.Fetched[name] {
				if o.Err == nil && o.At >= 0 {
					groupOffsets[p] = append(groupOffsets[p], apiTopicConsumerGroup{Name: g, Offset: uint64(o.At)})
				}
			}
		}
	}
	for _, p := range td.Partitions.Sorted() {
		tp := apiTopicPartition{ID: uint32(p.Partition), InSyncReplicas: uint32(len(p.ISR)), Size: uint64(max(0, sizes[p.Partition])),
			ConsumerGroups: groupOffsets[p.Partition]}
		if tp.ConsumerGroups == nil {
			tp.ConsumerGroups = []apiTopicConsumerGroup{}
		}
		if o, ok := starts.Lookup(name, p.Partition); ok && o.Err == nil && o.Offset >= 0 {
			tp.EarliestOffset = uint64(o.Offset)
		}
		t.Partitions = append(t.Partitions, tp)
	}
	if rcs, err := adm.DescribeTopicConfigs(ctx, name); err == nil {
		vals := map[string]string{}
		for _, rc := range rcs {
			for _, c := range rc.Configs {
				if c.Value != nil {
					vals[c.Key] = *c.Value
				}
			}
		}
		t.Config = renderConfig(vals, topicKeys)
	}
	return t, nil
}

// UpdateTopic raises the partition count and sets configs.
func (s *Service) UpdateTopic(ctx context.Context, id, name string, r TopicRequest) error {
	_, adm, err := s.topicAdmin(ctx, id)
	if err != nil {
		return err
	}
	tds, err := adm.ListTopics(ctx, name)
	if err != nil {
		return kafkaErr("describe topic", err)
	}
	td, ok := tds[name]
	if !ok || td.Err != nil {
		return errorf(KindNotFound, "topic %q not found", name)
	}
	if r.ReplicationFactor != nil && int(*r.ReplicationFactor) != td.Partitions.NumReplicas() {
		return errorf(KindInvalid, "changing a topic's replication_factor is not offered")
	}
	cfg, err := parseConfig(r.Config, topicKeys, "config")
	if err != nil {
		return err
	}
	for k, v := range cfg {
		if err := config.ValidateTopic(k, v); err != nil {
			return errorf(KindInvalid, "config %s: %v", k, err)
		}
	}
	if r.PartitionCount != nil {
		have := int32(len(td.Partitions))
		switch {
		case *r.PartitionCount < have:
			return errorf(KindInvalid, "partition_count %d is below the topic's %d partitions: partitions cannot be removed", *r.PartitionCount, have)
		case *r.PartitionCount > have:
			rs, err := adm.UpdatePartitions(ctx, int(*r.PartitionCount), name)
			if err == nil {
				err = rs[name].Err
			}
			if err != nil {
				return kafkaErr("add partitions", err)
			}
		}
	}
	if len(cfg) > 0 {
		var alters []kadm.AlterConfig
		for k, v := range cfg {
			alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
		}
		rs, err := adm.AlterTopicConfigs(ctx, alters, name)
		if err == nil {
			for _, r := range rs {
				if r.Err != nil {
					err = fmt.Errorf("%w %s", r.Err, r.ErrMessage)
				}
			}
		}
		if err != nil {
			return kafkaErr("alter topic configs", err)
		}
	}
	return nil
}

// DeleteTopic deletes a topic.
func (s *Service) DeleteTopic(ctx context.Context, id, name string) error {
	_, adm, err := s.topicAdmin(ctx, id)
	if err != nil {
		return err
	}
	rs, err := adm.DeleteTopics(ctx, name)
	if err == nil {
		err = rs[name].Err
	}
	if err != nil {
		return kafkaErr("delete topic "+name, err)
	}
	return nil
}

// BrokerConfig returns the cluster's KafkaConfig values (the brokers'
// effective configs, read from the first broker).
func (s *Service) BrokerConfig(ctx context.Context, id string) (map[string]any, error) {
	_, adm, err := s.topicAdmin(ctx, id)
	if err != nil {
		return nil, err
	}
	nodes, err := s.Nodes(ctx, id)
	if err != nil || len(nodes) == 0 {
		return nil, errorf(KindUnavailable, "the cluster has no brokers")
	}
	rcs, err := adm.DescribeBrokerConfigs(ctx, nodes[0].NodeID)
	if err != nil {
		return nil, kafkaErr("describe broker configs", err)
	}
	vals := map[string]string{}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Value != nil {
				vals[c.Key] = *c.Value
			}
		}
	}
	// The start-time configs as asked for (a rolling restart may not
	// have reached the first broker yet).
	c, err := s.Cluster(ctx, id)
	if err != nil {
		return nil, err
	}
	maps.Copy(vals, c.BrokerConfig)
	// log.retention.hours is Kafka's fallback for log.retention.ms.
	return renderConfig(vals, brokerKeys), nil
}

// UpdateBrokerConfig sets cluster-wide broker configs: the dynamic ones
// on the running brokers, the ones a broker reads only at start (in
// Kafka too: auto.create.topics.enable, group.*.ms) in the cluster's
// BrokerConfig, applied by a rolling restart it starts.
func (s *Service) UpdateBrokerConfig(ctx context.Context, id string, raw json.RawMessage) error {
	c, adm, err := s.topicAdmin(ctx, id)
	if err != nil {
		return err
	}
	cfg, err := parseConfig(raw, brokerKeys, "config")
	if err != nil {
		return err
	}
	static := map[string]string{}
	for k, v := range cfg {
		if !config.DynamicBrokerKey(k) {
			static[k] = v
			delete(cfg, k)
		}
	}
	var restart map[string]string
	for k, v := range static {
		if c.BrokerConfig[k] != v {
			restart = maps.Clone(c.BrokerConfig)
			if restart == nil {
				restart = map[string]string{}
			}
			maps.Copy(restart, static)
			break
		}
	}
	if restart != nil {
		// Checked before anything is applied: all of the change or none.
		if _, err := config.NewBroker(restart); err != nil {
			return errorf(KindInvalid, "%v", err)
		}
		if c.Status != StatusOnline {
			return errorf(KindConflict, "the database cluster is %s; %s take a rolling restart, which needs it online", c.Status, strings.Join(slices.Sorted(maps.Keys(static)), ", "))
		}
	}
	if len(cfg) > 0 {
		if err := s.alterBrokerConfigs(ctx, adm, cfg); err != nil {
			return err
		}
	}
	if restart == nil {
		return nil
	}
	op := Operation{ID: newID(), ClusterID: id, Kind: OpRestart, From: c.NumNodes, Step: stepRoll, State: OpRunning}
	if err := s.cfg.Store.StartOperationChange(ctx, op, Change{Status: StatusRestarting, NumNodes: c.NumNodes, BrokerConfig: restart}); err != nil {
		return err
	}
	s.cfg.Store.AddEvent(ctx, id, "cluster_config_restart")
	s.log.Info("broker configs read at start changed: rolling restart", "cluster", id, "configs", static)
	return nil
}

// alterBrokerConfigs sets cluster-wide dynamic broker configs.
func (s *Service) alterBrokerConfigs(ctx context.Context, adm *kadm.Client, cfg map[string]string) error {
	var alters []kadm.AlterConfig
	for k, v := range cfg {
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
	}
	rs, err := adm.AlterBrokerConfigs(ctx, alters)
	if err == nil {
		for _, r := range rs {
			if r.Err != nil {
				err = fmt.Errorf("%w %s", r.Err, r.ErrMessage)
			}
		}
	}
	if err != nil {
		return kafkaErr("alter broker configs", err)
	}
	return nil
}
