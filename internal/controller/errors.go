package controller

import (
	"errors"
	"fmt"
)

// Refusals by the policies; internal/broker/errors.go maps them to Kafka
// codes. Their texts are also their names in metadata command results
// (metadata.Result.Code), so changing one changes no state but renames the
// code in results a newer node returns.
var (
	ErrStaleEpoch               = errors.New("stale leader or partition epoch")
	ErrIneligible               = errors.New("replica is not eligible for the ISR")
	ErrInvalidISR               = errors.New("invalid ISR")
	ErrInvalidReplicaAssignment = errors.New("invalid replica assignment")
	ErrInvalidReplicationFactor = errors.New("invalid replication factor")
	ErrNoReassignment           = errors.New("no partition reassignment is in progress")
	ErrElectionNotNeeded        = errors.New("leader election not needed")
	ErrPreferredNotAvailable    = errors.New("preferred leader is not available")
	ErrEligibleNotAvailable     = errors.New("no eligible leader is available")
	ErrNoBrokers                = errors.New("no broker to place replicas on")
	ErrBrokerCapacity           = errors.New("broker partition capacity exceeded")
)

// Sentinels lists every error above (for metadata's result codes).
var Sentinels = []error{ErrStaleEpoch, ErrIneligible, ErrInvalidISR, ErrInvalidReplicaAssignment, ErrInvalidReplicationFactor,
	ErrNoReassignment, ErrElectionNotNeeded, ErrPreferredNotAvailable, ErrEligibleNotAvailable, ErrNoBrokers, ErrBrokerCapacity,
	ErrUnacceptableCredential, ErrScramMechanism, ErrNoScramCredential, ErrDuplicateScramUser}

// Refusal is a policy's refusal: one of the sentinels above and a message
// for the requester.
type Refusal struct {
	Sentinel error
	Msg      string
}

func (r *Refusal) Error() string { return r.Msg }
func (r *Refusal) Unwrap() error { return r.Sentinel }

func refuse(sentinel error, format string, args ...any) error {
	return &Refusal{Sentinel: sentinel, Msg: fmt.Sprintf(format, args...)}
}
