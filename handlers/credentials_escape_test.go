package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// TestCredentialNamesAreEscaped: a name full of HTML is shown as text everywhere: in the
// answer that creates it (page and htmx), in the list, in the revoke button's label and
// confirmation, and in the revocation notice.
func TestCredentialNamesAreEscaped(t *testing.T) {
	app := MustApp(t, unlimited)
	c := signedIn(t, app, "escape@example.com", "escaper")
	for _, path := range []string{"/settings/embeds", "/settings/tokens"} {
		t.Run(path, func(t *testing.T) {
			check := func(what string, r response) *goquery.Document {
				t.Helper()
				if strings.Contains(r.Body, "<script>alert(1)</script>") || strings.Contains(r.Body, `"'&<`) {
					t.Fatalf("%s: the name is in the HTML unescaped: %s", what, r.Body)
				}
				return r.Doc(t)
			}
			for _, htmx := range []bool{false, true} {
				var header []string
				if htmx {
					header = []string{"HX-Request", "true"}
				}
				r := c.postForm(path, url.Values{"name": {hostileName}}, header...)
				if r.StatusCode != http.StatusCreated {
					t.Fatalf("create: %d %s", r.StatusCode, r.Body)
				}
				doc := check("the created answer", r)
				if !strings.Contains(doc.Find("[data-testid=created]").Text(), hostileName) {
					t.Fatalf("the notice does not show the name as text: %q", doc.Find("[data-testid=created]").Text())
				}
				if htmx && strings.Contains(r.Body, "<html") {
					t.Fatal("the htmx answer is a whole page")
				}
			}
			doc := check("the list", c.get(path))
			items := doc.Find("[data-testid=item]")
			if items.Length() != 2 {
				t.Fatalf("%d items", items.Length())
			}
			items.Each(func(_ int, it *goquery.Selection) {
				if got := it.Find("[data-testid=item-name]").Text(); got != hostileName {
					t.Fatalf("item name %q", got)
				}
				if label, _ := it.Find("[data-testid=revoke]").Attr("aria-label"); label != "Revoke "+hostileName {
					t.Fatalf("revoke label %q", label)
				}
				if confirm, _ := it.Find("form").Attr("hx-confirm"); !strings.Contains(confirm, hostileName) {
					t.Fatalf("confirmation %q", confirm)
				}
			})
			handle, _ := items.First().Attr("data-handle")
			r := c.postForm(path+"/"+handle+"/revoke", url.Values{}, "HX-Request", "true")
			doc = check("the revocation notice", r)
			if !strings.Contains(doc.Find("[data-testid=revoked]").Text(), hostileName) {
				t.Fatalf("revocation notice %q", doc.Find("[data-testid=revoked]").Text())
			}
			// A name that cannot be saved comes back in the form, escaped.
			r = c.postForm(path, url.Values{"name": {strings.Repeat("<b>", 40)}}, "HX-Request", "true")
			if r.StatusCode != http.StatusUnprocessableEntity || strings.Contains(r.Body, "<b><b>") {
				t.Fatalf("a name too long: %d %s", r.StatusCode, r.Body)
			}
			if v, _ := r.Doc(t).Find("[data-testid=name]").Attr("value"); v != strings.Repeat("<b>", 40) {
				t.Fatalf("the form lost what was typed: %q", v)
			}
		})
	}
}

// TestTokensNeverLogged: embed tokens and API tokens never reach the log or the audit
// trail, whatever happens to the requests that carry them (views, 404s, rate limiting,
// rejected and revoked tokens); paths are logged with the token masked.
func TestTokensNeverLogged(t *testing.T) {
	logs := &syncBuffer{}
	app := MustApp(t, withLogs(logs), func(d *appSetup) { d.RateLimit = 12 })
	owner := signedIn(t, app, "quiet@example.com", "quietuser")
	embed, _ := createCredential(t, owner, "/settings/embeds", "Logged?")
	token, handle := createCredential(t, owner, "/settings/tokens", "Logged?")
	fakeEmbed := "tse_" + strings.Repeat("Q", 43)
	fakeToken := "tsk_" + strings.Repeat("Z", 43)

	visitor := app.NewClient(t)
	program := app.NewClient(t)
	program.get("/api/universes", "Authorization", "Bearer "+token)
	program.get("/api/universes", "Authorization", "Bearer "+fakeToken)
	program.get("/api/universes", "Authorization", "Bearer "+fakeToken+"junk")
	owner.postForm("/settings/tokens/"+handle+"/revoke", url.Values{})
	program.get("/api/universes", "Authorization", "Bearer "+token)
	for i := 0; i < 14; i++ { // past the per-IP limit: the refusal is logged with its path
		visitor.get("/embed/" + embed)
		visitor.get("/embed/" + fakeEmbed + "/stream")
	}
	waitAuthEvent(t, app, "rate_limited")
	waitAuthEvent(t, app, "token_rejected")

	out := logs.String()
	for _, secret := range []string{embed, token, fakeEmbed, fakeToken, embed[4:], token[4:]} {
		if strings.Contains(out, secret) {
			t.Fatalf("a token is in the log:\n%s", out)
		}
	}
	for _, want := range []string{"token_rejected", "rate_limited", "/embed/[token]", "embed_created", "token_revoked"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the log lacks %q:\n%s", want, out)
		}
	}
}

func TestRedactPath(t *testing.T) {
	for in, want := range map[string]string{
		"/embed/tse_abc":               "/embed/[token]",
		"/embed/tse_abc/stream":        "/embed/[token]/stream",
		"/EMBED/tse_abc/stream":        "/embed/[token]/stream",
		"/embed/":                      "/embed/[token]",
		"/embedded/x":                  "/embedded/x",
		"/settings/embeds/h123/revoke": "/settings/embeds/h123/revoke",
		"/stream":                      "/stream",
		"":                             "",
	} {
		if got := redactPath(in); got != want {
			t.Errorf("redactPath(%q) = %q, want %q", in, got, want)
		}
	}
}
