package settings_test

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
)

func TestParseSymbols(t *testing.T) {
	ok := []struct {
		in   string
		want []string
	}{
		{"aapl", []string{"AAPL"}},
		{" msft, aapl;nvda\n brk.b\trds-a , ", []string{"AAPL", "BRK.B", "MSFT", "NVDA", "RDS-A"}},
		{"X X x", []string{"X"}},
		{"ABCDEFGHIJ 1234567890", []string{"1234567890", "ABCDEFGHIJ"}},
	}
	for _, tc := range ok {
		got, err := settings.ParseSymbols("symbols", tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseSymbols(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	bad := []struct{ in, msg string }{
		{"", "at least one symbol"},
		{" , ; ", "at least one symbol"},
		{"ABCDEFGHIJK", `"ABCDEFGHIJK" is not a valid symbol`},
		{"AAPL, A$B", `"A$B" is not a valid symbol`},
		{"é <b> _x", "These are not valid symbols"},
		{"AAPL/USD", "not a valid symbol"},
		{strings.Repeat("A ", 801), "too many symbols"},
	}
	for _, tc := range bad {
		_, err := settings.ParseSymbols("symbols", tc.in)
		MustCode(t, err, tickstock.EINVALID, "symbols")
		if !strings.Contains(tickstock.ErrorMessage(err), tc.msg) {
			t.Errorf("ParseSymbols(%.20q): message %q, want %q", tc.in, tickstock.ErrorMessage(err), tc.msg)
		}
	}
}

func TestParseWatchlistName(t *testing.T) {
	for in, want := range map[string]string{"  Tech  ": "Tech", "Énergie & co <1>": "Énergie & co <1>", strings.Repeat("é", 40): strings.Repeat("é", 40)} {
		if got, err := settings.ParseWatchlistName(in); err != nil || got != want {
			t.Errorf("ParseWatchlistName(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "   ", strings.Repeat("n", 41), "a\nb", "bell\a", "\u200b\u2028"} {
		_, err := settings.ParseWatchlistName(in)
		MustCode(t, err, tickstock.EINVALID, "name")
	}
}

func TestWatchlistEditFromForm(t *testing.T) {
	e, err := settings.WatchlistEditFromForm(url.Values{"_csrf": {"t"}, "action": {"add"}, "symbols": {"aapl, msft", "nvda"}})
	if err != nil || e.Action != "add" || !slices.Equal(e.Add, []string{"AAPL", "MSFT", "NVDA"}) {
		t.Fatalf("add: %+v %v", e, err)
	}
	e, err = settings.WatchlistEditFromForm(url.Values{"action": {"remove"}, "symbol": {"aapl", "brk.b"}})
	if err != nil || !slices.Equal(e.Remove, []string{"AAPL", "BRK.B"}) {
		t.Fatalf("remove: %+v %v", e, err)
	}
	for _, tc := range []struct {
		v     url.Values
		field string
	}{
		{url.Values{}, "action"},
		{url.Values{"action": {"add", "add"}, "symbols": {"A"}}, "action"},
		{url.Values{"action": {"clear"}}, "action"},
		{url.Values{"action": {"rename"}}, "name"},
		{url.Values{"action": {"rename"}, "name": {"a", "b"}}, "name"},
		{url.Values{"action": {"add"}, "name": {"x"}, "symbols": {"A"}}, "name"},
		{url.Values{"action": {"remove"}}, "symbol"},
		{url.Values{"action": {"remove"}, "symbol": {"a b"}}, "symbol"},
	} {
		_, err := settings.WatchlistEditFromForm(tc.v)
		MustCode(t, err, tickstock.EINVALID, tc.field)
	}
}

// FuzzWatchlistForms: whatever the form, the parsers answer with a value that the database
// constraints accept, or a 422; never a panic.
func FuzzWatchlistForms(f *testing.F) {
	for _, s := range []string{"action=add&symbols=aapl,msft", "action=rename&name=Tech", "action=remove&symbol=AAPL",
		"name=x&symbols=%00", "action=add&symbols=" + strings.Repeat("A,", 300), "name=%F0%9F%93%88+Rockets"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		values, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		check := func(syms []string) {
			for _, s := range syms {
				if !market.ValidSymbol(s) || len(s) > settings.MaxSymbolLen {
					t.Fatalf("accepted symbol %q from %q", s, query)
				}
			}
		}
		checkName := func(n string) {
			if n != strings.TrimSpace(n) || utf8.RuneCountInString(n) < 1 || utf8.RuneCountInString(n) > settings.MaxWatchlistName {
				t.Fatalf("accepted name %q from %q", n, query)
			}
		}
		if e, err := settings.WatchlistEditFromForm(values); err != nil {
			mustUserError(t, err)
		} else {
			check(e.Add)
			check(e.Remove)
			if e.Action == settings.ActionRename {
				checkName(e.Name)
			}
		}
		if name, syms, err := settings.NewWatchlistFromForm(values); err != nil {
			mustUserError(t, err)
		} else {
			checkName(name)
			check(syms)
		}
	})
}

// TestKeyWithWatchlists: a "WL:" universe is the user's own list, so the key covers what
// it holds: equal names with different symbols never share a group; equal contents do.
func TestKeyWithWatchlists(t *testing.T) {
	mk := func(syms ...string) settings.Settings {
		st := settings.DefaultSettings()
		st.Selections.HighLow = []string{"WL:Tech"}
		st.Watchlists = map[string][]string{"WL:Tech": syms}
		return st
	}
	a, b, c := mk("AAPL", "MSFT"), mk("MSFT", "AAPL", "AAPL"), mk("NVDA")
	if a.Key() != b.Key() {
		t.Fatalf("same list contents, different keys:\n%s\n%s", a.Key(), b.Key())
	}
	if a.Key() == c.Key() {
		t.Fatal("two users' WL:Tech with different symbols share a key")
	}
	if strings.Contains(a.Key(), "AAPL") {
		t.Fatalf("the key carries the symbols themselves, not a digest: %s", a.Key())
	}
	// The memo sees a list's new symbols, though the names did not change.
	var m settings.KeyMemo
	g1 := m.Group([]settings.UserSettings{{UserID: 1, Settings: a}})
	g2 := m.Group([]settings.UserSettings{{UserID: 1, Settings: c}})
	if g1[0].Key == g2[0].Key || !slices.Equal(g2[0].Settings.Watchlists["WL:Tech"], []string{"NVDA"}) {
		t.Fatalf("the memo kept the old list: %v / %v", g1[0].Key, g2[0].Key)
	}
	// Alerts change the page, not the stream: no new group.
	d := a.Clone()
	d.Filters.Alerts.Enabled = true
	if d.Key() != a.Key() {
		t.Fatal("alerts split the group")
	}
	// Clone is deep.
	e := a.Clone()
	e.Watchlists["WL:Tech"][0] = "XXX"
	if a.Watchlists["WL:Tech"][0] != "AAPL" {
		t.Fatal("Clone shares the watchlist symbols")
	}
}

func TestWatchlistService(t *testing.T) {
	d := MustDB(t)
	b := bus.NewLocal()
	var got []bus.Message
	b.Subscribe(func(m bus.Message) { got = append(got, m) })
	svc := settings.NewService(d.pool, settings.WithBus(b))
	ctx := context.Background()
	alice, bob := MustUser(t, d.pool, "alice"), MustUser(t, d.pool, "bobby")

	w, err := svc.CreateWatchlist(ctx, alice, "Tech", []string{"ZZQ", "AAPL"})
	if err != nil || w.Name != "Tech" || !slices.Equal(w.Symbols, []string{"AAPL", "ZZQ"}) || len(w.Handle) < 22 {
		t.Fatalf("create: %+v %v", w, err)
	}
	if !published(got, bus.SymbolsAdded{Symbols: []string{"AAPL", "ZZQ"}}) || !published(got, bus.SettingsChanged{UserID: alice}) {
		t.Fatalf("bus after create: %#v", got)
	}

	// Selected for one tracker alone: that tracker is the list, the other keeps its default.
	sel, err := svc.SaveSelection(ctx, alice, "highlow", []string{"WL:Tech"})
	if err != nil || !slices.Equal(sel.HighLow, []string{"WL:Tech"}) || !slices.Equal(sel.Market, []string{"DEFAULT_UNIVERSE"}) {
		t.Fatalf("select: %+v %v", sel, err)
	}
	st := MustGet(t, svc, alice)
	if !slices.Equal(st.Watchlists["WL:Tech"], []string{"AAPL", "ZZQ"}) {
		t.Fatalf("settings carry %v", st.Watchlists)
	}
	set, err := svc.TrackerSymbols(ctx, st, "highlow")
	if err != nil || !slices.Equal(set.Symbols(), []string{"AAPL", "ZZQ"}) {
		t.Fatalf("highlow resolves to %v (%v)", set.Symbols(), err)
	}
	m, err := svc.Matcher(ctx, st)
	if err != nil || !m.Symbols().Has("ZZQ") || m.Symbols().Has("MSFT") {
		t.Fatalf("matcher symbols %v", m.Symbols().Symbols())
	}
	// Mixed with a shared universe, in the same tracker.
	if _, err := svc.SaveSelection(ctx, alice, "market", []string{"WL:Tech", "TEST_ALPHA"}); err != nil {
		t.Fatal(err)
	}
	st = MustGet(t, svc, alice)
	if set, _ := svc.TrackerSymbols(ctx, st, "market"); !slices.Equal(set.Symbols(), []string{"AAPL", "ZZA", "ZZB", "ZZQ"}) {
		t.Fatalf("market resolves to %v", set.Symbols())
	}

	// An edit reaches the settings at once (the bus dropped the cached copy).
	got = nil
	if _, changed, err := svc.EditWatchlist(ctx, alice, w.Handle, settings.WatchlistEdit{Action: "add", Add: []string{"MSFT", "AAPL"}}); err != nil || !slices.Equal(changed, []string{"MSFT"}) {
		t.Fatalf("add: %v %v", changed, err)
	}
	if st := MustGet(t, svc, alice); !slices.Equal(st.Watchlists["WL:Tech"], []string{"AAPL", "MSFT", "ZZQ"}) {
		t.Fatalf("after the edit, settings carry %v", st.Watchlists)
	}
	if !published(got, bus.SymbolsAdded{Symbols: []string{"MSFT"}}) {
		t.Fatalf("bus after add: %#v", got)
	}

	// Bob: no such list, no such universe; his own "tech" may exist, and names are his.
	if _, err := svc.SaveSelection(ctx, bob, "highlow", []string{"WL:Tech"}); tickstock.ErrorCode(err) != tickstock.EINVALID {
		t.Fatalf("bob selects alice's list: %v", err)
	}
	if _, _, err := svc.EditWatchlist(ctx, bob, w.Handle, settings.WatchlistEdit{Action: "remove", Remove: []string{"AAPL"}}); tickstock.ErrorCode(err) != tickstock.ENOTFOUND {
		t.Fatalf("bob edits alice's list: %v", err)
	}
	if _, err := svc.DeleteWatchlist(ctx, bob, w.Handle); tickstock.ErrorCode(err) != tickstock.ENOTFOUND {
		t.Fatalf("bob deletes alice's list: %v", err)
	}
	if _, err := svc.CreateWatchlist(ctx, bob, "tech", nil); err != nil {
		t.Fatalf("bob's own tech: %v", err)
	}
	if _, err := svc.CreateWatchlist(ctx, alice, "TECH", nil); tickstock.ErrorCode(err) != tickstock.EINVALID {
		t.Fatalf("a second TECH for alice: %v", err)
	}
	infos, err := svc.UniversesFor(ctx, bob)
	if err != nil || slices.ContainsFunc(infos, func(u settings.UniverseInfo) bool { return u.Name == "WL:Tech" }) ||
		!slices.ContainsFunc(infos, func(u settings.UniverseInfo) bool { return u.Name == "WL:tech" && u.Size == 0 }) {
		t.Fatalf("bob's universes %+v", infos)
	}
	if known, _ := svc.KnownSymbol(ctx, bob, "ZZQ"); known {
		t.Fatal("alice's symbol is known to bob")
	}
	if known, _ := svc.KnownSymbol(ctx, alice, "ZZQ"); !known {
		t.Fatal("alice's own symbol is unknown to her")
	}
	if known, _ := svc.KnownSymbol(ctx, bob, "ZZA"); !known {
		t.Fatal("a shared universe's symbol is unknown")
	}
	all, err := svc.WatchlistSymbols(ctx)
	if err != nil || !slices.Equal(all, []string{"AAPL", "MSFT", "ZZQ"}) {
		t.Fatalf("all listed symbols %v %v", all, err)
	}

	// In use: refused, naming both trackers; unused: deleted.
	_, err = svc.DeleteWatchlist(ctx, alice, w.Handle)
	var te *tickstock.Error
	if !errors.As(err, &te) || te.Code != tickstock.EINVALID || !strings.Contains(te.Message, "highlow") || !strings.Contains(te.Message, "market") {
		t.Fatalf("delete in use: %v", err)
	}
	if _, err := svc.SaveSelection(ctx, alice, "highlow", []string{"TEST_BETA"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SaveSelection(ctx, alice, "market", []string{"TEST_BETA"}); err != nil {
		t.Fatal(err)
	}
	if name, err := svc.DeleteWatchlist(ctx, alice, w.Handle); err != nil || name != "Tech" {
		t.Fatalf("delete: %q %v", name, err)
	}
	if st := MustGet(t, svc, alice); st.Watchlists != nil {
		t.Fatalf("settings still carry lists: %v", st.Watchlists)
	}
}

// published reports whether want is among the messages the bus delivered.
func published(got []bus.Message, want bus.Message) bool {
	return slices.ContainsFunc(got, func(m bus.Message) bool { return reflect.DeepEqual(m, want) })
}
