package handlers

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/bus"
	creds "github.com/tickstock/tickstock/credentials"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/views"
)

// reqState is what the middleware learns about a request. It is kept in one Locals entry,
// because each entry costs a linear search with interface comparisons on every read (and
// often an allocation on every write), and the chain reads a dozen per request.
type reqState struct {
	chain   context.Context   // the context of the chain's dependency calls (chainCtx)
	peek    *auth.State       // the session the cookie names, as read by rateLimit
	session *auth.State       // the request's session (withSession on)
	account *db.User          // the signed-in user's row, or nil
	user    *views.User       // the signed-in user as pages show them, or nil
	csrf    string            // the session's CSRF token for the page, or ""
	ip      string            // the client's address (clientIP), once worked out
	bearer  *creds.Credential // the API token of a bearer request
}

// localState is the Locals key of a request's reqState.
const localState = "req_state"

// stateOf returns the request's reqState, made on first use.
func stateOf(c *fiber.Ctx) *reqState {
	if s, ok := c.Locals(localState).(*reqState); ok {
		return s
	}
	s := &reqState{}
	c.Locals(localState, s)
	return s
}

// chainTimeout bounds the dependency calls of the middleware chain and of the handler
// after it that uses chainCtx, all together.
const chainTimeout = 5 * time.Second

// chainCtx is the context for a dependency call of the middleware chain (rateLimit to
// csrfProtect) or of a hot handler after it: one deadline, chainTimeout after rateLimit
// began, shared by all of them, so a request arms one timer rather than one per call
// (several per GET /dashboard, which showed in its profile). Without rateLimit before it
// (a test that calls a step directly) a call gets a deadline of its own. cancel is for
// the caller to defer either way.
func chainCtx(c *fiber.Ctx) (ctx context.Context, cancel context.CancelFunc) {
	if ctx := stateOf(c).chain; ctx != nil {
		return ctx, noCancel
	}
	return timeout(c, chainTimeout)
}

// noCancel is chainCtx's cancel of the shared context: rateLimit cancels it when the
// request is done.
func noCancel() {}

// The middleware of every counted route runs in this order, so a flood costs one counter
// step per request and nothing more:
//
//  1. rateLimit: reads the session the cookie names (no write, no database), and counts
//     the request per user when signed in, else per client IP. A request with
//     Authorization: Bearer is counted against the token's owner instead, and refused
//     unless it reads one of the routes tokens may read (see bearer.go).
//  2. withSession: keeps a signed-out visitor's session alive, and a signed-in one's
//     last-seen time current (a write at most once a minute).
//  3. withUser: loads the signed-in user (auth.Accounts.Current: this instance's copy of
//     the row, which every account change drops, so no database read on most requests);
//     one disabled or deleted meanwhile is signed out everywhere.
//  4. csrfProtect: checks the token on state changes; issues a signed-out visitor's
//     session, and so the token, only when a page needs one.
//
// A bearer request never has a session: steps 2 to 4 leave it without one, so it gets no
// cookie. Embeds (/embed/*) never reach this chain (see routes.go).

// sessionOf returns the request's session (set by withSession; never nil after it). A
// visitor without a session has a State with no ID.
func sessionOf(c *fiber.Ctx) *auth.State {
	return stateOf(c).session
}

// accountOf returns the signed-in user's row, or nil when signed out.
func accountOf(c *fiber.Ctx) *db.User {
	return stateOf(c).account
}

// rateLimit counts every request per user (per client IP when signed out) in one-minute
// windows. Keying by the user's handle, not the session, means logging in again does not
// reset it. It runs before anything else touches a store: the only read is the session the
// cookie names, to find the user, done with the count in one step (auth.PeekCounted).
func (h *Handlers) rateLimit(c *fiber.Ctx) error {
	ctx, cancel := timeout(c, chainTimeout)
	defer cancel()
	rs := stateOf(c)
	rs.chain = ctx
	if token, ok, err := creds.ParseBearer(c.Get(fiber.HeaderAuthorization)); ok {
		if err := h.limitBearer(ctx, c, token, err); err != nil {
			return err
		}
		return c.Next()
	}
	// One round trip with Redis: the session's read and the count of its key. Fiber's
	// strings point into the request's buffer, which is reused once the request is
	// answered; the id outlives it (a stream's session, the memory store's key), so it
	// gets bytes of its own.
	st, n, err := h.sessions.PeekCounted(ctx, strings.Clone(c.Cookies(auth.CookieName)), h.counter, "rl:ip:"+h.clientIP(c), "rl:user:", time.Minute)
	if err != nil {
		return fmt.Errorf("rate limit: %w", err)
	}
	rs.peek = st
	var e auth.AuditEntry
	if st.SignedIn() {
		e.UserID, e.Handle = st.UserID, st.Handle
	}
	if err := h.limit(c, n, e); err != nil {
		return err
	}
	return c.Next()
}

