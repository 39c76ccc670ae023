// Package handlers is the HTTP layer: one Handlers struct with explicit dependencies, every
// route listed in routes.go, one file per resource. It holds no SQL and no detection rules.
package handlers

import (
	"context"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/tickstock/tickstock/audit"
	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/bus"
	creds "github.com/tickstock/tickstock/credentials"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/metrics"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/stream"
	"github.com/tickstock/tickstock/views"
)

// Deps are the handlers' dependencies, built once by cmd/tickstock.
type Deps struct {
	Checks         []Check // what /readyz asks: PostgreSQL, Redis when configured, the feed
	Bus            bus.Bus // invalidations; New subscribes the hub, so ended sessions end their streams
	Logger         *slog.Logger
	Sessions       *auth.Sessions
	Counter        auth.Counter // rate limits and lockouts
	Accounts       *auth.Accounts
	Resets         *auth.Resets // password reset links
	Audit          *auth.Audit
	RateLimit      int  // requests per minute per user or IP
	SignupOpen     bool // TICKSTOCK_SIGNUP
	CookieSecure   bool // TICKSTOCK_COOKIE_SECURE
	TrustedProxies []netip.Prefix
	Settings       *settings.Service
	Hub            *stream.Hub
	Publisher      *stream.Publisher
	Market         MarketView // the latest market figures, for page loads (nil: none yet)
	Symbols        SymbolData // per-symbol figures for watchlists and symbol pages (nil: none)
	// Credentials are embed links and API tokens. Build it before New, on the same bus, so
	// a revocation reaches its cache before the hub ends the streams.
	Credentials *creds.Service
	AdminAudit  *audit.Log         // the trail of admin actions
	Metrics     *metrics.Collector // the live figures of /api/admin/metrics and /admin
	HTTPStats   *metrics.HTTPStats // rate-limit refusals and answers by status (nil: not counted)
	// StreamSlots counts each user's streams across instances (nil: the hub counts this
	// instance's only, which is exact for a single instance).
	StreamSlots StreamSlots
}

// StreamSlots holds a user's stream slots across instances: Acquire takes one, or fails
// with stream.ErrTooManyStreams when the user has stream.MaxStreamsPerUser open on all
// instances together; release gives it back. A cluster.Slots over Redis implements it.
type StreamSlots interface {
	Acquire(ctx context.Context, userID int64) (release func(), err error)
}

// Check is one dependency /readyz asks: Ping returns nil while it can serve requests.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// MarketView is what pages read from the running market: a summary for a set of symbols.
type MarketView interface {
	Summary(sel *market.Selection) market.Summary
}

// SymbolData is what the watchlist and symbol pages read from the running market
// (market.Runner implements it).
type SymbolData interface {
	// SymbolStates returns each symbol's latest state; HasData is false for one without ticks.
	SymbolStates(symbols []string) []market.SymbolState
	// SymbolView returns a symbol's session (state, price line, events), false if unknown.
	SymbolView(symbol string) (market.SymbolView, bool)
}

// Handlers serves every route. It has no globals: tests build one with their own Deps.
type Handlers struct {
	checks         []Check
	logger         *slog.Logger
	sessions       *auth.Sessions
	counter        auth.Counter
	accounts       *auth.Accounts
	resets         *auth.Resets
	audit          *auth.Audit
	rateLimitN     int
	signupOpen     bool
	cookieSecure   bool
	trustedProxies []netip.Prefix
	settings       *settings.Service
	hub            *stream.Hub
	publisher      *stream.Publisher
	market         MarketView
	symbols        SymbolData
	credentials    *creds.Service
	adminAudit     *audit.Log
	metrics        *metrics.Collector
	httpStats      *metrics.HTTPStats
	slots          StreamSlots
	summaries      *views.SummaryCache   // page-load market summaries' markup, shared
	dashPages      *views.DashboardPages // dashboard pages' markup around their per-load values, shared
	rechecking     atomic.Bool
}

// New builds the handlers. It also subscribes the stream hub to the bus, so whatever ends
// a session, a user's access, an embed link or an API token (on any instance) ends the
// matching streams here. UserEnded ends every stream of the user: embeds and tokens too.
func New(d Deps) *Handlers {
	if d.Metrics == nil {
		d.Metrics = metrics.NewCollector(defaultSources(d))
	}
	h := &Handlers{
		checks: d.Checks, logger: d.Logger, sessions: d.Sessions, counter: d.Counter,
		accounts: d.Accounts, resets: d.Resets, audit: d.Audit, rateLimitN: d.RateLimit, signupOpen: d.SignupOpen,
		cookieSecure: d.CookieSecure, trustedProxies: d.TrustedProxies,
		settings: d.Settings, hub: d.Hub, publisher: d.Publisher, market: d.Market, slots: d.StreamSlots,
		symbols: d.Symbols, credentials: d.Credentials,
		adminAudit: d.AdminAudit, metrics: d.Metrics, httpStats: d.HTTPStats,
		summaries: &views.SummaryCache{}, dashPages: &views.DashboardPages{},
	}
	if d.Bus != nil && d.Hub != nil {
		hub := d.Hub
		d.Bus.Subscribe(func(m bus.Message) {
			switch m := m.(type) {
			case bus.SessionEnded:
				hub.EndSession(m.SessionID, m.Reason)
			case bus.UserEnded:
				hub.EndUser(m.UserID, m.Reason)
			case bus.EmbedRevoked:
				hub.EndEmbed(m.EmbedID, bus.ReasonRevoked)
			case bus.TokenRevoked:
				hub.EndToken(m.TokenID, bus.ReasonRevoked)
			case bus.Resync:
				go h.recheckStreams() // it reads the session store: not on the bus's goroutine
			}
		})
	}
	return h
}

// defaultSources are the metrics sources found in d, for tests and tools that pass no
// collector: everything but the feed, which lives outside the handlers' dependencies.
func defaultSources(d Deps) metrics.Sources {
	src := metrics.Sources{HTTP: d.HTTPStats}
	if d.Hub != nil {
		src.Hub = d.Hub
	}
	if d.Settings != nil {
		src.Settings = d.Settings
	}
	if d.Publisher != nil {
		src.Publisher = d.Publisher
	}
	if d.Audit != nil {
		src.Auth = d.Audit
	}
	return src
}

// render writes a templ component as the HTML response. It is the one place pages and
// fragments are written, so headers and status are set the same way everywhere.
func render(c *fiber.Ctx, status int, comp templ.Component) error {
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return comp.Render(c.UserContext(), bodyWriter{c.Response()})
}

// bodyWriter appends to a response's body. Unlike fasthttp's own body writer it takes
// strings as they are, so kept markup (views.DashboardPages) is copied once, not converted
// to bytes first.
type bodyWriter struct{ r *fasthttp.Response }

func (w bodyWriter) Write(p []byte) (int, error) {
	w.r.AppendBody(p)
	return len(p), nil
}

func (w bodyWriter) WriteString(s string) (int, error) {
	w.r.AppendBodyString(s)
	return len(s), nil
}

// page is the view model every full page starts from.
func (h *Handlers) page(c *fiber.Ctx, title string) views.Page {
	p := views.Page{Title: title}
	rs := stateOf(c)
	p.CSRF, p.User = rs.csrf, rs.user
	return p
}

// timeout bounds a dependency call made while serving a request.
func timeout(c *fiber.Ctx, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), d)
}

// templComponent is a rendered piece of HTML.
type templComponent = templ.Component
