package connect

import (
	"encoding/json"
	"errors"
)

// SessionKey is the key workers sign internal requests with (KIP-507),
// distributed by the leader as the config topic's session-key record.
type SessionKey struct {
	Key       []byte // raw key bytes
	Algorithm string // Java's Mac algorithm name, e.g. HmacSHA256
	Created   int64  // creation time, ms since the epoch
}

// sessionKeyValue is the session-key record's JSON (Connect's shape).
type sessionKeyValue struct {
	Key       []byte `json:"key"` // base64, as encoding/json writes []byte
	Algorithm string `json:"algorithm"`
	Created   int64  `json:"creation-timestamp"`
}

func encodeSessionKey(k SessionKey) []byte {
	b, _ := json.Marshal(sessionKeyValue{Key: k.Key, Algorithm: k.Algorithm, Created: k.Created})
	return b
}

func decodeSessionKey(b []byte) (SessionKey, error) {
	var v sessionKeyValue
	if b == nil {
		return SessionKey{}, errors.New("session key tombstone")
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return SessionKey{}, err
	}
	if len(v.Key) == 0 || v.Algorithm == "" {
		return SessionKey{}, errors.New("session key without key or algorithm")
	}
	return SessionKey{Key: v.Key, Algorithm: v.Algorithm, Created: v.Created}, nil
}
