package handlers

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/audit"
	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/bus"
	creds "github.com/tickstock/tickstock/credentials"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/metrics"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/stream"
)

// testApp is the real Fiber app on a real listener, over a fresh database.
type testApp struct {
	URL   string
	h     *Handlers
	pool  *pgxpool.Pool
	dbURL string // the database as its superuser, past row-level security
	deps  Deps
	stop  func() // shuts the app down now, as a restart would (also run at cleanup)
}

// emit publishes one batch now, as the publisher's ticker would.
func (a *testApp) emit(tb testing.TB, events ...market.Event) {
	tb.Helper()
	a.deps.Publisher.Publish(context.Background(), stream.Batch{Events: events})
}

// noSource is the publisher's source in tests, which publish batches by hand.
type noSource struct{}

func (noSource) Next() stream.Batch { return stream.Batch{} }

// appSetup is what options adjust before the app is built: the dependencies, and the pool
// the app's own services use.
type appSetup struct {
	Deps
	pool     *pgxpool.Pool
	mailer   auth.ResetMailer                // nil: reset links go to the (discarded) log
	resetNow func() time.Time                // the reset links' clock; nil: time.Now
	addr     string                          // listen address; "" is any free port
	wrap     func(net.Listener) net.Listener // wraps the listener (nil: as is)
}

// withListener starts the app on addr ("" for any free port), its listener wrapped by wrap
// (nil for none): a restart test starts a second app where the first one was, a test that
// counts requests wraps the listener.
func withListener(addr string, wrap func(net.Listener) net.Listener) appOption {
	return func(d *appSetup) { d.addr, d.wrap = addr, wrap }
}

// appOption adjusts the setup before the app is built.
type appOption func(*appSetup)

// withRedis keeps sessions and counters in rdb under a prefix of the test's own, as
// cmd/tickstock does with REDIS_URL.
func withRedis(rdb *redis.Client, prefix string) appOption {
	return func(d *appSetup) {
		d.Counter = auth.NewRedisCounter(rdb, prefix+"count:")
		d.Sessions = auth.NewSessions(auth.SessionConfig{Redis: rdb, KeyPrefix: prefix, Bus: d.Bus})
		d.Checks = append(d.Checks, Check{Name: "redis", Ping: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }})
	}
}

// withPool runs the app on pool (say, one behind a fault proxy) instead of the direct one.
func withPool(pool *pgxpool.Pool) appOption {
	return func(d *appSetup) {
		logger := testenv.Logger()
		d.pool = pool
		d.Checks[0] = Check{Name: "database", Ping: pool.Ping}
		d.Audit = auth.NewAudit(pool, logger)
		d.Settings = settings.NewService(pool, settings.WithLogger(logger), settings.WithBus(d.Bus))
		d.Credentials = creds.New(pool, d.Bus, creds.WithLogger(logger))
	}
}

// MustApp starts the app with memory sessions unless options say otherwise.
func MustApp(tb testing.TB, opts ...appOption) *testApp {
	tb.Helper()
	pool, dbURL := testenv.MustPool(tb)
	logger := testenv.Logger()
	b := bus.NewLocal()
	d := &appSetup{pool: pool, Deps: Deps{
		Checks:     []Check{{Name: "database", Ping: pool.Ping}},
		Bus:        b,
		Logger:     logger,
		Sessions:   auth.NewSessions(auth.SessionConfig{Bus: b}),
		Counter:    auth.NewMemoryCounter(),
		Audit:      auth.NewAudit(pool, logger),
		RateLimit:  100,
		SignupOpen: true,
		Settings:   settings.NewService(pool, settings.WithLogger(logger), settings.WithBus(b)),
		Hub:        stream.NewHub(0),
		AdminAudit: audit.New(pool),
		HTTPStats:  metrics.NewHTTPStats(),
	}}
	d.Credentials = creds.New(pool, b, creds.WithLogger(logger))
	for _, o := range opts {
		o(d)
	}
	if d.Accounts == nil {
		d.Accounts = auth.NewAccounts(d.pool, d.Sessions)
	}
	if d.Publisher == nil {
		d.Publisher = stream.NewPublisher(stream.Config{Hub: d.Hub, Source: noSource{}, Settings: d.Settings,
			Logger: logger, Interval: time.Hour, Bus: d.Bus})
	}
	addr := d.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	baseURL := "http://" + ln.Addr().String()
	if d.wrap != nil {
		ln = d.wrap(ln)
	}
	if d.Resets == nil {
		if d.mailer == nil {
			d.mailer = NewResetMailer(nil, d.Logger)
		}
		d.Resets = auth.NewResets(auth.ResetConfig{Pool: d.pool, Sessions: d.Sessions, Counter: d.Counter, Mailer: d.mailer,
			Audit: d.Audit, Logger: d.Logger, BaseURL: baseURL, Now: d.resetNow})
	}
	ctx, cancel := context.WithCancel(context.Background())
	go d.Audit.Run(ctx)
	go d.Resets.Run(ctx)
	h := New(d.Deps)
	app := h.NewApp()
	go app.Listener(ln) //nolint:errcheck
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			d.Hub.Shutdown()
			_ = app.ShutdownWithTimeout(5 * time.Second)
		})
	}
	tb.Cleanup(stop)
	return &testApp{URL: baseURL, h: h, pool: pool, dbURL: dbURL, deps: d.Deps, stop: stop}
}

