package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"sync"
	"time"
)

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
