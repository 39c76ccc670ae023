package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5"

	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/stream"
)

// withSymbols gives the app a market to read symbol figures from.
func withSymbols(s SymbolData) appOption {
	return func(d *appSetup) { d.Symbols = s }
}

// listCard finds the card of the list named name on a watchlists page or fragment.
func listCard(t *testing.T, doc *goquery.Document, name string) *goquery.Selection {
	t.Helper()
	var card *goquery.Selection
	doc.Find(`[data-testid="watchlist"]`).Each(func(_ int, s *goquery.Selection) {
		if s.AttrOr("data-name", "") == name {
			card = s
		}
	})
	if card == nil {
		t.Fatalf("no watchlist %q on the page", name)
	}
	return card
}

// listSymbols lists the symbols a card shows, in order.
func listSymbols(s *goquery.Selection) []string {
	out := []string{}
	s.Find(`[data-testid="watchlist-row"]`).Each(func(_ int, r *goquery.Selection) {
		out = append(out, r.AttrOr("data-symbol", ""))
	})
	return out
}

// handleOf is a card's list handle, from its id ("wl-<handle>").
func handleOf(t *testing.T, card *goquery.Selection) string {
	t.Helper()
	id, ok := strings.CutPrefix(card.AttrOr("id", ""), "wl-")
	if !ok || id == "" {
		t.Fatalf("card id %q", card.AttrOr("id", ""))
	}
	return id
}

// mustList creates a list through the form and returns its handle.
func mustList(t *testing.T, c *client, name, symbols string) string {
	t.Helper()
	r := c.postForm("/watchlists", url.Values{"name": {name}, "symbols": {symbols}})
	if r.StatusCode != 303 {
		t.Fatalf("create %q: %d %s", name, r.StatusCode, r.Body)
	}
	return handleOf(t, listCard(t, c.get("/watchlists").Doc(t), name))
}

// high is a crafted new-high event of sym.
func high(sym string, price float64, count int) market.Event {
	return market.Event{Kind: market.KindHigh, HighLow: market.HighLowEvent{Kind: market.KindHigh, Symbol: sym,
		Price: price, Time: market.MillisOf(time.Now()), Count: count, CountUp: count, Volume: 1000,
		SessionHigh: price, SessionLow: price - 1}}
}

// jsonSymbols reads one JSON emission and returns the symbols of its highs.
func jsonSymbols(t *testing.T, ev sseEvent) []string {
	t.Helper()
	var em struct {
		Highs []market.HighLowEvent `json:"highs"`
	}
	if err := json.Unmarshal([]byte(ev.Data), &em); err != nil {
		t.Fatalf("emission: %v: %s", err, ev.Data)
	}
	out := []string{}
	for _, h := range em.Highs {
		out = append(out, h.Symbol)
	}
	slices.Sort(out)
	return out
}

