package handlers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tickstock/tickstock/auth"
	creds "github.com/tickstock/tickstock/credentials"
	"github.com/tickstock/tickstock/internal/smtptest"
	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/mail"
	"github.com/tickstock/tickstock/stream"
)

// sessionStoreOptions runs a test over both session stores: process memory and Redis.
func sessionStoreOptions(t *testing.T) map[string][]appOption {
	rdb, prefix := testenv.MustRedis(t)
	return map[string][]appOption{"memory": nil, "redis": {withRedis(rdb, prefix)}}
}

// withSMTP sends reset mail through an in-process SMTP server (STARTTLS and AUTH).
func withSMTP(tb testing.TB, srv *smtptest.Server) appOption {
	tb.Helper()
	return func(d *appSetup) {
		s, err := mail.NewSMTP(mail.Config{Host: srv.Host, Port: srv.Port, Username: srv.Username, Password: srv.Password,
			From: "TickStock <noreply@tickstock.test>", TLS: tlsTrusting(srv), Timeout: 5 * time.Second})
		if err != nil {
			tb.Fatal(err)
		}
		d.mailer = NewResetMailer(s, d.Logger)
	}
}

// withResetClock gives the reset links a clock the test moves.
func withResetClock(now func() time.Time) appOption {
	return func(d *appSetup) { d.resetNow = now }
}

// logBuffer collects everything the app logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// withLogs sends the app's logs (debug and up) to w.
func withLogs(w io.Writer) appOption {
	return func(d *appSetup) {
		d.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
		d.Audit = auth.NewAudit(d.pool, d.Logger)
		d.Credentials = creds.New(d.pool, d.Bus, creds.WithLogger(d.Logger))
	}
}

// uaTransport sends a browser's User-Agent.
type uaTransport struct{ ua string }

func (t uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", t.ua)
	return http.DefaultTransport.RoundTrip(r)
}

// newBrowserClient is a client that says it is the browser ua.
func (a *testApp) newBrowserClient(tb testing.TB, ua string) *client {
	c := a.NewClient(tb)
	c.http.Transport = uaTransport{ua: ua}
	return c
}

const (
	uaFirefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
	uaSafari  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	uaChrome  = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)

// waitLogout waits for the stream's `event: logout` with reason, and for the stream to
// close, within 5 s of start.
func waitLogout(t *testing.T, s *sseStream, start time.Time, reason string) {
	t.Helper()
	if ev := s.next(t, 5*time.Second-time.Since(start), "logout"); ev.Data != reason || ev.ID != "" {
		t.Fatalf("logout event %+v, want data %q and no id", ev, reason)
	}
	select {
	case <-s.done:
	case <-time.After(5*time.Second - time.Since(start)):
		t.Fatal("a stream stayed open more than 5 s after its session ended")
	}
}

// signedIn reports whether the client's session still opens the dashboard.
func (c *client) signedIn() bool {
	c.tb.Helper()
	r := c.get("/dashboard")
	switch r.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusSeeOther:
		return false
	}
	c.tb.Fatalf("GET /dashboard: %d", r.StatusCode)
	return false
}

