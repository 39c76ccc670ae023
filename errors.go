// Package tickstock holds the few types every layer shares, chiefly the app error, so
// domain packages can say "invalid" or "not found" without knowing about HTTP.
package tickstock

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP layer maps them to status codes in one place.
const (
	EINVALID      = "invalid"      // validation failed: 422
	EBADREQUEST   = "bad_request"  // malformed input: 400
	EUNAUTHORIZED = "unauthorized" // no or bad credentials: 401
	EFORBIDDEN    = "forbidden"    // signed in but not allowed: 403
	ENOTFOUND     = "not_found"    // 404
	ECONFLICT     = "conflict"     // 409
	ETOOLARGE     = "too_large"    // 413
	ERATELIMIT    = "rate_limited" // 429
	EUNAVAILABLE  = "unavailable"  // a dependency is down: 503
	EINTERNAL     = "internal"     // 500
)

// Error is an error meant for the user: Message is safe to show, Field names the form field
// it belongs next to (if any). Internal causes stay in Err, which is logged, never shown.
type Error struct {
	Code    string
	Message string
	Field   string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error with a formatted, user-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError builds a validation error attached to one form field.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or EINTERNAL.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of err, or a generic one for internal errors.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Something went wrong on our side. Please try again."
}
