// Package metrics gathers the app's live figures from the packages that count them (the
// stream hub and publisher, the settings cache, the market runner, the auth log, the HTTP
// layer) at the moment they are asked for: GET /api/admin/metrics (SPEC section 10), the
// admin page's sparklines (a sampler keeps 15 minutes of them), and Prometheus /metrics on
// its own listener. It counts nothing itself except what only the HTTP layer sees (HTTPStats).
package metrics

import (
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickstock/tickstock/cluster"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/stream"
)

// The sources, as small interfaces over the existing counters.
type (
	// Hub is stream.Hub.
	Hub interface{ Counts() (users, conns int) }
	// Settings is settings.Service.
	Settings interface{ Stats() settings.Stats }
	// Feed is market.Runner.
	Feed interface {
		Metrics() market.Metrics
		Health() error
	}
	// Publisher is stream.Publisher.
	Publisher interface {
		Metrics() stream.Metrics
		UniqueGroups() int
	}
	// Cluster is cluster.Feed: this instance's figures about the shared feed.
	Cluster interface{ Metrics() cluster.Metrics }
	// Auth is auth.Audit: counts of auth events by kind since start.
	Auth interface {
		Counts() map[string]uint64
		Dropped() int64
	}
)

// Sources are where the figures come from. A nil source reads as zeros (a feed that is not
// in this process, say).
type Sources struct {
	Hub       Hub
	Settings  Settings
	Feed      Feed
	Publisher Publisher
	Auth      Auth
	HTTP      *HTTPStats
	// Cluster is set only when several instances share the feed (REDIS_URL).
	Cluster Cluster
}

// The JSON objects of SPEC section 10, in its key order.
type (
	// CacheStats is "cache_stats".
	CacheStats struct {
		UniverseCacheSize int     `json:"universe_cache_size"`
		FilterCacheSize   int     `json:"filter_cache_size"`
		HitRate           float64 `json:"hit_rate"`
	}
	// Personalization is "personalization".
	Personalization struct {
		UniqueUniverseConfigs int     `json:"unique_universe_configs"`
		AvgFiltersPerUser     float64 `json:"avg_filters_per_user"`
	}
	// Process is this app's addition after the SPEC's keys: the server process's figures,
	// which the load tool reads when it has no access to the server's /proc.
	Process struct {
		Goroutines    int     `json:"goroutines"`
		RSSBytes      int64   `json:"rss_bytes"`
		HeapBytes     uint64  `json:"heap_bytes"`
		UptimeSeconds float64 `json:"uptime_seconds"`
	}
)

// Snapshot is every figure at one moment. Its JSON is exactly SPEC section 10's object
// (same keys, nesting and order) followed by "process" and, when several instances share
// the feed, "cluster"; the fields marked "-" feed the admin page and Prometheus.
type Snapshot struct {
	ActiveUsers      int                `json:"active_users"`
	TotalConnections int                `json:"total_connections"`
	CacheStats       CacheStats         `json:"cache_stats"`
	Personalization  Personalization    `json:"personalization"`
	Feed             market.FeedMetrics `json:"feed"`
	Events           market.EventCounts `json:"events"`
	Publisher        stream.Metrics     `json:"publisher"`
	Process          Process            `json:"process"`
	Cluster          *cluster.Metrics   `json:"cluster,omitempty"`

	At          time.Time         `json:"-"`
	Groups      int               `json:"-"` // settings groups the publisher renders for
	FeedUp      bool              `json:"-"` // the feed runs (or runs in another process)
	CacheHits   uint64            `json:"-"`
	CacheMisses uint64            `json:"-"`
	AuthEvents  map[string]uint64 `json:"-"`
	AuthDropped int64             `json:"-"`
	RateLimited uint64            `json:"-"`
	Responses   map[int]uint64    `json:"-"`
}

// Collector reads the sources and keeps the recent history for the admin page.
type Collector struct {
	src   Sources
	start time.Time
	hist  *history
}

// History settings: one sample every SampleEvery, kept for Window.
const (
	SampleEvery = 10 * time.Second
	Window      = 15 * time.Minute
)

// NewCollector builds a collector over src; Run starts its sampling.
func NewCollector(src Sources) *Collector {
	return &Collector{src: src, start: time.Now(), hist: newHistory(int(Window / SampleEvery))}
}

