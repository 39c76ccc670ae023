package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/stream"
)

// TestTokenLifecycle: a token is shown once; with it a program reads the JSON stream and
// the listed GET APIs as the owner, with no cookie or CSRF token and without getting a
// session; everything else is 403; its requests count against the owner's rate limit;
// revoking it ends its stream within 5 s and makes it 401. Memory and Redis (sessions and
// counters) alike.
func TestTokenLifecycle(t *testing.T) {
	rdb, prefix := testenv.MustRedis(t)
	for name, opts := range map[string][]appOption{"memory": nil, "redis": {withRedis(rdb, prefix)}} {
		t.Run(name, func(t *testing.T) { testTokenLifecycle(t, MustApp(t, opts...)) })
	}
}

func testTokenLifecycle(t *testing.T, app *testApp) {
	owner := signedIn(t, app, "program@example.com", "programmer")
	if r := owner.postJSON("/api/user-filters", `{"filter_data":{"trends":{"min_strength":"strong"}}}`); r.StatusCode != 200 {
		t.Fatalf("filters: %d %s", r.StatusCode, r.Body)
	}
	token, handle := createCredential(t, owner, "/settings/tokens", "Backtest script")
	list := owner.get("/settings/tokens")
	if strings.Contains(list.Body, token) || list.Doc(t).Find("[data-testid=item-name]").Text() != "Backtest script" ||
		strings.TrimSpace(list.Doc(t).Find("[data-testid=item-last]").Text()) != "never" {
		t.Fatalf("token list: %s", list.Body)
	}

	program := app.NewClient(t)
	auth := []string{"Authorization", "Bearer " + token}
	for _, path := range []string{"/api/universes", "/api/user/universe-selections", "/api/user-filters"} {
		r := program.get(path, auth...)
		if r.StatusCode != 200 || r.JSON(t)["success"] != true {
			t.Fatalf("GET %s with the token: %d %s", path, r.StatusCode, r.Body)
		}
		if len(r.Header.Values("Set-Cookie")) != 0 || r.Header.Get("X-CSRF-Token") != "" {
			t.Fatalf("GET %s with the token set a cookie or a CSRF token: %v", path, r.Header)
		}
	}
	var f struct {
		Filters struct {
			Trends struct {
				MinStrength string `json:"min_strength"`
			} `json:"trends"`
		} `json:"filters"`
	}
	if err := json.Unmarshal([]byte(program.get("/api/user-filters", auth...).Body), &f); err != nil || f.Filters.Trends.MinStrength != "strong" {
		t.Fatalf("the token does not read as its owner: %+v %v", f, err)
	}
	// /api/symbols/{symbol} is on the list, before its route exists: not found, not forbidden.
	if r := program.get("/api/symbols/AAPL", auth...); r.StatusCode == http.StatusForbidden || r.StatusCode == http.StatusUnauthorized {
		t.Fatalf("GET /api/symbols/AAPL with the token: %d", r.StatusCode)
	}

	// Read-only, and only those routes.
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/api/user-filters", `{"filter_data":{"trends":{"min_strength":"weak"}}}`},
		{"POST", "/api/user/universe-selections", `{"tracker":"highlow","universes":["ETF_UNIVERSE"]}`},
		{"POST", "/settings/tokens", "name=more"},
		{"POST", "/settings/tokens/" + handle + "/revoke", ""},
		{"POST", "/auth/logout", ""},
		{"GET", "/dashboard", ""},
		{"GET", "/settings", ""},
		{"GET", "/settings/tokens", ""},
		{"GET", "/stream", ""},
		{"GET", "/stream?format=html", ""},
		{"GET", "/", ""},
		{"DELETE", "/api/user-filters", ""},
	} {
		r := program.request(tc.method, tc.path, strings.NewReader(tc.body), map[string]string{
			"Authorization": "Bearer " + token, "Content-Type": "application/json", "X-CSRF-Token": "anything"})
		if r.StatusCode != http.StatusForbidden || r.JSON(t)["success"] != false || len(r.Header.Values("Set-Cookie")) != 0 {
			t.Fatalf("%s %s with the token: %d %s", tc.method, tc.path, r.StatusCode, r.Body)
		}
	}
	if r := owner.get("/api/user-filters"); !strings.Contains(r.Body, `"min_strength":"strong"`) {
		t.Fatalf("a refused POST changed the filters: %s", r.Body)
	}

	// The JSON stream, as the owner.
	s, resp := program.openStream("/stream?format=json", auth...)
	if s == nil || len(resp.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("token stream: %d %v", resp.StatusCode, resp.Header)
	}
	waitConns(t, app, 1)
	app.emit(t, testenv.MustSampleEvents(t)[:60]...)
	if ev := s.next(t, 5*time.Second, stream.EventJSON); !strings.Contains(ev.Data, `"emitted_at":`) {
		t.Fatalf("stream event %+v", ev)
	}

	// Token requests count against the owner's limit, as the browser sees.
	left := func(r response) int {
		n, err := strconv.Atoi(r.Header.Get("X-RateLimit-Remaining"))
		if err != nil {
			t.Fatalf("X-RateLimit-Remaining %q", r.Header.Get("X-RateLimit-Remaining"))
		}
		return n
	}
	before := left(owner.get("/api/user-filters"))
	for i := 0; i < 3; i++ {
		if r := program.get("/api/universes", auth...); left(r) != before-1-i {
			t.Fatalf("token request %d: remaining %d, want %d (the owner's count)", i, left(r), before-1-i)
		}
	}
	if after := left(owner.get("/api/user-filters")); after != before-4 {
		t.Fatalf("the owner's browser sees %d remaining, want %d", after, before-4)
	}
	eventually(t, "last used to be recorded", func() bool {
		return owner.get("/settings/tokens").Doc(t).Find("[data-testid=item-last] time").Length() == 1
	})

	// Bad tokens: 401, whatever is wrong.
	for _, h := range []string{"Bearer ", "Bearer nope", "Bearer " + token + "x", "Bearer tsk_" + strings.Repeat("A", 43), "bearer " + strings.Replace(token, "tsk_", "tse_", 1)} {
		r := program.request("GET", "/api/universes", nil, map[string]string{"Authorization": h})
		if r.StatusCode != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") == "" || r.JSON(t)["success"] != false {
			t.Fatalf("Authorization %q: %d %v", h, r.StatusCode, r.Header)
		}
	}
	// Another scheme is not ours: the request goes on as a signed-out one.
	if r := program.request("GET", "/api/universes", nil, map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}); r.StatusCode != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("Basic auth: %d %v", r.StatusCode, r.Header)
	}

	// Revoke: the stream ends within 5 s, and the token is refused.
	start := time.Now()
	if r := owner.postForm("/settings/tokens/"+handle+"/revoke", url.Values{}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.Body)
	}
	if ev := s.next(t, 5*time.Second, "logout"); ev.Data != "revoked" {
		t.Fatalf("the token stream ended with %+v", ev)
	}
	select {
	case <-s.done:
	case <-time.After(5*time.Second - time.Since(start)):
		t.Fatal("the token stream stayed open more than 5 s after revocation")
	}
	for _, path := range []string{"/api/universes", "/stream?format=json"} {
		if r := program.get(path, auth...); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET %s with a revoked token: %d", path, r.StatusCode)
		}
	}
	if r := owner.get("/settings/tokens"); r.Doc(t).Find("[data-testid=item]").Length() != 0 {
		t.Fatal("the revoked token is still listed")
	}
	waitAuthEvent(t, app, "token_rejected")
}

