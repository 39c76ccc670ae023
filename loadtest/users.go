package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// client makes the few ordinary requests of the set-up phase (sign-in, settings, metrics)
// through net/http, keeping each user's cookies by hand: a cookie jar would hold back a
// Secure cookie from a plain-HTTP URL, and the server under test may well set one.
type client struct {
	t    *target
	http *http.Client
}

func newClient(t *target, conns int) *client {
	tr := &http.Transport{
		DialContext:         t.dialer.DialContext,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     30 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	return &client{t: t, http: &http.Client{
		Transport:     tr,
		Timeout:       60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// session is one signed-in (or signing-in) user agent: its cookies and CSRF token.
type session struct {
	email   string
	cookies map[string]string
	csrf    string
}

func newSession(email string) *session {
	return &session{email: email, cookies: map[string]string{}}
}

// cookieHeader is the Cookie request header for the session's cookies.
func (s *session) cookieHeader() string {
	var b strings.Builder
	for name, v := range s.cookies {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(v)
	}
	return b.String()
}

func (s *session) keep(resp *http.Response) {
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(s.cookies, ck.Name)
			continue
		}
		s.cookies[ck.Name] = ck.Value
	}
	if tok := resp.Header.Get("X-CSRF-Token"); tok != "" {
		s.csrf = tok
	}
}

// httpError is a response the set-up phase did not expect.
type httpError struct {
	method, path string
	status       int
	msg          string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.method, e.path, e.status, e.msg)
}

// errorMessage pulls {"error": "..."} out of a JSON answer, or a short excerpt of the body.
func errorMessage(body []byte) string {
	var v struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil && v.Error != "" {
		return v.Error
	}
	return truncate(strings.Join(strings.Fields(string(body)), " "), 120)
}

// do sends one request as s and returns the status and body. JSON bodies are encoded;
// state-changing requests carry the CSRF token. A 429 with a short Retry-After, or a 503,
// is retried a few times, since set-up must not fail on a passing limit.
func (c *client) do(ctx context.Context, s *session, method, path string, in any) (int, []byte, error) {
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return 0, nil, fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, c.t.url(path), bytes.NewReader(payload))
		if err != nil {
			return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "tickstock-bench")
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if method != http.MethodGet && s.csrf != "" {
			req.Header.Set("X-CSRF-Token", s.csrf)
		}
		if ck := s.cookieHeader(); ck != "" {
			req.Header.Set("Cookie", ck)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			return 0, nil, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
		}
		s.keep(resp)
		wait := retryAfter(resp)
		if attempt < 5 && wait > 0 {
			select {
			case <-ctx.Done():
				return 0, nil, ctx.Err()
			case <-time.After(wait):
			}
			continue
		}
		return resp.StatusCode, body, nil
	}
}

// retryAfter says how long to wait before trying a 429 or 503 again, or 0 not to retry:
// a lockout (15 minutes) is not worth waiting for.
func retryAfter(resp *http.Response) time.Duration {
	switch resp.StatusCode {
	case http.StatusServiceUnavailable:
		return time.Second
	case http.StatusTooManyRequests:
		secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || secs > 65 {
			return 0
		}
		return time.Duration(max(secs, 1)) * time.Second
	}
	return 0
}

// Account names the users the tool signs in as.
type Account struct {
	Email, Username, Password string
}

// benchAccount is user i of the run.
func benchAccount(prefix, domain, password string, i int) Account {
	name := prefix + strconv.Itoa(i)
	return Account{Email: name + "@" + domain, Username: name, Password: password}
}

// signIn signs a in through the app's own routes, registering the account first when
// create is set (a taken email means it exists already, and the tool logs in), and returns
// the session with its post-login CSRF token.
func (c *client) signIn(ctx context.Context, a Account, create bool) (*session, error) {
	s := newSession(a.Email)
	status, body, err := c.do(ctx, s, http.MethodGet, "/auth/login", nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, &httpError{"GET", "/auth/login", status, errorMessage(body)}
	}
	var page struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.Unmarshal(body, &page); err != nil || page.CSRF == "" {
		return nil, fmt.Errorf("GET /auth/login with Accept: application/json gave no csrf_token: %s", truncate(string(body), 120))
	}
	s.csrf = page.CSRF
	signedIn := false
	if create {
		status, body, err := c.do(ctx, s, http.MethodPost, "/auth/register",
			map[string]string{"email": a.Email, "username": a.Username, "password": a.Password})
		switch {
		case err != nil:
			return nil, err
		case status == http.StatusOK:
			signedIn = true
		case status == http.StatusNotFound:
			return nil, fmt.Errorf("POST /auth/register: 404: self-registration is closed (TICKSTOCK_SIGNUP=closed); create the users another way and drop --create-users")
		case status == http.StatusUnprocessableEntity:
			// Most likely the email is taken: the user exists from an earlier run.
		default:
			return nil, &httpError{"POST", "/auth/register", status, errorMessage(body)}
		}
	}
	if !signedIn {
		status, body, err := c.do(ctx, s, http.MethodPost, "/auth/login",
			map[string]string{"email": a.Email, "password": a.Password})
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("sign in as %s: %w", a.Email, &httpError{"POST", "/auth/login", status, errorMessage(body)})
		}
	}
	// The session id and its CSRF token are new after sign-in: fetch the token from any
	// signed-in answer's X-CSRF-Token header, or from the page's meta tag.
	s.csrf = ""
	status, body, err = c.do(ctx, s, http.MethodGet, "/api/user-filters", nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("signed in as %s, but: %w", a.Email, &httpError{"GET", "/api/user-filters", status, errorMessage(body)})
	}
	if s.csrf == "" {
		if err := c.csrfFromPage(ctx, s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

var csrfMetaRE = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)"`)

func (c *client) csrfFromPage(ctx context.Context, s *session) error {
	status, body, err := c.do(ctx, s, http.MethodGet, "/dashboard", nil)
	if err != nil {
		return err
	}
	m := csrfMetaRE.FindSubmatch(body)
	if status != http.StatusOK || m == nil {
		return fmt.Errorf("signed in as %s, but found no CSRF token (GET /dashboard: HTTP %d)", s.email, status)
	}
	s.csrf = string(m[1])
	return nil
}

// applySettings saves g's settings (see GroupSettings) for s's user.
func (c *client) applySettings(ctx context.Context, s *session, g GroupSettings) error {
	for _, sel := range []struct {
		tracker   string
		universes []string
	}{{"highlow", g.HighLow}, {"market", g.Market}} {
		status, body, err := c.do(ctx, s, http.MethodPost, "/api/user/universe-selections",
			map[string]any{"tracker": sel.tracker, "universes": sel.universes})
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("settings of %s: %w", s.email, &httpError{"POST", "/api/user/universe-selections", status, errorMessage(body)})
		}
	}
	status, body, err := c.do(ctx, s, http.MethodPost, "/api/user-filters", map[string]any{"filter_data": g.Filters})
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("settings of %s: %w", s.email, &httpError{"POST", "/api/user-filters", status, errorMessage(body)})
	}
	return nil
}

