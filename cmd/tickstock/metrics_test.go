package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tickstock/tickstock/internal/testenv"
)

var metricsRE = regexp.MustCompile(`metrics_addr=(http://\S+)`)

// scrape reads /metrics and parses it with Prometheus's own text parser.
func scrape(t *testing.T, u string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value is the value of the family's series whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPrometheusMetrics runs the app with TICKSTOCK_METRICS_ADDR and checks that /metrics
// parses, holds the runtime, process and app metrics, and that the counters move with what
// happens: emissions, logins, the rate limit, an admin's universe edit reaching the feed.
func TestPrometheusMetrics(t *testing.T) {
	dbURL := testenv.MustDatabase(t)
	env := map[string]string{"DATABASE_URL": dbURL, "TICKSTOCK_PASSWORD": "admin-password"}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"user", "add", "--email", "root@example.com", "--admin"},
		func(k string) string { return env[k] }, &out); err != nil {
		t.Fatalf("user add: %v\n%s", err, out.String())
	}
	s := MustServe(t, map[string]string{"DATABASE_URL": dbURL, "TICKSTOCK_METRICS_ADDR": "127.0.0.1:0",
		"TICKSTOCK_RATE_LIMIT": "40", "TICKSTOCK_EMIT_INTERVAL": "100ms", "TICKSTOCK_SIM_RATE": "500"})
	var metricsURL string
	waitFor(t, "the metrics listener", 10*time.Second, func() bool {
		m := metricsRE.FindStringSubmatch(s.logs.String())
		if m != nil {
			metricsURL = m[1]
		}
		return m != nil
	})

	fams := scrape(t, metricsURL)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes",
		"tickstock_streams_open", "tickstock_emissions_total", "tickstock_emission_duration_seconds",
		"tickstock_events_total", "tickstock_stream_messages_dropped_total", "tickstock_settings_cache_hits_total",
		"tickstock_settings_cache_misses_total", "tickstock_feed_ticks_total", "tickstock_rate_limited_total",
		"tickstock_logins_total", "tickstock_feed_up"} {
		if fams[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if typ := fams["tickstock_emission_duration_seconds"].GetType(); typ != dto.MetricType_HISTOGRAM {
		t.Fatalf("emission duration is a %v", typ)
	}
	waitFor(t, "emissions and ticks", 10*time.Second, func() bool {
		f := scrape(t, metricsURL)
		return value(t, f, "tickstock_emissions_total") >= 3 && value(t, f, "tickstock_feed_ticks_total", "source", "sim") > 0 &&
			value(t, f, "tickstock_emission_duration_seconds") >= 3
	})
	if v := value(t, scrape(t, metricsURL), "tickstock_feed_up"); v != 1 {
		t.Fatalf("feed_up %v", v)
	}

	// Logins: one failure, one success.
	c := newWebClient(t, s.URL)
	c.do(http.MethodGet, "/auth/login", nil)
	if code, _ := c.do(http.MethodPost, "/auth/login", url.Values{"email": {"root@example.com"}, "password": {"wrong-password"}}); code != 401 {
		t.Fatalf("bad login: %d", code)
	}
	if code, _ := c.do(http.MethodPost, "/auth/login", url.Values{"email": {"root@example.com"}, "password": {"admin-password"}}); code != 303 {
		t.Fatalf("login: %d", code)
	}
	fams = scrape(t, metricsURL)
	if f, ok := value(t, fams, "tickstock_logins_total", "result", "failure"), value(t, fams, "tickstock_logins_total", "result", "success"); f != 1 || ok != 1 {
		t.Fatalf("logins: %v failed, %v succeeded", f, ok)
	}

	// The admin JSON has the live feed, and a new universe's symbol reaches the feed.
	c.do(http.MethodGet, "/admin/universes", nil)
	feed := func() map[string]any {
		code, body := c.do(http.MethodGet, "/api/admin/metrics", nil)
		var m map[string]any
		if code != 200 || json.Unmarshal([]byte(body), &m) != nil {
			t.Fatalf("/api/admin/metrics: %d %s", code, body)
		}
		return m["feed"].(map[string]any)
	}
	before := feed()
	if before["source"] != "sim" || before["ticks_total"].(float64) <= 0 {
		t.Fatalf("feed %v", before)
	}
	if code, body := c.do(http.MethodPost, "/admin/universes", url.Values{"name": {"NEWCO"}, "symbols": {"ZZNEWCO"}}); code != 200 {
		t.Fatalf("create universe: %d %s", code, body)
	}
	waitFor(t, "the new symbol in the feed", 5*time.Second, func() bool {
		return feed()["symbols"].(float64) == before["symbols"].(float64)+1
	})

	// The rate limit: signed out, from this address, 40 a minute.
	anon := newWebClient(t, s.URL)
	refused := 0
	for i := 0; i < 60 && refused == 0; i++ {
		if code, _ := anon.do(http.MethodGet, "/", nil); code == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("the rate limit never refused")
	}
	fams = scrape(t, metricsURL)
	if v := value(t, fams, "tickstock_rate_limited_total"); v < 1 {
		t.Fatalf("rate_limited_total %v", v)
	}
	if v := value(t, fams, "tickstock_http_responses_total", "code", "429"); v < 1 {
		t.Fatalf("http_responses_total{code=429} %v", v)
	}

	// The Go profiler answers on the metrics address only (a heap profile, in pprof's format).
	prof := strings.TrimSuffix(metricsURL, "/metrics") + "/debug/pprof/heap"
	resp, err := http.Get(prof)
	if err != nil {
		t.Fatalf("heap profile: %v", err)
	}
	heap, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(heap) < 2 || heap[0] != 0x1f || heap[1] != 0x8b { // gzipped protobuf
		t.Fatalf("heap profile: %d, %d bytes", resp.StatusCode, len(heap))
	}
	if code, _ := c.do(http.MethodGet, "/debug/pprof/heap", nil); code != http.StatusNotFound {
		t.Fatalf("the app's own address serves the profiler: %d", code)
	}

	// The metrics listener stops with the app.
	s.stop()
	if resp, err := http.Get(metricsURL); err == nil {
		resp.Body.Close()
		t.Fatal("/metrics still answers after shutdown")
	}
}
