package handlers

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// rgb is an sRGB colour with alpha, as computed styles give it.
type rgb struct{ r, g, b, a float64 }

// parseRGB reads "rgb(1, 2, 3)" or "rgba(1, 2, 3, 0.5)".
func parseRGB(s string) (rgb, error) {
	s = strings.TrimSpace(s)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return rgb{}, fmt.Errorf("not an rgb() colour: %q", s)
	}
	parts := strings.FieldsFunc(s[open+1:end], func(r rune) bool { return r == ',' || r == ' ' || r == '/' })
	if len(parts) < 3 {
		return rgb{}, fmt.Errorf("not an rgb() colour: %q", s)
	}
	c := rgb{a: 1}
	for i, dst := range []*float64{&c.r, &c.g, &c.b, &c.a} {
		if i >= len(parts) {
			break
		}
		v, err := strconv.ParseFloat(parts[i], 64)
		if err != nil {
			return rgb{}, fmt.Errorf("colour %q: %w", s, err)
		}
		*dst = v
	}
	return c, nil
}

// over composites c on an opaque background.
func (c rgb) over(bg rgb) rgb {
	return rgb{c.r*c.a + bg.r*(1-c.a), c.g*c.a + bg.g*(1-c.a), c.b*c.a + bg.b*(1-c.a), 1}
}

// luminance is WCAG 2.2's relative luminance.
func (c rgb) luminance() float64 {
	lin := func(v float64) float64 {
		v /= 255
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.r) + 0.7152*lin(c.g) + 0.0722*lin(c.b)
}

