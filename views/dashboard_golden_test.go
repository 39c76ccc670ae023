package views

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
)

// TestDashboardGolden holds the dashboard's markup (the page, the embed's body, the summary
// and the settings-change fragment) byte for byte: browser tests and the page's scripts
// read every attribute of it, and the way it is produced is tuned for speed, so any change
// of bytes must be deliberate (go test ./views -run Golden -update rewrites the files under testdata/golden).
func TestDashboardGolden(t *testing.T) {
	since := time.Date(2025, 3, 12, 13, 31, 40, 0, time.UTC)
	at := time.Date(2025, 3, 12, 11, 16, 0, 0, newYork)
	next, nextAt := market.NextPhaseChange(at)
	busy := market.Summary{UniverseSize: 1103, Highs: 3322, Lows: 1, SymbolsWithHighs: 37, SymbolsWithLows: 1,
		Breadth: market.Breadth(3322, 1), Ticks10s: 1500, Ticks60s: 9200, Ticks300s: 1245123, Activity: market.ActivityVeryHigh,
		Phase: market.PhaseAt(at), NextPhase: next, NextPhaseAt: market.MillisOf(nextAt), At: market.MillisOf(at)}
	quiet := market.Summary{Breadth: 50, Activity: market.ActivityQuiet, UniverseSize: 103}

	user := Page{Title: "Dashboard", CSRF: "tok-123_ABC", User: &User{Handle: "h1", Username: "ann", Email: "ann@example.com", Role: "user"}}
	admin := Page{Title: `Dash "board"`, CSRF: `a"b<c>&'d`, User: &User{Handle: "h2", Username: `<b>Bo & "Co"</b>`, Email: "bo@example.com", Role: "admin"}}

	tuned := settings.DefaultFilters()
	tuned.Display.OneRowPerSymbol = true
	tuned.HighLow.MinCount, tuned.HighLow.MinVolume = 3, 1500000
	tuned.Trends.Direction = settings.DirectionDown
	tuned.Surges.MinStrength = settings.StrengthStrong
	tuned.Surges.Trigger = settings.TriggerPriceAndVolume
	tuned.Surges.PriceRanges = []string{settings.RangePenny, settings.RangeHigh}
	weak := settings.DefaultFilters()
	weak.Trends.MinStrength, weak.Surges.MinStrength = settings.StrengthWeak, settings.StrengthWeak

	plain := Dashboard{StreamURL: "/stream", Highlow: []string{"DEFAULT_UNIVERSE"}, Market: []string{"DEFAULT_UNIVERSE"},
		Filters: settings.DefaultFilters(), Since: since, Summary: quiet, Alerts: AlertsView{Since: 1741786300000}}
	rich := Dashboard{StreamURL: "/stream", Highlow: []string{"TECH_UNIVERSE", "<ETF>"}, Market: []string{"A&B", "C", "D"},
		Filters: tuned, Since: since.Add(7 * time.Hour), Summary: busy,
		Alerts: AlertsView{Enabled: true, Sound: true, Notify: true, Symbols: []string{"AAPL", "BRK.B"}, Since: 1741786300001}}
	zero := Dashboard{StreamURL: "/stream", Since: since, Summary: market.EmptySummary(0),
		Alerts: AlertsView{Enabled: true, Since: 1741786300002}}
	weakDash := Dashboard{StreamURL: "/stream", Highlow: []string{"A", "B", "C"}, Filters: weak, Since: since, Summary: quiet}
	embed := Dashboard{StreamURL: "https://ticks.example/embed/x\"y/stream", Highlow: []string{"TECH_UNIVERSE"},
		Filters: tuned, Since: since, Summary: busy, Embed: true}
	embedSome := embed
	embedSome.Panels = []string{PanelLows, PanelSurgeDown}

	st := settings.DefaultSettings()
	st.Selections.HighLow = []string{"TECH_UNIVERSE"}
	st.Filters = tuned

	for name, c := range map[string]templ.Component{
		"page-plain":              DashboardPage(user, plain),
		"page-rich":               DashboardPage(admin, rich),
		"page-zero":               DashboardPage(user, zero),
		"page-weak":               DashboardPage(user, weakDash),
		"body-embed":              DashboardBody(embed),
		"body-embed-some":         DashboardBody(embedSome),
		"summary-emitted":         MarketSummary(busy, 1741786300123),
		"settings-universes":      SettingsChanged(SettingsChange{Settings: st, Universes: true, At: since}),
		"settings-filters":        SettingsChanged(SettingsChange{Settings: settings.DefaultSettings(), At: since}),
		"settings-no-highlow-set": SettingsChanged(SettingsChange{Settings: settings.Settings{Filters: weak}, At: since}),
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := c.Render(context.Background(), &b); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", name+".html")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Fatalf("%s differs from %s:\n%s", name, path, b.String())
			}
		})
	}
}