func TestWatchlistsCRUD(t *testing.T) {
	app := MustApp(t, unlimited)
	c := signedIn(t, app, "lists@example.com", "lister")

	doc := c.get("/watchlists").Doc(t)
	if doc.Find(`[data-testid="no-watchlists"]`).Length() != 1 || doc.Find(`[data-testid="nav-watchlists"]`).Length() != 1 {
		t.Fatal("a new user's page does not say there are no lists, or the nav lacks the link")
	}

	// Create through the plain form: a redirect to the list, symbols normalised.
	name := `Tech <b>"&'</b>`
	h := mustList(t, c, name, " aapl, msft;nvda\nmsft ")
	page := c.get("/watchlists")
	if strings.Contains(page.Body, "<b>\"&'</b>") || !strings.Contains(page.Body, "Tech &lt;b&gt;") {
		t.Fatal("the list's name is not escaped")
	}
	card := listCard(t, page.Doc(t), name)
	if got := listSymbols(card); !slices.Equal(got, []string{"AAPL", "MSFT", "NVDA"}) {
		t.Fatalf("symbols %v", got)
	}
	if href := card.Find(`[data-testid="symbol-link"]`).First().AttrOr("href", ""); href != "/symbols/AAPL" {
		t.Fatalf("symbol link %q", href)
	}
	if card.Find(`[data-testid="watchlist-universe"]`).Text() != "WL:"+name {
		t.Fatalf("universe label %q", card.Find(`[data-testid="watchlist-universe"]`).Text())
	}
	if card.Find(`[data-testid="no-data"]`).Length() != 3 {
		t.Fatal("without a market every symbol should say no data yet")
	}

	// Add with htmx: the answer is the card alone.
	r := c.postForm("/watchlists/"+h, url.Values{"action": {"add"}, "symbols": {"brk.b, RDS-A, aapl"}}, "HX-Request", "true")
	if r.StatusCode != 200 || strings.Contains(r.Body, "<html") {
		t.Fatalf("htmx add: %d %s", r.StatusCode, r.Body)
	}
	frag := r.Doc(t)
	if got := listSymbols(frag.Selection); !slices.Equal(got, []string{"AAPL", "BRK.B", "MSFT", "NVDA", "RDS-A"}) {
		t.Fatalf("after add: %v", got)
	}
	if msg := frag.Find(`[data-testid="saved"]`).Text(); msg != "Added BRK.B, RDS-A. Already in the list: AAPL." {
		t.Fatalf("add message %q", msg)
	}
	if frag.Find("#wl-"+h).Length() != 1 || frag.Find(`[data-testid="watchlist-size"]`).Text() != "5 of 200 symbols" {
		t.Fatalf("fragment is not the card: %s", r.Body)
	}

	// Remove with htmx, then rename.
	r = c.postForm("/watchlists/"+h, url.Values{"action": {"remove"}, "symbol": {"msft"}}, "HX-Request", "true")
	if got := listSymbols(r.Doc(t).Selection); r.StatusCode != 200 || !slices.Equal(got, []string{"AAPL", "BRK.B", "NVDA", "RDS-A"}) {
		t.Fatalf("after remove: %d %v", r.StatusCode, got)
	}
	r = c.postForm("/watchlists/"+h, url.Values{"action": {"rename"}, "name": {"  Leaders  "}}, "HX-Request", "true")
	if r.StatusCode != 200 || r.Doc(t).Find(`[data-testid="watchlist-name"]`).Text() != "Leaders" {
		t.Fatalf("rename: %d %s", r.StatusCode, r.Body)
	}
	// Without htmx an edit redirects back to the page.
	if r := c.postForm("/watchlists/"+h, url.Values{"action": {"add"}, "symbols": {"amd"}}); r.StatusCode != 303 || r.Header.Get("Location") != "/watchlists#wl-"+h {
		t.Fatalf("plain add: %d %s", r.StatusCode, r.Header.Get("Location"))
	}

	// The list is a universe of the user's own, with its size.
	var u struct {
		Success   bool                    `json:"success"`
		Universes []settings.UniverseInfo `json:"universes"`
	}
	mustDecode(t, c.get("/api/universes"), &u)
	i := slices.IndexFunc(u.Universes, func(x settings.UniverseInfo) bool { return x.Name == "WL:Leaders" })
	if i < 0 || u.Universes[i].Size != 5 || u.Universes[i].Description != "Your watchlist" {
		t.Fatalf("/api/universes: %+v", u.Universes)
	}
	// ... in the settings forms of both trackers, and selectable in each.
	sdoc := c.get("/settings").Doc(t)
	for _, tr := range []string{"highlow", "market"} {
		if sdoc.Find(`#universes-`+tr+` input[value="WL:Leaders"]`).Length() != 1 {
			t.Fatalf("the %s form does not offer WL:Leaders", tr)
		}
		r := c.postForm("/settings/universes", url.Values{"tracker": {tr}, "universes": {"WL:Leaders", "ETF_UNIVERSE"}}, "HX-Request", "true")
		if r.StatusCode != 200 || r.Doc(t).Find(`input[value="WL:Leaders"][checked]`).Length() != 1 {
			t.Fatalf("select WL:Leaders for %s: %d %s", tr, r.StatusCode, r.Body)
		}
	}
	sel := readStored(t, c).Selections
	if !slices.Equal(sel.HighLow, []string{"ETF_UNIVERSE", "WL:Leaders"}) || !slices.Equal(sel.Market, []string{"ETF_UNIVERSE", "WL:Leaders"}) {
		t.Fatalf("selections %+v", sel)
	}
	// A rename follows the selection: it names the same list.
	c.postForm("/watchlists/"+h, url.Values{"action": {"rename"}, "name": {"Core"}}, "HX-Request", "true")
	if sel := readStored(t, c).Selections; !slices.Contains(sel.HighLow, "WL:Core") || slices.Contains(sel.HighLow, "WL:Leaders") {
		t.Fatalf("after rename, selections %+v", sel)
	}

	// Delete: refused while a tracker uses it (see TestWatchlistDeleteInUse), done after.
	for _, tr := range []string{"highlow", "market"} {
		c.postJSON("/api/user/universe-selections", `{"tracker":"`+tr+`","universes":["ETF_UNIVERSE"]}`)
	}
	r = c.postForm("/watchlists/"+h+"/delete", url.Values{}, "HX-Request", "true")
	if r.StatusCode != 200 || r.Doc(t).Find(`[data-testid="watchlist"]`).Length() != 0 ||
		!strings.Contains(r.Doc(t).Find(`[data-testid="flash"]`).Text(), "Deleted WL:Core") {
		t.Fatalf("delete: %d %s", r.StatusCode, r.Body)
	}
	if r := c.postForm("/watchlists/"+h, url.Values{"action": {"add"}, "symbols": {"AAPL"}}); r.StatusCode != 404 {
		t.Fatalf("edit after delete: %d", r.StatusCode)
	}
}

