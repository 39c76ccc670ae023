package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// webClient is a cookie-keeping client that remembers the CSRF token.
type webClient struct {
	tb   testing.TB
	base string
	hc   *http.Client
	csrf string
}

func newWebClient(tb testing.TB, base string) *webClient {
	jar, _ := cookiejar.New(nil)
	return &webClient{tb: tb, base: base, hc: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *webClient) do(method, path string, form url.Values) (int, string) {
	c.tb.Helper()
	var body io.Reader
	if form != nil {
		form.Set("_csrf", c.csrf)
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.tb.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if tok := resp.Header.Get("X-CSRF-Token"); tok != "" {
		c.csrf = tok
	}
	return resp.StatusCode, string(b)
}

// get reads a page or an API answer.
func (c *webClient) get(path string) (int, string) {
	c.tb.Helper()
	return c.do(http.MethodGet, path, nil)
}

// post sends a form with the CSRF token and returns the status.
func (c *webClient) post(path string, v url.Values) int {
	c.tb.Helper()
	code, _ := c.do(http.MethodPost, path, v)
	return code
}
