package settings_test

import (
	"fmt"
	"testing"

	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
)

func high(sym string, count int, volume int64) market.Event {
	return market.Event{Kind: market.KindHigh, HighLow: market.HighLowEvent{Kind: market.KindHigh, Symbol: sym, Price: 50, Count: count, Volume: volume}}
}

func low(sym string, count int, volume int64) market.Event {
	e := high(sym, count, volume)
	e.Kind, e.HighLow.Kind = market.KindLow, market.KindLow
	return e
}

func trend(sym string, dir market.Direction, st market.Strength) market.Event {
	return market.Event{Kind: market.KindTrend, Trend: market.TrendEvent{Symbol: sym, Price: 50, Direction: dir, Strength: st}}
}

func surge(sym string, price float64, st market.Strength, tr market.Trigger) market.Event {
	return market.Event{Kind: market.KindSurge, Surge: market.SurgeEvent{Symbol: sym, Price: price, Direction: market.Up, Strength: st, Trigger: tr}}
}

func filtersWith(mod func(*settings.Filters)) settings.Filters {
	f := settings.DefaultFilters()
	mod(&f)
	return f
}

func TestShows(t *testing.T) {
	syms := settings.NewSymbolSet([]string{"AAPL", "MSFT"}, []string{"JPM", "AAPL"})
	def := settings.DefaultFilters()
	minCount := func(n int64) settings.Filters {
		return filtersWith(func(f *settings.Filters) { f.HighLow.MinCount = n })
	}
	minVolume := func(n int64) settings.Filters {
		return filtersWith(func(f *settings.Filters) { f.HighLow.MinVolume = n })
	}
	trendF := func(minStrength, dir string) settings.Filters {
		return filtersWith(func(f *settings.Filters) { f.Trends.MinStrength, f.Trends.Direction = minStrength, dir })
	}
	surgeStrength := func(s string) settings.Filters {
		return filtersWith(func(f *settings.Filters) { f.Surges.MinStrength = s })
	}
	pandv := filtersWith(func(f *settings.Filters) { f.Surges.Trigger = settings.TriggerPriceAndVolume })
	ranges := func(rs ...string) settings.Filters {
		return filtersWith(func(f *settings.Filters) { f.Surges.PriceRanges = rs })
	}
	W, M, S := market.StrengthWeak, market.StrengthModerate, market.StrengthStrong
	PV, P, V := market.TriggerPriceAndVolume, market.TriggerPrice, market.TriggerVolume

	cases := []struct {
		name    string
		event   market.Event
		filters settings.Filters
		want    bool
	}{
		// Highs and lows: universe, min_count, min_volume.
		{"high in universe", high("AAPL", 1, 100), def, true},
		{"low in universe", low("JPM", 1, 100), def, true},
		{"high outside universe", high("TSLA", 1, 100), def, false},
		{"low outside universe", low("TSLA", 1, 100), def, false},
		{"count below min", high("AAPL", 2, 100), minCount(3), false},
		{"count at min", high("AAPL", 3, 100), minCount(3), true},
		{"count above min", low("AAPL", 4, 100), minCount(3), true},
		{"volume below min", high("AAPL", 1, 999), minVolume(1000), false},
		{"volume at min", high("AAPL", 1, 1000), minVolume(1000), true},
		{"volume above min", low("AAPL", 1, 1001), minVolume(1000), true},
		{"highlow ignores trend and surge filters", high("AAPL", 1, 1), filtersWith(func(f *settings.Filters) {
			f.Trends.MinStrength, f.Trends.Direction = "strong", "down"
			f.Surges.PriceRanges = []string{"penny"}
		}), true},

		// Trends: universe, at least min_strength, direction.
		{"trend outside universe", trend("TSLA", market.Up, S), def, false},
		{"weak trend, default moderate", trend("AAPL", market.Up, W), def, false},
		{"moderate trend, default moderate", trend("AAPL", market.Up, M), def, true},
		{"strong trend, default moderate", trend("AAPL", market.Down, S), def, true},
		{"weak trend, min weak", trend("AAPL", market.Up, W), trendF("weak", "both"), true},
		{"moderate trend, min weak", trend("AAPL", market.Up, M), trendF("weak", "both"), true},
		{"moderate trend, min strong", trend("AAPL", market.Up, M), trendF("strong", "both"), false},
		{"strong trend, min strong", trend("AAPL", market.Up, S), trendF("strong", "both"), true},
		{"no-strength trend, min weak", trend("AAPL", market.Up, market.StrengthNone), trendF("weak", "both"), false},
		{"up trend, direction up", trend("AAPL", market.Up, S), trendF("weak", "up"), true},
		{"down trend, direction up", trend("AAPL", market.Down, S), trendF("weak", "up"), false},
		{"down trend, direction down", trend("AAPL", market.Down, S), trendF("weak", "down"), true},
		{"up trend, direction down", trend("AAPL", market.Up, S), trendF("weak", "down"), false},
		{"down trend, direction both", trend("AAPL", market.Down, W), trendF("weak", "both"), true},

		// Surges: universe, at least min_strength, trigger, price range.
		{"surge outside universe", surge("TSLA", 50, S, PV), def, false},
		{"weak surge, default weak", surge("AAPL", 50, W, V), def, true},
		{"weak surge, min moderate", surge("AAPL", 50, W, P), surgeStrength("moderate"), false},
		{"moderate surge, min moderate", surge("AAPL", 50, M, P), surgeStrength("moderate"), true},
		{"strong surge, min moderate", surge("AAPL", 50, S, P), surgeStrength("moderate"), true},
		{"moderate surge, min strong", surge("AAPL", 50, M, P), surgeStrength("strong"), false},
		{"price trigger, any", surge("AAPL", 50, S, P), def, true},
		{"volume trigger, any", surge("AAPL", 50, S, V), def, true},
		{"price_and_volume trigger, only p&v", surge("AAPL", 50, S, PV), pandv, true},
		{"price trigger, only p&v", surge("AAPL", 50, S, P), pandv, false},
		{"volume trigger, only p&v", surge("AAPL", 50, S, V), pandv, false},
		{"$0.50 is penny", surge("AAPL", 0.5, W, PV), ranges("penny"), true},
		{"$4.99 is penny", surge("AAPL", 4.99, W, PV), ranges("penny"), true},
		{"$4.99 is not low", surge("AAPL", 4.99, W, PV), ranges("low"), false},
		{"$5 is low", surge("AAPL", 5, W, PV), ranges("low"), true},
		{"$5 is not penny", surge("AAPL", 5, W, PV), ranges("penny"), false},
		{"$24.99 is low", surge("AAPL", 24.99, W, PV), ranges("low"), true},
		{"$25 is mid", surge("AAPL", 25, W, PV), ranges("mid"), true},
		{"$25 is not low", surge("AAPL", 25, W, PV), ranges("low"), false},
		{"$99.99 is mid", surge("AAPL", 99.99, W, PV), ranges("mid"), true},
		{"$100 is high", surge("AAPL", 100, W, PV), ranges("high"), true},
		{"$100 is not mid", surge("AAPL", 100, W, PV), ranges("mid"), false},
		{"$5000 is high", surge("AAPL", 5000, W, PV), ranges("high"), true},
		{"several ranges", surge("AAPL", 30, W, PV), ranges("penny", "mid"), true},
		{"none of several ranges", surge("AAPL", 30, W, PV), ranges("penny", "high"), false},

		// Fail closed.
		{"unknown kind", market.Event{}, def, false},
		{"invalid filters show nothing", high("AAPL", 1, 1), filtersWith(func(f *settings.Filters) { f.Trends.Direction = "sideways" }), false},
		{"empty ranges show nothing", surge("AAPL", 50, S, PV), ranges(), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := settings.Shows(tc.event, tc.filters, syms); got != tc.want {
				t.Fatalf("Shows = %v, want %v", got, tc.want)
			}
			m, err := settings.NewMatcher(tc.filters, syms)
			if err != nil {
				return // invalid filters: Shows already said no
			}
			if got := m.Match(&tc.event); got != tc.want {
				t.Fatalf("Matcher.Match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNewMatcherRefusesInvalidFilters(t *testing.T) {
	_, err := settings.NewMatcher(filtersWith(func(f *settings.Filters) { f.HighLow.MinCount = -1 }), settings.SymbolSet{})
	if err == nil {
		t.Fatal("NewMatcher accepted a negative min_count")
	}
}

func TestMatcherFilter(t *testing.T) {
	m, err := settings.NewMatcher(settings.DefaultFilters(), settings.NewSymbolSet([]string{"AAPL"}))
	if err != nil {
		t.Fatal(err)
	}
	src := []market.Event{high("AAPL", 1, 1), high("TSLA", 1, 1), trend("AAPL", market.Up, market.StrengthWeak), surge("AAPL", 10, market.StrengthWeak, market.TriggerVolume)}
	got := m.Filter(nil, src)
	if len(got) != 2 || got[0].HighLow.Symbol != "AAPL" || got[1].Kind != market.KindSurge {
		t.Fatalf("Filter = %+v", got)
	}
}

func TestSymbolSet(t *testing.T) {
	s := settings.NewSymbolSet([]string{"MSFT", "AAPL"}, []string{"AAPL", "JPM"})
	if s.Len() != 3 || fmt.Sprint(s.Symbols()) != "[AAPL JPM MSFT]" {
		t.Fatalf("set = %v (%d)", s.Symbols(), s.Len())
	}
	if !s.Has("JPM") || s.Has("SPY") || s.Has("") {
		t.Fatal("Has is wrong")
	}
	if got := s.Selection().Symbols(); fmt.Sprint(got) != "[AAPL JPM MSFT]" || s.Selection() != s.Selection() {
		t.Fatalf("the set's selection is %v, or not one selection", got)
	}
	var zero settings.SymbolSet
	if zero.Has("AAPL") || zero.Len() != 0 || len(zero.Selection().Symbols()) != 0 {
		t.Fatal("the zero set is not empty")
	}
	if settings.Shows(high("AAPL", 1, 1), settings.DefaultFilters(), zero) {
		t.Fatal("an empty highlow selection shows events")
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	syms := settings.NewSymbolSet([]string{"AAPL", "MSFT", "JPM"})
	f := filtersWith(func(f *settings.Filters) {
		f.HighLow.MinCount = 1
		f.Trends.Direction = "up"
		f.Surges.PriceRanges = []string{"low", "mid"}
	})
	m, err := settings.NewMatcher(f, syms)
	if err != nil {
		t.Fatal(err)
	}
	events := []market.Event{high("AAPL", 2, 10), low("TSLA", 2, 10), trend("MSFT", market.Up, market.StrengthStrong), surge("JPM", 30, market.StrengthWeak, market.TriggerPrice)}
	if n := testing.AllocsPerRun(100, func() {
		for i := range events {
			m.Match(&events[i])
		}
	}); n != 0 {
		t.Errorf("Matcher.Match allocates %.1f times per run", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		for _, e := range events {
			settings.Shows(e, f, syms)
		}
	}); n != 0 {
		t.Errorf("Shows allocates %.1f times per run", n)
	}
}

func BenchmarkMatch(b *testing.B) {
	syms := make([]string, 500)
	for i := range syms {
		syms[i] = fmt.Sprintf("S%03d", i)
	}
	m, err := settings.NewMatcher(settings.DefaultFilters(), settings.NewSymbolSet(syms))
	if err != nil {
		b.Fatal(err)
	}
	events := []market.Event{
		high("S001", 2, 10), low("X", 2, 10),
		trend("S200", market.Up, market.StrengthStrong), surge("S499", 30, market.StrengthWeak, market.TriggerPrice),
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.Match(&events[i&3])
	}
}