func TestWatchlistsSort(t *testing.T) {
	at := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)
	ticks := []market.Tick{
		{Symbol: "AAA", Price: 50, Volume: 1, Time: at}, {Symbol: "AAA", Price: 51, Volume: 1, Time: at.Add(time.Second)}, // +2 %
		{Symbol: "BBB", Price: 10, Volume: 1, Time: at}, {Symbol: "BBB", Price: 9, Volume: 1, Time: at.Add(time.Second)}, // -10 %
		{Symbol: "CCC", Price: 300, Volume: 1, Time: at}, // 0 %
	}
	app := MustApp(t, unlimited, withSymbols(mustRunner(t, ticks)))
	c := signedIn(t, app, "sorter@example.com", "sorter")
	mustList(t, c, "Mixed", "CCC BBB AAA ZZZ")
	for _, tc := range []struct {
		sort string
		want []string
	}{
		{"", []string{"AAA", "BBB", "CCC", "ZZZ"}},
		{"-symbol", []string{"ZZZ", "CCC", "BBB", "AAA"}},
		{"price", []string{"BBB", "AAA", "CCC", "ZZZ"}}, // no data last either way
		{"-price", []string{"CCC", "AAA", "BBB", "ZZZ"}},
		{"pct", []string{"BBB", "CCC", "AAA", "ZZZ"}},
		{"-pct", []string{"AAA", "CCC", "BBB", "ZZZ"}},
		{"bogus", []string{"AAA", "BBB", "CCC", "ZZZ"}},
	} {
		r := c.get("/watchlists?sort="+url.QueryEscape(tc.sort), "HX-Request", "true", "HX-Target", "watchlists")
		if r.StatusCode != 200 || strings.Contains(r.Body, "<html") {
			t.Fatalf("sort %q: %d", tc.sort, r.StatusCode)
		}
		card := listCard(t, r.Doc(t), "Mixed")
		if got := listSymbols(card); !slices.Equal(got, tc.want) {
			t.Errorf("sort %q: %v, want %v", tc.sort, got, tc.want)
		}
	}
	// Prices and % from open come from the market; a symbol without ticks says so.
	card := listCard(t, c.get("/watchlists").Doc(t), "Mixed")
	row := card.Find(`[data-symbol="BBB"]`)
	if row.Find(`[data-testid="row-price"]`).Text() != "9.00" || row.Find(`[data-testid="row-pct"]`).Text() != "-10.00%" {
		t.Fatalf("BBB row: %s", row.Text())
	}
	if card.Find(`[data-symbol="ZZZ"] [data-testid="no-data"]`).Text() != "no data yet" {
		t.Fatal("ZZZ is not marked no data yet")
	}
	// An edit posted from a sorted page answers in that order.
	r := c.postForm("/watchlists/"+handleOf(t, card), url.Values{"action": {"add"}, "symbols": {"ABC"}},
		"HX-Request", "true", "HX-Current-URL", app.URL+"/watchlists?sort=-pct")
	if got := listSymbols(r.Doc(t).Selection); !slices.Equal(got, []string{"AAA", "CCC", "BBB", "ABC", "ZZZ"}) { // no data: by symbol
		t.Fatalf("edit answer order %v", got)
	}
}

