package views

import (
	"bytes"
	"context"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
)

// MustRenderPages renders d's page through dp.
func MustRenderPages(tb testing.TB, dp *DashboardPages, p Page, d Dashboard) string {
	tb.Helper()
	var b bytes.Buffer
	if err := dp.Page(p, d).Render(context.Background(), &b); err != nil {
		tb.Fatal(err)
	}
	return b.String()
}

// MustRenderDirect renders d's page with DashboardPage.
func MustRenderDirect(tb testing.TB, p Page, d Dashboard) string {
	tb.Helper()
	var b bytes.Buffer
	if err := DashboardPage(p, d).Render(context.Background(), &b); err != nil {
		tb.Fatal(err)
	}
	return b.String()
}

// awkward are values that escaping changes, or that look like markup or marks.
var awkward = []string{"", "ann", `<b>Bo & "Co"</b>`, `a"b<c>&'d`, "tsmark", "tsmarkc", "Zoë 👍", "x\x00y", "&amp;", "'", "{{.}}", "javascript:alert(1)"}

// randomDashboard is a dashboard page's inputs drawn from r: the values vary in everything a
// page shows, so a skeleton used for the wrong inputs, or a hole filled the wrong way, gives
// different bytes.
func randomDashboard(r *rand.Rand, sc *SummaryCache) (Page, Dashboard) {
	pick := func(xs []string) string { return xs[r.IntN(len(xs))] }
	names := func() []string {
		switch r.IntN(4) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		var ns []string
		for range 1 + r.IntN(3) {
			ns = append(ns, pick([]string{"DEFAULT_UNIVERSE", "TECH", "<ETF>", "A&B", "tsmarku"}))
		}
		return ns
	}
	role := pick([]string{"user", "admin", ""})
	p := Page{Title: pick([]string{"Dashboard", `Dash "board"`}), CSRF: pick(awkward),
		User: &User{Handle: pick(awkward), Username: pick(awkward), Email: pick(awkward), Role: role}}
	f := settings.DefaultFilters()
	if r.IntN(4) == 0 {
		f = settings.Filters{} // never saved: the page shows the defaults
	}
	f.HighLow.MinCount = []int64{0, 3, 1200}[r.IntN(3)]
	f.HighLow.MinVolume = []int64{0, 1500000}[r.IntN(2)]
	if f.Trends.MinStrength != "" && r.IntN(2) == 0 {
		f.Trends.MinStrength = pick(settings.StrengthOptions())
		f.Trends.Direction = pick(settings.DirectionOptions())
		f.Surges.MinStrength = pick(settings.StrengthOptions())
		f.Surges.Trigger = pick(settings.TriggerOptions())
		f.Surges.PriceRanges = settings.PriceRangeOptions()[:1+r.IntN(len(settings.PriceRangeOptions()))]
	}
	f.Alerts.Enabled, f.Alerts.Sound, f.Alerts.Notify = r.IntN(2) == 0, r.IntN(2) == 0, r.IntN(2) == 0
	f.Display.OneRowPerSymbol = r.IntN(2) == 0
	since := time.Date(2025, 3, 12, 13, 30+r.IntN(2), r.IntN(60), r.IntN(1e9), time.UTC) // two minutes: pages share skeletons
	sum := market.Summary{Breadth: 50, Activity: market.ActivityQuiet, UniverseSize: r.IntN(3) * 100}
	if r.IntN(2) == 0 {
		at := since.Add(time.Duration(r.IntN(600)) * time.Second)
		sum = market.Summary{UniverseSize: 1103, Highs: r.IntN(5000), Lows: 1, SymbolsWithHighs: 37, SymbolsWithLows: 1,
			Breadth: 61.5, Ticks10s: 1500, Ticks60s: 9200, Ticks300s: 1245123, Activity: market.ActivityVeryHigh,
			Phase: market.PhaseAt(at), At: market.MillisOf(at)}
	}
	var syms []string
	for range r.IntN(3) {
		syms = append(syms, pick([]string{"AAPL", "BRK.B", "<X>"}))
	}
	d := Dashboard{StreamURL: "/stream", Highlow: names(), Market: names(), Filters: f, Since: since, Summary: sum,
		Alerts:    AlertsView{Enabled: f.Alerts.Enabled, Sound: f.Alerts.Sound, Notify: f.Alerts.Notify, Symbols: syms, Since: since.UnixMilli() + r.Int64N(1000)},
		Summaries: sc}
	return p, d
}

// TestDashboardPagesSameBytes renders many random dashboards through one DashboardPages
// and directly: the bytes must agree, while the skeletons are shared.
func TestDashboardPagesSameBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var dp DashboardPages
	sc := &SummaryCache{}
	for i := range 3000 {
		p, d := randomDashboard(r, sc)
		got, want := MustRenderPages(t, &dp, p, d), MustRenderDirect(t, p, d)
		if got != want {
			t.Fatalf("page %d differs from DashboardPage (user %q, csrf %q):\ngot:  %s\nwant: %s", i, p.User.Username, p.CSRF, got, want)
		}
	}
	dp.mu.RLock()
	n := len(dp.pages)
	dp.mu.RUnlock()
	if n == 0 || n >= 3000 {
		t.Fatalf("%d skeletons kept for 3,000 pages", n)
	}
}

