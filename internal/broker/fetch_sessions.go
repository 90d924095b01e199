package broker

// Incremental fetch sessions (KIP-227). A client that fetches many
// partitions opens a session with a full fetch (session id 0, epoch 0); the
// broker remembers the partitions and their fetch parameters and answers
// with a session id. Each later fetch names the session and the next epoch
// and carries only the partitions whose parameters changed (added or
// updated) and those to forget; the response carries only the partitions
// with something new: records, a changed high watermark, last stable
// offset or log start offset, or an error.
//
//	session id  epoch   meaning
//	0           -1      full fetch without a session (before KIP-227)
//	0 or ID     0       full fetch; closes ID; opens a session if a slot is free
//	ID          -1      closes ID; full fetch without a session
//	ID          N > 0   incremental fetch on ID at epoch N
//
// An incremental fetch naming an unknown session answers
// FETCH_SESSION_ID_NOT_FOUND, one at the wrong epoch
// INVALID_FETCH_SESSION_EPOCH, one that switches between topic names
// (v7-12) and topic ids (v13+) FETCH_SESSION_TOPIC_ID_ERROR; the client
// then starts over with a full fetch. The epoch advances when the request
// is accepted, so a retried request is refused rather than applied twice.
//
// Slots: max.incremental.fetch.session.cache.slots sessions at most. When
// the cache is full, a new session takes the slot of the least recently
// used session if that one has been idle for sessionEvictionIdle, else of
// the least valuable session if it is worth less than the new one (a
// follower's session is worth more than a consumer's, then more partitions
// are worth more, then the more recently used); otherwise the full fetch is
// answered without a session (session id 0) and the client keeps sending
// full fetches. Partitions that returned records move to the end of the
// session's order, so a response bounded by max bytes serves the others
// first next time.
//
// Concurrency: fetchSessions.mu guards the id map and each session's
// lastUsed; fetchSession.mu guards a session's partitions and epoch, taken
// once when a request is accepted (reader goroutine) and once when its
// response is trimmed (writer goroutine). Lock order: fetchSessions.mu
// before fetchSession.mu (eviction reads other sessions' sizes). Neither
// is held across I/O or while a partition lock is taken.

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sessionEvictionIdle is how long a session must be unused before any new
// session may take its slot (Kafka's min.incremental.fetch.session.eviction.ms,
// a constant there too).
const sessionEvictionIdle = 2 * time.Minute

type fetchSessions struct {
	slots int
	now   func() time.Time

	mu   sync.Mutex
	byID map[int32]*fetchSession

	evictions   atomic.Int64 // sessions that lost their slot to a new one
	partsCached atomic.Int64 // partitions held by all sessions
}

type sessionKey struct {
	topic string   // v7-12
	id    [16]byte // v13+
	part  int32
}

type sessionPartition struct {
	key sessionKey
	// The fetch parameters last sent by the client.
	fetchOffset, logStartOffset int64
	maxBytes                    int32
	currentLeaderEpoch          int32
	lastFetchedEpoch            int32
	// What the client last received.
	hw, lso, logStart int64
	// moved: the fetch being finished sent records of it (finish's mark,
	// false between fetches; guarded by fetchSession.mu).
	moved bool
}

type fetchSession struct {
	id       int32
	follower bool
	topicIDs bool // opened at v13+

	mu       sync.Mutex
	epoch    int32 // the epoch the next incremental fetch must carry
	parts    []*sessionPartition
	byKey    map[sessionKey]*sessionPartition
	movedBuf []*sessionPartition // finish's list, kept for the next fetch
	lastUsed time.Time           // guarded by fetchSessions.mu
}

// noSessions is a cache without slots.
var noSessions = newFetchSessions(0, time.Now)

func newFetchSessions(slots int, now func() time.Time) *fetchSessions {
	return &fetchSessions{slots: slots, now: now, byID: map[int32]*fetchSession{}}
}

// sessionUse is what a fetch does with a session, decided when the request
// is read.
type sessionUse struct {
	s           *fetchSession // nil: a sessionless fetch
	incremental bool
	// topics are the partitions the fetch reads: the request's for a full
	// fetch, every partition of the session for an incremental one.
	topics []kmsg.FetchRequestTopic
}

