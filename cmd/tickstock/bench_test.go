package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/loadtest"
)

// benchEnv runs the app with the simulator, a fast emission and a high rate limit.
func benchEnv(dbURL string) map[string]string {
	return map[string]string{"DATABASE_URL": dbURL, "TICKSTOCK_EMIT_INTERVAL": "200ms",
		"TICKSTOCK_SIM_SEED": "11", "TICKSTOCK_SIM_RATE": "5000", "TICKSTOCK_RATE_LIMIT": "100000"}
}

// specKeys are SPEC section 9's keys, plus the extras the tool documents.
var (
	specKeys  = []string{"connections_ok", "connections_failed", "events_per_second", "bytes_per_second", "p50_ms", "p99_ms", "max_ms", "server_rss_bytes", "server_goroutines", "rss_bytes_per_stream", "cpu_us_per_event"}
	extraKeys = []string{"events_total", "connections_lost", "failures", "dropped_messages", "client_cpu_us_per_event", "duration_s",
		"feed_ticks_per_second", "feed_symbols", "server_heap_bytes"}
)

// mustBench runs `tickstock bench args...` through run and decodes its JSON line.
func mustBench(t *testing.T, args ...string) map[string]any {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), append([]string{"bench"}, args...), func(string) string { return "" }, &out); err != nil {
		t.Fatalf("bench %v: %v", args, err)
	}
	if n := strings.Count(strings.TrimSpace(out.String()), "\n"); n != 0 {
		t.Fatalf("--json printed %d lines, want one object:\n%s", n+1, out.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("bench output is not JSON: %v\n%s", err, out.String())
	}
	return m
}

func TestBenchStreamsJSON(t *testing.T) {
	s := MustServe(t, benchEnv(testenv.MustDatabase(t)))
	m := mustBench(t, "--url", s.URL, "--clients", "20", "--users", "4", "--create-users", "--groups", "2",
		"--duration", "3s", "--warmup", "500ms", "--json", "--pid", strconv.Itoa(os.Getpid()))

	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	want := append(slices.Clone(specKeys), extraKeys...)
	slices.Sort(keys)
	slices.Sort(want)
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	num := func(k string) float64 {
		v, ok := m[k].(float64)
		if !ok {
			t.Fatalf("%s = %v, want a number", k, m[k])
		}
		return v
	}
	if num("connections_ok") != 20 || num("connections_failed") != 0 || num("connections_lost") != 0 {
		t.Fatalf("connections: %v", m)
	}
	// 20 streams for 3 s at 5 emissions a second, each with the market summary: 300 events
	// on an idle machine; at least one per stream however busy it is.
	if num("events_total") < 20 || num("events_per_second") <= 0 || num("bytes_per_second") <= 0 {
		t.Fatalf("too few events: %v", m)
	}
	p50, p99, mx := num("p50_ms"), num("p99_ms"), num("max_ms")
	if p50 <= 0 || p50 > p99 || p99 > mx || mx > 30000 {
		t.Fatalf("latency p50 %v p99 %v max %v", p50, p99, mx)
	}
	// --pid is this process, which runs the server.
	if num("server_rss_bytes") < 1<<20 || num("cpu_us_per_event") <= 0 {
		t.Fatalf("server figures from /proc missing: %v", m)
	}
	if _, ok := m["rss_bytes_per_stream"].(float64); !ok {
		t.Fatalf("rss_bytes_per_stream = %v, want a number", m["rss_bytes_per_stream"])
	}
	// No admin credentials: the metrics-only figure is null, not a made-up 0.
	if m["server_goroutines"] != nil || m["dropped_messages"] != nil || m["feed_ticks_per_second"] != nil || m["server_heap_bytes"] != nil {
		t.Fatalf("figures from /api/admin/metrics should be null without admin credentials: %v", m)
	}

	// The users got the groups' settings through the app: user i has group i mod 2.
	for i := range 2 {
		hc := mustSignIn(t, s.URL, "bench-user-"+strconv.Itoa(i)+"@example.com", "bench-password-1")
		var got struct {
			Filters struct {
				Trends struct {
					Direction string `json:"direction"`
				} `json:"trends"`
			} `json:"filters"`
		}
		mustGetJSON(t, hc, s.URL+"/api/user-filters", &got)
		if want := loadtest.SettingsOf(i).Filters["trends"].(map[string]any)["direction"]; got.Filters.Trends.Direction != want {
			t.Errorf("user %d: trends.direction %q, want %q", i, got.Filters.Trends.Direction, want)
		}
	}

	// A second run finds the users already there (422 on register) and signs them in; it
	// keeps their sessions in a file, which a third run reuses without signing in.
	sessions := filepath.Join(t.TempDir(), "sessions.json")
	m = mustBench(t, "--url", s.URL, "--clients", "8", "--users", "4", "--create-users",
		"--duration", "1s", "--warmup", "200ms", "--json", "--sessions", sessions)
	if m["connections_ok"] != 8.0 || m["server_rss_bytes"] != nil || m["cpu_us_per_event"] != nil {
		t.Fatalf("second run without --pid: %v", m)
	}
	logins := strings.Count(s.logs.String(), "event=login_success")
	if logins < 4 {
		t.Fatalf("the second run's 4 logins are not in the server's log (%d found)", logins)
	}
	m = mustBench(t, "--url", s.URL, "--clients", "8", "--users", "4",
		"--duration", "1s", "--warmup", "200ms", "--json", "--sessions", sessions)
	if m["connections_ok"] != 8.0 {
		t.Fatalf("run with saved sessions: %v", m)
	}
	if n := strings.Count(s.logs.String(), "event=login_success"); n != logins {
		t.Fatalf("the run with saved sessions signed in %d times", n-logins)
	}
	if fi, err := os.Stat(sessions); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("sessions file: %v, %v (want mode 0600)", fi, err)
	}
}

