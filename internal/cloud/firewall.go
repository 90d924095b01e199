package cloud

import (
	"context"
	"net"
	"slices"

	"github.com/tributary/tributary/internal/security"
)

// Trusted sources (DigitalOcean's database firewall). With no rule every
// address may connect; with rules, only the listed addresses may use the
// cluster: every user's ACLs are allowed only from those hosts (Kafka's
// per-host ACLs, which the brokers' authorizer checks against the
// connection's peer address), so a client elsewhere authenticates but is
// refused every request with Kafka's *_AUTHORIZATION_FAILED codes. The
// control plane's own user is a super user and is not limited. Kafka ACL
// hosts are single addresses, so an ip_addr rule is one IPv4 or IPv6
// address (no CIDR); the other DigitalOcean types (droplet, k8s, tag, app)
// name DigitalOcean resources and are not offered here.

// FirewallTypeIPAddr is the trusted-source type this installation offers.
const FirewallTypeIPAddr = "ip_addr"

// aclHosts are the hosts user ACLs are allowed from.
func aclHosts(rules []FirewallRule) []string {
	if len(rules) == 0 {
		return []string{security.Wildcard}
	}
	var hosts []string
	for _, r := range rules {
		if !slices.Contains(hosts, r.Value) {
			hosts = append(hosts, r.Value)
		}
	}
	return hosts
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
// to its users' ACLs.
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

// checkFirewallRules validates rules and gives new ones their uuid.
func checkFirewallRules(clusterID string, rules []FirewallRule) ([]FirewallRule, error) {
	out := make([]FirewallRule, 0, len(rules))
	for _, r := range rules {
		if r.Type != FirewallTypeIPAddr {
			return nil, errorf(KindInvalid, "invalid firewall rule type %q: this installation offers %q", r.Type, FirewallTypeIPAddr)
		}
		ip := net.ParseIP(r.Value)
		if ip == nil {
			return nil, errorf(KindInvalid, "invalid ip_addr %q: one IPv4 or IPv6 address (Kafka ACL hosts are single addresses, not ranges)", r.Value)
		}
		r.Value = ip.String()
		if r.UUID == "" {
			r.UUID = newID()
		}
		r.ClusterID = clusterID
		out = append(out, r)
	}
	return out, nil
}
