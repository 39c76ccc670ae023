package views

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
)

// mustRender renders c and parses it; wrap puts a fragment in context (table rows need a
// table around them to parse).
func mustRender(t *testing.T, c templ.Component, wrap string) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	if wrap != "" {
		html = strings.Replace(wrap, "%s", html, 1)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(html))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestDashboardBody(t *testing.T) {
	f := settings.DefaultFilters()
	f.Surges.MinStrength = settings.StrengthStrong
	f.Display.OneRowPerSymbol = true
	d := Dashboard{StreamURL: "/stream", Highlow: []string{"TECH_UNIVERSE"}, Market: []string{"DEFAULT_UNIVERSE"},
		Filters: f, Since: time.Date(2025, 3, 12, 13, 31, 0, 0, time.UTC), Summary: market.EmptySummary(103)}
	doc := mustRender(t, DashboardBody(d), "")

	live := doc.Find(".live")
	if live.AttrOr("data-stream-url", "") != "/stream" || live.AttrOr("data-one-row", "") != "true" {
		t.Fatalf("live root: %v", live.Nodes[0].Attr)
	}
	if _, ext := live.Attr("hx-ext"); ext {
		t.Fatal("the dashboard uses htmx's SSE extension: its tabs would not share one stream")
	}
	if doc.Find(`[role="status"][aria-live="polite"]#conn-announce`).Length() != 1 {
		t.Fatal("no polite status region")
	}
	if doc.Find(`[data-toggle="one-row"][aria-pressed="true"]`).Length() != 1 {
		t.Fatal("the one-row toggle does not show the saved choice")
	}
	// Six panels; each table is labelled by its heading, which exists; rows go to the tbody.
	panels := doc.Find(".panel")
	if panels.Length() != 6 {
		t.Fatalf("%d panels", panels.Length())
	}
	panels.Each(func(_ int, p *goquery.Selection) {
		id := p.AttrOr("data-panel", "")
		table := p.Find("table")
		label := table.AttrOr("aria-labelledby", "")
		if label == "" || doc.Find("h2#"+label).Length() != 1 {
			t.Errorf("panel %s: table labelled by %q, no such heading", id, label)
		}
		if p.Find("tbody#"+id+"[data-max-rows=\"100\"]").Length() != 1 {
			t.Errorf("panel %s: no tbody#%s", id, id)
		}
		if p.Find(`th:contains("Time (ET)")`).Length() != 1 {
			t.Errorf("panel %s: times not labelled ET", id)
		}
		cols := p.Find("thead th").Length()
		if p.Find("tbody").AttrOr("data-cols", "") != itoaPlain(cols) {
			t.Errorf("panel %s: data-cols %s for %d columns", id, p.Find("tbody").AttrOr("data-cols", ""), cols)
		}
	})
	if got := doc.Find("#empty-surge-up").Text(); got != "No strong surges in TECH_UNIVERSE since 09:31 ET — filters hide weaker ones" {
		t.Fatalf("surge empty state %q", got)
	}
	if doc.Find(`#highs th:contains("% from open")`).Length()+doc.Find(`[data-panel="highs"] th:contains("% from open")`).Length() == 0 {
		t.Fatal(`no "% from open" column`)
	}
	for _, h := range []string{"Score", "Age", "Vol ×"} {
		if doc.Find(`th[title]:contains("`+h+`")`).Length() == 0 || doc.Find(`.legend dt:contains("`+h+`")`).Length() != 1 {
			t.Errorf("%s has no tooltip or no legend entry", h)
		}
	}

	// An embed: htmx's own SSE client, no view tools, nothing to collapse or pause.
	d.Embed = true
	doc = mustRender(t, DashboardBody(d), "")
	live = doc.Find(".live")
	if live.AttrOr("hx-ext", "") != "sse" || live.AttrOr("sse-connect", "") != "/stream" || live.AttrOr("data-stream-url", "") != "" {
		t.Fatalf("embed root: %v", live.Nodes[0].Attr)
	}
	if doc.Find(".view-tools, [data-pause], [data-collapse]").Length() != 0 {
		t.Fatal("an embed has view tools")
	}
	if doc.Find(`[sse-swap="trending,surging,settings"][hx-swap="none"]`).Length() != 1 {
		t.Fatal("no out-of-band sink")
	}
}

