// Package handlers is the HTTP layer: one Handlers struct with explicit dependencies, every
// route listed in routes.go, one file per resource. It holds no SQL and no detection rules.
package handlers

import (
	"context"
	"log/slog"
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/stream"
	"github.com/tickstock/tickstock/views"
)

// Deps are the handlers' dependencies, built once by cmd/tickstock.
type Deps struct {
	Pool       *pgxpool.Pool
	Redis      *redis.Client // nil without REDIS_URL
	Logger     *slog.Logger
	Sessions   *auth.Sessions
	Counter    auth.Counter // rate limits and lockouts
	Accounts   *auth.Accounts
	Audit      *auth.Audit
	RateLimit  int // requests per minute per user or IP
	SignupOpen bool
	Settings   *settings.Service
	Hub        *stream.Hub
	Publisher  *stream.Publisher
	Market     MarketView // the latest market figures, for page loads (nil: none yet)
}

// MarketView is what pages read from the running market: a summary for a set of symbols.
type MarketView interface {
	Summary(symbols []string) market.Summary
}

// Handlers serves every route. It has no globals: tests build one with their own Deps.
type Handlers struct {
	pool       *pgxpool.Pool
	redis      *redis.Client
	logger     *slog.Logger
	sessions   *auth.Sessions
	counter    auth.Counter
	accounts   *auth.Accounts
	audit      *auth.Audit
	rateLimitN int
	signupOpen bool
	settings   *settings.Service
	hub        *stream.Hub
	publisher  *stream.Publisher
	market     MarketView
}

// New builds the handlers. It also ties sessions to streams: a session that ends here
// (logout, expiry, disabled account) closes its open streams.
func New(d Deps) *Handlers {
	if d.Sessions != nil && d.Hub != nil {
		hub := d.Hub
		d.Sessions.OnEnded(func(sid string) { hub.EndSession(sid, "logout") })
	}
	return &Handlers{
		pool: d.Pool, redis: d.Redis, logger: d.Logger, sessions: d.Sessions, counter: d.Counter,
		accounts: d.Accounts, audit: d.Audit, rateLimitN: d.RateLimit, signupOpen: d.SignupOpen,
		settings: d.Settings, hub: d.Hub, publisher: d.Publisher, market: d.Market,
	}
}

// render writes a templ component as the HTML response. It is the one place pages and
// fragments are written, so headers and status are set the same way everywhere.
func render(c *fiber.Ctx, status int, comp templ.Component) error {
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return comp.Render(c.UserContext(), c.Response().BodyWriter())
}

// page is the view model every full page starts from.
func (h *Handlers) page(c *fiber.Ctx, title string) views.Page {
	p := views.Page{Title: title}
	if tok, ok := c.Locals(localCSRF).(string); ok {
		p.CSRF = tok
	}
	if u, ok := c.Locals(localUser).(*views.User); ok {
		p.User = u
	}
	return p
}

// timeout bounds a dependency call made while serving a request.
func timeout(c *fiber.Ctx, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), d)
}

// templComponent is a rendered piece of HTML.
type templComponent = templ.Component
