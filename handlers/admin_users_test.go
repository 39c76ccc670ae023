package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tickstock/tickstock/audit"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/stream"
)

// decodeEmission reads one JSON emission's events, in the publisher's list order.
func decodeEmission(t *testing.T, data string) []market.Event {
	t.Helper()
	var em struct {
		Highs    []market.HighLowEvent                  `json:"highs"`
		Lows     []market.HighLowEvent                  `json:"lows"`
		Trending struct{ Up, Down []market.TrendEvent } `json:"trending"`
		Surging  struct{ Up, Down []market.SurgeEvent } `json:"surging"`
	}
	if err := json.Unmarshal([]byte(data), &em); err != nil {
		t.Fatalf("emission: %v", err)
	}
	var out []market.Event
	for _, h := range em.Highs {
		out = append(out, market.Event{Kind: market.KindHigh, HighLow: h})
	}
	for _, l := range em.Lows {
		out = append(out, market.Event{Kind: market.KindLow, HighLow: l})
	}
	for _, tr := range append(em.Trending.Up, em.Trending.Down...) {
		out = append(out, market.Event{Kind: market.KindTrend, Trend: tr})
	}
	for _, s := range append(em.Surging.Up, em.Surging.Down...) {
		out = append(out, market.Event{Kind: market.KindSurge, Surge: s})
	}
	return out
}

// allowed returns the keys of the events a user with f over universes would get.
func allowed(t *testing.T, app *testApp, events []market.Event, f settings.Filters, universes []string) []string {
	t.Helper()
	set, err := app.deps.Settings.SymbolSet(context.Background(), universes)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range events {
		if settings.Shows(e, f, set) {
			out = append(out, eventKey(e))
		}
	}
	return out
}

func keys(events []market.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = eventKey(e)
	}
	return out
}

