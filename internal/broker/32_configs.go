// DescribeConfigs (key 32), versions 0-4; AlterConfigs (key 33), versions
// 0-2; IncrementalAlterConfigs (key 44), versions 0-1. DescribeConfigs v0
// (removed in Kafka 4) has no synonyms and answers is_default instead of
// the config source.
//
// Topic resources: every known topic config with its effective value and
// source (topic override, dynamic or static broker config, default) and
// synonyms. Unknown or invalid values are refused with INVALID_CONFIG and
// nothing is stored.
//
// Broker resources: this node's id describes every honoured broker config
// with its source (default, static, dynamic cluster default, dynamic);
// "" describes the cluster-wide dynamic defaults only, as Kafka does.
// Altering "" or a registered broker's id changes dynamic broker configs,
// stored in the metadata quorum (so they survive restarts) and applied by
// every broker's reconcile: the keys Kafka allows to change at runtime
// that Tributary honours, the broker defaults of topic configs
// (config.DynamicBrokerKey). A read-only or unknown key is INVALID_REQUEST
// (as Kafka), an invalid value INVALID_CONFIG.
//
// Group resources (type 32): the share group configs of
// config.GroupDefs (share.auto.offset.reset, share.isolation.level, and
// group.share.record.lock.duration.ms and group.share.delivery.count.limit
// overriding the broker's within its group.share.min/max.* bounds),
// stored in the metadata quorum; any other key is INVALID_CONFIG. Other
// resource types are INVALID_REQUEST.
package broker

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/security"
)

func init() {
	register(kmsg.DescribeConfigs, 0, 4, (*Broker).handleDescribeConfigs)
	register(kmsg.AlterConfigs, 0, 2, (*Broker).handleAlterConfigs)
	register(kmsg.IncrementalAlterConfigs, 0, 1, (*Broker).handleIncrementalAlterConfigs)
}

func (b *Broker) handleDescribeConfigs(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		res := kmsg.NewDescribeConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		if code := b.configAuthorization(r, rr.ResourceType, rr.ResourceName, security.OpDescribeConfigs); code != 0 {
			res.ErrorCode = code
			resp.Resources = append(resp.Resources, res)
			continue
		}
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t := b.topic(rr.ResourceName)
			if t == nil {
				res.ErrorCode = kerr.UnknownTopicOrPartition.Code
				break
			}
			res.Configs = b.describeTopicConfigs(t.meta.Configs, rr.ConfigNames, req.IncludeSynonyms, req.IncludeDocumentation)
		case kmsg.ConfigResourceTypeBroker:
			if err := b.checkBrokerResource(rr.ResourceName); err != nil {
				res.ErrorCode, res.ErrorMessage = errCode(err), errMsg(err)
				break
			}
			if rr.ResourceName == "" {
				res.Configs = b.describeDynamicDefaults(rr.ConfigNames)
				break
			}
			res.Configs = b.describeBrokerConfigs(rr.ConfigNames, req.IncludeSynonyms, req.IncludeDocumentation)
		case kmsg.ConfigResourceTypeGroupConfig:
			res.Configs = b.describeGroupConfigs(rr.ResourceName, rr.ConfigNames, req.IncludeDocumentation)
		default:
			res.ErrorCode = kerr.InvalidRequest.Code
			res.ErrorMessage = strp("unsupported resource type")
		}
		resp.Resources = append(resp.Resources, res)
	}
	return respond(resp)
}

func (b *Broker) checkBrokerResource(name string) error {
	if name == "" || name == strconv.Itoa(int(b.cfg.NodeID)) {
		return nil
	}
	return cerr(kerr.InvalidRequest, "unknown broker %q", name)
}

func wanted(names []string, n string) bool { return names == nil || slices.Contains(names, n) }

