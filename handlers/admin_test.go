package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tickstock/tickstock/db"
)

// adminRoutes lists the router's admin routes (pages and /api/admin), taken from the app
// itself so a route added later is covered without editing the test.
func adminRoutes(t *testing.T, app *testApp) [][2]string {
	t.Helper()
	var out [][2]string
	seen := map[string]bool{}
	for _, r := range app.h.NewApp().GetRoutes(true) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			continue
		}
		if r.Path != "/admin" && !strings.HasPrefix(r.Path, "/admin/") && !strings.HasPrefix(r.Path, "/api/admin/") {
			continue
		}
		if k := r.Method + " " + r.Path; !seen[k] {
			seen[k] = true
			out = append(out, [2]string{r.Method, r.Path})
		}
	}
	if len(out) < 13 {
		t.Fatalf("only %d admin routes found in the router: %v", len(out), out)
	}
	return out
}

var paramRE = regexp.MustCompile(`:[a-z]+`)

// fillParams puts real values into a route pattern, so the request reaches the handler.
func fillParams(path, handle string) string {
	return paramRE.ReplaceAllStringFunc(path, func(p string) string {
		if p == ":handle" {
			return handle
		}
		return "TECH_UNIVERSE"
	})
}

// adminState is what a refused admin request must not have changed.
func adminState(t *testing.T, app *testApp) string {
	t.Helper()
	var b strings.Builder
	err := db.ReadSystem(context.Background(), app.pool, func(q *db.Queries) error {
		users, err := q.ListUsers(context.Background())
		if err != nil {
			return err
		}
		for _, u := range users {
			b.WriteString(u.Handle + " " + u.Role + " " + map[bool]string{true: "disabled", false: "active"}[u.Disabled] + "\n")
		}
		us, err := q.ListUniverses(context.Background())
		if err != nil {
			return err
		}
		for _, u := range us {
			b.WriteString(u.Name + " " + u.Description + "\n")
		}
		n, err := q.CountAdminAudit(context.Background(), db.CountAdminAuditParams{})
		b.WriteString("audit rows: " + strings.Repeat("x", int(n)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestAdminRoutesRefuseEveryoneButAdmins(t *testing.T) {
	app := MustApp(t)
	victim, _ := app.MustUser(t, "victim@example.com", "victim")
	_, pw := app.MustUser(t, "plain@example.com", "plainuser")
	_, apw := app.MustAdmin(t, "boss@example.com", "boss")
	routes := adminRoutes(t, app)
	before := adminState(t, app)

	form := func(method, path string) url.Values {
		v := url.Values{}
		switch {
		case strings.HasSuffix(path, "/universes") && strings.Contains(path, "/users/"):
			v.Set("tracker", "highlow")
			v.Add("universes", "ETF_UNIVERSE")
		case strings.HasSuffix(path, "/filters"):
			v.Set("trends.min_strength", "strong")
		case strings.HasPrefix(path, "/admin/universes"):
			v.Set("name", "HACKED")
			v.Set("symbols", "AAPL")
		}
		return v
	}
	call := func(c *client, method, path string) response {
		p := fillParams(path, victim.Handle)
		if method == http.MethodPost {
			return c.postForm(p, form(method, path))
		}
		return c.get(p)
	}

	anon := app.NewClient(t)
	anon.ensureCSRF() // a valid token, so the refusal is the route's, not the CSRF check's
	user := app.NewClient(t)
	user.login("plain@example.com", pw)
	for _, r := range routes {
		t.Run(r[0]+" "+r[1], func(t *testing.T) {
			resp := call(anon, r[0], r[1])
			if strings.HasPrefix(r[1], "/api/") {
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("signed out: %d, want 401", resp.StatusCode)
				}
			} else if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/auth/login" {
				t.Fatalf("signed out: %d to %q, want 303 to /auth/login", resp.StatusCode, resp.Header.Get("Location"))
			}
			if resp := call(user, r[0], r[1]); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("non-admin: %d, want 403: %s", resp.StatusCode, resp.Body)
			}
		})
	}
	if after := adminState(t, app); after != before {
		t.Fatalf("refused requests changed something:\nbefore %s\nafter %s", before, after)
	}

	// The admin gets through every page (the refusals above are not a broken route).
	admin := app.NewClient(t)
	admin.login("boss@example.com", apw)
	for _, r := range routes {
		if r[0] != http.MethodGet {
			continue
		}
		if resp := call(admin, r[0], r[1]); resp.StatusCode != http.StatusOK {
			t.Errorf("admin GET %s: %d %s", r[1], resp.StatusCode, resp.Body)
		}
	}
}

func TestAdminNavLinkOnlyForAdmins(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "plain@example.com", "plainuser")
	_, apw := app.MustAdmin(t, "boss@example.com", "boss")
	user, admin := app.NewClient(t), app.NewClient(t)
	user.login("plain@example.com", pw)
	admin.login("boss@example.com", apw)
	for _, path := range []string{"/dashboard", "/settings"} {
		if n := user.get(path).Doc(t).Find(`[data-testid="nav-admin"]`).Length(); n != 0 {
			t.Errorf("a user sees the Admin link on %s", path)
		}
		if href, _ := admin.get(path).Doc(t).Find(`[data-testid="nav-admin"]`).Attr("href"); href != "/admin" {
			t.Errorf("the admin's Admin link on %s = %q", path, href)
		}
	}
}

// metricsJSON reads /api/admin/metrics, checking that its keys are exactly the SPEC's, in
// its order, with "process" after them.
func metricsJSON(t *testing.T, c *client) map[string]any {
	t.Helper()
	r := c.get("/api/admin/metrics")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("/api/admin/metrics: %d %s", r.StatusCode, r.Body)
	}
	keys := jsonKeys(t, r.Body)
	want := "active_users total_connections cache_stats{universe_cache_size filter_cache_size hit_rate} " +
		"personalization{unique_universe_configs avg_filters_per_user} " +
		"feed{source ticks_total ticks_per_second symbols} events{highs lows trends surges} " +
		"publisher{emissions last_emit_ms dropped_messages} process{goroutines rss_bytes heap_bytes uptime_seconds}"
	if keys != want {
		t.Fatalf("metrics keys\n got %s\nwant %s", keys, want)
	}
	return r.JSON(t)
}

// jsonKeys lists an object's keys in order, nested objects' keys in braces after theirs.
func jsonKeys(t *testing.T, body string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	var object func() string
	var skip func(tok json.Token) string
	skip = func(tok json.Token) string { // a value whose first token is tok
		switch tok {
		case json.Delim('{'):
			return "{" + object() + "}"
		case json.Delim('['):
			for dec.More() {
				next, err := dec.Token()
				if err != nil {
					t.Fatal(err)
				}
				skip(next)
			}
			dec.Token() //nolint:errcheck // the closing ]
		}
		return ""
	}
	object = func() string { // after '{': keys until '}'
		var keys []string
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			v, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k.(string)+skip(v))
		}
		dec.Token() //nolint:errcheck // the closing }
		return strings.Join(keys, " ")
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", body)
	}
	return object()
}
