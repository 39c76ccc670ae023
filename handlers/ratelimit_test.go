package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/internal/faultproxy"
	"github.com/tickstock/tickstock/internal/testenv"
)

// countingStore is a session store that counts what is written to it.
type countingStore struct {
	auth.Storage
	mu   sync.Mutex
	keys map[string]int // key → writes
}

func (c *countingStore) SetWithContext(ctx context.Context, k string, v []byte, exp time.Duration) error {
	c.mu.Lock()
	c.keys[k]++
	c.mu.Unlock()
	return c.Storage.SetWithContext(ctx, k, v, exp)
}

func (c *countingStore) counts() (sessions, writes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.keys {
		sessions++
		writes += n
	}
	return sessions, writes
}

// redisSessions counts the session records under prefix.
func redisSessions(t *testing.T, prefix string) int {
	t.Helper()
	rdb, _ := testenv.MustRedis(t)
	keys, err := rdb.Keys(context.Background(), prefix+"sess:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

// TestRateLimitBeforeSessions: a signed-out flood past the per-IP limit costs a counter step
// per request and nothing else. The requests that got through each made one session (no
// cookie was kept), the refused ones none; a visitor who keeps the cookie makes one session
// however many pages they load. Memory and Redis sessions alike.
func TestRateLimitBeforeSessions(t *testing.T) {
	const limit = 10
	rdb, prefix := testenv.MustRedis(t)
	mem := &countingStore{Storage: auth.NewMemoryStorage(), keys: map[string]int{}}
	setups := map[string]struct {
		opt   appOption
		count func() int
	}{
		"memory": {func(d *appSetup) { d.Sessions = auth.NewSessions(auth.SessionConfig{Bus: d.Bus, Storage: mem}) },
			func() int { n, _ := mem.counts(); return n }},
		"redis": {withRedis(rdb, prefix), func() int { return redisSessions(t, prefix) }},
	}
	for name, setup := range setups {
		t.Run(name, func(t *testing.T) {
			app := MustApp(t, setup.opt, func(d *appSetup) { d.RateLimit = limit })
			noJar := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			ok, limited := 0, 0
			for range 5 * limit {
				resp, err := noJar.Get(app.URL + "/auth/login")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok++
				case http.StatusTooManyRequests:
					limited++
				default:
					t.Fatalf("flood answer %d", resp.StatusCode)
				}
			}
			if ok != limit || limited != 4*limit {
				t.Fatalf("%d allowed, %d refused; want %d and %d", ok, limited, limit, 4*limit)
			}
			if n := setup.count(); n != ok {
				t.Fatalf("%d sessions stored after a flood of %d with %d allowed: the refused ones made sessions", n, 5*limit, ok)
			}
		})
	}
	t.Run("one visitor, one session", func(t *testing.T) {
		store := &countingStore{Storage: auth.NewMemoryStorage(), keys: map[string]int{}}
		app := MustApp(t, func(d *appSetup) {
			d.Sessions = auth.NewSessions(auth.SessionConfig{Bus: d.Bus, Storage: store})
			d.RateLimit = limit
		})
		c := app.NewClient(t)
		for range limit {
			for _, path := range []string{"/auth/login"} {
				if r := c.get(path); r.StatusCode != 200 {
					t.Fatalf("GET %s: %d", path, r.StatusCode)
				}
			}
		}
		if r := c.get("/"); r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("request over the limit: %d", r.StatusCode)
		}
		if sessions, writes := store.counts(); sessions != 1 || writes != 1 {
			t.Fatalf("%d page loads by one visitor made %d sessions with %d writes, want 1 and 1", limit+1, sessions, writes)
		}
	})
}

