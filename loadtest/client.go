package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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

// do sends one request as s and returns the status and body. A url.Values body is sent as
// a form, any other as JSON;
// state-changing requests carry the CSRF token. A 429 with a short Retry-After, or a 503,
// is retried a few times, since set-up must not fail on a passing limit.
func (c *client) do(ctx context.Context, s *session, method, path string, in any) (int, []byte, error) {
	var payload []byte
	contentType := "application/json"
	if form, ok := in.(url.Values); ok {
		payload, contentType = []byte(form.Encode()), "application/x-www-form-urlencoded"
	} else if in != nil {
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
			req.Header.Set("Content-Type", contentType)
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