func TestWatchlistsValidation(t *testing.T) {
	app := MustApp(t, unlimited)
	c := signedIn(t, app, "strict@example.com", "strict")
	h := mustList(t, c, "Main", "AAPL")

	long := strings.Repeat("n", 41)
	bad := []struct {
		name   string
		path   string
		values url.Values
		field  string
		msg    string
	}{
		{"empty name", "/watchlists", url.Values{"name": {"  "}}, "name", "Give the watchlist a name"},
		{"long name", "/watchlists", url.Values{"name": {long}}, "name", "at most 40"},
		{"control character", "/watchlists", url.Values{"name": {"a\tb"}}, "name", "control characters"},
		{"taken name, other case", "/watchlists", url.Values{"name": {"mAIN"}}, "name", "already have a watchlist"},
		{"bad symbol on create", "/watchlists", url.Values{"name": {"New"}, "symbols": {"AAPL, A$B"}}, "symbols", `"A$B" is not a valid symbol`},
		{"unknown field", "/watchlists", url.Values{"name": {"New"}, "owner": {"x"}}, "", "Unknown field"},
		{"symbol too long", "/watchlists/" + h, url.Values{"action": {"add"}, "symbols": {"ABCDEFGHIJK"}}, "symbols", "not a valid symbol"},
		{"several bad", "/watchlists/" + h, url.Values{"action": {"add"}, "symbols": {"ok1 <script> é $$"}}, "symbols", "These are not valid symbols"},
		{"empty add", "/watchlists/" + h, url.Values{"action": {"add"}, "symbols": {" , "}}, "symbols", "at least one symbol"},
		{"bad remove", "/watchlists/" + h, url.Values{"action": {"remove"}, "symbol": {"a b"}}, "symbol", "not a valid symbol"},
		{"unknown action", "/watchlists/" + h, url.Values{"action": {"share"}}, "", "Action must be"},
		{"field of another action", "/watchlists/" + h, url.Values{"action": {"rename"}, "name": {"X"}, "symbols": {"AAPL"}}, "symbols", `Unknown field "symbols"`},
		{"rename to empty", "/watchlists/" + h, url.Values{"action": {"rename"}, "name": {""}}, "name", "Give the watchlist a name"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			for _, htmx := range []bool{false, true} {
				var hdr []string
				if htmx {
					hdr = []string{"HX-Request", "true"}
				}
				r := c.postForm(tc.path, tc.values, hdr...)
				if r.StatusCode != 422 {
					t.Fatalf("htmx %v: %d %s", htmx, r.StatusCode, r.Body)
				}
				doc := r.Doc(t)
				msg := doc.Find(`[data-testid="form-error"]`).Text()
				if tc.field != "" {
					msg = doc.Find(`[data-testid="error-` + tc.field + `"]`).Text()
				}
				if !strings.Contains(msg, tc.msg) {
					t.Fatalf("htmx %v: message %q, want it to contain %q\n%s", htmx, msg, tc.msg, r.Body)
				}
				if htmx && strings.Contains(r.Body, "<html") {
					t.Fatal("htmx got a whole page")
				}
			}
		})
	}
	if strings.Contains(c.postForm("/watchlists/"+h, url.Values{"action": {"add"}, "symbols": {"<script>"}}).Body, "<script>") {
		t.Fatal("a refused symbol is echoed unescaped")
	}
	// Nothing changed.
	if got := listSymbols(listCard(t, c.get("/watchlists").Doc(t), "Main")); !slices.Equal(got, []string{"AAPL"}) {
		t.Fatalf("after refused edits: %v", got)
	}
	if n := c.get("/watchlists").Doc(t).Find(`[data-testid="watchlist"]`).Length(); n != 1 {
		t.Fatalf("%d lists after refused creates", n)
	}
}

