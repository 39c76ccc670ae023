package handlers

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/stream"
)

// TestEmbedLifecycle: a user makes an embed link; anyone with it (no cookie) gets the page
// and, with HX-Request, the fragment; its stream carries exactly the owner's filtered
// events and follows the owner's settings change at the next emission; another user
// cannot revoke it; revoking it ends its stream within 5 s and makes it 404.
func TestEmbedLifecycle(t *testing.T) {
	app := MustApp(t, unlimited)
	owner := signedIn(t, app, "embedder@example.com", "embedder")
	u := mustUserByEmail(t, app, "embedder@example.com")
	if r := owner.postJSON("/api/user/universe-selections", `{"tracker":"highlow","universes":["TECH_UNIVERSE"]}`); r.StatusCode != 200 {
		t.Fatalf("select TECH_UNIVERSE: %d %s", r.StatusCode, r.Body)
	}

	token, handle := createCredential(t, owner, "/settings/embeds", "Trading blog")
	list := owner.get("/settings/embeds")
	if list.StatusCode != 200 || strings.Contains(list.Body, token) {
		t.Fatalf("the list shows the token again (or failed: %d)", list.StatusCode)
	}
	item := list.Doc(t).Find("[data-testid=item]")
	if item.Length() != 1 || item.Find("[data-testid=item-name]").Text() != "Trading blog" ||
		strings.TrimSpace(item.Find("[data-testid=item-last]").Text()) != "never" {
		t.Fatalf("list item: %s", list.Body)
	}

	visitor := app.NewClient(t)
	page := visitor.get("/embed/" + token)
	if page.StatusCode != 200 {
		t.Fatalf("embed page: %d %s", page.StatusCode, page.Body)
	}
	doc := page.Doc(t)
	if doc.Find("[data-testid=embed] [data-testid=panels]").Length() != 1 || doc.Find("[data-testid^=panel-]").Length() != 6 ||
		doc.Find("#market-summary").Length() != 1 {
		t.Fatalf("the page lacks the panels: %s", page.Body)
	}
	if sc, _ := doc.Find("[data-testid=live]").Attr("sse-connect"); sc != "/embed/"+token+"/stream" {
		t.Fatalf("sse-connect %q", sc)
	}
	if _, ok := doc.Find("[data-testid=live]").Attr("data-embed"); !ok {
		t.Fatal("the embed is not marked as one (the page script would redirect to login on its end)")
	}
	for _, secret := range []string{"embedder", "embedder@example.com", "Trading blog", u.Handle} {
		if strings.Contains(page.Body, secret) {
			t.Fatalf("the public page shows %q", secret)
		}
	}
	if doc.Find(`meta[name=csrf-token], input[name=_csrf], nav, form`).Length() != 0 {
		t.Fatal("the embed carries a CSRF token, navigation or a form")
	}

	frag := visitor.get("/embed/"+token, "HX-Request", "true")
	if frag.StatusCode != 200 || strings.Contains(frag.Body, "<html") || strings.Contains(frag.Body, "<head") {
		t.Fatalf("fragment: %d %s", frag.StatusCode, frag.Body)
	}
	if sc, _ := frag.Doc(t).Find("[data-testid=live]").Attr("sse-connect"); sc != app.URL+"/embed/"+token+"/stream" {
		t.Fatalf("the fragment's stream URL %q is not absolute (another site loads it)", sc)
	}
	if frag.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(frag.Header.Get("Vary"), "HX-Request") {
		t.Fatalf("fragment headers: %v", frag.Header)
	}

	// The stream, opened from another site, carries the owner's lows under TECH_UNIVERSE.
	s, resp := visitor.openStream("/embed/"+token+"/stream", "Origin", "https://blog.example")
	if s == nil {
		t.Fatalf("embed stream: %d", resp.StatusCode)
	}
	// htmx's SSE extension opens the stream withCredentials: "*" would not do.
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://blog.example" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream headers %v", resp.Header)
	}
	waitConns(t, app, 1)
	events := testenv.MustSampleEvents(t)
	tech := shownSymbols(t, app, u.ID, market.KindLow, events)
	app.emit(t, events...)
	got := rowSymbols(t, s.next(t, 5*time.Second, stream.EventLows).Data)
	if !sameMultiset(got, tech) || len(tech) == 0 || slices.Contains(tech, "XOM") {
		t.Fatalf("embed lows %v, want the owner's %v", got, tech)
	}

	// The owner widens the universe: the next emission already follows.
	if r := owner.postJSON("/api/user/universe-selections", `{"tracker":"highlow","universes":["DEFAULT_UNIVERSE"]}`); r.StatusCode != 200 {
		t.Fatalf("select DEFAULT_UNIVERSE: %d %s", r.StatusCode, r.Body)
	}
	wide := shownSymbols(t, app, u.ID, market.KindLow, events)
	if !slices.Contains(wide, "XOM") {
		t.Fatal("the new settings show no XOM lows: the test proves nothing")
	}
	app.emit(t, events...)
	if got := rowSymbols(t, s.next(t, 5*time.Second, stream.EventLows).Data); !sameMultiset(got, wide) {
		t.Fatalf("after the owner's change, embed lows %v, want %v", got, wide)
	}
	eventually(t, "last viewed to be recorded", func() bool {
		last := owner.get("/settings/embeds").Doc(t).Find("[data-testid=item-last] time")
		return last.Length() == 1
	})

	// Another user cannot revoke it, by handle or by token.
	other := signedIn(t, app, "other@example.com", "otheruser")
	for _, id := range []string{handle, token} {
		if r := other.postForm("/settings/embeds/"+id+"/revoke", url.Values{}); r.StatusCode != http.StatusNotFound {
			t.Fatalf("another user revoking %q: %d", id, r.StatusCode)
		}
	}
	if r := visitor.get("/embed/" + token); r.StatusCode != 200 {
		t.Fatalf("after another user's attempt: %d", r.StatusCode)
	}

	start := time.Now()
	r := owner.postForm("/settings/embeds/"+handle+"/revoke", url.Values{}, "HX-Request", "true")
	if r.StatusCode != 200 || r.Doc(t).Find("[data-testid=revoked]").Length() != 1 || r.Doc(t).Find("[data-testid=item]").Length() != 0 {
		t.Fatalf("revoke (htmx): %d %s", r.StatusCode, r.Body)
	}
	if ev := s.next(t, 5*time.Second, "logout"); ev.Data != "revoked" {
		t.Fatalf("the stream ended with %+v", ev)
	}
	select {
	case <-s.done:
	case <-time.After(5*time.Second - time.Since(start)):
		t.Fatal("the embed stream stayed open more than 5 s after revocation")
	}
	waitConns(t, app, 0)
	for _, path := range []string{"/embed/" + token, "/embed/" + token + "/stream"} {
		if r := visitor.get(path); r.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %s after revocation: %d", path, r.StatusCode)
		}
	}
	if r := owner.postForm("/settings/embeds/"+handle+"/revoke", url.Values{}); r.StatusCode != http.StatusNotFound {
		t.Fatalf("revoking twice: %d", r.StatusCode)
	}
}

