package security

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Client quotas (Kafka's quota entities and keys, KIP-546 for their
// management): a quota belongs to a user, a client id, or a user and a
// client id, where either may be the default for users (client ids)
// without their own. Values are the quota keys below. The quorum stores
// them; the broker resolves a connection's quotas (ResolveQuota) and
// measures each quota's use with a QuotaSensor.

// Quota keys for user and client-id entities.
const (
	QuotaProducerByteRate  = "producer_byte_rate" // bytes/s of produce requests
	QuotaConsumerByteRate  = "consumer_byte_rate" // bytes/s of fetch responses
	QuotaRequestPercentage = "request_percentage" // % of one request handler thread
	QuotaControllerMutate  = "controller_mutation_rate"
)

// ErrInvalidQuota is a quota entity or value Kafka would refuse.
var ErrInvalidQuota = errors.New("invalid client quota")

// Quota entity types.
const (
	QuotaEntityUser     = "user"
	QuotaEntityClientID = "client-id"
	QuotaEntityIP       = "ip"
)

// QuotaName is one component of a quota entity.
type QuotaName struct {
	Set     bool   `json:"set,omitempty"`     // the entity has this component
	Default bool   `json:"default,omitempty"` // the default (Kafka's null name, <default>)
	Name    string `json:"name,omitempty"`
}

func (n QuotaName) String() string {
	switch {
	case !n.Set:
		return ""
	case n.Default:
		return "<default>"
	}
	return strconv.Quote(n.Name)
}

// Named is a component with a name; DefaultName the default one.
func Named(name string) QuotaName { return QuotaName{Set: true, Name: name} }

// DefaultName is the default component (<default>).
func DefaultName() QuotaName { return QuotaName{Set: true, Default: true} }

// QuotaEntity is what a quota applies to.
type QuotaEntity struct {
	User     QuotaName `json:"user"`
	ClientID QuotaName `json:"client_id"`
}

// Key is a canonical string for the entity (map keys, sorting).
func (e QuotaEntity) Key() string {
	return "user=" + e.User.String() + ",client-id=" + e.ClientID.String()
}

// Validate refuses an empty entity.
func (e QuotaEntity) Validate() error {
	if !e.User.Set && !e.ClientID.Set {
		return fmt.Errorf("%w: the entity names no user or client id", ErrInvalidQuota)
	}
	return nil
}

// ClientQuota is one entity's quota values.
type ClientQuota struct {
	Entity QuotaEntity        `json:"entity"`
	Values map[string]float64 `json:"values"`
}

// ValidateQuotaKey checks key and value for a user/client-id entity, as
// Kafka does: a known key, a finite value, whole numbers for the byte
// rates, and a positive value.
func ValidateQuotaKey(key string, value float64, remove bool) error {
	switch key {
	case QuotaProducerByteRate, QuotaConsumerByteRate, QuotaRequestPercentage, QuotaControllerMutate:
	default:
		return fmt.Errorf("%w: unknown quota key %q", ErrInvalidQuota, key)
	}
	if remove {
		return nil
	}
	if math.IsNaN(value) || math.IsInf(value, 0) || value <= 0 {
		return fmt.Errorf("%w: %s must be a positive number, not %v", ErrInvalidQuota, key, value)
	}
	if (key == QuotaProducerByteRate || key == QuotaConsumerByteRate) && (value != math.Trunc(value) || value > math.MaxInt64) {
		return fmt.Errorf("%w: %s must be a whole number of bytes per second, not %v", ErrInvalidQuota, key, value)
	}
	return nil
}

// QuotaBucket names the use a quota measures: Kafka's metric tags. Users
// (client ids) matched by a default quota each get their own bucket; a
// quota on a user alone is shared by all its client ids.
type QuotaBucket struct {
	User, ClientID string
}

// ResolveQuota finds the quota for key that applies to a connection of
// user with clientID, in Kafka's order of precedence (most specific first):
// user+client, user+default client, user, default user+client, default
// user+default client, default user, client, default client. lookup
// returns an entity's value for key. ok is false when no quota applies.
func ResolveQuota(lookup func(QuotaEntity) (float64, bool), user, clientID string) (value float64, bucket QuotaBucket, ok bool) {
	u, c, du, dc := Named(user), Named(clientID), DefaultName(), DefaultName()
	none := QuotaName{}
	order := []struct {
		e          QuotaEntity
		tagU, tagC bool
	}{
		{QuotaEntity{u, c}, true, true},
		{QuotaEntity{u, dc}, true, true},
		{QuotaEntity{u, none}, true, false},
		{QuotaEntity{du, c}, true, true},
		{QuotaEntity{du, dc}, true, true},
		{QuotaEntity{du, none}, true, false},
		{QuotaEntity{none, c}, false, true},
		{QuotaEntity{none, dc}, false, true},
	}
	for _, o := range order {
		if v, found := lookup(o.e); found {
			if o.tagU {
				bucket.User = user
			}
			if o.tagC {
				bucket.ClientID = clientID
			}
			return v, bucket, true
		}
	}
	return 0, QuotaBucket{}, false
}

// QuotaIndex looks quotas up by entity; built once per metadata state.
type QuotaIndex map[string]map[string]float64

// NewQuotaIndex indexes quotas.
func NewQuotaIndex(quotas []ClientQuota) QuotaIndex {
	ix := make(QuotaIndex, len(quotas))
	for _, q := range quotas {
		ix[q.Entity.Key()] = q.Values
	}
	return ix
}

// Lookup returns a lookup function for ResolveQuota over key.
func (ix QuotaIndex) Lookup(key string) func(QuotaEntity) (float64, bool) {
	return func(e QuotaEntity) (float64, bool) {
		v, ok := ix[e.Key()][key]
		return v, ok
	}
}

// Has reports whether any entity has a value for key.
func (ix QuotaIndex) Has(key string) bool {
	for _, vs := range ix {
		if _, ok := vs[key]; ok {
			return true
		}
	}
	return false
}

// SortQuotas orders quotas by entity key (a deterministic state).
func SortQuotas(qs []ClientQuota) {
	sort.Slice(qs, func(i, j int) bool { return qs[i].Entity.Key() < qs[j].Entity.Key() })
}

// QuotaWindow is how a QuotaSensor measures: Kafka's quota.window.num
// samples of quota.window.size.seconds each.
type QuotaWindow struct {
	Samples int
	Size    time.Duration
}

// QuotaSensor measures the rate of one bucket's use and says how long a
// client over its quota is throttled (Kafka's sampled rate): the rate is
// the sum of the samples of the last Samples windows over the time they
// span, counted as at least Samples-1 whole windows so a new sensor does
// not see a burst as an enormous rate. Over the quota, the throttle time
// is how long the client must stay silent for the rate to fall back to
// the quota (see throttle), at most the whole window (Samples × Size).
//
// A QuotaSensor is safe for concurrent use.
type QuotaSensor struct {
	w  QuotaWindow
	mu sync.Mutex // guards the samples
	// samples is a ring: starts[i] began a sample that holds values[i].
	starts []time.Time
	values []float64
	cur    int
}

// NewQuotaSensor returns an empty sensor.
func NewQuotaSensor(w QuotaWindow) *QuotaSensor {
	if w.Samples < 2 {
		w.Samples = 2
	}
	if w.Size <= 0 {
		w.Size = time.Second
	}
	return &QuotaSensor{w: w, starts: make([]time.Time, w.Samples), values: make([]float64, w.Samples)}
}

// Record adds v at now and returns the throttle time for quota (0 when the
// rate is within it).
func (s *QuotaSensor) Record(now time.Time, v, quota float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.add(now, v)
	return s.throttle(now, quota)
}

// Unrecord takes back v recorded at now (a throttled fetch answered empty).
func (s *QuotaSensor) Unrecord(now time.Time, v float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.add(now, -v)
}

// Rate is the measured rate per second at now.
func (s *QuotaSensor) Rate(now time.Time) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, _, _ := s.rate(now)
	return r
}

