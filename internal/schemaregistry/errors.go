package schemaregistry

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is one of the registry's documented error conditions. The core
// returns *Error values carrying a Code; the HTTP layer answers with the
// status and error_code the table below gives (Confluent's Errors.java
// numbering). A new condition is a new row here, never a literal elsewhere.
type Code int

const (
	CodeSubjectNotFound           Code = iota + 1 // 404 40401
	CodeVersionNotFound                           // 404 40402
	CodeSchemaNotFound                            // 404 40403
	CodeSubjectSoftDeleted                        // 404 40404
	CodeSubjectNotSoftDeleted                     // 404 40405
	CodeVersionSoftDeleted                        // 404 40406
	CodeVersionNotSoftDeleted                     // 404 40407
	CodeSubjectConfigNotFound                     // 404 40408
	CodeSubjectModeNotFound                       // 404 40409
	CodeIncompatible                              // 409 409
	CodeInvalidSchema                             // 422 42201
	CodeInvalidVersion                            // 422 42202
	CodeInvalidCompatibilityLevel                 // 422 42203
	CodeInvalidMode                               // 422 42204
	CodeOperationNotPermitted                     // 422 42205
	CodeReferenceExists                           // 422 42206
	CodeIDMismatch                                // 422 42207
	CodeInvalidSubject                            // 422 42208
	CodeStoreError                                // 500 50001
	CodeOperationTimeout                          // 500 50002
	CodeForwardingFailed                          // 500 50003
	CodeUnknownLeader                             // 500 50004
	CodeBadRequest                                // 400 400 (malformed request body)
	CodeNotFound                                  // 404 404 (no such endpoint)
	CodeMethodNotAllowed                          // 405 405
)

// wire is the HTTP status and error_code of each Code.
var wire = map[Code]struct{ status, code int }{
	CodeSubjectNotFound:           {http.StatusNotFound, 40401},
	CodeVersionNotFound:           {http.StatusNotFound, 40402},
	CodeSchemaNotFound:            {http.StatusNotFound, 40403},
	CodeSubjectSoftDeleted:        {http.StatusNotFound, 40404},
	CodeSubjectNotSoftDeleted:     {http.StatusNotFound, 40405},
	CodeVersionSoftDeleted:        {http.StatusNotFound, 40406},
	CodeVersionNotSoftDeleted:     {http.StatusNotFound, 40407},
	CodeSubjectConfigNotFound:     {http.StatusNotFound, 40408},
	CodeSubjectModeNotFound:       {http.StatusNotFound, 40409},
	CodeIncompatible:              {http.StatusConflict, 409},
	CodeInvalidSchema:             {http.StatusUnprocessableEntity, 42201},
	CodeInvalidVersion:            {http.StatusUnprocessableEntity, 42202},
	CodeInvalidCompatibilityLevel: {http.StatusUnprocessableEntity, 42203},
	CodeInvalidMode:               {http.StatusUnprocessableEntity, 42204},
	CodeOperationNotPermitted:     {http.StatusUnprocessableEntity, 42205},
	CodeReferenceExists:           {http.StatusUnprocessableEntity, 42206},
	CodeIDMismatch:                {http.StatusUnprocessableEntity, 42207},
	CodeInvalidSubject:            {http.StatusUnprocessableEntity, 42208},
	CodeStoreError:                {http.StatusInternalServerError, 50001},
	CodeOperationTimeout:          {http.StatusInternalServerError, 50002},
	CodeForwardingFailed:          {http.StatusInternalServerError, 50003},
	CodeUnknownLeader:             {http.StatusInternalServerError, 50004},
	CodeBadRequest:                {http.StatusBadRequest, 400},
	CodeNotFound:                  {http.StatusNotFound, 404},
	CodeMethodNotAllowed:          {http.StatusMethodNotAllowed, 405},
}

// Error is a registry error with its condition and the message the client
// sees.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Message }

func errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// The messages follow Confluent's wording where clients or people match on it.
func errSubjectNotFound(s string) *Error {
	return errorf(CodeSubjectNotFound, "Subject '%s' not found.", s)
}
func errVersionNotFound(v int) *Error { return errorf(CodeVersionNotFound, "Version %d not found.", v) }
func errSchemaNotFound(what string) *Error {
	return errorf(CodeSchemaNotFound, "Schema %s not found", what)
}
func errInvalidVersion(v string) *Error {
	return errorf(CodeInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)
}

// HTTPStatus returns the HTTP status and error_code for err: the table's row
// for an *Error, 50001 for anything else (a store failure).
func HTTPStatus(err error) (status, code int) {
	var e *Error
	if errors.As(err, &e) {
		if w, ok := wire[e.Code]; ok {
			return w.status, w.code
		}
	}
	return http.StatusInternalServerError, 50001
}
