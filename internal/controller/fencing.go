package controller

import (
	"slices"
	"time"
)

// Fence returns p after broker id was fenced (b already shows it fenced):
// id leaves the ISR unless it is the last member (the last in-sync replica
// stays recorded, so the partition can come back only from it), and if it
// led, the first live ISR member that is not offline leads under a new
// leader epoch (-1, offline, if none). It reports whether p changed.
func Fence(p Partition, id int32, b Brokers) (Partition, bool) {
	if !slices.Contains(p.Replicas, id) {
		return p, false
	}
	inISR := slices.Contains(p.ISR, id)
	if p.Leader != id && (!inISR || len(p.ISR) == 1) {
		return p, false
	}
	np := p.Clone()
	if inISR && len(np.ISR) > 1 {
		np.ISR = slices.DeleteFunc(np.ISR, func(r int32) bool { return r == id })
	}
	if np.Leader == id {
		np.Leader = ElectFrom(np.eligible(), np.Replicas, b)
		np.LeaderEpoch++
	}
	np.PartitionEpoch++
	return np, true
}

// Unfence returns p after broker id became live again: a partition without
// a leader whose ISR holds id (not offline) gets one (the first live,
// eligible ISR member). It reports whether p changed.
func Unfence(p Partition, id int32, b Brokers) (Partition, bool) {
	if p.Leader >= 0 || !slices.Contains(p.eligible(), id) {
		return p, false
	}
	np := p.Clone()
	np.Leader = ElectFrom(np.eligible(), np.Replicas, b)
	np.LeaderEpoch++
	np.PartitionEpoch++
	return np, true
}

// Liveness is a voter's view of broker heartbeats
// (broker.session.timeout.ms), acted on while the voter is the active
// controller. The controller loop calls Begin at every tick, Expired for
// each live broker, then End; heartbeats call Heartbeat, on every voter
// (brokers tell the voters that do not lead too). Every call takes the
// current time; the caller serializes the calls.
//
// A node that becomes the active controller keeps the last heartbeat it
// knows of each broker instead of starting every session afresh as Kafka's
// controller does, but no earlier than a third of a session before its
// first tick: every broker has at least two thirds of a session to reach
// the new controller (a live one heartbeats every
// broker.heartbeat.interval.ms, 2 s, and gives up a call after a third of
// a session), while a broker that is really gone is fenced a session after
// its last heartbeat even when a starved Raft leader steps down and the
// controller changes several times meanwhile. A broker it never heard of
// starts its session at the first tick.
type Liveness struct {
	SessionTimeout time.Duration

	lastSeen  map[int32]time.Time
	leading   bool
	idleSince time.Time // when the loop last went back to waiting
}

// NewLiveness starts the view at now.
func NewLiveness(sessionTimeout time.Duration, now time.Time) *Liveness {
	return &Liveness{SessionTimeout: sessionTimeout, lastSeen: map[int32]time.Time{}, idleSince: now}
}

// Heartbeat records a heartbeat from broker id.
func (l *Liveness) Heartbeat(id int32, now time.Time) {
	if now.After(l.lastSeen[id]) {
		l.lastSeen[id] = now
	}
}

// LastSeen returns the last heartbeat recorded for broker id.
func (l *Liveness) LastSeen(id int32) (time.Time, bool) {
	t, ok := l.lastSeen[id]
	return t, ok
}

// Tick says what one controller tick does.
type Tick struct {
	// Act: this node leads; fence expired brokers and run the periodic
	// duties.
	Act bool
	// BecameLeader: the first tick of a leadership (registered brokers
	// kept their last heartbeats, with at least two thirds of a session
	// left; see Liveness).
	BecameLeader bool
	// Stalled: the loop itself did not run for this long (more than half a
	// session): the silence it saw says nothing about the brokers, so they
	// got a full session of grace and the tick does nothing else; a node
	// deposed meanwhile sees the new term before it acts again.
	Stalled time.Duration
}

// Begin starts a tick at now; leader says whether this node is the active
// controller, registered lists every registered broker.
func (l *Liveness) Begin(now time.Time, leader bool, registered []int32) Tick {
	gap := now.Sub(l.idleSince)
	l.idleSince = now
	if !leader {
		l.leading = false
		return Tick{}
	}
	if l.leading && gap > l.SessionTimeout/2 {
		l.grace(registered, now)
		return Tick{Stalled: gap}
	}
	t := Tick{Act: true}
	if !l.leading {
		l.leading = true
		t.BecameLeader = true
		l.resume(registered, now)
	}
	return t
}

func (l *Liveness) grace(ids []int32, now time.Time) {
	for _, id := range ids {
		l.lastSeen[id] = now
	}
}

// resume keeps each broker's last heartbeat, but no earlier than a third
// of a session before now (two thirds of a session left); a broker never
// heard from starts its session now.
func (l *Liveness) resume(ids []int32, now time.Time) {
	floor := now.Add(-l.SessionTimeout / 3)
	for _, id := range ids {
		seen, ok := l.lastSeen[id]
		switch {
		case !ok:
			l.lastSeen[id] = now
		case seen.Before(floor):
			l.lastSeen[id] = floor
		}
	}
}

// Expired reports whether live broker id has been silent for longer than
// the session timeout at now, and for how long. A broker never heard from
// starts its session now.
func (l *Liveness) Expired(id int32, now time.Time) (silent time.Duration, expired bool) {
	seen, ok := l.lastSeen[id]
	if !ok {
		l.lastSeen[id] = now
		seen = now
	}
	silent = now.Sub(seen)
	return silent, silent > l.SessionTimeout
}

// Restart forgets the leadership (the loop starts, or restarts after a
// panic): the next tick as leader is the first of a leadership.
func (l *Liveness) Restart(now time.Time) {
	l.leading = false
	l.idleSince = now
}

// End closes a tick at now.
func (l *Liveness) End(now time.Time) { l.idleSince = now }

// SetReplicaOffline records that broker's replica of p is offline (its log
// met corrupt data or an I/O error) or, with online, back after repair.
// Offline: the replica leaves the ISR unless it is the last member, and if
// it led, leadership moves to an eligible ISR member under a new leader
// epoch (none: the partition is leaderless). Online: the replica may rejoin
// the ISR the usual way (caught up with the leader); a leaderless partition
// whose ISR holds it elects it if it is live. Refused (ErrIneligible) for a
// broker that is not a replica; it reports whether p changed (not when the
// replica is already so).
func SetReplicaOffline(tp TopicPartition, p Partition, broker int32, online bool, b Brokers) (Partition, bool, error) {
	if !slices.Contains(p.Replicas, broker) {
		return p, false, refuse(ErrIneligible, "broker %d is not a replica of %s", broker, tp)
	}
	if slices.Contains(p.Offline, broker) != online {
		return p, false, nil // already so
	}
	np := p.Clone()
	if online {
		np.Offline = nilIfEmpty(without(np.Offline, []int32{broker}))
		if np.Leader < 0 && slices.Contains(np.ISR, broker) && b.Live(broker) {
			np.Leader = ElectFrom(np.eligible(), np.Replicas, b)
			np.LeaderEpoch++
		}
	} else {
		np.Offline = append(np.Offline, broker)
		if len(np.ISR) > 1 {
			np.ISR = without(np.ISR, []int32{broker})
		}
		if np.Leader == broker {
			np.Leader = ElectFrom(np.eligible(), np.Replicas, b)
			np.LeaderEpoch++
		}
	}
	np.PartitionEpoch++
	return np, true, nil
}
