package schemaregistry

import "fmt"

// Compatibility levels.
const (
	LevelNone               = "NONE"
	LevelBackward           = "BACKWARD"
	LevelBackwardTransitive = "BACKWARD_TRANSITIVE"
	LevelForward            = "FORWARD"
	LevelForwardTransitive  = "FORWARD_TRANSITIVE"
	LevelFull               = "FULL"
	LevelFullTransitive     = "FULL_TRANSITIVE"
)

// Modes.
const (
	ModeReadWrite = "READWRITE"
	ModeReadOnly  = "READONLY"
	ModeImport    = "IMPORT"
)

func validLevel(l string) bool {
	switch l {
	case LevelNone, LevelBackward, LevelBackwardTransitive, LevelForward, LevelForwardTransitive, LevelFull, LevelFullTransitive:
		return true
	}
	return false
}

func validMode(m string) bool {
	return m == ModeReadWrite || m == ModeReadOnly || m == ModeImport
}

// Prior is an earlier version of a subject, for Check.
type Prior struct {
	Version int
	Schema  Parsed
}

// Check decides whether candidate may follow previous (oldest first) under
// level, with Confluent's semantics: BACKWARD — the new schema reads data
// written with the latest; FORWARD — the latest reads data written with the
// new; FULL — both; the _TRANSITIVE levels check every previous version
// instead of the latest only; NONE accepts anything. Previous versions are
// checked newest first and the first incompatible one is reported. It
// returns the reasons for incompatibility, empty when compatible.
func Check(level string, candidate Parsed, previous []Prior) []string {
	if len(previous) == 0 || level == LevelNone {
		return nil
	}
	against := previous[len(previous)-1:]
	switch level {
	case LevelBackwardTransitive, LevelForwardTransitive, LevelFullTransitive:
		against = previous
	}
	backward := level != LevelForward && level != LevelForwardTransitive
	forward := level != LevelBackward && level != LevelBackwardTransitive
	var msgs []string
	for i := len(against) - 1; i >= 0; i-- {
		old := against[i]
		if backward {
			for _, m := range candidate.CanRead(old.Schema) {
				msgs = append(msgs, fmt.Sprintf("BACKWARD: the new schema cannot read data written with version %d: %s", old.Version, m))
			}
		}
		if forward {
			for _, m := range old.Schema.CanRead(candidate) {
				msgs = append(msgs, fmt.Sprintf("FORWARD: version %d cannot read data written with the new schema: %s", old.Version, m))
			}
		}
		if len(msgs) > 0 {
			return msgs
		}
	}
	return nil
}
