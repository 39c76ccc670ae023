package settings

import (
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/market"
)

// Watchlist limits and names (SPEC section 13).
const (
	MaxWatchlists       = 20  // lists per user
	MaxWatchlistSymbols = 200 // symbols per list
	MaxWatchlistName    = 40  // characters of a list's name
	MaxSymbolLen        = 10  // characters of a watchlist symbol
	// WatchlistPrefix starts the universe name a list is offered as: "WL:" + its name.
	// Shared universe names are upper case letters, digits and underscores, so no shared
	// universe can ever look like a list.
	WatchlistPrefix = "WL:"
)

// The fields of the watchlist forms (POST /watchlists and POST /watchlists/{id}).
const (
	FieldWatchlistName    = "name"    // create and rename
	FieldWatchlistSymbols = "symbols" // create and add: symbols separated by commas, spaces or lines
	FieldWatchlistSymbol  = "symbol"  // remove: one symbol
	FieldWatchlistAction  = "action"  // edit: rename, add or remove
	FieldWatchlist        = "watchlist"
)

// The edits POST /watchlists/{id} knows, in its action field.
const (
	ActionRename = "rename"
	ActionAdd    = "add"
	ActionRemove = "remove"
)

// Watchlist is one of a user's lists as pages and the API see it: the opaque handle that
// names it in URLs, never the row id.
type Watchlist struct {
	Handle  string   `json:"id"`
	Name    string   `json:"name"`
	Symbols []string `json:"symbols"` // sorted
}

// Universe is the universe name the list is offered as: "WL:" + its name.
func (w Watchlist) Universe() string { return WatchlistPrefix + w.Name }

// IsWatchlistUniverse reports whether a universe name names one of the user's own lists.
func IsWatchlistUniverse(name string) bool { return strings.HasPrefix(name, WatchlistPrefix) }

// WatchlistEdit is one change to a list, as POST /watchlists/{id} posts it.
type WatchlistEdit struct {
	Action string
	Name   string   // ActionRename: the new name
	Add    []string // ActionAdd: normalised symbols
	Remove []string // ActionRemove: normalised symbols
}

// ParseWatchlistName checks a list's name: surrounding spaces are dropped; then 1 to 40
// characters of printable text (no control characters or line breaks). Any other character
// is fine: names are escaped wherever they are shown. Errors are 422s on the name field.
func ParseWatchlistName(s string) (string, error) {
	name := strings.TrimSpace(s)
	n := utf8.RuneCountInString(name)
	if n == 0 {
		return "", tickstock.FieldError(FieldWatchlistName, "Give the watchlist a name.")
	}
	if n > MaxWatchlistName {
		return "", tickstock.FieldError(FieldWatchlistName, "A watchlist name has at most %d characters.", MaxWatchlistName)
	}
	if !utf8.ValidString(name) {
		return "", tickstock.FieldError(FieldWatchlistName, "The name is not valid text.")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) && r != ' ' {
			return "", tickstock.FieldError(FieldWatchlistName, "The name may not hold control characters or line breaks.")
		}
	}
	return name, nil
}

// ParseSymbol normalises one watchlist symbol: spaces dropped, upper-cased, then 1 to 10
// characters of A-Z, 0-9, '.' and '-' (BRK.B, RDS-A). The error names the symbol.
func ParseSymbol(field, s string) (string, error) {
	sym := strings.ToUpper(strings.TrimSpace(s))
	if sym == "" {
		return "", tickstock.FieldError(field, "Enter a symbol.")
	}
	if len(sym) > MaxSymbolLen || !market.ValidSymbol(sym) {
		return "", tickstock.FieldError(field, "%s is not a valid symbol: use 1 to %d characters of A-Z, 0-9, \".\" and \"-\".", quote(s), MaxSymbolLen)
	}
	return sym, nil
}

