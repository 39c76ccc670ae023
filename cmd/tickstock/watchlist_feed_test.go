package main

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tickstock/tickstock/internal/testenv"
)

// symbolState reads has_data and the tick count of a symbol from GET /api/symbols.
func (b *webClient) symbolState(sym string) (bool, int) {
	b.tb.Helper()
	code, body := b.get("/api/symbols/" + sym)
	if code != 200 {
		b.tb.Fatalf("GET /api/symbols/%s: %d %s", sym, code, body)
	}
	var v struct {
		Symbol struct {
			HasData bool `json:"has_data"`
			Ticks   int  `json:"ticks"`
		} `json:"symbol"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		b.tb.Fatal(err)
	}
	return v.Symbol.HasData, v.Symbol.Ticks
}

// TestServeWatchlistSymbolsReachTheFeed: a symbol no universe has, added to a watchlist in
// the running app, is ticked by the simulator without a restart; after a restart the feed
// starts with it.
func TestServeWatchlistSymbolsReachTheFeed(t *testing.T) {
	dbURL := testenv.MustDatabase(t)
	env := map[string]string{"DATABASE_URL": dbURL, "TICKSTOCK_EMIT_INTERVAL": "100ms",
		"TICKSTOCK_RATE_LIMIT": "100000", "TICKSTOCK_SIM_SEED": "7"}
	s := MustServe(t, env)
	b := newWebClient(t, s.URL)
	b.get("/auth/register")
	if code := b.post("/auth/register", url.Values{"email": {"feed@example.com"}, "username": {"feeder"},
		"password": {"feed-password"}}); code != 303 {
		t.Fatalf("register: %d", code)
	}
	if code, _ := b.get("/api/symbols/ZZWLA"); code != 404 {
		t.Fatalf("ZZWLA before any list: %d, want 404", code)
	}
	b.get("/watchlists")
	if code := b.post("/watchlists", url.Values{"name": {"New names"}, "symbols": {"zzwla"}}); code != 303 {
		t.Fatalf("create list: %d", code)
	}
	// The simulator picks it up: the symbol gains data, and keeps ticking.
	deadline := time.Now().Add(15 * time.Second)
	first := 0
	for {
		if has, ticks := b.symbolState("ZZWLA"); has {
			first = ticks
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the simulator never ticked ZZWLA\n%s", lastLines(s.logs.String(), 10))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, ticks := b.symbolState("ZZWLA"); ticks <= first; _, ticks = b.symbolState("ZZWLA") {
		if time.Now().After(deadline) {
			t.Fatal("ZZWLA ticked once and stopped")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(s.logs.String(), `msg="market: symbols added" source=sim added=1`) {
		t.Fatalf("no log of the added symbol:\n%s", lastLines(s.logs.String(), 10))
	}
	s.stop()

	// A restart: the feed starts with every listed symbol.
	s2 := MustServe(t, env)
	if !strings.Contains(s2.logs.String(), "watchlist_symbols=1") {
		t.Fatalf("the feed did not start with the listed symbol:\n%s", lastLines(s2.logs.String(), 10))
	}
	b2 := newWebClient(t, s2.URL)
	b2.get("/auth/login")
	if code := b2.post("/auth/login", url.Values{"email": {"feed@example.com"}, "password": {"feed-password"}}); code != 303 {
		t.Fatalf("login: %d", code)
	}
	deadline = time.Now().Add(10 * time.Second)
	for has, _ := b2.symbolState("ZZWLA"); !has; has, _ = b2.symbolState("ZZWLA") {
		if time.Now().After(deadline) {
			t.Fatal("after a restart the simulator does not tick ZZWLA")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
