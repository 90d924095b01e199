package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tributary/tributary/internal/security"
)

// listenerKeys are the broker keys Kafka lets a listener override as
// listener.name.<listener>.<key> (its TLS and SASL settings).
var listenerKeys = []string{
	"ssl.keystore.type", "ssl.keystore.location", "ssl.key.password",
	"ssl.truststore.type", "ssl.truststore.location", "ssl.client.auth",
	"ssl.enabled.protocols", "ssl.protocol", PrincipalMappingRulesKey,
	"sasl.enabled.mechanisms", "connections.max.reauth.ms", AllowedCIDRsKey,
}

// PrincipalMappingRulesKey is Kafka's ssl.principal.mapping.rules, also
// dynamic per listener (DynamicBrokerKey).
const PrincipalMappingRulesKey = "ssl.principal.mapping.rules"

// AllowedCIDRsKey is the (per-listener, dynamic) allow-list of source
// addresses: Tributary's, not Kafka's.
const AllowedCIDRsKey = "allowed.cidrs"

func allowedCIDRs(v string) error {
	_, err := security.ParseAllowList(splitList(v))
	return err
}

// ListenerAllowList is a listener's allowed.cidrs, nil when any source
// may connect (unset, empty or, which validation prevents, invalid).
func (b *Broker) ListenerAllowList(listener string) *security.AllowList {
	l, err := security.ParseAllowList(splitList(b.ListenerGet(listener, AllowedCIDRsKey)))
	if err != nil {
		return nil
	}
	return l
}

// jaasMechanisms are the <mechanism> of listener.name.<l>.<mechanism>.sasl.jaas.config.
var jaasMechanisms = []string{"plain", "scram-sha-256", "scram-sha-512"}

const jaasSuffix = ".sasl.jaas.config"

// listenerInnerKey returns <key> of listener.name.<listener>.<key> when
// <key> may be set per listener.
func listenerInnerKey(k string) (string, bool) {
	rest, ok := strings.CutPrefix(k, "listener.name.")
	if !ok {
		return "", false
	}
	_, inner, ok := strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	if mech, ok := strings.CutSuffix(inner, jaasSuffix); ok && slices.Contains(jaasMechanisms, mech) {
		return inner, true
	}
	if !slices.Contains(listenerKeys, inner) {
		return "", false
	}
	return inner, true
}

// checkJAAS validates a <mechanism>.sasl.jaas.config value.
func checkJAAS(key, v string) error {
	if _, err := security.ParseJAAS(v); err != nil {
		return fmt.Errorf("invalid value for %s: %v", key, err) // the value holds passwords: not echoed
	}
	return nil
}

// ListenerJAAS returns the listener's parsed JAAS config for mechanism,
// ok false when it is not set.
func (b *Broker) ListenerJAAS(listener, mechanism string) (security.JAAS, bool) {
	v, ok := b.explicit["listener.name."+strings.ToLower(listener)+"."+strings.ToLower(mechanism)+jaasSuffix]
	if !ok {
		return security.JAAS{}, false
	}
	j, err := security.ParseJAAS(v.Value)
	return j, err == nil
}

// ListenerDef is the definition of a listener.name.<listener>.<key>
// key: its <key>'s (a JAAS config is a password).
func ListenerDef(k string) (Def, bool) {
	inner, ok := listenerInnerKey(k)
	if !ok {
		return Def{}, false
	}
	if strings.HasSuffix(inner, jaasSuffix) {
		return Def{Name: k, Type: TypePassword}, true
	}
	d, ok := BrokerDefs[inner]
	d.Name = k
	return d, ok
}

func isListenerKey(k string) bool { _, ok := listenerInnerKey(k); return ok }

func isPasswordKey(k string) bool {
	if inner, ok := listenerInnerKey(k); ok {
		if strings.HasSuffix(inner, jaasSuffix) {
			return true // holds passwords
		}
		k = inner
	}
	return BrokerDefs[k].Type == TypePassword
}

// ListenerKeys returns the set listener.name.<listener>.<key> keys, sorted.
func (b *Broker) ListenerKeys() []string {
	var out []string
	for k := range b.explicit {
		if isListenerKey(k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// ListenerGet returns key's value for a listener: Kafka's
// listener.name.<listener lower case>.<key> if set, else the broker-wide
// key.
func (b *Broker) ListenerGet(listener, key string) string {
	if v, ok := b.explicit["listener.name."+strings.ToLower(listener)+"."+key]; ok {
		return v.Value
	}
	return b.Get(key)
}

// ServerTLSOptions are a listener's TLS settings.
func (b *Broker) ServerTLSOptions(listener string) security.TLSOptions {
	return security.TLSOptions{
		KeystoreLocation:   b.ListenerGet(listener, "ssl.keystore.location"),
		KeyPassword:        b.ListenerGet(listener, "ssl.key.password"),
		TruststoreLocation: b.ListenerGet(listener, "ssl.truststore.location"),
		ClientAuth:         b.ListenerGet(listener, "ssl.client.auth"),
		EnabledProtocols:   splitList(b.ListenerGet(listener, "ssl.enabled.protocols")),
	}
}

// InterBrokerTLSOptions are the TLS settings a broker dials the
// inter-broker listener with: its trust store to verify the leader, its
// key store as the client certificate (for ssl.client.auth=required).
func (b *Broker) InterBrokerTLSOptions(listener string) security.TLSOptions {
	o := b.ServerTLSOptions(listener)
	o.ClientAuth = ""
	o.VerifyHostname = b.Get("ssl.endpoint.identification.algorithm") == "https"
	return o
}

func mappingRules(v string) error {
	_, err := security.ParseMappingRules(v)
	return err
}

// StandardAuthorizer is Kafka's KRaft authorizer class; setting
// authorizer.class.name to it turns Tributary's authorizer on.
const StandardAuthorizer = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"

// Authorizer returns the configured authorizer, nil when
// authorizer.class.name is not set (every request allowed, as Kafka
// without an authorizer). super.users is Kafka's semicolon-separated list
// of principals.
func (b *Broker) Authorizer() *security.Authorizer {
	if b.Get("authorizer.class.name") == "" {
		return nil
	}
	z := &security.Authorizer{AllowIfNoACL: b.Bool("allow.everyone.if.no.acl.found")}
	for _, p := range strings.Split(b.Get("super.users"), ";") {
		if p = strings.TrimSpace(p); p != "" {
			z.SuperUsers = append(z.SuperUsers, p)
		}
	}
	return z
}
