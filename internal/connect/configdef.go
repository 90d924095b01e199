package connect

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Config types, as Connect names them in ConfigKeyInfo.
const (
	TypeString   = "STRING"
	TypeInt      = "INT"
	TypeLong     = "LONG"
	TypeBoolean  = "BOOLEAN"
	TypeList     = "LIST"
	TypeClass    = "CLASS"
	TypePassword = "PASSWORD"
)

// ConfigKey is one key of a config definition (Connect's ConfigDef.ConfigKey).
type ConfigKey struct {
	Name string
	Type string
	// HasDefault false means the key is required (Connect's
	// NO_DEFAULT_VALUE). Default nil with HasDefault is a null default.
	HasDefault  bool
	Default     *string
	Importance  string // HIGH, MEDIUM, LOW
	Doc         string
	Group       string
	Order       int
	DisplayName string
	// Check validates a present, type-correct value; it returns the reason
	// ("Value must be at least 1").
	Check func(v string) string
}

func strp(s string) *string { return &s }

// ConfigKeyInfo is the JSON shape of a definition.
type ConfigKeyInfo struct {
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	Required      bool     `json:"required"`
	DefaultValue  *string  `json:"default_value"`
	Importance    string   `json:"importance"`
	Documentation string   `json:"documentation"`
	Group         *string  `json:"group"`
	Order         int      `json:"order"`
	Width         string   `json:"width"`
	DisplayName   string   `json:"display_name"`
	Dependents    []string `json:"dependents"`
}

// ConfigValueInfo is the JSON shape of one validated value.
type ConfigValueInfo struct {
	Name              string   `json:"name"`
	Value             *string  `json:"value"`
	RecommendedValues []string `json:"recommended_values"`
	Errors            []string `json:"errors"`
	Visible           bool     `json:"visible"`
}

// ConfigInfo pairs a definition and its validated value.
type ConfigInfo struct {
	Definition ConfigKeyInfo   `json:"definition"`
	Value      ConfigValueInfo `json:"value"`
}

// ConfigInfos is the answer of /connector-plugins/{p}/config/validate.
type ConfigInfos struct {
	Name       string       `json:"name"`
	ErrorCount int          `json:"error_count"`
	Groups     []string     `json:"groups"`
	Configs    []ConfigInfo `json:"configs"`
}

func (k ConfigKey) info() ConfigKeyInfo {
	var g *string
	if k.Group != "" {
		g = strp(k.Group)
	}
	d := k.DisplayName
	if d == "" {
		d = k.Name
	}
	return ConfigKeyInfo{Name: k.Name, Type: k.Type, Required: !k.HasDefault, DefaultValue: k.Default,
		Importance: k.Importance, Documentation: k.Doc, Group: g, Order: k.Order, Width: "NONE",
		DisplayName: d, Dependents: []string{}}
}

// checkType returns the reason a value does not parse as the key's type.
func checkType(typ, v string) string {
	v = strings.TrimSpace(v)
	switch typ {
	case TypeInt:
		if _, err := strconv.ParseInt(v, 10, 32); err != nil {
			return "Not a number of type INT"
		}
	case TypeLong:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return "Not a number of type LONG"
		}
	case TypeBoolean:
		if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return "Expected value to be either true or false"
		}
	}
	return ""
}

func atLeast(min int64) func(string) string {
	return func(v string) string {
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if n < min {
			return fmt.Sprintf("Value must be at least %d", min)
		}
		return ""
	}
}

func nonEmpty(v string) string {
	if strings.TrimSpace(v) == "" {
		return "String must be non-empty"
	}
	return ""
}

func converterCheck(v string) string {
	if _, err := NewConverter(strings.TrimSpace(v), nil); err != nil {
		return fmt.Sprintf("Class %s could not be found.", strings.TrimSpace(v))
	}
	return ""
}

func regexCheck(v string) string {
	if _, err := regexp.Compile(v); err != nil {
		return "Not a valid regular expression: " + err.Error()
	}
	return ""
}