// auditRows reads every admin audit row, as the system.
func auditRows(t *testing.T, app *testApp) []audit.Row {
	t.Helper()
	rows, _, err := audit.New(app.pool).List(context.Background(), audit.Filter{PerPage: 200})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestAdminEditsAUsersFiltersAndTheirStreamObeys(t *testing.T) {
	app := MustApp(t)
	u, pw := app.MustUser(t, "trader@example.com", "trader")
	_, apw := app.MustAdmin(t, "boss@example.com", "boss")
	trader, admin := app.NewClient(t), app.NewClient(t)
	trader.login("trader@example.com", pw)
	admin.login("boss@example.com", apw)
	s, _ := trader.openStream("/stream?format=json")
	waitConns(t, app, 1)

	events := testenv.MustSampleEvents(t)
	half := len(events) / 2
	app.emit(t, events[:half]...)
	got := keys(decodeEmission(t, s.next(t, 5*time.Second, stream.EventJSON).Data))
	want := allowed(t, app, events[:half], settings.DefaultFilters(), []string{settings.DefaultUniverse})
	if !sameMultiset(got, want) || len(want) == 0 {
		t.Fatalf("before the edit: %d events, want %d", len(got), len(want))
	}

	// The admin's page shows the user's forms, posting to the admin routes, prefilled.
	page := admin.get("/admin/users/" + u.Handle)
	if page.StatusCode != http.StatusOK {
		t.Fatalf("user page: %d %s", page.StatusCode, page.Body)
	}
	doc := page.Doc(t)
	if a, _ := doc.Find(`[data-testid="form-filters"]`).Attr("action"); a != "/admin/users/"+u.Handle+"/filters" {
		t.Fatalf("filter form posts to %q", a)
	}
	if v, _ := doc.Find(`[data-testid="trend-strength"] option[selected]`).Attr("value"); v != "moderate" {
		t.Fatalf("filter form not prefilled: trend strength %q", v)
	}

	// A bad value is refused with the user's own form's message, and changes nothing.
	bad := url.Values{"trends.min_strength": {"huge"}, "trends.direction": {"up"}, "surges.min_strength": {"weak"},
		"surges.trigger": {"any"}, "surges.price_ranges": {"mid"}, "highlow.min_count": {"0"}, "highlow.min_volume": {"0"}}
	r := admin.postForm("/admin/users/"+u.Handle+"/filters", bad, "HX-Request", "true")
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Minimum strength") {
		t.Fatalf("bad filters: %d %s", r.StatusCode, r.Body)
	}

	form := url.Values{"highlow.min_count": {"2"}, "highlow.min_volume": {"0"}, "trends.min_strength": {"weak"},
		"trends.direction": {"up"}, "surges.min_strength": {"weak"}, "surges.trigger": {"any"},
		"surges.price_ranges": {"mid", "high"}}
	r = admin.postForm("/admin/users/"+u.Handle+"/filters", form, "HX-Request", "true")
	if r.StatusCode != http.StatusOK || r.Doc(t).Find(`[data-testid="saved"]`).Length() != 1 {
		t.Fatalf("save filters: %d %s", r.StatusCode, r.Body)
	}
	newFilters, err := settings.FiltersFromForm(form)
	if err != nil {
		t.Fatal(err)
	}

	// The user's open stream obeys at the next emission.
	app.emit(t, events[half:]...)
	got = keys(decodeEmission(t, s.next(t, 5*time.Second, stream.EventJSON).Data))
	want = allowed(t, app, events[half:], newFilters, []string{settings.DefaultUniverse})
	old := allowed(t, app, events[half:], settings.DefaultFilters(), []string{settings.DefaultUniverse})
	if !sameMultiset(got, want) {
		t.Fatalf("after the edit: %d events, want %d (the old filters would give %d)", len(got), len(want), len(old))
	}
	if sameMultiset(want, old) {
		t.Fatal("the new filters allow the same events as the old: the test proves nothing")
	}
	// The user sees the change on their own settings page.
	if v, _ := trader.get("/settings").Doc(t).Find(`[data-testid="direction-up"]`).Attr("checked"); v != "checked" && v != "" {
		t.Fatalf("the user's own form does not show the admin's change")
	}

	// One audit row, with before and after, on the user's page.
	rows := auditRows(t, app)
	if len(rows) != 1 || rows[0].Action != audit.ActionUserFilters || rows[0].ActorName != "boss" || rows[0].TargetName != "trader" {
		t.Fatalf("audit rows %+v", rows)
	}
	var before, after settings.Filters
	if json.Unmarshal(rows[0].Before, &before) != nil || json.Unmarshal(rows[0].After, &after) != nil ||
		before.Trends.Direction != "both" || after.Trends.Direction != "up" || after.HighLow.MinCount != 2 {
		t.Fatalf("audit before %s after %s", rows[0].Before, rows[0].After)
	}
	change := admin.get("/admin/users/" + u.Handle).Doc(t).Find(`[data-testid="user-audit"] [data-testid="audit-change"]`).Text()
	if !strings.Contains(change, "trends.direction") || !strings.Contains(change, "both") || !strings.Contains(change, "up") {
		t.Fatalf("the user's page shows the change as %q", change)
	}
}

func TestAdminEditsAUsersUniverses(t *testing.T) {
	app := MustApp(t)
	u, _ := app.MustUser(t, "trader@example.com", "trader")
	_, apw := app.MustAdmin(t, "boss@example.com", "boss")
	admin := app.NewClient(t)
	admin.login("boss@example.com", apw)
	path := "/admin/users/" + u.Handle + "/universes"

	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		msg    string
	}{
		{"none chosen", url.Values{"tracker": {"highlow"}}, 422, "Choose at least one universe."},
		{"unknown universe", url.Values{"tracker": {"highlow"}, "universes": {"NOPE"}}, 422, "Unknown universe"},
		{"bad tracker", url.Values{"tracker": {"sideways"}, "universes": {"TECH_UNIVERSE"}}, 422, "Tracker must be"},
		{"saved", url.Values{"tracker": {"market"}, "universes": {"TECH_UNIVERSE", "ETF_UNIVERSE"}}, 200, "dashboard follows these universes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := admin.postForm(path, tc.form)
			if r.StatusCode != tc.status || !strings.Contains(r.Body, tc.msg) {
				t.Fatalf("%d, want %d with %q: %s", r.StatusCode, tc.status, tc.msg, r.Body)
			}
		})
	}
	// A refused save shows the admin's choice again, as the user's own form does.
	r := admin.postForm(path, url.Values{"tracker": {"highlow"}, "universes": {"ETF_UNIVERSE", "NOPE"}})
	if r.StatusCode != 422 || r.Doc(t).Find(`[data-testid="universe-highlow-ETF_UNIVERSE"][checked]`).Length() != 1 {
		t.Fatalf("the refused form does not keep ETF_UNIVERSE checked: %d %s", r.StatusCode, r.Body)
	}
	us, err := app.deps.Settings.Get(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(us.Selections.Market, ","); got != "ETF_UNIVERSE,TECH_UNIVERSE" {
		t.Fatalf("market selection %q", got)
	}
	if got := strings.Join(us.Selections.HighLow, ","); got != settings.DefaultUniverse {
		t.Fatalf("a refused save changed the highlow selection: %q", got)
	}
	rows := auditRows(t, app)
	if len(rows) != 1 || rows[0].Action != audit.ActionUserUniverses {
		t.Fatalf("want one audit row for the one save, got %+v", rows)
	}
	cs := rows[0].Changes()
	if len(cs) != 1 || cs[0].Field != "market" || strings.Join(cs[0].Added, ",") != "ETF_UNIVERSE,TECH_UNIVERSE" ||
		strings.Join(cs[0].Removed, ",") != settings.DefaultUniverse {
		t.Fatalf("changes %+v", cs)
	}
}

