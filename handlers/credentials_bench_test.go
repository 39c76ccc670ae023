package handlers

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkReadAPI compares one GET /api/user-filters through the real app (rate limit,
// user lookup, settings cache) with a session cookie and with an API token.
func BenchmarkReadAPI(b *testing.B) {
	app := MustApp(b, unlimited)
	_, pw := app.MustUser(b, "bench@example.com", "bencher")
	browser := app.NewClient(b)
	browser.login("bench@example.com", pw)
	r := browser.postForm("/settings/tokens", map[string][]string{"name": {"bench"}})
	doc := r.Doc(b)
	token, _ := doc.Find("[data-testid=created-token]").Attr("value")
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	run := func(b *testing.B, req *http.Request) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body) //nolint:errcheck
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	}
	b.Run("session", func(b *testing.B) {
		req, _ := http.NewRequest("GET", app.URL+"/api/user-filters", nil)
		req.AddCookie(browser.cookie("tickstock_session"))
		run(b, req)
	})
	b.Run("token", func(b *testing.B) {
		req, _ := http.NewRequest("GET", app.URL+"/api/user-filters", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		run(b, req)
	})
}