// commonConfig is every connector's definition (Connect's ConnectorConfig)
// and, for sinks, the sink keys.
func commonConfig(p *Plugin) []ConfigKey {
	keys := []ConfigKey{
		{Name: "name", Type: TypeString, Importance: "HIGH", Group: "Common", Order: 1, DisplayName: "Connector name",
			Doc: "Globally unique name to use for this connector.", Check: nonEmpty},
		{Name: "connector.class", Type: TypeString, Importance: "HIGH", Group: "Common", Order: 2, DisplayName: "Connector class",
			Doc: "Name or alias of the class for this connector: the full class name, its simple name, or the simple name without \"Connector\"."},
		{Name: "tasks.max", Type: TypeInt, HasDefault: true, Default: strp("1"), Importance: "HIGH", Group: "Common", Order: 3,
			DisplayName: "Tasks max", Doc: "Maximum number of tasks to use for this connector.", Check: atLeast(1)},
		{Name: "key.converter", Type: TypeClass, HasDefault: true, Importance: "LOW", Group: "Common", Order: 4, DisplayName: "Key converter class",
			Doc: "Converter for record keys; overrides the worker's key.converter.", Check: converterCheck},
		{Name: "value.converter", Type: TypeClass, HasDefault: true, Importance: "LOW", Group: "Common", Order: 5, DisplayName: "Value converter class",
			Doc: "Converter for record values; overrides the worker's value.converter.", Check: converterCheck},
		{Name: "transforms", Type: TypeList, HasDefault: true, Default: strp(""), Importance: "LOW", Group: "Transforms", Order: 6, DisplayName: "Transforms",
			Doc: "Aliases for the transformations to be applied to records.", Check: aliasesCheck},
		{Name: "predicates", Type: TypeList, HasDefault: true, Default: strp(""), Importance: "LOW", Group: "Predicates", Order: 7, DisplayName: "Predicates",
			Doc: "Aliases for the predicates used by transformations.", Check: aliasesCheck},
	}
	if p.Type == TypeSource {
		keys = append(keys,
			ConfigKey{Name: "exactly.once.support", Type: TypeString, HasDefault: true, Default: strp("requested"), Importance: "MEDIUM", Group: "Exactly Once Support", Order: 8,
				DisplayName: "Exactly once support", Doc: "Whether exactly-once support is required (\"required\") or merely requested (\"requested\") for the connector, when the worker has exactly.once.source.support=enabled.",
				Check: func(v string) string {
					switch strings.ToLower(strings.TrimSpace(v)) {
					case "requested":
					case "required":
						if !p.ExactlyOnce {
							return "The connector does not support exactly-once semantics with the provided configuration."
						}
					default:
						return "String must be one of: requested, required"
					}
					return ""
				}},
			ConfigKey{Name: "transaction.boundary", Type: TypeString, HasDefault: true, Default: strp("poll"), Importance: "MEDIUM", Group: "Exactly Once Support", Order: 9,
				DisplayName: "Transaction Boundary", Doc: "How transactions of exactly-once sources are cut: \"poll\" (one per poll of the task) or \"interval\" (every transaction.boundary.interval.ms). \"connector\" (connector-defined) is not supported by these connectors.",
				Check: func(v string) string {
					switch strings.ToLower(strings.TrimSpace(v)) {
					case "poll", "interval":
						return ""
					case "connector":
						return "The connector does not support connector-defined transaction boundaries with the given configuration."
					}
					return "String must be one of: poll, interval, connector"
				}},
			ConfigKey{Name: "transaction.boundary.interval.ms", Type: TypeLong, HasDefault: true, Importance: "LOW", Group: "Exactly Once Support", Order: 10,
				DisplayName: "Transaction boundary interval", Doc: "With transaction.boundary=interval, the time between transactions; the worker's offset.flush.interval.ms by default.", Check: atLeast(0)},
			ConfigKey{Name: "offsets.storage.topic", Type: TypeString, HasDefault: true, Importance: "LOW", Group: "Exactly Once Support", Order: 11,
				DisplayName: "Offsets topic", Doc: "A connector-specific offsets topic; not supported by this worker (offsets are in the worker's offset.storage.topic).",
				Check: func(v string) string {
					if strings.TrimSpace(v) != "" {
						return "connector-specific offsets topics are not supported by this worker"
					}
					return ""
				}},
		)
	}
	if p.Type == TypeSink {
		keys = append(keys,
			ConfigKey{Name: "topics", Type: TypeList, HasDefault: true, Default: strp(""), Importance: "HIGH", Group: "Common", Order: 8, DisplayName: "Topics",
				Doc: "List of topics to consume, separated by commas"},
			ConfigKey{Name: "topics.regex", Type: TypeString, HasDefault: true, Default: strp(""), Importance: "HIGH", Group: "Common", Order: 9, DisplayName: "Topics regex",
				Doc: "Regular expression giving topics to consume. Only one of topics or topics.regex should be specified.", Check: regexCheck})
	}
	return keys
}

