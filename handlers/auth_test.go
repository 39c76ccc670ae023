package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/internal/testenv"
)

func TestRegisterLoginLogout(t *testing.T) {
	app := MustApp(t)
	c := app.NewClient(t)

	r := c.get("/auth/register")
	if r.StatusCode != 200 || r.Doc(t).Find(`[data-testid="register-form"] input[name="_csrf"]`).Length() != 1 {
		t.Fatalf("register page: %d", r.StatusCode)
	}
	r = c.postForm("/auth/register", url.Values{"email": {"Trader@Example.com"}, "username": {"trader"}, "password": {"long-enough-pw"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" {
		t.Fatalf("register: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.Body)
	}
	r = c.get("/dashboard")
	if r.StatusCode != 200 || !strings.Contains(r.Doc(t).Find(`[data-testid="dashboard-title"]`).Text(), "trader's universes") {
		t.Fatalf("dashboard after register: %d\n%s", r.StatusCode, r.Body)
	}

	// The same email in another case is taken.
	other := app.NewClient(t)
	r = other.postForm("/auth/register", url.Values{"email": {"trader@example.COM"}, "username": {"copycat"}, "password": {"long-enough-pw"}})
	if r.StatusCode != http.StatusUnprocessableEntity || r.Doc(t).Find(`[data-testid="error-email"]`).Length() != 1 {
		t.Fatalf("duplicate email: %d\n%s", r.StatusCode, r.Body)
	}

	// Log out, keeping the old cookie: it no longer opens anything.
	old := c.cookie(auth.CookieName)
	r = c.postForm("/auth/logout", url.Values{})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/auth/login" {
		t.Fatalf("logout: %d %s", r.StatusCode, r.Body)
	}
	replay := app.NewClient(t)
	u, _ := url.Parse(app.URL)
	replay.http.Jar.SetCookies(u, []*http.Cookie{{Name: auth.CookieName, Value: old.Value, Path: "/"}})
	r = replay.get("/dashboard")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/auth/login" {
		t.Fatalf("old cookie after logout: %d, want 303 to /auth/login", r.StatusCode)
	}

	// Log in again with the JSON variant.
	j := app.NewClient(t)
	r = j.postJSON("/auth/login", `{"email":"trader@example.com","password":"long-enough-pw"}`)
	if r.StatusCode != 200 {
		t.Fatalf("json login: %d %s", r.StatusCode, r.Body)
	}
	body := r.JSON(t)
	user, _ := body["user"].(map[string]any)
	if body["success"] != true || user["username"] != "trader" || user["email"] != "Trader@Example.com" || user["role"] != "user" {
		t.Fatalf("json login body: %s", r.Body)
	}
	if strings.Contains(r.Body, `"id"`) {
		t.Fatalf("json login leaks an id: %s", r.Body)
	}
	if r := j.get("/dashboard"); r.StatusCode != 200 {
		t.Fatalf("dashboard after json login: %d", r.StatusCode)
	}
}

func TestSignupClosed(t *testing.T) {
	app := MustApp(t, func(d *appSetup) { d.SignupOpen = false })
	c := app.NewClient(t)
	if r := c.get("/auth/register"); r.StatusCode != 404 {
		t.Fatalf("GET register with signup closed: %d", r.StatusCode)
	}
	if r := c.postForm("/auth/register", url.Values{"email": {"a@example.com"}, "username": {"abc"}, "password": {"long-enough-pw"}}); r.StatusCode != 404 {
		t.Fatalf("POST register with signup closed: %d", r.StatusCode)
	}
}

func TestSessionFixation(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "fix@example.com", "fixme")
	c := app.NewClient(t)
	u, _ := url.Parse(app.URL)
	const planted = "attacker-chosen-session-id-0123456789abcdef"
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: auth.CookieName, Value: planted, Path: "/"}})

	r := c.get("/auth/login")
	issued := c.cookie(auth.CookieName)
	if issued == nil || issued.Value == planted {
		t.Fatalf("a planted session id was adopted (%v)", issued)
	}
	if len(issued.Value) < 22 { // 16 bytes = 128 bits in base64url
		t.Fatalf("session id %q is too short for 128 bits", issued.Value)
	}
	_ = r
	before := issued.Value
	c.login("fix@example.com", pw)
	after := c.cookie(auth.CookieName)
	if after == nil || after.Value == before || after.Value == planted {
		t.Fatalf("login kept the pre-login session id")
	}
	// The pre-login id is dead on the server.
	if st, err := app.deps.Sessions.Peek(context.Background(), before); err != nil || st != nil {
		t.Fatalf("pre-login session still stored: %+v %v", st, err)
	}
}

