// Package settings holds each user's universe selections and filters (SPEC section 5): the
// types with the SPEC's JSON shape, strict parsing and validation of the JSON API bodies and
// the HTML forms, the pure filter that decides whether a user sees an event, the grouping of
// users with equal settings so the publisher filters and renders once per group, and the
// Service that stores settings under row-level security and caches them.
//
// It knows nothing of HTTP. Errors meant for users are *tickstock.Error values:
//
//   - tickstock.EBADREQUEST (400): the body is not JSON at all.
//   - tickstock.EINVALID (422): well-formed input that breaks a rule. Field names the form
//     field, as a dotted path like "trends.direction", "tracker" or "universes".
//   - tickstock.EUNAVAILABLE (503): PostgreSQL could not be reached.
//
// Anything else is an internal error (500).
package settings