// Validate checks config against the plugin's definition, the common keys
// and the plugin's own rules, in Connect's ConfigInfos shape.
func Validate(p *Plugin, config map[string]string) ConfigInfos {
	keys := append(commonConfig(p), p.Config...)
	tkeys, errs := transformConfigKeys(config, len(keys))
	keys = append(keys, tkeys...)
	add := func(k, msg string) { errs[k] = append(errs[k], msg) }
	for _, k := range keys {
		v, ok := config[k.Name]
		if !ok {
			if !k.HasDefault {
				add(k.Name, fmt.Sprintf("Missing required configuration \"%s\" which has no default value.", k.Name))
			}
			continue
		}
		if r := checkType(k.Type, v); r != "" {
			add(k.Name, fmt.Sprintf("Invalid value %s for configuration %s: %s", v, k.Name, r))
			continue
		}
		if k.Check != nil && (v != "" || !k.HasDefault) {
			if r := k.Check(v); r != "" {
				add(k.Name, fmt.Sprintf("Invalid value %s for configuration %s: %s", v, k.Name, r))
			}
		}
	}
	if p.Type == TypeSink {
		topics, regex := strings.TrimSpace(config["topics"]), strings.TrimSpace(config["topics.regex"])
		switch {
		case topics == "" && regex == "":
			add("topics", "Must configure one of topics or topics.regex")
			add("topics.regex", "Must configure one of topics or topics.regex")
		case topics != "" && regex != "":
			add("topics", "topics and topics.regex are mutually exclusive options, but both are set.")
			add("topics.regex", "topics and topics.regex are mutually exclusive options, but both are set.")
		}
	}
	if p.Validate != nil {
		for k, list := range p.Validate(config) {
			errs[k] = append(errs[k], list...)
		}
	}
	out := ConfigInfos{Name: p.Class, Groups: []string{}, Configs: []ConfigInfo{}}
	seenGroup := map[string]bool{}
	for _, k := range keys {
		if k.Group != "" && !seenGroup[k.Group] {
			seenGroup[k.Group] = true
			out.Groups = append(out.Groups, k.Group)
		}
		var val *string
		if v, ok := config[k.Name]; ok {
			val = strp(v)
		} else {
			val = k.Default
		}
		e := errs[k.Name]
		if e == nil {
			e = []string{}
		}
		delete(errs, k.Name)
		out.ErrorCount += len(e)
		out.Configs = append(out.Configs, ConfigInfo{Definition: k.info(),
			Value: ConfigValueInfo{Name: k.Name, Value: val, RecommendedValues: []string{}, Errors: e, Visible: true}})
	}
	// Errors on keys outside the definitions (from a plugin's Validate).
	rest := make([]string, 0, len(errs))
	for k := range errs {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	for _, k := range rest {
		var val *string
		if v, ok := config[k]; ok {
			val = strp(v)
		}
		out.ErrorCount += len(errs[k])
		out.Configs = append(out.Configs, ConfigInfo{Definition: ConfigKeyInfo{Name: k, Type: TypeString, Width: "NONE", DisplayName: k, Importance: "LOW", Dependents: []string{}},
			Value: ConfigValueInfo{Name: k, Value: val, RecommendedValues: []string{}, Errors: errs[k], Visible: true}})
	}
	return out
}

// Errors returns "key: message" lines of a validation, for a 400 answer.
func (ci ConfigInfos) Errors() []string {
	var out []string
	for _, c := range ci.Configs {
		for _, e := range c.Value.Errors {
			out = append(out, e)
		}
	}
	return out
}

// PluginConfig returns the definitions of a plugin for
// /connector-plugins/{p}/config.
func PluginConfig(p *Plugin) []ConfigKeyInfo {
	var out []ConfigKeyInfo
	for _, k := range append(commonConfig(p), p.Config...) {
		out = append(out, k.info())
	}
	return out
}

// intConfig reads an INT/LONG key already validated, or its default.
func intConfig(config map[string]string, key string, def int64) int64 {
	if v, ok := config[key]; ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			return n
		}
	}
	return def
}

// listConfig splits a LIST value on commas, trimming blanks.
func listConfig(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
