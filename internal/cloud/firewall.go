package cloud

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/tributary/tributary/internal/security"
)

// Trusted sources (DigitalOcean's database firewall). With no rule every
// address may connect; with rules, a cluster's brokers accept connections
// on their client listeners only from the listed addresses and CIDR ranges
// (ip_addr), plus the cluster's own hosts (the brokers replicate and the
// control plane connects from there): the brokers' allow-list,
// listener.name.sasl_ssl.allowed.cidrs (and .ssl. for the mTLS
// listener), set as a cluster-wide dynamic
// broker config, so a change applies to the next connection without a
// restart. A refused connection is closed at accept, before TLS, and
// counted in tributary_server_connections_refused_total. Connections
// already open are not cut. The other DigitalOcean types (droplet, k8s,
// tag, app) name DigitalOcean resources and are not offered here.

// FirewallTypeIPAddr is the trusted-source type this installation offers.
const FirewallTypeIPAddr = "ip_addr"

// allowedCIDRsKeys are the brokers' allow-lists of their client
// listeners (SASL_SSL and mTLS).
var allowedCIDRsKeys = []string{"listener.name." + clientListener + ".allowed.cidrs", "listener.name." + mtlsListener + ".allowed.cidrs"}

// clientListener is the lower-case name of the brokers' SASL_SSL
// listener (secure.go).
const clientListener = "sasl_ssl"

// allowList is the brokers' allowed.cidrs for rules on a cluster of
// nodes: "" (any source) without rules, else the rules and the nodes'
// hosts.
func allowList(rules []FirewallRule, nodes []Node) string {
	if len(rules) == 0 {
		return ""
	}
	var out []string
	add := func(v string) {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	for _, r := range rules {
		add(r.Value)
	}
	for _, n := range nodes {
		host, _, err := net.SplitHostPort(n.Listen)
		if err != nil {
			continue
		}
		if a, err := netip.ParseAddr(host); err == nil {
			add(a.Unmap().String())
		}
	}
	return strings.Join(out, ",")
}

// syncListenerConfigs makes the brokers' cluster-wide listener configs
// match the store: both listeners' allow-lists from c's trusted sources,
// and the mTLS listener's mapping of users' certificates (secure.go).
func (s *Service) syncListenerConfigs(ctx context.Context, c Cluster, adm *kadm.Client, users []User) error {
	rules, err := s.cfg.Store.FirewallRules(ctx, c.ID)
	if err != nil {
		return err
	}
	nodes, err := s.cfg.Store.Nodes(ctx, c.ID)
	if err != nil {
		return err
	}
	v := allowList(rules, nodes)
	var alters []kadm.AlterConfig
	for _, key := range allowedCIDRsKeys {
		if v == "" {
			alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: key})
		} else {
			alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: key, Value: &v})
		}
	}
	mapping := mtlsRules(users)
	alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: mtlsRulesKey, Value: &mapping})
	rs, err := adm.AlterBrokerConfigs(ctx, alters)
	if err == nil {
		for _, r := range rs {
			if r.Err != nil {
				err = fmt.Errorf("%w %s", r.Err, r.ErrMessage)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("set the listeners' allowed.cidrs and %s: %w", mtlsRulesKey, err)
	}
	return nil
}

// FirewallRules lists a cluster's trusted sources.
func (s *Service) FirewallRules(ctx context.Context, id string) ([]FirewallRule, error) {
	c, err := s.Cluster(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.cfg.Store.FirewallRules(ctx, c.ID)
}

// SetFirewallRules replaces a cluster's trusted sources and applies them
// to its brokers' allow-list.
func (s *Service) SetFirewallRules(ctx context.Context, id string, rules []FirewallRule) error {
	c, err := s.secureCluster(ctx, id)
	if err != nil {
		return err
	}
	rules, err = checkFirewallRules(c.ID, rules)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.SetFirewallRules(ctx, c.ID, rules); err != nil {
		return err
	}
	s.cfg.Store.AddEvent(ctx, c.ID, "firewall_update")
	s.applyUsers(ctx, c)
	return nil
}

// checkFirewallRules validates rules and gives new ones their uuid. An
// ip_addr is one IPv4 or IPv6 address or a CIDR range, kept in its
// canonical form.
func checkFirewallRules(clusterID string, rules []FirewallRule) ([]FirewallRule, error) {
	out := make([]FirewallRule, 0, len(rules))
	for _, r := range rules {
		if r.Type != FirewallTypeIPAddr {
			return nil, errorf(KindInvalid, "invalid firewall rule type %q: this installation offers %q", r.Type, FirewallTypeIPAddr)
		}
		p, err := security.ParseSource(strings.TrimSpace(r.Value))
		if err != nil {
			return nil, errorf(KindInvalid, "invalid ip_addr %q: one IPv4 or IPv6 address or CIDR range", r.Value)
		}
		if p.IsSingleIP() && !strings.Contains(r.Value, "/") {
			r.Value = p.Addr().String()
		} else {
			r.Value = p.String()
		}
		if r.UUID == "" {
			r.UUID = newID()
		}
		r.ClusterID = clusterID
		out = append(out, r)
	}
	return out, nil
}