// TestBenchStreamsHTML reads HTML streams, with a goroutine per stream (the reader for
// TLS and non-Linux systems).
func TestBenchStreamsHTML(t *testing.T) {
	s := MustServe(t, benchEnv(testenv.MustDatabase(t)))
	// Let the server build up emissions, which a new HTML stream replays first; their age
	// (up to 5 s) is not latency (TestReadChunkedBody checks the rule itself).
	time.Sleep(5 * time.Second)
	m := mustBench(t, "--url", s.URL, "--clients", "6", "--create-users", "--format", "html",
		"--duration", "2s", "--warmup", "0s", "--json", "--reader", "goroutines")
	if m["connections_ok"] != 6.0 || m["events_total"].(float64) < 6 {
		t.Fatalf("html run: %v", m)
	}
	if p99 := m["p99_ms"].(float64); p99 <= 0 || p99 > 4000 {
		t.Fatalf("p99 %v ms: replayed history counted as latency?", p99)
	}
}

// TestBenchCountsRefusedAndLostStreams: a user's 9th stream is refused with 429, and streams
// that the server ends while measuring are counted as lost, with the reason.
func TestBenchCountsRefusedAndLostStreams(t *testing.T) {
	s := MustServe(t, benchEnv(testenv.MustDatabase(t)))
	opts := func(n int) loadtest.Options {
		return loadtest.Options{URL: s.URL, Clients: n, Users: 1, CreateUsers: true,
			Duration: 5 * time.Minute, ConnectTimeout: 2 * time.Second, SourceIPs: 4}
	}
	pr, pw := io.Pipe()
	first := opts(8)
	first.Log = pw
	var res *loadtest.Result
	var runErr error
	var wg sync.WaitGroup
	// The first run measures until it is cancelled, below.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wg.Go(func() {
		res, runErr = loadtest.Run(ctx, first)
		pw.Close()
	})
	measuring := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		var seen strings.Builder
		for {
			n, err := pr.Read(buf)
			seen.Write(buf[:n])
			if strings.Contains(seen.String(), "measuring") {
				close(measuring)
				io.Copy(io.Discard, pr) //nolint:errcheck
				return
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-measuring:
	case <-time.After(60 * time.Second):
		t.Fatal("the first run never started measuring")
	}

	// The same user already holds 8 streams: all 4 more are refused.
	second := opts(4)
	second.Duration = 500 * time.Millisecond
	r2, err := loadtest.Run(context.Background(), second)
	if err != nil {
		t.Fatal(err)
	}
	if r2.ConnectionsOK != 0 || r2.ConnectionsFailed != 4 || r2.Failures["http_429"] != 4 {
		t.Fatalf("9th+ streams: %+v", r2)
	}

	s.stop() // the server goes away while the first run measures
	time.Sleep(time.Second)
	cancel()
	wg.Wait()
	if runErr != nil {
		t.Fatal(runErr)
	}
	if res.ConnectionsOK != 8 || res.ConnectionsLost != 8 {
		t.Fatalf("first run: %+v", res)
	}
	lost := 0
	for reason, n := range res.Failures {
		if strings.HasPrefix(reason, "stream: ") {
			lost += n
		}
	}
	if lost != 8 {
		t.Fatalf("lost streams' reasons: %v", res.Failures)
	}
}

func TestBenchRequestRates(t *testing.T) {
	s := MustServe(t, benchEnv(testenv.MustDatabase(t)))
	var out bytes.Buffer
	args := []string{"bench", "--url", s.URL, "--rps-paths", "/healthz,/dashboard", "--create-users",
		"--concurrency", "4", "--duration", "1s", "--warmup", "200ms", "--json"}
	if err := run(context.Background(), args, func(string) string { return "" }, &out); err != nil {
		t.Fatal(err)
	}
	var r loadtest.RateResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(r.Paths) != 2 || r.Paths[0].Path != "/healthz" || r.Paths[1].Path != "/dashboard" {
		t.Fatalf("paths: %+v", r.Paths)
	}
	for _, p := range r.Paths {
		if p.Requests == 0 || p.RequestsPerSecond <= 0 || len(p.Errors) != 0 || p.P50Ms > p.P99Ms || p.P99Ms > p.MaxMs {
			t.Fatalf("%s: %+v", p.Path, p)
		}
	}
	// The dashboard answered 200 with a page, so the requests were signed in.
	if r.Paths[1].BytesPerRequest < 1000 || r.Paths[0].RatioToFirst != 1 {
		t.Fatalf("dashboard: %+v", r.Paths[1])
	}
	if want := r.Paths[1].RequestsPerSecond / r.Paths[0].RequestsPerSecond; abs(r.Paths[1].RatioToFirst-want) > 0.001 {
		t.Fatalf("ratio %v, want %v", r.Paths[1].RatioToFirst, want)
	}

}

