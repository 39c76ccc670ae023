package handlers

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/views"
)

// symbolAnswer is the body of GET /api/symbols/{symbol} (SPEC section 13).
type symbolAnswer struct {
	Success bool                `json:"success"`
	Symbol  market.SymbolState  `json:"symbol"`
	Prices  []market.PricePoint `json:"prices"`
	Events  []market.Event      `json:"events"`
}

// ShowSymbol handles "GET /symbols/{symbol}": the session's chart, state and events. An
// htmx request (the page refreshing itself) gets the live part alone.
func (h *Handlers) ShowSymbol(c *fiber.Ctx) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	s, err := h.symbolSession(ctx, c)
	if err != nil {
		return err
	}
	v := views.SymbolView{
		Symbol:    s.view.State.Symbol,
		State:     s.view.State,
		Chart:     views.NewChart(s.view, s.events),
		Events:    s.events,
		Hidden:    len(s.view.Events) - len(s.events),
		LiveURL:   "/symbols/" + s.view.State.Symbol,
		StreamURL: "/stream",
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if isHTMX(c) {
		return render(c, fiber.StatusOK, views.SymbolLive(v))
	}
	return render(c, fiber.StatusOK, views.SymbolPage(h.page(c, v.Symbol), v))
}

// GetSymbol handles "GET /api/symbols/{symbol}": the same session as JSON, prices as
// [unix_ms, price] at most one per 5 s, events newest first.
func (h *Handlers) GetSymbol(c *fiber.Ctx) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	s, err := h.symbolSession(ctx, c)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(symbolAnswer{Success: true, Symbol: s.view.State, Prices: s.view.Prices, Events: s.events})
}

// symbolSession is a symbol's session as one user sees it.
type symbolSession struct {
	view   market.SymbolView
	events []market.Event // the view's events that the user's filters allow, newest first
}

// symbolSession reads the URL's symbol (upper-cased; 1 to 16 of A-Z, 0-9, '.' and '-',
// else 400) and its session. A symbol is known when a feed has ticked it, or when it is
// in a shared universe or one of the user's own watchlists ("no data yet"); anything
// else is a 404. The events are filtered by the user's filters (not by the user's
// universes: the user asked for this symbol by name).
func (h *Handlers) symbolSession(ctx context.Context, c *fiber.Ctx) (symbolSession, error) {
	raw := c.Params("symbol")
	if dec, err := url.PathUnescape(raw); err == nil {
		raw = dec
	}
	sym := strings.ToUpper(raw)
	if !market.ValidSymbol(sym) {
		return symbolSession{}, tickstock.Errorf(tickstock.EBADREQUEST,
			"%s is not a valid symbol: use 1 to %d characters of A-Z, 0-9, \".\" and \"-\".", quoteInput(raw), market.MaxSymbolLen)
	}
	uid := accountOf(c).ID
	us, err := h.settings.Get(ctx, uid)
	if err != nil {
		return symbolSession{}, err
	}
	var view market.SymbolView
	ok := false
	if h.symbols != nil {
		view, ok = h.symbols.SymbolView(sym)
	}
	if !ok || !view.State.HasData {
		// Registered but silent (in someone's watchlist, say): only a universe or the
		// user's own list makes it theirs to see.
		known, err := h.settings.KnownSymbol(ctx, uid, sym)
		if err != nil {
			return symbolSession{}, err
		}
		if !known {
			return symbolSession{}, errNotFound("No feed, universe or watchlist of yours knows the symbol %s.", sym)
		}
		view = market.SymbolView{State: market.SymbolState{Symbol: sym}, Prices: []market.PricePoint{}, Events: []market.Event{}}
	}
	m, err := settings.NewMatcher(us.Filters, settings.NewSymbolSet([]string{sym}))
	if err != nil {
		return symbolSession{}, err
	}
	return symbolSession{view: view, events: m.Filter(make([]market.Event, 0, len(view.Events)), view.Events)}, nil
}

// quoteInput shows a piece of user input in a message: at most 20 characters, quoted with
// control characters escaped (the page escapes it again as HTML).
func quoteInput(s string) string {
	if r := []rune(s); len(r) > 20 {
		s = string(r[:20]) + "…"
	}
	return strconv.Quote(s)
}
