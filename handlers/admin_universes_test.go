package handlers

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickstock/tickstock/audit"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/stream"
)

// universeSizes reads GET /api/universes as name → size.
func universeSizes(t *testing.T, c *client) map[string]int {
	t.Helper()
	r := c.get("/api/universes")
	if r.StatusCode != 200 {
		t.Fatalf("/api/universes: %d", r.StatusCode)
	}
	m := map[string]int{}
	for _, u := range r.JSON(t)["universes"].([]any) {
		u := u.(map[string]any)
		m[u["name"].(string)] = int(u["size"].(float64))
	}
	return m
}

func TestAdminCreatesUniverses(t *testing.T) {
	app := MustApp(t)
	_, apw := app.MustAdmin(t, "boss@example.com", "boss")
	admin := app.NewClient(t)
	admin.login("boss@example.com", apw)

	for _, tc := range []struct {
		name, uname, symbols string
		status               int
		field, msg           string
	}{
		{"empty name", " ", "AAPL", 422, "name", "Enter a name."},
		{"name with a space", "MY UNIVERSE", "AAPL", 422, "name", "only letters A–Z, digits and _"},
		{"name with a hyphen", "MY-UNIVERSE", "AAPL", 422, "name", "only letters A–Z"},
		{"watchlist prefix", "WL:MINE", "AAPL", 422, "name", "reserved for watchlists"},
		{"name too long", strings.Repeat("A", 65), "AAPL", 422, "name", "at most 64"},
		{"taken name", "tech_universe", "AAPL", 422, "name", "already exists"},
		{"no symbols", "EMPTY", " , \n", 422, "symbols", "at least one symbol"},
		{"bad symbols", "BAD", "AAPL, $$$, waytoolongsym, <b>", 422, "symbols", `"$$$", "waytoolongsym", "<b>"`},
		{"created", "my_leaders", "nvda, aapl\nMSFT\nBRK.B, aapl", 200, "", "Created MY_LEADERS with 4 symbols."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := admin.postForm("/admin/universes", url.Values{"name": {tc.uname}, "description": {"Leaders"}, "symbols": {tc.symbols}},
				"HX-Request", "true")
			if r.StatusCode != tc.status {
				t.Fatalf("%d, want %d: %s", r.StatusCode, tc.status, r.Body)
			}
			doc := r.Doc(t)
			if tc.field != "" {
				if got := doc.Find(`[data-testid="error-` + tc.field + `"]`).Text(); !strings.Contains(got, tc.msg) {
					t.Fatalf("error next to %s: %q, want %q", tc.field, got, tc.msg)
				}
				if got := doc.Find(`[data-testid="universe-symbols"]`).Text(); got != tc.symbols {
					t.Fatalf("the form shows symbols %q, not what was typed (%q)", got, tc.symbols)
				}
				return
			}
			if got := doc.Find(`[data-testid="saved"]`).Text(); got != tc.msg {
				t.Fatalf("flash %q", got)
			}
			// The list comes along out of band, with the new universe's size.
			if got := doc.Find(`#universe-list[hx-swap-oob] [data-name="MY_LEADERS"] [data-testid="universe-size"]`).Text(); got != "4" {
				t.Fatalf("out-of-band list shows size %q", got)
			}
		})
	}
	if got := universeSizes(t, admin)["MY_LEADERS"]; got != 4 {
		t.Fatalf("/api/universes size of MY_LEADERS = %d", got)
	}
	u, err := app.deps.Settings.Universe(context.Background(), "MY_LEADERS")
	if err != nil || strings.Join(u.Symbols, ",") != "AAPL,BRK.B,MSFT,NVDA" || u.Description != "Leaders" {
		t.Fatalf("stored %+v, %v", u, err)
	}
	rows := auditRows(t, app)
	if len(rows) != 1 || rows[0].Action != audit.ActionUniverseCreate || rows[0].TargetName != "MY_LEADERS" || rows[0].Before != nil {
		t.Fatalf("audit %+v", rows)
	}
	// Without JavaScript the form answers the whole page.
	r := admin.postForm("/admin/universes", url.Values{"name": {"SECOND"}, "symbols": {"XOM"}})
	if r.StatusCode != 200 || !strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, "Created SECOND with 1 symbol.") {
		t.Fatalf("plain post: %d", r.StatusCode)
	}
}

