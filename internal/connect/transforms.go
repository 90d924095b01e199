package connect

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Single message transforms (KIP-66) and predicates (KIP-585), configured
// as Connect configures them on a connector:
//
//	transforms=a,b
//	transforms.a.type=org.apache.kafka.connect.transforms.InsertField$Value
//	transforms.a.static.field=origin
//	transforms.a.predicate=isFoo      (optional)
//	transforms.a.negate=false         (optional)
//	predicates=isFoo
//	predicates.isFoo.type=org.apache.kafka.connect.transforms.predicates.TopicNameMatches
//	predicates.isFoo.pattern=foo.*
//
// A source task's records go through the chain after Poll and before the
// converters; a sink task's after the converters and before Put. A
// transformation returning nil drops the record; an error fails the task
// (Connect's errors.tolerance=none).

// ConnectRecord is the view of a record that transformations and
// predicates work on. Partition and KafkaOffset are those of the consumed
// record on the sink side; on the source side KafkaOffset is nil and
// Partition is the one the task chose (nil: the partitioner's).
type ConnectRecord struct {
	Topic       string
	Partition   *int32
	KafkaOffset *int64
	Key, Value  *Data
	// Timestamp is ms since the epoch; nil when the record has none.
	Timestamp *int64
	Headers   []Header
}

// Transformation is Connect's Transformation. Configure runs once with the
// transformation's own keys (the "transforms.<alias>." prefix removed);
// Apply runs on the task's goroutine and may modify and return r, return
// a new record, or return nil to drop it.
type Transformation interface {
	Configure(config map[string]string) error
	Apply(r *ConnectRecord) (*ConnectRecord, error)
}

// Predicate is Connect's Predicate (KIP-585).
type Predicate interface {
	Configure(config map[string]string) error
	Test(r *ConnectRecord) bool
}

// Plugin types of transformations and predicates, as
// GET /connector-plugins?connectorsOnly=false lists them.
const (
	TypeTransformation = "transformation"
	TypePredicate      = "predicate"
)

// TransformPlugin describes a transformation or predicate class.
type TransformPlugin struct {
	Class string
	Type  string // TypeTransformation or TypePredicate
	Doc   string
	// Config is the plugin's own config definition.
	Config []ConfigKey
	// Validate checks rules beyond the definitions (errors by key, keys
	// without the alias prefix).
	Validate     func(config map[string]string) map[string][]string
	NewTransform func() Transformation
	NewPredicate func() Predicate
}

// SimpleName is the class name after the package, e.g. InsertField$Value.
func (p *TransformPlugin) SimpleName() string {
	return p.Class[strings.LastIndexByte(p.Class, '.')+1:]
}

// transformPlugins are the built-in transformations and predicates.
var transformPlugins = builtinTransforms()

// LookupTransform finds a transformation or predicate by full class name
// or simple name (InsertField$Value, RegexRouter).
func LookupTransform(name string) (*TransformPlugin, bool) {
	name = strings.TrimSpace(name)
	for _, p := range transformPlugins {
		if name == p.Class || name == p.SimpleName() {
			return p, true
		}
	}
	return nil, false
}

// TransformPlugins returns the transformations and predicates sorted by
// class name.
func TransformPlugins() []*TransformPlugin {
	out := slices.Clone(transformPlugins)
	slices.SortFunc(out, func(a, b *TransformPlugin) int { return strings.Compare(a.Class, b.Class) })
	return out
}

// prefixed returns the keys of config under prefix, prefix removed.
func prefixed(config map[string]string, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range config {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			out[rest] = v
		}
	}
	return out
}

// chainStage is one configured transformation with its optional predicate.
type chainStage struct {
	alias     string
	t         Transformation
	predicate Predicate
	negate    bool
}

// TransformChain is a connector's configured transformations, in order.
// It is used by one task goroutine.
type TransformChain struct{ stages []chainStage }

// NewTransformChain configures the transformations and predicates of a
// connector config (already validated; errors here are a config that
// changed meaning, e.g. a class removed).
func NewTransformChain(config map[string]string) (*TransformChain, error) {
	preds := map[string]Predicate{}
	for _, alias := range listConfig(config["predicates"]) {
		p, ok := LookupTransform(config["predicates."+alias+".type"])
		if !ok || p.Type != TypePredicate {
			return nil, fmt.Errorf("predicate %s: class %q not found", alias, config["predicates."+alias+".type"])
		}
		pr := p.NewPredicate()
		if err := pr.Configure(withDefaults(p.Config, prefixed(config, "predicates."+alias+"."))); err != nil {
			return nil, fmt.Errorf("predicate %s: %w", alias, err)
		}
		preds[alias] = pr
	}
	c := &TransformChain{}
	for _, alias := range listConfig(config["transforms"]) {
		prefix := "transforms." + alias + "."
		p, ok := LookupTransform(config[prefix+"type"])
		if !ok || p.Type != TypeTransformation {
			return nil, fmt.Errorf("transformation %s: class %q not found", alias, config[prefix+"type"])
		}
		t := p.NewTransform()
		if err := t.Configure(withDefaults(p.Config, prefixed(config, prefix))); err != nil {
			return nil, fmt.Errorf("transformation %s: %w", alias, err)
		}
		st := chainStage{alias: alias, t: t, negate: strings.EqualFold(strings.TrimSpace(config[prefix+"negate"]), "true")}
		if name := strings.TrimSpace(config[prefix+"predicate"]); name != "" {
			if st.predicate = preds[name]; st.predicate == nil {
				return nil, fmt.Errorf("transformation %s: predicate %s is not defined in predicates", alias, name)
			}
		}
		c.stages = append(c.stages, st)
	}
	return c, nil
}

