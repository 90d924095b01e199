package schemaregistry

import (
	"encoding/json"
	"fmt"
)

// The _schemas topic holds Confluent's record formats: a JSON key naming
// what the record is about (keytype) and a JSON value, so a Confluent
// registry pointed at the same topic reads the same state. Key field order
// is fixed (keytype first, magic last) because compaction compares key
// bytes: the same logical key must always encode to the same bytes.

// Key types of the _schemas topic.
const (
	KeySchema        = "SCHEMA"
	KeyConfig        = "CONFIG"
	KeyMode          = "MODE"
	KeyDeleteSubject = "DELETE_SUBJECT"
	KeyClearSubject  = "CLEAR_SUBJECT"
	KeyNoop          = "NOOP"
)

// RecordKey is a _schemas key. Subject is a pointer because CONFIG and MODE
// keys for the global setting carry "subject":null.
type RecordKey struct {
	KeyType string
	Subject *string
	Version int
}

type schemaKeyJSON struct {
	KeyType string `json:"keytype"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
	Magic   int    `json:"magic"`
}

type subjectKeyJSON struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject"`
	Magic   int     `json:"magic"`
}

type noopKeyJSON struct {
	KeyType string `json:"keytype"`
	Magic   int    `json:"magic"`
}

// Encode returns the key's bytes in Confluent's field order.
func (k RecordKey) Encode() []byte {
	var b []byte
	switch k.KeyType {
	case KeySchema:
		b, _ = json.Marshal(schemaKeyJSON{KeySchema, deref(k.Subject), k.Version, 1})
	case KeyNoop:
		b, _ = json.Marshal(noopKeyJSON{KeyNoop, 0})
	default:
		b, _ = json.Marshal(subjectKeyJSON{k.KeyType, k.Subject, 0})
	}
	return b
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// DecodeKey parses a _schemas key. Unknown key types decode without error
// (the caller skips them): newer registries write kinds we do not serve.
func DecodeKey(b []byte) (RecordKey, error) {
	var raw struct {
		KeyType string  `json:"keytype"`
		Subject *string `json:"subject"`
		Version *int    `json:"version"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return RecordKey{}, fmt.Errorf("_schemas key: %w", err)
	}
	if raw.KeyType == "" {
		return RecordKey{}, fmt.Errorf("_schemas key without keytype")
	}
	k := RecordKey{KeyType: raw.KeyType, Subject: raw.Subject}
	if raw.Version != nil {
		k.Version = *raw.Version
	}
	if k.KeyType == KeySchema && (k.Subject == nil || k.Version <= 0) {
		return RecordKey{}, fmt.Errorf("_schemas SCHEMA key needs a subject and a positive version")
	}
	return k, nil
}

// Reference names another registered schema a schema depends on: Avro by
// the named type's full name, JSON Schema by $ref URL, Protobuf by import
// path.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// SchemaValue is the value of a SCHEMA record: one version of a subject.
type SchemaValue struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	Deleted    bool        `json:"deleted"`
}

// ConfigValue is the value of a CONFIG record.
type ConfigValue struct {
	CompatibilityLevel string `json:"compatibilityLevel,omitempty"`
	Normalize          *bool  `json:"normalize,omitempty"`
}

// ModeValue is the value of a MODE record.
type ModeValue struct {
	Mode string `json:"mode"`
}

// DeleteSubjectValue is the value of a DELETE_SUBJECT record: every version
// up to Version is soft-deleted.
type DeleteSubjectValue struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// NoopValue is the value Tributary gives NOOP records (Confluent writes
// null): the highest schema id ever handed out. Permanent deletes write it
// first, so ids stay unique after compaction drops the deleted schemas.
type NoopValue struct {
	MaxID int `json:"maxId"`
}