func itoaPlain(n int) string { return millis(int64(n)) }

func TestRows(t *testing.T) {
	at := market.MillisOf(time.Date(2025, 3, 12, 14, 42, 5, 0, time.UTC))
	e := market.HighLowEvent{Kind: market.KindHigh, Symbol: "BRK.B", Price: 1234.5, Time: at, Count: 3, Volume: 12345678, PctChange: 1.25, Reversal: true}
	doc := mustRender(t, HighLowRow(e, 99), "<table><tbody>%s</tbody></table>")
	row := doc.Find("tr")
	if row.AttrOr("data-symbol", "") != "BRK.B" {
		t.Fatal("no data-symbol")
	}
	if href := row.Find("td.sym a").AttrOr("href", ""); href != "/symbols/BRK.B" {
		t.Fatalf("symbol link %q", href)
	}
	if got := row.Find("td").First().Text(); got != "10:42:05" {
		t.Fatalf("time %q", got)
	}
	if row.Find(`[data-testid="reversal"]`).Length() != 1 {
		t.Fatal("a reversal has no badge")
	}
	if got := row.Find("td.num").First().Text(); got != "1,234.50" {
		t.Fatalf("price %q", got)
	}
	if got := row.Find("td.opt").Text(); got != "12.35M" {
		t.Fatalf("volume %q", got)
	}
	e.Reversal = false
	if mustRender(t, HighLowRow(e, 99), "<table><tbody>%s</tbody></table>").Find(".reversal").Length() != 0 {
		t.Fatal("a badge without a reversal")
	}
}

func TestMarketSummary(t *testing.T) {
	at := time.Date(2025, 3, 12, 11, 16, 0, 0, newYork)
	next, nextAt := market.NextPhaseChange(at)
	s := market.Summary{UniverseSize: 103, Highs: 3322, Lows: 1210, SymbolsWithHighs: 37, SymbolsWithLows: 12,
		Breadth: market.Breadth(3322, 1210), Ticks10s: 1500, Ticks60s: 9200, Ticks300s: 45123, Activity: market.ActivityExtreme,
		Phase: market.PhasePre, NextPhase: next, NextPhaseAt: market.MillisOf(nextAt), At: market.MillisOf(at)}
	s.Phase = market.PhaseAt(at)
	doc := mustRender(t, MarketSummary(s, 1), "")
	for testid, want := range map[string]string{
		"summary-highs":       "37 of 103",
		"summary-high-events": "3,322 events",
		"summary-lows":        "12 of 103",
		"ticks":               "1,500 / 9,200 / 45,123",
		"phase":               "Open",
		"phase-next":          "closes in 4h 44m",
		"activity":            "extreme",
	} {
		if got := strings.TrimSpace(doc.Find(`[data-testid="` + testid + `"]`).Text()); got != want {
			t.Errorf("%s = %q, want %q", testid, got, want)
		}
	}
	// The activity is drawn on a neutral scale, never in the colour of "down".
	act := doc.Find(`[data-testid="activity"]`)
	if act.HasClass("down") || act.HasClass("up") || act.AttrOr("data-level", "") != "6" {
		t.Fatalf("activity classes %q level %q", act.AttrOr("class", ""), act.AttrOr("data-level", ""))
	}
}

func TestSettingsChanged(t *testing.T) {
	st := settings.DefaultSettings()
	st.Selections.HighLow = []string{"TECH_UNIVERSE"}
	at := time.Date(2025, 3, 12, 14, 42, 5, 0, time.UTC)
	doc := mustRender(t, SettingsChanged(SettingsChange{Settings: st, Universes: true, At: at}), "<table>%s</table>")
	rows := doc.Find("tbody[hx-swap-oob] tr.divider")
	if rows.Length() != 6 || rows.First().Text() != "Universes changed at 10:42:05 ET" {
		t.Fatalf("%d dividers, first %q", rows.Length(), rows.First().Text())
	}
	if got := rows.Last().Find("td").AttrOr("colspan", ""); got != "7" {
		t.Fatalf("surge divider spans %s columns", got)
	}
	if got := doc.Find(`#dash-universes[hx-swap-oob="outerHTML"]`).Text(); got != "Panels: TECH_UNIVERSE · Summary: DEFAULT_UNIVERSE" {
		t.Fatalf("header %q", got)
	}
	doc = mustRender(t, SettingsChanged(SettingsChange{Settings: st, At: at}), "<table>%s</table>")
	if doc.Find("#dash-universes").Length() != 0 || !strings.HasPrefix(doc.Find("tr.divider").First().Text(), "Filters changed at") {
		t.Fatal("a change of filters alone names the universes")
	}
}

