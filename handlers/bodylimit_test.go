package handlers

import (
	"net/http"
	"strings"
	"testing"
)

// TestOversizeBodiesGetTheirAnswer: a form a little over BodyLimit gets a 413 with its
// message every time, not a reset connection (fasthttp used to answer without reading the
// body, and the client, still sending, mostly saw "connection reset by peer"); a body at
// the limit is read and judged on its fields.
func TestOversizeBodiesGetTheirAnswer(t *testing.T) {
	app := MustApp(t)
	u, pw := app.MustUser(t, "bulky@example.com", "bulkyuser")
	c := app.NewClient(t)
	c.login(u.Email, pw)
	anon := app.NewClient(t)
	anon.get("/auth/login")

	// post sends a form of exactly size bytes.
	post := func(cl *client, path string, size int) response {
		const head = "password=x&email="
		return cl.postRaw(path, "application/x-www-form-urlencoded", head+strings.Repeat("a", size-len(head)))
	}
	if r := post(anon, "/auth/login", BodyLimit); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a body of exactly BodyLimit: status %d, want 401 (judged on its fields)", r.StatusCode)
	}
	tests := []struct {
		name string
		cl   *client
		path string
		size int
	}{
		{"one byte over, signed out", anon, "/auth/login", BodyLimit + 1},
		{"70 KiB, signed in", c, "/account/password", 70 * 1024},
		{"at the read limit, signed in", c, "/account/password", bodyReadLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 40 {
				r := post(tt.cl, tt.path, tt.size)
				if r.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(r.Body, "larger than 64 KiB") {
					t.Fatalf("post %d: status %d, want 413 with its message: %.200s", i, r.StatusCode, r.Body)
				}
			}
		})
	}
	if !c.signedIn() {
		t.Fatal("oversize posts signed the user out")
	}
}
