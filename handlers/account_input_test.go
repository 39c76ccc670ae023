package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAccountBadInput: malformed or hostile input to every account and reset route gets a
// clear 4xx, never a 500.
func TestAccountBadInput(t *testing.T) {
	app := MustApp(t)
	u, pw := app.MustUser(t, "fuzzy@example.com", "fuzzyuser")
	c := app.NewClient(t)
	c.login(u.Email, pw)
	anon := app.NewClient(t)
	anon.get("/auth/forgot")
	token := strings.TrimPrefix(mustResetPath(t, app, u.ID), "/auth/reset/")

	raw := func(cl *client, path, contentType, body string) func() response {
		return func() response { return cl.postRaw(path, contentType, body) }
	}
	form := func(cl *client, path string, v url.Values) func() response {
		return func() response { return cl.postForm(path, v) }
	}
	long := strings.Repeat("p", 200)
	tests := []struct {
		name string
		do   func() response
		want []int
	}{
		{"password: invalid UTF-8", raw(c, "/account/password", "application/x-www-form-urlencoded", "current_password=%ff&new_password=x"), []int{400}},
		{"password: broken multipart", raw(c, "/account/password", "multipart/form-data; boundary=X", "--X\r\nbroken"), []int{400}},
		{"password: multipart without boundary", raw(c, "/account/password", "multipart/form-data", "x"), []int{400}},
		{"password: JSON garbage", raw(c, "/account/password", "application/json", `{"current_password":`), []int{400, 422}},
		{"password: nothing", form(c, "/account/password", url.Values{}), []int{422}},
		{"password: 200 characters", form(c, "/account/password", url.Values{"current_password": {long}, "new_password": {long}}), []int{422}},
		{"password: NUL bytes", form(c, "/account/password", url.Values{"current_password": {"\x00\x00"}, "new_password": {"\x00\x00\x00\x00\x00\x00\x00\x00"}}), []int{422}},
		{"password: over 64 KiB", form(c, "/account/password", url.Values{"current_password": {strings.Repeat("a", 70*1024)}}), []int{413}},
		{"delete: invalid UTF-8", raw(c, "/account/delete", "application/x-www-form-urlencoded", "password=%c3%28"), []int{400}},
		{"delete: no password", form(c, "/account/delete", url.Values{}), []int{422}},
		{"revoke: junk handle", form(c, "/account/sessions/%00%ff/revoke", url.Values{}), []int{404}},
		{"revoke: long handle", form(c, "/account/sessions/"+strings.Repeat("A", 4000)+"/revoke", url.Values{}), []int{404, 431}},
		{"revoke: dot segments", form(c, "/account/sessions/../revoke", url.Values{}), []int{404}},
		{"forgot: invalid UTF-8", raw(anon, "/auth/forgot", "application/x-www-form-urlencoded", "email=%ff%fe"), []int{400}},
		{"forgot: no email", form(anon, "/auth/forgot", url.Values{}), []int{422}},
		{"forgot: display name", form(anon, "/auth/forgot", url.Values{"email": {"Bob <bob@example.com>"}}), []int{422}},
		{"forgot: header injection", form(anon, "/auth/forgot", url.Values{"email": {"a@example.com\r\nBcc: b@example.com"}}), []int{422}},
		{"forgot: 300 characters", form(anon, "/auth/forgot", url.Values{"email": {strings.Repeat("a", 290) + "@example.com"}}), []int{422}},
		{"reset: invalid UTF-8", raw(anon, "/auth/reset/"+token, "application/x-www-form-urlencoded", "password=%ff"), []int{400}},
		{"reset: short password", form(anon, "/auth/reset/"+token, url.Values{"password": {"x"}}), []int{422}},
		{"reset: junk token", form(anon, "/auth/reset/%ff%00", url.Values{"password": {"long-enough-pw"}}), []int{404}},
		{"reset: token of the wrong length", form(anon, "/auth/reset/"+token+"A", url.Values{"password": {"long-enough-pw"}}), []int{404}},
		{"reset: long token", func() response { return anon.get("/auth/reset/" + strings.Repeat("Z", 5000)) }, []int{404, 431}},
		{"reset: unicode token", func() response { return anon.get("/auth/reset/" + url.PathEscape(strings.Repeat("é", 43))) }, []int{404}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.do()
			ok := false
			for _, s := range tt.want {
				ok = ok || r.StatusCode == s
			}
			if !ok {
				t.Fatalf("status %d, want one of %v: %s", r.StatusCode, tt.want, r.Body)
			}
		})
	}
	// None of it changed the password, used the link or signed anyone out.
	if !c.signedIn() {
		t.Fatal("bad input signed the user out")
	}
	if r := anon.get("/auth/reset/" + token); r.StatusCode != http.StatusOK {
		t.Fatalf("bad input spent the link: %d", r.StatusCode)
	}
	// Signed out, the account routes redirect to the login form (pages) and change nothing.
	for _, p := range []string{"/account/password", "/account/delete", "/account/sessions/revoke-others"} {
		if r := anon.postForm(p, url.Values{"password": {pw}}); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/auth/login" {
			t.Fatalf("signed-out POST %s: %d", p, r.StatusCode)
		}
	}
	if r := anon.get("/account"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("signed-out GET /account: %d", r.StatusCode)
	}
	// And without the CSRF token: 403, nothing done.
	if r := c.postForm("/account/delete", url.Values{"password": {pw}, "_csrf": {"nope"}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("delete without CSRF: %d", r.StatusCode)
	}
	if !c.signedIn() {
		t.Fatal("a forged delete went through")
	}
}

func mustResetPath(t *testing.T, app *testApp, userID int64) string {
	t.Helper()
	link, err := app.deps.Resets.Create(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	return path(t, link.URL)
}
