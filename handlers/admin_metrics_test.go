package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/stream"
)

func TestAdminMetricsCountOpenStreams(t *testing.T) {
	app := MustApp(t)
	_, apw := app.MustAdmin(t, "boss@example.com", "boss")
	admin := app.NewClient(t)
	admin.login("boss@example.com", apw)

	m := metricsJSON(t, admin)
	if m["active_users"].(float64) != 0 || m["total_connections"].(float64) != 0 {
		t.Fatalf("before any stream: %v", m)
	}
	// Three users: two with two tabs each, one with one, one tab in JSON.
	var streams []*sseStream
	for i, tabs := range []int{2, 2, 1} {
		email := fmt.Sprintf("u%d@example.com", i)
		_, pw := app.MustUser(t, email, fmt.Sprintf("user%d", i))
		c := app.NewClient(t)
		c.login(email, pw)
		for j := 0; j < tabs; j++ {
			path := "/stream"
			if j == 1 {
				path = "/stream?format=json"
			}
			s, resp := c.openStream(path)
			if s == nil {
				t.Fatalf("open stream: %d", resp.StatusCode)
			}
			streams = append(streams, s)
		}
	}
	waitConns(t, app, 5)
	app.emit(t, testenv.MustSampleEvents(t)[:40]...)
	for _, s := range streams {
		s.next(t, 5e9, stream.EventMarket, stream.EventJSON)
	}
	m = metricsJSON(t, admin)
	if m["active_users"].(float64) != 3 || m["total_connections"].(float64) != 5 {
		t.Fatalf("with 5 streams of 3 users: active_users %v, total_connections %v", m["active_users"], m["total_connections"])
	}
	pub := m["publisher"].(map[string]any)
	if pub["emissions"].(float64) != 1 || pub["last_emit_ms"].(float64) <= 0 {
		t.Fatalf("publisher %v", pub)
	}
	cache := m["cache_stats"].(map[string]any)
	pers := m["personalization"].(map[string]any)
	// Cached: the three streaming users and the admin, whose login opened the dashboard.
	if cache["filter_cache_size"].(float64) != 4 || pers["unique_universe_configs"].(float64) != 1 || cache["hit_rate"].(float64) <= 0 {
		t.Fatalf("cache %v personalization %v", cache, pers)
	}
	if p := m["process"].(map[string]any); p["goroutines"].(float64) < 5 || p["rss_bytes"].(float64) <= 0 {
		t.Fatalf("process %v", p)
	}

	// The admin page shows the same figures.
	doc := admin.get("/admin").Doc(t)
	if got := doc.Find(`[data-testid="value-total_connections"]`).Text(); got != "5" {
		t.Fatalf("/admin shows %q open streams", got)
	}
	for _, s := range streams {
		s.close()
	}
	// The server notices a client gone when a write fails: the next emission writes.
	eventually(t, "every stream closed", func() bool {
		app.emit(t, testenv.MustSampleEvents(t)[40:41]...)
		_, n := app.deps.Hub.Counts()
		return n == 0
	})
	m = metricsJSON(t, admin)
	if m["active_users"].(float64) != 0 || m["total_connections"].(float64) != 0 {
		t.Fatalf("after closing every stream: %v %v", m["active_users"], m["total_connections"])
	}
	// htmx's refresh gets the fragment alone, which asks for the next refresh itself.
	r := admin.get("/admin", "HX-Request", "true", "HX-Target", "admin-metrics")
	frag := r.Doc(t).Find(`#admin-metrics`)
	if r.StatusCode != 200 || strings.Contains(r.Body, "<html") || frag.AttrOr("hx-trigger", "") != "every 5s" {
		t.Fatalf("refresh fragment: %d %s", r.StatusCode, r.Body)
	}
	if got := frag.Find(`[data-testid="value-total_connections"]`).Text(); got != "0" {
		t.Fatalf("fragment shows %q open streams", got)
	}
}

func TestAdminPageSparklines(t *testing.T) {
	app := MustApp(t)
	_, apw := app.MustAdmin(t, "boss@example.com", "boss")
	admin := app.NewClient(t)
	admin.login("boss@example.com", apw)
	// Three samples with emissions between them: the emission rate has two points.
	for i := 0; i < 3; i++ {
		app.h.metrics.Sample()
		app.emit(t)
	}
	doc := admin.get("/admin").Doc(t)
	spark := doc.Find(`[data-testid="spark-emissions"]`)
	if spark.Length() != 1 || spark.Find("polyline").Length() != 1 {
		t.Fatalf("no emission sparkline: %s", doc.Find(`[data-testid="metric-emissions"]`).Text())
	}
	if pts := strings.Fields(spark.Find("polyline").AttrOr("points", "")); len(pts) != 2 {
		t.Fatalf("emission rate points %v, want 2", pts)
	}
	if title := spark.Find("title").Text(); !strings.Contains(title, "Emissions over the last 15 minutes") {
		t.Fatalf("sparkline title %q", title)
	}
	// Every gauge and counter has one; text figures (the feed's source) have none.
	if n := doc.Find(`svg.spark`).Length(); n < 20 {
		t.Fatalf("%d sparklines", n)
	}
}