// TestDashboardPagesConcurrent renders from fresh DashboardPages on several goroutines at
// once, for the race detector: the first pages race to set the table up and to add
// skeletons, and every page must still equal DashboardPage's.
func TestDashboardPagesConcurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 7))
	sc := &SummaryCache{}
	for range 40 {
		var dp DashboardPages
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			var pages []Page
			var dashes []Dashboard
			for range 6 {
				p, d := randomDashboard(r, sc)
				pages, dashes = append(pages, p), append(dashes, d)
			}
			wg.Go(func() {
				<-start
				for i := range pages {
					var got, want bytes.Buffer
					if err := dp.Page(pages[i], dashes[i]).Render(context.Background(), &got); err != nil {
						t.Error(err)
						return
					}
					if err := DashboardPage(pages[i], dashes[i]).Render(context.Background(), &want); err != nil {
						t.Error(err)
						return
					}
					if got.String() != want.String() {
						t.Error("a page rendered concurrently differs from DashboardPage")
						return
					}
				}
			})
		}
		close(start)
		wg.Wait()
	}
}

// TestDashboardPagesShared checks that pages that differ only in their holes share one
// skeleton, and that a new minute, universe or filter makes a new one.
func TestDashboardPagesShared(t *testing.T) {
	var dp DashboardPages
	since := time.Date(2025, 3, 12, 13, 31, 5, 0, time.UTC)
	base := Dashboard{StreamURL: "/stream", Highlow: []string{"DEFAULT_UNIVERSE"}, Market: []string{"DEFAULT_UNIVERSE"},
		Filters: settings.DefaultFilters(), Since: since, Summary: market.Summary{Breadth: 50, UniverseSize: 103}}
	page := func(name, csrf string) Page {
		return Page{Title: "Dashboard", CSRF: csrf, User: &User{Handle: "h", Username: name, Role: "user"}}
	}
	kept := func() int {
		dp.mu.RLock()
		defer dp.mu.RUnlock()
		return len(dp.pages)
	}
	ann := MustRenderPages(t, &dp, page("ann-7q", "tok-1"), base)
	later := base
	later.Since = since.Add(50 * time.Second) // 13:31:55, the same minute
	later.Alerts = AlertsView{Enabled: true, Symbols: []string{"AAPL"}, Since: later.Since.UnixMilli()}
	later.Filters.Alerts.Enabled = true
	bob := MustRenderPages(t, &dp, page("<bob>", "tok-2"), base)
	if kept() != 1 {
		t.Fatalf("%d skeletons after two users with the same settings, want 1", kept())
	}
	for _, want := range []string{`content="tok-1"`, `value="tok-1"`, ">ann-7q<", ">ann-7q's universes<"} {
		if !strings.Contains(ann, want) {
			t.Errorf("ann's page lacks %s", want)
		}
	}
	for _, want := range []string{`content="tok-2"`, `value="tok-2"`, "&lt;bob&gt;'s universes", `data-testid="nav-username">&lt;bob&gt;<`} {
		if !strings.Contains(bob, want) {
			t.Errorf("bob's page lacks %s", want)
		}
	}
	if strings.Contains(bob, "ann-7q") || strings.Contains(bob, "tok-1") || strings.Contains(bob, dp.mark) {
		t.Error("bob's page carries ann's values or a mark")
	}

	next := base
	next.Since = since.Add(time.Minute)
	other := base
	other.Highlow = []string{"TECH"}
	filtered := base
	filtered.Filters.HighLow.MinCount = 5
	for i, d := range []Dashboard{next, other, filtered, later} {
		if got, want := MustRenderPages(t, &dp, page("ann-7q", "tok-1"), d), MustRenderDirect(t, page("ann-7q", "tok-1"), d); got != want {
			t.Fatalf("variant %d differs from DashboardPage", i)
		}
		if kept() != 2+i {
			t.Fatalf("variant %d: %d skeletons, want %d", i, kept(), 2+i)
		}
	}
}

// TestSkeletonKeyCoversFilters changes every field of settings.Filters in turn: each change
// must change the key, or a page would show another user's filters.
func TestSkeletonKeyCoversFilters(t *testing.T) {
	p := Page{Title: "Dashboard", User: &User{Role: "user"}}
	d := Dashboard{Filters: settings.DefaultFilters()}
	base := string(d.appendSkeletonKey(nil, p))
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		for i := range v.NumField() {
			f, name := v.Field(i), path+"."+v.Type().Field(i).Name
			old := reflect.ValueOf(f.Interface())
			switch f.Kind() {
			case reflect.Struct:
				walk(f, name)
				continue
			case reflect.String:
				f.SetString(f.String() + "x")
			case reflect.Int64, reflect.Int:
				f.SetInt(f.Int() + 1)
			case reflect.Bool:
				f.SetBool(!f.Bool())
			case reflect.Slice:
				f.Set(reflect.Append(f, reflect.ValueOf("x")))
			default:
				t.Fatalf("%s: a %s field; teach appendSkeletonKey and this test about it", name, f.Kind())
			}
			if string(d.appendSkeletonKey(nil, p)) == base {
				t.Errorf("changing Filters%s leaves the skeleton key as it was", name)
			}
			f.Set(old)
		}
	}
	walk(reflect.ValueOf(&d.Filters).Elem(), "")
	if got := string(d.appendSkeletonKey(nil, p)); got != base {
		t.Fatal("the walk did not restore the filters")
	}
}

// BenchmarkDashboardPages is BenchmarkDashboardPage from kept skeletons.
func BenchmarkDashboardPages(b *testing.B) {
	p := Page{Title: "Dashboard", CSRF: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", User: &User{Handle: "h", Username: "bench-user-1", Email: "a@b.c", Role: "user"}}
	d := Dashboard{StreamURL: "/stream", Highlow: []string{"DEFAULT_UNIVERSE"}, Market: []string{"DEFAULT_UNIVERSE"},
		Filters: settings.DefaultFilters(), Since: time.Now(), Summary: market.Summary{Breadth: 50, UniverseSize: 103}, Summaries: &SummaryCache{}}
	var dp DashboardPages
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := dp.Page(p, d).Render(context.Background(), &buf); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}
