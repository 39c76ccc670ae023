package market

import (
	"slices"
	"strings"
)

// Universe is a named set of symbols. Universes are stored in PostgreSQL (seeded by
// db/migrations/00002_seed_universes.sql); this type is how the domain sees one.
type Universe struct {
	Name        string
	Description string
	Symbols     []string
}

// UnionSymbols returns the distinct symbols of the given lists, sorted: the symbol set a
// group of universes covers.
func UnionSymbols(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Symbols returns the distinct symbols of all the given universes, sorted: what a user's
// selection covers, or (over every universe) what the sim and polygon feeds subscribe to.
func Symbols(us ...Universe) []string {
	lists := make([][]string, len(us))
	for i, u := range us {
		lists[i] = u.Symbols
	}
	return UnionSymbols(lists...)
}

// MaxListSymbolLen is the longest symbol a person may put in a universe or a watchlist (SPEC
// section 13): stricter than MaxSymbolLen, which feeds and the database allow.
const MaxListSymbolLen = 10

// ParseSymbols splits an admin's symbol list, one per line or separated by commas, spaces
// or tabs, upper-cases each entry and drops duplicates. It returns the sorted valid symbols
// and, separately, the entries that are not valid symbols (see ValidSymbol; at most
// MaxListSymbolLen characters), so a form can name them.
func ParseSymbols(text string) (symbols, invalid []string) {
	fields := strings.FieldsFunc(text, func(r rune) bool {
		return r == ',' || r == '\n' || r == '\r' || r == ' ' || r == '\t' || r == ';'
	})
	for _, f := range fields {
		s := strings.ToUpper(f)
		if ValidSymbol(s) && len(s) <= MaxListSymbolLen {
			symbols = append(symbols, s)
		} else {
			invalid = append(invalid, f)
		}
	}
	slices.Sort(symbols)
	return slices.Compact(symbols), invalid
}
