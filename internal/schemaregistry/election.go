package schemaregistry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Election elects one writer among the registry instances through the
// Kafka group protocol, the way Confluent's registries do: every instance
// joins the group (default "schema-registry") with protocol type "sr" and
// its identity as metadata; the group leader picks the writer among the
// eligible members and hands every member the writer's identity in the
// SyncGroup assignment. A member keeps the writer it was told until the
// next rebalance; losing its membership (fenced, session expired) clears
// it. The writer choice is deterministic (the smallest URL among eligible
// members), so it only moves when that member leaves or a smaller one
// joins.
//
// The election avoids write contention; it is not what keeps ids unique:
// that is the log's first-writer-wins rule (see state), which holds even
// while two instances briefly both believe they are the writer.
type Election struct {
	cl        *kgo.Client
	group     string
	self      Identity
	logger    *slog.Logger
	heartbeat time.Duration

	mu     sync.Mutex
	writer *Identity // nil while unknown
}

// Identity is a member's metadata and the assignment's master_identity,
// in Confluent's field names.
type Identity struct {
	Host              string `json:"host"`
	Port              int    `json:"port"`
	MasterEligibility bool   `json:"master_eligibility"`
	Scheme            string `json:"scheme"`
	Version           int    `json:"version"`
}

// URL is the identity's base URL.
func (id Identity) URL() string {
	return id.Scheme + "://" + net.JoinHostPort(id.Host, strconv.Itoa(id.Port))
}

type assignment struct {
	Version        int       `json:"version"`
	Error          int       `json:"error"`
	Master         string    `json:"master,omitempty"`
	MasterIdentity *Identity `json:"master_identity,omitempty"`
}

// IdentityFromURL builds an eligible identity from an advertised URL.
func IdentityFromURL(advertised string) (Identity, error) {
	u, err := url.Parse(advertised)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return Identity{}, fmt.Errorf("advertised URL %q: want http(s)://host:port", advertised)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return Identity{}, fmt.Errorf("advertised URL %q needs a port", advertised)
	}
	return Identity{Host: u.Hostname(), Port: port, MasterEligibility: true, Scheme: u.Scheme, Version: 1}, nil
}

// NewElection returns an election for self on cl's cluster.
func NewElection(cl *kgo.Client, group string, self Identity, logger *slog.Logger) *Election {
	if group == "" {
		group = "schema-registry"
	}
	return &Election{cl: cl, group: group, self: self, logger: logger, heartbeat: time.Second}
}

// Writer implements Leader.
func (e *Election) Writer() (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.writer == nil {
		return "", false
	}
	return e.writer.URL(), *e.writer == e.self
}

func (e *Election) setWriter(w *Identity) {
	e.mu.Lock()
	changed := (e.writer == nil) != (w == nil) || w != nil && *e.writer != *w
	e.writer = w
	e.mu.Unlock()
	if changed {
		if w == nil {
			e.logger.Info("schema registry writer unknown")
		} else {
			e.logger.Info("schema registry writer elected", "writer", w.URL(), "self", *w == e.self)
		}
	}
}

const (
	sessionTimeout   = 10 * time.Second
	rebalanceTimeout = 10 * time.Second
)