func (b *Broker) describeTopicConfigs(explicit map[string]string, names []string, synonyms, docs bool) []kmsg.DescribeConfigsResponseResourceConfig {
	bc := b.brokerConfig()
	tc := config.NewTopicConfig(explicit, bc)
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, name := range config.TopicNames() {
		if !wanted(names, name) {
			continue
		}
		d := config.TopicDefs[name]
		v, src := tc.Lookup(name)
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name, c.Value = name, strp(v)
		c.Source = kmsg.ConfigSource(src)
		c.IsDefault = src == config.SourceDefault
		c.ConfigType = kmsg.ConfigType(d.Type)
		if synonyms {
			if tv, ok := explicit[name]; ok {
				c.ConfigSynonyms = append(c.ConfigSynonyms, synonym(name, tv, config.SourceTopic))
			}
			if d.BrokerKey != "" {
				if bv := bc.Effective(d.BrokerKey); bv.Origin != config.OriginDefault {
					c.ConfigSynonyms = append(c.ConfigSynonyms, synonym(d.BrokerKey, bv.Value, bv.Origin.Source()))
				}
				c.ConfigSynonyms = append(c.ConfigSynonyms, synonym(d.BrokerKey, d.Default, config.SourceDefault))
			}
		}
		if docs && d.Doc != "" {
			c.Documentation = strp(d.Doc)
		}
		out = append(out, c)
	}
	return out
}

func (b *Broker) describeBrokerConfigs(names []string, synonyms, docs bool) []kmsg.DescribeConfigsResponseResourceConfig {
	bc := b.brokerConfig()
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, name := range bc.Names() {
		if !wanted(names, name) {
			continue
		}
		d := config.BrokerDefs[name]
		v, src := bc.Lookup(name)
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name, c.Value, c.ReadOnly = name, strp(v), !config.DynamicBrokerKey(name)
		c.Source = kmsg.ConfigSource(src)
		c.IsDefault = src == config.SourceDefault
		c.ConfigType = kmsg.ConfigType(d.Type)
		if d.Type == config.TypePassword {
			// As Kafka: a password is never sent, only that it is set.
			c.Value, c.IsSensitive, v = nil, true, ""
		}
		if synonyms {
			c.ConfigSynonyms = append(c.ConfigSynonyms, synonym(name, v, src))
		}
		if docs && d.Doc != "" {
			c.Documentation = strp(d.Doc)
		}
		out = append(out, c)
	}
	return out
}

func synonym(name, value string, src config.Source) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	s.Name, s.Value, s.Source = name, strp(value), kmsg.ConfigSource(src)
	return s
}

func validateAll(configs map[string]string) error {
	for k, v := range configs {
		if err := config.ValidateTopic(k, v); err != nil {
			return cerr(kerr.InvalidConfig, "%v", err)
		}
	}
	return nil
}

func (b *Broker) handleAlterConfigs(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		res := kmsg.NewAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		if code := b.configAuthorization(r, rr.ResourceType, rr.ResourceName, security.OpAlterConfigs); code != 0 {
			res.ErrorCode = code
			resp.Resources = append(resp.Resources, res)
			continue
		}
		err := b.alterConfigs(rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(map[string]string) (map[string]string, error) {
			next := map[string]string{}
			for _, c := range rr.Configs {
				if c.Value != nil {
					next[c.Name] = *c.Value
				}
			}
			return next, nil
		})
		res.ErrorCode, res.ErrorMessage = errCode(err), errMsg(err)
		resp.Resources = append(resp.Resources, res)
	}
	return respond(resp)
}

func (b *Broker) handleIncrementalAlterConfigs(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		res := kmsg.NewIncrementalAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		if code := b.configAuthorization(r, rr.ResourceType, rr.ResourceName, security.OpAlterConfigs); code != 0 {
			res.ErrorCode = code
			resp.Resources = append(resp.Resources, res)
			continue
		}
		defs := config.TopicDefs
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeBroker:
			defs = config.BrokerDefs
		case kmsg.ConfigResourceTypeGroupConfig:
			defs = config.GroupDefs
		}
		err := b.alterConfigs(rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(cur map[string]string) (map[string]string, error) {
			next := maps.Clone(cur)
			if next == nil {
				next = map[string]string{}
			}
			for _, c := range rr.Configs {
				if err := applyIncremental(next, c, defs); err != nil {
					return nil, err
				}
			}
			return next, nil
		})
		res.ErrorCode, res.ErrorMessage = errCode(err), errMsg(err)
		resp.Resources = append(resp.Resources, res)
	}
	return respond(resp)
}

