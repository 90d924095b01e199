package group

import (
	"bytes"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// state is a classic group's state, as in Kafka.
type state int8

const (
	stEmpty state = iota
	stPreparing
	stCompleting
	stStable
	stDead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s state) String() string { return stateNames[s] }

type joinWaiter struct {
	ch      chan *kmsg.JoinGroupResponse
	version int16
}

type syncWaiter struct {
	ch      chan *kmsg.SyncGroupResponse
	version int16
}

type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []kmsg.JoinGroupRequestProtocol
	assignment       []byte

	// joins are JoinGroup requests waiting for the rebalance to complete;
	// non-empty means the member has (re)joined this rebalance.
	joins []joinWaiter
	// syncs are SyncGroup requests waiting for the leader's assignment.
	syncs []syncWaiter
	isNew bool

	hbStop  func() bool
	hbToken uint64
}

func (m *member) awaitingJoin() bool { return len(m.joins) > 0 }

func (m *member) stopHeartbeat() {
	m.hbToken++
	if m.hbStop != nil {
		m.hbStop()
		m.hbStop = nil
	}
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// sameProtocols reports whether ps equals the member's protocols, in order.
func (m *member) sameProtocols(ps []kmsg.JoinGroupRequestProtocol) bool {
	if len(ps) != len(m.protocols) {
		return false
	}
	for i := range ps {
		if ps[i].Name != m.protocols[i].Name || !bytes.Equal(ps[i].Metadata, m.protocols[i].Metadata) {
			return false
		}
	}
	return true
}

// offset is one committed offset.
type offset struct {
	offset   int64
	epoch    int32
	metadata string
	commitMs int64
	expireMs int64 // explicit expiry (OffsetCommit v2-4 retention), or -1
}

type group struct {
	id           string
	typ          groupType // classic, consumer (KIP-848, then cg is set) or share (KIP-932, then sg is set)
	cg           *cgroup
	sg           *sgroup
	state        state
	stateTime    time.Time
	protocolType string // "" until a member joins (or for commit-only groups)
	protocol     string // selected protocol of the current generation
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string      // group.instance.id -> member id
	pending      map[string]func() bool // KIP-394 member ids not yet joined -> stop expiry
	offsets      map[string]map[int32]*offset

	joinStop       func() bool
	joinToken      uint64
	initialJoin    bool          // the current rebalance is the initial delayed join
	initialLeft    time.Duration // remaining extension budget of the initial join
	newMemberAdded bool
}

// newGroup creates an empty group and makes it live. Under mu.
func (c *Coordinator) newGroup(id string, now time.Time) *group {
	g := makeGroup(id, now)
	c.groups[id] = g
	return g
}

func makeGroup(id string, now time.Time) *group {
	return &group{
		id: id, state: stEmpty, stateTime: now,
		members: map[string]*member{}, static: map[string]string{},
		pending: map[string]func() bool{}, offsets: map[string]map[int32]*offset{},
	}
}

func (g *group) transition(s state, now time.Time) {
	g.state = s
	g.stateTime = now
}

func (g *group) stopJoinTimer() {
	g.joinToken++
	if g.joinStop != nil {
		g.joinStop()
		g.joinStop = nil
	}
}

func (g *group) sortedMembers() []*member {
	out := make([]*member, 0, len(g.members))
	for _, id := range sortedKeys(g.members) {
		out = append(out, g.members[id])
	}
	return out
}

func (g *group) setOffset(topic string, p int32, o *offset) {
	ps := g.offsets[topic]
	if ps == nil {
		ps = map[int32]*offset{}
		g.offsets[topic] = ps
	}
	ps[p] = o
}

func (g *group) deleteOffset(topic string, p int32) {
	if ps := g.offsets[topic]; ps != nil {
		delete(ps, p)
		if len(ps) == 0 {
			delete(g.offsets, topic)
		}
	}
}

func (g *group) numOffsets() int {
	n := 0
	for _, ps := range g.offsets {
		n += len(ps)
	}
	return n
}

// rebalanceTimeout is the largest rebalance timeout of the members.
func (g *group) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// candidates are the protocols every member supports.
func (g *group) candidates() map[string]bool {
	var out map[string]bool
	for _, m := range g.members {
		set := map[string]bool{}
		for _, p := range m.protocols {
			if out == nil || out[p.Name] {
				set[p.Name] = true
			}
		}
		out = set
	}
	return out
}

// supports reports whether a member with protocolType and protocols may join.
func (g *group) supports(protocolType string, protocols []kmsg.JoinGroupRequestProtocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	cand := g.candidates()
	for _, p := range protocols {
		if cand[p.Name] {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol every member supports that most members
// prefer (each member votes for its first supported candidate); ties go to
// the alphabetically first name.
func (g *group) selectProtocol() string {
	cand := g.candidates()
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if cand[p.Name] {
				votes[p.Name]++
				break
			}
		}
	}
	names := sortedKeys(votes)
	sort.SliceStable(names, func(i, j int) bool { return votes[names[i]] > votes[names[j]] })
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// subscribedTopics returns the topics the members subscribe to, decoded from
// their consumer-protocol metadata, and whether it could be determined.
func (g *group) subscribedTopics() (map[string]bool, bool) {
	if g.typ == typeConsumer {
		return nil, false // see Coordinator.subscribedTopics
	}
	if g.protocolType != "consumer" || g.protocol == "" {
		return nil, false
	}
	out := map[string]bool{}
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return nil, false
		}
		for _, t := range meta.Topics {
			out[t] = true
		}
	}
	return out, true
}

func codeOf(err error) int16 {
	if err == nil {
		return 0
	}
	return writeCode(err)
}
