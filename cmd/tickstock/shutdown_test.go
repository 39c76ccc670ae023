package main

import (
	"bufio"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tickstock/tickstock/internal/testenv"
)

// TestShutdownClosesStreams: a signed-in stream on the real app (sim feed) receives
// events, and SIGINT-style shutdown ends it with a final comment, promptly.
func TestShutdownClosesStreams(t *testing.T) {
	dbURL := testenv.MustDatabase(t)
	s := MustServe(t, map[string]string{"DATABASE_URL": dbURL, "TICKSTOCK_EMIT_INTERVAL": "200ms", "TICKSTOCK_SIM_SEED": "7"})

	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(s.URL + "/auth/register")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	token := resp.Header.Get("X-CSRF-Token")
	resp, err = hc.PostForm(s.URL+"/auth/register", url.Values{"_csrf": {token}, "email": {"e2e@example.com"},
		"username": {"e2e-user"}, "password": {"e2e-password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("register: %d", resp.StatusCode)
	}

	resp, err = hc.Get(s.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := make(chan string, 10000)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<22)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// The simulator produces events for the default universe within seconds.
	deadline := time.After(20 * time.Second)
	for got := false; !got; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("stream ended before any event")
			}
			got = l == "event: market"
		case <-deadline:
			t.Fatal("no market event within 20s")
		}
	}

	start := time.Now()
	go s.stop()
	var tail []string
	for l := range lines {
		tail = append(tail, l)
	}
	if !strings.Contains(strings.Join(tail, "\n"), ": closing: shutdown") {
		t.Fatalf("stream did not end with the shutdown comment; last lines: %q", tail[max(0, len(tail)-5):])
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("stream took %s to close on shutdown", d)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
}