func TestCookieFlags(t *testing.T) {
	for _, secure := range []bool{true, false} {
		t.Run(fmt.Sprintf("secure=%v", secure), func(t *testing.T) {
			app := MustApp(t, func(d *appSetup) { d.CookieSecure = secure })
			_, pw := app.MustUser(t, "flags@example.com", "flags")
			c := app.NewClient(t)
			c.get("/auth/login")
			r := c.postForm("/auth/login", url.Values{"email": {"flags@example.com"}, "password": {pw}})
			line := setCookieHeader(r, auth.CookieName)
			if line == "" {
				t.Fatalf("login set no session cookie: %v", r.Header)
			}
			low := strings.ToLower(line)
			for _, want := range []string{"httponly", "samesite=lax", "path=/"} {
				if !strings.Contains(low, want) {
					t.Errorf("cookie %q lacks %s", line, want)
				}
			}
			if strings.Contains(low, "secure;") || strings.HasSuffix(low, "secure") {
				if !secure {
					t.Errorf("cookie %q is Secure though configured off", line)
				}
			} else if secure {
				t.Errorf("cookie %q lacks Secure", line)
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "csrf@example.com", "csrfuser")
	victim := app.NewClient(t)
	victim.login("csrf@example.com", pw)
	attacker := app.NewClient(t)
	attacker.get("/auth/login") // the attacker's own, valid token for another session

	countUsers := func() int {
		var n int
		err := db.WithSystem(context.Background(), app.pool, func(q *db.Queries) error {
			users, err := q.ListUsers(context.Background())
			n = len(users)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := countUsers()

	tests := []struct {
		name  string
		token string
	}{
		{"missing", ""},
		{"wrong", "not-the-token"},
		{"from another session", attacker.csrf},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fresh := app.NewClient(t)
			fresh.get("/auth/register")
			r := fresh.postForm("/auth/register", url.Values{"_csrf": {tt.token}, "email": {"new-" + strings.ReplaceAll(tt.name, " ", "") + "@example.com"}, "username": {"newbie"}, "password": {"long-enough-pw"}})
			if r.StatusCode != http.StatusForbidden {
				t.Fatalf("register with %s token: %d", tt.name, r.StatusCode)
			}
			r = victim.postForm("/auth/logout", url.Values{"_csrf": {tt.token}})
			if r.StatusCode != http.StatusForbidden {
				t.Fatalf("logout with %s token: %d", tt.name, r.StatusCode)
			}
			r = victim.postJSON("/auth/logout", `{}`, "X-CSRF-Token", tt.token)
			if r.StatusCode != http.StatusForbidden {
				t.Fatalf("JSON logout with %s header: %d", tt.name, r.StatusCode)
			}
			if r := victim.get("/dashboard"); r.StatusCode != 200 {
				t.Fatalf("victim was logged out by a forged request: %d", r.StatusCode)
			}
		})
	}
	if after := countUsers(); after != before {
		t.Fatalf("forged registrations created %d users", after-before)
	}
	// The right token works, in the header too.
	if r := victim.postJSON("/auth/logout", `{}`); r.StatusCode != 200 {
		t.Fatalf("logout with the right header: %d %s", r.StatusCode, r.Body)
	}
}

func TestLockout(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "lock@example.com", "locked")
	c := app.NewClient(t)
	for i := 1; i <= auth.MaxFailures; i++ {
		r := c.postForm("/auth/login", url.Values{"email": {"lock@example.com"}, "password": {"wrong-password"}})
		if r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d", i, r.StatusCode)
		}
	}
	r := c.postForm("/auth/login", url.Values{"email": {"LOCK@example.com"}, "password": {pw}})
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password while locked: %d, want 429", r.StatusCode)
	}
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("lockout without Retry-After")
	}
	if c.cookie(auth.CookieName) != nil {
		if r := c.get("/dashboard"); r.StatusCode == 200 {
			t.Fatal("a locked login signed the user in")
		}
	}
	// Another email is not locked.
	_, pw2 := app.MustUser(t, "free@example.com", "freeuser")
	c.login("free@example.com", pw2)

	// Failures, then a success, reset the count.
	_, pw3 := app.MustUser(t, "reset@example.com", "resetuser")
	d := app.NewClient(t)
	for i := 0; i < auth.MaxFailures-1; i++ {
		d.postForm("/auth/login", url.Values{"email": {"reset@example.com"}, "password": {"nope-nope"}})
	}
	d.login("reset@example.com", pw3)
	e := app.NewClient(t)
	e.postForm("/auth/login", url.Values{"email": {"reset@example.com"}, "password": {"nope-nope"}})
	e.login("reset@example.com", pw3)

	waitAuthEvent(t, app, auth.EventLockout)
}

