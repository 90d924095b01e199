package schemaregistry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Log is the _schemas topic as the registry needs it: one partition,
// compacted. The Kafka implementation is KafkaLog; tests use an in-memory
// fake.
type Log interface {
	// Append writes one record (a nil value is a tombstone) and returns its
	// offset once the cluster acknowledged it (acks=all). Safe for
	// concurrent use.
	Append(ctx context.Context, key, value []byte) (int64, error)
	// EndOffset returns the offset the next record will get: every
	// acknowledged record lies below it. Safe for concurrent use.
	EndOffset(ctx context.Context) (int64, error)
	// Fetch blocks until records after those it returned before are
	// available and returns them in offset order. Only Registry.Run's
	// goroutine calls it.
	Fetch(ctx context.Context) ([]Record, error)
}

// Record is one record of the _schemas topic.
type Record struct {
	Offset     int64
	Key, Value []byte
}

// Registry is the registry's service core: it applies the _schemas topic
// to its state (Run) and answers the API's operations on it. It knows
// nothing of HTTP or of which instance is the elected writer; the HTTP
// layer forwards writes to the writer.
//
// Concurrency: Run is the only goroutine that changes st, under mu's write
// lock; readers take mu's read lock. A write operation holds writeMu for
// its whole read-decide-append-read-back sequence, so one instance never
// races itself; applied and changed (under mu) let a writer wait until its
// own record has been applied.
type Registry struct {
	log          Log
	logger       *slog.Logger
	defaultLevel string

	mu      sync.RWMutex
	st      *state
	applied int64         // offset after the last applied record
	changed chan struct{} // closed and replaced whenever applied advances

	writeMu sync.Mutex

	parsedMu sync.Mutex
	parsed   map[int]Parsed // id → parsed schema, for compatibility checks
}

// Options configure a Registry.
type Options struct {
	// DefaultCompatibility is the level used when neither the subject nor
	// the global config sets one (Confluent's default: BACKWARD).
	DefaultCompatibility string
	Logger               *slog.Logger
}

// New returns a registry over log. Call Run to start applying the log.
func New(log Log, o Options) (*Registry, error) {
	if o.DefaultCompatibility == "" {
		o.DefaultCompatibility = LevelBackward
	}
	if !validLevel(o.DefaultCompatibility) {
		return nil, fmt.Errorf("invalid compatibility level %q", o.DefaultCompatibility)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Registry{log: log, logger: o.Logger, defaultLevel: o.DefaultCompatibility,
		st: newState(), changed: make(chan struct{}), parsed: map[int]Parsed{}}, nil
}

// Run applies the log until ctx is done or the log fails.
func (r *Registry) Run(ctx context.Context) error {
	for {
		recs, err := r.log.Fetch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(recs) == 0 {
			continue
		}
		r.applyAll(recs)
	}
}

// applyAll folds fetched records into the state and wakes waiting writers.
func (r *Registry) applyAll(recs []Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range recs {
		if err := r.st.apply(rec.Key, rec.Value); err != nil {
			r.logger.Warn("skipping unreadable _schemas record", "offset", rec.Offset, "err", err)
		}
		r.applied = rec.Offset + 1
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

// waitApplied blocks until every record below off has been applied.
func (r *Registry) waitApplied(ctx context.Context, off int64) error {
	for {
		r.mu.RLock()
		done, ch := r.applied >= off, r.changed
		r.mu.RUnlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return errorf(CodeOperationTimeout, "timed out reading the _schemas topic: %v", ctx.Err())
		}
	}
}

// Sync waits until every record acknowledged before the call has been
// applied: reads after it see every earlier write of any instance.
func (r *Registry) Sync(ctx context.Context) error {
	end, err := r.log.EndOffset(ctx)
	if err != nil {
		return errorf(CodeStoreError, "reading the end of the _schemas topic: %v", err)
	}
	return r.waitApplied(ctx, end)
}

// append writes one record and waits until it has been applied.
func (r *Registry) append(ctx context.Context, key RecordKey, value any) error {
	var v []byte
	if value != nil {
		var err error
		if v, err = json.Marshal(value); err != nil {
			return err
		}
	}
	off, err := r.log.Append(ctx, key.Encode(), v)
	if err != nil {
		return errorf(CodeStoreError, "writing to the _schemas topic: %v", err)
	}
	return r.waitApplied(ctx, off+1)
}

// RegisterRequest is the body of register, lookup and compatibility calls.
type RegisterRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	ID         int         `json:"id,omitempty"`
	Version    int         `json:"version,omitempty"`
}

// SubjectSchema is one version of a subject as the API returns it.
type SubjectSchema struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	Deleted    bool        `json:"deleted,omitempty"`
}