// begin applies a fetch request's session fields. A non-zero code is the
// request's top-level error.
func (c *fetchSessions) begin(req *kmsg.FetchRequest, follower bool) (sessionUse, int16) {
	if c == nil {
		c = noSessions // a Broker built without New (handler tests)
	}
	if req.Version < 7 {
		return sessionUse{topics: req.Topics}, 0
	}
	if req.SessionEpoch == 0 || req.SessionEpoch == -1 {
		if req.SessionID != 0 {
			c.remove(req.SessionID)
		}
		if req.SessionEpoch == -1 {
			return sessionUse{topics: req.Topics}, 0
		}
		return sessionUse{s: c.open(req, follower), topics: req.Topics}, 0
	}
	c.mu.Lock()
	s := c.byID[req.SessionID]
	if s != nil {
		s.lastUsed = c.now()
	}
	c.mu.Unlock()
	if s == nil {
		return sessionUse{}, kerr.FetchSessionIDNotFound.Code
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.SessionEpoch != s.epoch {
		return sessionUse{}, kerr.InvalidFetchSessionEpoch.Code
	}
	if s.topicIDs != (req.Version >= 13) {
		return sessionUse{}, kerr.FetchSessionTopicIDError.Code
	}
	before := len(s.parts)
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			s.upsert(sessionKey{rt.Topic, rt.TopicID, rp.Partition}, &rp)
		}
	}
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			s.forget(sessionKey{ft.Topic, ft.TopicID, p})
		}
	}
	c.partsCached.Add(int64(len(s.parts) - before))
	s.epoch = nextEpoch(s.epoch)
	return sessionUse{s: s, incremental: true, topics: s.requestTopics()}, 0
}

// nextEpoch follows epoch, wrapping to 1 after the largest int32.
func nextEpoch(e int32) int32 {
	if e == math.MaxInt32 {
		return 1
	}
	return e + 1
}

// open creates a session for a full fetch, or returns nil when the request
// names no partition or no slot can be had.
func (c *fetchSessions) open(req *kmsg.FetchRequest, follower bool) *fetchSession {
	if c.slots <= 0 {
		return nil
	}
	s := &fetchSession{follower: follower, topicIDs: req.Version >= 13, epoch: 1, byKey: map[sessionKey]*sessionPartition{}}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			s.upsert(sessionKey{rt.Topic, rt.TopicID, rp.Partition}, &rp)
		}
	}
	if len(s.parts) == 0 {
		return nil
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byID) >= c.slots && !c.evictFor(s, now) {
		return nil
	}
	for {
		s.id = rand.Int32N(math.MaxInt32) + 1 // 1..MaxInt32
		if c.byID[s.id] == nil {
			break
		}
	}
	s.lastUsed = now
	c.byID[s.id] = s
	c.partsCached.Add(int64(len(s.parts)))
	return s
}

// evictFor frees a slot for s, per the rule in the file comment. Called
// with c.mu held.
func (c *fetchSessions) evictFor(s *fetchSession, now time.Time) bool {
	var lru, least *fetchSession
	for _, o := range c.byID {
		if lru == nil || o.lastUsed.Before(lru.lastUsed) {
			lru = o
		}
		if least == nil || worth(o, least) < 0 {
			least = o
		}
	}
	victim := lru
	if lru == nil || now.Sub(lru.lastUsed) < sessionEvictionIdle {
		victim = least
		if victim == nil || worth(s, victim) <= 0 {
			return false
		}
	}
	delete(c.byID, victim.id)
	c.partsCached.Add(-int64(victim.size()))
	c.evictions.Add(1)
	return true
}

// worth orders sessions by how much keeping them is worth: a follower's
// over a consumer's, then more partitions, then more recently used. A new
// session (its lastUsed zero) loses ties in size to an existing one.
func worth(a, b *fetchSession) int {
	switch {
	case a.follower != b.follower:
		if a.follower {
			return 1
		}
		return -1
	case a.size() != b.size():
		if a.size() > b.size() {
			return 1
		}
		return -1
	}
	return a.lastUsed.Compare(b.lastUsed)
}

// size is the session's partition count. Sessions other than the caller's
// are read under c.mu only, so their count is read under their own lock.
func (s *fetchSession) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.parts)
}

func (c *fetchSessions) remove(id int32) {
	c.mu.Lock()
	s := c.byID[id]
	delete(c.byID, id)
	c.mu.Unlock()
	if s != nil {
		c.partsCached.Add(-int64(s.size()))
	}
}

// stats are the number of open sessions, the partitions they hold and the
// sessions evicted so far.
func (c *fetchSessions) stats() (sessions, partitions, evictions int64) {
	if c == nil {
		return 0, 0, 0
	}
	return int64(c.count()), c.partsCached.Load(), c.evictions.Load()
}