// ParseSymbols reads a list of symbols typed in one box, separated by commas, semicolons,
// spaces or line breaks: normalised, deduplicated and sorted. Every invalid symbol is
// named in one 422 on field, and nothing is returned; an empty box is a 422 too.
func ParseSymbols(field, s string) ([]string, error) {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) })
	if len(parts) == 0 {
		return nil, tickstock.FieldError(field, "Enter at least one symbol, such as AAPL.")
	}
	if len(parts) > 4*MaxWatchlistSymbols {
		return nil, tickstock.FieldError(field, "That is too many symbols at once: a watchlist holds at most %d.", MaxWatchlistSymbols)
	}
	out := make([]string, 0, len(parts))
	var bad []string
	for _, p := range parts {
		sym, err := ParseSymbol(field, p)
		if err != nil {
			bad = append(bad, quote(p))
			continue
		}
		out = append(out, sym)
	}
	switch {
	case len(bad) == 1:
		return nil, tickstock.FieldError(field, "%s is not a valid symbol: use 1 to %d characters of A-Z, 0-9, \".\" and \"-\".", bad[0], MaxSymbolLen)
	case len(bad) > 1:
		if len(bad) > 5 {
			bad = append(bad[:5], "…")
		}
		return nil, tickstock.FieldError(field, "These are not valid symbols: %s. Use 1 to %d characters of A-Z, 0-9, \".\" and \"-\" each.", strings.Join(bad, ", "), MaxSymbolLen)
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

// NewWatchlistFromForm reads the form of POST /watchlists: name, and optionally symbols
// to start the list with. _csrf is ignored; other fields are 422s.
func NewWatchlistFromForm(values map[string][]string) (name string, symbols []string, err error) {
	if err := onlyFields(values, FieldWatchlistName, FieldWatchlistSymbols); err != nil {
		return "", nil, err
	}
	raw, err := formOneOf(values, FieldWatchlistName)
	if err != nil {
		return "", nil, err
	}
	if name, err = ParseWatchlistName(raw); err != nil {
		return "", nil, err
	}
	if vs := values[FieldWatchlistSymbols]; len(vs) > 0 && strings.TrimSpace(strings.Join(vs, " ")) != "" {
		if symbols, err = ParseSymbols(FieldWatchlistSymbols, strings.Join(vs, ",")); err != nil {
			return "", nil, err
		}
	}
	return name, symbols, nil
}

// WatchlistEditFromForm reads the form of POST /watchlists/{id}: action, and the field
// that action needs: rename takes name, add takes symbols (one or many), remove takes
// symbol (repeatable). _csrf is ignored; a field the action does not use is a 422.
func WatchlistEditFromForm(values map[string][]string) (WatchlistEdit, error) {
	action, err := formOneOf(values, FieldWatchlistAction)
	if err != nil {
		return WatchlistEdit{}, err
	}
	e := WatchlistEdit{Action: action}
	switch action {
	case ActionRename:
		if err := onlyFields(values, FieldWatchlistAction, FieldWatchlistName); err != nil {
			return WatchlistEdit{}, err
		}
		raw, err := formOneOf(values, FieldWatchlistName)
		if err != nil {
			return WatchlistEdit{}, err
		}
		e.Name, err = ParseWatchlistName(raw)
		return e, err
	case ActionAdd:
		if err := onlyFields(values, FieldWatchlistAction, FieldWatchlistSymbols); err != nil {
			return WatchlistEdit{}, err
		}
		e.Add, err = ParseSymbols(FieldWatchlistSymbols, strings.Join(values[FieldWatchlistSymbols], ","))
		return e, err
	case ActionRemove:
		if err := onlyFields(values, FieldWatchlistAction, FieldWatchlistSymbol); err != nil {
			return WatchlistEdit{}, err
		}
		if len(values[FieldWatchlistSymbol]) == 0 {
			return WatchlistEdit{}, tickstock.FieldError(FieldWatchlistSymbol, "Say which symbol to remove.")
		}
		for _, v := range values[FieldWatchlistSymbol] {
			sym, err := ParseSymbol(FieldWatchlistSymbol, v)
			if err != nil {
				return WatchlistEdit{}, err
			}
			e.Remove = append(e.Remove, sym)
		}
		return e, nil
	}
	return WatchlistEdit{}, tickstock.FieldError(FieldWatchlistAction, `Action must be "rename", "add" or "remove".`)
}

// formOneOf is formOne with a plain message (these forms' fields need no label).
func formOneOf(values map[string][]string, field string) (string, error) {
	vs := values[field]
	switch len(vs) {
	case 0:
		return "", tickstock.FieldError(field, "%s is required.", field)
	case 1:
		return vs[0], nil
	}
	return "", tickstock.FieldError(field, "%s is given more than once.", field)
}

// validSelectionName is the syntax check of a selected universe name: a shared universe's
// (see validUniverseName) or "WL:" and a valid list name.
func validSelectionName(s string) bool {
	if name, ok := strings.CutPrefix(s, WatchlistPrefix); ok {
		n, err := ParseWatchlistName(name)
		return err == nil && n == name
	}
	return validUniverseName(s)
}