// SchemaInfo is a schema by id as the API returns it.
type SchemaInfo struct {
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	MaxID      *int        `json:"maxId,omitempty"`
}

// SubjectVersion names one version of a subject.
type SubjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

func apiType(t string) string {
	if t == TypeAvro {
		return ""
	}
	return t
}

func (r *Registry) subjectSchema(subject string, ve *versionEntry) SubjectSchema {
	e := r.st.schemas[ve.id]
	return SubjectSchema{Subject: subject, Version: ve.version, ID: ve.id, SchemaType: apiType(e.schemaType),
		References: e.references, Schema: e.schema, Deleted: ve.deleted}
}

// ParseVersion parses a {version} path element: a positive 32-bit number,
// "latest" or -1 (latest, returned as -1).
func ParseVersion(s string) (int, error) {
	if s == "latest" || s == "-1" {
		return -1, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 || v > math.MaxInt32 {
		return 0, errInvalidVersion(s)
	}
	return v, nil
}

// ParseID parses an {id} path element.
func ParseID(s string) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 || v > math.MaxInt32 {
		return 0, errSchemaNotFound(s)
	}
	return v, nil
}

// findVersion resolves a parsed version in subject; callers hold mu.
func (r *Registry) findVersion(subject string, version int, deleted bool) (*versionEntry, error) {
	sl := r.st.subjects[subject]
	if len(sl.live(deleted)) == 0 {
		return nil, errSubjectNotFound(subject)
	}
	if version == -1 {
		if deleted {
			l := sl.live(true)
			return l[len(l)-1], nil
		}
		return sl.latest(), nil
	}
	ve := sl.find(version)
	if ve == nil || (ve.deleted && !deleted) {
		return nil, errVersionNotFound(version)
	}
	return ve, nil
}

// SchemaByID returns the schema with id.
func (r *Registry) SchemaByID(id int, fetchMaxID bool) (SchemaInfo, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e := r.st.schemas[id]
	if e == nil {
		return SchemaInfo{}, errSchemaNotFound(strconv.Itoa(id))
	}
	out := SchemaInfo{SchemaType: apiType(e.schemaType), References: e.references, Schema: e.schema}
	if fetchMaxID {
		m := r.st.maxID
		out.MaxID = &m
	}
	return out, nil
}

