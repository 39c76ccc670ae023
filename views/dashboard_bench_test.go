package views

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
)

// BenchmarkDashboardPage renders a signed-in dashboard as GET /dashboard does, for its time
// and allocations per page.
func BenchmarkDashboardPage(b *testing.B) {
	p := Page{Title: "Dashboard", CSRF: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", User: &User{Handle: "h", Username: "bench-user-1", Email: "a@b.c", Role: "user"}}
	f := settings.DefaultFilters()
	at := time.Date(2025, 3, 12, 11, 16, 0, 0, newYork)
	next, nextAt := market.NextPhaseChange(at)
	s := market.Summary{UniverseSize: 103, Highs: 3322, Lows: 1210, SymbolsWithHighs: 37, SymbolsWithLows: 12,
		Breadth: market.Breadth(3322, 1210), Ticks10s: 1500, Ticks60s: 9200, Ticks300s: 45123, Activity: market.ActivityExtreme,
		Phase: market.PhaseRegular, NextPhase: next, NextPhaseAt: market.MillisOf(nextAt), At: market.MillisOf(at)}
	d := Dashboard{StreamURL: "/stream", Highlow: []string{"DEFAULT_UNIVERSE"}, Market: []string{"DEFAULT_UNIVERSE"},
		Filters: f, Since: time.Now(), Summary: s}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := DashboardPage(p, d).Render(context.Background(), &buf); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}