// MustUser creates an account and returns it with its password.
func (a *testApp) MustUser(tb testing.TB, email, username string) (db.User, string) {
	tb.Helper()
	const pw = "s3cret-password"
	u, err := a.deps.Accounts.Create(context.Background(), auth.NewAccount{Email: email, Username: username, Password: pw})
	if err != nil {
		tb.Fatalf("create user %s: %v", email, err)
	}
	return u, pw
}

// MustAdmin creates an admin account and returns it with its password.
func (a *testApp) MustAdmin(tb testing.TB, email, username string) (db.User, string) {
	tb.Helper()
	const pw = "admin-password"
	u, err := a.deps.Accounts.Create(context.Background(), auth.NewAccount{Email: email, Username: username, Password: pw, Role: auth.RoleAdmin})
	if err != nil {
		tb.Fatalf("create admin %s: %v", email, err)
	}
	return u, pw
}

// client is a browser-like HTTP client: a cookie jar, no automatic redirects, and the
// CSRF token of the last answer remembered for the next post.
type client struct {
	tb   testing.TB
	http *http.Client
	base string
	csrf string
}

func (a *testApp) NewClient(tb testing.TB) *client {
	tb.Helper()
	jar, _ := cookiejar.New(nil)
	return &client{tb: tb, base: a.URL, http: &http.Client{
		Jar:           jar,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// response is an answer with its body read.
type response struct {
	*http.Response
	Body string
}

func (r response) Doc(tb testing.TB) *goquery.Document {
	tb.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(r.Body))
	if err != nil {
		tb.Fatalf("parse HTML: %v", err)
	}
	return doc
}

func (r response) JSON(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		tb.Fatalf("parse JSON %q: %v", r.Body, err)
	}
	return m
}

func (c *client) do(req *http.Request) response {
	c.tb.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.tb.Fatalf("read body: %v", err)
	}
	if tok := resp.Header.Get("X-CSRF-Token"); tok != "" {
		c.csrf = tok
	}
	return response{Response: resp, Body: string(b)}
}

func (c *client) request(method, path string, body io.Reader, header map[string]string) response {
	c.tb.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.tb.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return c.do(req)
}

func (c *client) get(path string, header ...string) response {
	c.tb.Helper()
	return c.request(http.MethodGet, path, nil, pairs(header))
}

// ensureCSRF fetches a token if the client has none yet.
func (c *client) ensureCSRF() {
	c.tb.Helper()
	if c.csrf == "" {
		c.get("/auth/login")
	}
}

// postForm posts a form with the remembered CSRF token (unless values already has _csrf).
func (c *client) postForm(path string, values url.Values, header ...string) response {
	c.tb.Helper()
	if _, ok := values["_csrf"]; !ok {
		c.ensureCSRF()
		values.Set("_csrf", c.csrf)
	}
	h := pairs(header)
	h["Content-Type"] = "application/x-www-form-urlencoded"
	return c.request(http.MethodPost, path, strings.NewReader(values.Encode()), h)
}

// postRaw posts body exactly as given, with contentType and the remembered CSRF token in
// the header, for input a form encoder would not produce.
func (c *client) postRaw(path, contentType, body string) response {
	c.tb.Helper()
	c.ensureCSRF()
	return c.request(http.MethodPost, path, strings.NewReader(body),
		map[string]string{"Content-Type": contentType, "X-CSRF-Token": c.csrf})
}

// postJSON posts a JSON body with the CSRF header.
func (c *client) postJSON(path string, body string, header ...string) response {
	c.tb.Helper()
	c.ensureCSRF()
	h := pairs(header)
	h["Content-Type"] = "application/json"
	h["Accept"] = "application/json"
	if _, ok := h["X-CSRF-Token"]; !ok {
		h["X-CSRF-Token"] = c.csrf
	}
	return c.request(http.MethodPost, path, strings.NewReader(body), h)
}

// login signs the client in through the form.
func (c *client) login(email, password string) response {
	c.tb.Helper()
	r := c.postForm("/auth/login", url.Values{"email": {email}, "password": {password}})
	if r.StatusCode != http.StatusSeeOther {
		c.tb.Fatalf("login %s: status %d: %s", email, r.StatusCode, r.Body)
	}
	c.get("/dashboard") // pick up the new session's CSRF token
	return r
}

func (c *client) cookie(name string) *http.Cookie {
	u, _ := url.Parse(c.base)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

func pairs(kv []string) map[string]string {
	m := make(map[string]string)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// setCookieHeader finds the raw Set-Cookie line for name.
func setCookieHeader(r response, name string) string {
	for _, line := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, name+"=") {
			return line
		}
	}
	return ""
}

// eventually polls cond until it holds, failing the test after 5 seconds.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
