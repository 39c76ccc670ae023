package handlers

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserAdminEditsAUsersUniverses: an admin searches for a user, opens their page,
// changes their universes through htmx, and sees the audit entry appear.
func TestBrowserAdminEditsAUsersUniverses(t *testing.T) {
	app := MustApp(t)
	carol, _ := app.MustUser(t, "carol@example.com", "carol")
	app.MustUser(t, "dave@example.com", "dave")
	_, apw := app.MustAdmin(t, "boss@example.com", "boss")
	ctx := MustBrowser(t)

	err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+"/auth/login"),
		chromedp.WaitVisible(`[data-testid="login-form"]`),
		htmxSettled(),
		fill(`[data-testid="login-form"] [data-testid="email"]`, "boss@example.com"),
		fill(`[data-testid="login-form"] [data-testid="password"]`, apw),
		chromedp.Click(`[data-testid="login-form"] [data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="nav-admin"]`),
		chromedp.Click(`[data-testid="nav-admin"]`),
		chromedp.WaitVisible(`[data-testid="admin-metrics"]`),
		chromedp.Click(`[data-testid="admin-nav-users"]`),
		chromedp.WaitVisible(`[data-testid="user-search"]`),
		htmxSettled(),
	)
	if err != nil {
		t.Fatalf("log in and open the user list: %v", err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Nodes(`[data-testid="user-row"]`, chromedp.AtLeast(3)))
	if err != nil || len(rows) != 3 {
		t.Fatalf("the list shows %d users (%v)", len(rows), err)
	}

	// Search: htmx swaps the results in place and puts the search in the address.
	err = chromedp.Do(ctx,
		fill(`[data-testid="user-search-q"]`, "CAROL"),
		chromedp.Click(`[data-testid="user-search-submit"]`),
		chromedp.WaitNotPresent(`[data-testid="user-row"][data-handle="`+app.mustHandle(t, "dave@example.com")+`"]`),
		htmxSettled(),
	)
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	rows, err = chromedp.Run(ctx, chromedp.Nodes(`[data-testid="user-row"]`))
	if err != nil || len(rows) != 1 {
		t.Fatalf("the search shows %d users (%v)", len(rows), err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.Contains(loc, "q=CAROL") {
		t.Fatalf("the address after the search is %q", loc)
	}

	// Her page: tick TECH_UNIVERSE for her panels and save.
	err = chromedp.Do(ctx,
		chromedp.Click(`[data-testid="user-row"] [data-testid="user-link"]`),
		chromedp.WaitVisible(`[data-testid="admin-user-title"]`),
		htmxSettled(),
		chromedp.Click(`[data-testid="universe-highlow-TECH_UNIVERSE"]`),
		chromedp.Click(`[data-testid="save-universes-highlow"]`),
		chromedp.WaitVisible(`#universes-highlow [data-testid="saved"]`),
		chromedp.WaitVisible(`[data-testid="user-audit"] [data-testid="audit-row"]`),
		htmxSettled(),
	)
	if err != nil {
		t.Fatalf("save her universes: %v", err)
	}
	title, err := chromedp.Run(ctx, chromedp.Text(`[data-testid="admin-user-title"]`))
	if err != nil || title != "carol" {
		t.Fatalf("page title %q (%v)", title, err)
	}
	entry, err := chromedp.Run(ctx, chromedp.Text(`[data-testid="user-audit"] [data-testid="audit-row"]`))
	if err != nil || !strings.Contains(entry, "Changed universes") || !strings.Contains(entry, "+TECH_UNIVERSE") || !strings.Contains(entry, "boss") {
		t.Fatalf("audit entry %q (%v)", entry, err)
	}
	saveScreenshot(t, ctx, "admin-user-universes")

	// It is stored: her own settings say so, and the audit log lists it.
	us, err := app.deps.Settings.Get(t.Context(), carol.ID)
	if err != nil || strings.Join(us.Selections.HighLow, ",") != "DEFAULT_UNIVERSE,TECH_UNIVERSE" {
		t.Fatalf("her highlow selection %v (%v)", us.Selections.HighLow, err)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(`[data-testid="admin-nav-audit"]`),
		chromedp.WaitVisible(`[data-testid="audit-log"] [data-testid="audit-row"]`),
	)
	if err != nil {
		t.Fatalf("open the audit log: %v", err)
	}
	target, err := chromedp.Run(ctx, chromedp.Text(`[data-testid="audit-log"] [data-testid="audit-target"]`))
	if err != nil || strings.TrimSpace(target) != "carol" {
		t.Fatalf("audit log names %q (%v)", target, err)
	}
}

// mustHandle is the handle of the user with email.
func (a *testApp) mustHandle(t *testing.T, email string) string {
	t.Helper()
	return mustUserByEmail(t, a, email).Handle
}
