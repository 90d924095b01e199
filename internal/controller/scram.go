package controller

import (
	"errors"
	"slices"
)

// SCRAM credential rules (KIP-554): which AlterUserScramCredentials
// alterations the controller accepts.
var (
	ErrUnacceptableCredential = errors.New("unacceptable SCRAM credential")
	ErrScramMechanism         = errors.New("unsupported SCRAM mechanism")
	ErrNoScramCredential      = errors.New("no such SCRAM credential")
	ErrDuplicateScramUser     = errors.New("user appears more than once in one request")
)

// Kafka's bounds on a SCRAM credential's iteration count: RFC 7677's
// minimum of 4096 (fewer makes brute force cheap), and 16384.
const (
	MinScramIterations = 4096
	MaxScramIterations = 16384
)

// ScramMechanisms are the mechanism names with KIP-554's type codes.
var ScramMechanisms = map[string]int8{"SCRAM-SHA-256": 1, "SCRAM-SHA-512": 2}

// ScramMechanismName is the name for a KIP-554 type code, "" if unknown.
func ScramMechanismName(code int8) string {
	for n, c := range ScramMechanisms {
		if c == code {
			return n
		}
	}
	return ""
}

// CheckScramUpsert accepts a credential to store: a user name, a known
// mechanism, 4096 to 16384 iterations, a salt and a salted password.
func CheckScramUpsert(user, mechanism string, iterations int32, salt, salted []byte) error {
	switch {
	case user == "":
		return refuse(ErrUnacceptableCredential, "the user name is empty")
	case ScramMechanisms[mechanism] == 0:
		return refuse(ErrScramMechanism, "unknown SCRAM mechanism %q", mechanism)
	case iterations < MinScramIterations:
		return refuse(ErrUnacceptableCredential, "iterations %d is below the minimum of %d", iterations, MinScramIterations)
	case iterations > MaxScramIterations:
		return refuse(ErrUnacceptableCredential, "iterations %d is above the maximum of %d", iterations, MaxScramIterations)
	case len(salt) == 0:
		return refuse(ErrUnacceptableCredential, "the salt is empty")
	case len(salted) == 0:
		return refuse(ErrUnacceptableCredential, "the salted password is empty")
	}
	return nil
}

// CheckScramDeletion accepts deleting a credential that exists.
func CheckScramDeletion(user, mechanism string, exists bool) error {
	switch {
	case user == "":
		return refuse(ErrUnacceptableCredential, "the user name is empty")
	case ScramMechanisms[mechanism] == 0:
		return refuse(ErrScramMechanism, "unknown SCRAM mechanism %q", mechanism)
	case !exists:
		return refuse(ErrNoScramCredential, "user %q has no %s credential", user, mechanism)
	}
	return nil
}

// ScramAlteration names one credential a request alters.
type ScramAlteration struct{ User, Mechanism string }

// DuplicateScramUsers are the users one of whose credentials (user and
// mechanism) is named more than once, by deletions and upsertions
// together, in one request: as Kafka, every alteration of such a user is
// refused.
func DuplicateScramUsers(alts []ScramAlteration) []string {
	seen := map[ScramAlteration]int{}
	for _, a := range alts {
		seen[a]++
	}
	var out []string
	for a, n := range seen {
		if n > 1 && !slices.Contains(out, a.User) {
			out = append(out, a.User)
		}
	}
	slices.Sort(out)
	return out
}