// count is the number of open sessions.
func (c *fetchSessions) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byID)
}

// upsert records a partition's fetch parameters (s.mu held, or s not yet
// published).
func (s *fetchSession) upsert(k sessionKey, rp *kmsg.FetchRequestTopicPartition) {
	sp := s.byKey[k]
	if sp == nil {
		sp = &sessionPartition{key: k, hw: -1, lso: -1, logStart: -1}
		s.byKey[k] = sp
		s.parts = append(s.parts, sp)
	}
	sp.fetchOffset, sp.logStartOffset, sp.maxBytes = rp.FetchOffset, rp.LogStartOffset, rp.PartitionMaxBytes
	sp.currentLeaderEpoch, sp.lastFetchedEpoch = rp.CurrentLeaderEpoch, rp.LastFetchedEpoch
}

func (s *fetchSession) forget(k sessionKey) {
	if s.byKey[k] == nil {
		return
	}
	delete(s.byKey, k)
	for i, sp := range s.parts {
		if sp.key == k {
			s.parts = append(s.parts[:i], s.parts[i+1:]...)
			break
		}
	}
}

// requestTopics lists the session's partitions as request topics, in the
// session's order (consecutive partitions of a topic share an entry; a
// topic may appear more than once, as in Kafka's responses). The topics'
// partitions share one array, cut into runs.
func (s *fetchSession) requestTopics() []kmsg.FetchRequestTopic {
	var out []kmsg.FetchRequestTopic
	parts := make([]kmsg.FetchRequestTopicPartition, len(s.parts))
	start := 0
	for i, sp := range s.parts {
		if n := len(out); n == 0 || out[n-1].Topic != sp.key.topic || out[n-1].TopicID != sp.key.id {
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = sp.key.topic, sp.key.id
			out = append(out, t)
			start = i
		}
		p := &parts[i]
		*p = kmsg.NewFetchRequestTopicPartition()
		p.Partition, p.FetchOffset, p.LogStartOffset, p.PartitionMaxBytes = sp.key.part, sp.fetchOffset, sp.logStartOffset, sp.maxBytes
		p.CurrentLeaderEpoch, p.LastFetchedEpoch = sp.currentLeaderEpoch, sp.lastFetchedEpoch
		out[len(out)-1].Partitions = parts[start : i+1 : i+1]
	}
	return out
}

// finish records what the response tells the client and, for an
// incremental fetch, drops the partitions with nothing new. It sets the
// response's session id.
// id is the session's id, 0 without one.
func (u sessionUse) id() int32 {
	if u.s == nil {
		return 0
	}
	return u.s.id
}

func (u sessionUse) finish(resp *kmsg.FetchResponse) {
	s := u.s
	if s == nil {
		return
	}
	resp.SessionID = s.id
	s.mu.Lock()
	defer s.mu.Unlock()
	// An incremental response keeps only what changed: the topics and
	// their partitions are filtered in place (each element is copied
	// before a slot at or before it is written), so finishing a fetch
	// allocates nothing once the session's list has grown.
	moved := s.movedBuf[:0]
	topics := resp.Topics[:0]
	for _, rt := range resp.Topics {
		parts := rt.Partitions[:0]
		for _, rp := range rt.Partitions {
			sp := s.byKey[sessionKey{rt.Topic, rt.TopicID, rp.Partition}]
			changed := sp == nil || rp.ErrorCode != 0 || len(rp.RecordBatches) > 0 ||
				rp.HighWatermark != sp.hw || rp.LastStableOffset != sp.lso || rp.LogStartOffset != sp.logStart
			if sp != nil {
				sp.hw, sp.lso, sp.logStart = rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset
				if len(rp.RecordBatches) > 0 && !sp.moved {
					sp.moved = true
					moved = append(moved, sp)
				}
			}
			if changed && u.incremental {
				parts = append(parts, rp)
			}
		}
		if u.incremental && len(parts) > 0 {
			rt.Partitions = parts
			topics = append(topics, rt)
		}
	}
	if u.incremental {
		resp.Topics = topics
	}
	if len(moved) > 0 && len(moved) < len(s.parts) {
		// Partitions that sent records go last, in the order sent, so
		// the next fetches start with the others (Kafka's rotation).
		keep := s.parts[:0]
		for _, sp := range s.parts {
			if !sp.moved {
				keep = append(keep, sp)
			}
		}
		s.parts = append(keep, moved...)
	}
	for _, sp := range moved {
		sp.moved = false
	}
	clear(moved)
	s.movedBuf = moved[:0]
}