func TestAdminDisablesAndEnablesAUser(t *testing.T) {
	app := MustApp(t)
	u, pw := app.MustUser(t, "target@example.com", "target")
	boss, apw := app.MustAdmin(t, "boss@example.com", "boss")
	laptop, phone, admin := app.NewClient(t), app.NewClient(t), app.NewClient(t)
	laptop.login("target@example.com", pw)
	phone.login("target@example.com", pw)
	admin.login("boss@example.com", apw)
	s1, _ := laptop.openStream("/stream")
	s2, _ := phone.openStream("/stream?format=json")
	waitConns(t, app, 2)

	start := time.Now()
	r := admin.postForm("/admin/users/"+u.Handle+"/disable", url.Values{}, "HX-Request", "true")
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, "signed out everywhere") {
		t.Fatalf("disable: %d %s", r.StatusCode, r.Body)
	}
	for _, s := range []*sseStream{s1, s2} {
		if ev := s.next(t, 5*time.Second, "logout"); ev.Data != "disabled" {
			t.Fatalf("logout event %+v", ev)
		}
		select {
		case <-s.done:
		case <-time.After(5*time.Second - time.Since(start)):
			t.Fatal("a stream stayed open 5 s after the admin disabled its user")
		}
	}
	waitConns(t, app, 0)
	for _, c := range []*client{laptop, phone} {
		if r := c.get("/dashboard"); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("a session survived disabling: %d", r.StatusCode)
		}
	}
	r = laptop.postForm("/auth/login", url.Values{"email": {"target@example.com"}, "password": {pw}})
	if r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a disabled user's login: %d", r.StatusCode)
	}
	doc := admin.get("/admin/users/" + u.Handle).Doc(t)
	if got := doc.Find(`[data-testid="user-status"]`).Text(); got != "disabled" {
		t.Fatalf("status shown %q", got)
	}
	if doc.Find(`[data-testid="enable-user"]`).Length() != 1 {
		t.Fatal("no enable button for a disabled user")
	}

	// An admin cannot disable themselves; the page says why and the POST is refused.
	own := admin.get("/admin/users/" + boss.Handle).Doc(t)
	if own.Find(`[data-testid="disable-user"]`).Length() != 0 || !strings.Contains(own.Find(`[data-testid="self-note"]`).Text(), "lock yourself out") {
		t.Fatal("the admin's own page offers to disable them, or does not say why not")
	}
	r = admin.postForm("/admin/users/"+boss.Handle+"/disable", url.Values{})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "cannot disable your own account") {
		t.Fatalf("self-disable: %d %s", r.StatusCode, r.Body)
	}
	if admin.get("/admin").StatusCode != http.StatusOK {
		t.Fatal("the admin lost access after trying to disable themselves")
	}

	r = admin.postForm("/admin/users/"+u.Handle+"/enable", url.Values{})
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, "can sign in again") {
		t.Fatalf("enable: %d %s", r.StatusCode, r.Body)
	}
	laptop.login("target@example.com", pw) // fails the test unless 303

	var actions []string
	for _, row := range auditRows(t, app) {
		actions = append([]string{row.Action + ":" + compactJSON(t, row.Before) + ">" + compactJSON(t, row.After)}, actions...)
	}
	if got := strings.Join(actions, " "); got != `user.disable:{"disabled":false}>{"disabled":true} user.enable:{"disabled":true}>{"disabled":false}` {
		t.Fatalf("audit %s", got)
	}
}

