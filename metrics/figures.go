package metrics

import (
	"math"

	"github.com/tickstock/tickstock/stream"
)

// Kinds of figure: how a figure's points are made from the samples.
const (
	KindGauge   = "gauge"   // the value as sampled
	KindCounter = "counter" // a total; its points are the rate between samples
)

// Figure is one figure for the admin page: its current value and its points over the kept
// history (oldest first; NaN where a rate cannot be computed, as across a restart).
type Figure struct {
	Group  string
	Key    string // the SPEC's key where there is one
	Label  string
	Kind   string
	Unit   string  // "", "%", "ms", "bytes", "/s", "/min"
	Value  float64 // the current value (for a counter, its total)
	Text   string  // for a figure that is text (the feed's source); Value is then unused
	Points []float64
	// PointsUnit is what the points measure: the unit, or for a counter its rate ("/s").
	PointsUnit string
}

// figureDef says how to read one figure from a snapshot.
type figureDef struct {
	group, key, label, kind, unit string
	per                           float64 // counters: rate per this many seconds (1 or 60)
	get                           func(s Snapshot) float64
}

var figureDefs = []figureDef{
	{"Streams", "active_users", "Active users", KindGauge, "", 0, func(s Snapshot) float64 { return float64(s.ActiveUsers) }},
	{"Streams", "total_connections", "Open streams", KindGauge, "", 0, func(s Snapshot) float64 { return float64(s.TotalConnections) }},
	{"Publisher", "emissions", "Emissions", KindCounter, "", 1, func(s Snapshot) float64 { return float64(s.Publisher.Emissions) }},
	{"Publisher", "last_emit_ms", "Last emission", KindGauge, "ms", 0, func(s Snapshot) float64 { return s.Publisher.LastEmitMs }},
	{"Publisher", "groups", "Settings groups", KindGauge, "", 0, func(s Snapshot) float64 { return float64(s.Groups) }},
	{"Publisher", "dropped_messages", "Dropped messages", KindCounter, "", 60, func(s Snapshot) float64 { return float64(s.Publisher.DroppedMessages) }},
	{"Feed", "ticks_total", "Ticks", KindCounter, "", 1, func(s Snapshot) float64 { return float64(s.Feed.TicksTotal) }},
	{"Feed", "ticks_per_second", "Ticks per second", KindGauge, "/s", 0, func(s Snapshot) float64 { return s.Feed.TicksPerSecond }},
	{"Feed", "symbols", "Symbols", KindGauge, "", 0, func(s Snapshot) float64 { return float64(s.Feed.Symbols) }},
	{"Events", "highs", "Highs", KindCounter, "", 60, func(s Snapshot) float64 { return float64(s.Events.Highs) }},
	{"Events", "lows", "Lows", KindCounter, "", 60, func(s Snapshot) float64 { return float64(s.Events.Lows) }},
	{"Events", "trends", "Trends", KindCounter, "", 60, func(s Snapshot) float64 { return float64(s.Events.Trends) }},
	{"Events", "surges", "Surges", KindCounter, "", 60, func(s Snapshot) float64 { return float64(s.Events.Surges) }},
	{"Settings cache", "universe_cache_size", "Universes cached", KindGauge, "", 0, func(s Snapshot) float64 { return float64(s.CacheStats.UniverseCacheSize) }},
	{"Settings cache", "filter_cache_size", "Users cached", KindGauge, "", 0, func(s Snapshot) float64 { return float64(s.CacheStats.FilterCacheSize) }},
	{"Settings cache", "hit_rate", "Hit rate", KindGauge, "%", 0, func(s Snapshot) float64 { return s.CacheStats.HitRate * 100 }},
	{"Personalization", "unique_universe_configs", "Distinct universe choices", KindGauge, "", 0, func(s Snapshot) float64 { return float64(s.Personalization.UniqueUniverseConfigs) }},
	{"Personalization", "avg_filters_per_user", "Filters set per user", KindGauge, "", 0, func(s Snapshot) float64 { return s.Personalization.AvgFiltersPerUser }},
	{"Requests", "rate_limited", "Rate-limit refusals", KindCounter, "", 60, func(s Snapshot) float64 { return float64(s.RateLimited) }},
	{"Requests", "responses_5xx", "Server errors (5xx)", KindCounter, "", 60, func(s Snapshot) float64 { return float64(s.responses5xx()) }},
	{"Requests", "login_failures", "Failed logins", KindCounter, "", 60, func(s Snapshot) float64 { return float64(s.AuthEvents["login_failure"]) }},
	{"Process", "goroutines", "Goroutines", KindGauge, "", 0, func(s Snapshot) float64 { return float64(s.Process.Goroutines) }},
	{"Process", "rss_bytes", "Resident memory", KindGauge, "bytes", 0, func(s Snapshot) float64 { return float64(s.Process.RSSBytes) }},
	{"Process", "heap_bytes", "Live heap", KindGauge, "bytes", 0, func(s Snapshot) float64 { return float64(s.Process.HeapBytes) }},
}

