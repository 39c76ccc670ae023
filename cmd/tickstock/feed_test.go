package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/market/polygontest"
)

// TestServeReplayLogsCounts: the app started on the replay feed runs the sample through
// detection and logs its tick and event counts.
func TestServeReplayLogsCounts(t *testing.T) {
	dbURL := testenv.MustDatabase(t)
	sample, err := filepath.Abs(filepath.Join("..", "..", "market", "testdata", "sample.csv"))
	if err != nil {
		t.Fatal(err)
	}
	s := MustServe(t, map[string]string{"DATABASE_URL": dbURL, "TICKSTOCK_FEED": "replay",
		"TICKSTOCK_REPLAY_FILE": sample, "TICKSTOCK_REPLAY_SPEED": "0"})
	ended := regexp.MustCompile(`msg="market: feed ended" source=replay ticks_total=(\d+).*highs=(\d+) lows=(\d+) trends=(\d+) surges=(\d+)`)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := ended.FindStringSubmatch(s.logs.String()); m != nil {
			if m[1] != "3600" {
				t.Fatalf("replayed %s ticks, the sample has 3600", m[1])
			}
			for i, kind := range []string{"highs", "lows", "trends", "surges"} {
				if m[i+2] == "0" {
					t.Fatalf("no %s counted: %s", kind, m[0])
				}
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no feed-ended line with counts in the logs:\n%s", lastLines(s.logs.String(), 15))
}

// TestServeReplayEndTurnsNotReady: a replay that ends without loop is a feed that stopped
// for good, so /readyz answers 503 (while /healthz stays 200) and the stop is logged at ERROR.
func TestServeReplayEndTurnsNotReady(t *testing.T) {
	dbURL := testenv.MustDatabase(t)
	sample, err := filepath.Abs(filepath.Join("..", "..", "market", "testdata", "sample.csv"))
	if err != nil {
		t.Fatal(err)
	}
	s := MustServe(t, map[string]string{"DATABASE_URL": dbURL, "TICKSTOCK_FEED": "replay",
		"TICKSTOCK_REPLAY_FILE": sample, "TICKSTOCK_REPLAY_SPEED": "0"})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, body := mustGet(t, s.URL+"/readyz")
		if resp.StatusCode == 503 {
			if strings.Contains(body, "replay") || strings.Contains(body, "feed ended:") {
				t.Fatalf("/readyz leaks internal detail: %q", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after the replay ended:\n%s", resp.StatusCode, lastLines(s.logs.String(), 15))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp, _ := mustGet(t, s.URL+"/healthz"); resp.StatusCode != 200 {
		t.Fatalf("/healthz = %d after the feed ended; the process still runs", resp.StatusCode)
	}
	if !regexp.MustCompile(`level=ERROR msg="market: feed stopped for good" source=replay`).MatchString(s.logs.String()) {
		t.Fatalf("no ERROR line for the stopped feed:\n%s", lastLines(s.logs.String(), 15))
	}
}

func TestServeReplayMissingFile(t *testing.T) {
	dbURL := testenv.MustDatabase(t)
	err := run(t.Context(), []string{"serve"}, func(k string) string {
		return map[string]string{"DATABASE_URL": dbURL, "TICKSTOCK_ADDR": "127.0.0.1:0", "TICKSTOCK_FEED": "replay",
			"TICKSTOCK_REPLAY_FILE": "/no/such/file.csv"}[k]
	}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "TICKSTOCK_FEED=replay") || !strings.Contains(err.Error(), "/no/such/file.csv") {
		t.Fatalf("a missing replay file should stop the start with a clear error, got %v", err)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestServePolygonLogsCounts: the app on the polygon feed, against a local fake provider,
// authenticates, subscribes to every universe symbol, and logs the ticks it detected on.
func TestServePolygonLogsCounts(t *testing.T) {
	t.Parallel()
	dbURL := testenv.MustDatabase(t)
	const t0 = 1741962600000 // 2025-03-14T14:30:00Z
	fake, url := polygontest.MustServer(t, "test-key", func(n int) ([]string, bool, bool) {
		var msgs []string
		for i := 0; i < 40; i++ {
			msgs = append(msgs, "["+polygontest.Agg("AAPL", 212+float64(i)*0.2, 1000, t0+int64(i)*1000)+"]")
		}
		return msgs, false, false
	})
	s := MustServe(t, map[string]string{"DATABASE_URL": dbURL, "TICKSTOCK_FEED": "polygon",
		"POLYGON_API_KEY": "test-key", "TICKSTOCK_POLYGON_URL": url})
	stats := regexp.MustCompile(`msg="market: feed stats" source=polygon ticks_total=(\d+).*highs=(\d+)`)
	deadline := time.Now().Add(25 * time.Second) // the runner logs every 10 s
	for time.Now().Before(deadline) {
		if m := stats.FindStringSubmatch(s.logs.String()); m != nil {
			if m[1] != "40" || m[2] == "0" {
				t.Fatalf("polygon stats: %s", m[0])
			}
			_, _, auths, subs := fake.Stats()
			if len(auths) != 1 || auths[0] != "auth:test-key" || len(subs) != 1 || !strings.Contains(subs[0], "A.AAPL") || !strings.Contains(subs[0], "A.SPY") {
				t.Fatalf("auth %v subscribe %v", auths, subs)
			}
			if strings.Contains(s.logs.String(), "test-key") {
				t.Fatal("the API key appears in the logs")
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no polygon feed stats in the logs:\n%s", lastLines(s.logs.String(), 15))
}
