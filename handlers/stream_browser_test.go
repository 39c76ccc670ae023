package handlers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/stream"
)

// withPublisher replaces the test app's publisher with one configured by cfg.
func withPublisher(cfg stream.Config) appOption {
	return func(d *appSetup) {
		cfg.Hub, cfg.Settings, cfg.Logger, cfg.Source = d.Hub, d.Settings, d.Logger, noSource{}
		if cfg.Interval == 0 {
			cfg.Interval = time.Hour
		}
		d.Publisher = stream.NewPublisher(cfg)
	}
}

// TestBrowserStreamResumesAndResets: the dashboard's EventSource reconnects by itself with
// Last-Event-ID after the server drops its stream. Within what the server keeps, the panels
// get exactly what they missed, nothing twice; past it, the "reset" event clears them and
// the recent history repaints them.
func TestBrowserStreamResumesAndResets(t *testing.T) {
	app := MustApp(t, withPublisher(stream.Config{ResumeMax: 3}))
	u, pw := app.MustUser(t, "away@example.com", "awaytrader")
	ctx := MustBrowser(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+"/auth/login"),
		chromedp.SendKeys(`[data-testid="email"]`, "away@example.com"),
		chromedp.SendKeys(`[data-testid="password"]`, pw),
		chromedp.Click(`[data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="panels"]`),
	)
	if err != nil {
		t.Fatalf("log in and open the dashboard: %v", err)
	}
	waitJS(t, ctx, "the stream to open", liveJS)

	// Each chunk's high events that the user's (default) settings allow.
	us, err := app.deps.Settings.Get(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	set, err := app.deps.Settings.SymbolSet(context.Background(), us.Selections.HighLow)
	if err != nil {
		t.Fatal(err)
	}
	events := testenv.MustSampleEvents(t)
	var chunks [][]market.Event
	var highs []int
	for i, n := 0, len(events)/6; i < 6; i++ {
		ch := events[i*n : (i+1)*n]
		h := 0
		for _, e := range ch {
			if e.Kind == market.KindHigh && settings.Shows(e, us.Filters, set) {
				h++
			}
		}
		if h == 0 {
			t.Fatalf("chunk %d has no highs for this user: the test proves nothing", i)
		}
		chunks, highs = append(chunks, ch), append(highs, h)
	}
	waitHighs := func(what string, want int) {
		t.Helper()
		waitJS(t, ctx, fmt.Sprintf("%s: %d highs rows", what, want),
			fmt.Sprintf(`document.querySelectorAll("#highs tr[data-symbol]").length === %d`, want))
		time.Sleep(300 * time.Millisecond) // nothing more arrives
		if n := rowCount(t, ctx, "highs"); n != want {
			t.Fatalf("%s: %d highs rows, want %d", what, n, want)
		}
	}
	// dropStream ends the stream on the server (not a logout), as a network blip does.
	dropStream := func() {
		t.Helper()
		app.deps.Hub.EndUser(u.ID, "network")
		waitConns(t, app, 0)
	}

	app.emit(t, chunks[0]...)
	waitHighs("live", highs[0])

	// Away for one emission (the browser retries after 2 s): resumed exactly.
	dropStream()
	app.emit(t, chunks[1]...)
	waitConns(t, app, 1)
	waitHighs("after the resume", highs[0]+highs[1])

	// Away for four emissions, more than the 3 the server keeps: reset, then the three
	// recent emissions repaint the panels.
	dropStream()
	for _, ch := range chunks[2:6] {
		app.emit(t, ch...)
	}
	waitConns(t, app, 1)
	waitHighs("after the reset", highs[3]+highs[4]+highs[5])
	if m := app.deps.Publisher.Metrics(); m.Resets != 1 || m.Resumes != 2 {
		t.Fatalf("publisher saw %d resumes and %d resets, want 2 and 1", m.Resumes, m.Resets)
	}
}