// TestBenchRequestRatesCountsRefusals: with the default-sized rate limit, the tool reports
// the 429s as errors instead of counting them as served requests.
func TestBenchRequestRatesCountsRefusals(t *testing.T) {
	env := benchEnv(testenv.MustDatabase(t))
	env["TICKSTOCK_RATE_LIMIT"] = "5"
	s := MustServe(t, env)
	var out bytes.Buffer
	args := []string{"bench", "--url", s.URL, "--rps-paths", "/dashboard", "--create-users", "--concurrency", "4",
		"--duration", "3s", "--warmup", "0s", "--json"}
	if err := run(context.Background(), args, func(string) string { return "" }, &out); err != nil {
		t.Fatal(err)
	}
	var r loadtest.RateResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	p := r.Paths[0]
	// Sign-in used one of the user's 5 requests this minute; the rest were served (twice
	// that if the run spans the start of a new minute).
	if p.Requests == 0 || p.Requests > 10 || p.Errors["http_429"] == 0 {
		t.Fatalf("/dashboard under a limit of 5/min: %+v", p)
	}
}

// TestBenchExtraSymbols widens the feed through the admin's universe form (the burst
// case's set-up), twice to show a second run is fine, and reads the feed's figures.
func TestBenchExtraSymbols(t *testing.T) {
	dbURL := testenv.MustDatabase(t)
	env := map[string]string{"DATABASE_URL": dbURL, "TICKSTOCK_PASSWORD": "admin-password"}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"user", "add", "--email", "bench-admin@example.com", "--admin"},
		func(k string) string { return env[k] }, &out); err != nil {
		t.Fatalf("user add: %v\n%s", err, out.String())
	}
	s := MustServe(t, benchEnv(dbURL))
	var symbols float64
	for range 2 {
		m := mustBench(t, "--url", s.URL, "--clients", "2", "--create-users", "--duration", "1500ms", "--warmup", "0s",
			"--json", "--admin-email", "bench-admin@example.com", "--admin-password", "admin-password", "--extra-symbols", "5200")
		n, ok := m["feed_symbols"].(float64)
		if !ok || n < 5200 || (symbols != 0 && n != symbols) {
			t.Fatalf("feed_symbols %v (first run %v), want at least 5,200 and the same on the second run", m["feed_symbols"], symbols)
		}
		symbols = n
		if v, ok := m["feed_ticks_per_second"].(float64); !ok || v <= 0 {
			t.Fatalf("feed_ticks_per_second %v", m["feed_ticks_per_second"])
		}
		if v, ok := m["server_heap_bytes"].(float64); !ok || v < 1<<20 {
			t.Fatalf("server_heap_bytes %v", m["server_heap_bytes"])
		}
	}
}

func TestBenchRejectsBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--clients", "17", "--users", "2"}, "need at least 3 users"},
		{[]string{"--clients", "8", "--users", "1", "--groups", "2"}, "--groups 2"},
		{[]string{"--format", "xml"}, "--format must be json or html"},
		{[]string{"--url", "localhost:8080"}, "--url"},
		{[]string{"--password", "short"}, "at least 8"},
		{[]string{"--admin-email", "a@example.com"}, "--admin-password"},
		{[]string{"stray"}, "no arguments"},
		{[]string{"--reader", "io_uring"}, "--reader"},
		{[]string{"--extra-symbols", "10"}, "--extra-symbols needs --admin-email"},
		{[]string{"--extra-symbols", "-1"}, "--extra-symbols must be"},
	}
	for _, tt := range tests {
		err := run(context.Background(), append([]string{"bench"}, tt.args...), func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("bench %v: error %v, want one containing %q", tt.args, err, tt.want)
		}
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// mustSignIn logs in through the JSON API and returns a client holding the session.
func mustSignIn(tb testing.TB, base, email, password string) *http.Client {
	tb.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", base+"/auth/login", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	var page struct {
		CSRF string `json:"csrf_token"`
	}
	json.NewDecoder(resp.Body).Decode(&page) //nolint:errcheck
	resp.Body.Close()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	req, _ = http.NewRequest("POST", base+"/auth/login", bytes.NewReader(body))
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", page.CSRF)
	resp, err = hc.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		tb.Fatalf("login as %s: %d", email, resp.StatusCode)
	}
	return hc
}

func mustGetJSON(tb testing.TB, hc *http.Client, url string, v any) {
	tb.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		tb.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
}
