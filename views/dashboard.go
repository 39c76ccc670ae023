package views

import (
	"context"
	"io"
	"math"
	"strings"
	"sync"
	"sync/atomic"
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
	// Summaries shares the summary's markup between page loads (nil: rendered each time).
	Summaries *SummaryCache
	// holes is DashboardPages' mark while it renders a skeleton ("" otherwise): the alert
	// element and the summary become marks.
	holes string
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

// b2i is a frame's index for embed (0 for pages, 1 for embeds).
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// panelFrames renders every panel's frame once, for pages and for embeds: nothing in it
// changes between pages, and rendering it (ids, test ids, escaping) took a fifth of the
// CPU of a GET /dashboard. Frames are indexed like livePanels, then by embed (0 for pages,
// 1 for embeds).
var panelFrames = sync.OnceValue(func() [][2]frame {
	const slot = "EMPTYHINTSLOT" // text that escaping leaves as it is
	frames := make([][2]frame, len(livePanels))
	for i, pd := range livePanels {
		for e, embed := range []bool{false, true} {
			var b strings.Builder
			ctx := templ.WithChildren(context.Background(), emptyHint(pd.id, slot, false))
			if err := panelFrame(pd, embed).Render(ctx, &b); err != nil {
				panic("views: render panel frame " + pd.id + ": " + err.Error()) // a strings.Builder does not fail
			}
			head, tail, ok := strings.Cut(b.String(), slot)
			if !ok {
				panic("views: panel frame " + pd.id + " has no place for its empty hint")
			}
			frames[i][e] = frame{head, tail}
		}
	}
	return frames
})

// panels writes the live panels d shows (panelFrame around emptyHint, for each). Only the
// hints' text varies between pages, so the rest comes from panelFrames; the hints share
// their universes and time (emptyWhere).
func panels(d Dashboard) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		st := d.userSettings()
		where := emptyWhere(st.Selections.HighLow, d.Since)
		for i, pd := range livePanels {
			if !d.Shows(pd.id) {
				continue
			}
			if err := writePanel(w, i, emptyText(pd.id, st.Filters, where), d.Embed); err != nil {
				return err
			}
		}
		return nil
	})
}

// writePanel writes livePanels[i] with its empty hint's text.
func writePanel(w io.Writer, i int, empty string, embed bool) error {
	f := panelFrames()[i][b2i(embed)]
	if _, err := io.WriteString(w, f.head); err != nil {
		return err
	}
	if _, err := io.WriteString(w, templ.EscapeString(empty)); err != nil {
		return err
	}
	_, err := io.WriteString(w, f.tail)
	return err
}

// SummaryCache keeps the markup of recent page-load market summaries (MarketSummary
// without an emission time). Pages loaded while one market snapshot stands show the same
// summary for the same universes, so its markup is rendered once and kept in a small
// table. An entry serves only a summary equal in every field to the one it was rendered
// from (MarketSummary reads nothing else), so it is never stale; summaries that share a
// slot replace each other. The zero value is ready; the handlers keep one for the app.
type SummaryCache struct {
	slots [64]atomic.Pointer[summaryMarkup] // enough for the market universes in use at once
}

// pageSummary is s's markup from sc, or rendered afresh without a cache.
func pageSummary(sc *SummaryCache, s market.Summary) templ.Component {
	if sc == nil {
		return MarketSummary(s, 0)
	}
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		slot := &sc.slots[summarySlot(s)]
		m := slot.Load()
		if m == nil || !sameSummary(m.sum, s) {
			var b strings.Builder // rendered outside the page's context, for every page
			if err := MarketSummary(s, 0).Render(context.Background(), &b); err != nil {
				return err
			}
			m = &summaryMarkup{sum: s, html: b.String()}
			slot.Store(m)
		}
		_, err := io.WriteString(w, m.html)
		return err
	})
}

// summaryMarkup is a page's summary and its markup.
type summaryMarkup struct {
	sum  market.Summary
	html string
}

// summarySlot spreads summaries over the slots by the fields that tell universes and
// snapshots apart.
func summarySlot(s market.Summary) int {
	h := uint64(s.UniverseSize)*0x9e3779b97f4a7c15 ^ uint64(s.At)*0xbf58476d1ce4e5b9 ^ uint64(s.Ticks300s)*0x94d049bb133111eb
	return int((h >> 32) % uint64(len(SummaryCache{}.slots)))
}

// sameSummary reports whether a and b render the same; Breadth is compared bit for bit,
// since 0 and -0 are equal but format differently.
func sameSummary(a, b market.Summary) bool {
	return a == b && math.Float64bits(a.Breadth) == math.Float64bits(b.Breadth)
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
