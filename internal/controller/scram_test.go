package controller

import (
	"errors"
	"slices"
	"testing"
)

func TestScramRules(t *testing.T) {
	salt, salted := []byte("s"), []byte("p")
	for _, c := range []struct {
		user, mech string
		iter       int32
		salt, pw   []byte
		want       error
	}{
		{"alice", "SCRAM-SHA-256", 4096, salt, salted, nil},
		{"alice", "SCRAM-SHA-512", 16384, salt, salted, nil},
		{"alice", "SCRAM-SHA-256", 4095, salt, salted, ErrUnacceptableCredential},
		{"alice", "SCRAM-SHA-256", 16385, salt, salted, ErrUnacceptableCredential},
		{"", "SCRAM-SHA-256", 4096, salt, salted, ErrUnacceptableCredential},
		{"alice", "SCRAM-SHA-1", 4096, salt, salted, ErrScramMechanism},
		{"alice", "", 4096, salt, salted, ErrScramMechanism},
		{"alice", "SCRAM-SHA-256", 4096, nil, salted, ErrUnacceptableCredential},
		{"alice", "SCRAM-SHA-256", 4096, salt, nil, ErrUnacceptableCredential},
	} {
		if err := CheckScramUpsert(c.user, c.mech, c.iter, c.salt, c.pw); !errors.Is(err, c.want) && (err != nil || c.want != nil) {
			t.Errorf("%+v: %v, want %v", c, err, c.want)
		}
	}
	if err := CheckScramDeletion("a", "SCRAM-SHA-256", false); !errors.Is(err, ErrNoScramCredential) {
		t.Error(err)
	}
	if err := CheckScramDeletion("a", "SCRAM-SHA-256", true); err != nil {
		t.Error(err)
	}
	dup := DuplicateScramUsers([]ScramAlteration{{"a", "SCRAM-SHA-256"}, {"a", "SCRAM-SHA-512"}, {"b", "SCRAM-SHA-256"}, {"b", "SCRAM-SHA-256"}})
	if !slices.Equal(dup, []string{"b"}) {
		t.Errorf("duplicates %v", dup)
	}
	if ScramMechanismName(2) != "SCRAM-SHA-512" || ScramMechanismName(3) != "" {
		t.Error("mechanism codes")
	}
}