func (s Snapshot) responses5xx() uint64 {
	var n uint64
	for code, c := range s.Responses {
		if code >= 500 {
			n += c
		}
	}
	return n
}

// Figures returns every figure of cur with its points over hist (oldest first), in page
// order. Counters' points are rates between consecutive samples; the emission time's p99
// is computed from each interval's own emissions.
func Figures(cur Snapshot, hist []Snapshot) []Figure {
	out := make([]Figure, 0, len(figureDefs)+2)
	for _, d := range figureDefs {
		f := Figure{Group: d.group, Key: d.key, Label: d.label, Kind: d.kind, Unit: d.unit, Value: d.get(cur), PointsUnit: d.unit}
		f.Points = make([]float64, 0, len(hist))
		for i, s := range hist {
			if d.kind == KindGauge {
				f.Points = append(f.Points, d.get(s))
				continue
			}
			if i == 0 {
				continue
			}
			f.Points = append(f.Points, rate(d.get(hist[i-1]), d.get(s), s.At.Sub(hist[i-1].At).Seconds(), d.per))
		}
		if d.kind == KindCounter {
			f.PointsUnit = "/s"
			if d.per == 60 {
				f.PointsUnit = "/min"
			}
		}
		out = append(out, f)
		if d.key == "last_emit_ms" {
			out = append(out, p99Figure(cur, hist))
		}
		if d.key == "ticks_per_second" {
			out = append(out, Figure{Group: d.group, Key: "source", Label: "Source", Text: cur.Feed.Source, Kind: KindGauge})
			up := "running"
			if !cur.FeedUp {
				up = "stopped"
			}
			out = append(out, Figure{Group: d.group, Key: "feed_up", Label: "Feed", Text: up, Kind: KindGauge})
		}
	}
	return out
}

// p99Figure is the emission time's 99th percentile: since start, and per sample interval.
func p99Figure(cur Snapshot, hist []Snapshot) Figure {
	f := Figure{Group: "Publisher", Key: "emit_p99_ms", Label: "Emission time p99", Kind: KindGauge, Unit: "ms", PointsUnit: "ms",
		Value: cur.Publisher.Durations.Quantile(0.99) * 1000}
	for i := 1; i < len(hist); i++ {
		d := sub(hist[i].Publisher.Durations, hist[i-1].Publisher.Durations)
		f.Points = append(f.Points, d.Quantile(0.99)*1000)
	}
	return f
}

// sub is the histogram of the observations in b that a lacks (a taken earlier).
func sub(b, a stream.Histogram) stream.Histogram {
	if len(a.Cumulative) != len(b.Cumulative) || b.Count < a.Count {
		return stream.Histogram{} // a restart in between: no figure
	}
	out := stream.Histogram{Bounds: b.Bounds, Cumulative: make([]uint64, len(b.Cumulative)),
		Count: b.Count - a.Count, SumSeconds: b.SumSeconds - a.SumSeconds}
	for i := range b.Cumulative {
		out.Cumulative[i] = b.Cumulative[i] - a.Cumulative[i]
	}
	return out
}

// rate is the change from a to b over secs seconds, per `per` seconds; NaN when it cannot
// be told (no time passed, or the counter went back: a restart).
func rate(a, b, secs, per float64) float64 {
	if secs <= 0 || b < a {
		return math.NaN()
	}
	return (b - a) / secs * per
}
