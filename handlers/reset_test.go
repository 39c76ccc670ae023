package handlers

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/internal/smtptest"
)

func tlsTrusting(srv *smtptest.Server) *tls.Config { return &tls.Config{RootCAs: srv.RootCAs} }

// mailedLink reads the reset link from the next mail: the text and HTML parts carry the
// same one, pointing at the app.
func mailedLink(t *testing.T, app *testApp, srv *smtptest.Server, to string) string {
	t.Helper()
	m := srv.Next(t, 10*time.Second)
	if len(m.To) != 1 || m.To[0] != to || m.Subject != "Reset your TickStock password" {
		t.Fatalf("mail to %v, subject %q", m.To, m.Subject)
	}
	link := resetLinkRE.FindString(m.Text)
	if link == "" || !strings.HasPrefix(link, app.URL+"/auth/reset/") {
		t.Fatalf("no link to the app in the text part:\n%s", m.Text)
	}
	if !strings.Contains(m.HTML, `href="`+link+`"`) {
		t.Fatalf("the HTML part does not link to %s:\n%s", link, m.HTML)
	}
	return link
}

// path is a link's path, for the test client.
func path(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Path
}

// TestForgotAnswersAlike: /auth/forgot answers a known and an unknown email with the same
// status and body, in about the same time; only the known one gets mail.
func TestForgotAnswersAlike(t *testing.T) {
	srv := smtptest.MustStart(t)
	app := MustApp(t, withSMTP(t, srv))
	u, _ := app.MustUser(t, "known@example.com", "knownuser")
	c := app.NewClient(t)
	c.get("/auth/forgot")

	answer := func(email string) (response, time.Duration) {
		start := time.Now()
		r := c.postForm("/auth/forgot", url.Values{"email": {email}})
		return r, time.Since(start)
	}
	var known, unknown []time.Duration
	var first response
	for i := range 3 { // 3 each: within the per-email limit
		rk, dk := answer(u.Email)
		ru, du := answer("nobody-" + string(rune('a'+i)) + "@example.com")
		known, unknown = append(known, dk), append(unknown, du)
		if rk.StatusCode != http.StatusOK || ru.StatusCode != rk.StatusCode || ru.Body != rk.Body {
			t.Fatalf("answers differ: %d vs %d\n%s\n----\n%s", rk.StatusCode, ru.StatusCode, rk.Body, ru.Body)
		}
		first = rk
	}
	if got := first.Doc(t).Find(`[data-testid="forgot-sent"]`).Text(); got != "If an account exists for that address, we sent a link." {
		t.Fatalf("answer %q", got)
	}
	slices.Sort(known)
	slices.Sort(unknown)
	mk, mu := known[1], unknown[1]
	t.Logf("median answer: known email %s, unknown email %s", mk, mu)
	if d := mk - mu; d > 50*time.Millisecond || d < -50*time.Millisecond {
		t.Fatalf("answer times differ by %s (known %s, unknown %s)", d, mk, mu)
	}
	for range 3 {
		mailedLink(t, app, srv, u.Email)
	}
	srv.None(t, 300*time.Millisecond) // nothing for the unknown addresses
	eventually(t, "password_reset_requested events", func() bool {
		return countAuthEvents(t, app, auth.EventResetRequested, 0) == 6 && countAuthEvents(t, app, auth.EventResetRequested, u.ID) == 3
	})

	// A malformed address is a 422 next to the field, with what was typed kept.
	r := c.postForm("/auth/forgot", url.Values{"email": {"not-an-email"}})
	if r.StatusCode != http.StatusUnprocessableEntity || r.Doc(t).Find(`[data-testid="error-email"]`).Length() != 1 ||
		r.Doc(t).Find(`input[name="email"][value="not-an-email"]`).Length() != 1 {
		t.Fatalf("malformed email: %d %s", r.StatusCode, r.Body)
	}
}

