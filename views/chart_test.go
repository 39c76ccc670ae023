package views

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// MustReplayView runs market/testdata/sample.csv through a Runner at full speed and returns
// symbol's view at the end: the session a fixed replay leaves.
func MustReplayView(tb testing.TB, symbol string) market.SymbolView {
	tb.Helper()
	feed, err := market.NewReplayFeed(filepath.Join("..", "market", "testdata", "sample.csv"), 0, false, nil)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := market.NewRunner(market.RunnerConfig{Feed: feed, Source: "replay"})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Run(ctx); err != nil {
		tb.Fatalf("replay: %v", err)
	}
	v, ok := r.SymbolView(symbol)
	if !ok || !v.State.HasData {
		tb.Fatalf("%s not in the replay", symbol)
	}
	return v
}

// allowed filters the view's events as the symbol page does: the user's filters, for this
// one symbol.
func allowed(tb testing.TB, v market.SymbolView, f settings.Filters) []market.Event {
	tb.Helper()
	m, err := settings.NewMatcher(f, settings.NewSymbolSet([]string{v.State.Symbol}))
	if err != nil {
		tb.Fatal(err)
	}
	return m.Filter(nil, v.Events)
}

func renderChart(tb testing.TB, c Chart) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := SymbolChart(c).Render(context.Background(), &buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestChartGolden pins the chart's SVG for a fixed replay: NVDA's session in sample.csv,
// which has lows, trends of each strength and a surge, under the default filters.
func TestChartGolden(t *testing.T) {
	v := MustReplayView(t, "NVDA")
	events := allowed(t, v, settings.DefaultFilters())
	svg := renderChart(t, NewChart(v, events))
	golden := filepath.Join("testdata", "chart_NVDA.golden.svg")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, svg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./views -run TestChartGolden -update to write it)", err)
	}
	if !bytes.Equal(svg, want) {
		t.Fatalf("the chart's SVG differs from %s (if the change is meant, rerun with -update):\n%s", golden, svg)
	}
}

// TestChartPointsAndMarkers checks the chart against the data it draws: one line point per
// price sample, one marker per allowed event (and none for the events the filters hide),
// each marker with a hover title.
func TestChartPointsAndMarkers(t *testing.T) {
	v := MustReplayView(t, "NVDA")
	noTrends := settings.DefaultFilters()
	noTrends.Trends.Direction = settings.DirectionUp // NVDA only trended down
	strict := settings.DefaultFilters()
	strict.HighLow.MinCount = 10
	strict.Trends.MinStrength = settings.StrengthStrong
	cases := []struct {
		name    string
		filters settings.Filters
	}{
		{"defaults", settings.DefaultFilters()},
		{"trends hidden", noTrends},
		{"strict", strict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			events := allowed(t, v, tc.filters)
			doc, err := goquery.NewDocumentFromReader(bytes.NewReader(renderChart(t, NewChart(v, events))))
			if err != nil {
				t.Fatal(err)
			}
			line := doc.Find("polyline.price")
			pts := strings.Fields(line.AttrOr("points", ""))
			if len(pts) != len(v.Prices) || len(v.Prices) < 100 {
				t.Fatalf("the line has %d points for %d price samples", len(pts), len(v.Prices))
			}
			want := map[string]int{}
			for _, e := range events {
				want[e.Kind.String()]++
			}
			for _, kind := range []string{"high", "low", "trend", "surge"} {
				if got := doc.Find(`g.marker[data-kind="` + kind + `"]`).Length(); got != want[kind] {
					t.Errorf("%d %s markers, want %d", got, kind, want[kind])
				}
			}
			if got := doc.Find("g.marker").Length(); got != len(events) {
				t.Errorf("%d markers for %d events", got, len(events))
			}
			doc.Find("g.marker").Each(func(i int, g *goquery.Selection) {
				if title := g.Find("title").Text(); !strings.Contains(title, " ET") || !strings.Contains(title, "$") {
					t.Errorf("marker %d has title %q", i, title)
				}
			})
			if tc.name == "trends hidden" && (want["trend"] != 0 || want["low"] == 0) {
				t.Fatalf("the case does not test what it says: %v", want)
			}
		})
	}
	// The whole session's events are there under the loosest filters.
	loose := settings.DefaultFilters()
	loose.Trends.MinStrength = settings.StrengthWeak
	if n := len(allowed(t, v, loose)); n != len(v.Events) {
		t.Fatalf("the loosest filters allow %d of %d events", n, len(v.Events))
	}
}

func TestChartEmptyAndFlat(t *testing.T) {
	empty := NewChart(market.SymbolView{State: market.SymbolState{Symbol: "ZZZ"}}, nil)
	if !empty.Empty || !bytes.Contains(renderChart(t, empty), []byte("No data yet")) {
		t.Fatalf("empty chart: %+v", empty)
	}
	// One tick: a flat line must not divide by zero.
	at := market.MillisOf(time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC))
	one := NewChart(market.SymbolView{
		State:  market.SymbolState{Symbol: "ONE", HasData: true, Price: 10, Open: 10, Time: at},
		Prices: []market.PricePoint{{Time: at, Price: 10}},
	}, nil)
	if one.Points != 1 || strings.Contains(one.Line, "NaN") || strings.Contains(one.Line, "Inf") {
		t.Fatalf("one point: %+v", one)
	}
}

// BenchmarkSymbolChart lays out and writes the chart of a full symbol history: 2048 price
// points and 512 events, the most the engine keeps.
func BenchmarkSymbolChart(b *testing.B) {
	start := time.Date(2025, 3, 14, 13, 30, 0, 0, time.UTC)
	v := market.SymbolView{State: market.SymbolState{Symbol: "BIG", HasData: true, Open: 100, Price: 101}}
	for i := range market.MaxPricePoints {
		v.Prices = append(v.Prices, market.PricePoint{Time: market.MillisOf(start.Add(time.Duration(i) * 5 * time.Second)),
			Price: 100 + float64(i%97)/10})
	}
	for i := range market.MaxSymbolEvents {
		at := market.MillisOf(start.Add(time.Duration(i) * 20 * time.Second))
		v.Events = append(v.Events, market.Event{Kind: market.KindHigh, HighLow: market.HighLowEvent{Kind: market.KindHigh,
			Symbol: "BIG", Price: 100 + float64(i%50)/10, Time: at, Count: i + 1}})
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := SymbolChart(NewChart(v, v.Events)).Render(context.Background(), &buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "svg-bytes")
}
