package node

import (
	"net"
	"sync/atomic"

	"github.com/tributary/tributary/internal/broker"
	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/security"
)

// allowFunc is a listener's accept check: the source must be in its
// allowed.cidrs in the broker's effective configuration (static, then
// dynamic, so an AlterConfigs applies to the next accept without a
// restart). The parsed list is cached by the config it came from.
func allowFunc(b *broker.Broker, listener string) func(net.Addr) bool {
	type parsed struct {
		cfg  *config.Broker
		list *security.AllowList
	}
	var cache atomic.Pointer[parsed] // accepts run on one goroutine; atomic for clarity
	return func(remote net.Addr) bool {
		cfg := b.EffectiveConfig()
		p := cache.Load()
		if p == nil || p.cfg != cfg {
			p = &parsed{cfg: cfg, list: cfg.ListenerAllowList(listener)}
			cache.Store(p)
		}
		return p.list.Allows(remote)
	}
}

// rulesFunc is a listener's ssl.principal.mapping.rules in the broker's
// effective configuration (static, then the dynamic per-listener value),
// asked at every TLS handshake with a client certificate, so a change
// refuses a certificate from the next connection on. static is the
// listener's value at start-up, kept if the effective one does not parse
// (validation prevents that). The parsed rules are cached by the config
// they came from.
func rulesFunc(b *broker.Broker, listener string, static security.MappingRules) func() security.MappingRules {
	type parsed struct {
		cfg   *config.Broker
		rules security.MappingRules
	}
	var cache atomic.Pointer[parsed] // handshakes run on connection goroutines
	return func() security.MappingRules {
		cfg := b.EffectiveConfig()
		p := cache.Load()
		if p == nil || p.cfg != cfg {
			rules, err := security.ParseMappingRules(cfg.ListenerGet(listener, config.PrincipalMappingRulesKey))
			if err != nil {
				rules = static
			}
			p = &parsed{cfg: cfg, rules: rules}
			cache.Store(p)
		}
		return p.rules
	}
}
