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
