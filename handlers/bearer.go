package handlers

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/bus"
	creds "github.com/tickstock/tickstock/credentials"
	"github.com/tickstock/tickstock/stream"
)

// Bearer requests: a program sends "Authorization: Bearer <API token>" instead of a
// cookie. It acts as the token's owner, counted against the owner's rate limit, and may
// only read what tokenMayRead lists. It never gets a session, a cookie or a CSRF token.

// tokenRoutes says in words what a token may read, for the 403 answer.
const tokenRoutes = "GET /stream?format=json, /api/universes, /api/user/universe-selections, /api/user-filters and /api/symbols/{symbol}"

// bearerOf returns the API token a bearer request presented (set by rateLimit), or nil.
func bearerOf(c *fiber.Ctx) *creds.Credential {
	return stateOf(c).bearer
}

// isBearer reports whether the request presents a bearer token at all, valid or not, so
// errors answer it in JSON.
func isBearer(c *fiber.Ctx) bool {
	_, ok, _ := creds.ParseBearer(c.Get(fiber.HeaderAuthorization))
	return ok
}

// limitBearer is rateLimit's step for a bearer request. A token this instance knows is
// counted against its owner at once. An unknown one is first counted against the client
// IP, so a flood of made-up tokens costs a counter step each before any query; then it is
// looked up, and a live one is counted against its owner too. A bad or revoked token gets
// 401, a good one on a route tokens may not use 403.
func (h *Handlers) limitBearer(ctx context.Context, c *fiber.Ctx, token string, malformed error) error {
	cred, ok := h.credentials.Peek(creds.API, token)
	if !ok {
		if err := h.countRequest(ctx, c, "rl:ip:"+h.clientIP(c), auth.AuditEntry{}); err != nil {
			return err
		}
		if malformed != nil {
			return h.rejectToken(c)
		}
		var found bool
		var err error
		if cred, found, err = h.credentials.Resolve(ctx, creds.API, token); err != nil {
			return err
		}
		if !found {
			return h.rejectToken(c)
		}
	}
	if err := h.countRequest(ctx, c, "rl:user:"+cred.OwnerHandle, auth.AuditEntry{UserID: cred.UserID, Handle: cred.OwnerHandle}); err != nil {
		return err
	}
	stateOf(c).bearer = &cred
	if !tokenMayRead(c.Method(), c.Path(), c.Query("format")) {
		return tickstock.Errorf(tickstock.EFORBIDDEN, "An API token is read-only: it may only call %s.", tokenRoutes)
	}
	return nil
}

// tokenMayRead is the allow-list of SPEC section 12: what a bearer request may call. It
// matches paths the way the router does (case-insensitive, a trailing slash ignored).
func tokenMayRead(method, path, format string) bool {
	if method != fiber.MethodGet && method != fiber.MethodHead {
		return false
	}
	p := strings.ToLower(path)
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	switch p {
	case "/api/universes", "/api/user/universe-selections", "/api/user-filters":
		return true
	case "/stream":
		return format == "json"
	}
	sym, ok := strings.CutPrefix(p, "/api/symbols/")
	return ok && sym != "" && !strings.Contains(sym, "/")
}

// rejectToken answers a bad or revoked token (or one whose owner is disabled) with 401,
// never saying which, and logs it without the token.
func (h *Handlers) rejectToken(c *fiber.Ctx) error {
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer error="invalid_token"`)
	h.audit.Record(auth.EventTokenRejected, auth.AuditEntry{IP: h.clientIP(c), Path: logPath(c)})
	return tickstock.Errorf(tickstock.EUNAUTHORIZED, "The API token is invalid or has been revoked.")
}

// withTokenOwner is withUser for a bearer request: it loads the token's owner, refuses a
// token whose owner was disabled or deleted meanwhile, and notes the token's use (a write
// at most once a minute).
func (h *Handlers) withTokenOwner(c *fiber.Ctx, b *creds.Credential) error {
	ctx, cancel := timeout(c, 5*time.Second)
	u, err := h.accounts.Current(ctx, b.UserID)
	switch {
	case tickstock.ErrorCode(err) == tickstock.ENOTFOUND || (err == nil && u.Disabled):
		cancel()
		return h.rejectToken(c)
	case err != nil:
		cancel()
		return err
	}
	stateOf(c).account = &u
	h.credentials.Touch(ctx, *b)
	cancel()
	return c.Next()
}

// confirmLive closes a stream just registered for a credential that was revoked (or whose
// owner ended) between its lookup and its registration, which the bus message that ended
// the credential's other streams could not see.
func (h *Handlers) confirmLive(c *fiber.Ctx, conn *stream.Conn, cred creds.Credential) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	live, err := h.credentials.Live(ctx, cred)
	if err == nil && live {
		return nil
	}
	conn.Close(bus.ReasonRevoked)
	h.hub.Unregister(conn)
	if err != nil {
		return err
	}
	if cred.Kind == creds.Embed {
		return errEmbedNotFound()
	}
	return h.rejectToken(c)
}

// logPath is the request's path as logs and the audit may show it: the token of an embed
// link or a password-reset link is a secret, so it never reaches a log line.
func logPath(c *fiber.Ctx) string { return redactPath(c.Path()) }

func redactPath(p string) string {
	if strings.HasPrefix(p, auth.ResetPath) {
		return auth.ResetPath + "{token}"
	}
	const prefix = "/embed/"
	if !isEmbedPath(p) {
		return p
	}
	rest := p[len(prefix):]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return prefix + "[token]" + rest[i:]
	}
	return prefix + "[token]"
}

// isEmbedPath reports whether p is under /embed/, as the router sees it (case-insensitive).
func isEmbedPath(p string) bool {
	const prefix = "/embed/"
	return len(p) >= len(prefix) && strings.EqualFold(p[:len(prefix)], prefix)
}