func TestWatchlistsLimits(t *testing.T) {
	app := MustApp(t, unlimited)
	c := signedIn(t, app, "limits@example.com", "limits")
	syms := make([]string, 0, 201)
	for i := range 201 {
		syms = append(syms, fmt.Sprintf("S%03d", i))
	}
	// 201 at once: refused.
	r := c.postForm("/watchlists", url.Values{"name": {"Big"}, "symbols": {strings.Join(syms, " ")}})
	if r.StatusCode != 422 || !strings.Contains(r.Doc(t).Find(`[data-testid="error-symbols"]`).Text(), "at most 200") {
		t.Fatalf("201 on create: %d", r.StatusCode)
	}
	// 200, then the 201st.
	h := mustList(t, c, "Big", strings.Join(syms[:199], " "))
	if r := c.postForm("/watchlists/"+h, url.Values{"action": {"add"}, "symbols": {syms[199] + " " + syms[0]}}); r.StatusCode != 303 {
		t.Fatalf("200th: %d %s", r.StatusCode, r.Body)
	}
	r = c.postForm("/watchlists/"+h, url.Values{"action": {"add"}, "symbols": {syms[200]}}, "HX-Request", "true")
	if r.StatusCode != 422 || !strings.Contains(r.Doc(t).Find(`[data-testid="error-symbols"]`).Text(), "at most 200") {
		t.Fatalf("201st: %d %s", r.StatusCode, r.Body)
	}
	if got := listSymbols(listCard(t, c.get("/watchlists").Doc(t), "Big")); len(got) != 200 || slices.Contains(got, syms[200]) {
		t.Fatalf("the list holds %d symbols", len(got))
	}
	// 20 lists, then the 21st.
	for i := 2; i <= 20; i++ {
		mustList(t, c, fmt.Sprintf("List %d", i), "")
	}
	r = c.postForm("/watchlists", url.Values{"name": {"List 21"}}, "HX-Request", "true")
	if r.StatusCode != 422 || !strings.Contains(r.Doc(t).Find(`[data-testid="error-name"]`).Text(), "the most there can be") {
		t.Fatalf("21st list: %d %s", r.StatusCode, r.Body)
	}
	if n := c.get("/watchlists").Doc(t).Find(`[data-testid="watchlist"]`).Length(); n != 20 {
		t.Fatalf("%d lists", n)
	}
}

// TestWatchlistsConcurrentCreates: the 20-list limit holds when creates race.
func TestWatchlistsConcurrentCreates(t *testing.T) {
	app := MustApp(t, unlimited)
	u, _ := app.MustUser(t, "race@example.com", "racer")
	ctx := context.Background()
	errs := make(chan error, 30)
	for i := range 30 {
		go func() {
			_, err := app.deps.Settings.CreateWatchlist(ctx, u.ID, fmt.Sprintf("L%d", i), []string{"AAPL"})
			errs <- err
		}()
	}
	ok := 0
	for range 30 {
		if err := <-errs; err == nil {
			ok++
		}
	}
	lists, err := app.deps.Settings.Watchlists(ctx, u.ID)
	if err != nil || ok != 20 || len(lists) != 20 {
		t.Fatalf("%d creates succeeded, %d lists (%v)", ok, len(lists), err)
	}
}

