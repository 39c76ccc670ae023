package handlers

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestBrowserSettingsSaveFilter(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "settings-browser@example.com", "browsertrader")
	ctx := MustBrowser(t)

	err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+"/auth/login"),
		chromedp.WaitVisible(`[data-testid="login-form"]`),
		chromedp.SendKeys(`[data-testid="login-form"] [data-testid="email"]`, "settings-browser@example.com"),
		chromedp.SendKeys(`[data-testid="login-form"] [data-testid="password"]`, pw),
		chromedp.Click(`[data-testid="login-form"] [data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="dashboard-title"]`),
		chromedp.Navigate(app.URL+"/settings"),
		chromedp.WaitVisible(`[data-testid="settings-title"]`),
	)
	if err != nil {
		t.Fatalf("log in and open the settings: %v", err)
	}
	title, err := chromedp.Run(ctx, chromedp.Text(`[data-testid="settings-title"]`))
	if err != nil {
		t.Fatal(err)
	}
	if title != "browsertrader's Universe Selection" {
		t.Fatalf("title %q", title)
	}
	up, err := chromedp.Run(ctx, chromedp.JavascriptAttribute[bool](`[data-testid="direction-up"]`, "checked"))
	if err != nil || up {
		t.Fatalf("direction up is checked before any change (%v)", err)
	}

	// Change the trend direction and save: htmx swaps the filter section in place.
	err = chromedp.Do(ctx,
		chromedp.Click(`[data-testid="direction-up"]`),
		chromedp.Click(`[data-testid="save-filters"]`),
		chromedp.WaitVisible(`#filters [data-testid="saved"]`),
	)
	if err != nil {
		t.Fatalf("save the filters: %v", err)
	}
	msg, err := chromedp.Run(ctx, chromedp.Text(`#filters [data-testid="saved"]`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg, "Saved") {
		t.Fatalf("saved message %q", msg)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if loc != app.URL+"/settings" {
		t.Fatalf("the page navigated to %s: the form was not sent by htmx", loc)
	}
	saveScreenshot(t, ctx, "settings-saved")

	// A reload shows the stored value, and no message.
	err = chromedp.Do(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(`[data-testid="settings-title"]`),
	)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	up, err = chromedp.Run(ctx, chromedp.JavascriptAttribute[bool](`[data-testid="direction-up"]`, "checked"))
	if err != nil || !up {
		t.Fatalf("direction up is not checked after the reload (%v)", err)
	}
	saved, err := chromedp.Run(ctx, chromedp.Nodes(`[data-testid="saved"]`, chromedp.AtLeast(0)))
	if err != nil || len(saved) != 0 {
		t.Fatalf("a saved message after the reload (%d, %v)", len(saved), err)
	}
}
