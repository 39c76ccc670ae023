package handlers

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tickstock/tickstock/market"
)

// mustRunner runs ticks through a real market.Runner to their end and returns it, as the
// app's market for symbol figures.
func mustRunner(t *testing.T, ticks []market.Tick) *market.Runner {
	t.Helper()
	return runToEnd(t, market.SliceFeed(ticks), "sim")
}

// mustReplayRunner runs market/testdata/sample.csv through a Runner at full speed.
func mustReplayRunner(t *testing.T) *market.Runner {
	t.Helper()
	feed, err := market.NewReplayFeed(filepath.Join("..", "market", "testdata", "sample.csv"), 0, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return runToEnd(t, feed, "replay")
}

func runToEnd(t *testing.T, feed market.Feed, source string) *market.Runner {
	t.Helper()
	r, err := market.NewRunner(market.RunnerConfig{Feed: feed, Source: source})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

// symbolJSON is the body of GET /api/symbols/{symbol}.
type symbolJSON struct {
	Success bool                `json:"success"`
	Symbol  market.SymbolState  `json:"symbol"`
	Prices  []market.PricePoint `json:"prices"`
	Events  []market.Event      `json:"events"`
}

func TestSymbolAPI(t *testing.T) {
	runner := mustReplayRunner(t)
	app := MustApp(t, unlimited, withSymbols(runner))
	c := signedIn(t, app, "sym@example.com", "symbolic")
	view, _ := runner.SymbolView("NVDA")

	r := c.get("/api/symbols/NVDA")
	if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/symbols/NVDA: %d %s", r.StatusCode, r.Body)
	}
	// The SPEC's shape: success, symbol, prices as [ms, price] pairs, events.
	var raw map[string]json.RawMessage
	mustDecode(t, r, &raw)
	for _, k := range []string{"success", "symbol", "prices", "events"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("no %q in %s", k, r.Body[:min(300, len(r.Body))])
		}
	}
	var pair [][2]float64
	if err := json.Unmarshal(raw["prices"], &pair); err != nil || len(pair) != len(view.Prices) {
		t.Fatalf("prices are not [ms, price] pairs: %v (%d, want %d)", err, len(pair), len(view.Prices))
	}
	var got symbolJSON
	mustDecode(t, r, &got)
	if !got.Success || got.Symbol != view.State || !got.Symbol.HasData {
		t.Fatalf("state %+v, want %+v", got.Symbol, view.State)
	}
	for _, k := range []string{`"session_high"`, `"session_low"`, `"volume"`, `"pct_from_open"`, `"high_count"`, `"low_count"`, `"short"`, `"medium"`, `"long"`} {
		if !strings.Contains(string(raw["symbol"]), k) {
			t.Errorf("symbol lacks %s", k)
		}
	}
	// At most one point per 5 s bucket, in time order.
	for i := 1; i < len(got.Prices); i++ {
		a, b := int64(got.Prices[i-1].Time), int64(got.Prices[i].Time)
		if b <= a || a/market.PricePointStep == b/market.PricePointStep {
			t.Fatalf("points %d and %d share a 5 s bucket: %v %v", i-1, i, got.Prices[i-1], got.Prices[i])
		}
	}
	// The default filters hide weak trends: everything else, newest first.
	if len(got.Events) == 0 || len(got.Events) >= len(view.Events) {
		t.Fatalf("%d events of %d", len(got.Events), len(view.Events))
	}
	for i, e := range got.Events {
		if e.Kind == market.KindTrend && e.Trend.Strength == market.StrengthWeak {
			t.Fatal("a weak trend passed the default filters")
		}
		if i > 0 && e.Time() > got.Events[i-1].Time() {
			t.Fatal("events are not newest first")
		}
	}

	// A user whose filters hide trends gets none, on the API and as chart markers.
	if r := c.postJSON("/api/user-filters", `{"filter_data":{"trends":{"direction":"up"}}}`); r.StatusCode != 200 {
		t.Fatal(r.Body)
	}
	mustDecode(t, c.get("/api/symbols/NVDA"), &got)
	kinds := map[market.EventKind]int{}
	for _, e := range got.Events {
		kinds[e.Kind]++
	}
	if kinds[market.KindTrend] != 0 || kinds[market.KindLow] == 0 || kinds[market.KindSurge] != 1 {
		t.Fatalf("with trends hidden: %v", kinds)
	}
	doc := c.get("/symbols/NVDA").Doc(t)
	if n := doc.Find(`svg g.marker[data-kind="trend"]`).Length(); n != 0 {
		t.Fatalf("%d trend markers with trends hidden", n)
	}
	if n := doc.Find(`svg g.marker`).Length(); n != len(got.Events) {
		t.Fatalf("%d markers for %d events", n, len(got.Events))
	}

	// Case-insensitive, unknown, invalid, signed out.
	if r := c.get("/api/symbols/nvda"); r.StatusCode != 200 {
		t.Fatalf("lower case: %d", r.StatusCode)
	}
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/api/symbols/ZZZZ", 404},
		{"/symbols/ZZZZ", 404},
		{"/api/symbols/TOO-LONG-A-SYMBOL", 400},
		{"/api/symbols/%3Cscript%3E", 400},
		{"/symbols/%3Cscript%3Ealert(1)%3C%2Fscript%3E", 400},
	} {
		r := c.get(tc.path)
		if r.StatusCode != tc.code {
			t.Errorf("%s: %d, want %d", tc.path, r.StatusCode, tc.code)
		}
		if strings.Contains(r.Body, "<script>") {
			t.Errorf("%s echoes the symbol unescaped: %s", tc.path, r.Body)
		}
		if strings.HasPrefix(tc.path, "/api/") && !strings.Contains(r.Body, `"success":false`) {
			t.Errorf("%s: %s", tc.path, r.Body)
		}
	}
	// A program with the user's API token reads the same, as its owner; the page is not
	// for tokens.
	token, _ := createCredential(t, c, "/settings/tokens", "charts")
	program := app.NewClient(t)
	var viaToken symbolJSON
	r = program.get("/api/symbols/NVDA", "Authorization", "Bearer "+token)
	mustDecode(t, r, &viaToken)
	if r.StatusCode != 200 || viaToken.Symbol != got.Symbol || len(viaToken.Events) != len(got.Events) {
		t.Fatalf("with a token: %d, %d events, want %d", r.StatusCode, len(viaToken.Events), len(got.Events))
	}
	if r := program.get("/symbols/NVDA", "Authorization", "Bearer "+token); r.StatusCode != 403 {
		t.Fatalf("the page with a token: %d, want 403", r.StatusCode)
	}
	anon := app.NewClient(t)
	if r := anon.get("/api/symbols/NVDA"); r.StatusCode != 401 {
		t.Fatalf("signed out API: %d", r.StatusCode)
	}
	if r := anon.get("/symbols/NVDA"); r.StatusCode != 303 {
		t.Fatalf("signed out page: %d", r.StatusCode)
	}
}

