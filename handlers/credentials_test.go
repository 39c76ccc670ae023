package handlers

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/stream"
)

// Helpers shared by the embed and API token tests.

// createCredential posts the create form at path (/settings/embeds or /settings/tokens)
// and returns the token the answer shows (for an embed, taken from its link) and the new
// item's handle.
func createCredential(t *testing.T, c *client, path, name string) (token, handle string) {
	t.Helper()
	r := c.postForm(path, url.Values{"name": {name}})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create at %s: %d %s", path, r.StatusCode, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("the answer that shows a token has Cache-Control %q, want no-store", cc)
	}
	doc := r.Doc(t)
	shown, ok := doc.Find("[data-testid=created-token]").Attr("value")
	if !ok {
		t.Fatalf("no token shown: %s", r.Body)
	}
	token = strings.TrimPrefix(shown, c.base+"/embed/")
	handle, _ = doc.Find("[data-testid=item]").First().Attr("data-handle")
	if handle == "" || strings.Contains(handle, token) {
		t.Fatalf("handle %q", handle)
	}
	return token, handle
}

// withHub runs the app on hub.
func withHub(hub *stream.Hub) appOption { return func(d *appSetup) { d.Hub = hub } }

// syncBuffer is a log sink tests can read while the app writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// rowSymbols returns the data-symbol of every row in an HTML fragment.
func rowSymbols(t *testing.T, fragment string) []string {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader("<table>" + fragment + "</table>"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	doc.Find("tr[data-symbol]").Each(func(_ int, s *goquery.Selection) {
		sym, _ := s.Attr("data-symbol")
		out = append(out, sym)
	})
	return out
}

// shownSymbols returns the symbols of the events of kind that a user's stored settings
// let through, as the user's panels would show them.
func shownSymbols(t *testing.T, app *testApp, userID int64, kind market.EventKind, events []market.Event) []string {
	t.Helper()
	ctx := context.Background()
	us, err := app.deps.Settings.Get(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	set, err := app.deps.Settings.SymbolSet(ctx, us.Selections.HighLow)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range events {
		if e.Kind == kind && settings.Shows(e, us.Filters, set) {
			out = append(out, e.HighLow.Symbol)
		}
	}
	return out
}

// hostileName is a name full of HTML, for the escaping tests.
const hostileName = `<script>alert(1)</script>"'&`