// countRequest takes one step of key's counter and applies the limit (see limit).
func (h *Handlers) countRequest(ctx context.Context, c *fiber.Ctx, key string, e auth.AuditEntry) error {
	n, reset, err := h.counter.Hit(ctx, key, time.Minute, false)
	if err != nil {
		return fmt.Errorf("rate limit: %w", err)
	}
	return h.limit(c, auth.Count{Key: key, N: n, Reset: reset}, e)
}

// limit sets the X-RateLimit headers of a counted request, and refuses it once the
// window's count passes the limit. e names the user the key counts (empty: a client IP),
// for the auth log.
func (h *Handlers) limit(c *fiber.Ctx, cnt auth.Count, e auth.AuditEntry) error {
	n, reset := cnt.N, cnt.Reset
	secs := int(time.Until(reset).Round(time.Second).Seconds())
	if secs < 1 {
		secs = 1
	}
	remaining := int64(h.rateLimitN) - n
	if remaining < 0 {
		remaining = 0
	}
	// Every counted answer carries these: the numbers are written into a buffer on the
	// stack, which the header copies, rather than into new strings.
	var num [20]byte
	hdr := &c.Response().Header
	hdr.SetBytesV("X-RateLimit-Limit", strconv.AppendInt(num[:0], int64(h.rateLimitN), 10))
	hdr.SetBytesV("X-RateLimit-Remaining", strconv.AppendInt(num[:0], remaining, 10))
	hdr.SetBytesV("X-RateLimit-Reset", strconv.AppendInt(num[:0], int64(secs), 10))
	if n > int64(h.rateLimitN) {
		h.httpStats.RateLimited()
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		if n == int64(h.rateLimitN)+1 { // log the first refusal of a window, not every one
			e.IP, e.Path = h.clientIP(c), logPath(c)
			h.audit.Record(auth.EventRateLimited, e)
		}
		return tickstock.Errorf(tickstock.ERATELIMIT, "Too many requests. Try again in %d seconds.", secs)
	}
	return nil
}

// withSession makes the session rateLimit read the request's session, keeps a signed-out
// visitor's session from idling out while they are active, and notes when and where a
// signed-in session was last seen (a write at most once a minute per session).
func (h *Handlers) withSession(c *fiber.Ctx) error {
	rs := stateOf(c)
	st := rs.peek
	if rs.bearer != nil {
		st = nil // a program's request: no session, and none is made
	}
	if st == nil {
		st = &auth.State{}
	} else {
		ctx, cancel := chainCtx(c)
		err := h.sessions.Touch(ctx, st, h.device(c))
		cancel()
		if err != nil {
			return err
		}
	}
	rs.session = st
	return c.Next()
}

// withUser loads the signed-in user (auth.Accounts.Current). The session itself was read
// from its store on this request (rateLimit), so a signed-out or ended session is refused
// at once whatever the account copy holds. A user who was disabled or deleted meanwhile has
// every session and stream ended here, and the request goes on signed out. Store or database
// failures fail closed with 503.
func (h *Handlers) withUser(c *fiber.Ctx) error {
	if b := bearerOf(c); b != nil {
		return h.withTokenOwner(c, b)
	}
	st := sessionOf(c)
	if !st.SignedIn() {
		return c.Next()
	}
	ctx, cancel := chainCtx(c)
	defer cancel()
	u, err := h.accounts.Current(ctx, st.UserID)
	switch {
	case tickstock.ErrorCode(err) == tickstock.ENOTFOUND || (err == nil && u.Disabled):
		if _, err := h.sessions.EndUser(ctx, st.UserID, bus.ReasonDisabled); err != nil {
			return err
		}
		h.clearSessionCookie(c)
		stateOf(c).session = &auth.State{}
	case err != nil:
		return err
	default:
		rs := stateOf(c)
		rs.account = &u
		rs.user = &views.User{Handle: u.Handle, Username: u.Username, Email: u.Email, Role: u.Role}
	}
	return c.Next()
}

