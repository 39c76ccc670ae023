package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tickstock/tickstock/internal/testenv"
)

// server is a running `tickstock serve`, started through run on port 0.
type server struct {
	URL  string
	stop func()
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listenRE = regexp.MustCompile(`addr=(http://[0-9.:\[\]a-z]+)`)

// MustServe runs the app with env (plus port 0) and waits until it listens.
func MustServe(tb testing.TB, env map[string]string) *server {
	tb.Helper()
	full := map[string]string{"TICKSTOCK_ADDR": "127.0.0.1:0", "TICKSTOCK_COOKIE_SECURE": "false"}
	for k, v := range env {
		full[k] = v
	}
	getenv := func(k string) string { return full[k] }
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"serve"}, getenv, io.MultiWriter(pw, logs))
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	s := &server{logs: logs}
	select {
	case s.URL = <-found:
	case err := <-done:
		cancel()
		tb.Fatalf("run exited before listening: %v\n%s", err, logs.String())
	case <-time.After(60 * time.Second):
		cancel()
		tb.Fatalf("run did not listen within 60s\n%s", logs.String())
	}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("run returned %v", err)
				}
			case <-time.After(15 * time.Second):
				tb.Errorf("run did not stop within 15s")
			}
			go io.Copy(io.Discard, pr) //nolint:errcheck
		})
	}
	tb.Cleanup(s.stop)
	return s
}

func mustGet(tb testing.TB, url string) (*http.Response, string) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read %s: %v", url, err)
	}
	return resp, string(b)
}

func TestServeEndToEnd(t *testing.T) {
	dbURL := testenv.MustDatabase(t)
	s := MustServe(t, map[string]string{"DATABASE_URL": dbURL})

	resp, body := mustGet(t, s.URL+"/healthz")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("/healthz = %d %q", resp.StatusCode, body)
	}
	resp, _ = mustGet(t, s.URL+"/readyz")
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz = %d", resp.StatusCode)
	}

	resp, body = mustGet(t, s.URL+"/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/ = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("bad CSP %q", csp)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "same-origin" {
		t.Fatalf("missing security headers: %v", resp.Header)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Find(`[data-testid="home"] h1`).Length() != 1 {
		t.Fatalf("home page has no hero heading:\n%s", body)
	}
	if doc.Find(`meta[name="csrf-token"]`).Length() != 1 {
		t.Fatal("home page lacks the csrf-token meta tag")
	}
	if href, _ := doc.Find(`[data-testid="cta-register"]`).Attr("href"); href != "/auth/register" {
		t.Fatalf("register link = %q", href)
	}
	if doc.Find(`script[src="/static/vendor/htmx.min.js"]`).Length() != 1 {
		t.Fatal("layout does not load htmx")
	}

	resp, body = mustGet(t, s.URL+"/static/css/app.css")
	if resp.StatusCode != 200 || !strings.Contains(body, "--bg") {
		t.Fatalf("/static/css/app.css = %d", resp.StatusCode)
	}
	resp, _ = mustGet(t, s.URL+"/static/static.go")
	if resp.StatusCode != 404 {
		t.Fatalf("/static/static.go served the package source: %d", resp.StatusCode)
	}
	resp, body = mustGet(t, s.URL+"/no/such/page")
	if resp.StatusCode != 404 || !strings.Contains(body, `data-testid="error"`) {
		t.Fatalf("unknown route = %d, want the 404 error page", resp.StatusCode)
	}

	s.stop()
	if !strings.Contains(s.logs.String(), "stopped") {
		t.Fatalf("no graceful shutdown in logs:\n%s", s.logs.String())
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	err := run(context.Background(), nil, func(k string) string {
		if k == "TICKSTOCK_SIM_RATE" {
			return "lots"
		}
		return ""
	}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "TICKSTOCK_SIM_RATE") {
		t.Fatalf("want an error naming TICKSTOCK_SIM_RATE, got %v", err)
	}
}

func TestRunUnknownCommand(t *testing.T) {
	err := run(context.Background(), []string{"frobnicate"}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "frobnicate") {
		t.Fatalf("want unknown command error, got %v", err)
	}
}