// countAuthEvents counts stored auth events of a kind (for a user, when userID > 0).
func countAuthEvents(t *testing.T, app *testApp, kind string, userID int64) int {
	t.Helper()
	conn := mustSuperuser(t, app)
	var n int
	q := "SELECT count(*) FROM auth_events WHERE kind = $1 AND ($2 = 0 OR user_id = $2)"
	if err := conn.QueryRow(context.Background(), q, kind, userID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// mustSuperuser connects to the app's database as its superuser, past row-level security.
func mustSuperuser(t *testing.T, app *testApp) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), app.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestPasswordChangeEndsOtherSessions: two browsers are signed in as one user. Changing the
// password in one ends the other's session and its stream within 5 s (event: logout), and
// the first stays signed in, its stream still live. Memory and Redis sessions alike.
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	for name, opts := range sessionStoreOptions(t) {
		t.Run(name, func(t *testing.T) {
			app := MustApp(t, opts...)
			u, pw := app.MustUser(t, "change@example.com", "changer")
			first, second := app.newBrowserClient(t, uaFirefox), app.newBrowserClient(t, uaSafari)
			first.login("change@example.com", pw)
			second.login("change@example.com", pw)
			s1, _ := first.openStream("/stream")
			s2, _ := second.openStream("/stream")
			waitConns(t, app, 2)

			start := time.Now()
			r := first.postForm("/account/password", url.Values{"current_password": {pw}, "new_password": {"brand-new-password"}})
			if r.StatusCode != http.StatusOK {
				t.Fatalf("change password: %d %s", r.StatusCode, r.Body)
			}
			doc := r.Doc(t)
			if doc.Find(`[data-testid="password-section"] [data-testid="saved"]`).Length() != 1 {
				t.Fatalf("no confirmation on the page: %s", r.Body)
			}
			waitLogout(t, s2, start, "revoked")
			waitConns(t, app, 1)
			if second.signedIn() {
				t.Fatal("the other browser is still signed in")
			}
			if !first.signedIn() {
				t.Fatal("the browser that changed the password was signed out")
			}
			app.emit(t, testenv.MustSampleEvents(t)[:10]...)
			s1.next(t, 5*time.Second, stream.EventMarket) // its stream lives on

			// The new password signs in; the old one does not.
			if r := app.NewClient(t).postForm("/auth/login", url.Values{"email": {u.Email}, "password": {pw}}); r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("old password: %d", r.StatusCode)
			}
			app.NewClient(t).login(u.Email, "brand-new-password")
			eventually(t, "the password_changed event", func() bool { return countAuthEvents(t, app, auth.EventPasswordChanged, u.ID) == 1 })

			// With htmx, the answer is the form section plus the refreshed session list.
			r = first.postForm("/account/password", url.Values{"current_password": {"brand-new-password"}, "new_password": {"third-password"}},
				"HX-Request", "true")
			if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, `id="password"`) || !strings.Contains(r.Body, `hx-swap-oob="true"`) {
				t.Fatalf("htmx change: %d %s", r.StatusCode, r.Body)
			}
		})
	}
}

// TestWrongCurrentPassword: a wrong current password gets 422 with the message next to
// the field, changes nothing, and counts toward the login lockout: after 5 the email is
// locked, for logins and for password changes, even with the right password.
func TestWrongCurrentPassword(t *testing.T) {
	for name, opts := range sessionStoreOptions(t) {
		t.Run(name, func(t *testing.T) {
			app := MustApp(t, opts...)
			u, pw := app.MustUser(t, "wrong@example.com", "wrongun")
			c := app.NewClient(t)
			c.login(u.Email, pw)
			for i := range auth.MaxFailures {
				r := c.postForm("/account/password", url.Values{"current_password": {fmt.Sprintf("guess-%d", i)}, "new_password": {"whatever-new-1"}})
				if r.StatusCode != http.StatusUnprocessableEntity {
					t.Fatalf("wrong current password %d: %d", i, r.StatusCode)
				}
				if msg := r.Doc(t).Find(`[data-testid="error-current_password"]`).Text(); msg != "That is not your current password." {
					t.Fatalf("field error %q", msg)
				}
			}
			// Locked: the right password no longer works, here or at login.
			r := c.postForm("/account/password", url.Values{"current_password": {pw}, "new_password": {"whatever-new-1"}})
			if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
				t.Fatalf("change while locked: %d", r.StatusCode)
			}
			r = app.NewClient(t).postForm("/auth/login", url.Values{"email": {u.Email}, "password": {pw}})
			if r.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("login after 5 wrong current passwords: %d, want 429", r.StatusCode)
			}
			if !c.signedIn() {
				t.Fatal("wrong passwords signed the user out")
			}
			// Nothing changed: the old hash is still the one stored.
			got, _ := app.deps.Accounts.ByID(context.Background(), u.ID)
			if got.PasswordHash != u.PasswordHash {
				t.Fatal("a failed change altered the password")
			}
			eventually(t, "5 password_change_failure events", func() bool {
				return countAuthEvents(t, app, auth.EventPasswordChangeFailure, u.ID) == auth.MaxFailures
			})
		})
	}
}

// TestPasswordChangeValidation: bad new passwords are 422 next to their field; passwords
// are never written back into the page.
func TestPasswordChangeValidation(t *testing.T) {
	app := MustApp(t)
	u, pw := app.MustUser(t, "valid@example.com", "validator")
	c := app.NewClient(t)
	c.login(u.Email, pw)
	for _, tt := range []struct{ current, next, field string }{
		{pw, "short", "new_password"},
		{pw, strings.Repeat("x", 129), "new_password"},
		{pw, pw, "new_password"},
		{"", "long-enough-pw", "current_password"},
	} {
		r := c.postForm("/account/password", url.Values{"current_password": {tt.current}, "new_password": {tt.next}})
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("%+v: %d", tt, r.StatusCode)
		}
		if r.Doc(t).Find(`[data-testid="error-`+tt.field+`"]`).Length() != 1 {
			t.Fatalf("%+v: no error next to %s", tt, tt.field)
		}
		if strings.Contains(r.Body, pw) || (len(tt.next) > 5 && strings.Contains(r.Body, tt.next)) {
			t.Fatal("a password was written back into the page")
		}
	}
	r := c.postJSON("/account/password", `{"current_password":"x"}`)
	if r.StatusCode != http.StatusUnprocessableEntity && r.StatusCode != http.StatusBadRequest {
		t.Fatalf("JSON body: %d", r.StatusCode)
	}
}

