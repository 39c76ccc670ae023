package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("tickstock_"+name, help, labels, nil)
}

// The app's metrics. Counters end in _total, durations are in seconds.
var (
	descStreamsOpen       = desc("streams_open", "Open SSE streams on this instance.")
	descStreamUsers       = desc("stream_users", "Users with at least one open stream on this instance.")
	descEmissions         = desc("emissions_total", "Emissions the publisher made.")
	descEmitDuration      = desc("emission_duration_seconds", "How long one emission took: settings, filtering, rendering and offering to every stream.")
	descLastEmit          = desc("last_emission_timestamp_seconds", "Unix time of the last emission (0 before the first).")
	descDropped           = desc("stream_messages_dropped_total", "Messages dropped because a stream's queue was full (its oldest message goes).")
	descSlow              = desc("stream_slow_disconnects_total", "Streams closed because they stayed behind.")
	descResumes           = desc("stream_resumes_total", "Reconnects with Last-Event-ID.")
	descResets            = desc("stream_resets_total", "Reconnects that could not resume exactly and got a reset event.")
	descGroups            = desc("publisher_groups", "Distinct settings groups the publisher renders for (each rendered once per emission).")
	descStale             = desc("settings_stale_loads_total", "Settings reads that failed or timed out, so streams ran on the last known settings.")
	descEvents            = desc("events_total", "Events detected, by kind.", "kind")
	descEventsLost        = desc("events_dropped_total", "Detected events lost because no emission took them in time.")
	descTicks             = desc("feed_ticks_total", "Ticks the feed delivered.", "source")
	descTicksRejected     = desc("feed_ticks_rejected_total", "Ticks refused as malformed or out of order.")
	descSymbols           = desc("feed_symbols", "Symbols the detection engine knows.")
	descFeedUp            = desc("feed_up", "1 while the feed runs, 0 once it stopped for good.")
	descCacheHits         = desc("settings_cache_hits_total", "Per-user settings reads served from the cache.")
	descCacheMisses       = desc("settings_cache_misses_total", "Per-user settings reads that went to PostgreSQL.")
	descCacheUsers        = desc("settings_cache_users", "Users whose settings are cached.")
	descUniverseCache     = desc("universe_cache_universes", "Universes whose symbols are cached.")
	descUniqueConfigs     = desc("unique_universe_configs", "Distinct universe selections among the cached users.")
	descAvgFilters        = desc("avg_filters_per_user", "Filter fields set away from the default, per cached user.")
	descRateLimited       = desc("rate_limited_total", "Requests refused by the rate limit (429).")
	descLogins            = desc("logins_total", "Login attempts by result.", "result")
	descAuthEvents        = desc("auth_events_total", "Auth events recorded, by kind.", "kind")
	descAuthEventsDropped = desc("auth_events_dropped_total", "Auth events logged but not stored because the store's queue was full.")
	descResponses         = desc("http_responses_total", "HTTP answers by status code.", "code")
	descCoarsenings       = desc("engine_window_coarsenings_total", "Merges of a fast symbol's window history into one-second resolution.")
	descCoarse            = desc("engine_coarse_ticks_total", "Ticks whose window figures were taken at one-second resolution after a merge.")

	// With several instances (REDIS_URL): this instance's part in the shared feed.
	descClusterLeader     = desc("cluster_leader", "1 while this instance holds the feed lease and runs the feed, else 0.")
	descClusterGaps       = desc("cluster_emission_gaps_total", "Skipped emission numbers under one leader, as seen here.")
	descClusterMissed     = desc("cluster_emissions_missed_total", "Emissions skipped in those gaps.")
	descClusterChanges    = desc("cluster_leader_changes_total", "Emissions that arrived under a new leader's fencing token.")
	descClusterStale      = desc("cluster_stale_emissions_dropped_total", "Emissions of a deposed leader, dropped.")
	descClusterTakeovers  = desc("cluster_takeovers_total", "Terms this instance began as the feed leader.")
	descClusterFenced     = desc("cluster_fenced_total", "Emissions of this instance refused after it lost the lease.")
	descClusterGivenUp    = desc("cluster_emissions_given_up_total", "Emissions this instance gave up on while Redis refused them.")
	descClusterReconnects = desc("cluster_stream_reconnects_total", "Times reading the emission stream failed and started again.")
	descClusterLatency    = desc("cluster_bus_latency_seconds", "The last emission's trip from the leader's stamp to its arrival here.")
)

// appCollector turns a Snapshot into Prometheus metrics at scrape time, so every figure is
// read from the counter that owns it.
type appCollector struct{ c *Collector }

func (a appCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStreamsOpen, descStreamUsers, descEmissions, descEmitDuration,
		descLastEmit, descDropped, descSlow, descResumes, descResets, descGroups, descStale, descEvents, descEventsLost,
		descTicks, descTicksRejected, descSymbols, descFeedUp, descCacheHits, descCacheMisses, descCacheUsers,
		descUniverseCache, descUniqueConfigs, descAvgFilters, descRateLimited, descLogins, descAuthEvents,
		descAuthEventsDropped, descResponses, descCoarsenings, descCoarse, descClusterLeader, descClusterGaps,
		descClusterMissed, descClusterChanges, descClusterStale, descClusterTakeovers, descClusterFenced,
		descClusterGivenUp, descClusterReconnects, descClusterLatency} {
		ch <- d
	}
}

