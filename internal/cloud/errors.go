package cloud

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a request the service refuses. Kind picks the HTTP status and
// the DigitalOcean error id at the edge (httpStatus); Message is shown to
// the caller as it is.
type Error struct {
	Kind    Kind
	Message string
}

func (e *Error) Error() string { return e.Message }

// Kind classifies refusals; one table (kinds) maps each to its HTTP status
// and DigitalOcean's error id.
type Kind int

const (
	KindBadRequest   Kind = iota // malformed body or parameter
	KindInvalid                  // well-formed but not acceptable (unknown size, out of range)
	KindNotFound                 // no such cluster or topic
	KindConflict                 // duplicate name, another operation in progress
	KindUnauthorized             // missing or unknown token
	KindForbidden                // token lacks the scope
	KindTooLarge                 // body over the limit
	KindUnavailable              // the cluster cannot answer now
)

var kinds = map[Kind]struct {
	status int
	id     string
}{
	KindBadRequest:   {http.StatusBadRequest, "bad_request"},
	KindInvalid:      {http.StatusUnprocessableEntity, "unprocessable_entity"},
	KindNotFound:     {http.StatusNotFound, "not_found"},
	KindConflict:     {http.StatusConflict, "conflict"},
	KindUnauthorized: {http.StatusUnauthorized, "unauthorized"},
	KindForbidden:    {http.StatusForbidden, "forbidden"},
	KindTooLarge:     {http.StatusRequestEntityTooLarge, "request_entity_too_large"},
	KindUnavailable:  {http.StatusServiceUnavailable, "service_unavailable"},
}

func errorf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// httpStatus maps an error to its status and DigitalOcean error id; any
// error that is not an *Error is an internal error.
func httpStatus(err error) (int, string) {
	var e *Error
	if errors.As(err, &e) {
		if k, ok := kinds[e.Kind]; ok {
			return k.status, k.id
		}
	}
	return http.StatusInternalServerError, "server_error"
}

// errNoRow is returned by Store lookups for a missing row.
var errNoRow = errors.New("not found")

// errDeletionProtected is a delete of a cluster with deletion protection.
var errDeletionProtected = errorf(KindInvalid, "the database cluster has deletion protection: turn it off first (PUT /v2/databases/{id}/deletion_protection, or trib cloud databases deletion-protection ID off)")
