package metadata

import (
	"crypto/rand"
	"encoding/base64"
)

// NewClusterID returns a random id in Kafka's format (22 chars of base64url).
func NewClusterID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// NewTopicID returns a random non-zero topic id.
func NewTopicID() [16]byte {
	var b [16]byte
	for b == [16]byte{} {
		rand.Read(b[:])
	}
	return b
}