// sessionRefs reads the session list of the account page: each row's ref, and whether it
// is marked as this browser.
func sessionRefs(t *testing.T, c *client) (refs []string, current string) {
	t.Helper()
	r := c.get("/account")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /account: %d", r.StatusCode)
	}
	doc := r.Doc(t)
	rows := doc.Find(`[data-testid="session"]`)
	for i := range rows.Length() {
		row := rows.Eq(i)
		ref, _ := row.Attr("data-ref")
		refs = append(refs, ref)
		if row.Find(`[data-testid="this-browser"]`).Length() == 1 {
			if current != "" {
				t.Fatal("two sessions marked this browser")
			}
			current = ref
		}
	}
	return refs, current
}

// TestSessionsPage: the account page lists the user's sessions with browser, IP and times,
// "this browser" on the current one, and never a session id; one can be revoked (its stream
// ends within 5 s, event: logout, reason revoked), everything else at once; another user's
// handle gets 404. Memory and Redis sessions alike.
func TestSessionsPage(t *testing.T) {
	for name, opts := range sessionStoreOptions(t) {
		t.Run(name, func(t *testing.T) {
			app := MustApp(t, opts...)
			u, pw := app.MustUser(t, "many@example.com", "manysessions")
			_, pw2 := app.MustUser(t, "else@example.com", "someoneelse")
			laptop, phone, desk := app.newBrowserClient(t, uaFirefox), app.newBrowserClient(t, uaSafari), app.newBrowserClient(t, uaChrome)
			intruder := app.newBrowserClient(t, uaChrome)
			for _, c := range []*client{laptop, phone, desk} {
				c.login(u.Email, pw)
			}
			intruder.login("else@example.com", pw2)

			r := laptop.get("/account")
			if r.StatusCode != http.StatusOK {
				t.Fatalf("GET /account: %d", r.StatusCode)
			}
			doc := r.Doc(t)
			if got := doc.Find(`[data-testid="profile-username"]`).Text(); got != "manysessions" {
				t.Fatalf("profile username %q", got)
			}
			if got := doc.Find(`[data-testid="profile-email"]`).Text(); got != u.Email {
				t.Fatalf("profile email %q", got)
			}
			rows := doc.Find(`[data-testid="session"]`)
			if rows.Length() != 3 {
				t.Fatalf("%d sessions listed, want 3", rows.Length())
			}
			first := rows.First()
			if first.Find(`[data-testid="this-browser"]`).Length() != 1 || !strings.Contains(first.Text(), "Firefox on Windows") ||
				!strings.Contains(first.Text(), "127.0.0.1") || !strings.Contains(first.Text(), "just now") {
				t.Fatalf("first row is not this browser with its details: %q", first.Text())
			}
			for _, want := range []string{"Safari on iPhone", "Chrome on Linux"} {
				if !strings.Contains(rows.Text(), want) {
					t.Fatalf("no %s session listed: %q", want, rows.Text())
				}
			}
			for _, c := range []*client{laptop, phone, desk, intruder} {
				if id := c.cookie(auth.CookieName).Value; strings.Contains(r.Body, id) {
					t.Fatal("the account page shows a session id")
				}
			}
			if doc.Find(`a[href="/account"][data-testid="nav-account"]`).Length() != 1 {
				t.Fatal("no Account link in the navigation bar")
			}

			_, phoneRef := sessionRefs(t, phone)
			_, deskRef := sessionRefs(t, desk)
			phoneStream, _ := phone.openStream("/stream")
			deskStream, _ := desk.openStream("/stream")
			laptopStream, _ := laptop.openStream("/stream")
			waitConns(t, app, 3)

			// Another user cannot see or revoke these sessions: 404, and nothing ends.
			if r := intruder.postForm("/account/sessions/"+phoneRef+"/revoke", url.Values{}); r.StatusCode != http.StatusNotFound {
				t.Fatalf("another user's session handle: %d, want 404", r.StatusCode)
			}
			for _, bad := range []string{"junk", url.PathEscape(phone.cookie(auth.CookieName).Value), "1"} {
				if r := laptop.postForm("/account/sessions/"+bad+"/revoke", url.Values{}); r.StatusCode != http.StatusNotFound {
					t.Fatalf("revoke %q: %d, want 404", bad, r.StatusCode)
				}
			}
			if !phone.signedIn() {
				t.Fatal("a failed revocation ended the session")
			}

			// Revoke the phone from the laptop (htmx: the list comes back without it).
			start := time.Now()
			r = laptop.postForm("/account/sessions/"+phoneRef+"/revoke", url.Values{}, "HX-Request", "true")
			if r.StatusCode != http.StatusOK || strings.Contains(r.Body, phoneRef) || !strings.Contains(r.Body, `id="sessions"`) {
				t.Fatalf("revoke: %d %s", r.StatusCode, r.Body)
			}
			waitLogout(t, phoneStream, start, "revoked")
			if phone.signedIn() {
				t.Fatal("the revoked session still works")
			}
			if refs, _ := sessionRefs(t, laptop); len(refs) != 2 {
				t.Fatalf("%d sessions after revoking one", len(refs))
			}
			// The same handle again: already ended.
			if r := laptop.postForm("/account/sessions/"+phoneRef+"/revoke", url.Values{}); r.StatusCode != http.StatusNotFound {
				t.Fatalf("revoking twice: %d", r.StatusCode)
			}

			// Sign out everywhere else: the desk ends, the laptop and its stream stay.
			start = time.Now()
			r = laptop.postForm("/account/sessions/revoke-others", url.Values{})
			if r.StatusCode != http.StatusOK || r.Doc(t).Find(`[data-testid="sessions-notice"]`).Length() != 1 {
				t.Fatalf("revoke others: %d", r.StatusCode)
			}
			waitLogout(t, deskStream, start, "revoked")
			if desk.signedIn() || !laptop.signedIn() {
				t.Fatal("revoke-others ended the wrong sessions")
			}
			if refs, current := sessionRefs(t, laptop); len(refs) != 1 || current != refs[0] {
				t.Fatalf("after revoke-others: %v (current %q)", refs, current)
			}
			if deskRef == "" || !intruder.signedIn() {
				t.Fatal("another user's session ended")
			}
			app.emit(t, testenv.MustSampleEvents(t)[:10]...)
			laptopStream.next(t, 5*time.Second, stream.EventMarket)

			// Revoking this browser's own session signs it out.
			_, mine := sessionRefs(t, laptop)
			r = laptop.postForm("/account/sessions/"+mine+"/revoke", url.Values{})
			if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/auth/login" || laptop.signedIn() {
				t.Fatalf("revoking this browser: %d %s", r.StatusCode, r.Header.Get("Location"))
			}
			eventually(t, "session_revoked events", func() bool { return countAuthEvents(t, app, auth.EventSessionRevoked, u.ID) == 2 })
			eventually(t, "the sessions_revoked_others event", func() bool {
				return countAuthEvents(t, app, auth.EventSessionsRevokedOthers, u.ID) == 1
			})
		})
	}
}

// TestLastSeenWritesAtMostOncePerMinute: a signed-in browser making many requests costs no
// session write per request.
func TestLastSeenWritesAtMostOncePerMinute(t *testing.T) {
	rdb, prefix := testenv.MustRedis(t)
	app := MustApp(t, withRedis(rdb, prefix))
	u, pw := app.MustUser(t, "busy@example.com", "busybee")
	c := app.NewClient(t)
	c.login(u.Email, pw)
	key := prefix + "sess:" + c.cookie(auth.CookieName).Value
	before, err := rdb.Get(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	ttl := rdb.PTTL(context.Background(), key).Val()
	for range 20 {
		c.get("/account")
	}
	after, _ := rdb.Get(context.Background(), key).Result()
	if after != before {
		t.Fatalf("requests within a minute rewrote the session:\n%s\n%s", before, after)
	}
	if got := rdb.PTTL(context.Background(), key).Val(); got > ttl {
		t.Fatalf("requests pushed the session's expiry from %s to %s", ttl, got)
	}
}

var resetLinkRE = regexp.MustCompile(`https?://[^\s"<>]+/auth/reset/[A-Za-z0-9_-]+`)
