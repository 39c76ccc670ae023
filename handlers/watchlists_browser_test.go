package handlers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tickstock/tickstock/market"
)

// notificationStub replaces the Notification API and audio playback before any script of
// the page runs, and counts what the page asks of them: window.__asked permission
// requests, window.__notes notifications, window.__plays sounds played.
const notificationStub = `
window.__asked = 0; window.__notes = []; window.__plays = 0;
(function () {
  function N(title, opts) { window.__notes.push({ title: title, body: (opts && opts.body) || "" }); }
  N.permission = "default";
  N.requestPermission = function (cb) {
    window.__asked++;
    N.permission = "granted";
    if (cb) cb("granted");
    return Promise.resolve("granted");
  };
  window.Notification = N;
  HTMLMediaElement.prototype.play = function () { window.__plays++; return Promise.resolve(); };
})();`

// beforeScripts runs js in every document of the tab before the page's own scripts.
func beforeScripts(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: js})
		return err
	})
}

func evalInt(t *testing.T, ctx context.Context, expr string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return n
}

// TestBrowserWatchlistAlerts: a list made and edited with htmx, alerts turned on in the
// settings, and an event on a listed symbol: the dashboard shows the alert, plays the
// sound and, after the user allowed it with a click, shows a desktop notification.
func TestBrowserWatchlistAlerts(t *testing.T) {
	app := MustApp(t, unlimited, withSymbols(mustReplayRunner(t)))
	_, pw := app.MustUser(t, "alerts@example.com", "alerter")
	ctx := MustBrowser(t)
	if err := chromedp.Do(ctx, beforeScripts(notificationStub)); err != nil {
		t.Fatal(err)
	}
	browserLogin(t, ctx, app, "alerts@example.com", pw)

	// Make a list and edit it, all through htmx swaps.
	card := `[data-testid="watchlist"][data-name="Movers"]`
	err := chromedp.Do(ctx,
		chromedp.Click(`[data-testid="nav-watchlists"]`),
		chromedp.WaitVisible(`[data-testid="create-form"]`),
		htmxSettled(),
		fill(`[data-testid="create-name"]`, "Movers"),
		fill(`[data-testid="create-symbols"]`, "aapl nvda"),
		chromedp.Click(`[data-testid="create-submit"]`),
		chromedp.WaitVisible(card+` tr[data-symbol="NVDA"]`),
		htmxSettled(),
		fill(card+` [data-testid="add-symbols"]`, "xom, $$"),
		chromedp.Click(card+` [data-testid="add-submit"]`),
		chromedp.WaitVisible(card+` [data-testid="error-symbols"]`),
		htmxSettled(),
		fill(card+` [data-testid="add-symbols"]`, "xom"),
		chromedp.Click(card+` [data-testid="add-submit"]`),
		chromedp.WaitVisible(card+` tr[data-symbol="XOM"]`),
		htmxSettled(),
		chromedp.Click(card+` tr[data-symbol="NVDA"] [data-testid="remove"]`),
		chromedp.WaitNotPresent(card+` tr[data-symbol="NVDA"]`),
		htmxSettled(),
	)
	if err != nil {
		saveScreenshot(t, ctx, "failed-watchlist-edit")
		t.Fatalf("edit the list: %v", err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || loc != app.URL+"/watchlists" {
		t.Fatalf("the page navigated to %s: the forms were not sent by htmx (%v)", loc, err)
	}
	price, err := chromedp.Run(ctx, chromedp.Text(card+` tr[data-symbol="AAPL"] [data-testid="row-price"]`))
	if err != nil || price == "" {
		t.Fatalf("AAPL has no price on the list: %q %v", price, err)
	}
	// Sort by % from open with htmx, and the order comes back in the URL.
	err = chromedp.Do(ctx,
		chromedp.Click(card+` [data-testid="sort-pct"]`),
		chromedp.WaitVisible(card+` th[aria-sort="ascending"] [data-testid="sort-pct"]`),
		htmxSettled(),
	)
	if err != nil {
		t.Fatalf("sort: %v", err)
	}
	saveScreenshot(t, ctx, "watchlists")

	// Turn alerts on in the settings.
	err = chromedp.Do(ctx,
		chromedp.Click(`[data-testid="nav-settings"]`),
		chromedp.WaitVisible(`[data-testid="alerts-fieldset"]`),
		htmxSettled(),
		chromedp.Click(`[data-testid="alerts-enabled"]`),
		chromedp.Click(`[data-testid="save-filters"]`),
		chromedp.WaitVisible(`#filters [data-testid="saved"]`),
		htmxSettled(),
		chromedp.Click(`[data-testid="nav-dashboard"]`),
		chromedp.WaitVisible(`[data-testid="alerts-config"]`),
	)
	if err != nil {
		t.Fatalf("turn alerts on: %v", err)
	}
	waitJS(t, ctx, "the stream to open", liveJS)
	status, _ := chromedp.Run(ctx, chromedp.Text(`[data-testid="alerts-status"]`))
	if !strings.Contains(status, "2 symbols") {
		t.Fatalf("alert status %q", status)
	}
	// Permission is asked for only on a click.
	if n := evalInt(t, ctx, `window.__asked`); n != 0 {
		t.Fatalf("permission asked %d times before any click", n)
	}
	err = chromedp.Do(ctx,
		chromedp.WaitVisible(`[data-testid="enable-notifications"]`),
		chromedp.Click(`[data-testid="enable-notifications"]`),
		chromedp.WaitNotVisible(`[data-testid="enable-notifications"]`),
	)
	if err != nil {
		t.Fatalf("enable notifications: %v", err)
	}
	if n := evalInt(t, ctx, `window.__asked`); n != 1 {
		t.Fatalf("permission asked %d times after one click", n)
	}

	// A crafted event on a listed symbol, and one on a symbol of no list.
	app.emit(t, high("MSFT", 400, 1), high("AAPL", 230.5, 4))
	waitJS(t, ctx, "the AAPL alert", `document.querySelector('[data-testid="alert"][data-symbol="AAPL"]') !== null`)
	waitJS(t, ctx, "the notification", `window.__notes.length === 1`)
	saveScreenshot(t, ctx, "dashboard-alert")
	if evalInt(t, ctx, `document.querySelectorAll('#highs tr[data-symbol="MSFT"]').length`) != 1 {
		t.Fatal("the MSFT row did not arrive: the test proves nothing about unlisted symbols")
	}
	if n := evalInt(t, ctx, `document.querySelectorAll('[data-testid="alert"]').length`); n != 1 {
		t.Fatalf("%d alerts, want 1 (MSFT is on no list)", n)
	}
	title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.__notes[0].title + " | " + window.__notes[0].body`))
	if err != nil || !strings.Contains(title, "AAPL") || !strings.Contains(title, "HIGH #4") {
		t.Fatalf("notification %q (%v)", title, err)
	}
	if n := evalInt(t, ctx, `window.__plays`); n != 1 {
		t.Fatalf("the sound played %d times", n)
	}

	// A view that updates a row in place (one row per symbol) alerts for the new event too.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		const r = document.querySelector('#highs tr[data-symbol="AAPL"]');
		r.cells[3].textContent = "HIGH #5";
		r.setAttribute("data-emitted", String(Number(r.dataset.emitted) + 1000));
		return true;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the alert of the row updated in place", `window.__notes.length === 2 && window.__notes[1].body.includes("HIGH #5")`)

	// A reload replays the recent emissions as history: no alert for them again.
	err = chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(`[data-testid="alerts-config"]`))
	if err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the history on connect", `document.querySelectorAll('#highs tr[data-symbol="AAPL"]').length === 1`)
	time.Sleep(300 * time.Millisecond)
	if n := evalInt(t, ctx, `document.querySelectorAll('[data-testid="alert"]').length + window.__notes.length`); n != 0 {
		t.Fatalf("history raised %d alerts", n)
	}
}

// chanFeed is a feed the test drives tick by tick.
type chanFeed chan market.Tick

func (f chanFeed) Run(ctx context.Context, out chan<- market.Tick) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case t := <-f:
			select {
			case out <- t:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// TestBrowserSymbolPageLive: the symbol page shows the server-drawn chart and follows the
// user's stream: an event on the symbol brings the new state in without a reload.
func TestBrowserSymbolPageLive(t *testing.T) {
	feed := make(chanFeed)
	runner, err := market.NewRunner(market.RunnerConfig{Feed: feed, Source: "sim"})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runner.Run(rctx) }()
	t.Cleanup(func() { stop(); <-done })
	at := time.Now().Add(-time.Minute)
	for i := range 30 {
		feed <- market.Tick{Symbol: "LIVE", Price: 20 + float64(i%5)/10, Volume: 100, Time: at.Add(time.Duration(i) * time.Second)}
	}

	app := MustApp(t, unlimited, withSymbols(runner))
	_, pw := app.MustUser(t, "follow@example.com", "follower")
	c := app.NewClient(t)
	c.login("follow@example.com", pw)
	mustList(t, c, "Mine", "LIVE")
	if r := c.postJSON("/api/user/universe-selections", `{"tracker":"highlow","universes":["WL:Mine"]}`); r.StatusCode != 200 {
		t.Fatal(r.Body)
	}

	ctx := MustBrowser(t)
	browserLogin(t, ctx, app, "follow@example.com", pw)
	err = chromedp.Do(ctx,
		chromedp.Navigate(app.URL+"/watchlists"),
		chromedp.WaitVisible(`a[href="/symbols/LIVE"]`),
		chromedp.Click(`a[href="/symbols/LIVE"]`),
		chromedp.WaitVisible(`[data-testid="chart"] polyline.price`),
	)
	if err != nil {
		t.Fatalf("open the symbol page from the list: %v", err)
	}
	waitJS(t, ctx, "the stream to open", liveJS)
	before, _ := chromedp.Run(ctx, chromedp.Text(`[data-testid="state-price"]`))

	// A new tick, then an event on LIVE in the user's stream: the page fetches its live
	// part again and shows the new price.
	feed <- market.Tick{Symbol: "LIVE", Price: 25.5, Volume: 5000, Time: at.Add(40 * time.Second)}
	eventually(t, "the runner to take the tick", func() bool {
		st := runner.SymbolStates([]string{"LIVE"})
		return st[0].Price == 25.5
	})
	app.emit(t, high("LIVE", 25.5, 3))
	waitJS(t, ctx, "the new price", `document.querySelector('[data-testid="state-price"]').textContent === "25.50"`)
	saveScreenshot(t, ctx, "symbol-page")
	if before == "25.50" {
		t.Fatal("the price was new before the event: the test proves nothing")
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != app.URL+"/symbols/LIVE" {
		t.Fatalf("the page navigated to %s", loc)
	}
}
