package handlers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tickstock/tickstock/static"
)

// chromiumPath finds Debian's chromium (CHROMIUM_PATH overrides). Browser tests fail
// without it: `go tool task test` installs it.
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
// Without htmx in static/vendor no page works, and each test would only time out waiting
// for it, so that is refused first with the fix.
func MustBrowser(tb testing.TB) context.Context {
	tb.Helper()
	if !static.HasVendor() {
		tb.Fatal("htmx is not in static/vendor, so no page can work: run `go tool task setup` " +
			"(the README's test command, `go tool task test`, does it)")
	}
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

// htmxSettled waits until htmx has no request, swap or settle in progress on the page.
// htmx puts new content in at once but settles it on a timer (defaultSettleDelay, 20 ms,
// later on a busy machine), and settling focuses the new content's [autofocus] field. Keys
// typed as soon as the new content is visible can therefore land in the field that takes
// the focus. The classes htmx sets are state, not events, so this wait cannot miss them.
func htmxSettled() chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](
		`document.readyState === "complete" && window.htmx !== undefined && `+
			`!document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")`,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))
}

// fill types value into the field sel (after clearing it) and checks the field then holds
// exactly value, so keys that went to another field fail here, by name, not as a timeout
// at the next wait.
func fill(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := chromedp.Clear(sel)(ctx, t); err != nil {
			return fmt.Errorf("clear %s: %w", sel, err)
		}
		if _, err := chromedp.SendKeys(sel, value)(ctx, t); err != nil {
			return fmt.Errorf("type into %s: %w", sel, err)
		}
		got, err := chromedp.Value(sel)(ctx, t)
		if err != nil {
			return fmt.Errorf("read %s: %w", sel, err)
		}
		if got != value {
			return fmt.Errorf("%s holds %q after typing %q: some keys went to another field", sel, got, value)
		}
		return nil
	})
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

// saveViewShot writes what the viewport shows (not the whole page) under testartifacts/,
// the size the README's pictures are taken at.
func saveViewShot(tb testing.TB, ctx context.Context, name string) {
	tb.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
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
		htmxSettled(),
		fill(`[data-testid="register-form"] [data-testid="email"]`, "browser@example.com"),
		fill(`[data-testid="register-form"] [data-testid="username"]`, "browseruser"),
		fill(`[data-testid="register-form"] [data-testid="password"]`, "browser-password"),
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
		htmxSettled(),
		fill(`[data-testid="login-form"] [data-testid="email"]`, "browser@example.com"),
		fill(`[data-testid="login-form"] [data-testid="password"]`, "not-the-password"),
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
	// The error came with a new form, which htmx settles by focusing its autofocus field
	// (the email): typing the password before that would lose keys to the email field.
	err = chromedp.Do(ctx,
		htmxSettled(),
		fill(`[data-testid="login-form"] [data-testid="password"]`, "browser-password"),
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