// Run takes part in the election until ctx is done, then leaves the group.
func (e *Election) Run(ctx context.Context) {
	meta, _ := json.Marshal(e.self)
	memberID := ""
	backoff := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
			return true
		}
	}
	defer func() {
		if memberID != "" {
			lctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			req := kmsg.NewPtrLeaveGroupRequest()
			req.Group = e.group
			req.MemberID = memberID
			m := kmsg.NewLeaveGroupRequestMember()
			m.MemberID = memberID
			req.Members = append(req.Members, m)
			req.RequestWith(lctx, e.cl)
		}
		e.setWriter(nil)
	}()
	for ctx.Err() == nil {
		join := kmsg.NewPtrJoinGroupRequest()
		join.Group = e.group
		join.SessionTimeoutMillis = int32(sessionTimeout / time.Millisecond)
		join.RebalanceTimeoutMillis = int32(rebalanceTimeout / time.Millisecond)
		join.MemberID = memberID
		join.ProtocolType = "sr"
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = "v0"
		p.Metadata = meta
		join.Protocols = append(join.Protocols, p)
		jr, err := join.RequestWith(ctx, e.cl)
		if err == nil {
			err = kerr.ErrorForCode(jr.ErrorCode)
		}
		switch {
		case errors.Is(err, kerr.MemberIDRequired):
			memberID = jr.MemberID
			continue
		case errors.Is(err, kerr.UnknownMemberID):
			memberID = ""
			continue
		case err != nil:
			if ctx.Err() == nil {
				e.logger.Debug("joining the registry group", "err", err)
			}
			if !backoff() {
				return
			}
			continue
		}
		memberID = jr.MemberID
		sync := kmsg.NewPtrSyncGroupRequest()
		sync.Group = e.group
		sync.Generation = jr.Generation
		sync.MemberID = memberID
		sync.ProtocolType = kmsg.StringPtr("sr")
		sync.Protocol = kmsg.StringPtr("v0")
		if jr.LeaderID == memberID {
			sync.GroupAssignment = e.assign(jr.Members)
		}
		sr, err := sync.RequestWith(ctx, e.cl)
		if err == nil {
			err = kerr.ErrorForCode(sr.ErrorCode)
		}
		if err != nil {
			if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) {
				memberID = ""
				e.setWriter(nil)
			}
			continue
		}
		var a assignment
		if json.Unmarshal(sr.MemberAssignment, &a) != nil || a.Error != 0 || a.MasterIdentity == nil {
			e.setWriter(nil)
		} else {
			e.setWriter(a.MasterIdentity)
		}
		if fenced := e.heartbeatUntilRebalance(ctx, memberID, jr.Generation); fenced {
			memberID = ""
			e.setWriter(nil)
		}
	}
}

// assign picks the writer among the members (the group leader's job) and
// returns every member's assignment.
func (e *Election) assign(members []kmsg.JoinGroupResponseMember) []kmsg.SyncGroupRequestGroupAssignment {
	type cand struct {
		id       string
		identity Identity
	}
	var eligible []cand
	for _, m := range members {
		var id Identity
		if json.Unmarshal(m.ProtocolMetadata, &id) == nil && id.MasterEligibility {
			eligible = append(eligible, cand{m.MemberID, id})
		}
	}
	sort.Slice(eligible, func(i, j int) bool { return eligible[i].identity.URL() < eligible[j].identity.URL() })
	a := assignment{Version: 1}
	if len(eligible) == 0 {
		a.Error = 1 // no eligible writer
	} else {
		a.Master = eligible[0].id
		a.MasterIdentity = &eligible[0].identity
	}
	b, _ := json.Marshal(a)
	var out []kmsg.SyncGroupRequestGroupAssignment
	for _, m := range members {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID = m.MemberID
		ga.MemberAssignment = b
		out = append(out, ga)
	}
	return out
}

// heartbeatUntilRebalance heartbeats until the group rebalances (false) or
// this member is fenced (true), or ctx is done.
func (e *Election) heartbeatUntilRebalance(ctx context.Context, memberID string, generation int32) bool {
	t := time.NewTicker(e.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Group = e.group
		hb.Generation = generation
		hb.MemberID = memberID
		resp, err := hb.RequestWith(ctx, e.cl)
		if err != nil {
			continue // transport error: the session timeout decides
		}
		switch err := kerr.ErrorForCode(resp.ErrorCode); {
		case err == nil:
		case errors.Is(err, kerr.RebalanceInProgress):
			return false
		case errors.Is(err, kerr.UnknownMemberID), errors.Is(err, kerr.IllegalGeneration), errors.Is(err, kerr.FencedInstanceID):
			return true
		default:
			e.logger.Debug("registry group heartbeat", "err", err)
		}
	}
}