// Snapshot reads every figure now. It takes a few short locks (the hub's, the settings
// cache's, the runner's), never waits on I/O.
func (c *Collector) Snapshot() Snapshot {
	s := Snapshot{At: time.Now(), FeedUp: true, Feed: market.FeedMetrics{Source: "none"}}
	if c.src.Hub != nil {
		s.ActiveUsers, s.TotalConnections = c.src.Hub.Counts()
	}
	if c.src.Settings != nil {
		st := c.src.Settings.Stats()
		s.CacheStats = CacheStats{UniverseCacheSize: st.UniverseCacheSize, FilterCacheSize: st.FilterCacheSize, HitRate: st.HitRate}
		s.Personalization = Personalization{UniqueUniverseConfigs: st.UniqueUniverseConfigs, AvgFiltersPerUser: st.AvgFiltersPerUser}
		s.CacheHits, s.CacheMisses = st.Hits, st.Misses
	}
	if c.src.Feed != nil {
		m := c.src.Feed.Metrics()
		s.Feed, s.Events = m.Feed, m.Events
		s.FeedUp = c.src.Feed.Health() == nil
	}
	if c.src.Publisher != nil {
		s.Publisher = c.src.Publisher.Metrics()
		s.Groups = c.src.Publisher.UniqueGroups()
	}
	if c.src.Auth != nil {
		s.AuthEvents, s.AuthDropped = c.src.Auth.Counts(), c.src.Auth.Dropped()
	}
	s.RateLimited, s.Responses = c.src.HTTP.RateLimitedTotal(), c.src.HTTP.Responses()
	s.Process = readProcess(c.start)
	if c.src.Cluster != nil {
		m := c.src.Cluster.Metrics()
		s.Cluster = &m
	}
	return s
}

// Run samples every SampleEvery until done closes.
func (c *Collector) Run(done <-chan struct{}) {
	t := time.NewTicker(SampleEvery)
	defer t.Stop()
	c.Sample()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			c.Sample()
		}
	}
}

// Sample takes a snapshot into the history now (Run calls it; tests call it by hand).
func (c *Collector) Sample() { c.hist.add(c.Snapshot()) }

// History returns the kept samples, oldest first.
func (c *Collector) History() []Snapshot { return c.hist.list() }

// history is a ring of snapshots.
type history struct {
	mu   sync.Mutex
	ring []Snapshot
	next int
	full bool
}

func newHistory(n int) *history { return &history{ring: make([]Snapshot, max(n, 2))} }

func (h *history) add(s Snapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ring[h.next] = s
	h.next = (h.next + 1) % len(h.ring)
	if h.next == 0 {
		h.full = true
	}
}

func (h *history) list() []Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.full {
		return append([]Snapshot(nil), h.ring[:h.next]...)
	}
	return append(append([]Snapshot(nil), h.ring[h.next:]...), h.ring[:h.next]...)
}

// HTTPStats counts what only the HTTP layer sees: rate-limit refusals and responses by
// status. Its methods are safe on a nil *HTTPStats (they count nothing), so tests may leave
// it out.
type HTTPStats struct {
	rateLimited atomic.Uint64
	codes       [600]atomic.Uint64
}

// NewHTTPStats returns zeroed counters.
func NewHTTPStats() *HTTPStats { return &HTTPStats{} }

// RateLimited counts one request refused by the rate limit.
func (s *HTTPStats) RateLimited() {
	if s != nil {
		s.rateLimited.Add(1)
	}
}

// Response counts one answer with status code.
func (s *HTTPStats) Response(code int) {
	if s != nil && code >= 100 && code < len(s.codes) {
		s.codes[code].Add(1)
	}
}

// RateLimitedTotal is how many requests the rate limit refused since start.
func (s *HTTPStats) RateLimitedTotal() uint64 {
	if s == nil {
		return 0
	}
	return s.rateLimited.Load()
}

// Responses returns the answers since start by status code (codes never sent are absent).
func (s *HTTPStats) Responses() map[int]uint64 {
	out := make(map[int]uint64)
	if s == nil {
		return out
	}
	for code := range s.codes {
		if n := s.codes[code].Load(); n > 0 {
			out[code] = n
		}
	}
	return out
}

// readProcess reads the process figures: goroutines and live heap from the runtime (no
// stop-the-world), resident memory from /proc where there is one (0 elsewhere).
func readProcess(start time.Time) Process {
	p := Process{Goroutines: runtime.NumGoroutine(), UptimeSeconds: time.Since(start).Seconds()}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() == metrics.KindUint64 {
		p.HeapBytes = sample[0].Value.Uint64()
	}
	p.RSSBytes = rss()
	return p
}

var pageSize = int64(os.Getpagesize())

func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * pageSize
}
