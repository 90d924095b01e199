package server

import (
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/protocol"
)

// refusedInterval is how often one client id may log the same refused
// API and version.
const refusedInterval = time.Minute

// refusedLog rate-limits the WARN line for a request refused because its
// API key or version is not served, so a user can see why an old tool
// fails without one line per request: at most one line per client id, API
// key and version per refusedInterval.
type refusedLog struct {
	now func() time.Time

	mu   sync.Mutex // guards last; held only for the map update
	last map[refusedKey]time.Time
}

type refusedKey struct {
	clientID     string
	key, version int16
}

// note logs the refusal unless the same client id, key and version was
// logged within refusedInterval. served is the range of key's versions
// served ("none" if none). Called from connection reader goroutines.
func (r *refusedLog) note(log *slog.Logger, info *protocol.ConnInfo, clientID *string, key, version int16, served string) {
	k := refusedKey{key: key, version: version}
	if clientID != nil {
		k.clientID = *clientID
	}
	now := r.now()
	r.mu.Lock()
	if r.last == nil {
		r.last = map[refusedKey]time.Time{}
	}
	if t, ok := r.last[k]; ok && now.Sub(t) < refusedInterval {
		r.mu.Unlock()
		return
	}
	if len(r.last) >= 1024 {
		// Bounded: forget entries whose interval has passed; a flood of
		// distinct client ids at worst logs again.
		for kk, t := range r.last {
			if now.Sub(t) >= refusedInterval {
				delete(r.last, kk)
			}
		}
		if len(r.last) >= 1024 {
			clear(r.last)
		}
	}
	r.last[k] = now
	r.mu.Unlock()

	api := kmsg.NameForKey(key) // "Unknown" for a key kmsg does not know
	log.Warn("refused request: API version not supported; closing connection",
		"client_id", k.clientID, "api", api, "api_key", key, "version", version, "served_versions", served, "remote", info.Remote)
}