// alterConfigs computes a topic's new explicit configs with next, validates
// them, and stores them unless validateOnly.
func (b *Broker) alterConfigs(typ kmsg.ConfigResourceType, name string, validateOnly bool, next func(map[string]string) (map[string]string, error)) error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker:
		return b.alterBrokerConfigs(name, validateOnly, next)
	case kmsg.ConfigResourceTypeGroupConfig:
		return b.alterGroupConfigs(name, validateOnly, next)
	default:
		return cerr(kerr.InvalidRequest, "unsupported resource type %d", typ)
	}
	b.createMu.Lock()
	defer b.createMu.Unlock()
	return retryConfigConflict(func() error {
		t := b.topic(name)
		if t == nil {
			return cerr(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
		}
		cur := t.meta.Configs
		cfg, err := next(cur)
		if err != nil {
			return err
		}
		if err := validateAll(cfg); err != nil {
			return err
		}
		if validateOnly {
			return nil
		}
		return b.setTopicConfigs(t, cfg, cur)
	})
}

// configConflictRetries bounds how often a config change computed from
// configs another broker's change replaced meanwhile is computed again
// (metadata.ErrConfigConflict; the proposer has applied the other change
// before it returns, so one retry normally does).
const configConflictRetries = 5

// retryConfigConflict runs change until it does not meet a conflicting
// change, at most configConflictRetries times more. Each change reads its
// resource's configs, computes the new ones from them and proposes them
// on the condition that they are still what it read: two
// IncrementalAlterConfigs sent to two brokers at once both apply, as
// Kafka's controller applies each to the committed configs.
func retryConfigConflict(change func() error) error {
	for i := 0; ; i++ {
		err := change()
		if !errors.Is(err, metadata.ErrConfigConflict) || i == configConflictRetries {
			return err
		}
	}
}

