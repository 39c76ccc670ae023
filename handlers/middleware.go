package handlers

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/views"
)

// Locals keys set by middleware.
const (
	localCSRF    = "csrf_token"
	localUser    = "view_user"
	localSession = "session"
	localAccount = "account"
)

// sessionOf returns the request's session (set by withSession).
func sessionOf(c *fiber.Ctx) *auth.State {
	st, _ := c.Locals(localSession).(*auth.State)
	return st
}

// accountOf returns the signed-in user's row, or nil when signed out.
func accountOf(c *fiber.Ctx) *db.User {
	u, _ := c.Locals(localAccount).(*db.User)
	return u
}

// withSession loads the session and, for a signed-in session, the user. A user who was
// disabled or deleted meanwhile is signed out here. Store or database failures fail
// closed with 503.
func (h *Handlers) withSession(c *fiber.Ctx) error {
	st, err := h.sessions.Load(c)
	if err != nil {
		return err
	}
	if st.SignedIn() {
		ctx, cancel := timeout(c, 5*time.Second)
		var u db.User
		err := db.WithUser(ctx, h.pool, st.UserID, func(q *db.Queries) error {
			var err error
			u, err = q.GetUserByID(ctx, st.UserID)
			return err
		})
		cancel()
		switch {
		case errors.Is(err, pgx.ErrNoRows) || (err == nil && u.Disabled):
			if err := h.sessions.Logout(c, st); err != nil {
				return err
			}
			if st, err = h.sessions.Load(c); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			c.Locals(localAccount, &u)
			c.Locals(localUser, &views.User{Handle: u.Handle, Username: u.Username, Email: u.Email, Role: u.Role})
		}
	}
	c.Locals(localSession, st)
	c.Locals(localCSRF, st.CSRF)
	c.Set("X-CSRF-Token", st.CSRF) // for programs that talk JSON and never read the meta tag
	return c.Next()
}

// rateLimit counts every request per user (per IP when signed out) in one-minute windows.
// Keying by the user's handle, not the session, means logging in again does not reset it.
func (h *Handlers) rateLimit(c *fiber.Ctx) error {
	key := "rl:ip:" + c.IP()
	if st := sessionOf(c); st.SignedIn() {
		key = "rl:user:" + st.Handle
	}
	ctx, cancel := timeout(c, 3*time.Second)
	n, reset, err := h.counter.Hit(ctx, key, time.Minute, false)
	cancel()
	if err != nil {
		return &tickstock.Error{Code: tickstock.EUNAVAILABLE, Message: "rate limiter unavailable", Err: err}
	}
	secs := int(time.Until(reset).Round(time.Second).Seconds())
	if secs < 1 {
		secs = 1
	}
	remaining := int64(h.rateLimitN) - n
	if remaining < 0 {
		remaining = 0
	}
	c.Set("X-RateLimit-Limit", strconv.Itoa(h.rateLimitN))
	c.Set("X-RateLimit-Remaining", strconv.FormatInt(remaining, 10))
	c.Set("X-RateLimit-Reset", strconv.Itoa(secs))
	if n > int64(h.rateLimitN) {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		if n == int64(h.rateLimitN)+1 { // log the first refusal of a window, not every one
			h.audit.Record(auth.EventRateLimited, h.auditEntry(c))
		}
		return tickstock.Errorf(tickstock.ERATELIMIT, "Too many requests. Try again in %d seconds.", secs)
	}
	return c.Next()
}

// csrfProtect requires the session's token on every state-changing request, in the
// _csrf form field or the X-CSRF-Token header. On HTTPS the Referer must name this host
// (as Fiber's own CSRF middleware requires).
func (h *Handlers) csrfProtect(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions, fiber.MethodTrace:
		return c.Next()
	}
	st := sessionOf(c)
	ok := true
	if c.Protocol() == "https" {
		ref, err := url.Parse(c.Get(fiber.HeaderReferer))
		ok = err == nil && ref.Host == c.Hostname()
	}
	token := c.Get("X-CSRF-Token")
	if token == "" && !strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON) {
		token = c.FormValue("_csrf")
	}
	if !ok || !st.CheckCSRF(token) {
		h.audit.Record(auth.EventCSRFRejected, h.auditEntry(c))
		return tickstock.Errorf(tickstock.EFORBIDDEN, "The form expired or came from elsewhere. Reload the page and try again.")
	}
	return c.Next()
}

// requireUser lets only signed-in users through: pages redirect to the login form,
// /api and /stream answer 401.
func (h *Handlers) requireUser(c *fiber.Ctx) error {
	if accountOf(c) != nil {
		return c.Next()
	}
	if wantsJSON(c) || strings.HasSuffix(c.Path(), "/stream") {
		return tickstock.Errorf(tickstock.EUNAUTHORIZED, "Sign in first.")
	}
	if c.Get("HX-Request") == "true" {
		c.Set("HX-Redirect", "/auth/login")
		return c.SendStatus(fiber.StatusUnauthorized)
	}
	return c.Redirect("/auth/login", fiber.StatusSeeOther)
}

// requireAdmin lets only admins through (after requireUser).
func (h *Handlers) requireAdmin(c *fiber.Ctx) error {
	if u := accountOf(c); u == nil || u.Role != auth.RoleAdmin {
		return tickstock.Errorf(tickstock.EFORBIDDEN, "This page is for admins.")
	}
	return c.Next()
}

// auditEntry describes the request's user for the auth log.
func (h *Handlers) auditEntry(c *fiber.Ctx) auth.AuditEntry {
	e := auth.AuditEntry{IP: c.IP(), Path: c.Path()}
	if u := accountOf(c); u != nil {
		e.UserID, e.Handle = u.ID, u.Handle
	}
	return e
}