// TestResetLinkWorksOnce: the mailed link opens the form; a new password ends every
// session of the user (streams too) and signs this browser in afresh; the link then gets
// 410 and never the form again; an unknown token gets 404.
func TestResetLinkWorksOnce(t *testing.T) {
	for name, opts := range sessionStoreOptions(t) {
		t.Run(name, func(t *testing.T) {
			srv := smtptest.MustStart(t)
			app := MustApp(t, append(opts, withSMTP(t, srv))...)
			u, pw := app.MustUser(t, "forgetful@example.com", "forgetful")
			elsewhere := app.NewClient(t)
			elsewhere.login(u.Email, pw)
			s, _ := elsewhere.openStream("/stream")
			waitConns(t, app, 1)

			c := app.NewClient(t)
			if r := c.postForm("/auth/forgot", url.Values{"email": {"  FORGETFUL@example.com "}}); r.StatusCode != http.StatusOK {
				t.Fatalf("forgot: %d", r.StatusCode)
			}
			link := path(t, mailedLink(t, app, srv, u.Email))
			token := strings.TrimPrefix(link, "/auth/reset/")
			if len(token) < 22 { // 128 bits in base64url
				t.Fatalf("token %q is shorter than 128 bits", token)
			}

			r := c.get(link)
			if r.StatusCode != http.StatusOK || r.Doc(t).Find(`[data-testid="reset-form"]`).Length() != 1 {
				t.Fatalf("GET link: %d", r.StatusCode)
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("reset page Cache-Control %q", r.Header.Get("Cache-Control"))
			}
			// A bad password keeps the link usable.
			if r := c.postForm(link, url.Values{"password": {"short"}}); r.StatusCode != http.StatusUnprocessableEntity ||
				r.Doc(t).Find(`[data-testid="error-password"]`).Length() != 1 {
				t.Fatalf("short password: %d", r.StatusCode)
			}
			start := time.Now()
			r = c.postForm(link, url.Values{"password": {"a-fresh-password"}})
			if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" {
				t.Fatalf("reset: %d %s", r.StatusCode, r.Body)
			}
			waitLogout(t, s, start, "revoked")
			if elsewhere.signedIn() {
				t.Fatal("a session from before the reset still works")
			}
			if !c.signedIn() {
				t.Fatal("the reset did not sign this browser in")
			}
			app.NewClient(t).login(u.Email, "a-fresh-password")

			// Spent: 410, and the page has no form.
			for _, do := range []func() response{
				func() response { return c.get(link) },
				func() response { return c.postForm(link, url.Values{"password": {"another-password"}}) },
				func() response { return app.NewClient(t).get(link) },
			} {
				r := do()
				if r.StatusCode != http.StatusGone || r.Doc(t).Find("form#reset-form, input[name=password]").Length() != 0 ||
					!strings.Contains(r.Doc(t).Find(`[data-testid="reset-gone"]`).Text(), "already used") {
					t.Fatalf("spent link: %d %s", r.StatusCode, r.Body)
				}
			}
			// Unknown and malformed tokens: 404, never the form.
			for _, p := range []string{"/auth/reset/" + auth.RandomToken(32), "/auth/reset/short", "/auth/reset/" + strings.Repeat("%FF", 20)} {
				r := c.get(p)
				if r.StatusCode != http.StatusNotFound || r.Doc(t).Find("input[name=password]").Length() != 0 {
					t.Fatalf("GET %s: %d", p, r.StatusCode)
				}
			}
			eventually(t, "the password_reset event", func() bool { return countAuthEvents(t, app, auth.EventPasswordReset, u.ID) == 1 })
		})
	}
}