// TestTokenEndsWithItsOwner: disabling the owner ends the token's streams within 5 s and
// the token is refused from then on; another user's token keeps working.
func TestTokenEndsWithItsOwner(t *testing.T) {
	app := MustApp(t, unlimited)
	owner := signedIn(t, app, "tokowner@example.com", "tokowner")
	other := signedIn(t, app, "tokother@example.com", "tokother")
	u := mustUserByEmail(t, app, "tokowner@example.com")
	token, _ := createCredential(t, owner, "/settings/tokens", "Bot")
	otherToken, _ := createCredential(t, other, "/settings/tokens", "Other bot")
	program := app.NewClient(t)
	s1, _ := program.openStream("/stream?format=json", "Authorization", "Bearer "+token)
	s2, _ := program.openStream("/stream?format=json", "Authorization", "Bearer "+token)
	kept, _ := program.openStream("/stream?format=json", "Authorization", "Bearer "+otherToken)
	waitConns(t, app, 3)

	start := time.Now()
	if _, err := app.deps.Accounts.Disable(context.Background(), u.Handle); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*sseStream{s1, s2} {
		if ev := s.next(t, 5*time.Second, "logout"); ev.Data != "disabled" {
			t.Fatalf("ended with %+v", ev)
		}
		select {
		case <-s.done:
		case <-time.After(5*time.Second - time.Since(start)):
			t.Fatal("a token stream stayed open more than 5 s after its owner was disabled")
		}
	}
	if r := program.get("/api/universes", "Authorization", "Bearer "+token); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a disabled owner's token: %d", r.StatusCode)
	}
	waitConns(t, app, 1)
	app.emit(t, testenv.MustSampleEvents(t)[:30]...)
	kept.next(t, 5*time.Second, stream.EventJSON)
}

// TestTokenStreamsCountAsTheOwners: a token stream is one of the owner's 8.
func TestTokenStreamsCountAsTheOwners(t *testing.T) {
	app := MustApp(t, unlimited)
	owner := signedIn(t, app, "eight@example.com", "eightstreams")
	token, _ := createCredential(t, owner, "/settings/tokens", "Feed")
	program := app.NewClient(t)
	for i := 0; i < stream.MaxStreamsPerUser-1; i++ {
		if s, r := owner.openStream("/stream"); s == nil {
			t.Fatalf("tab %d: %d", i, r.StatusCode)
		}
	}
	if s, r := program.openStream("/stream?format=json", "Authorization", "Bearer "+token); s == nil {
		t.Fatalf("the 8th stream, by token: %d", r.StatusCode)
	}
	waitConns(t, app, stream.MaxStreamsPerUser)
	if s, r := program.openStream("/stream?format=json", "Authorization", "Bearer "+token); s != nil || r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the 9th stream: %d", r.StatusCode)
	}
}
