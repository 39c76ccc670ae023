package market

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestUnionSymbols(t *testing.T) {
	got := UnionSymbols([]string{"MSFT", "AAPL"}, nil, []string{"AAPL", "JPM"})
	if !slices.Equal(got, []string{"AAPL", "JPM", "MSFT"}) {
		t.Fatalf("UnionSymbols = %v", got)
	}
	got = Symbols(Universe{Name: "A", Symbols: []string{"X", "Y"}}, Universe{Name: "B", Symbols: []string{"Y", "Z"}})
	if !slices.Equal(got, []string{"X", "Y", "Z"}) {
		t.Fatalf("Symbols = %v", got)
	}
	if len(UnionSymbols()) != 0 {
		t.Fatal("empty union")
	}
}

func TestParseSymbols(t *testing.T) {
	// Ten characters is the most a person may list (SPEC section 13), though feeds allow 16.
	syms, bad := ParseSymbols("aapl, MSFT\nbrk.b;AAPL\r\n\tTOO-LONG-SYMBOL-NAME  bad$ ABCDEFGHIJ ABCDEFGHIJK")
	if !slices.Equal(syms, []string{"AAPL", "ABCDEFGHIJ", "BRK.B", "MSFT"}) ||
		!slices.Equal(bad, []string{"TOO-LONG-SYMBOL-NAME", "bad$", "ABCDEFGHIJK"}) {
		t.Fatalf("ParseSymbols = %v, %v", syms, bad)
	}
}

func TestValidSymbol(t *testing.T) {
	for s, want := range map[string]bool{
		"AAPL": true, "BRK.B": true, "BF-B": true, "A": true, "ABCDEFGHIJKLMNOP": true,
		"": false, "aapl": false, "ABCDEFGHIJKLMNOPQ": false, "A B": false, "A$": false,
	} {
		if ValidSymbol(s) != want {
			t.Errorf("ValidSymbol(%q) = %v", s, !want)
		}
	}
}

// seedUniverses reads the seed migration's symbol lists (no database needed).
func seedUniverses(tb testing.TB) map[string][]string {
	tb.Helper()
	b, err := os.ReadFile("../db/migrations/00002_seed_universes.sql")
	if err != nil {
		tb.Fatal(err)
	}
	up, _, ok := strings.Cut(string(b), "-- +goose Down")
	if !ok || !strings.HasPrefix(string(b), "-- +goose Up") {
		tb.Fatal("seed migration lacks goose Up/Down markers")
	}
	block := regexp.MustCompile(`(?s)SELECT '([A-Z_]+)', s FROM unnest\(ARRAY\[(.*?)\]::text\[\]\)`)
	sym := regexp.MustCompile(`'([^']*)'`)
	out := map[string][]string{}
	for _, m := range block.FindAllStringSubmatch(up, -1) {
		for _, s := range sym.FindAllStringSubmatch(m[2], -1) {
			out[m[1]] = append(out[m[1]], s[1])
		}
	}
	return out
}

func TestSeedUniverses(t *testing.T) {
	u := seedUniverses(t)
	for name, syms := range u {
		if len(UnionSymbols(syms)) != len(syms) {
			t.Errorf("%s lists a symbol twice", name)
		}
		for _, s := range syms {
			if !ValidSymbol(s) {
				t.Errorf("%s: invalid symbol %q", name, s)
			}
		}
	}
	has := func(name string, syms ...string) {
		for _, s := range syms {
			if !slices.Contains(u[name], s) {
				t.Errorf("%s lacks %s", name, s)
			}
		}
	}
	if n := len(u["DEFAULT_UNIVERSE"]); n < 100 {
		t.Errorf("DEFAULT_UNIVERSE has %d symbols, want 100 or more", n)
	}
	has("DEFAULT_UNIVERSE", "AAPL", "MSFT", "NVDA", "JPM")
	has("TECH_UNIVERSE", "AAPL", "MSFT", "NVDA")
	has("FINANCIALS_UNIVERSE", "JPM")
	has("ETF_UNIVERSE", "SPY", "QQQ", "IWM", "DIA", "XLK", "XLF")
	// Only funds in ETF_UNIVERSE: none of its symbols is a stock of another universe.
	stocks := UnionSymbols(u["DEFAULT_UNIVERSE"], u["TECH_UNIVERSE"], u["FINANCIALS_UNIVERSE"])
	for _, s := range u["ETF_UNIVERSE"] {
		if slices.Contains(stocks, s) {
			t.Errorf("ETF_UNIVERSE holds the stock %s", s)
		}
	}
	if len(u) != 4 {
		t.Errorf("seeded %d universes, want 4", len(u))
	}
	t.Logf("universe sizes: default %d, tech %d, financials %d, etf %d; union %d",
		len(u["DEFAULT_UNIVERSE"]), len(u["TECH_UNIVERSE"]), len(u["FINANCIALS_UNIVERSE"]), len(u["ETF_UNIVERSE"]),
		len(UnionSymbols(stocks, u["ETF_UNIVERSE"])))
}

// TestSimOverSeedUniverses runs the simulator over the seeded union, the symbol set the app
// streams by default, and checks that every panel shows activity within a minute.
func TestSimOverSeedUniverses(t *testing.T) {
	u := seedUniverses(t)
	var lists [][]string
	for _, s := range u {
		lists = append(lists, s)
	}
	syms := UnionSymbols(lists...)
	f, err := NewSimFeed(syms, 99, 2000)
	if err != nil {
		t.Fatal(err)
	}
	first := mustSimLive(t, f, syms, 2000, 60)
	for _, p := range []string{"high", "low", "trend-up", "trend-down", "surge-up", "surge-down"} {
		if _, ok := first[p]; !ok {
			t.Errorf("no %s event within 60 s over the seeded universes", p)
		}
	}
}