// TestEmbedEndsWithItsOwner: disabling the owner ends the embed's streams within 5 s
// (with the owner's own), and the link answers 404 while the owner stays disabled.
func TestEmbedEndsWithItsOwner(t *testing.T) {
	app := MustApp(t, unlimited)
	owner := signedIn(t, app, "gone@example.com", "goneuser")
	u := mustUserByEmail(t, app, "gone@example.com")
	token, _ := createCredential(t, owner, "/settings/embeds", "Sidebar")
	visitor := app.NewClient(t)
	e1, _ := visitor.openStream("/embed/" + token + "/stream")
	e2, _ := visitor.openStream("/embed/" + token + "/stream")
	mine, _ := owner.openStream("/stream")
	waitConns(t, app, 3)

	start := time.Now()
	if _, err := app.deps.Accounts.Disable(context.Background(), u.Handle); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*sseStream{e1, e2, mine} {
		if ev := s.next(t, 5*time.Second, "logout"); ev.Data != "disabled" {
			t.Fatalf("ended with %+v", ev)
		}
		select {
		case <-s.done:
		case <-time.After(5*time.Second - time.Since(start)):
			t.Fatal("a stream stayed open more than 5 s after its owner was disabled")
		}
	}
	waitConns(t, app, 0)
	if r := visitor.get("/embed/" + token); r.StatusCode != http.StatusNotFound {
		t.Fatalf("a disabled owner's embed: %d", r.StatusCode)
	}
}

