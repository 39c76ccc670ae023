package handlers

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/internal/faultproxy"
	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/stream"
)

// requestCounter counts the requests for one path that reach the server, from the request
// lines that cross its listener: requests the browser makes, whatever answers them.
type requestCounter struct {
	needle []byte
	n      atomic.Int64
}

func countRequests(method, path string) *requestCounter {
	return &requestCounter{needle: []byte(method + " " + path)}
}

func (rc *requestCounter) Count() int64 { return rc.n.Load() }

// wrap is a withListener wrapper.
func (rc *requestCounter) wrap(ln net.Listener) net.Listener { return countingListener{ln, rc} }

type countingListener struct {
	net.Listener
	rc *requestCounter
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, rc: l.rc}, nil
}

// countingConn scans what it reads for the needle, keeping the tail of each read so a
// request line split between two reads still counts once.
type countingConn struct {
	net.Conn
	rc   *requestCounter
	tail []byte
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		buf := append(c.tail, p[:n]...)
		c.rc.n.Add(int64(bytes.Count(buf, c.rc.needle)))
		keep := min(len(c.rc.needle)-1, len(buf))
		// Keep only a tail that cannot hold a whole needle (it was counted already).
		c.tail = append(c.tail[:0], buf[len(buf)-keep:]...)
	}
	return n, err
}

// waitConnsAfterWrites emits until the hub holds n streams: a client that went away is
// noticed when a write to it fails.
func waitConnsAfterWrites(t *testing.T, app *testApp, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, conns := app.deps.Hub.Counts(); conns == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hub never got down to %d streams", n)
		}
		app.emit(t)
		time.Sleep(100 * time.Millisecond)
	}
}

// browserLogin signs in through the login form and waits for the dashboard's panels.
func browserLogin(t *testing.T, ctx context.Context, app *testApp, email, pw string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+"/auth/login"),
		chromedp.WaitVisible(`[data-testid="login-form"]`),
		htmxSettled(),
		fill(`[data-testid="login-form"] [data-testid="email"]`, email),
		fill(`[data-testid="login-form"] [data-testid="password"]`, pw),
		chromedp.Click(`[data-testid="login-form"] [data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="panels"]`),
	)
	if err != nil {
		saveScreenshot(t, ctx, "failed-login-"+t.Name())
		t.Fatalf("log in as %s: %v", email, err)
	}
}