func applyIncremental(cfg map[string]string, c kmsg.IncrementalAlterConfigsRequestResourceConfig, defs map[string]config.Def) error {
	d, ok := defs[c.Name]
	if _, broker := defs["node.id"]; !ok && broker {
		d, ok = config.ListenerDef(c.Name) // listener.name.<l>.<key>
	}
	if !ok {
		if _, broker := defs["node.id"]; broker {
			return cerr(kerr.InvalidRequest, "%s is not a broker config that can be changed at runtime", c.Name)
		}
		return cerr(kerr.InvalidConfig, "unknown topic config %q", c.Name)
	}
	val := ""
	if c.Value != nil {
		val = *c.Value
	}
	switch c.Op {
	case kmsg.IncrementalAlterConfigOpSet:
		if c.Value == nil {
			return cerr(kerr.InvalidRequest, "null value for %s", c.Name)
		}
		cfg[c.Name] = val
	case kmsg.IncrementalAlterConfigOpDelete:
		delete(cfg, c.Name)
	case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
		if d.Type != config.TypeList {
			return cerr(kerr.InvalidConfig, "%s is not a list config; APPEND and SUBTRACT apply to lists only", c.Name)
		}
		cur, ok := cfg[c.Name]
		if !ok {
			cur = d.Default
		}
		var items []string
		for _, it := range strings.Split(cur, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		for _, it := range strings.Split(val, ",") {
			it = strings.TrimSpace(it)
			if it == "" {
				continue
			}
			has := slices.Contains(items, it)
			if c.Op == kmsg.IncrementalAlterConfigOpAppend && !has {
				items = append(items, it)
			} else if c.Op == kmsg.IncrementalAlterConfigOpSubtract && has {
				items = slices.DeleteFunc(items, func(s string) bool { return s == it })
			}
		}
		cfg[c.Name] = strings.Join(items, ",")
	default:
		return cerr(kerr.InvalidRequest, "unknown operation %d", c.Op)
	}
	return nil
}

// EffectiveConfig is the broker configuration in effect: the static one
// with the dynamic broker configs over it. Safe for concurrent use.
func (b *Broker) EffectiveConfig() *config.Broker { return b.brokerConfig() }

// brokerConfig is the broker configuration in effect: the static one with
// the dynamic broker configs of the last reconciled state over it.
func (b *Broker) brokerConfig() *config.Broker {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.dynamic != nil {
		return b.dynamic
	}
	return b.cfg.Broker
}

// dynamicConfig returns the broker configuration for st, given the state
// and configuration of the previous reconcile, and whether it changed. It
// is called by reconcile with b.mu read-locked.
func (b *Broker) dynamicConfig(prev *metadata.State, prevCfg *config.Broker, st *metadata.State) (*config.Broker, bool) {
	self := strconv.Itoa(int(b.cfg.NodeID))
	def, own := st.BrokerConfigs[""], st.BrokerConfigs[self]
	if prevCfg != nil && prev != nil && maps.Equal(prev.BrokerConfigs[""], def) && maps.Equal(prev.BrokerConfigs[self], own) {
		return prevCfg, false
	}
	if len(def) > 0 || len(own) > 0 || prevCfg != nil {
		b.log.Info("dynamic broker configs applied", "cluster_default", def, "broker", own)
	}
	return b.cfg.Broker.WithDynamic(def, own), prevCfg != nil
}

// describeDynamicDefaults describes the cluster-wide dynamic broker
// configs (the "" broker resource).
func (b *Broker) describeDynamicDefaults(names []string) []kmsg.DescribeConfigsResponseResourceConfig {
	defs := b.metaState().BrokerConfigs[""]
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, name := range slices.Sorted(maps.Keys(defs)) {
		if !wanted(names, name) {
			continue
		}
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name, c.Value = name, strp(defs[name])
		c.Source = kmsg.ConfigSource(config.SourceDynamicDefaultBroker)
		c.ConfigType = kmsg.ConfigType(config.BrokerDefs[name].Type)
		out = append(out, c)
	}
	return out
}

// alterBrokerConfigs computes a broker resource's new dynamic configs
// with next, validates them and stores them in the metadata quorum unless
// validateOnly.
func (b *Broker) alterBrokerConfigs(name string, validateOnly bool, next func(map[string]string) (map[string]string, error)) error {
	st := b.metaState()
	if name != "" {
		id, err := strconv.ParseInt(name, 10, 32)
		if _, ok := st.Brokers[int32(id)]; err != nil || !ok {
			return cerr(kerr.InvalidRequest, "unknown broker %q", name)
		}
	}
	b.createMu.Lock()
	defer b.createMu.Unlock()
	return retryConfigConflict(func() error {
		cur := b.metaState().BrokerConfigs[name]
		cfg, err := next(cur)
		if err != nil {
			return err
		}
		for k, v := range cfg {
			if !config.DynamicBrokerKey(k) {
				return cerr(kerr.InvalidRequest, "%v", config.ValidateDynamicBroker(k, v))
			}
			if err := config.ValidateDynamicBroker(k, v); err != nil {
				return cerr(kerr.InvalidConfig, "%v", err)
			}
		}
		if validateOnly {
			return nil
		}
		expect := metadata.ExpectConfigs{Check: true, Configs: cur}
		if err := b.propose(&metadata.Command{SetBrokerConfigs: &metadata.SetBrokerConfigs{Resource: name, Configs: cfg, Expect: expect}}); err != nil {
			return err
		}
		b.log.Info("broker configs changed", "resource", name, "configs", cfg)
		return nil
	})
}

// describeGroupConfigs describes a group resource: every served group
// config, set (DYNAMIC_GROUP_CONFIG, source 8) or default.
func (b *Broker) describeGroupConfigs(group string, names []string, docs bool) []kmsg.DescribeConfigsResponseResourceConfig {
	set := b.metaState().GroupConfigs[group]
	keys := slices.Sorted(maps.Keys(config.GroupDefs))
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, name := range keys {
		if !wanted(names, name) {
			continue
		}
		d := config.GroupDefs[name]
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name, c.ConfigType = name, kmsg.ConfigType(d.Type)
		if v, ok := set[name]; ok {
			c.Value, c.Source = strp(v), kmsg.ConfigSource(8)
		} else if _, bounded := groupConfigBounds[name]; bounded {
			// Unset: the broker's config applies (Kafka's DEFAULT_CONFIG source).
			c.Value, c.Source, c.IsDefault = strp(strconv.FormatInt(b.cfg.Broker.Int(name), 10)), kmsg.ConfigSource(config.SourceDefault), true
		} else {
			c.Value, c.Source, c.IsDefault = strp(d.Default), kmsg.ConfigSource(config.SourceDefault), true
		}
		if docs && d.Doc != "" {
			c.Documentation = strp(d.Doc)
		}
		out = append(out, c)
	}
	return out
}

// groupConfigBounds are the broker configs bounding a group override
// (Kafka's min and max of each).
var groupConfigBounds = map[string][2]string{
	"group.share.record.lock.duration.ms": {"group.share.min.record.lock.duration.ms", "group.share.max.record.lock.duration.ms"},
	"group.share.delivery.count.limit":    {"group.share.min.delivery.count.limit", "group.share.max.delivery.count.limit"},
}

// alterGroupConfigs computes a group's new dynamic configs with next,
// validates them (config.GroupDefs) and stores them in the metadata
// quorum unless validateOnly.
func (b *Broker) alterGroupConfigs(group string, validateOnly bool, next func(map[string]string) (map[string]string, error)) error {
	if group == "" {
		return cerr(kerr.InvalidRequest, "empty group id")
	}
	b.createMu.Lock()
	defer b.createMu.Unlock()
	return retryConfigConflict(func() error {
		cur := b.metaState().GroupConfigs[group]
		cfg, err := next(cur)
		if err != nil {
			return err
		}
		for k, v := range cfg {
			d, ok := config.GroupDefs[k]
			if !ok {
				return cerr(kerr.InvalidConfig, "unknown or unsupported group config %q", k)
			}
			if d.Check != nil {
				if err := d.Check(v); err != nil {
					return cerr(kerr.InvalidConfig, "%s: %v", k, err)
				}
			}
			if bound, ok := groupConfigBounds[k]; ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				lo, hi := b.cfg.Broker.Int(bound[0]), b.cfg.Broker.Int(bound[1])
				if n < lo || n > hi {
					return cerr(kerr.InvalidConfig, "%s: %d is outside [%d, %d] (%s, %s)", k, n, lo, hi, bound[0], bound[1])
				}
			}
		}
		if validateOnly {
			return nil
		}
		expect := metadata.ExpectConfigs{Check: true, Configs: cur}
		if err := b.propose(&metadata.Command{SetGroupConfigs: &metadata.SetGroupConfigs{Group: group, Configs: cfg, Expect: expect}}); err != nil {
			return err
		}
		b.log.Info("group configs changed", "group", group, "configs", cfg)
		return nil
	})
}

// configAuthorization checks op (DESCRIBE_CONFIGS, ALTER_CONFIGS) on a
// config resource: the topic, or the cluster for a broker resource. It
// returns the error code to answer, 0 when allowed.
func (b *Broker) configAuthorization(r *Request, typ kmsg.ConfigResourceType, name string, op security.Operation) int16 {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if !b.allowed(r, op, security.ResourceTopic, name) {
			return kerr.TopicAuthorizationFailed.Code
		}
	case kmsg.ConfigResourceTypeGroupConfig:
		if !b.allowed(r, op, security.ResourceGroup, name) {
			return kerr.GroupAuthorizationFailed.Code
		}
	default:
		if !b.allowedCluster(r, op) {
			return kerr.ClusterAuthorizationFailed.Code
		}
	}
	return 0
}