func TestAdminUniverseEditReachesOpenStreams(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "trader@example.com", "trader")
	_, apw := app.MustAdmin(t, "boss@example.com", "boss")
	trader, admin := app.NewClient(t), app.NewClient(t)
	trader.login("trader@example.com", pw)
	admin.login("boss@example.com", apw)
	if r := trader.postJSON("/api/user/universe-selections", `{"tracker":"highlow","universes":["TECH_UNIVERSE"]}`); r.StatusCode != 200 {
		t.Fatalf("selection: %d", r.StatusCode)
	}
	s, _ := trader.openStream("/stream?format=json")
	waitConns(t, app, 1)
	tech := universeSizes(t, trader)["TECH_UNIVERSE"]

	high := func(sym string, at time.Time) market.Event {
		return market.Event{Kind: market.KindHigh, HighLow: market.HighLowEvent{Kind: market.KindHigh, Symbol: sym, Price: 12.5, Time: market.MillisOf(at),
			Count: 3, CountUp: 3, Volume: 5000, SessionHigh: 12.5, SessionLow: 11}}
	}
	symbolsOf := func(events []market.Event) []string {
		var out []string
		for _, e := range events {
			out = append(out, e.HighLow.Symbol)
		}
		return out
	}
	// Before the edit, a new symbol's events do not reach the user; one in the universe does.
	app.emit(t, high("ZZNEW", time.Now()), high("AAPL", time.Now()))
	if got := symbolsOf(decodeEmission(t, s.next(t, 5*time.Second, stream.EventJSON).Data)); !slices.Equal(got, []string{"AAPL"}) {
		t.Fatalf("before the edit the stream got %v", got)
	}

	// The edit form is prefilled with the universe's symbols, one per line.
	form := admin.get("/admin/universes?edit=TECH_UNIVERSE").Doc(t)
	current := form.Find(`[data-testid="universe-symbols"]`).Text()
	if !strings.Contains(current, "AAPL\n") || form.Find(`[data-testid="editing-name"]`).Text() != "TECH_UNIVERSE" {
		t.Fatalf("edit form symbols %q", current)
	}
	desc, _ := form.Find(`[data-testid="universe-description"]`).Attr("value")
	r := admin.postForm("/admin/universes/TECH_UNIVERSE", url.Values{"description": {desc},
		"symbols": {current + "\nzznew"}}, "HX-Request", "true")
	if r.StatusCode != 200 || !strings.Contains(r.Doc(t).Find(`[data-testid="saved"]`).Text(), "1 added, 0 removed") {
		t.Fatalf("edit: %d %s", r.StatusCode, r.Body)
	}

	// Without a restart: /api/universes has the new size, and the open stream gets the new
	// symbol's events at the next emission.
	if got := universeSizes(t, trader)["TECH_UNIVERSE"]; got != tech+1 {
		t.Fatalf("/api/universes TECH_UNIVERSE size %d, want %d", got, tech+1)
	}
	app.emit(t, high("ZZNEW", time.Now().Add(2*time.Second)))
	if got := symbolsOf(decodeEmission(t, s.next(t, 5*time.Second, stream.EventJSON).Data)); !slices.Equal(got, []string{"ZZNEW"}) {
		t.Fatalf("after the edit the stream got %v", got)
	}

	// A removed symbol stops at the next emission too.
	r = admin.postForm("/admin/universes/TECH_UNIVERSE", url.Values{"description": {desc}, "symbols": {"ZZNEW, MSFT"}})
	if r.StatusCode != 200 {
		t.Fatalf("second edit: %d", r.StatusCode)
	}
	app.emit(t, high("AAPL", time.Now().Add(4*time.Second)), high("MSFT", time.Now().Add(4*time.Second)))
	if got := symbolsOf(decodeEmission(t, s.next(t, 5*time.Second, stream.EventJSON).Data)); !slices.Equal(got, []string{"MSFT"}) {
		t.Fatalf("after removing AAPL the stream got %v", got)
	}

	// Errors: unknown universe 404, bad symbols 422 with nothing changed.
	if r := admin.postForm("/admin/universes/NO_SUCH", url.Values{"symbols": {"AAPL"}}); r.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown universe: %d", r.StatusCode)
	}
	if r := admin.postForm("/admin/universes/lower", url.Values{"symbols": {"AAPL"}}); r.StatusCode != http.StatusNotFound {
		t.Fatalf("lower-case universe: %d", r.StatusCode)
	}
	if r := admin.postForm("/admin/universes/TECH_UNIVERSE", url.Values{"symbols": {"AAPL, BAD SYMBOL!"}}); r.StatusCode != 422 {
		t.Fatalf("bad symbol: %d", r.StatusCode)
	}
	if r := admin.postForm("/admin/universes/TECH_UNIVERSE", url.Values{"symbols": {"AAPL"}, "name": {"RENAMED"}}); r.StatusCode != 422 {
		t.Fatalf("a rename through the edit form: %d", r.StatusCode)
	}
	if got := universeSizes(t, trader)["TECH_UNIVERSE"]; got != 2 {
		t.Fatalf("refused edits changed the universe: size %d", got)
	}

	rows := auditRows(t, app)
	if len(rows) != 2 || rows[1].Action != audit.ActionUniverseEdit {
		t.Fatalf("audit rows %+v", rows)
	}
	cs := rows[1].Changes()
	if len(cs) != 1 || cs[0].Field != "symbols" || strings.Join(cs[0].Added, ",") != "ZZNEW" || len(cs[0].Removed) != 0 {
		t.Fatalf("first edit's changes %+v", cs)
	}
}
