package views

import (
	"testing"
	"time"

	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
)

func TestThousands(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{0, "0"}, {7, "7"}, {999, "999"}, {1000, "1,000"}, {12345, "12,345"}, {100000, "100,000"},
		{1234567, "1,234,567"}, {-1234, "-1,234"}, {-999, "-999"}, {9007199254740991, "9,007,199,254,740,991"},
	} {
		if got := thousands(tc.in); got != tc.want {
			t.Errorf("thousands(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPriceAndVolume(t *testing.T) {
	for _, tc := range []struct {
		p    float64
		want string
	}{
		{0.1234, "0.1234"}, {1, "1.00"}, {187.456, "187.46"}, {999.99, "999.99"}, {1234.5, "1,234.50"}, {612345.678, "612,345.68"},
	} {
		if got := price(tc.p); got != tc.want {
			t.Errorf("price(%v) = %q, want %q", tc.p, got, tc.want)
		}
	}
	for _, tc := range []struct {
		v    int64
		want string
	}{
		{950, "950"}, {12300, "12,300"}, {999999, "999,999"}, {4560000, "4.56M"}, {1200000000, "1.20B"},
	} {
		if got := volume(tc.v); got != tc.want {
			t.Errorf("volume(%d) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestTimesInET(t *testing.T) {
	for _, tc := range []struct {
		name   string
		at     time.Time
		clock  string // the table cell
		withET string // a time in a sentence
		minute string
	}{
		{"winter, EST", time.Date(2025, 1, 15, 15, 42, 5, 0, time.UTC), "10:42:05", "10:42:05 ET", "10:42 ET"},
		{"summer, EDT", time.Date(2025, 7, 15, 14, 42, 5, 0, time.UTC), "10:42:05", "10:42:05 ET", "10:42 ET"},
		{"late evening UTC is the same ET day", time.Date(2025, 3, 12, 3, 30, 11, 0, time.UTC), "23:30:11", "23:30:11 ET", "23:30 ET"},
		{"the spring-forward hour", time.Date(2025, 3, 9, 7, 0, 0, 0, time.UTC), "03:00:00", "03:00:00 ET", "03:00 ET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := clock(market.MillisOf(tc.at)); got != tc.clock {
				t.Errorf("clock = %q, want %q", got, tc.clock)
			}
			if got := clockET(tc.at); got != tc.withET {
				t.Errorf("clockET = %q, want %q", got, tc.withET)
			}
			if got := minuteET(tc.at); got != tc.minute {
				t.Errorf("minuteET = %q, want %q", got, tc.minute)
			}
		})
	}
}

func TestPhaseText(t *testing.T) {
	ny := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, newYork) }
	for _, tc := range []struct {
		name        string
		at          time.Time
		label, next string
	}{
		{"before the open", ny(2025, 3, 12, 7, 16), "Pre-market", "opens in 2h 14m"},
		{"open", ny(2025, 3, 12, 12, 55), "Open", "closes in 3h 5m"},
		{"the last minute", ny(2025, 3, 12, 15, 59), "Open", "closes in 1m"},
		{"seconds before the close", time.Date(2025, 3, 12, 15, 59, 30, 0, newYork), "Open", "closes in under a minute"},
		{"after hours", ny(2025, 3, 12, 18, 40), "After-hours", "after-hours end in 1h 20m"},
		{"night", ny(2025, 3, 12, 22, 0), "Closed", "pre-market starts in 6h 0m"},
		{"Friday night to Monday", ny(2025, 3, 14, 21, 0), "Closed", "pre-market starts in 2d 7h"},
		{"Good Friday 2025 is a holiday", ny(2025, 4, 18, 10, 0), "Closed", "pre-market starts in 2d 18h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, at := market.NextPhaseChange(tc.at)
			s := market.Summary{Phase: market.PhaseAt(tc.at), NextPhase: next, NextPhaseAt: market.MillisOf(at), At: market.MillisOf(tc.at)}
			if got := phaseLabel(s.Phase); got != tc.label {
				t.Errorf("label = %q, want %q", got, tc.label)
			}
			if got := phaseNext(s); got != tc.next {
				t.Errorf("next = %q, want %q", got, tc.next)
			}
		})
	}
	if got := phaseNext(market.EmptySummary(10)); got != "" {
		t.Errorf("before any tick: %q, want nothing", got)
	}
}

func TestEmptyText(t *testing.T) {
	since := time.Date(2025, 3, 12, 13, 31, 40, 0, time.UTC) // 09:31 EDT
	st := func(universes []string, mod func(*settings.Filters)) settings.Settings {
		f := settings.DefaultFilters()
		if mod != nil {
			mod(&f)
		}
		return settings.Settings{Selections: settings.Selections{HighLow: universes, Market: universes}, Filters: f}
	}
	tech := []string{"TECH_UNIVERSE"}
	for _, tc := range []struct {
		name, panel string
		st          settings.Settings
		want        string
	}{
		{"highs, defaults", PanelHighs, st(tech, nil), "No new highs in TECH_UNIVERSE since 09:31 ET"},
		{"lows with minimums", PanelLows, st(tech, func(f *settings.Filters) { f.HighLow.MinCount = 3; f.HighLow.MinVolume = 1500000 }),
			"No new lows in TECH_UNIVERSE since 09:31 ET — filters hide those below count 3 or below 1,500,000 shares"},
		{"trends, default strength", PanelTrendUp, st(tech, nil),
			"No moderate or strong uptrends in TECH_UNIVERSE since 09:31 ET — filters hide weaker ones"},
		{"trends, all strengths", PanelTrendDown, st(tech, func(f *settings.Filters) { f.Trends.MinStrength = settings.StrengthWeak }),
			"No downtrends in TECH_UNIVERSE since 09:31 ET"},
		{"uptrends hidden by direction", PanelTrendUp, st(tech, func(f *settings.Filters) { f.Trends.Direction = settings.DirectionDown }),
			"No moderate or strong uptrends in TECH_UNIVERSE since 09:31 ET — your filters show downtrends only"},
		{"strong surges", PanelSurgeUp, st(tech, func(f *settings.Filters) { f.Surges.MinStrength = settings.StrengthStrong }),
			"No strong surges in TECH_UNIVERSE since 09:31 ET — filters hide weaker ones"},
		{"surges, every filter", PanelSurgeDown, st([]string{"TECH_UNIVERSE", "ETF_UNIVERSE"}, func(f *settings.Filters) {
			f.Surges.Trigger = settings.TriggerPriceAndVolume
			f.Surges.PriceRanges = []string{settings.RangePenny, settings.RangeHigh}
		}), "No surges in TECH_UNIVERSE and ETF_UNIVERSE since 09:31 ET — only price-and-volume surges show; only penny (under $5) and $100+ stocks show"},
		{"many universes", PanelSurgeUp, st([]string{"A", "B", "C"}, nil), "No surges in 3 universes since 09:31 ET"},
		{"not a panel", "market", st(tech, nil), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := EmptyText(tc.panel, tc.st, since); got != tc.want {
				t.Errorf("EmptyText =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}
