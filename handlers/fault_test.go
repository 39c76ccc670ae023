package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/internal/faultproxy"
	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/settings"
)

// faultRoute is one request the fault tests make, and the status it gets when all is well.
type faultRoute struct {
	name string
	up   int
	do   func(f *faultClients) response
}

// faultClients are the browsers the fault tests drive: one signed in, one signed out (with
// the login form's CSRF token already in hand).
type faultClients struct {
	tb     testing.TB
	user   *client
	anon   *client // for login
	anon2  *client // for register
	pw     string
	email  string
	signup int

	program *client // a program with the user's API token
	token   string
	mu      sync.Mutex
	embeds  []string // embed tokens never yet viewed, so their lookup needs the database
}

// nextEmbed returns an embed token no request has used yet.
func (f *faultClients) nextEmbed() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.embeds) == 0 {
		f.tb.Fatal("out of fresh embed tokens")
	}
	tok := f.embeds[0]
	f.embeds = f.embeds[1:]
	return tok
}

// streamStatus opens /stream and reports its status, closing it at once.
func streamStatus(c *client) response {
	s, resp := c.openStream("/stream")
	if s != nil {
		s.close()
	}
	return response{Response: resp}
}

// faultRoutes are every signed-in route, plus login, register and logout. Logout is last:
// when it works, the user is signed in again for the next round.
var faultRoutes = []faultRoute{
	{"GET /dashboard", 200, func(f *faultClients) response { return f.user.get("/dashboard") }},
	{"GET /settings", 200, func(f *faultClients) response { return f.user.get("/settings") }},
	{"POST /settings/universes", 200, func(f *faultClients) response {
		return f.user.postForm("/settings/universes", url.Values{"tracker": {"highlow"}, "universes": {"TECH_UNIVERSE"}})
	}},
	{"POST /settings/filters", 200, func(f *faultClients) response {
		return f.user.postForm("/settings/filters", filterValues(settings.DefaultFilters()))
	}},
	{"GET /api/universes", 200, func(f *faultClients) response { return f.user.get("/api/universes") }},
	{"GET /api/user/universe-selections", 200, func(f *faultClients) response {
		return f.user.get("/api/user/universe-selections")
	}},
	{"POST /api/user/universe-selections", 200, func(f *faultClients) response {
		return f.user.postJSON("/api/user/universe-selections", `{"tracker":"market","universes":["ETF_UNIVERSE"]}`)
	}},
	{"GET /api/user-filters", 200, func(f *faultClients) response { return f.user.get("/api/user-filters") }},
	{"POST /api/user-filters", 200, func(f *faultClients) response {
		return f.user.postJSON("/api/user-filters", `{"filter_data":{"highlow":{"min_count":2}}}`)
	}},
	{"GET /stream", 200, func(f *faultClients) response { return streamStatus(f.user) }},
	{"GET /settings/embeds", 200, func(f *faultClients) response { return f.user.get("/settings/embeds") }},
	{"POST /settings/embeds", http.StatusCreated, func(f *faultClients) response {
		return f.user.postForm("/settings/embeds", url.Values{"name": {"fault"}})
	}},
	{"POST /settings/embeds/{id}/revoke", http.StatusNotFound, func(f *faultClients) response {
		return f.user.postForm("/settings/embeds/AAAAAAAAAAAAAAAAAAAAAA/revoke", url.Values{})
	}},
	{"GET /settings/tokens", 200, func(f *faultClients) response { return f.user.get("/settings/tokens") }},
	{"POST /settings/tokens", http.StatusCreated, func(f *faultClients) response {
		return f.user.postForm("/settings/tokens", url.Values{"name": {"fault"}})
	}},
	{"GET /embed/{token}", 200, func(f *faultClients) response { return f.program.get("/embed/" + f.nextEmbed()) }},
	{"GET /embed/{token}/stream", 200, func(f *faultClients) response {
		s, resp := f.program.openStream("/embed/" + f.nextEmbed() + "/stream")
		if s != nil {
			s.close()
		}
		return response{Response: resp}
	}},
	{"GET /api/universes with a token", 200, func(f *faultClients) response {
		return f.program.get("/api/universes", "Authorization", "Bearer "+f.token)
	}},
	{"GET /stream?format=json with a token", 200, func(f *faultClients) response {
		s, resp := f.program.openStream("/stream?format=json", "Authorization", "Bearer "+f.token)
		if s != nil {
			s.close()
		}
		return response{Response: resp}
	}},
	{"POST /auth/login", http.StatusSeeOther, func(f *faultClients) response {
		return f.anon.postForm("/auth/login", url.Values{"email": {f.email}, "password": {f.pw}})
	}},
	{"POST /auth/register", http.StatusSeeOther, func(f *faultClients) response {
		f.signup++
		return f.anon2.postForm("/auth/register", url.Values{"email": {fmt.Sprintf("new%d-%d@example.com", f.signup, time.Now().UnixNano())},
			"username": {"newcomer"}, "password": {"long-enough-pw"}})
	}},
	{"POST /auth/logout", http.StatusSeeOther, func(f *faultClients) response {
		r := f.user.postForm("/auth/logout", url.Values{})
		if r.StatusCode == http.StatusSeeOther {
			f.user.get("/auth/login") // a token for the signed-out browser
			f.user.login(f.email, f.pw)
		}
		return r
	}},
}