// waitAuthEvent waits until the background audit writer stored an event of kind.
func waitAuthEvent(t *testing.T, app *testApp, kind string) {
	t.Helper()
	eventually(t, "a stored "+kind+" auth event", func() bool {
		var found bool
		err := db.WithSystem(context.Background(), app.pool, func(q *db.Queries) error {
			evs, err := q.ListAuthEvents(context.Background(), 1000)
			for _, e := range evs {
				found = found || e.Kind == kind
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return found
	})
}

func TestRateLimit(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "busy@example.com", "busybee")
	_, pw2 := app.MustUser(t, "calm@example.com", "calmone")
	busy := app.NewClient(t)
	busy.login("busy@example.com", pw)
	calm := app.NewClient(t)
	calm.login("calm@example.com", pw2)

	var last response
	for i := 0; i < 100; i++ {
		last = busy.get("/dashboard")
		if last.StatusCode == http.StatusTooManyRequests {
			break
		}
	}
	if last.StatusCode == http.StatusTooManyRequests {
		// The login posts and page loads above already counted; that is fine, but the
		// limit must not trip before 100 requests in all.
		if rem := last.Header.Get("X-RateLimit-Remaining"); rem != "0" {
			t.Fatalf("429 with %s remaining", rem)
		}
	} else {
		if last.Header.Get("X-RateLimit-Limit") != "100" || last.Header.Get("X-RateLimit-Reset") == "" {
			t.Fatalf("missing rate-limit headers: %v", last.Header)
		}
		last = busy.get("/dashboard")
	}
	if last.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("request over the limit: %d, want 429", last.StatusCode)
	}
	if last.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// Logging in again does not reset the count.
	again := app.NewClient(t)
	r := again.postJSON("/auth/login", `{"email":"busy@example.com","password":"`+pw+`"}`)
	if r.StatusCode == 200 {
		if r := again.get("/dashboard"); r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("a new login reset the user's count: %d", r.StatusCode)
		}
	}
	// Another user is unaffected.
	r = calm.get("/dashboard")
	if r.StatusCode != 200 || r.Header.Get("X-RateLimit-Remaining") == "" {
		t.Fatalf("other user: %d", r.StatusCode)
	}
	// Health checks are not counted.
	for i := 0; i < 5; i++ {
		if r := busy.get("/healthz"); r.StatusCode != 200 || r.Header.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("/healthz counted: %d", r.StatusCode)
		}
	}
	waitAuthEvent(t, app, auth.EventRateLimited)
}

func TestRateLimitSharedInRedis(t *testing.T) {
	rdb, prefix := testenv.MustRedis(t)
	a := MustApp(t, withRedis(rdb, prefix), func(d *appSetup) { d.RateLimit = 10 })
	// A second app over the same Redis prefix, like a second instance.
	b := MustApp(t, withRedis(rdb, prefix), func(d *appSetup) { d.RateLimit = 10 })
	ca, cb := a.NewClient(t), b.NewClient(t)
	got := 0
	for i := 0; i < 10; i++ {
		c := ca
		if i%2 == 1 {
			c = cb
		}
		if r := c.get("/auth/login"); r.StatusCode == 200 {
			got++
		}
	}
	if got != 10 {
		t.Fatalf("%d of 10 allowed", got)
	}
	if r := cb.get("/auth/login"); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("11th request across two instances: %d, want 429", r.StatusCode)
	}
}

func TestLoginAnswersAlike(t *testing.T) {
	app := MustApp(t)
	app.MustUser(t, "known@example.com", "knownuser")
	c := app.NewClient(t)
	for _, accept := range []string{"application/json", "text/html"} {
		var bodies [2]string
		var codes [2]int
		for i, email := range []string{"known@example.com", "unknown@example.com"} {
			var r response
			if accept == "application/json" {
				r = c.postJSON("/auth/login", `{"email":"`+email+`","password":"wrong-password"}`)
			} else {
				r = c.postForm("/auth/login", url.Values{"email": {email}, "password": {"wrong-password"}})
				r.Body = strings.ReplaceAll(r.Body, email, "EMAIL")
			}
			codes[i], bodies[i] = r.StatusCode, r.Body
		}
		if codes[0] != http.StatusUnauthorized || codes[1] != http.StatusUnauthorized || bodies[0] != bodies[1] {
			t.Fatalf("%s: known %d %q vs unknown %d %q", accept, codes[0], bodies[0], codes[1], bodies[1])
		}
		if !strings.Contains(bodies[0], auth.MsgInvalidLogin) {
			t.Fatalf("%s: generic message missing: %s", accept, bodies[0])
		}
	}
}