// contrast is WCAG 2.2's contrast ratio of two opaque colours.
func contrast(a, b rgb) float64 {
	la, lb := a.luminance(), b.luminance()
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func TestContrastFunction(t *testing.T) {
	black, white := rgb{0, 0, 0, 1}, rgb{255, 255, 255, 1}
	for _, tc := range []struct {
		a, b rgb
		want float64
	}{
		{black, white, 21},
		{white, white, 1},
		{rgb{118, 118, 118, 1}, white, 4.54}, // #767676, the classic AA grey
		{rgb{255, 255, 255, 1}, rgb{76, 154, 255, 1}, 2.85},
	} {
		if got := contrast(tc.a, tc.b); math.Abs(got-tc.want) > 0.01 {
			t.Errorf("contrast(%v, %v) = %.3f, want %.2f", tc.a, tc.b, got, tc.want)
		}
	}
	c, err := parseRGB("rgba(76, 154, 255, 0.5)")
	if err != nil || c.a != 0.5 || c.over(white) != (rgb{165.5, 204.5, 255, 1}) {
		t.Fatalf("parse and composite: %v %v", c, err)
	}
}

// pairsJS measures colour pairs on the page: for each [name, selector, what, min], the
// element's text colour (or border colour) against the background behind it (the first
// ancestor with one), composited over the page. Missing elements are reported as such.
const pairsJS = `(function (specs) {
	// the backgrounds behind el, innermost first, down to the first opaque one
	function bgsOf(el) {
		const out = [];
		for (let e = el; e; e = e.parentElement) {
			const c = getComputedStyle(e).backgroundColor;
			if (!c || c === "transparent" || /rgba\(.*,\s*0\)$/.test(c)) continue;
			out.push(c);
			if (!/rgba/.test(c)) return out;
		}
		out.push(getComputedStyle(document.documentElement).backgroundColor);
		return out;
	}
	return specs.map(([name, sel, what, min]) => {
		const el = document.querySelector(sel);
		if (!el) return {name, missing: sel};
		const cs = getComputedStyle(el);
		// a border sits on what is outside the element; text on the element's own background
		if (what === "border") return {name, fg: cs.borderTopColor, bgs: bgsOf(el.parentElement), min};
		return {name, fg: cs.color, bgs: bgsOf(el), min};
	});
})`

type pairSpec struct {
	name, selector, what string
	min                  float64
}

func measurePairs(t *testing.T, ctx context.Context, scheme string, specs []pairSpec) map[string]float64 {
	t.Helper()
	arg := "["
	for i, s := range specs {
		if i > 0 {
			arg += ","
		}
		arg += fmt.Sprintf("[%q,%q,%q,%v]", s.name, s.selector, s.what, s.min)
	}
	arg += "]"
	got := evalIn[[]map[string]any](t, ctx, pairsJS+"("+arg+")")
	out := map[string]float64{}
	for _, p := range got {
		name := p["name"].(string)
		if m, ok := p["missing"]; ok {
			t.Errorf("%s: %s: no element %v", scheme, name, m)
			continue
		}
		fg, err := parseRGB(p["fg"].(string))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		bg := rgb{255, 255, 255, 1} // the canvas, under everything
		layers := p["bgs"].([]any)
		for i := len(layers) - 1; i >= 0; i-- {
			c, err := parseRGB(layers[i].(string))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			bg = c.over(bg)
		}
		ratio := contrast(fg.over(bg), bg)
		out[name] = ratio
		if min := p["min"].(float64); ratio < min {
			t.Errorf("%s theme: %s is %.2f:1, below %.1f:1 (%s on %v)", scheme, name, ratio, min, p["fg"], layers)
		}
	}
	return out
}

// TestBrowserContrast measures the main colours of both themes from the computed styles and
// holds them to WCAG 2.2 AA: 4.5:1 for text, 3:1 for the borders of inputs and buttons.
// The row flash also gives way to prefers-reduced-motion.
func TestBrowserContrast(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "contrast@example.com", "contraster")
	ctx := MustBrowser(t)
	browserLogin(t, ctx, app, "contrast@example.com", pw)
	waitJS(t, ctx, "the stream to open", liveJS)
	emitSample(t, app)
	waitJS(t, ctx, "rows", `!!document.querySelector("#highs td.up") && !!document.querySelector("#lows td.down")`)

	dashboard := []pairSpec{
		{"body text", "h1", "text", 4.5},
		{"muted text on a panel", ".panel .panel-stats", "text", 4.5},
		{"column heading", ".panel th", "text", 4.5},
		{"link", ".topbar nav a", "text", 4.5},
		{"symbol", "#highs td.sym a", "text", 4.5},
		{"time (muted, in a new row)", "#highs tr.fresh td.muted", "text", 4.5},
		{"up figure", "#highs td.up", "text", 4.5},
		{"down figure", "#lows td.down", "text", 4.5},
		{"high badge", "#highs .badge.high", "text", 4.5},
		{"low badge", "#lows .badge.low", "text", 4.5},
		{"live status", "#conn-status", "text", 4.5},
		{"button text", ".panel .pause", "text", 4.5},
		{"button border", ".panel .pause", "border", 3},
		{"summary label", ".stat .label", "text", 4.5},
		{"empty state", ".empty-hint", "text", 4.5},
	}
	settingsPage := []pairSpec{
		{"primary button", `[data-testid="save-filters"]`, "text", 4.5},
		{"number input border", `[data-testid="min-count"]`, "border", 3},
		{"select border", `[data-testid="trend-strength"]`, "border", 3},
		{"input text", `[data-testid="min-count"]`, "text", 4.5},
		{"help text", ".settings-section .help", "text", 4.5},
		{"secondary button border", `[data-testid="back-dashboard"]`, "border", 3},
	}
	results := map[string]map[string]float64{}
	for _, scheme := range []string{"dark", "light"} {
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		}); err != nil {
			t.Fatal(err)
		}
		if got := evalIn[bool](t, ctx, `matchMedia("(prefers-color-scheme: `+scheme+`)").matches`); !got {
			t.Fatalf("the %s scheme is not emulated", scheme)
		}
		// Rows are measured as they arrive, the flash at its strongest: text must stay
		// readable while it is highlighted.
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getAnimations().forEach(a => { a.pause(); a.currentTime = 0; }), true`)); err != nil {
			t.Fatal(err)
		}
		results[scheme] = measurePairs(t, ctx, scheme, dashboard)
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getAnimations().forEach(a => a.finish()), true`)); err != nil {
			t.Fatal(err)
		}
		saveScreenshot(t, ctx, "desktop-"+scheme)
		if scheme == "dark" { // the README's picture
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
				t.Fatal(err)
			}
			saveViewShot(t, ctx, "docs-dashboard-desktop")
			if err := chromedp.Do(ctx, chromedp.ResetViewport()); err != nil {
				t.Fatal(err)
			}
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(app.URL+"/settings"), chromedp.WaitVisible(`[data-testid="form-filters"]`)); err != nil {
			t.Fatal(err)
		}
		for k, v := range measurePairs(t, ctx, scheme, settingsPage) {
			results[scheme][k] = v
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(app.URL+"/dashboard"), chromedp.WaitVisible(`[data-testid="panels"]`)); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, "rows again", `!!document.querySelector("#highs td.up") && !!document.querySelector("#lows td.down")`)
	}
	names := make([]string, 0, len(results["dark"]))
	for k := range results["dark"] {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Logf("%-24s dark %5.2f:1   light %5.2f:1", n, results["dark"][n], results["light"][n])
	}

	// Reduced motion: new rows do not flash.
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}},
	}); err != nil {
		t.Fatal(err)
	}
	if got := evalIn[string](t, ctx, `getComputedStyle(document.querySelector("#highs tr.fresh")).animationName`); got != "none" {
		t.Fatalf("with reduced motion rows still animate: %q", got)
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
		t.Fatal(err)
	}
	if got := evalIn[string](t, ctx, `getComputedStyle(document.querySelector("#highs tr.fresh")).animationName`); got != "flash" {
		t.Fatalf("without the preference rows do not flash: %q", got)
	}
}