// withDefaults fills the defaults of the keys not set.
func withDefaults(keys []ConfigKey, config map[string]string) map[string]string {
	out := maps.Clone(config)
	for _, k := range keys {
		if _, ok := out[k.Name]; !ok && k.Default != nil {
			out[k.Name] = *k.Default
		}
	}
	return out
}

// Empty reports whether the chain has no transformations.
func (c *TransformChain) Empty() bool { return c == nil || len(c.stages) == 0 }

// Apply runs r through the chain; nil means the record was dropped.
func (c *TransformChain) Apply(r *ConnectRecord) (*ConnectRecord, error) {
	for _, st := range c.stages {
		if st.predicate != nil && st.predicate.Test(r) == st.negate {
			continue
		}
		var err error
		if r, err = st.t.Apply(r); err != nil {
			return nil, fmt.Errorf("transformation %s: %w", st.alias, err)
		}
		if r == nil {
			return nil, nil
		}
	}
	return r, nil
}

// transformConfigKeys are the enriched definitions Connect adds to a
// connector's for each transformation and predicate alias (groups
// "Transforms: <alias>" and "Predicates: <alias>"), and the errors of
// their validation, keyed by the full config key.
func transformConfigKeys(config map[string]string, order int) ([]ConfigKey, map[string][]string) {
	var keys []ConfigKey
	errs := map[string][]string{}
	predicates := listConfig(config["predicates"])
	enrich := func(kind, alias string, isTransform bool) {
		prefix := kind + "." + alias + "."
		group := "Transforms: " + alias
		want := TypeTransformation
		if !isTransform {
			group, want = "Predicates: "+alias, TypePredicate
		}
		order++
		typeKey := ConfigKey{Name: prefix + "type", Type: TypeClass, Importance: "HIGH", Group: group, Order: order, DisplayName: "Transformation type for " + alias,
			Doc: "Class for the '" + alias + "' transformation."}
		if !isTransform {
			typeKey.DisplayName, typeKey.Doc = "Predicate type for "+alias, "Class for the '"+alias+"' predicate."
		}
		class := strings.TrimSpace(config[prefix+"type"])
		p, found := LookupTransform(class)
		if _, set := config[prefix+"type"]; set && (!found || p.Type != want) {
			typeKey.Check = func(v string) string {
				return fmt.Sprintf("Class %s could not be found.", strings.TrimSpace(v))
			}
		}
		keys = append(keys, typeKey)
		if isTransform {
			order++
			keys = append(keys, ConfigKey{Name: prefix + "negate", Type: TypeBoolean, HasDefault: true, Default: strp("false"), Importance: "MEDIUM", Group: group, Order: order,
				DisplayName: "Negate", Doc: "Whether the configured predicate should be negated."})
			order++
			pk := ConfigKey{Name: prefix + "predicate", Type: TypeString, HasDefault: true, Importance: "MEDIUM", Group: group, Order: order,
				DisplayName: "Predicate", Doc: "The alias of a predicate used to determine whether to apply this transformation."}
			pk.Check = func(v string) string {
				if v = strings.TrimSpace(v); v != "" && !slices.Contains(predicates, v) {
					return "The predicate " + v + " is not defined in predicates"
				}
				return ""
			}
			keys = append(keys, pk)
		}
		if !found || p.Type != want {
			return
		}
		own := prefixed(config, prefix)
		for _, k := range p.Config {
			order++
			k.Name, k.Group, k.Order = prefix+k.Name, group, order
			keys = append(keys, k)
		}
		if p.Validate != nil {
			for k, list := range p.Validate(own) {
				errs[prefix+k] = append(errs[prefix+k], list...)
			}
		}
	}
	for _, a := range listConfig(config["transforms"]) {
		enrich("transforms", a, true)
	}
	for _, a := range predicates {
		enrich("predicates", a, false)
	}
	return keys, errs
}

// aliasesCheck refuses duplicate aliases in transforms or predicates.
func aliasesCheck(v string) string {
	seen := map[string]bool{}
	for _, a := range listConfig(v) {
		if seen[a] {
			return "Duplicate alias provided."
		}
		seen[a] = true
	}
	return ""
}

// TransformPluginConfig returns a transformation's or predicate's
// definitions for GET /connector-plugins/{p}/config.
func TransformPluginConfig(p *TransformPlugin) []ConfigKeyInfo {
	out := []ConfigKeyInfo{}
	for _, k := range p.Config {
		out = append(out, k.info())
	}
	return out
}
