package handlers

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tickstock/tickstock/internal/testenv"
)

// waitJS polls a JavaScript predicate in the page until it is true.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		saveScreenshot(t, ctx, "failed-"+t.Name())
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func rowCount(t *testing.T, ctx context.Context, panel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#`+panel+` tr[data-symbol]").length`))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

const liveJS = `document.getElementById("conn-status") && document.getElementById("conn-status").dataset.state === "live"`

func TestBrowserDashboardLiveAndFiltered(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "live@example.com", "livetrader")
	ctx := MustBrowser(t)
	events := testenv.MustSampleEvents(t)

	err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+"/auth/login"),
		chromedp.SendKeys(`[data-testid="email"]`, "live@example.com"),
		chromedp.SendKeys(`[data-testid="password"]`, pw),
		chromedp.Click(`[data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="panels"]`),
	)
	if err != nil {
		t.Fatalf("log in and open the dashboard: %v", err)
	}
	waitJS(t, ctx, "the stream to open", liveJS)

	// The sample replay, as the feed would deliver it, in a few emissions.
	app.emitInChunks(t, events, 50)
	waitJS(t, ctx, "rows in every panel with events",
		`["highs","lows","trend-up","trend-down","surge-down"].every(id => document.querySelectorAll("#"+id+" tr[data-symbol]").length > 0)`)
	waitJS(t, ctx, "the market summary", `document.querySelector('[data-testid="market-summary"]').dataset.emitted !== "0"`)
	saveScreenshot(t, ctx, "dashboard-live")
	if n := rowCount(t, ctx, "highs"); n > 100 {
		t.Fatalf("highs panel holds %d rows, more than 100", n)
	}
	// Newest first: the first row's time is not before the last row's.
	first, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#lows tr td").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	last, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#lows tr")].pop().querySelector("td").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if first < last {
		t.Fatalf("lows panel is not newest first: %s before %s", first, last)
	}

	// Only downward trends from now on, set through the settings page.
	err = chromedp.Do(ctx,
		chromedp.Click(`[data-testid="open-settings"]`),
		chromedp.WaitVisible(`[data-testid="form-filters"]`),
		chromedp.Click(`[data-testid="direction-down"]`),
		chromedp.Click(`[data-testid="save-filters"]`),
		chromedp.WaitVisible(`[data-testid="saved"]`),
		chromedp.Click(`[data-testid="back-dashboard"]`),
		chromedp.WaitVisible(`[data-testid="panels"]`),
	)
	if err != nil {
		t.Fatalf("change the trend filter: %v", err)
	}
	waitJS(t, ctx, "the stream to reopen", liveJS)
	app.emit(t, events...)
	waitJS(t, ctx, "downward trends", `document.querySelectorAll("#trend-down tr[data-symbol]").length > 0`)
	if n := rowCount(t, ctx, "trend-up"); n != 0 {
		saveScreenshot(t, ctx, "dashboard-filtered-wrong")
		t.Fatalf("%d upward trends shown after choosing down only", n)
	}
	if rowCount(t, ctx, "highs") == 0 {
		t.Fatal("the direction filter hid highs too")
	}
	saveScreenshot(t, ctx, "dashboard-filtered")
}