// consoleProblems records the page's console errors and warnings and its uncaught
// exceptions from now on; the returned func lists them.
func consoleProblems(ctx context.Context) func() []string {
	var mu sync.Mutex
	var got []string
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			switch m.Type {
			case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException:
				mu.Lock()
				got = append(got, m.String()+" ("+m.URL+")")
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// waitNavigated polls a JavaScript predicate through a navigation the page makes itself
// (chromedp's Poll ends when the document it polls goes away).
func waitNavigated(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			saveScreenshot(t, ctx, "failed-"+t.Name())
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// evalIn evaluates a JavaScript expression in one tab.
func evalIn[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// highsFor is the sample's high events that a user with the default settings sees, split
// into n chunks that each hold some.
func sampleChunks(t *testing.T, n int) [][]market.Event {
	t.Helper()
	events := testenv.MustSampleEvents(t)
	size := len(events) / n
	var out [][]market.Event
	for i := 0; i < n; i++ {
		out = append(out, events[i*size:(i+1)*size])
	}
	return out
}

// emitSample publishes the whole replay sample in one emission with the market snapshot
// at its end, so the summary has figures (phase, highs, activity) as on a live server.
func emitSample(t *testing.T, app *testApp) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "market", "testdata", "sample.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	eng := market.NewEngine(nil)
	var events []market.Event
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		tk, err := market.ParseTickRecord(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		events = eng.Process(tk, events)
	}
	app.deps.Publisher.Publish(context.Background(), stream.Batch{Events: events, Snapshot: eng.Snapshot()})
}

const rowsJS = `document.querySelectorAll("#highs tr[data-symbol], #lows tr[data-symbol]").length`

// TestBrowserSessionEndsMidStream: when the server ends the session behind an open
// dashboard, the page lands on the login page with "Your session ended. Sign in again."
// and never asks for /stream again. Both ways a session goes: ended on the server (as
// logout elsewhere, revocation or disabling do: the stream says "logout"), and a restart
// of a server that kept its sessions in memory (the new one answers 401 to the reconnect).
func TestBrowserSessionEndsMidStream(t *testing.T) {
	for _, how := range []string{"ended", "restart"} {
		t.Run(how, func(t *testing.T) {
			streams := countRequests("GET", "/stream")
			app := MustApp(t, withListener("", streams.wrap))
			u, pw := app.MustUser(t, "gone-"+how+"@example.com", "gone"+how)
			ctx := MustBrowser(t)
			browserLogin(t, ctx, app, "gone-"+how+"@example.com", pw)
			waitJS(t, ctx, "the stream to open", liveJS)
			app.emit(t, sampleChunks(t, 4)[0]...)
			waitJS(t, ctx, "rows", rowsJS+" > 0")

			switch how {
			case "ended":
				if _, err := app.deps.Sessions.EndUser(context.Background(), u.ID, bus.ReasonRevoked); err != nil {
					t.Fatal(err)
				}
			case "restart":
				// The same address, a new process's memory: the browser's session is unknown.
				addr := strings.TrimPrefix(app.URL, "http://")
				app.stop()
				app = MustApp(t, withListener(addr, streams.wrap))
			}
			waitNavigated(t, ctx, "the login page", `location.pathname === "/auth/login" && !!document.querySelector('[data-testid="notice"]')`)
			notice := evalIn[string](t, ctx, `document.querySelector('[data-testid="notice"]').textContent`)
			if notice != "Your session ended. Sign in again." {
				t.Fatalf("notice %q", notice)
			}
			if evalIn[bool](t, ctx, `!!document.querySelector('[data-testid="nav-username"]')`) {
				t.Fatal("the login page still shows the user as signed in")
			}
			saveScreenshot(t, ctx, "session-ended-"+how)
			before := streams.Count()
			if before < 2 { // the first stream, and the one that learnt of the end
				if how == "restart" || before < 1 {
					t.Fatalf("the counter saw %d /stream requests: it does not count", before)
				}
			}
			t.Logf("%d /stream requests until the page left", before)
			time.Sleep(5 * time.Second) // longer than any retry delay the page would use
			if after := streams.Count(); after != before {
				t.Fatalf("%d more /stream requests after the session ended", after-before)
			}
		})
	}
}

// TestBrowserTabsShareOneStream: ten dashboard tabs in one browser hold one stream between
// them, all stay live, and other pages still load. When the leader tab closes, another
// takes the stream over within 2 s, resuming where it was.
func TestBrowserTabsShareOneStream(t *testing.T) {
	app := MustApp(t, unlimited)
	_, pw := app.MustUser(t, "tabs@example.com", "tabtrader")
	first := MustBrowser(t)
	problems := consoleProblems(first)
	browserLogin(t, first, app, "tabs@example.com", pw)
	waitJS(t, first, "the stream to open", liveJS)
	chunks := sampleChunks(t, 3)
	app.emit(t, chunks[0]...)
	waitJS(t, first, "rows in the first tab", rowsJS+" > 0")
	want := evalIn[int](t, first, rowsJS)

	tabs := []context.Context{first}
	for i := 1; i < 10; i++ {
		ctx, cancel := chromedp.NewContext(first)
		t.Cleanup(cancel)
		if err := chromedp.Do(ctx, chromedp.Navigate(app.URL+"/dashboard"), chromedp.WaitVisible(`[data-testid="panels"]`)); err != nil {
			t.Fatalf("open tab %d: %v", i+1, err)
		}
		tabs = append(tabs, ctx)
	}
	// Every tab shows what the first one does (the leader's recent history), and is live.
	for i, ctx := range tabs {
		waitJS(t, ctx, fmt.Sprintf("tab %d to catch up", i+1), fmt.Sprintf(`%s === %d && %s`, rowsJS, want, liveJS))
	}
	if _, conns := app.deps.Hub.Counts(); conns != 1 {
		t.Fatalf("ten tabs hold %d streams, want 1", conns)
	}
	leaders := 0
	for _, ctx := range tabs {
		if evalIn[string](t, ctx, `document.documentElement.dataset.streamRole`) == "leader" {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leader tabs, want 1", leaders)
	}

	// An 11th tab loads another page.
	other, cancel := chromedp.NewContext(first)
	t.Cleanup(cancel)
	loadCtx, stop := context.WithTimeout(other, 10*time.Second)
	if err := chromedp.Do(loadCtx, chromedp.Navigate(app.URL+"/settings"), chromedp.WaitVisible(`[data-testid="settings-title"]`)); err != nil {
		t.Fatalf("/settings in an 11th tab: %v", err)
	}
	stop()

	// New rows reach all ten.
	app.emit(t, chunks[1]...)
	waitJS(t, first, "the second emission", rowsJS+fmt.Sprintf(" > %d", want))
	want = evalIn[int](t, first, rowsJS)
	for i, ctx := range tabs {
		waitJS(t, ctx, fmt.Sprintf("tab %d to get the second emission", i+1), fmt.Sprintf(`%s === %d`, rowsJS, want))
	}
	if p := problems(); len(p) > 0 {
		t.Fatalf("console problems in the leader tab: %q", p)
	}

	// Close the leader (the first tab): another tab leads within 2 s, and resumes.
	if _, err := chromedp.CallBrowser(first, target.CloseTarget, target.CloseTargetParams{TargetID: chromedp.FromContext(first).Target.TargetID}); err != nil {
		t.Fatalf("close the leader tab: %v", err)
	}
	rest := tabs[1:]
	closed := time.Now()
	deadline := closed.Add(2 * time.Second)
	var leader context.Context
	for leader == nil {
		for _, ctx := range rest {
			if evalIn[string](t, ctx, `document.documentElement.dataset.streamRole`) == "leader" {
				leader = ctx
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no new leader within 2 s of closing the leader tab")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("a new leader after %v", time.Since(closed).Round(time.Millisecond))
	// Its stream resumes from the last id the tab saw (the closed tab's socket may linger
	// on the server until the next write fails).
	eventually(t, "the new leader's stream", func() bool { return app.deps.Publisher.Metrics().Resumes == 1 })
	app.emit(t, chunks[2]...)
	waitJS(t, leader, "the third emission", rowsJS+fmt.Sprintf(" > %d", want))
	want = evalIn[int](t, leader, rowsJS)
	for i, ctx := range rest {
		waitJS(t, ctx, fmt.Sprintf("tab %d after the leader left", i+2), fmt.Sprintf(`%s === %d`, rowsJS, want))
	}
	if m := app.deps.Publisher.Metrics(); m.Resumes != 1 || m.Resets != 0 {
		t.Fatalf("the new leader's stream: %d resumes, %d resets; want 1 and 0", m.Resumes, m.Resets)
	}
	waitConnsAfterWrites(t, app, 1) // the closed tab's socket goes at the first failed write
}

// TestBrowserNinthStreamShowsWhy: a user who already holds 8 streams (say, other
// browsers) sees the server's 429 message on the dashboard, which keeps trying and goes
// live once a stream is free.
func TestBrowserNinthStreamShowsWhy(t *testing.T) {
	app := MustApp(t, unlimited)
	_, pw := app.MustUser(t, "nine@example.com", "ninetrader")
	c := app.NewClient(t)
	c.login("nine@example.com", pw)
	var open []*sseStream
	for i := 0; i < stream.MaxStreamsPerUser; i++ {
		s, resp := c.openStream("/stream")
		if s == nil {
			t.Fatalf("stream %d: %d", i+1, resp.StatusCode)
		}
		open = append(open, s)
	}
	ctx := MustBrowser(t)
	browserLogin(t, ctx, app, "nine@example.com", pw)
	waitJS(t, ctx, "the refusal", `document.getElementById("conn-status").textContent.includes("streams open already")`)
	if got := evalIn[string](t, ctx, `document.getElementById("conn-announce").textContent`); !strings.Contains(got, "close a tab first") {
		t.Fatalf("the refusal was not announced: %q", got)
	}
	saveScreenshot(t, ctx, "dashboard-429")
	open[0].close()
	waitConnsAfterWrites(t, app, stream.MaxStreamsPerUser-1) // the server notices at its next write
	waitJS(t, ctx, "the stream once one is free", liveJS)
}

// TestBrowserFitsAPhone: at 390 px neither the dashboard (with rows) nor the settings page
// scrolls sideways; the tables scroll inside their panels.
func TestBrowserFitsAPhone(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "phone@example.com", "a-rather-long-phone-username")
	ctx := MustBrowser(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	browserLogin(t, ctx, app, "phone@example.com", pw)
	waitJS(t, ctx, "the stream to open", liveJS)
	emitSample(t, app)
	waitJS(t, ctx, "rows", `document.querySelectorAll("#surge-down tr[data-symbol]").length > 0 && `+rowsJS+" > 0")
	fits := `document.documentElement.scrollWidth <= 390 && document.documentElement.clientWidth === 390`
	if !evalIn[bool](t, ctx, fits) {
		saveScreenshot(t, ctx, "phone-too-wide")
		t.Fatalf("the dashboard is %d px wide at 390", evalIn[int](t, ctx, `document.documentElement.scrollWidth`))
	}
	// Secondary columns are hidden; the headers of the rest stay in view as a table scrolls.
	if evalIn[bool](t, ctx, `getComputedStyle(document.querySelector("[data-panel=highs] th.opt")).display !== "none"`) {
		t.Fatal("secondary columns show on a phone")
	}
	// The essential columns fit without scrolling the table: "% from open" is in view.
	if evalIn[bool](t, ctx, `(function () {
		const wrap = document.querySelector("#highs").closest(".table-wrap");
		return wrap.scrollWidth > wrap.clientWidth;
	})()`) {
		t.Fatal("the highs table needs sideways scrolling on a phone")
	}
	if evalIn[string](t, ctx, `getComputedStyle(document.querySelector("#highs").closest("table").querySelector("th")).position`) != "sticky" {
		t.Fatal("column headers are not sticky")
	}
	if evalIn[bool](t, ctx, `(function(){ const b = document.querySelector('[data-testid="logout"]').getBoundingClientRect(); return b.height > 40 || b.right > 390; })()`) {
		t.Fatal(`"Log out" wraps or runs off the screen`)
	}
	saveScreenshot(t, ctx, "phone-dashboard")
	saveViewShot(t, ctx, "docs-dashboard-phone")
	if err := chromedp.Do(ctx, chromedp.Navigate(app.URL+"/settings"), chromedp.WaitVisible(`[data-testid="settings-title"]`)); err != nil {
		t.Fatal(err)
	}
	if !evalIn[bool](t, ctx, fits) {
		saveScreenshot(t, ctx, "phone-settings-too-wide")
		t.Fatalf("the settings page is %d px wide at 390", evalIn[int](t, ctx, `document.documentElement.scrollWidth`))
	}
	saveScreenshot(t, ctx, "phone-settings")
}

// TestBrowserSettingsErrorKeepsEdits: a filter form with one bad field and three changed
// good ones comes back with the error on the bad field (red, aria-invalid, described by the
// message, focused) and the three changes still there. Nothing is saved.
func TestBrowserSettingsErrorKeepsEdits(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "keep@example.com", "keeper")
	ctx := MustBrowser(t)
	browserLogin(t, ctx, app, "keep@example.com", pw)
	err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+"/settings"),
		chromedp.WaitVisible(`[data-testid="form-filters"]`),
		htmxSettled(),
		fill(`[data-testid="min-volume"]`, "250000"),                  // good
		chromedp.SetValue(`[data-testid="trend-strength"]`, "strong"), // good
		chromedp.Click(`[data-testid="direction-up"]`),                // good
		fill(`[data-testid="min-count"]`, "-3"),                       // bad
		chromedp.Click(`[data-testid="save-filters"]`),
		chromedp.WaitVisible(`[data-testid="error-highlow.min_count"]`),
		htmxSettled(),
	)
	if err != nil {
		saveScreenshot(t, ctx, "failed-settings-error")
		t.Fatalf("post the form: %v", err)
	}
	state := evalIn[map[string]any](t, ctx, `(function () {
		const bad = document.querySelector('[data-testid="min-count"]');
		const msg = document.getElementById(bad.getAttribute("aria-describedby") || "-");
		return {
			invalid: bad.getAttribute("aria-invalid"),
			message: msg ? msg.textContent : "",
			focused: document.activeElement === bad,
			border: getComputedStyle(bad).borderTopColor,
			down: getComputedStyle(msg).color,
			count: bad.value,
			volume: document.querySelector('[data-testid="min-volume"]').value,
			strength: document.querySelector('[data-testid="trend-strength"]').value,
			up: document.querySelector('[data-testid="direction-up"]').checked,
			othersInvalid: document.querySelectorAll('[aria-invalid="true"]').length,
			location: location.pathname,
		};
	})()`)
	want := map[string]any{"invalid": "true", "focused": true, "count": "-3", "volume": "250000", "strength": "strong",
		"up": true, "othersInvalid": float64(1), "location": "/settings"}
	for k, v := range want {
		if state[k] != v {
			t.Errorf("%s = %v, want %v", k, state[k], v)
		}
	}
	if !strings.Contains(state["message"].(string), "Minimum count") {
		t.Errorf("message %q", state["message"])
	}
	if state["border"] != state["down"] {
		t.Errorf("the bad field's border is %v, not the error colour %v", state["border"], state["down"])
	}
	saveScreenshot(t, ctx, "settings-error")
	if f := readStoredFilters(t, app, "keep@example.com", pw); f.HighLow.MinVolume != 0 || f.Trends.Direction != "both" {
		t.Fatalf("a refused form saved something: %+v", f)
	}

	// Fixing the one field saves all four.
	err = chromedp.Do(ctx,
		fill(`[data-testid="min-count"]`, "3"),
		chromedp.Click(`[data-testid="save-filters"]`),
		chromedp.WaitVisible(`#filters [data-testid="saved"]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	f := readStoredFilters(t, app, "keep@example.com", pw)
	if f.HighLow.MinCount != 3 || f.HighLow.MinVolume != 250000 || f.Trends.MinStrength != "strong" || f.Trends.Direction != "up" {
		t.Fatalf("saved %+v", f)
	}
}

// readStoredFilters asks the API, as the user in a client of its own.
func readStoredFilters(t *testing.T, app *testApp, email, pw string) settings.Filters {
	t.Helper()
	c := app.NewClient(t)
	c.login(email, pw)
	return readStored(t, c).Filters
}

// TestBrowserUniverseSwitch: switching universes while the dashboard is open puts a divider
// in every panel and the new universes in the header, without a reload.
func TestBrowserUniverseSwitch(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "switch@example.com", "switcher")
	ctx := MustBrowser(t)
	browserLogin(t, ctx, app, "switch@example.com", pw)
	waitJS(t, ctx, "the stream to open", liveJS)
	chunks := sampleChunks(t, 2)
	app.emit(t, chunks[0]...)
	waitJS(t, ctx, "rows", rowsJS+" > 0")
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded = true`)); err != nil {
		t.Fatal(err)
	}

	// The switch happens elsewhere (another tab, another device, the API).
	c := app.NewClient(t)
	c.login("switch@example.com", pw)
	if r := c.postJSON("/api/user/universe-selections", `{"tracker":"highlow","universes":["TECH_UNIVERSE"]}`); r.StatusCode != http.StatusOK {
		t.Fatalf("switch: %d %s", r.StatusCode, r.Body)
	}
	app.emit(t, chunks[1]...)
	waitJS(t, ctx, "the divider", `document.querySelectorAll("tbody[data-max-rows] tr.divider").length === 6`)
	state := evalIn[map[string]any](t, ctx, `({
		header: document.getElementById("dash-universes").textContent,
		divider: document.querySelector("#highs tr.divider").textContent,
		reloaded: !window.notReloaded,
		hint: document.getElementById("empty-highs").textContent,
	})`)
	if !strings.HasPrefix(state["header"].(string), "Panels: TECH_UNIVERSE") {
		t.Fatalf("header %q", state["header"])
	}
	if d := state["divider"].(string); !strings.HasPrefix(d, "Universes changed at ") || !strings.HasSuffix(d, " ET") {
		t.Fatalf("divider %q", d)
	}
	if state["reloaded"] != false {
		t.Fatal("the page reloaded")
	}
	if !strings.Contains(state["hint"].(string), "in TECH_UNIVERSE since") {
		t.Fatalf("empty state %q", state["hint"])
	}
	// Above each divider only the new universe's symbols; below it, the old rows.
	tech, err := app.deps.Settings.SymbolSet(context.Background(), []string{"TECH_UNIVERSE"})
	if err != nil {
		t.Fatal(err)
	}
	sides := evalIn[map[string][]string](t, ctx, `(function () {
		const out = {above: [], below: []};
		for (const tb of document.querySelectorAll("tbody[data-max-rows]")) {
			let side = "above";
			for (const tr of tb.rows) {
				if (tr.classList.contains("divider")) { side = "below"; continue; }
				out[side].push(tr.dataset.symbol);
			}
		}
		return out;
	})()`)
	for _, sym := range sides["above"] {
		if !tech.Has(sym) {
			t.Fatalf("%s, not in TECH_UNIVERSE, is above the divider", sym)
		}
	}
	if len(sides["above"]) == 0 || len(sides["below"]) == 0 {
		t.Fatalf("rows above the dividers: %d, below: %d; the test proves nothing", len(sides["above"]), len(sides["below"]))
	}
	saveScreenshot(t, ctx, "dashboard-universes-changed")
}

// TestBrowserOneRowPerSymbol: with one row per symbol on, no panel shows a symbol twice,
// a row that stands for several events says how many, and the choice is saved.
func TestBrowserOneRowPerSymbol(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "onerow@example.com", "onerow")
	ctx := MustBrowser(t)
	browserLogin(t, ctx, app, "onerow@example.com", pw)
	waitJS(t, ctx, "the stream to open", liveJS)
	chunks := sampleChunks(t, 2)
	app.emit(t, chunks[0]...)
	waitJS(t, ctx, "repeated symbols", `(function () {
		const syms = [...document.querySelectorAll("#highs tr[data-symbol]")].map(r => r.dataset.symbol);
		return syms.length > new Set(syms).size;
	})()`)
	rowsBefore := evalIn[int](t, ctx, `document.querySelectorAll("#highs tr[data-symbol]").length`)
	firstEmitted := evalIn[string](t, ctx, `document.querySelector("#highs tr[data-symbol]").dataset.emitted`)
	if err := chromedp.Do(ctx, chromedp.Click(`[data-testid="toggle-one-row"]`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the toggle", `document.querySelector('[data-testid="toggle-one-row"]').getAttribute("aria-pressed") === "true"`)
	app.emit(t, chunks[1]...)
	unique := `[...document.querySelectorAll("tbody[data-max-rows]")].every(tb => {
		const syms = [...tb.querySelectorAll("tr[data-symbol]")].map(r => r.dataset.symbol);
		return syms.length === new Set(syms).size;
	})`
	waitJS(t, ctx, "the second emission", `document.querySelector("#highs tr[data-symbol]").dataset.emitted !== "`+firstEmitted+`"`)
	if !evalIn[bool](t, ctx, unique) {
		t.Fatal("a panel shows a symbol twice")
	}
	// The repeat count adds up to the rows there were, and shows.
	total := evalIn[int](t, ctx, `[...document.querySelectorAll("#highs tr[data-symbol]")].reduce((n, r) => n + (parseInt(r.dataset.repeat) || 1), 0)`)
	if total < rowsBefore {
		t.Fatalf("the rows stand for %d events, fewer than the %d shown before", total, rowsBefore)
	}
	if evalIn[string](t, ctx, `document.querySelector("#highs tr[data-repeat] .repeat").textContent`)[:len("×")] != "×" {
		t.Fatal("no repeat count shown")
	}
	f := readStoredFilters(t, app, "onerow@example.com", pw)
	if !f.Display.OneRowPerSymbol {
		t.Fatal("the choice was not saved")
	}
	// A reload starts with it on.
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(`[data-testid="panels"]`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "rows after the reload", rowsJS+" > 0")
	if !evalIn[bool](t, ctx, unique) {
		t.Fatal("after a reload a panel shows a symbol twice")
	}
	saveScreenshot(t, ctx, "dashboard-one-row")
}

// TestBrowserPauseHoldsRows: a paused panel holds new rows and counts them; resuming lets
// them in, newest first.
func TestBrowserPauseHoldsRows(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "pause@example.com", "pauser")
	ctx := MustBrowser(t)
	browserLogin(t, ctx, app, "pause@example.com", pw)
	waitJS(t, ctx, "the stream to open", liveJS)
	chunks := sampleChunks(t, 2)
	app.emit(t, chunks[0]...)
	waitJS(t, ctx, "rows", `document.querySelectorAll("#highs tr[data-symbol]").length > 0`)
	n := evalIn[int](t, ctx, `document.querySelectorAll("#highs tr[data-symbol]").length`)
	if err := chromedp.Do(ctx, chromedp.Click(`[data-testid="pause-highs"]`)); err != nil {
		t.Fatal(err)
	}
	app.emit(t, chunks[1]...)
	waitJS(t, ctx, "rows waiting", `/^\d+ waiting$/.test(document.querySelector('[data-testid="waiting-highs"]').textContent)`)
	if got := evalIn[int](t, ctx, `document.querySelectorAll("#highs tr[data-symbol]").length`); got != n {
		t.Fatalf("a paused panel went from %d to %d rows", n, got)
	}
	waiting := evalIn[string](t, ctx, `document.querySelector('[data-testid="waiting-highs"]').textContent`)
	if err := chromedp.Do(ctx, chromedp.Click(`[data-testid="pause-highs"]`), chromedp.MouseClickXY(1, 1)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the held rows", fmt.Sprintf(`document.querySelectorAll("#highs tr[data-symbol]").length > %d`, n))
	var held int
	fmt.Sscanf(waiting, "%d waiting", &held)
	if got := evalIn[int](t, ctx, `document.querySelectorAll("#highs tr[data-symbol]").length`); got != min(n+held, 100) {
		t.Fatalf("%d rows after resuming, want %d + %d", got, n, held)
	}
}

// TestLoginEndedNotice: ?ended= shows one fixed sentence, whatever it carries.
func TestLoginEndedNotice(t *testing.T) {
	app := MustApp(t)
	c := app.NewClient(t)
	r := c.get("/auth/login?ended=" + url.QueryEscape(`<script>alert(1)</script>`))
	if r.StatusCode != http.StatusOK {
		t.Fatal(r.StatusCode)
	}
	if got := r.Doc(t).Find(`[data-testid="notice"]`).Text(); got != "Your session ended. Sign in again." {
		t.Fatalf("notice %q", got)
	}
	if strings.Contains(r.Body, "alert(1)") {
		t.Fatal("the query string reached the page")
	}
	if r := c.get("/auth/login"); r.Doc(t).Find(`[data-testid="notice"]`).Length() != 0 {
		t.Fatal("a notice without ?ended")
	}
	fav := c.get("/favicon.ico")
	if fav.StatusCode != http.StatusOK || fav.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(fav.Body, "<svg") {
		t.Fatalf("/favicon.ico: %d %s", fav.StatusCode, fav.Header.Get("Content-Type"))
	}
	if r := c.get("/static/img/favicon.svg"); r.StatusCode != http.StatusOK {
		t.Fatalf("/static/img/favicon.svg: %d", r.StatusCode)
	}
}

// TestBrowserOutageShowsAge: while the server cannot be reached the panels dim and the
// status says how old the data is, counting up; the change is announced once, not every
// second. When the server is back the stream resumes where it left off.
func TestBrowserOutageShowsAge(t *testing.T) {
	app := MustApp(t)
	proxy := faultproxy.MustStart(t, strings.TrimPrefix(app.URL, "http://"))
	via := &testApp{URL: "http://" + proxy.Addr()}
	_, pw := app.MustUser(t, "outage@example.com", "outage")
	ctx := MustBrowser(t)
	browserLogin(t, ctx, via, "outage@example.com", pw)
	waitJS(t, ctx, "the stream to open", liveJS)
	chunks := sampleChunks(t, 2)
	app.emit(t, chunks[0]...)
	waitJS(t, ctx, "rows", rowsJS+" > 0")
	n := evalIn[int](t, ctx, rowsJS)

	proxy.Down()
	age := `/^Reconnecting… last update \d\d:\d\d:\d\d ET \((\d+) s ago\)$/`
	waitJS(t, ctx, "the outage to show", age+`.test(document.getElementById("conn-status").textContent)`)
	first := evalIn[string](t, ctx, `document.getElementById("conn-status").textContent`)
	time.Sleep(2100 * time.Millisecond)
	state := evalIn[map[string]any](t, ctx, `({
		text: document.getElementById("conn-status").textContent,
		said: document.getElementById("conn-announce").textContent,
		opacity: getComputedStyle(document.querySelector(".panels")).opacity,
	})`)
	secs := func(s string) (n int) { fmt.Sscanf(s[strings.LastIndex(s, "(")+1:], "%d", &n); return n }
	if secs(state["text"].(string)) < secs(first)+2 {
		t.Fatalf("the age does not count up: %q then %q", first, state["text"])
	}
	if state["said"] != "Live updates lost. Reconnecting." {
		t.Fatalf("announced %q", state["said"])
	}
	if state["opacity"] == "1" {
		t.Fatal("the panels do not dim while the stream is down")
	}
	saveScreenshot(t, ctx, "dashboard-reconnecting")

	app.emit(t, chunks[1]...) // missed while away
	proxy.Up()
	waitJS(t, ctx, "the stream to come back", liveJS)
	waitJS(t, ctx, "the missed rows", rowsJS+fmt.Sprintf(" > %d", n))
	if said := evalIn[string](t, ctx, `document.getElementById("conn-announce").textContent`); said != "Live updates are back." {
		t.Fatalf("announced %q", said)
	}
	if m := app.deps.Publisher.Metrics(); m.Resumes < 1 || m.Resets != 0 {
		t.Fatalf("%d resumes, %d resets", m.Resumes, m.Resets)
	}
}

// TestBrowserWithoutWebLocks: a browser without the Web Locks API streams in each tab on
// its own, and still works.
func TestBrowserWithoutWebLocks(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "nolocks@example.com", "nolocks")
	ctx := MustBrowser(t)
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `Object.defineProperty(Navigator.prototype, "locks", {get: () => undefined});`,
	}); err != nil {
		t.Fatal(err)
	}
	browserLogin(t, ctx, app, "nolocks@example.com", pw)
	waitJS(t, ctx, "the stream to open", liveJS)
	if role := evalIn[string](t, ctx, `document.documentElement.dataset.streamRole`); role != "direct" {
		t.Fatalf("role %q without Web Locks, want direct", role)
	}
	app.emit(t, sampleChunks(t, 2)[0]...)
	waitJS(t, ctx, "rows", rowsJS+" > 0")
}

// TestBrowserLayoutAndKeyboard: wide screens get three columns of panels; the first Tab
// reaches the skip link, which leads to the main content; panels collapse and stay so
// after a reload; the compact density sticks; the page logs nothing to the console.
func TestBrowserLayoutAndKeyboard(t *testing.T) {
	app := MustApp(t)
	_, pw := app.MustUser(t, "wide@example.com", "widetrader")
	ctx := MustBrowser(t)
	problems := consoleProblems(ctx)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(2560, 1300)); err != nil {
		t.Fatal(err)
	}
	browserLogin(t, ctx, app, "wide@example.com", pw)
	waitJS(t, ctx, "the stream to open", liveJS)
	emitSample(t, app)
	waitJS(t, ctx, "rows", rowsJS+" > 0")
	if cols := evalIn[int](t, ctx, `getComputedStyle(document.querySelector(".panels")).gridTemplateColumns.split(" ").length`); cols != 3 {
		t.Fatalf("%d columns of panels at 2560 px, want 3", cols)
	}
	if used := evalIn[float64](t, ctx, `document.querySelector(".panels").getBoundingClientRect().width / innerWidth`); used < 0.9 {
		t.Fatalf("the panels use %.0f%% of a 2560 px screen", used*100)
	}
	saveScreenshot(t, ctx, "desktop-wide")

	err := chromedp.Do(ctx,
		chromedp.KeyEvent("\t"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if got := evalIn[string](t, ctx, `document.activeElement.dataset.testid || document.activeElement.tagName`); got != "skip-link" {
		t.Fatalf("the first Tab reaches %q, not the skip link", got)
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "main to take the focus", `document.activeElement.id === "main"`)

	// Collapse the lows, go compact; both survive a reload.
	if err := chromedp.Do(ctx, chromedp.Click(`[data-collapse="lows"]`), chromedp.Click(`[data-testid="toggle-density"]`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(`[data-testid="panels"]`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the stored view", `document.getElementById("body-lows").hidden &&
		document.querySelector('[data-collapse="lows"]').getAttribute("aria-expanded") === "false" &&
		!document.getElementById("body-highs").hidden &&
		document.documentElement.dataset.density === "compact" &&
		document.querySelector('[data-testid="toggle-density"]').getAttribute("aria-pressed") === "true"`)
	if p := problems(); len(p) > 0 {
		t.Fatalf("console problems: %q", p)
	}
}