func (s *QuotaSensor) add(now time.Time, v float64) {
	if s.starts[s.cur].IsZero() || now.Sub(s.starts[s.cur]) >= s.w.Size {
		s.cur = (s.cur + 1) % len(s.starts)
		s.starts[s.cur], s.values[s.cur] = now, 0
	}
	s.values[s.cur] += v
}

// rate returns the rate, the total and the time since the oldest sample
// began (unfloored).
func (s *QuotaSensor) rate(now time.Time) (rate, total float64, elapsed time.Duration) {
	oldest := now
	full := time.Duration(s.w.Samples) * s.w.Size
	for i, st := range s.starts {
		if st.IsZero() || now.Sub(st) >= full {
			continue // never used, or obsolete
		}
		total += s.values[i]
		if st.Before(oldest) {
			oldest = st
		}
	}
	elapsed = now.Sub(oldest)
	span := max(elapsed, time.Duration(s.w.Samples-1)*s.w.Size)
	return total / span.Seconds(), total, elapsed
}

// throttle is how long the client must stay silent for the rate to fall
// to quota: total/quota seconds must have passed since the oldest sample
// began (with a span above the floor this is Kafka's (rate - quota) /
// quota × span; below it, the floor alone would not let time help).
func (s *QuotaSensor) throttle(now time.Time, quota float64) time.Duration {
	if quota <= 0 {
		return 0
	}
	r, total, elapsed := s.rate(now)
	if r <= quota {
		return 0
	}
	t := time.Duration(total/quota*float64(time.Second)) - elapsed
	return max(min(t, time.Duration(s.w.Samples)*s.w.Size), 0)
}

// TokenBucket measures controller mutations (KIP-599): it holds up to
// Burst tokens and refills at Rate per second; a mutation takes its
// count of tokens and may take the bucket below zero. While the bucket is
// negative the quota is violated, and the throttle time is how long the
// refill takes to bring it back to zero.
//
// A TokenBucket is safe for concurrent use.
type TokenBucket struct {
	mu     sync.Mutex // guards tokens and last
	tokens float64
	last   time.Time
}

func (b *TokenBucket) refill(now time.Time, rate, burst float64) {
	if b.last.IsZero() {
		b.tokens = burst
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(burst, b.tokens+d.Seconds()*rate)
	}
	b.last = now
}

// Violated reports whether the bucket is below zero at now.
func (b *TokenBucket) Violated(now time.Time, rate, burst float64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now, rate, burst)
	return b.tokens < 0
}

// Record takes n tokens and returns the throttle time (0 when the bucket
// stays at or above zero).
func (b *TokenBucket) Record(now time.Time, n, rate, burst float64) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now, rate, burst)
	b.tokens -= n
	if b.tokens >= 0 || rate <= 0 {
		return 0
	}
	return time.Duration(-b.tokens / rate * float64(time.Second))
}
