package settings

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/market"
)

// Fields of the admin's universe forms.
const (
	FieldUniverseName        = "name"
	FieldUniverseDescription = "description"
	FieldUniverseSymbols     = "symbols"
)

// Universe limits.
const (
	MaxUniverseNameLen    = 64
	MaxUniverseDescLen    = 300
	MaxUniverseSymbols    = 5000
	universeSymbolExample = "one per line, or separated by commas"
)

// Universe is a universe as an admin edits it: its symbols sorted and distinct.
type Universe struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Symbols     []string `json:"symbols"`
}

// NormalizeUniverseName upper-cases and trims an admin's name for a new universe and checks
// it against the universes.name constraint (A–Z, 0–9 and _, 1 to 64 characters). Names that
// start with WL: are refused by name: they are reserved for watchlists.
func NormalizeUniverseName(name string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	switch {
	case n == "":
		return "", tickstock.FieldError(FieldUniverseName, "Enter a name.")
	case strings.HasPrefix(n, WatchlistPrefix):
		return "", tickstock.FieldError(FieldUniverseName, "Names starting with %s are reserved for watchlists.", WatchlistPrefix)
	case len(n) > MaxUniverseNameLen:
		return "", tickstock.FieldError(FieldUniverseName, "A name has at most %d characters.", MaxUniverseNameLen)
	case !validUniverseName(n):
		return "", tickstock.FieldError(FieldUniverseName, "A name may hold only letters A–Z, digits and _ (for example TECH_LEADERS).")
	}
	return n, nil
}

// UniverseFromForm reads the admin's universe form: name (when withName: the create form;
// the edit form names the universe in its address), description and symbols (one per line
// or separated by commas; upper-cased, duplicates dropped). _csrf is ignored and any other
// field is a 422, as are a bad name, a description over 300 characters, no symbols, more
// than 5000, and invalid symbols (all of them named).
func UniverseFromForm(values map[string][]string, withName bool) (Universe, error) {
	allowed := []string{FieldUniverseDescription, FieldUniverseSymbols}
	if withName {
		allowed = append(allowed, FieldUniverseName)
	}
	if err := onlyFields(values, allowed...); err != nil {
		return Universe{}, err
	}
	var u Universe
	if withName {
		name, err := formOne(values, FieldUniverseName)
		if err != nil {
			return Universe{}, err
		}
		if u.Name, err = NormalizeUniverseName(name); err != nil {
			return Universe{}, err
		}
	}
	desc, err := optionalOne(values, FieldUniverseDescription)
	if err != nil {
		return Universe{}, err
	}
	if u.Description, err = checkDescription(desc); err != nil {
		return Universe{}, err
	}
	text, err := optionalOne(values, FieldUniverseSymbols)
	if err != nil {
		return Universe{}, err
	}
	if u.Symbols, err = ParseUniverseSymbols(text); err != nil {
		return Universe{}, err
	}
	return u, nil
}

// ParseUniverseSymbols reads a symbol list (see market.ParseSymbols) and refuses an empty
// one, one over MaxUniverseSymbols, or any invalid entry, naming the first few.
func ParseUniverseSymbols(text string) ([]string, error) {
	symbols, invalid := market.ParseSymbols(text)
	if len(invalid) > 0 {
		shown := invalid[:min(len(invalid), 5)]
		quoted := make([]string, len(shown))
		for i, s := range shown {
			quoted[i] = quote(s)
		}
		more := ""
		if len(invalid) > len(shown) {
			more = fmt.Sprintf(" and %d more", len(invalid)-len(shown))
		}
		return nil, tickstock.FieldError(FieldUniverseSymbols,
			"Not valid symbols: %s%s. A symbol has 1 to %d characters: letters A–Z, digits, . and - (for example BRK.B).",
			strings.Join(quoted, ", "), more, market.MaxListSymbolLen)
	}
	if len(symbols) == 0 {
		return nil, tickstock.FieldError(FieldUniverseSymbols, "Enter at least one symbol, %s.", universeSymbolExample)
	}
	if len(symbols) > MaxUniverseSymbols {
		return nil, tickstock.FieldError(FieldUniverseSymbols, "A universe holds at most %d symbols; this list has %d.", MaxUniverseSymbols, len(symbols))
	}
	return symbols, nil
}

func checkDescription(d string) (string, error) {
	d = strings.TrimSpace(d)
	if utf8.RuneCountInString(d) > MaxUniverseDescLen {
		return "", tickstock.FieldError(FieldUniverseDescription, "A description has at most %d characters.", MaxUniverseDescLen)
	}
	for _, r := range d {
		if r < 0x20 || r == 0x7f {
			return "", tickstock.FieldError(FieldUniverseDescription, "A description is one line without control characters.")
		}
	}
	return d, nil
}

// optionalOne is formOne for a field that may be missing (read as "").
func optionalOne(values map[string][]string, field string) (string, error) {
	if len(values[field]) == 0 {
		return "", nil
	}
	return formOne(values, field)
}