// TestRateLimitBeforeDatabase: a signed-in user over the limit is refused before any
// database query: with PostgreSQL gone, the answer is still 429, not 503.
func TestRateLimitBeforeDatabase(t *testing.T) {
	dbURL := testenv.MustDatabase(t)
	p := faultproxy.MustStart(t, testenv.MustHostPort(t, dbURL))
	pool, err := db.Open(context.Background(), testenv.WithHostPort(t, dbURL, p.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	app := MustApp(t, withPool(pool), func(d *appSetup) { d.RateLimit = 5 })
	c := signedIn(t, app, "flood@example.com", "flooder")
	for i := 0; ; i++ {
		r := c.get("/api/user-filters")
		if r.StatusCode == http.StatusTooManyRequests {
			break
		}
		if r.StatusCode != 200 || i > 5 {
			t.Fatalf("request %d: %d", i, r.StatusCode)
		}
	}
	p.Down()
	for range 3 {
		if r := c.get("/api/user-filters"); r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("over the limit with PostgreSQL gone: %d, want 429 (the limit comes first)", r.StatusCode)
		}
	}
}

// TestTrustedProxies: X-Forwarded-For picks the rate-limit bucket only when the request
// comes from a trusted proxy, and then the right-most address that is not a trusted proxy
// is the client: whatever a client writes to its left is ignored.
func TestTrustedProxies(t *testing.T) {
	const limit = 3
	get := func(t *testing.T, app *testApp, xff ...string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, app.URL+"/api/universes", nil)
		for _, v := range xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("untrusted peer", func(t *testing.T) {
		app := MustApp(t, func(d *appSetup) { d.RateLimit = limit })
		// Each request claims another client; they all count against the peer's address.
		for i, xff := range []string{"203.0.113.1", "203.0.113.2", "198.51.100.7, 203.0.113.3"} {
			if got := get(t, app, xff); got != http.StatusUnauthorized { // signed out: /api answers 401, counted
				t.Fatalf("request %d: %d", i, got)
			}
		}
		if got := get(t, app, "203.0.113.4"); got != http.StatusTooManyRequests {
			t.Fatalf("a forged X-Forwarded-For escaped the peer's bucket: %d", got)
		}
	})
	t.Run("trusted proxy", func(t *testing.T) {
		app := MustApp(t, func(d *appSetup) {
			d.RateLimit = limit
			d.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.9.0.0/16")}
		})
		for range limit {
			if got := get(t, app, "203.0.113.1"); got != http.StatusUnauthorized {
				t.Fatalf("client 1: %d", got)
			}
		}
		tests := []struct {
			name string
			xff  []string
			want int
		}{
			{"same client again", []string{"203.0.113.1"}, http.StatusTooManyRequests},
			{"forged left part", []string{"198.51.100.7, 203.0.113.1"}, http.StatusTooManyRequests},
			{"behind a second trusted proxy", []string{"203.0.113.1, 10.9.0.4"}, http.StatusTooManyRequests},
			{"header repeated", []string{"198.51.100.7", "203.0.113.1"}, http.StatusTooManyRequests},
			{"with a port", []string{"203.0.113.1:5123"}, http.StatusTooManyRequests},
			{"another client", []string{"203.0.113.2"}, http.StatusUnauthorized},
			{"another client, forging the first", []string{"203.0.113.1, 203.0.113.9"}, http.StatusUnauthorized},
			{"an untrusted hop is the client", []string{"203.0.113.1, 10.8.0.1"}, http.StatusUnauthorized},
		}
		for _, tt := range tests {
			if got := get(t, app, tt.xff...); got != tt.want {
				t.Errorf("%s (%q): %d, want %d", tt.name, tt.xff, got, tt.want)
			}
		}
		// Without the header, the proxy itself is the client.
		for range limit {
			get(t, app)
		}
		if got := get(t, app); got != http.StatusTooManyRequests {
			t.Fatalf("the proxy's own requests: %d", got)
		}
	})
}

// TestChainCtx checks that a step after rateLimit gets the chain's context, which the
// step's cancel leaves alone for the steps after it, and that a step run without rateLimit
// gets a deadline of its own.
func TestChainCtx(t *testing.T) {
	app := fiber.New()
	app.Get("/alone", func(c *fiber.Ctx) error {
		ctx, cancel := chainCtx(c)
		defer cancel()
		if d, ok := ctx.Deadline(); !ok || time.Until(d) > chainTimeout || time.Until(d) < chainTimeout-time.Second {
			t.Errorf("a step without rateLimit: deadline %v, %v", d, ok)
		}
		return nil
	})
	app.Get("/chain", func(c *fiber.Ctx) error {
		chain, cancel := context.WithTimeout(context.Background(), chainTimeout)
		defer cancel()
		stateOf(c).chain = chain
		for range 3 {
			ctx, cancel := chainCtx(c)
			cancel()
			if ctx != chain || ctx.Err() != nil {
				t.Errorf("a step's context is not the chain's, or the step's cancel ended it")
			}
		}
		return nil
	})
	for _, path := range []string{"/alone", "/chain"} {
		if _, err := app.Test(httptest.NewRequest("GET", path, nil)); err != nil {
			t.Fatal(err)
		}
	}
}
