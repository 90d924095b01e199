package metadata

import (
	"crypto/rand"
	"encoding/hex"
)

// A proposal is applied at most once. Propose forwards a command to the
// controller and retries until it gets an answer; when the answer is lost
// after the controller committed the command (the RPC connection broke, the
// call timed out, or leadership moved while it was in flight), the retry
// would apply it a second time, and the caller would see the second
// outcome: TOPIC_ALREADY_EXISTS for the topic it just created,
// NO_REASSIGNMENT_IN_PROGRESS for the cancel it just made. So each
// proposal carries a random ID, and the state machine keeps the results of
// the last recentProposals IDs (in State, so snapshots carry them and every
// replica decides the same): a command whose ID is there is answered with
// the first result and changes nothing.

// recentProposals bounds State.Recent; retries of one proposal come within
// seconds, while far fewer than this many proposals are committed.
const recentProposals = 256

// ProposalResult is the result a proposal got when first applied.
type ProposalResult struct {
	ID     string `json:"id"`
	Result Result `json:"result"`
}

func newProposalID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recentResult returns the result of proposal id if it was applied.
func (s *State) recentResult(id string) (Result, bool) {
	if id == "" {
		return Result{}, false
	}
	for i := len(s.Recent) - 1; i >= 0; i-- {
		if s.Recent[i].ID == id {
			return s.Recent[i].Result, true
		}
	}
	return Result{}, false
}

// remember records proposal id's result on s, a copy being built (Recent
// is replaced, never appended to in place: older states share it).
func (s *State) remember(id string, res Result) {
	if id == "" {
		return
	}
	keep := s.Recent[max(0, len(s.Recent)-(recentProposals-1)):]
	r := make([]ProposalResult, 0, len(keep)+1)
	s.Recent = append(append(r, keep...), ProposalResult{ID: id, Result: res})
}