// VersionsByID returns the subject versions using schema id, sorted.
func (r *Registry) VersionsByID(id int, deleted bool) ([]SubjectVersion, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e := r.st.schemas[id]
	if e == nil {
		return nil, errSchemaNotFound(strconv.Itoa(id))
	}
	out := []SubjectVersion{}
	for u := range e.users {
		if ve := r.st.subjects[u.subject].find(u.version); ve != nil && (deleted || !ve.deleted) {
			out = append(out, SubjectVersion{u.subject, u.version})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Subject != out[j].Subject {
			return out[i].Subject < out[j].Subject
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}

// SubjectsByID returns the subjects using schema id, sorted.
func (r *Registry) SubjectsByID(id int, deleted bool) ([]string, error) {
	vs, err := r.VersionsByID(id, deleted)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, v := range vs {
		if len(out) == 0 || out[len(out)-1] != v.Subject {
			out = append(out, v.Subject)
		}
	}
	return out, nil
}

// Subjects lists subjects with at least one live version (or, with
// deleted, any version; with deletedOnly, only soft-deleted subjects),
// sorted.
func (r *Registry) Subjects(prefix string, deleted, deletedOnly bool) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := []string{}
	for s, sl := range r.st.subjects {
		if !strings.HasPrefix(s, prefix) {
			continue
		}
		live := len(sl.live(false)) > 0
		switch {
		case deletedOnly:
			// A soft-deleted subject: versions left, none of them live.
			if !live && len(sl.live(true)) > 0 {
				out = append(out, s)
			}
		case live || deleted:
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// Schemas lists the versions of the subjects with prefix (only each
// subject's latest with latestOnly), by subject then version.
func (r *Registry) Schemas(prefix string, deleted, latestOnly bool) []SubjectSchema {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var subjects []string
	for s := range r.st.subjects {
		if strings.HasPrefix(s, prefix) {
			subjects = append(subjects, s)
		}
	}
	sort.Strings(subjects)
	out := []SubjectSchema{}
	for _, s := range subjects {
		vs := r.st.subjects[s].live(deleted)
		if latestOnly && len(vs) > 0 {
			vs = vs[len(vs)-1:]
		}
		for _, ve := range vs {
			out = append(out, r.subjectSchema(s, ve))
		}
	}
	return out
}

// Versions lists a subject's version numbers; with deletedAsNegative (and
// deleted) soft-deleted versions are listed negated.
func (r *Registry) Versions(subject string, deleted, deletedOnly, deletedAsNegative bool) ([]int, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	sl := r.st.subjects[subject]
	all := sl.live(true)
	if len(all) == 0 || (!deleted && !deletedOnly && len(sl.live(false)) == 0) {
		return nil, errSubjectNotFound(subject)
	}
	out := []int{}
	for _, v := range all {
		if deletedOnly && !v.deleted || !deleted && !deletedOnly && v.deleted {
			continue
		}
		if v.deleted && deleted && deletedAsNegative {
			out = append(out, -v.version)
		} else {
			out = append(out, v.version)
		}
	}
	return out, nil
}

// Version returns one version of a subject.
func (r *Registry) Version(subject string, version int, deleted bool) (SubjectSchema, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ve, err := r.findVersion(subject, version, deleted)
	if err != nil {
		return SubjectSchema{}, err
	}
	return r.subjectSchema(subject, ve), nil
}

// ReferencedBy returns the ids of schemas that reference subject/version.
func (r *Registry) ReferencedBy(subject string, version int, deleted bool) ([]int, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ve, err := r.findVersion(subject, version, true)
	if err != nil {
		return nil, err
	}
	ids := r.st.referencedBy(subject, ve.version, deleted)
	if ids == nil {
		ids = []int{}
	}
	return ids, nil
}

// dependencies resolves refs (and theirs, depth first) to schema texts in
// dependency order; callers hold mu.
func (r *Registry) dependencies(refs []Reference) ([]Dependency, error) {
	var out []Dependency
	seen := map[int]bool{}
	var walk func(refs []Reference, depth int) error
	walk = func(refs []Reference, depth int) error {
		if depth > 32 {
			return errorf(CodeInvalidSchema, "Invalid schema: references nested too deeply")
		}
		for _, ref := range refs {
			if ref.Name == "" || ref.Subject == "" {
				return errorf(CodeInvalidSchema, "Invalid schema: a reference needs a name and a subject")
			}
			v := ref.Version
			if v == 0 {
				v = -1
			}
			ve, err := r.findVersion(ref.Subject, v, true)
			if err != nil {
				return errorf(CodeInvalidSchema, "Invalid schema: reference %s (subject %s version %d) not found", ref.Name, ref.Subject, ref.Version)
			}
			if seen[ve.id] {
				continue
			}
			seen[ve.id] = true
			e := r.st.schemas[ve.id]
			if err := walk(e.references, depth+1); err != nil {
				return err
			}
			out = append(out, Dependency{Name: ref.Name, Schema: e.schema})
		}
		return nil
	}
	return out, walk(refs, 0)
}

// parse validates a request's schema against the current state; callers
// hold mu.
func (r *Registry) parse(req RegisterRequest) (Parsed, error) {
	if strings.TrimSpace(req.Schema) == "" {
		return nil, errorf(CodeInvalidSchema, "Empty schema")
	}
	f, err := formatOf(req.SchemaType)
	if err != nil {
		return nil, err
	}
	deps, err := r.dependencies(req.References)
	if err != nil {
		return nil, err
	}
	return f.Parse(req.Schema, deps)
}

// parsedByID returns schema id parsed, from the cache when possible;
// callers hold mu.
func (r *Registry) parsedByID(id int) (Parsed, error) {
	r.parsedMu.Lock()
	p, ok := r.parsed[id]
	r.parsedMu.Unlock()
	if ok {
		return p, nil
	}
	e := r.st.schemas[id]
	if e == nil {
		return nil, errSchemaNotFound(strconv.Itoa(id))
	}
	p, err := r.parse(RegisterRequest{Schema: e.schema, SchemaType: e.schemaType, References: e.references})
	if err != nil {
		return nil, err
	}
	r.parsedMu.Lock()
	r.parsed[id] = p
	r.parsedMu.Unlock()
	return p, nil
}

// priors returns a subject's live versions parsed, oldest first; callers
// hold mu.
func (r *Registry) priors(subject string, upTo int) ([]Prior, error) {
	var out []Prior
	for _, ve := range r.st.subjects[subject].live(false) {
		if upTo > 0 && ve.version != upTo {
			continue
		}
		p, err := r.parsedByID(ve.id)
		if err != nil {
			return nil, fmt.Errorf("stored schema %d of %s version %d: %w", ve.id, subject, ve.version, err)
		}
		out = append(out, Prior{ve.version, p})
	}
	return out, nil
}

// Lookup finds the version of subject holding the request's schema.
func (r *Registry) Lookup(subject string, req RegisterRequest, deleted bool) (SubjectSchema, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	sl := r.st.subjects[subject]
	if len(sl.live(deleted)) == 0 {
		return SubjectSchema{}, errSubjectNotFound(subject)
	}
	p, err := r.parse(req)
	if err != nil {
		return SubjectSchema{}, err
	}
	if ve := r.findIdentity(subject, normType(req.SchemaType), p.Canonical(), req.References, deleted); ve != nil {
		return r.subjectSchema(subject, ve), nil
	}
	return SubjectSchema{}, errorf(CodeSchemaNotFound, "Schema not found")
}

// findIdentity returns the newest version of subject holding the schema;
// callers hold mu.
func (r *Registry) findIdentity(subject, schemaType, canonical string, refs []Reference, deleted bool) *versionEntry {
	id, ok := r.st.byIdentity[identity(schemaType, canonical, refs)]
	if !ok {
		return nil
	}
	l := r.st.subjects[subject].live(deleted)
	for i := len(l) - 1; i >= 0; i-- {
		if l[i].id == id {
			return l[i]
		}
	}
	return nil
}

// config returns the effective config of subject; callers hold mu.
func (r *Registry) config(subject string) ConfigValue {
	if c, ok := r.st.configs[subject]; ok && c.CompatibilityLevel != "" {
		return c
	}
	if c, ok := r.st.configs[""]; ok && c.CompatibilityLevel != "" {
		return c
	}
	return ConfigValue{CompatibilityLevel: r.defaultLevel}
}

// mode returns the effective mode of subject; callers hold mu.
func (r *Registry) mode(subject string) string {
	if m, ok := r.st.modes[subject]; ok {
		return m
	}
	if m, ok := r.st.modes[""]; ok {
		return m
	}
	return ModeReadWrite
}

// validSubject refuses subject names that cannot be stored faithfully:
// the _schemas records are JSON, which has no invalid UTF-8, and control
// characters have no business in a name.
func validSubject(subject string) error {
	if !utf8.ValidString(subject) || strings.TrimSpace(subject) == "" || strings.ContainsFunc(subject, unicode.IsControl) {
		return errorf(CodeInvalidSubject, "The specified subject is not a valid subject name")
	}
	return nil
}

func (r *Registry) checkWritable(subject string) error {
	if subject != "" {
		if err := validSubject(subject); err != nil {
			return err
		}
	}
	if r.mode(subject) == ModeReadOnly {
		return errorf(CodeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	}
	return nil
}

// Register adds the request's schema to subject (or returns the version
// already holding it) and returns the version.
func (r *Registry) Register(ctx context.Context, subject string, req RegisterRequest) (SubjectSchema, error) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if err := r.Sync(ctx); err != nil {
		return SubjectSchema{}, err
	}
	for attempt := 0; ; attempt++ {
		value, existing, err := r.planRegister(subject, req)
		if err != nil || existing != nil {
			if existing != nil {
				return *existing, nil
			}
			return SubjectSchema{}, err
		}
		key := RecordKey{KeyType: KeySchema, Subject: &subject, Version: value.Version}
		if err := r.append(ctx, key, value); err != nil {
			return SubjectSchema{}, err
		}
		won, repair := r.outcome(value)
		if won {
			r.logger.Info("schema registered", "subject", subject, "version", value.Version, "id", value.ID)
			return SubjectSchema{Subject: subject, Version: value.Version, ID: value.ID, SchemaType: apiType(value.SchemaType),
				References: value.References, Schema: value.Schema}, nil
		}
		// Another writer claimed the id or the version first. Supersede our
		// ignored record at its key (with the winner's value, or a
		// tombstone) so compaction can never resurrect it, then plan again.
		r.logger.Warn("schema write lost to a concurrent writer, retrying", "subject", subject, "version", value.Version, "id", value.ID)
		if err := r.append(ctx, key, repair); err != nil {
			return SubjectSchema{}, err
		}
		if attempt >= 5 {
			return SubjectSchema{}, errorf(CodeStoreError, "registering under %s kept conflicting with another writer", subject)
		}
	}
}

// outcome reports whether the SCHEMA record value was applied, and if
// not, what to write at its key to supersede it: the value the key holds
// now, or nil (a tombstone).
func (r *Registry) outcome(value *SchemaValue) (bool, any) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ve := r.st.subjects[value.Subject].find(value.Version)
	if ve == nil {
		return false, nil
	}
	if ve.id == value.ID {
		return true, nil
	}
	e := r.st.schemas[ve.id]
	return false, &SchemaValue{Subject: value.Subject, Version: ve.version, ID: ve.id, SchemaType: apiType(e.schemaType),
		References: e.references, Schema: e.schema, Deleted: ve.deleted}
}

// planRegister decides what Register writes: the value of a new SCHEMA
// record, or the existing version already holding the schema.
func (r *Registry) planRegister(subject string, req RegisterRequest) (*SchemaValue, *SubjectSchema, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if err := r.checkWritable(subject); err != nil {
		return nil, nil, err
	}
	p, err := r.parse(req)
	if err != nil {
		return nil, nil, err
	}
	typ := normType(req.SchemaType)
	canonical := p.Canonical()
	importing := r.mode(subject) == ModeImport
	if !importing {
		if ve := r.findIdentity(subject, typ, canonical, req.References, false); ve != nil {
			s := r.subjectSchema(subject, ve)
			return nil, &s, nil
		}
		priors, err := r.priors(subject, 0)
		if err != nil {
			return nil, nil, err
		}
		level := r.config(subject).CompatibilityLevel
		if msgs := Check(level, p, priors); len(msgs) > 0 {
			return nil, nil, &Error{Code: CodeIncompatible, Message: fmt.Sprintf(
				"Schema being registered is incompatible with an earlier schema for subject \"%s\", details: [%s]", subject, strings.Join(msgs, ", "))}
		}
	}
	id, known := r.st.byIdentity[identity(typ, canonical, req.References)]
	if !known {
		id = r.st.maxID + 1
	}
	version := 1
	if l := r.st.subjects[subject].live(true); len(l) > 0 {
		version = l[len(l)-1].version + 1
	}
	if importing {
		if req.ID > 0 {
			if known && req.ID != id || !known && r.st.schemas[req.ID] != nil {
				return nil, nil, errorf(CodeIDMismatch, "Schema already registered with id %d instead of input id %d", id, req.ID)
			}
			id = req.ID
		}
		if req.Version > 0 {
			if ve := r.st.subjects[subject].find(req.Version); ve != nil {
				if ve.id == id {
					s := r.subjectSchema(subject, ve)
					return nil, &s, nil
				}
				return nil, nil, errorf(CodeIDMismatch, "Version %d of subject %s already holds schema %d", req.Version, subject, ve.id)
			}
			version = req.Version
		}
	}
	return &SchemaValue{Subject: subject, Version: version, ID: id, SchemaType: apiType(typ), References: req.References,
		Schema: canonical}, nil, nil
}

// CheckCompatibility tests the request's schema against subject's version
// (or, with version 0, the versions the subject's level requires).
func (r *Registry) CheckCompatibility(subject string, version int, req RegisterRequest) ([]string, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, err := r.parse(req)
	if err != nil {
		return nil, err
	}
	level := r.config(subject).CompatibilityLevel
	if version == 0 {
		priors, err := r.priors(subject, 0)
		if err != nil {
			return nil, err
		}
		return Check(level, p, priors), nil
	}
	ve, err := r.findVersion(subject, version, false)
	if err != nil {
		return nil, err
	}
	priors, err := r.priors(subject, ve.version)
	if err != nil {
		return nil, err
	}
	return Check(level, p, priors), nil
}

// DeleteVersion soft-deletes one version, or with permanent removes an
// already soft-deleted one. It returns the version number.
func (r *Registry) DeleteVersion(ctx context.Context, subject string, version int, permanent bool) (int, error) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if err := r.Sync(ctx); err != nil {
		return 0, err
	}
	value, maxID, err := r.planDeleteVersion(subject, version, permanent)
	if err != nil {
		return 0, err
	}
	key := RecordKey{KeyType: KeySchema, Subject: &subject, Version: value.Version}
	if permanent {
		if err := r.append(ctx, RecordKey{KeyType: KeyNoop}, NoopValue{MaxID: maxID}); err != nil {
			return 0, err
		}
		if err := r.append(ctx, key, nil); err != nil {
			return 0, err
		}
		r.dropSubjectSettingsIfGone(ctx, subject)
	} else if err := r.append(ctx, key, value); err != nil {
		return 0, err
	}
	r.logger.Info("schema version deleted", "subject", subject, "version", value.Version, "permanent", permanent)
	return value.Version, nil
}

// planDeleteVersion checks a version delete and returns the value a soft
// delete writes and the id high-water mark.
func (r *Registry) planDeleteVersion(subject string, version int, permanent bool) (SchemaValue, int, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	err := r.checkWritable(subject)
	var ve *versionEntry
	if err == nil {
		// Soft-deleting "latest" means the latest live version.
		ve, err = r.findVersion(subject, version, version != -1 || permanent)
	}
	var value SchemaValue
	var maxID int
	if err == nil {
		switch {
		case !permanent && ve.deleted:
			err = errorf(CodeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", subject, ve.version)
		case permanent && !ve.deleted:
			err = errorf(CodeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, ve.version)
		case len(r.st.referencedBy(subject, ve.version, false)) > 0:
			err = errorf(CodeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}", subject, ve.version)
		}
		if err == nil {
			e := r.st.schemas[ve.id]
			value = SchemaValue{Subject: subject, Version: ve.version, ID: ve.id, SchemaType: apiType(e.schemaType), References: e.references, Schema: e.schema, Deleted: true}
			maxID = r.st.maxID
		}
	}
	return value, maxID, err
}

// DeleteSubject soft-deletes every version of subject, or with permanent
// removes a subject whose versions are all soft-deleted. It returns the
// versions deleted.
func (r *Registry) DeleteSubject(ctx context.Context, subject string, permanent bool) ([]int, error) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if err := r.Sync(ctx); err != nil {
		return nil, err
	}
	versions, last, maxID, err := r.planDeleteSubject(subject, permanent)
	if err != nil {
		return nil, err
	}
	if permanent {
		if err := r.append(ctx, RecordKey{KeyType: KeyNoop}, NoopValue{MaxID: maxID}); err != nil {
			return nil, err
		}
		for _, v := range versions {
			if err := r.append(ctx, RecordKey{KeyType: KeySchema, Subject: &subject, Version: v}, nil); err != nil {
				return nil, err
			}
		}
		if err := r.append(ctx, RecordKey{KeyType: KeyDeleteSubject, Subject: &subject}, nil); err != nil {
			return nil, err
		}
		r.dropSubjectSettingsIfGone(ctx, subject)
	} else if err := r.append(ctx, RecordKey{KeyType: KeyDeleteSubject, Subject: &subject},
		DeleteSubjectValue{Subject: subject, Version: last}); err != nil {
		return nil, err
	}
	r.logger.Info("subject deleted", "subject", subject, "permanent", permanent)
	return versions, nil
}

// planDeleteSubject checks a subject delete and returns the versions it
// deletes, the subject's last version and the id high-water mark.
func (r *Registry) planDeleteSubject(subject string, permanent bool) ([]int, int, int, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	err := r.checkWritable(subject)
	sl := r.st.subjects[subject]
	all, live := sl.live(true), sl.live(false)
	var versions []int
	maxID := r.st.maxID
	if err == nil {
		switch {
		case len(all) == 0:
			err = errSubjectNotFound(subject)
		case !permanent && len(live) == 0:
			err = errorf(CodeSubjectSoftDeleted, "Subject '%s' was soft deleted. Set permanent=true to delete permanently", subject)
		case permanent && len(live) > 0:
			err = errorf(CodeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subject)
		}
	}
	if err == nil {
		for _, ve := range all {
			if len(r.st.referencedBy(subject, ve.version, false)) > 0 {
				err = errorf(CodeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}", subject, ve.version)
				break
			}
			if permanent || !ve.deleted {
				versions = append(versions, ve.version)
			}
		}
	}
	last := 0
	if len(all) > 0 {
		last = all[len(all)-1].version
	}
	return versions, last, maxID, err
}

// dropSubjectSettingsIfGone removes a subject's config and mode once its
// last version is gone, as Confluent does. Failures only leave settings
// behind, so they are logged.
func (r *Registry) dropSubjectSettingsIfGone(ctx context.Context, subject string) {
	r.mu.RLock()
	_, gone := r.st.subjects[subject]
	gone = !gone
	_, hasConfig := r.st.configs[subject]
	_, hasMode := r.st.modes[subject]
	r.mu.RUnlock()
	if !gone {
		return
	}
	for kt, has := range map[string]bool{KeyConfig: hasConfig, KeyMode: hasMode} {
		if has {
			if err := r.append(ctx, RecordKey{KeyType: kt, Subject: &subject}, nil); err != nil {
				r.logger.Warn("removing deleted subject's setting", "subject", subject, "keytype", kt, "err", err)
			}
		}
	}
}

func subjectKey(kt, subject string) RecordKey {
	k := RecordKey{KeyType: kt}
	if subject != "" {
		k.Subject = &subject
	}
	return k
}

// Config returns subject's config ("" for global). Without
// defaultToGlobal a subject with no config of its own is 40408.
func (r *Registry) Config(subject string, defaultToGlobal bool) (ConfigValue, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if subject == "" || defaultToGlobal {
		return r.config(subject), nil
	}
	c, ok := r.st.configs[subject]
	if !ok {
		return ConfigValue{}, errorf(CodeSubjectConfigNotFound, "Subject '%s' does not have subject-level compatibility configured", subject)
	}
	return c, nil
}

// SetConfig sets subject's ("" global) compatibility level.
func (r *Registry) SetConfig(ctx context.Context, subject string, c ConfigValue) error {
	if subject != "" {
		if err := validSubject(subject); err != nil {
			return err
		}
	}
	if !validLevel(c.CompatibilityLevel) {
		return errorf(CodeInvalidCompatibilityLevel, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	return r.append(ctx, subjectKey(KeyConfig, subject), c)
}

// DeleteConfig removes subject's ("" global) config and returns the
// previous effective one.
func (r *Registry) DeleteConfig(ctx context.Context, subject string) (ConfigValue, error) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if err := r.Sync(ctx); err != nil {
		return ConfigValue{}, err
	}
	r.mu.RLock()
	prev := r.config(subject)
	_, has := r.st.configs[subject]
	_, exists := r.st.subjects[subject]
	r.mu.RUnlock()
	if subject != "" && !has && !exists {
		return ConfigValue{}, errSubjectNotFound(subject)
	}
	return prev, r.append(ctx, subjectKey(KeyConfig, subject), nil)
}

// Mode returns subject's ("" global) mode. Without defaultToGlobal a
// subject with no mode of its own is 40409.
func (r *Registry) Mode(subject string, defaultToGlobal bool) (string, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if subject == "" || defaultToGlobal {
		return r.mode(subject), nil
	}
	m, ok := r.st.modes[subject]
	if !ok {
		return "", errorf(CodeSubjectModeNotFound, "Subject '%s' does not have subject-level mode configured", subject)
	}
	return m, nil
}

// SetMode sets subject's ("" global) mode. IMPORT requires no schemas in
// scope unless force.
func (r *Registry) SetMode(ctx context.Context, subject, mode string, force bool) error {
	if subject != "" {
		if err := validSubject(subject); err != nil {
			return err
		}
	}
	if !validMode(mode) {
		return errorf(CodeInvalidMode, "Invalid mode. Valid values are READWRITE, READONLY and IMPORT")
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if err := r.Sync(ctx); err != nil {
		return err
	}
	if mode == ModeImport && !force {
		r.mu.RLock()
		nonEmpty := false
		for s, sl := range r.st.subjects {
			if (subject == "" || s == subject) && len(sl.live(true)) > 0 {
				nonEmpty = true
			}
		}
		r.mu.RUnlock()
		if nonEmpty {
			return errorf(CodeOperationNotPermitted, "Cannot import since found existing subjects")
		}
	}
	return r.append(ctx, subjectKey(KeyMode, subject), ModeValue{Mode: mode})
}

// DeleteMode removes subject's mode and returns the previous effective one.
func (r *Registry) DeleteMode(ctx context.Context, subject string) (string, error) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if err := r.Sync(ctx); err != nil {
		return "", err
	}
	r.mu.RLock()
	prev := r.mode(subject)
	_, has := r.st.modes[subject]
	_, exists := r.st.subjects[subject]
	r.mu.RUnlock()
	if subject != "" && !has && !exists {
		return "", errSubjectNotFound(subject)
	}
	return prev, r.append(ctx, subjectKey(KeyMode, subject), nil)
}

// IsNotFound reports whether err is one of the 404 conditions.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && wire[e.Code].status == 404
}
