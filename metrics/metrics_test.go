package metrics

import (
	"math"
	"testing"
	"time"

	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/stream"
)

func TestHTTPStatsNilSafe(t *testing.T) {
	var s *HTTPStats
	s.RateLimited()
	s.Response(500)
	if s.RateLimitedTotal() != 0 || len(s.Responses()) != 0 {
		t.Fatal("a nil HTTPStats counted")
	}
	s = NewHTTPStats()
	s.RateLimited()
	s.Response(429)
	s.Response(429)
	s.Response(99)  // not a status: ignored
	s.Response(600) // likewise
	if s.RateLimitedTotal() != 1 || s.Responses()[429] != 2 || len(s.Responses()) != 1 {
		t.Fatalf("counted %d refusals, responses %v", s.RateLimitedTotal(), s.Responses())
	}
}

func TestHistoryRing(t *testing.T) {
	h := newHistory(3)
	for i := 1; i <= 5; i++ {
		h.add(Snapshot{ActiveUsers: i})
	}
	got := h.list()
	if len(got) != 3 || got[0].ActiveUsers != 3 || got[2].ActiveUsers != 5 {
		t.Fatalf("ring keeps %v, want the last three, oldest first", got)
	}
}

func TestFiguresRatesFromCounters(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	snap := func(sec int, ticks, highs uint64, emissions int64, users int) Snapshot {
		return Snapshot{At: t0.Add(time.Duration(sec) * time.Second), ActiveUsers: users,
			Feed:      market.FeedMetrics{Source: "sim", TicksTotal: ticks},
			Events:    market.EventCounts{Highs: highs},
			Publisher: stream.Metrics{Emissions: emissions}, FeedUp: true}
	}
	hist := []Snapshot{
		snap(0, 1000, 10, 100, 2),
		snap(10, 3000, 13, 110, 3),
		snap(20, 500, 1, 5, 3), // a restart: counters went back
		snap(30, 1500, 4, 15, 1),
	}
	byKey := map[string]Figure{}
	for _, f := range Figures(hist[3], hist) {
		byKey[f.Key] = f
	}
	ticks := byKey["ticks_total"]
	if ticks.Value != 1500 || ticks.PointsUnit != "/s" || len(ticks.Points) != 3 ||
		ticks.Points[0] != 200 || !math.IsNaN(ticks.Points[1]) || ticks.Points[2] != 100 {
		t.Fatalf("ticks %+v", ticks)
	}
	if highs := byKey["highs"]; highs.PointsUnit != "/min" || highs.Points[0] != 18 {
		t.Fatalf("highs per minute %+v", highs)
	}
	if users := byKey["active_users"]; len(users.Points) != 4 || users.Points[3] != 1 || users.Value != 1 {
		t.Fatalf("active users %+v", users)
	}
	if src := byKey["source"]; src.Text != "sim" {
		t.Fatalf("source %+v", src)
	}
	if _, ok := byKey["emit_p99_ms"]; !ok {
		t.Fatal("no emission p99 figure")
	}
}
