package handlers

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tickstock/tickstock/internal/testenv"
)

// updateDocs rewrites the README's screenshot (docs/embed.png) from the browser test:
// go test ./handlers -run TestBrowserEmbedFromAnotherOrigin -update-docs
var updateDocs = flag.Bool("update-docs", false, "write the embed screenshot to docs/embed.png")

// hostPage is another site's page: it frames one embed and loads another with htmx (which
// it must allow to ask other origins), the two recipes of the README.
const hostPage = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="htmx-config" content='{"selfRequestsOnly":false}'>
<title>A trading blog</title>
<script src="%[1]s/static/vendor/htmx.min.js"></script>
<script src="%[1]s/static/vendor/sse.js"></script>
<link rel="stylesheet" href="%[1]s/static/css/app.css">
</head><body>
<h1>Today on the tape</h1>
<iframe id="framed" src="%[1]s/embed/%[2]s?panels=highs,lows&theme=dark" title="Live market panels" width="960" height="460" style="border:0"></iframe>
<div id="htmx-host"><div hx-get="%[1]s/embed/%[2]s?panels=lows&theme=light" hx-trigger="load" hx-swap="outerHTML"></div></div>
</body></html>`

// TestBrowserEmbedFromAnotherOrigin: a page served from another origin shows the embed in
// an iframe and, through htmx, as a fragment in its own page; rows arrive live in both.
func TestBrowserEmbedFromAnotherOrigin(t *testing.T) {
	app := MustApp(t, unlimited)
	owner := signedIn(t, app, "shared@example.com", "sharer")
	token, _ := createCredential(t, owner, "/settings/embeds", "Blog")
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, hostPage, app.URL, token)
	}))
	t.Cleanup(host.Close)
	if host.URL == app.URL || !strings.HasPrefix(host.URL, "http://127.0.0.1:") {
		t.Fatalf("the host page must be another origin: %s vs %s", host.URL, app.URL)
	}

	ctx := MustBrowser(t)
	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1040, 1100),
		chromedp.Navigate(host.URL),
		chromedp.WaitVisible(chromedp.CSS(`#htmx-host [data-testid="embed"]`)), // htmx fetched the fragment across origins
	)
	if err != nil {
		saveScreenshot(t, ctx, "failed-embed-host")
		t.Fatalf("load the host page: %v", err)
	}
	frames, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(`#framed`)))
	if err != nil || len(frames) != 1 {
		t.Fatalf("find the iframe: %v", err)
	}
	framed := chromedp.FromNode(frames[0])
	// Both streams are open once the iframe's page says so and the host page's
	// EventSource is registered too (2 connections).
	waitFor(t, "the iframe's stream", func() bool {
		state, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#conn-status`), "data-state", framed))
		return err == nil && state.Value == "live"
	})
	waitConns(t, app, 2)

	events := testenv.MustSampleEvents(t)
	app.emitInChunks(t, events, 60)
	waitFor(t, "rows in the iframe and in the host page", func() bool {
		inFrame, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(`#highs tr[data-symbol]`), chromedp.AtLeast(0), framed))
		if err != nil || len(inFrame) == 0 {
			return false
		}
		inHost, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(`#htmx-host #lows tr[data-symbol]`), chromedp.AtLeast(0)))
		return err == nil && len(inHost) > 0
	})
	hostPanels, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(`#htmx-host [data-testid^="panel-"]`)))
	if err != nil || len(hostPanels) != 1 {
		t.Fatalf("the htmx embed shows %d panels, want the one it asked for (%v)", len(hostPanels), err)
	}

	time.Sleep(1500 * time.Millisecond) // let the rows' highlight fade before the picture
	shot, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(`#framed`)))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot = recompress(t, shot)
	dir := filepath.Join("..", "testartifacts")
	if *updateDocs {
		dir = filepath.Join("..", "docs")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "embed.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the framed embed: %s (%d KiB)", path, len(shot)/1024)
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// recompress re-encodes a PNG with at most 256 colours (its most frequent ones; the page
// is flat colours and antialiased text) at the best compression, to keep the committed
// picture small.
func recompress(t *testing.T, b []byte) []byte {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	counts := make(map[color.RGBA]int)
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			counts[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	colors := make([]color.RGBA, 0, len(counts))
	for c := range counts {
		colors = append(colors, c)
	}
	slices.SortFunc(colors, func(a, b color.RGBA) int { return counts[b] - counts[a] })
	pal := make(color.Palette, 0, 256)
	for _, c := range colors[:min(256, len(colors))] {
		pal = append(pal, c)
	}
	out := image.NewPaletted(bounds, pal)
	draw.Draw(out, bounds, img, bounds.Min, draw.Src)
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, out); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestBrowserCredentialPages: from the settings page a user makes an embed link and an
// API token through htmx (the page is not reloaded), sees each token once, and revokes
// it after a confirmation that names it; names full of HTML stay text.
func TestBrowserCredentialPages(t *testing.T) {
	app := MustApp(t, unlimited)
	_, pw := app.MustUser(t, "pages@example.com", "pageuser")
	ctx := MustBrowser(t)
	confirmations := make(chan string, 4)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			confirmations <- ev.Message
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}) //nolint:errcheck
		}
	}()
	err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+"/auth/login"),
		chromedp.SendKeys(`[data-testid="email"]`, "pages@example.com"),
		chromedp.SendKeys(`[data-testid="password"]`, pw),
		chromedp.Click(`[data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="panels"]`),
		chromedp.Navigate(app.URL+"/settings"),
	)
	if err != nil {
		t.Fatalf("log in: %v", err)
	}
	markPage := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`window.notReloaded = true`)(ctx, t)
		return err
	})
	for _, tc := range []struct{ link, prefix string }{{"link-embeds", app.URL + "/embed/tse_"}, {"link-tokens", "tsk_"}} {
		t.Run(tc.link, func(t *testing.T) {
			err := chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(`[data-testid="`+tc.link+`"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="create-form"]`)),
				markPage,
				chromedp.SendKeys(chromedp.CSS(`[data-testid="name"]`), hostileName),
				chromedp.Click(chromedp.CSS(`[data-testid="create"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="created"]`)),
			)
			if err != nil {
				saveScreenshot(t, ctx, "failed-"+tc.link)
				t.Fatalf("create: %v", err)
			}
			waitJS(t, ctx, "the htmx swap (no reload)", `window.notReloaded === true`)
			shown, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`[data-testid="created-token"]`), "value"))
			if err != nil || !strings.HasPrefix(shown.Value, tc.prefix) {
				t.Fatalf("token shown %q (%v)", shown.Value, err)
			}
			name, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="item-name"]`)))
			if err != nil || name != hostileName {
				t.Fatalf("listed name %q (%v)", name, err)
			}
			saveScreenshot(t, ctx, "credentials-"+tc.link)
			err = chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(`[data-testid="revoke"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="revoked"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="empty"]`)),
			)
			if err != nil {
				t.Fatalf("revoke: %v", err)
			}
			select {
			case msg := <-confirmations:
				if !strings.Contains(msg, hostileName) {
					t.Fatalf("the confirmation %q does not name the credential", msg)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("revoking asked for no confirmation")
			}
			still, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.body.innerHTML.includes("`+shown.Value+`")`))
			if err != nil || still {
				t.Fatalf("the token is still on the page after revocation (%v)", err)
			}
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="back-settings"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="sharing"]`))); err != nil {
				t.Fatal(err)
			}
		})
	}
}
