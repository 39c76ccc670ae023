package handlers

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tickstock/tickstock/internal/smtptest"
)

// TestBrowserForgotPasswordFlow: from the login page, "Forgot your password?" → the mail
// arrives at the SMTP server → its link opens the form → a new password lands on the
// dashboard, signed in; the account page (from the navigation bar) lists this browser, and
// the spent link says so.
func TestBrowserForgotPasswordFlow(t *testing.T) {
	srv := smtptest.MustStart(t)
	app := MustApp(t, withSMTP(t, srv))
	u, _ := app.MustUser(t, "chrome@example.com", "chromeuser")
	ctx := MustBrowser(t)

	err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+"/auth/login"),
		chromedp.Click(`[data-testid="forgot-link"]`),
		chromedp.WaitVisible(`[data-testid="forgot-form"]`),
		chromedp.SendKeys(`[data-testid="forgot-form"] [data-testid="email"]`, u.Email),
		chromedp.Click(`[data-testid="forgot-form"] [data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="forgot-sent"]`),
	)
	if err != nil {
		saveScreenshot(t, ctx, "failed-forgot")
		t.Fatalf("ask for a link: %v", err)
	}
	link := mailedLink(t, app, srv, u.Email)

	err = chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(`[data-testid="reset-form"]`),
		chromedp.SendKeys(`[data-testid="reset-form"] [data-testid="password"]`, "chosen-in-chrome"),
		chromedp.Click(`[data-testid="reset-form"] [data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="dashboard-title"]`),
	)
	if err != nil {
		saveScreenshot(t, ctx, "failed-reset")
		t.Fatalf("reset through the link: %v", err)
	}
	heading, err := chromedp.Run(ctx, chromedp.Text(`[data-testid="dashboard-title"]`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(heading, "chromeuser's universes") {
		t.Fatalf("dashboard title %q", heading)
	}

	err = chromedp.Do(ctx,
		chromedp.Click(`[data-testid="nav-account"]`),
		chromedp.WaitVisible(`[data-testid="sessions"]`),
	)
	if err != nil {
		saveScreenshot(t, ctx, "failed-account")
		t.Fatalf("open the account page: %v", err)
	}
	current, err := chromedp.Run(ctx, chromedp.Text(`[data-testid="session"][data-current="true"]`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(current, "this browser") || !strings.Contains(current, "Chrome") {
		t.Fatalf("this browser's row %q", current)
	}
	saveScreenshot(t, ctx, "account-page")

	err = chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(`[data-testid="reset-gone"]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := chromedp.Run(ctx, chromedp.Text(`[data-testid="reset-gone"]`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(gone, "already used") {
		t.Fatalf("spent link page %q", gone)
	}
}
