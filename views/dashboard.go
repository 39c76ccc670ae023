package views

import (
	"context"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"

	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
)

// Dashboard is the dashboard's view model.
type Dashboard struct {
	StreamURL string         // "/stream", or an embed's stream
	Summary   market.Summary // the summary at page load
	Highlow   []string       // the highlow universes, for the header and the empty states
	Market    []string       // the market universes
	// Filters are the user's filters, for the empty states ("filters hide weaker ones")
	// and the display choice (one row per symbol). The zero value stands for the defaults.
	Filters settings.Filters
	Since   time.Time  // when the panels started watching: the page load ("since 09:31 ET")
	Embed   bool       // read-only embed: no navigation, no settings link, htmx's own SSE client
	Alerts  AlertsView // the user's watchlist alerts (alerts.templ)
	Panels  []string   // the panels an embed shows (see PanelIDs); nil: all of them
}

// userSettings are the user's universes and filters as the empty states read them.
func (d Dashboard) userSettings() settings.Settings {
	f := d.Filters
	if f.Trends.MinStrength == "" { // not filled in: the defaults
		f = settings.DefaultFilters()
	}
	return settings.Settings{Selections: settings.Selections{HighLow: d.Highlow, Market: d.Market}, Filters: f}
}

// The live panels' ids: each is the id of the panel's <tbody>, the target of its rows.
const (
	PanelHighs     = "highs"
	PanelLows      = "lows"
	PanelTrendUp   = "trend-up"
	PanelTrendDown = "trend-down"
	PanelSurgeUp   = "surge-up"
	PanelSurgeDown = "surge-down"
)

// panelDef is one live panel: its id, heading, the SSE event that fills it directly ("" when
// its rows come out of band), its column count (for divider rows) and its table head.
type panelDef struct {
	id, title, event string
	cols             int
	head             func() templ.Component
}

// frame is a panel's markup before and after its empty hint's text.
type frame struct{ head, tail string }

type frameKey struct {
	id    string
	embed bool
}

// panelFrames renders every panel's frame once, for pages and for embeds: nothing in it
// changes between pages, and rendering it (ids, test ids, escaping) took a fifth of the
// CPU of a GET /dashboard.
var panelFrames = sync.OnceValue(func() map[frameKey]frame {
	const slot = "EMPTYHINTSLOT" // text that escaping leaves as it is
	frames := make(map[frameKey]frame, 2*len(livePanels))
	for _, pd := range livePanels {
		for _, embed := range []bool{false, true} {
			var b strings.Builder
			ctx := templ.WithChildren(context.Background(), emptyHint(pd.id, slot, false))
			if err := panelFrame(pd, embed).Render(ctx, &b); err != nil {
				panic("views: render panel frame " + pd.id + ": " + err.Error()) // a strings.Builder does not fail
			}
			head, tail, ok := strings.Cut(b.String(), slot)
			if !ok {
				panic("views: panel frame " + pd.id + " has no place for its empty hint")
			}
			frames[frameKey{pd.id, embed}] = frame{head, tail}
		}
	}
	return frames
})

// panel is one live table (panelFrame around its emptyHint). Only the hint's text varies
// between pages, so the rest comes from panelFrames.
func panel(pd panelDef, empty string, embed bool) templ.Component {
	f := panelFrames()[frameKey{pd.id, embed}]
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		if _, err := io.WriteString(w, f.head); err != nil {
			return err
		}
		if _, err := io.WriteString(w, templ.EscapeString(empty)); err != nil {
			return err
		}
		_, err := io.WriteString(w, f.tail)
		return err
	})
}

// livePanels are the dashboard's panels in page order.
var livePanels = []panelDef{
	{PanelHighs, "New highs", "highs", 6, highLowHead},
	{PanelLows, "New lows", "lows", 6, highLowHead},
	{PanelTrendUp, "Trending up", "", 6, trendHead},
	{PanelTrendDown, "Trending down", "", 6, trendHead},
	{PanelSurgeUp, "Surging up", "", 7, surgeHead},
	{PanelSurgeDown, "Surging down", "", 7, surgeHead},
}

// liveAttrs are the live root's attributes. The dashboard's own script (static/js/app.js)
// reads data-stream-url and drives the stream, shared by the browser's tabs. An embed may
// be loaded into another site's page by that site's htmx, so it keeps htmx's SSE extension
// (hx-ext="sse"), which the same sse-swap markup serves.
func liveAttrs(d Dashboard) templ.Attributes {
	if d.Embed {
		return templ.Attributes{"hx-ext": "sse", "sse-connect": d.StreamURL, "sse-close": "logout", "data-embed": true}
	}
	return templ.Attributes{"id": "live", "data-stream-url": d.StreamURL,
		"data-one-row": strconv.FormatBool(d.userSettings().Filters.Display.OneRowPerSymbol)}
}

// SettingsChange is what a stream tells a page whose user's settings changed while it was
// open: the new universes for the header, a divider in every panel, and new empty states.
type SettingsChange struct {
	Settings  settings.Settings
	Universes bool      // the universes changed; otherwise only the filters did
	At        time.Time // when the stream noticed
}

// dividerText is the divider row's words.
func (c SettingsChange) dividerText() string {
	if c.Universes {
		return "Universes changed at " + clockET(c.At)
	}
	return "Filters changed at " + clockET(c.At)
}