func TestWatchlistIsolation(t *testing.T) {
	app := MustApp(t, unlimited)
	a := signedIn(t, app, "wa@example.com", "alice")
	b := signedIn(t, app, "wb@example.com", "bobby")
	ha := mustList(t, a, "Tech", "AAPL NVDA")

	// B sees nothing of A's list on the page, in the API or in the forms.
	if bdoc := b.get("/watchlists").Doc(t); bdoc.Find(`[data-testid="watchlist"]`).Length() != 0 || strings.Contains(bdoc.Text(), "AAPL") {
		t.Fatal("B's page shows A's list")
	}
	for _, path := range []string{"/api/universes", "/settings"} {
		if body := b.get(path).Body; strings.Contains(body, "WL:Tech") {
			t.Fatalf("B's %s offers WL:Tech", path)
		}
	}
	// ... cannot select it ...
	r := b.postJSON("/api/user/universe-selections", `{"tracker":"highlow","universes":["WL:Tech"]}`)
	if r.StatusCode != 422 || !strings.Contains(r.Body, `Unknown universe \"WL:Tech\"`) {
		t.Fatalf("B selects A's list: %d %s", r.StatusCode, r.Body)
	}
	if r := b.postForm("/settings/universes", url.Values{"tracker": {"market"}, "universes": {"WL:Tech"}}); r.StatusCode != 422 {
		t.Fatalf("B selects A's list by form: %d", r.StatusCode)
	}
	// ... nor edit or delete it by its handle: 404, and nothing changes.
	for _, tc := range []struct {
		path   string
		values url.Values
	}{
		{"/watchlists/" + ha, url.Values{"action": {"add"}, "symbols": {"MSFT"}}},
		{"/watchlists/" + ha, url.Values{"action": {"rename"}, "name": {"Mine"}}},
		{"/watchlists/" + ha, url.Values{"action": {"remove"}, "symbol": {"AAPL"}}},
		{"/watchlists/" + ha + "/delete", url.Values{}},
	} {
		if r := b.postForm(tc.path, tc.values, "HX-Request", "true"); r.StatusCode != 404 {
			t.Fatalf("B posts %s %v: %d", tc.path, tc.values, r.StatusCode)
		}
	}
	if got := listSymbols(listCard(t, a.get("/watchlists").Doc(t), "Tech")); !slices.Equal(got, []string{"AAPL", "NVDA"}) {
		t.Fatalf("A's list after B's attempts: %v", got)
	}
	// B's own list may share the name: a different universe, holding other symbols.
	mustList(t, b, "Tech", "MSFT")
	if got := listSymbols(listCard(t, b.get("/watchlists").Doc(t), "Tech")); !slices.Equal(got, []string{"MSFT"}) {
		t.Fatalf("B's Tech: %v", got)
	}
	// A symbol only in A's list has no page for B ("no data yet" is A's alone).
	mustList(t, a, "Odd", "QQQQZ")
	if r := a.get("/api/symbols/QQQQZ"); r.StatusCode != 200 || !strings.Contains(r.Body, `"has_data":false`) {
		t.Fatalf("A's own symbol: %d %s", r.StatusCode, r.Body)
	}
	if r := b.get("/api/symbols/QQQQZ"); r.StatusCode != 404 {
		t.Fatalf("B reads A's symbol: %d", r.StatusCode)
	}

	// At the database: acting as B, row-level security hides A's rows from queries with
	// no WHERE clause at all.
	ua, ub := mustUserByEmail(t, app, "wa@example.com"), mustUserByEmail(t, app, "wb@example.com")
	ctx := context.Background()
	count := func(userID int64, table string) int {
		var n int
		asUser(t, app, userID, func(tx pgx.Tx) {
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
		})
		return n
	}
	for _, tc := range []struct {
		table string
		a, b  int
	}{
		{"watchlists", 2, 1},
		{"watchlist_symbols", 3, 1},
	} {
		if got := count(ua.ID, tc.table); got != tc.a {
			t.Errorf("as A, %s has %d rows, want %d", tc.table, got, tc.a)
		}
		if got := count(ub.ID, tc.table); got != tc.b {
			t.Errorf("as B, %s has %d rows, want %d (A's are hidden)", tc.table, got, tc.b)
		}
	}
	mustRLSRefusesB(t, app, ua.ID, ub.ID)
}

// asUser runs fn in a transaction of the app's pool (the app's role) acting for userID, as
// db.WithUser does, with raw SQL: what a query that forgets its WHERE clause would see.
func asUser(t *testing.T, app *testApp, userID int64, fn func(pgx.Tx)) {
	t.Helper()
	ctx := context.Background()
	tx, err := app.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, "SELECT set_config('app.user_id', $1, true)", fmt.Sprint(userID)); err != nil {
		t.Fatal(err)
	}
	fn(tx)
}