// TestEmbedHeadersAndNoCookie: nothing under /embed/ sets a cookie or carries a CSRF token,
// not even for a browser that is signed in (its session is neither read nor touched), and
// not on errors; the page may be framed by anyone; the preflight of another site's htmx
// request is answered; bad options get 400 with a message.
func TestEmbedHeadersAndNoCookie(t *testing.T) {
	app := MustApp(t, unlimited)
	owner := signedIn(t, app, "frames@example.com", "framer")
	token, _ := createCredential(t, owner, "/settings/embeds", "Frame me")
	before := owner.cookie("tickstock_session").Value

	stranger := app.NewClient(t)
	for name, c := range map[string]*client{"signed-in owner": owner, "stranger": stranger} {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				path   string
				header []string
				status int
			}{
				{"/embed/" + token, nil, 200},
				{"/embed/" + token + "?panels=highs,lows&theme=light", nil, 200},
				{"/embed/" + token, []string{"HX-Request", "true"}, 200},
				{"/embed/" + token + "?panels=nope", nil, 400},
				{"/embed/" + token + "?theme=blue", []string{"HX-Request", "true"}, 400},
				{"/embed/tse_unknown", nil, 404},
				{"/embed/" + token + "/more/paths", nil, 404},
				{"/embed/", nil, 404},
			} {
				r := c.get(tc.path, tc.header...)
				if r.StatusCode != tc.status {
					t.Fatalf("GET %s: %d, want %d: %s", tc.path, r.StatusCode, tc.status, r.Body)
				}
				if sc := r.Header.Values("Set-Cookie"); len(sc) != 0 {
					t.Fatalf("GET %s set a cookie: %v", tc.path, sc)
				}
				if r.Header.Get("X-CSRF-Token") != "" || strings.Contains(r.Body, `name="csrf-token"`) {
					t.Fatalf("GET %s carries a CSRF token", tc.path)
				}
				csp := r.Header.Get("Content-Security-Policy")
				if !strings.Contains(csp, "frame-ancestors *") || r.Header.Get("X-Frame-Options") != "" {
					t.Fatalf("GET %s: CSP %q, X-Frame-Options %q", tc.path, csp, r.Header.Get("X-Frame-Options"))
				}
				if r.Header.Get("Access-Control-Allow-Origin") != "*" {
					t.Fatalf("GET %s: no Access-Control-Allow-Origin", tc.path)
				}
				if strings.Contains(r.Body, "framer") || strings.Contains(r.Body, "Log in") {
					t.Fatalf("GET %s shows the owner or the site's navigation: %s", tc.path, r.Body)
				}
			}
			s, resp := c.openStream("/embed/"+token+"/stream", "Origin", "https://elsewhere.example")
			if s == nil || len(resp.Header.Values("Set-Cookie")) != 0 {
				t.Fatalf("stream: %v, cookies %v", resp.StatusCode, resp.Header.Values("Set-Cookie"))
			}
			s.close()
		})
	}
	if now := owner.cookie("tickstock_session").Value; now != before {
		t.Fatal("visiting the embed changed the owner's session")
	}
	if r := owner.get("/settings/embeds"); r.StatusCode != 200 {
		t.Fatalf("the owner's session stopped working: %d", r.StatusCode)
	}

	// Query options: panels and theme.
	doc := stranger.get("/embed/" + token + "?panels=lows,highs,highs&theme=dark").Doc(t)
	var shown []string
	doc.Find("[data-testid^=panel-]").Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("data-testid")
		shown = append(shown, id)
	})
	if !slices.Equal(shown, []string{"panel-highs", "panel-lows"}) || doc.Find("#market-summary").Length() != 0 {
		t.Fatalf("?panels=lows,highs shows %v (summary: %d)", shown, doc.Find("#market-summary").Length())
	}
	if th, _ := doc.Find("html").Attr("data-theme"); th != "dark" {
		t.Fatalf("theme %q", th)
	}
	if r := stranger.get("/embed/" + token + "?panels=market"); r.Doc(t).Find("#market-summary").Length() != 1 || r.Doc(t).Find("[data-testid^=panel-]").Length() != 0 {
		t.Fatal("?panels=market is not the summary alone")
	}
	for q, want := range map[string]string{"panels=highs,%3Cb%3E": "Unknown panel", "panels=": "names no panel", "theme=blue": "Unknown theme"} {
		r := stranger.get("/embed/" + token + "?" + q)
		if r.StatusCode != 400 || !strings.Contains(r.Doc(t).Find("[data-testid=embed-error]").Text(), want) || strings.Contains(r.Body, "<b>") {
			t.Fatalf("?%s: %d %s", q, r.StatusCode, r.Body)
		}
	}

	// CORS preflight for another site's htmx, and nothing but reads.
	r := stranger.request(http.MethodOptions, "/embed/"+token, nil, map[string]string{
		"Origin": "https://blog.example", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "hx-request,hx-current-url,hx-target",
	})
	if r.StatusCode != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != "https://blog.example" ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "HX-Request") {
		t.Fatalf("preflight: %d %v", r.StatusCode, r.Header)
	}
	if r := stranger.request(http.MethodPost, "/embed/"+token, strings.NewReader("x=1"), nil); r.StatusCode != http.StatusMethodNotAllowed || len(r.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("POST to an embed: %d %v", r.StatusCode, r.Header.Values("Set-Cookie"))
	}
}