// TestResetLinkExpires: a link 30 minutes old gets 410 and says it expired (the reset
// service's clock is moved, not the test's).
func TestResetLinkExpires(t *testing.T) {
	srv := smtptest.MustStart(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	app := MustApp(t, withSMTP(t, srv), withResetClock(clock))
	u, pw := app.MustUser(t, "slow@example.com", "slowreader")
	c := app.NewClient(t)
	c.postForm("/auth/forgot", url.Values{"email": {u.Email}})
	link := path(t, mailedLink(t, app, srv, u.Email))

	mu.Lock()
	now = now.Add(29 * time.Minute)
	mu.Unlock()
	if r := c.get(link); r.StatusCode != http.StatusOK {
		t.Fatalf("a 29-minute-old link: %d", r.StatusCode)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	for _, r := range []response{c.get(link), c.postForm(link, url.Values{"password": {"too-late-password"}})} {
		if r.StatusCode != http.StatusGone || !strings.Contains(r.Body, "expired") || strings.Contains(r.Body, `name="password"`) {
			t.Fatalf("a 30-minute-old link: %d", r.StatusCode)
		}
	}
	app.NewClient(t).login(u.Email, pw) // unchanged
}

// TestResetLimit: at most 3 links per email per hour; other addresses are not held back.
func TestResetLimit(t *testing.T) {
	srv := smtptest.MustStart(t)
	app := MustApp(t, withSMTP(t, srv))
	u, _ := app.MustUser(t, "eager@example.com", "eagerbeaver")
	v, _ := app.MustUser(t, "calm@example.com", "calmone")
	c := app.NewClient(t)
	var links []string
	for range auth.ResetsPerHour {
		if r := c.postForm("/auth/forgot", url.Values{"email": {u.Email}}); r.StatusCode != http.StatusOK {
			t.Fatalf("forgot: %d", r.StatusCode)
		}
		links = append(links, mailedLink(t, app, srv, u.Email))
	}
	r := c.postForm("/auth/forgot", url.Values{"email": {strings.ToUpper(u.Email)}})
	if r.StatusCode != http.StatusOK || r.Doc(t).Find(`[data-testid="forgot-sent"]`).Length() != 1 {
		t.Fatalf("4th request: %d (the answer must not change)", r.StatusCode)
	}
	srv.None(t, 500*time.Millisecond)
	c.postForm("/auth/forgot", url.Values{"email": {v.Email}})
	mailedLink(t, app, srv, v.Email)
	if len(links) != 3 || links[0] == links[1] || links[1] == links[2] {
		t.Fatalf("links are not distinct: %v", links)
	}
	eventually(t, "the password_reset_limited event", func() bool { return countAuthEvents(t, app, auth.EventResetLimited, 0) == 1 })
}

// TestResetLinkInLogWithoutSMTP: with no SMTP server the link goes to the log for the
// operator, once; no other log line ever carries a token, not even an error's.
func TestResetLinkInLogWithoutSMTP(t *testing.T) {
	logs := &logBuffer{}
	app := MustApp(t, withLogs(logs))
	u, _ := app.MustUser(t, "nomail@example.com", "nomailer")
	c := app.NewClient(t)
	c.postForm("/auth/forgot", url.Values{"email": {u.Email}})
	var link string
	eventually(t, "the link in the log", func() bool { link = resetLinkRE.FindString(logs.String()); return link != "" })
	token := strings.TrimPrefix(path(t, link), "/auth/reset/")

	// Use the link, with a bad CSRF token first (logged), then for real, then again (410).
	c.postForm(path(t, link), url.Values{"password": {"from-the-log-pw"}, "_csrf": {"forged"}})
	if r := c.postForm(path(t, link), url.Values{"password": {"from-the-log-pw"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset with the logged link: %d", r.StatusCode)
	}
	c.get(path(t, link))
	eventually(t, "the csrf rejection in the log", func() bool { return strings.Contains(logs.String(), "csrf_rejected") })
	if n := strings.Count(logs.String(), token); n != 1 {
		t.Fatalf("the token appears %d times in the log, want once (the operator line):\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "/auth/reset/{token}") {
		t.Fatal("the CSRF rejection's path is not logged without its token")
	}
}

// TestResetCreateForAdmin: the admin console's way to make a link for a user: it works like
// a mailed one, once.
func TestResetCreateForAdmin(t *testing.T) {
	app := MustApp(t)
	u, _ := app.MustUser(t, "locked-out@example.com", "lockedout")
	link, err := app.deps.Resets.Create(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link.URL, app.URL+"/auth/reset/") || time.Until(link.Expires) > 30*time.Minute || time.Until(link.Expires) < 29*time.Minute {
		t.Fatalf("link %+v", link)
	}
	c := app.NewClient(t)
	if r := c.postForm(path(t, link.URL), url.Values{"password": {"admin-given-pw"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset with an admin's link: %d", r.StatusCode)
	}
	if r := c.get(path(t, link.URL)); r.StatusCode != http.StatusGone {
		t.Fatalf("the admin's link again: %d", r.StatusCode)
	}
	if _, err := app.deps.Resets.Create(context.Background(), 1<<40); err == nil {
		t.Fatal("a link for a user who does not exist")
	}
}