// Universe returns one universe with its symbols. An unknown name is ENOTFOUND.
func (s *Service) Universe(ctx context.Context, name string) (Universe, error) {
	var u Universe
	err := db.ReadSystem(ctx, s.pool, func(q *db.Queries) error {
		var err error
		u, err = readUniverse(ctx, q, name, false)
		return err
	})
	if err != nil {
		return Universe{}, fmt.Errorf("settings: read universe: %w", err)
	}
	return u, nil
}

func readUniverse(ctx context.Context, q *db.Queries, name string, lock bool) (Universe, error) {
	var u Universe
	if lock {
		row, err := q.GetUniverseForUpdate(ctx, name)
		if err != nil {
			return Universe{}, err
		}
		u.Name, u.Description = row.Name, row.Description
	} else {
		row, err := q.GetUniverse(ctx, name)
		if err != nil {
			return Universe{}, err
		}
		u.Name, u.Description = row.Name, row.Description
	}
	var err error
	u.Symbols, err = q.UniverseSymbols(ctx, name)
	return u, err
}

// CreateUniverse stores a new universe (u from UniverseFromForm) and announces it, so every
// instance's caches, streams and feed see it. A taken name is a 422. rec runs in the
// transaction with nil before and u after.
func (s *Service) CreateUniverse(ctx context.Context, u Universe, rec Recorder) (Universe, error) {
	name, err := NormalizeUniverseName(u.Name)
	if err != nil {
		return Universe{}, err
	}
	u.Name = name
	if u.Description, err = checkDescription(u.Description); err != nil {
		return Universe{}, err
	}
	if u.Symbols, err = ParseUniverseSymbols(strings.Join(u.Symbols, "\n")); err != nil {
		return Universe{}, err
	}
	err = db.WithSystem(ctx, s.pool, func(q *db.Queries) error {
		if err := q.CreateUniverse(ctx, db.CreateUniverseParams{Name: u.Name, Description: u.Description}); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
				return tickstock.FieldError(FieldUniverseName, "A universe named %s already exists.", u.Name)
			}
			return fmt.Errorf("insert universe: %w", err)
		}
		if err := q.InsertUniverseSymbols(ctx, db.InsertUniverseSymbolsParams{Name: u.Name, Symbols: u.Symbols}); err != nil {
			return fmt.Errorf("insert symbols: %w", err)
		}
		if rec != nil {
			return rec(ctx, q, nil, u)
		}
		return nil
	})
	if err != nil {
		return Universe{}, fmt.Errorf("settings: create universe: %w", err)
	}
	s.universesChanged(ctx)
	return u, nil
}

// UpdateUniverse replaces the description and symbols of the universe u.Name and announces
// the change: every instance drops its cached universes, open streams use the new symbols
// from their next emission, and the feed adds the new ones. An unknown name is ENOTFOUND.
// It returns the universe before and after; rec runs in the transaction with both.
func (s *Service) UpdateUniverse(ctx context.Context, u Universe, rec Recorder) (before, after Universe, err error) {
	if u.Description, err = checkDescription(u.Description); err != nil {
		return Universe{}, Universe{}, err
	}
	if u.Symbols, err = ParseUniverseSymbols(strings.Join(u.Symbols, "\n")); err != nil {
		return Universe{}, Universe{}, err
	}
	err = db.WithSystem(ctx, s.pool, func(q *db.Queries) error {
		var err error
		if before, err = readUniverse(ctx, q, u.Name, true); err != nil {
			return err
		}
		if err := q.UpdateUniverseDescription(ctx, db.UpdateUniverseDescriptionParams{Name: u.Name, Description: u.Description}); err != nil {
			return fmt.Errorf("update description: %w", err)
		}
		if err := q.DeleteUniverseSymbolsNotIn(ctx, db.DeleteUniverseSymbolsNotInParams{Name: u.Name, Keep: u.Symbols}); err != nil {
			return fmt.Errorf("remove symbols: %w", err)
		}
		if err := q.InsertUniverseSymbols(ctx, db.InsertUniverseSymbolsParams{Name: u.Name, Symbols: u.Symbols}); err != nil {
			return fmt.Errorf("add symbols: %w", err)
		}
		after = Universe{Name: before.Name, Description: u.Description, Symbols: slices.Clone(u.Symbols)}
		if rec != nil {
			return rec(ctx, q, before, after)
		}
		return nil
	})
	if err != nil {
		return Universe{}, Universe{}, fmt.Errorf("settings: update universe: %w", err)
	}
	s.universesChanged(ctx)
	return before, after, nil
}

// AllSymbols returns every symbol of every universe, sorted: what the feed should cover.
func (s *Service) AllSymbols(ctx context.Context) ([]string, error) {
	members, err := s.loadMembers(ctx)
	if err != nil {
		return nil, err
	}
	lists := make([][]string, 0, len(members))
	for _, l := range members {
		lists = append(lists, l)
	}
	return market.UnionSymbols(lists...), nil
}

// universesChanged announces a committed universe change, like changed does for a user's
// settings: a failed publish is logged, and this instance drops its cache regardless.
func (s *Service) universesChanged(ctx context.Context) {
	if err := s.bus.Publish(ctx, bus.UniversesChanged{}); err != nil {
		s.InvalidateUniverses()
		s.logger.Warn("settings: publish universe invalidation failed; other instances may serve old universes until the cache TTL",
			"ttl", s.universeTTL, "err", err)
	}
}
