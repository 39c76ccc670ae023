package views

import (
	"strconv"
	"time"
)

// AccountView is the account page: the profile, the password form, the sessions and
// the deletion form. Each section is also answered alone to an htmx post.
type AccountView struct {
	Username string
	Email    string
	Password PasswordForm
	Sessions SessionList
	Delete   DeleteForm
}

// PasswordForm is the password-change form's state. Passwords are never written back
// into the page, so a failed attempt shows only the messages.
type PasswordForm struct {
	CSRF    string
	Saved   string // after a change: what happened, e.g. "Password changed. 2 other sessions were signed out."
	Message string // a general error above the fields
	Errors  map[string]string
}

// SessionList is the user's signed-in sessions.
type SessionList struct {
	CSRF     string
	Now      time.Time
	Sessions []SessionRow
	Notice   string // after a revocation: what happened
	Message  string // an error above the list (a session that had already ended)
}

// Others counts the sessions other than this browser's.
func (l SessionList) Others() int {
	n := 0
	for _, s := range l.Sessions {
		if !s.Current {
			n++
		}
	}
	return n
}

// SessionRow is one session. Ref is its opaque handle (never the session id).
type SessionRow struct {
	Ref      string
	Current  bool
	Started  time.Time
	LastSeen time.Time
	IP       string
	Agent    string
}

// DeleteForm is the account-deletion form's state.
type DeleteForm struct {
	CSRF    string
	Message string
	Errors  map[string]string
}

// Section ids: the htmx swap targets of the account page.
const (
	PasswordSectionID = "password"
	SessionsSectionID = "sessions"
	DeleteSectionID   = "delete-account"
)

// when formats a time as the account page shows it: "2025-03-14 14:30 UTC".
func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// ago says how long before now t was, in words a person reads at a glance.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 2*time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " minutes ago"
	case d < 2*time.Hour:
		return "1 hour ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " hours ago"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " days ago"
}