func TestLoginNoticeAndInvalidFields(t *testing.T) {
	doc := mustRender(t, LoginPage(Page{Title: "Log in"}, AuthForm{Notice: MsgSessionEnded}), "")
	if got := doc.Find(`[data-testid="notice"][role="status"]`).Text(); got != "Your session ended. Sign in again." {
		t.Fatalf("notice %q", got)
	}
	doc = mustRender(t, RegisterForm(AuthForm{Username: "x", Errors: map[string]string{"username": "Username is too short."}}), "")
	in := doc.Find(`input[name="username"]`)
	if in.AttrOr("aria-invalid", "") != "true" || in.AttrOr("aria-describedby", "") != doc.Find(`[data-testid="error-username"]`).AttrOr("id", "-") {
		t.Fatalf("username input: %v", in.Nodes[0].Attr)
	}
	if doc.Find(`input[name="email"][aria-invalid]`).Length() != 0 {
		t.Fatal("a good field is marked invalid")
	}
}

func TestLayoutAccessibility(t *testing.T) {
	doc := mustRender(t, HomePage(Page{Title: "Home"}), "")
	first := doc.Find("body").Children().First()
	if !first.Is(`a.skip-link[href="#main"]`) || doc.Find("main#main").Length() != 1 {
		t.Fatal("the skip link is not the first thing in the body, or #main is missing")
	}
	if doc.Find(`link[rel="icon"][href="/static/img/favicon.svg"]`).Length() != 1 {
		t.Fatal("no favicon link")
	}
	if doc.Find("script:not([src]), style, [style]").Length() != 0 {
		t.Fatal("inline script or style: the CSP forbids them")
	}
}

// TestPanelFromItsFrame checks that a panel made of its pre-rendered frame is the panel
// rendered whole, for pages and embeds, and that its empty hint is still escaped.
func TestPanelFromItsFrame(t *testing.T) {
	const hint = `No <b>"new"</b> highs & lows yet`
	for i, pd := range livePanels {
		for _, embed := range []bool{false, true} {
			var whole, framed bytes.Buffer
			ctx := templ.WithChildren(context.Background(), emptyHint(pd.id, hint, false))
			if err := panelFrame(pd, embed).Render(ctx, &whole); err != nil {
				t.Fatal(err)
			}
			if err := writePanel(&framed, i, hint, embed); err != nil {
				t.Fatal(err)
			}
			if whole.String() != framed.String() {
				t.Fatalf("panel %s (embed %v) from its frame:\n%s\nwhole:\n%s", pd.id, embed, framed.String(), whole.String())
			}
			if strings.Contains(framed.String(), "<b>") || !strings.Contains(framed.String(), "&lt;b&gt;") {
				t.Fatalf("panel %s: the empty hint is not escaped: %s", pd.id, framed.String())
			}
		}
	}
}

// TestPageSummary checks that a page's summary from the shared table is the summary
// rendered afresh, also for summaries that take turns in one slot and for a breadth of -0,
// which equals 0 but reads "-0".
func TestPageSummary(t *testing.T) {
	base := market.Summary{UniverseSize: 103, Activity: market.ActivityQuiet, At: 5}
	negZero := base
	negZero.Breadth = math.Copysign(0, -1)
	busier := base
	busier.Highs, busier.SymbolsWithHighs = 7, 2
	if summarySlot(base) != summarySlot(negZero) || summarySlot(base) != summarySlot(busier) {
		t.Fatal("the test's summaries do not share a slot")
	}
	var cache SummaryCache
	for _, s := range []market.Summary{base, base, negZero, busier, base, busier} {
		var want, got bytes.Buffer
		if err := MarketSummary(s, 0).Render(context.Background(), &want); err != nil {
			t.Fatal(err)
		}
		if err := pageSummary(&cache, s).Render(context.Background(), &got); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Fatalf("summary %+v from the table:\n%s\nrendered:\n%s", s, got.String(), want.String())
		}
	}
}