// TestEmbedStreamCap: one link holds at most its cap of open streams (429 with
// Retry-After past it), a closed stream frees its place, and another link is unaffected.
func TestEmbedStreamCap(t *testing.T) {
	const limit = 3
	app := MustApp(t, unlimited, withHub(stream.NewHub(0, stream.WithEmbedLimit(limit))))
	owner := signedIn(t, app, "popular@example.com", "popular")
	token, _ := createCredential(t, owner, "/settings/embeds", "Popular page")
	other, _ := createCredential(t, owner, "/settings/embeds", "Quiet page")
	viewer := app.NewClient(t)
	var open []*sseStream
	for i := 0; i < limit; i++ {
		s, resp := viewer.openStream("/embed/" + token + "/stream")
		if s == nil {
			t.Fatalf("stream %d: %d", i+1, resp.StatusCode)
		}
		open = append(open, s)
	}
	waitConns(t, app, limit)
	s, resp := viewer.openStream("/embed/" + token + "/stream")
	if s != nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("stream %d: %v, want 429 with Retry-After", limit+1, resp.StatusCode)
	}
	if s, resp := viewer.openStream("/embed/" + other + "/stream"); s == nil {
		t.Fatalf("another link: %d", resp.StatusCode)
	}
	if s, resp := owner.openStream("/stream"); s == nil {
		t.Fatalf("the owner's own stream: %d", resp.StatusCode)
	}
	open[0].close()
	// The server notices a gone client when a write fails: emissions make it write.
	events := testenv.MustSampleEvents(t)
	eventually(t, "the closed stream to leave", func() bool {
		app.emit(t, events[:20]...)
		_, n := app.deps.Hub.Counts()
		return n == limit+1
	})
	if s, resp := viewer.openStream("/embed/" + token + "/stream"); s == nil {
		t.Fatalf("after one closed: %d", resp.StatusCode)
	}
}

// TestEmbedRateLimitPerIP: embed requests, page and stream alike, count per client IP
// (never against the owner, even from the owner's signed-in browser); past the limit they
// get 429, while another client IP still gets through.
func TestEmbedRateLimitPerIP(t *testing.T) {
	const limit = 6
	app := MustApp(t, func(d *appSetup) {
		d.RateLimit = limit
		d.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	_, pw := app.MustUser(t, "limits@example.com", "limiter")
	owner := app.NewClient(t)
	owner.login("limits@example.com", pw) // 3 requests against the owner: login page, login, dashboard
	token, _ := createCredential(t, owner, "/settings/embeds", "Busy page")
	remaining := owner.get("/settings/embeds").Header.Get("X-RateLimit-Remaining")

	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
	for i := 1; i <= limit; i++ {
		path := "/embed/" + token
		if i%2 == 0 {
			path += "/stream"
		}
		var status int
		var left string
		if strings.HasSuffix(path, "/stream") {
			s, resp := owner.openStream(path, from("203.0.113.9")...)
			status, left = resp.StatusCode, resp.Header.Get("X-RateLimit-Remaining")
			if s != nil {
				s.close()
			}
		} else {
			r := owner.get(path, from("203.0.113.9")...)
			status, left = r.StatusCode, r.Header.Get("X-RateLimit-Remaining")
		}
		if status != 200 || left != strconv.Itoa(limit-i) {
			t.Fatalf("embed request %d: %d, remaining %s", i, status, left)
		}
	}
	r := owner.get("/embed/"+token, from("203.0.113.9")...)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || len(r.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("over the limit: %d %v", r.StatusCode, r.Header)
	}
	if s, resp := owner.openStream("/embed/"+token+"/stream", from("203.0.113.9")...); s != nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("stream over the limit: %d", resp.StatusCode)
	}
	if r := owner.get("/embed/"+token, from("198.51.100.4")...); r.StatusCode != 200 {
		t.Fatalf("another IP: %d", r.StatusCode)
	}
	// None of it counted against the owner.
	r = owner.get("/settings/embeds")
	n, _ := strconv.Atoi(remaining)
	if want := strconv.Itoa(n - 1); r.Header.Get("X-RateLimit-Remaining") != want {
		t.Fatalf("the owner's remaining went from %s to %s, want %s", remaining, r.Header.Get("X-RateLimit-Remaining"), want)
	}
}