// csrfProtect requires the session's token on every state-changing request, in the
// _csrf form field or the X-CSRF-Token header. On HTTPS the Referer must name this host
// (as Fiber's own CSRF middleware requires). A signed-out visitor gets a session, and so a
// token, the first time they load a page; API calls and streams never need one.
func (h *Handlers) csrfProtect(c *fiber.Ctx) error {
	if bearerOf(c) != nil {
		return c.Next() // reads only (rateLimit refused the rest), and no session to issue
	}
	st := sessionOf(c)
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions, fiber.MethodTrace:
		if st.CSRF == "" && pageRoute(c) {
			ctx, cancel := chainCtx(c)
			issued, err := h.sessions.Issue(ctx)
			cancel()
			if err != nil {
				return err
			}
			h.setSessionCookie(c, issued)
			st = issued
			stateOf(c).session = st
		}
		exposeCSRF(c, st)
		return c.Next()
	}
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
	exposeCSRF(c, st)
	return c.Next()
}

// pageRoute reports whether a GET may render a page (which carries the CSRF token), as
// opposed to JSON under /api/ or a stream.
func pageRoute(c *fiber.Ctx) bool {
	p := c.Path()
	return !strings.HasPrefix(p, "/api/") && !strings.HasSuffix(p, "/stream")
}

// exposeCSRF hands the session's token to the page (meta tag and forms) and, for programs
// that talk JSON and never read the meta tag, to the X-CSRF-Token header.
func exposeCSRF(c *fiber.Ctx, st *auth.State) {
	if st.CSRF == "" {
		return
	}
	stateOf(c).csrf = st.CSRF
	c.Set("X-CSRF-Token", st.CSRF)
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

// requireAdmin lets only admins through: signed-out visitors as in requireUser (303 to the
// login page, 401 under /api/), signed-in users who are not admins get 403.
func (h *Handlers) requireAdmin(c *fiber.Ctx) error {
	u := accountOf(c)
	if u == nil {
		return h.requireUser(c)
	}
	if u.Role != auth.RoleAdmin {
		return tickstock.Errorf(tickstock.EFORBIDDEN, "This page is for admins only.")
	}
	return c.Next()
}

// countResponses counts every answer by status for the metrics. An error is counted by the
// error handler, which sets its status.
func (h *Handlers) countResponses(c *fiber.Ctx) error {
	err := c.Next()
	if err == nil {
		h.httpStats.Response(c.Response().StatusCode())
	}
	return err
}

// auditEntry describes the request's user for the auth log.
func (h *Handlers) auditEntry(c *fiber.Ctx) auth.AuditEntry {
	e := auth.AuditEntry{IP: h.clientIP(c), Path: logPath(c)}
	if u := accountOf(c); u != nil {
		e.UserID, e.Handle = u.ID, u.Handle
	}
	return e
}

// device is where the request comes from, for the user's list of sessions.
func (h *Handlers) device(c *fiber.Ctx) auth.Device {
	return auth.Device{IP: h.clientIP(c), UserAgent: c.Get(fiber.HeaderUserAgent)}
}

// setSessionCookie points the browser at st: HttpOnly, SameSite=Lax, Path=/, Secure unless
// TICKSTOCK_COOKIE_SECURE=false. A signed-in session's cookie expires with it; a
// signed-out visitor's lasts the browser session (the server ends it after an idle hour).
func (h *Handlers) setSessionCookie(c *fiber.Ctx, st *auth.State) {
	ck := &fiber.Cookie{Name: auth.CookieName, Value: st.ID, Path: "/", HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode, Secure: h.cookieSecure}
	if st.SignedIn() {
		ck.Expires = st.Expires()
	}
	c.Cookie(ck)
}

// clearSessionCookie tells the browser to forget its session cookie.
func (h *Handlers) clearSessionCookie(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{Name: auth.CookieName, Value: "", Path: "/", HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode, Secure: h.cookieSecure, Expires: time.Unix(0, 0)})
}
