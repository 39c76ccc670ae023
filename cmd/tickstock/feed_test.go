package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tickstock/tickstock/internal/testenv"
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