func (a appCollector) Collect(ch chan<- prometheus.Metric) {
	s := a.c.Snapshot()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(descStreamsOpen, float64(s.TotalConnections))
	gauge(descStreamUsers, float64(s.ActiveUsers))

	p := s.Publisher
	counter(descEmissions, float64(p.Emissions))
	buckets := make(map[float64]uint64, len(p.Durations.Bounds))
	for i, b := range p.Durations.Bounds {
		buckets[b] = p.Durations.Cumulative[i]
	}
	ch <- prometheus.MustNewConstHistogram(descEmitDuration, p.Durations.Count, p.Durations.SumSeconds, buckets)
	last := 0.0
	if !p.LastEmitAt.IsZero() {
		last = float64(p.LastEmitAt.UnixNano()) / 1e9
	}
	gauge(descLastEmit, last)
	counter(descDropped, float64(p.DroppedMessages))
	counter(descSlow, float64(p.Disconnected))
	counter(descResumes, float64(p.Resumes))
	counter(descResets, float64(p.Resets))
	counter(descStale, float64(p.StaleLoads))
	gauge(descGroups, float64(s.Groups))

	counter(descEvents, float64(s.Events.Highs), "high")
	counter(descEvents, float64(s.Events.Lows), "low")
	counter(descEvents, float64(s.Events.Trends), "trend")
	counter(descEvents, float64(s.Events.Surges), "surge")
	counter(descEventsLost, float64(s.Events.Dropped))
	counter(descTicks, float64(s.Feed.TicksTotal), s.Feed.Source)
	counter(descTicksRejected, float64(s.Feed.Rejected))
	gauge(descSymbols, float64(s.Feed.Symbols))
	gauge(descFeedUp, boolValue(s.FeedUp))
	counter(descCoarsenings, float64(s.Feed.Coarsenings))
	counter(descCoarse, float64(s.Feed.Coarse))

	counter(descCacheHits, float64(s.CacheHits))
	counter(descCacheMisses, float64(s.CacheMisses))
	gauge(descCacheUsers, float64(s.CacheStats.FilterCacheSize))
	gauge(descUniverseCache, float64(s.CacheStats.UniverseCacheSize))
	gauge(descUniqueConfigs, float64(s.Personalization.UniqueUniverseConfigs))
	gauge(descAvgFilters, s.Personalization.AvgFiltersPerUser)

	counter(descRateLimited, float64(s.RateLimited))
	counter(descLogins, float64(s.AuthEvents["login_success"]), "success")
	counter(descLogins, float64(s.AuthEvents["login_failure"]), "failure")
	counter(descLogins, float64(s.AuthEvents["lockout"]), "lockout")
	for kind, n := range s.AuthEvents {
		counter(descAuthEvents, float64(n), kind)
	}
	counter(descAuthEventsDropped, float64(s.AuthDropped))
	for code, n := range s.Responses {
		counter(descResponses, float64(n), strconv.Itoa(code))
	}

	if m := s.Cluster; m != nil {
		gauge(descClusterLeader, boolValue(m.Role == "leader"))
		counter(descClusterGaps, float64(m.Gaps))
		counter(descClusterMissed, float64(m.Missed))
		counter(descClusterChanges, float64(m.LeaderChanges))
		counter(descClusterStale, float64(m.StaleDropped))
		counter(descClusterTakeovers, float64(m.Takeovers))
		counter(descClusterFenced, float64(m.Fenced))
		counter(descClusterGivenUp, float64(m.Dropped))
		counter(descClusterReconnects, float64(m.Reconnects))
		gauge(descClusterLatency, m.LatencyMs/1e3)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// NewRegistry returns a registry of its own (no globals) holding the Go runtime and process
// collectors and the app's metrics, read from c at every scrape.
func NewRegistry(c *Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		appCollector{c},
	)
	return reg
}

// Server serves /metrics and the Go profiler (/debug/pprof/) on its own listener
// (TICKSTOCK_METRICS_ADDR), apart from the app, so scraping needs no session and the
// address can stay inside the network.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen opens addr and returns a server for reg; Serve starts it.
func Listen(addr string, reg *prometheus.Registry, logger *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on TICKSTOCK_METRICS_ADDR %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling:     promhttp.ContinueOnError,
		Timeout:           10 * time.Second,
		EnableOpenMetrics: false,
	}))
	// The Go profiler sits on the same internal address, for profiling a server under load
	// (docs/PERFORMANCE.md): `go tool pprof http://ADDR/debug/pprof/profile?seconds=30`.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return &Server{ln: ln, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      75 * time.Second, // a CPU profile or trace of up to 60 s
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}}, nil
}

// Addr is the address the server listens on (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve answers scrapes until Shutdown; it returns nil after a shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics: %w", err)
	}
	return nil
}

// Shutdown stops the server, letting a scrape in flight finish until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("shut down metrics server: %w", err)
	}
	return nil
}
