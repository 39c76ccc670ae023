package views

import "time"

// CredentialsView is the embed links page or the API tokens page: the form that makes
// one, the one just made (its token shown this once), and the live ones. The section is
// also the swap target of the page's htmx posts.
type CredentialsView struct {
	CSRF    string
	BaseURL string // this server, for the URLs and examples shown
	Items   []CredentialItem
	Created *CreatedCredential // set only in the answer to the post that made it
	Name    string             // what was typed, kept after an error
	Message string
	Errors  map[string]string
	Revoked string // the name of the one just revoked, for the notice
}

// CredentialItem is one live embed link or API token in the list. It never holds the
// token: that is not stored.
type CredentialItem struct {
	Handle   string // the opaque id in the revoke URL
	Name     string
	Created  time.Time
	LastUsed time.Time // last viewed (embeds) or used (tokens); zero: never
}

// CreatedCredential is the one just made, with its token.
type CreatedCredential struct {
	Name  string
	Token string
}

// Section ids: the swap targets of the pages' forms.
const (
	EmbedsSectionID = "embeds"
	TokensSectionID = "tokens"
)

// EmbedURL is the address of an embed link on this server.
func (v CredentialsView) EmbedURL(token string) string { return v.BaseURL + "/embed/" + token }

// stamp formats a credential's time for the lists, in UTC (the server does not know the
// viewer's zone), or "never".
func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("Jan 2, 2006 15:04") + " UTC"
}

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func iframeSnippet(url string) string {
	return `<iframe src="` + url + `" title="Live market panels" width="100%" height="640" style="border:0" loading="lazy"></iframe>`
}

func htmxSnippet(url string) string {
	return `<div hx-get="` + url + `?panels=highs,lows" hx-trigger="load" hx-swap="outerHTML"></div>`
}

func curlSnippet(base, token string) string {
	return `curl -N -H "Authorization: Bearer ` + token + `" "` + base + `/stream?format=json"`
}
