package schemaregistry

import (
	"encoding/json"
	"slices"
	"sort"
)

// state is the registry's view of the _schemas topic: a deterministic
// function of the records applied so far, in offset order. Every instance
// applies the same log and so serves the same state.
//
// Conflict rule (first writer wins): a SCHEMA record that would give an id
// already used by a different schema, or a (subject, version) already
// holding another id, is ignored. All instances ignore the same records, so
// two writers racing (a stale leader during an election) can never make an
// id name two schemas; the writer whose record was ignored sees so after
// reading its own write back and retries with a fresh id (see
// Registry.register), rewriting the same key so compaction keeps the
// winner's or the retried value, never the ignored one.
//
// state is not safe for concurrent use; Registry guards it.
type state struct {
	schemas    map[int]*schemaEntry   // id → schema text and its users
	byIdentity map[string]int         // identity (type, text, references) → id
	subjects   map[string]*subjectLog // subject → versions
	configs    map[string]ConfigValue // "" is the global config
	modes      map[string]string      // "" is the global mode
	maxID      int                    // highest id ever seen (never decreases)
}

type schemaEntry struct {
	id         int
	schemaType string
	schema     string
	references []Reference
	users      map[subjectVersion]struct{}
}

type subjectVersion struct {
	subject string
	version int
}

type versionEntry struct {
	version int
	id      int
	deleted bool
}

type subjectLog struct {
	versions []*versionEntry // ascending by version
}

func newState() *state {
	return &state{
		schemas:    map[int]*schemaEntry{},
		byIdentity: map[string]int{},
		subjects:   map[string]*subjectLog{},
		configs:    map[string]ConfigValue{},
		modes:      map[string]string{},
	}
}

// identity is the dedup key of a schema: Confluent reuses an id for the
// same type, canonical text and references.
func identity(schemaType, schema string, refs []Reference) string {
	r, _ := json.Marshal(refs)
	return normType(schemaType) + "\x00" + schema + "\x00" + string(r)
}

func normType(t string) string {
	if t == "" {
		return TypeAvro
	}
	return t
}

func (s *subjectLog) find(v int) *versionEntry {
	if s == nil {
		return nil
	}
	i, ok := slices.BinarySearchFunc(s.versions, v, func(e *versionEntry, v int) int { return e.version - v })
	if !ok {
		return nil
	}
	return s.versions[i]
}

// live returns the versions not soft-deleted (all of them with deleted).
func (s *subjectLog) live(deleted bool) []*versionEntry {
	var out []*versionEntry
	if s == nil {
		return nil
	}
	for _, v := range s.versions {
		if deleted || !v.deleted {
			out = append(out, v)
		}
	}
	return out
}

// latest returns the highest live version, or nil.
func (s *subjectLog) latest() *versionEntry {
	l := s.live(false)
	if len(l) == 0 {
		return nil
	}
	return l[len(l)-1]
}

// apply folds one record into the state. A record it cannot decode is
// skipped (reported by the caller): one bad record must not stop an
// instance from serving.
func (st *state) apply(key, value []byte) error {
	k, err := DecodeKey(key)
	if err != nil {
		return err
	}
	switch k.KeyType {
	case KeySchema:
		if value == nil {
			st.removeVersion(*k.Subject, k.Version)
			return nil
		}
		var v SchemaValue
		if err := json.Unmarshal(value, &v); err != nil {
			return err
		}
		if v.Subject != *k.Subject || v.Version != k.Version || v.ID <= 0 {
			return errorf(CodeStoreError, "SCHEMA record value does not match its key")
		}
		st.putVersion(v)
	case KeyConfig:
		sub := deref(k.Subject)
		if value == nil {
			delete(st.configs, sub)
			return nil
		}
		var v ConfigValue
		if err := json.Unmarshal(value, &v); err != nil {
			return err
		}
		st.configs[sub] = v
	case KeyMode:
		sub := deref(k.Subject)
		if value == nil {
			delete(st.modes, sub)
			return nil
		}
		var v ModeValue
		if err := json.Unmarshal(value, &v); err != nil {
			return err
		}
		st.modes[sub] = v.Mode
	case KeyDeleteSubject:
		if value == nil {
			return nil
		}
		var v DeleteSubjectValue
		if err := json.Unmarshal(value, &v); err != nil {
			return err
		}
		if sl := st.subjects[v.Subject]; sl != nil {
			for _, e := range sl.versions {
				if e.version <= v.Version {
					e.deleted = true
				}
			}
		}
	case KeyClearSubject:
		// Permanent deletes are applied through the SCHEMA tombstones.
	case KeyNoop:
		if value == nil {
			return nil
		}
		var v NoopValue
		if err := json.Unmarshal(value, &v); err != nil {
			return err
		}
		st.maxID = max(st.maxID, v.MaxID)
	}
	return nil
}

func (st *state) putVersion(v SchemaValue) {
	id := identity(v.SchemaType, v.Schema, v.References)
	if e := st.schemas[v.ID]; e != nil && identity(e.schemaType, e.schema, e.references) != id {
		return // the id names another schema: first writer wins
	}
	sl := st.subjects[v.Subject]
	if sl == nil {
		sl = &subjectLog{}
		st.subjects[v.Subject] = sl
	}
	if ve := sl.find(v.Version); ve != nil {
		if ve.id != v.ID {
			return // the version holds another schema: first writer wins
		}
		ve.deleted = v.Deleted
		return
	}
	e := st.schemas[v.ID]
	if e == nil {
		e = &schemaEntry{id: v.ID, schemaType: normType(v.SchemaType), schema: v.Schema, references: v.References, users: map[subjectVersion]struct{}{}}
		st.schemas[v.ID] = e
		if _, ok := st.byIdentity[id]; !ok {
			st.byIdentity[id] = v.ID
		}
	}
	e.users[subjectVersion{v.Subject, v.Version}] = struct{}{}
	st.maxID = max(st.maxID, v.ID)
	sl.versions = append(sl.versions, &versionEntry{version: v.Version, id: v.ID, deleted: v.Deleted})
	sort.Slice(sl.versions, func(i, j int) bool { return sl.versions[i].version < sl.versions[j].version })
}

func (st *state) removeVersion(subject string, version int) {
	sl := st.subjects[subject]
	if sl == nil {
		return
	}
	ve := sl.find(version)
	if ve == nil {
		return
	}
	sl.versions = slices.DeleteFunc(sl.versions, func(e *versionEntry) bool { return e == ve })
	if len(sl.versions) == 0 {
		delete(st.subjects, subject)
	}
	if e := st.schemas[ve.id]; e != nil {
		delete(e.users, subjectVersion{subject, version})
		if len(e.users) == 0 {
			delete(st.schemas, ve.id)
			id := identity(e.schemaType, e.schema, e.references)
			if st.byIdentity[id] == ve.id {
				delete(st.byIdentity, id)
			}
		}
	}
}

// referencedBy returns the ids of live schemas whose references name
// subject/version, ascending.
func (st *state) referencedBy(subject string, version int, deleted bool) []int {
	var ids []int
	for _, e := range st.schemas {
		for _, r := range e.references {
			if r.Subject == subject && r.Version == version && st.hasLiveUser(e, deleted) {
				ids = append(ids, e.id)
				break
			}
		}
	}
	sort.Ints(ids)
	return ids
}

func (st *state) hasLiveUser(e *schemaEntry, deleted bool) bool {
	for u := range e.users {
		if ve := st.subjects[u.subject].find(u.version); ve != nil && (deleted || !ve.deleted) {
			return true
		}
	}
	return false
}
