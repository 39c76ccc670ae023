package handlers

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium (CHROMIUM_PATH overrides). Browser tests fail
// without it: .ci/run installs it.
func chromiumPath(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	tb.Fatal("chromium not found: apt-get install -y chromium, or set CHROMIUM_PATH")
	return ""
}

// MustBrowser starts a headless Chromium of the test's own and returns a tab context.
func MustBrowser(tb testing.TB) context.Context {
	tb.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(tb)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("user-data-dir", tb.TempDir()),
		chromedp.Flag("window-size", "1400,1000"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	// The first call starts the browser; it must not carry a timeout (that would stop it).
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		tb.Fatalf("start chromium: %v", err)
	}
	tctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	tb.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return tctx
}

// saveScreenshot writes a PNG under testartifacts/ (git-ignored) for a human to look at.
func saveScreenshot(tb testing.TB, ctx context.Context, name string) {
	tb.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 gives PNG
	if err != nil {
		tb.Logf("screenshot %s: %v", name, err)
		return
	}
	dir := filepath.Join("..", "testartifacts")
	if err := os.MkdirAll(dir, 0o755); err == nil {
		path := filepath.Join(dir, name+".png")
		if err := os.WriteFile(path, png, 0o644); err == nil {
			tb.Logf("screenshot saved to %s", path)
		}
	}
}

func TestBrowserRegisterAndLogin(t *testing.T) {
	app := MustApp(t)
	ctx := MustBrowser(t)

	err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+"/auth/register"),
		chromedp.WaitVisible(`[data-testid="register-form"]`),
		chromedp.SendKeys(`[data-testid="register-form"] [data-testid="email"]`, "browser@example.com"),
		chromedp.SendKeys(`[data-testid="register-form"] [data-testid="username"]`, "browseruser"),
		chromedp.SendKeys(`[data-testid="register-form"] [data-testid="password"]`, "browser-password"),
		chromedp.Click(`[data-testid="register-form"] [data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="dashboard-title"]`),
	)
	if err != nil {
		t.Fatalf("register through the form: %v", err)
	}
	title, err := chromedp.Run(ctx, chromedp.Text(`[data-testid="dashboard-title"]`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(title, "browseruser's universes") {
		t.Fatalf("dashboard title %q", title)
	}

	// Log out, then a wrong password shows the generic error in place, then log in.
	err = chromedp.Do(ctx,
		chromedp.Click(`[data-testid="logout"]`),
		chromedp.WaitVisible(`[data-testid="login-form"]`),
		chromedp.SendKeys(`[data-testid="login-form"] [data-testid="email"]`, "browser@example.com"),
		chromedp.SendKeys(`[data-testid="login-form"] [data-testid="password"]`, "not-the-password"),
		chromedp.Click(`[data-testid="login-form"] [data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="form-error"]`),
	)
	if err != nil {
		t.Fatalf("failed login through the form: %v", err)
	}
	msg, err := chromedp.Run(ctx, chromedp.Text(`[data-testid="form-error"]`))
	if err != nil {
		t.Fatal(err)
	}
	if msg != "Invalid email or password." {
		t.Fatalf("login error %q", msg)
	}
	err = chromedp.Do(ctx,
		chromedp.Clear(`[data-testid="login-form"] [data-testid="password"]`),
		chromedp.SendKeys(`[data-testid="login-form"] [data-testid="password"]`, "browser-password"),
		chromedp.Click(`[data-testid="login-form"] [data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="dashboard-title"]`),
	)
	if err != nil {
		t.Fatalf("login through the form: %v", err)
	}
	title, err = chromedp.Run(ctx, chromedp.Text(`[data-testid="dashboard-title"]`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(title, "browseruser's universes") {
		t.Fatalf("dashboard title after login %q", title)
	}
}
