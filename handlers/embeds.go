package handlers

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/auth"
	creds "github.com/tickstock/tickstock/credentials"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/stream"
	"github.com/tickstock/tickstock/views"
)

// ShowEmbeds handles "GET /settings/embeds".
func (h *Handlers) ShowEmbeds(c *fiber.Ctx) error { return h.showCredentials(c, embedsPage) }

// CreateEmbed handles "POST /settings/embeds".
func (h *Handlers) CreateEmbed(c *fiber.Ctx) error { return h.createCredential(c, embedsPage) }

// RevokeEmbed handles "POST /settings/embeds/{id}/revoke".
func (h *Handlers) RevokeEmbed(c *fiber.Ctx) error { return h.revokeCredential(c, embedsPage) }

// The public embed (SPEC section 8). Its routes run embedGuard instead of the session
// middleware: an embed is read by anyone who has the link, from any site, so it reads no
// cookie, sets none, carries no CSRF token, and is counted per client IP.

// embedRequestHeaders are the request headers another site's htmx (and an EventSource
// that resumes) may send to an embed, allowed by the CORS preflight.
const embedRequestHeaders = "HX-Request, HX-Current-URL, HX-Target, HX-Trigger, HX-Trigger-Name, HX-Boosted, HX-History-Restore-Request, Last-Event-ID, Cache-Control"

// embedGuard runs first on every /embed/* route: it lets any origin read the answer
// (without credentials: none exist here) and counts the request against the client IP.
func (h *Handlers) embedGuard(c *fiber.Ctx) error {
	c.Set(fiber.HeaderAccessControlAllowOrigin, "*")
	ctx, cancel := timeout(c, 3*time.Second)
	err := h.countRequest(ctx, c, "rl:ip:"+h.clientIP(c), auth.AuditEntry{})
	cancel()
	if err != nil {
		return err
	}
	return c.Next()
}

// allowOrigin lets the request's origin read the answer even with credentials: htmx's SSE
// extension opens its EventSource withCredentials, and browsers refuse "*" for that. It is
// safe because nothing under /embed/ reads a cookie or any other credential: every visitor
// gets the same answer, which the link alone decides.
func allowOrigin(c *fiber.Ctx) {
	if origin := c.Get(fiber.HeaderOrigin); origin != "" {
		c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
		c.Set(fiber.HeaderAccessControlAllowCredentials, "true")
		c.Vary(fiber.HeaderOrigin)
	}
}

// EmbedPreflight handles "OPTIONS /embed/*": the CORS preflight of another site's htmx
// request, which sends HX-* headers, or of a resuming stream. Only GET is allowed.
func (h *Handlers) EmbedPreflight(c *fiber.Ctx) error {
	allowOrigin(c)
	c.Set(fiber.HeaderAccessControlAllowMethods, "GET, HEAD")
	c.Set(fiber.HeaderAccessControlAllowHeaders, embedRequestHeaders)
	c.Set(fiber.HeaderAccessControlMaxAge, "600")
	return c.SendStatus(fiber.StatusNoContent)
}

// EmbedNotFound handles every other "/embed/*" request: 404, or 405 for a method an
// embed never accepts.
func (h *Handlers) EmbedNotFound(c *fiber.Ctx) error {
	if c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
		c.Set(fiber.HeaderAllow, "GET, HEAD, OPTIONS")
		return fiber.ErrMethodNotAllowed
	}
	return errEmbedNotFound()
}

// embedOptions are what an embed's query string chooses.
type embedOptions struct {
	panels []string // nil: every panel
	theme  string
}

// parseEmbedOptions reads ?panels= (comma-separated ids of views.PanelIDs) and ?theme=
// (light or dark). Anything else is a 400 that says what is allowed.
func parseEmbedOptions(c *fiber.Ctx) (embedOptions, error) {
	var o embedOptions
	args := c.Request().URI().QueryArgs()
	if args.Has("panels") {
		ids := views.PanelIDs()
		for _, p := range strings.Split(string(args.Peek("panels")), ",") {
			p = strings.TrimSpace(p)
			switch {
			case p == "" || slices.Contains(o.panels, p):
				continue
			case !slices.Contains(ids, p):
				return o, tickstock.Errorf(tickstock.EBADREQUEST, "Unknown panel %q. Choose from: %s.", clip(p, 40), strings.Join(ids, ", "))
			}
			o.panels = append(o.panels, p)
		}
		if len(o.panels) == 0 {
			return o, tickstock.Errorf(tickstock.EBADREQUEST, "panels names no panel. Choose from: %s.", strings.Join(ids, ", "))
		}
	}
	switch t := string(args.Peek("theme")); t {
	case "", views.ThemeLight, views.ThemeDark:
		o.theme = t
	default:
		return o, tickstock.Errorf(tickstock.EBADREQUEST, "Unknown theme %q. Use light or dark.", clip(t, 40))
	}
	return o, nil
}