// signInAll signs in users 0..n-1 with conc requests at a time and, when groups > 0, gives
// user i the settings of group i % groups. Password hashing makes this the slow part of a
// large run, so it reports progress.
func (c *client) signInAll(ctx context.Context, o *Options, n, conc int) ([]*session, error) {
	cache, err := loadSessions(o.SessionsFile, c.t.base.String())
	if err != nil {
		return nil, err
	}
	sessions := make([]*session, n)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan int)
	var wg sync.WaitGroup
	var done sync.Mutex
	finished, lastLog := 0, time.Now()
	for range conc {
		wg.Go(func() {
			for i := range jobs {
				a := benchAccount(o.EmailPrefix, o.EmailDomain, o.Password, i)
				s := c.resume(ctx, cache, a.Email)
				var err error
				if s == nil {
					s, err = c.signIn(ctx, a, o.CreateUsers)
				}
				if err == nil && o.Groups > 0 {
					err = c.applySettings(ctx, s, SettingsOf(i%o.Groups))
				}
				if err != nil {
					cancel(err)
					continue
				}
				sessions[i] = s
				done.Lock()
				finished++
				if time.Since(lastLog) > 5*time.Second {
					lastLog = time.Now()
					o.logf("signed in %d/%d users", finished, n)
				}
				done.Unlock()
			}
		})
	}
feed:
	for i := range n {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	if err := saveSessions(o.SessionsFile, c.t.base.String(), sessions); err != nil {
		return nil, err
	}
	return sessions, nil
}

// sessionsFile is what --sessions keeps between runs: the cookies of each bench user's
// session, for one URL. Password hashing makes signing in the slow part of a large run
// (2,375 users for 19,000 streams); with REDIS_URL the server keeps sessions across
// restarts, so a later run can reuse them.
type sessionsFile struct {
	URL      string                       `json:"url"`
	Sessions map[string]map[string]string `json:"sessions"` // email → cookie name → value
}

func loadSessions(path, url string) (map[string]map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read --sessions file: %w", err)
	}
	var f sessionsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("read --sessions file %s: %w", path, err)
	}
	if f.URL != url {
		return nil, nil
	}
	return f.Sessions, nil
}

func saveSessions(path, url string, sessions []*session) error {
	if path == "" {
		return nil
	}
	f := sessionsFile{URL: url, Sessions: map[string]map[string]string{}}
	for _, s := range sessions {
		f.Sessions[s.email] = s.cookies
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	// The cookies are bearer secrets for the bench accounts: owner-only.
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write --sessions file: %w", err)
	}
	return nil
}

// resume returns the cached session of email if the server still honours it (a cheap
// signed-in request, which also gives the CSRF token), or nil.
func (c *client) resume(ctx context.Context, cache map[string]map[string]string, email string) *session {
	cookies := cache[email]
	if len(cookies) == 0 {
		return nil
	}
	s := newSession(email)
	for k, v := range cookies {
		s.cookies[k] = v
	}
	status, _, err := c.do(ctx, s, http.MethodGet, "/api/user-filters", nil)
	if err != nil || status != http.StatusOK || s.csrf == "" {
		return nil
	}
	return s
}

var errNoMetrics = errors.New("the server has no /api/admin/metrics")

// metrics reads GET /api/admin/metrics as the admin session, as a generic JSON tree.
func (c *client) metrics(ctx context.Context, admin *session) (map[string]any, error) {
	status, body, err := c.do(ctx, admin, http.MethodGet, "/api/admin/metrics", nil)
	if err != nil {
		return nil, err
	}
	if status == http.StatusNotFound {
		return nil, errNoMetrics
	}
	if status != http.StatusOK {
		return nil, &httpError{"GET", "/api/admin/metrics", status, errorMessage(body)}
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("GET /api/admin/metrics: %w", err)
	}
	return m, nil
}

// findNumber looks for the first of keys anywhere in a JSON tree (breadth first), so the
// tool reads "goroutines" or "rss_bytes" wherever the metrics put them.
func findNumber(tree map[string]any, keys ...string) (float64, bool) {
	queue := []map[string]any{tree}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		for _, k := range keys {
			if v, ok := m[k].(float64); ok {
				return v, true
			}
		}
		for _, v := range m {
			if sub, ok := v.(map[string]any); ok {
				queue = append(queue, sub)
			}
		}
	}
	return 0, false
}