// mustRLSRefusesB proves at the database that user b cannot touch user a's rows: inserts
// into a's list and selections naming a's list fail under b's row-level security context,
// and updates and deletes of a's rows change nothing.
func mustRLSRefusesB(t *testing.T, app *testApp, a, b int64) {
	t.Helper()
	ctx := context.Background()
	var listID int64
	err := db.WithSystem(ctx, app.pool, func(q *db.Queries) error {
		lists, err := q.WatchlistsByName(ctx, db.WatchlistsByNameParams{UserID: a, Names: []string{"Tech"}})
		if err != nil || len(lists) != 1 {
			return fmt.Errorf("find A's list: %v, %d found", err, len(lists))
		}
		listID = lists[0].ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO watchlist_symbols (watchlist_id, user_id, symbol) VALUES ($1, $2, 'EVIL')", []any{listID, a}},
		{"INSERT INTO watchlist_symbols (watchlist_id, user_id, symbol) VALUES ($1, $2, 'EVIL')", []any{listID, b}},
		{"INSERT INTO user_watchlist_selections (user_id, tracker, watchlist_id) VALUES ($1, 'highlow', $2)", []any{b, listID}},
		{"INSERT INTO watchlists (handle, user_id, name) VALUES ('forged', $1, 'Forged')", []any{a}},
	} {
		asUser(t, app, b, func(tx pgx.Tx) {
			if _, err := tx.Exec(ctx, tc.sql, tc.args...); err == nil {
				t.Errorf("as B, %s %v succeeded", tc.sql, tc.args)
			}
		})
	}
	for _, sql := range []string{
		"UPDATE watchlists SET name = 'pwned' WHERE id = $1",
		"UPDATE watchlist_symbols SET symbol = 'PWND' WHERE watchlist_id = $1",
		"DELETE FROM watchlist_symbols WHERE watchlist_id = $1",
		"DELETE FROM watchlists WHERE id = $1",
	} {
		asUser(t, app, b, func(tx pgx.Tx) {
			tag, err := tx.Exec(ctx, sql, listID)
			if err != nil || tag.RowsAffected() != 0 {
				t.Errorf("as B, %s: %d rows, %v", sql, tag.RowsAffected(), err)
			}
		})
	}
}

// TestWatchlistStream: a stream filtered by a watchlist carries only the list's symbols;
// an edit of the list takes effect at the next emission; two users' lists of the same
// name are different universes, and users whose lists hold the same symbols share a group.
func TestWatchlistStream(t *testing.T) {
	app := MustApp(t, unlimited)
	a := signedIn(t, app, "sa@example.com", "alice")
	b := signedIn(t, app, "sb@example.com", "bobby")
	c := signedIn(t, app, "sc@example.com", "carol")
	ha := mustList(t, a, "Tech", "AAPL")
	mustList(t, b, "Tech", "MSFT")
	mustList(t, c, "Tech", "AAPL")
	for _, cl := range []*client{a, b, c} {
		if r := cl.postJSON("/api/user/universe-selections", `{"tracker":"highlow","universes":["WL:Tech"]}`); r.StatusCode != 200 {
			t.Fatalf("select WL:Tech: %d %s", r.StatusCode, r.Body)
		}
	}
	sa, _ := a.openStream("/stream?format=json")
	sb, _ := b.openStream("/stream?format=json")
	sc, _ := c.openStream("/stream?format=json")
	waitConns(t, app, 3)

	batch := []market.Event{high("AAPL", 200, 1), high("MSFT", 400, 1), high("NVDA", 100, 1), high("JPM", 250, 1)}
	app.emit(t, batch...)
	for _, tc := range []struct {
		name string
		s    *sseStream
		want []string
	}{{"alice", sa, []string{"AAPL"}}, {"bobby", sb, []string{"MSFT"}}, {"carol", sc, []string{"AAPL"}}} {
		if got := jsonSymbols(t, tc.s.next(t, 5*time.Second, stream.EventJSON)); !slices.Equal(got, tc.want) {
			t.Errorf("%s got %v, want %v", tc.name, got, tc.want)
		}
	}
	if n := app.deps.Publisher.UniqueGroups(); n != 2 {
		t.Errorf("%d settings groups, want 2: alice and carol's lists hold the same symbols, bob's differ", n)
	}

	// Alice adds NVDA: her next emission carries it; carol's does not.
	if r := a.postForm("/watchlists/"+ha, url.Values{"action": {"add"}, "symbols": {"NVDA"}}, "HX-Request", "true"); r.StatusCode != 200 {
		t.Fatalf("add: %d", r.StatusCode)
	}
	app.emit(t, high("AAPL", 201, 2), high("NVDA", 101, 2), high("MSFT", 401, 2))
	if got := jsonSymbols(t, sa.next(t, 5*time.Second, stream.EventJSON)); !slices.Equal(got, []string{"AAPL", "NVDA"}) {
		t.Errorf("alice after the edit got %v", got)
	}
	if got := jsonSymbols(t, sc.next(t, 5*time.Second, stream.EventJSON)); !slices.Equal(got, []string{"AAPL"}) {
		t.Errorf("carol after alice's edit got %v", got)
	}
	if got := jsonSymbols(t, sb.next(t, 5*time.Second, stream.EventJSON)); !slices.Equal(got, []string{"MSFT"}) {
		t.Errorf("bob after alice's edit got %v", got)
	}
}

// TestWatchlistMarketTracker: a watchlist as the market universe sizes the summary.
func TestWatchlistMarketTracker(t *testing.T) {
	app := MustApp(t, unlimited)
	c := signedIn(t, app, "mk@example.com", "marketeer")
	mustList(t, c, "Three", "AAPL MSFT ZZNEW")
	if r := c.postJSON("/api/user/universe-selections", `{"tracker":"market","universes":["WL:Three"]}`); r.StatusCode != 200 {
		t.Fatalf("select: %d %s", r.StatusCode, r.Body)
	}
	if got := c.get("/dashboard").Doc(t).Find(`[data-testid="universe-size"]`).Text(); got != "3 symbols" {
		t.Fatalf("the summary covers %s symbols, want 3", got)
	}
	s, _ := c.openStream("/stream?format=json")
	waitConns(t, app, 1)
	app.emit(t, high("AAPL", 1, 1))
	var em struct {
		Market market.Summary `json:"market"`
	}
	if err := json.Unmarshal([]byte(s.next(t, 5*time.Second, stream.EventJSON).Data), &em); err != nil || em.Market.UniverseSize != 3 {
		t.Fatalf("market summary %+v (%v)", em.Market, err)
	}
}

func TestWatchlistDeleteInUse(t *testing.T) {
	app := MustApp(t, unlimited)
	c := signedIn(t, app, "inuse@example.com", "inuse")
	h := mustList(t, c, "Used", "AAPL")
	if r := c.postJSON("/api/user/universe-selections", `{"tracker":"market","universes":["WL:Used"]}`); r.StatusCode != 200 {
		t.Fatalf("select: %d", r.StatusCode)
	}
	for _, htmx := range []bool{true, false} {
		var hdr []string
		if htmx {
			hdr = []string{"HX-Request", "true"}
		}
		r := c.postForm("/watchlists/"+h+"/delete", url.Values{}, hdr...)
		msg := r.Doc(t).Find(`#wl-` + h + ` [data-testid="error-watchlist"]`).Text()
		if r.StatusCode != 422 || !strings.Contains(msg, "market") || !strings.Contains(msg, `"WL:Used"`) {
			t.Fatalf("htmx %v: %d, message %q", htmx, r.StatusCode, msg)
		}
	}
	// Both trackers: the message names both.
	c.postJSON("/api/user/universe-selections", `{"tracker":"highlow","universes":["WL:Used","TECH_UNIVERSE"]}`)
	r := c.postForm("/watchlists/"+h+"/delete", url.Values{})
	if msg := r.Doc(t).Find(`[data-testid="error-watchlist"]`).Text(); r.StatusCode != 422 || !strings.Contains(msg, "highlow") || !strings.Contains(msg, "market") {
		t.Fatalf("both trackers: %d %q", r.StatusCode, msg)
	}
	if listCard(t, c.get("/watchlists").Doc(t), "Used") == nil {
		t.Fatal("the list is gone")
	}
	c.postJSON("/api/user/universe-selections", `{"tracker":"highlow","universes":["TECH_UNIVERSE"]}`)
	c.postJSON("/api/user/universe-selections", `{"tracker":"market","universes":["TECH_UNIVERSE"]}`)
	if r := c.postForm("/watchlists/"+h+"/delete", url.Values{}); r.StatusCode != 303 {
		t.Fatalf("delete after unselecting: %d %s", r.StatusCode, r.Body)
	}
	// Account deletion still cascades through lists that trackers use.
	mustList(t, c, "Kept", "MSFT")
	if r := c.postJSON("/api/user/universe-selections", `{"tracker":"highlow","universes":["WL:Kept"]}`); r.StatusCode != 200 {
		t.Fatalf("select: %d", r.StatusCode)
	}
	u := mustUserByEmail(t, app, "inuse@example.com")
	ctx := context.Background()
	tx, err := app.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, "SELECT set_config('app.system', 'on', true)"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM users WHERE id = $1", u.ID); err != nil {
		t.Fatalf("deleting a user whose tracker uses a list: %v", err)
	}
	var left int
	err = tx.QueryRow(ctx, "SELECT (SELECT count(*) FROM watchlists) + (SELECT count(*) FROM watchlist_symbols) + "+
		"(SELECT count(*) FROM user_watchlist_selections)").Scan(&left)
	if err != nil || left != 0 {
		t.Fatalf("%d rows left after deleting the user (%v)", left, err)
	}
}