// clip shortens what a user sent before an error message repeats it.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func errEmbedNotFound() error {
	return tickstock.Errorf(tickstock.ENOTFOUND, "This embed link does not exist or was revoked.")
}

// resolveEmbed finds the live embed link a token names; anything else is 404.
func (h *Handlers) resolveEmbed(ctx context.Context, token string) (creds.Credential, error) {
	cred, found, err := h.credentials.Resolve(ctx, creds.Embed, token)
	if err != nil {
		return creds.Credential{}, err
	}
	if !found {
		return creds.Credential{}, errEmbedNotFound()
	}
	return cred, nil
}

// ShowEmbed handles "GET /embed/{token}": the owner's panels as a standalone page, or with
// HX-Request just the fragment, which another site's htmx swaps into its page (its stream
// URL is then absolute).
func (h *Handlers) ShowEmbed(c *fiber.Ctx) error {
	opts, err := parseEmbedOptions(c)
	if err != nil {
		return err
	}
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	token := c.Params("token")
	cred, err := h.resolveEmbed(ctx, token)
	if err != nil {
		return err
	}
	h.credentials.Touch(ctx, cred)
	summary, err := h.summaryOf(ctx, cred.UserID)
	if err != nil {
		return err
	}
	v := views.EmbedView{
		Dashboard: views.Dashboard{StreamURL: "/embed/" + token + "/stream", Summary: summary, Embed: true, Panels: opts.panels,
			Summaries: h.summaries},
		Theme:   opts.theme,
		SiteURL: c.BaseURL(),
	}
	c.Vary("HX-Request")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	if isHTMX(c) {
		v.StreamURL = c.BaseURL() + v.StreamURL
		return render(c, fiber.StatusOK, views.EmbedFragment(v))
	}
	return render(c, fiber.StatusOK, views.EmbedPage(v))
}

// summaryOf is the market summary of a user's market universes as of now.
func (h *Handlers) summaryOf(ctx context.Context, userID int64) (market.Summary, error) {
	us, err := h.settings.Get(ctx, userID)
	if err != nil {
		return market.Summary{}, err
	}
	set, err := h.settings.TrackerSymbols(ctx, us.Settings, settings.TrackerMarket)
	if err != nil {
		return market.Summary{}, err
	}
	if h.market != nil {
		return h.market.Summary(set.Selection()), nil
	}
	return market.Summary{Breadth: 50, Activity: market.ActivityQuiet, UniverseSize: set.Len()}, nil
}

// EmbedStream handles "GET /embed/{token}/stream": the owner's HTML stream, read-only. It
// joins the owner's settings group, so it shows what the owner's dashboard shows and
// follows their settings changes; it ends when the link is revoked or the owner is
// disabled or deleted. Any origin may open it. One link has at most
// stream.MaxStreamsPerEmbed streams open per instance.
func (h *Handlers) EmbedStream(c *fiber.Ctx) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	cred, err := h.resolveEmbed(ctx, c.Params("token"))
	if err != nil {
		return err
	}
	var last *stream.EventID
	if id, ok := stream.ParseEventID(c.Get("Last-Event-ID")); ok {
		last = &id
	}
	conn := stream.NewConn(cred.UserID, "", stream.FormatHTML, connQueue)
	conn.EmbedID = cred.Handle
	err = h.publisher.Attach(ctx, conn, last)
	switch {
	case errors.Is(err, stream.ErrEmbedFull):
		c.Set(fiber.HeaderRetryAfter, "30")
		return tickstock.Errorf(tickstock.ERATELIMIT, "This embed has too many viewers right now. Try again shortly.")
	case errors.Is(err, stream.ErrHubClosed):
		return tickstock.Errorf(tickstock.EUNAVAILABLE, "The server is restarting.")
	case err != nil:
		return err
	}
	if err := h.confirmLive(c, conn, cred); err != nil {
		return err
	}
	h.credentials.Touch(ctx, cred)
	allowOrigin(c)
	h.serveStream(c, conn, time.Time{}, func() {})
	return nil
}