// fresh gives the signed-out clients new sessions and tokens for the next round.
func (f *faultClients) fresh(app *testApp) {
	f.anon, f.anon2 = app.NewClient(f.tb), app.NewClient(f.tb)
	f.anon.get("/auth/login")
	f.anon2.get("/auth/register")
}

// checkAll makes every route's request and wants each to answer want (0: its status when
// all is well), with no internal detail in a 503.
func checkAll(t *testing.T, f *faultClients, down bool) {
	t.Helper()
	for _, rt := range faultRoutes {
		r := rt.do(f)
		want := rt.up
		if down {
			want = http.StatusServiceUnavailable
		}
		if r.StatusCode != want {
			t.Errorf("%s: %d, want %d: %.300s", rt.name, r.StatusCode, want, r.Body)
			continue
		}
		if down {
			low := strings.ToLower(r.Body)
			for _, leak := range []string{"127.0.0.1", "redis", "pgx", "postgres", "dial", "conn"} {
				if strings.Contains(low, leak) {
					t.Errorf("%s: the 503 leaks %q: %.300s", rt.name, leak, r.Body)
				}
			}
			if r.Header.Get("Retry-After") == "" {
				t.Errorf("%s: 503 without Retry-After", rt.name)
			}
		}
	}
}

// waitReady polls /readyz until it answers want.
func waitReady(t *testing.T, app *testApp, want int) {
	t.Helper()
	c := app.NewClient(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := c.get("/readyz")
		if r.StatusCode == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz stayed %d, want %d", r.StatusCode, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDatabaseAwayFailsClosed: with PostgreSQL gone (every established connection dropped
// and new ones refused), every signed-in route (once the account rows read before are
// auth.AccountTTL old), login, register and logout answers 503,
// never 500, /readyz says so, and all of it works again once the database is back, without
// restarting the app.
func TestDatabaseAwayFailsClosed(t *testing.T) {
	dbURL := testenv.MustDatabase(t)
	p := faultproxy.MustStart(t, testenv.MustHostPort(t, dbURL))
	pool, err := db.Open(context.Background(), testenv.WithHostPort(t, dbURL, p.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	app := MustApp(t, withPool(pool), unlimited)
	f := newFaultClients(t, app)

	checkAll(t, f, false)
	p.Down()
	waitReady(t, app, http.StatusServiceUnavailable)
	// The account rows an instance read before the outage serve requests for at most
	// auth.AccountTTL; after that, a signed-in request needs the database again.
	time.Sleep(auth.AccountTTL)
	f.fresh(app)
	checkAll(t, f, true)
	// Twice: the pool's connections are all dead or refused by now, not only the first.
	checkAll(t, f, true)

	p.Up()
	waitReady(t, app, 200)
	f.fresh(app)
	checkAll(t, f, false)
}

// TestRedisAwayFailsClosed: the same with Redis (sessions, rate limits, lockouts) gone.
func TestRedisAwayFailsClosed(t *testing.T) {
	_, prefix := testenv.MustRedis(t)
	p := faultproxy.MustStart(t, testenv.MustHostPort(t, testenv.RedisURL()))
	opts, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	opts.Addr = p.Addr()
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout = time.Second, time.Second, time.Second, time.Second
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	app := MustApp(t, withRedis(rdb, prefix), unlimited)
	f := newFaultClients(t, app)

	checkAll(t, f, false)
	p.Down()
	waitReady(t, app, http.StatusServiceUnavailable)
	checkAll(t, f, true)

	// Back: the sessions were kept, so the same browsers carry on.
	p.Up()
	waitReady(t, app, 200)
	f.fresh(app)
	checkAll(t, f, false)
}

func newFaultClients(t *testing.T, app *testApp) *faultClients {
	t.Helper()
	_, pw := app.MustUser(t, "faulty@example.com", "faulty")
	f := &faultClients{tb: t, user: app.NewClient(t), pw: pw, email: "faulty@example.com", program: app.NewClient(t)}
	f.user.login(f.email, f.pw)
	f.token, _ = createCredential(t, f.user, "/settings/tokens", "fault program")
	for range 16 {
		tok, _ := createCredential(t, f.user, "/settings/embeds", "fault page")
		f.embeds = append(f.embeds, tok)
	}
	f.fresh(app)
	return f
}

// TestStalledDatabaseAnswersInTime: a PostgreSQL that accepts connections but never
// answers (a hung server, a partition) gets 503s within the requests' deadlines, not
// hanging requests; and service resumes when it answers again.
func TestStalledDatabaseAnswersInTime(t *testing.T) {
	dbURL := testenv.MustDatabase(t)
	p := faultproxy.MustStart(t, testenv.MustHostPort(t, dbURL))
	pool, err := db.Open(context.Background(), testenv.WithHostPort(t, dbURL, p.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	app := MustApp(t, withPool(pool), unlimited)
	f := newFaultClients(t, app)
	f.user.get("/dashboard") // the user's settings are cached now

	p.Stall(true)
	time.Sleep(auth.AccountTTL) // and the copy of their account row has expired (see TestDatabaseAwayFailsClosed)
	// Each route on its own browser, all at once: a stall must not make them queue.
	var wg sync.WaitGroup
	type result struct {
		name   string
		status int
		took   time.Duration
	}
	results := make(chan result, len(faultRoutes))
	for _, rt := range faultRoutes {
		if rt.name == "POST /auth/logout" || rt.name == "POST /auth/register" {
			continue // register spends its time hashing before the database; logout re-signs in
		}
		g := &faultClients{tb: t, user: app.NewClient(t), pw: f.pw, email: f.email, program: f.program, token: f.token}
		if strings.HasPrefix(rt.name, "GET /embed/") {
			g.embeds = []string{f.nextEmbed()}
		}
		g.user.http.Jar = f.user.http.Jar
		g.user.csrf = f.user.csrf
		g.anon = app.NewClient(t)
		g.anon.http.Jar = f.anon.http.Jar
		g.anon.csrf = f.anon.csrf
		wg.Go(func() {
			start := time.Now()
			r := rt.do(g)
			results <- result{rt.name, r.StatusCode, time.Since(start)}
		})
	}
	wg.Wait()
	close(results)
	for r := range results {
		// Request steps bound their database calls at 5 s (login at 10 s, for hashing).
		limit := 7 * time.Second
		if r.name == "POST /auth/login" {
			limit = 12 * time.Second
		}
		t.Logf("%s with PostgreSQL stalled: %d after %s", r.name, r.status, r.took.Round(time.Millisecond))
		if r.status != http.StatusServiceUnavailable || r.took > limit {
			t.Errorf("%s with PostgreSQL stalled: %d after %s, want 503 within %s", r.name, r.status, r.took.Round(time.Millisecond), limit)
		}
	}
	p.Up()
	waitReady(t, app, 200)
	eventually(t, "the dashboard after the stall", func() bool { return f.user.get("/dashboard").StatusCode == 200 })
}
