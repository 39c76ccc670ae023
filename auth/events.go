package auth

// Auth event kinds of the self-service account pages (SPEC section 11), as logged and
// stored in auth_events, beside the sign-in kinds in audit.go.
const (
	EventPasswordChanged       = "password_changed"
	EventPasswordChangeFailure = "password_change_failure" // wrong current password; counts toward the lockout
	EventResetRequested        = "password_reset_requested"
	EventResetLimited          = "password_reset_limited"      // over ResetsPerHour for the email: no mail sent
	EventResetLinkCreated      = "password_reset_link_created" // by an admin, for a user (Resets.Create)
	EventPasswordReset         = "password_reset"
	EventSessionRevoked        = "session_revoked"
	EventSessionsRevokedOthers = "sessions_revoked_others"
	EventAccountDeleted        = "account_deleted"
	EventAccountDeleteFailure  = "account_delete_failure" // wrong password; counts toward the lockout
)

// warnEvents are the kinds Audit logs at warning level: failures and refusals.
var warnEvents = map[string]bool{
	EventLoginFailure: true, EventLockout: true, EventStreamUnauthorized: true, EventCSRFRejected: true,
	EventRateLimited: true, EventPasswordChangeFailure: true, EventResetLimited: true,
	EventAccountDeleteFailure: true, EventTokenRejected: true,
}