func TestSymbolPage(t *testing.T) {
	runner := mustReplayRunner(t)
	app := MustApp(t, unlimited, withSymbols(runner))
	c := signedIn(t, app, "page@example.com", "pager")
	view, _ := runner.SymbolView("AAPL")

	r := c.get("/symbols/AAPL")
	if r.StatusCode != 200 {
		t.Fatalf("%d %s", r.StatusCode, r.Body)
	}
	doc := r.Doc(t)
	if doc.Find(`[data-testid="symbol-title"]`).Text() != "AAPL" {
		t.Fatal("no title")
	}
	// One line point per sample; the state; the events newest first.
	points := strings.Fields(doc.Find(`svg polyline.price`).AttrOr("points", ""))
	if len(points) != len(view.Prices) {
		t.Fatalf("%d points for %d samples", len(points), len(view.Prices))
	}
	if got, want := doc.Find(`[data-testid="state-high"]`).Text(), strconv.FormatFloat(view.State.SessionHigh, 'f', 2, 64); got != want {
		t.Fatalf("session high %q, want %q", got, want)
	}
	for _, id := range []string{"state-price", "state-pct", "state-high", "state-low", "state-volume", "state-counts", "trend-scores"} {
		if strings.TrimSpace(doc.Find(`[data-testid="`+id+`"]`).Text()) == "" {
			t.Errorf("%s is empty", id)
		}
	}
	rows := doc.Find(`[data-testid="symbol-events"] tr`)
	markers := doc.Find(`svg g.marker`)
	if rows.Length() == 0 || rows.Length() != markers.Length() {
		t.Fatalf("%d event rows, %d markers", rows.Length(), markers.Length())
	}
	markers.Each(func(i int, m *goquery.Selection) {
		if !strings.Contains(m.Find("title").Text(), " ET") {
			t.Errorf("marker %d title %q", i, m.Find("title").Text())
		}
	})
	// The page follows the user's stream; the live part refreshes through htmx.
	if doc.Find(`[sse-connect="/stream"]`).Length() != 1 || doc.Find(`script[src="/static/js/symbol.js"]`).Length() != 1 {
		t.Fatal("the page does not open the stream or load its script")
	}
	live := doc.Find(`#symbol-live`)
	if live.AttrOr("hx-get", "") != "/symbols/AAPL" || !strings.Contains(live.AttrOr("hx-trigger", ""), "symbol-refresh") {
		t.Fatalf("live part: %v", live.Nodes)
	}
	frag := c.get("/symbols/AAPL", "HX-Request", "true")
	if frag.StatusCode != 200 || strings.Contains(frag.Body, "<html") || frag.Doc(t).Find(`#symbol-live svg`).Length() != 1 {
		t.Fatalf("htmx fragment: %d", frag.StatusCode)
	}

	// A symbol of the user's own list that no feed has ticked: "no data yet".
	mustList(t, c, "Quiet", "QUIET")
	doc = c.get("/symbols/QUIET").Doc(t)
	if !strings.Contains(doc.Find(`[data-testid="no-data"]`).Text(), "No data yet") {
		t.Fatal("no 'no data yet' for a listed symbol without ticks")
	}
	// A symbol of a shared universe without ticks has a page too.
	if r := c.get("/symbols/JPM"); r.StatusCode != 200 {
		t.Fatalf("universe symbol without ticks: %d", r.StatusCode)
	}
	// Lists link to the page.
	card := listCard(t, c.get("/watchlists").Doc(t), "Quiet")
	if card.Find(`a[href="/symbols/QUIET"]`).Length() != 1 {
		t.Fatal("the list does not link to the symbol page")
	}
	if r := c.get("/symbols/aapl"); r.StatusCode != 200 || r.Doc(t).Find(`[data-testid="symbol-title"]`).Text() != "AAPL" {
		t.Fatalf("lower case page: %d", r.StatusCode)
	}
}
