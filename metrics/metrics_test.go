package metrics

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickstock/tickstock/cluster"
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

type fakeFeed struct{ m market.Metrics }

func (f fakeFeed) Metrics() market.Metrics { return f.m }
func (fakeFeed) Health() error             { return nil }

type fakeCluster struct{ m cluster.Metrics }

func (f fakeCluster) Metrics() cluster.Metrics { return f.m }

// topKeys returns the top-level keys of a JSON object, in order.
func topKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", b)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestSnapshotJSONKeys: the SPEC's keys come first and in order; "cluster" follows
// "process" only when several instances share the feed.
func TestSnapshotJSONKeys(t *testing.T) {
	spec := []string{"active_users", "total_connections", "cache_stats", "personalization", "feed", "events",
		"publisher", "process"}
	cl := cluster.Metrics{Instance: "b", Role: "follower", LeaseHolder: "a", Gaps: 2}
	for _, c := range []struct {
		name string
		src  Sources
		want []string
	}{
		{"one instance", Sources{}, spec},
		{"several", Sources{Cluster: fakeCluster{cl}}, append(append([]string(nil), spec...), "cluster")},
	} {
		b, err := json.Marshal(NewCollector(c.src).Snapshot())
		if err != nil {
			t.Fatal(err)
		}
		if got := topKeys(t, b); !slices.Equal(got, c.want) {
			t.Errorf("%s: keys %v, want %v", c.name, got, c.want)
		}
		var v struct {
			Cluster *cluster.Metrics `json:"cluster"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		if c.src.Cluster != nil && (v.Cluster == nil || v.Cluster.Role != "follower" || v.Cluster.Gaps != 2) {
			t.Errorf("%s: cluster %+v", c.name, v.Cluster)
		}
	}
}

// TestPrometheusClusterAndCoarse: the cluster figures and the engine's coarse counters
// reach Prometheus with their values, and the cluster ones only with several instances.
func TestPrometheusClusterAndCoarse(t *testing.T) {
	feed := fakeFeed{market.Metrics{Feed: market.FeedMetrics{Source: "sim", TicksTotal: 10, Coarse: 7, Coarsenings: 3}}}
	cl := cluster.Metrics{Role: "leader", Gaps: 1, Missed: 4, LeaderChanges: 2, StaleDropped: 5, Takeovers: 6,
		Fenced: 8, Dropped: 9, Reconnects: 11, LatencyMs: 250}
	want := map[string]float64{
		"tickstock_engine_window_coarsenings_total": 3, "tickstock_engine_coarse_ticks_total": 7,
		"tickstock_cluster_leader": 1, "tickstock_cluster_emission_gaps_total": 1,
		"tickstock_cluster_emissions_missed_total": 4, "tickstock_cluster_leader_changes_total": 2,
		"tickstock_cluster_stale_emissions_dropped_total": 5, "tickstock_cluster_takeovers_total": 6,
		"tickstock_cluster_fenced_total": 8, "tickstock_cluster_emissions_given_up_total": 9,
		"tickstock_cluster_stream_reconnects_total": 11, "tickstock_cluster_bus_latency_seconds": 0.25,
	}
	for _, several := range []bool{false, true} {
		src := Sources{Feed: feed}
		if several {
			src.Cluster = fakeCluster{cl}
		}
		fams, err := NewRegistry(NewCollector(src)).Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, f := range fams {
			for _, m := range f.GetMetric() {
				switch {
				case m.GetCounter() != nil:
					got[f.GetName()] = m.GetCounter().GetValue()
				case m.GetGauge() != nil:
					got[f.GetName()] = m.GetGauge().GetValue()
				}
			}
		}
		for name, v := range want {
			g, ok := got[name]
			isCluster := strings.HasPrefix(name, "tickstock_cluster_")
			switch {
			case isCluster && !several && ok:
				t.Errorf("one instance: %s present", name)
			case (several || !isCluster) && (!ok || g != v):
				t.Errorf("several %v: %s = %v (present %v), want %v", several, name, g, ok, v)
			}
		}
	}
}