func TestAdminAuditPageAndEscaping(t *testing.T) {
	app := MustApp(t)
	evil, _ := app.MustUser(t, "evil@example.com", `<img src=x onerror=alert(1)>`)
	_, apw := app.MustAdmin(t, "boss@example.com", `<b>boss</b>`)
	_, apw2 := app.MustAdmin(t, "second@example.com", "second")
	admin, other := app.NewClient(t), app.NewClient(t)
	admin.login("boss@example.com", apw)
	other.login("second@example.com", apw2)

	r := admin.postForm("/admin/universes", url.Values{"name": {"XSS"}, "description": {`<script>alert("d")</script>`}, "symbols": {"AAPL"}})
	if r.StatusCode != 200 {
		t.Fatalf("create: %d", r.StatusCode)
	}
	if r := other.postForm("/admin/users/"+evil.Handle+"/filters", url.Values{"highlow.min_count": {"7"}, "highlow.min_volume": {"0"},
		"trends.min_strength": {"weak"}, "trends.direction": {"both"}, "surges.min_strength": {"weak"},
		"surges.trigger": {"any"}, "surges.price_ranges": {"penny"}}); r.StatusCode != 200 {
		t.Fatalf("filters: %d", r.StatusCode)
	}
	if r := admin.postForm("/admin/users/"+evil.Handle+"/disable", url.Values{}); r.StatusCode != 200 {
		t.Fatalf("disable: %d", r.StatusCode)
	}

	for _, path := range []string{"/admin/audit", "/admin/users/" + evil.Handle, "/admin/universes", "/admin/users"} {
		body := admin.get(path).Body
		for _, raw := range []string{`<img src=x`, `<script>alert`, `<b>boss</b>`} {
			if strings.Contains(body, raw) {
				t.Errorf("%s carries %s unescaped", path, raw)
			}
		}
	}
	doc := admin.get("/admin/audit").Doc(t)
	rows := doc.Find(`[data-testid="audit-row"]`)
	if rows.Length() != 3 {
		t.Fatalf("%d audit rows on /admin/audit", rows.Length())
	}
	if got := rows.First().Find(`[data-testid="audit-target"]`).Text(); strings.TrimSpace(got) != `<img src=x onerror=alert(1)>` {
		t.Fatalf("newest row's target %q", got)
	}
	// Filters: by admin, by target, by action; a bad action is a 422, not a 500.
	second := mustUserByEmail(t, app, "second@example.com")
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"actor=" + second.Handle, 1},
		{"target=" + evil.Handle, 2},
		{"action=universe.create", 1},
		{"universe=XSS", 1},
		{"actor=nobody", 0},
	} {
		if n := admin.get("/admin/audit?" + tc.query).Doc(t).Find(`[data-testid="audit-row"]`).Length(); n != tc.want {
			t.Errorf("audit %s: %d rows, want %d", tc.query, n, tc.want)
		}
	}
	if r := admin.get("/admin/audit?action=drop_tables"); r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("unknown action: %d", r.StatusCode)
	}
	// The user's page shows only the changes made to them.
	if n := admin.get("/admin/users/" + evil.Handle).Doc(t).Find(`[data-testid="user-audit"] [data-testid="audit-row"]`).Length(); n != 2 {
		t.Fatalf("%d audit rows on the user's page", n)
	}
}

func TestAdminResetLink(t *testing.T) {
	app := MustApp(t)
	u, _ := app.MustUser(t, "user@example.com", "someone")
	_, apw := app.MustAdmin(t, "boss@example.com", "boss")
	admin := app.NewClient(t)
	admin.login("boss@example.com", apw)
	if n := admin.get("/admin/users/" + u.Handle).Doc(t).Find(`[data-testid="make-reset-link"]`).Length(); n != 1 {
		t.Fatal("no reset button")
	}
	r := admin.postForm("/admin/users/"+u.Handle+"/reset-link", url.Values{}, "HX-Request", "true")
	link, _ := r.Doc(t).Find(`[data-testid="reset-link-value"]`).Attr("value")
	if r.StatusCode != 200 || r.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(link, app.URL+"/auth/reset/") {
		t.Fatalf("reset link: %d %q %q", r.StatusCode, r.Header.Get("Cache-Control"), link)
	}
	token := strings.TrimPrefix(link, app.URL+"/auth/reset/")
	// The link is the user's: it opens the form to set their new password.
	if page := app.NewClient(t).get("/auth/reset/" + token); page.StatusCode != 200 ||
		page.Doc(t).Find(`input[name="password"], input[name="new_password"]`).Length() == 0 {
		t.Fatalf("the admin's link does not open the reset form: %d", page.StatusCode)
	}
	// Shown once: the page does not show it again, and the audit does not hold it.
	page := admin.get("/admin/users/" + u.Handle)
	if strings.Contains(page.Body, token) {
		t.Fatal("the link shows again on the user's page")
	}
	rows := auditRows(t, app)
	if len(rows) != 1 || rows[0].Action != "user.reset_link" || strings.Contains(string(rows[0].After), token) {
		t.Fatalf("audit %+v", rows)
	}
	// A disabled user gets no link.
	if _, err := app.deps.Accounts.Disable(context.Background(), u.Handle); err != nil {
		t.Fatal(err)
	}
	r = admin.postForm("/admin/users/"+u.Handle+"/reset-link", url.Values{})
	if r.StatusCode != 422 || strings.Contains(r.Body, "/auth/reset/") {
		t.Fatalf("disabled user: %d, link shown: %v", r.StatusCode, strings.Contains(r.Body, "/auth/reset/"))
	}
}