func TestAdminUserSearch(t *testing.T) {
	app := MustApp(t)
	_, apw := app.MustAdmin(t, "boss@example.com", "boss")
	for _, n := range []struct{ email, name string }{
		{"alice@example.com", "Alice"}, {"bob@example.com", "bob_the_builder"}, {"carol@percent.example", "carol100%"},
		{"dave@example.com", "dave"}, {"ERIN@Example.com", "erin"}, {"frank@x.example", "frankXbuilder"},
	} {
		app.MustUser(t, n.email, n.name)
	}
	for i := 0; i < 55; i++ {
		app.MustUser(t, fmt.Sprintf("bulk%02d@bulk.example", i), fmt.Sprintf("bulk%02d", i))
	}
	admin := app.NewClient(t)
	admin.login("boss@example.com", apw)
	names := func(query string) []string {
		r := admin.get("/admin/users?" + query)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("search %s: %d %s", query, r.StatusCode, r.Body)
		}
		var out []string
		r.Doc(t).Find(`[data-testid="user-row"] [data-testid="user-link"]`).Each(func(_ int, s *goquery.Selection) {
			out = append(out, s.Text())
		})
		return out
	}
	for _, tc := range []struct{ query, want string }{
		{"q=ALICE", "Alice"},
		{"q=example.COM", "Alice bob_the_builder boss dave erin"},
		{"q=" + url.QueryEscape("_"), "bob_the_builder"}, // literal underscore, not "any character"
		{"q=" + url.QueryEscape("%"), "carol100%"},       // literal percent
		{"q=" + url.QueryEscape(`\`), ""},
		{"q=builder", "bob_the_builder frankXbuilder"},
		{"q=b_t", "bob_the_builder"},
		{"role=admin", "boss"},
		{"q=nobody", ""},
	} {
		if got := strings.Join(names(tc.query), " "); got != tc.want {
			t.Errorf("search %s = %q, want %q", tc.query, got, tc.want)
		}
	}
	// Paging is stable and complete: two pages of 50, no overlap, every bulk user once.
	p1, p2 := names("q=bulk"), names("q=bulk&page=2")
	if len(p1) != 50 || len(p2) != 5 || p1[0] != "bulk00" || p2[4] != "bulk54" {
		t.Fatalf("pages: %d then %d (%v)", len(p1), len(p2), p2)
	}
	r := admin.get("/admin/users?q=bulk")
	if href, _ := r.Doc(t).Find(`[data-testid="page-next"]`).Attr("href"); href != "/admin/users?page=2&q=bulk" {
		t.Fatalf("next link %q", href)
	}
	// The htmx search answers the results fragment alone.
	r = admin.get("/admin/users?q=alice", "HX-Request", "true", "HX-Target", "user-results")
	if r.StatusCode != 200 || strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, `id="user-results"`) {
		t.Fatalf("htmx search: %d %s", r.StatusCode, r.Body)
	}
	// Bad filters are a 422 with a message, never a 500.
	for _, q := range []string{"role=root", "status=gone", "q=" + strings.Repeat("x", 101)} {
		if r := admin.get("/admin/users?" + q); r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("search %s: %d", q, r.StatusCode)
		}
	}
	// Status filter and last login.
	dave := mustUserByEmail(t, app, "dave@example.com")
	if _, err := app.deps.Accounts.Disable(context.Background(), dave.Handle); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names("status=disabled"), " "); got != "dave" {
		t.Fatalf("disabled users: %q", got)
	}
	row := admin.get("/admin/users?q=boss").Doc(t).Find(`[data-testid="user-row"] time`).First().Text()
	if row == "never" || !strings.HasSuffix(row, "UTC") {
		t.Fatalf("the admin's own last login shows %q", row)
	}
	if got := admin.get("/admin/users?q=alice").Doc(t).Find(`[data-testid="user-row"] time`).First().Text(); got != "never" {
		t.Fatalf("a user who never signed in shows last login %q", got)
	}
	var last db.User
	last = mustUserByEmail(t, app, "boss@example.com")
	if !last.LastLoginAt.Valid || time.Since(last.LastLoginAt.Time) > time.Minute {
		t.Fatalf("users.last_login_at not set at login: %+v", last.LastLoginAt)
	}
}

func compactJSON(t *testing.T, raw []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("audit JSON %q: %v", raw, err)
	}
	return b.String()
}
