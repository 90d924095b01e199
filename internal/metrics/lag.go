package metrics

import "fmt"

// LagStatus is the health of one consumer group partition (or of a whole
// group) judged from its recent offset commits, with Burrow's rules.
//
// Partition statuses are OK, WARN, STOP, STALL and REWIND; a group's status
// is the worst of its partitions', with STOP, STALL and REWIND reported as
// ERR, as Burrow does.
type LagStatus int8

// The order matters: a higher value is worse (GroupStatus takes the max).
const (
	StatusOK     LagStatus = iota // lag zero somewhere in the window, or shrinking
	StatusWarn                    // committing, but the lag never shrinks over the window
	StatusErr                     // group only: some partition is STOP, STALL or REWIND
	StatusStop                    // no commit for longer than the window spans
	StatusStall                   // commits keep the same offset while there is lag
	StatusRewind                  // the committed offset went backwards
)

var statusNames = [...]string{"OK", "WARN", "ERR", "STOP", "STALL", "REWIND"}

func (s LagStatus) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("LagStatus(%d)", int8(s))
}

// ParseLagStatus parses a status name.
func ParseLagStatus(name string) (LagStatus, error) {
	for i, n := range statusNames {
		if n == name {
			return LagStatus(i), nil
		}
	}
	return 0, fmt.Errorf("unknown lag status %q", name)
}

// Commit is one offset commit in a partition's window: the committed
// offset, when it was committed (Unix ms), and the lag at that moment (the
// partition's end offset as last sampled minus the offset).
type Commit struct {
	Offset int64
	TimeMs int64
	Lag    int64
}

// EvaluatePartition applies Burrow's rules to a partition's window of
// commits (oldest first), its current lag and the time now (Unix ms):
//
//  1. If the current lag is zero, or the lag at any commit in the window
//     was zero, the partition is OK: the consumer caught up at some point.
//  2. If the committed offset ever decreases from one commit to the next,
//     it is REWIND.
//  3. If the time since the last commit is longer than the time the window
//     spans (last commit minus first), the consumer stopped committing:
//     STOP.
//  4. If every commit in the window has the same offset, the consumer is
//     committing without making progress: STALL.
//  5. If the offsets move but the lag never decreases from one commit to
//     the next, the consumer is falling behind: WARN.
//  6. Otherwise OK.
//
// The rules are checked in that order; the first that applies wins. An
// empty window is OK (nothing to judge).
func EvaluatePartition(window []Commit, currentLag int64, nowMs int64) LagStatus {
	if len(window) == 0 || currentLag <= 0 {
		return StatusOK
	}
	for _, c := range window {
		if c.Lag <= 0 {
			return StatusOK
		}
	}
	for i := 1; i < len(window); i++ {
		if window[i].Offset < window[i-1].Offset {
			return StatusRewind
		}
	}
	first, last := window[0].TimeMs, window[len(window)-1].TimeMs
	if nowMs-last > last-first {
		return StatusStop
	}
	stalled := true
	for i := 1; i < len(window); i++ {
		if window[i].Offset != window[i-1].Offset {
			stalled = false
			break
		}
	}
	if stalled {
		return StatusStall
	}
	for i := 1; i < len(window); i++ {
		if window[i].Lag < window[i-1].Lag {
			return StatusOK
		}
	}
	return StatusWarn
}

// GroupStatus is the status of a group from its partitions' statuses: the
// worst of them, with STOP, STALL and REWIND reported as ERR.
func GroupStatus(parts []LagStatus) LagStatus {
	worst := StatusOK
	for _, s := range parts {
		if s > StatusErr {
			s = StatusErr
		}
		worst = max(worst, s)
	}
	return worst
}