func TestXSSEscaped(t *testing.T) {
	app := MustApp(t)
	c := app.NewClient(t)
	payload := `<script>alert("x")</script>`
	r := c.postForm("/auth/register", url.Values{"email": {"xss@example.com"}, "username": {payload}, "password": {"long-enough-pw"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("register: %d %s", r.StatusCode, r.Body)
	}
	r = c.get("/dashboard")
	if strings.Contains(r.Body, payload) || !strings.Contains(r.Body, "&lt;script&gt;") {
		t.Fatalf("username not escaped on the dashboard")
	}
	if got := r.Doc(t).Find(`[data-testid="nav-username"]`).Text(); got != payload {
		t.Fatalf("username shown as %q", got)
	}
	// A hostile email comes back escaped in the re-rendered form.
	d := app.NewClient(t)
	bad := `"><img src=x onerror=alert(1)>@example.com`
	r = d.postForm("/auth/register", url.Values{"email": {bad}, "username": {"abc"}, "password": {"long-enough-pw"}})
	if r.StatusCode != http.StatusUnprocessableEntity || strings.Contains(r.Body, "<img src=x") {
		t.Fatalf("hostile email: %d, escaped=%v", r.StatusCode, !strings.Contains(r.Body, "<img src=x"))
	}
}

func TestBadInput(t *testing.T) {
	app := MustApp(t)
	c := app.NewClient(t)
	tests := []struct {
		name   string
		do     func() response
		status int
	}{
		{"malformed JSON", func() response { return c.postJSON("/auth/login", `{"email":`) }, 400},
		{"trailing JSON", func() response { return c.postJSON("/auth/login", `{} {}`) }, 400},
		{"unknown JSON field", func() response { return c.postJSON("/auth/login", `{"email":"a@b.co","password":"x","admin":true}`) }, 422},
		{"wrong JSON type", func() response { return c.postJSON("/auth/login", `{"email":5,"password":"x"}`) }, 422},
		{"missing password", func() response { return c.postForm("/auth/login", url.Values{"email": {"a@b.co"}}) }, 422},
		{"short password", func() response {
			return c.postForm("/auth/register", url.Values{"email": {"a@b.co"}, "username": {"abc"}, "password": {"short"}})
		}, 422},
		{"short username", func() response {
			return c.postForm("/auth/register", url.Values{"email": {"a@b.co"}, "username": {"ab"}, "password": {"long-enough-pw"}})
		}, 422},
		{"bad email", func() response {
			return c.postForm("/auth/register", url.Values{"email": {"not-an-email"}, "username": {"abc"}, "password": {"long-enough-pw"}})
		}, 422},
		{"invalid UTF-8", func() response {
			return c.postForm("/auth/register", url.Values{"email": {"a\xff@b.co"}, "username": {"abc"}, "password": {"long-enough-pw"}})
		}, 400},
		{"body over 64 KiB", func() response {
			return c.postForm("/auth/login", url.Values{"email": {strings.Repeat("a", 70*1024)}, "password": {"x"}})
		}, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.do()
			if r.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", r.StatusCode, tt.status, r.Body)
			}
		})
	}
	r := c.postJSON("/auth/login", `{"email":`)
	if m := r.JSON(t); m["success"] != false || m["error"] == "" {
		t.Fatalf("JSON error body: %s", r.Body)
	}
}

func TestSignedOutAccess(t *testing.T) {
	app := MustApp(t)
	c := app.NewClient(t)
	r := c.get("/dashboard")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/auth/login" {
		t.Fatalf("signed-out dashboard: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
}

// TestDisabledUserIsSignedOut: a user disabled in the database directly, with no word to
// the app, is signed out on their next request once the instance's copy of their row has
// expired (auth.AccountTTL); disabling through the app ends it at once (see
// TestAdminDisablesAndEnablesAUser and TestDisableReachesEveryInstance).
func TestDisabledUserIsSignedOut(t *testing.T) {
	app := MustApp(t)
	u, pw := app.MustUser(t, "gone@example.com", "goneuser")
	c := app.NewClient(t)
	c.login("gone@example.com", pw)
	err := db.WithSystem(context.Background(), app.pool, func(q *db.Queries) error {
		_, err := q.SetUserDisabled(context.Background(), db.SetUserDisabledParams{Handle: u.Handle, Disabled: true})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Changed behind the app's back (no announcement on the bus), the row the instance
	// holds is read again within auth.AccountTTL, and the session then ends.
	eventually(t, "the disabled user's session refused", func() bool {
		r := c.get("/dashboard")
		if r.StatusCode != http.StatusOK && r.StatusCode != http.StatusSeeOther {
			t.Fatalf("dashboard: %d", r.StatusCode)
		}
		return r.StatusCode == http.StatusSeeOther
	})
	if r := c.get("/dashboard"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("a disabled user's session still works: %d", r.StatusCode)
	}
	// And the right password no longer signs in, with the generic answer.
	r := c.postForm("/auth/login", url.Values{"email": {"gone@example.com"}, "password": {pw}})
	if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Body, auth.MsgInvalidLogin) {
		t.Fatalf("login of a disabled user: %d", r.StatusCode)
	}
}
