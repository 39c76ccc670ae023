package settings

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/db"
)

// Watchlists are universes owned by one user (SPEC section 13). They live in their own
// tables under row-level security, and every change goes out on the bus: SettingsChanged
// for the owner (a selected list's symbols are part of the owner's settings, so the next
// emission already follows the edit) and SymbolsAdded for symbols that joined a list (the
// instance that runs the feed adds them to it).

// errNoWatchlist is the answer for a handle that is not one of the user's lists: another
// user's handle looks exactly like one that never existed.
func errNoWatchlist() error {
	return tickstock.Errorf(tickstock.ENOTFOUND, "There is no such watchlist. It may have been deleted.")
}

// Watchlists returns the user's lists, by name, each with its symbols sorted.
func (s *Service) Watchlists(ctx context.Context, userID int64) ([]Watchlist, error) {
	var out []Watchlist
	err := db.ReadUser(ctx, s.pool, userID, func(q *db.Queries) error {
		rows, err := q.ListWatchlists(ctx, userID)
		if err != nil {
			return err
		}
		out = make([]Watchlist, len(rows))
		for i, r := range rows {
			out[i] = Watchlist{Handle: r.Handle, Name: r.Name, Symbols: r.Symbols}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("settings: list watchlists: %w", err)
	}
	return out, nil
}

// Watchlist returns one of the user's lists by handle; another user's handle is ENOTFOUND.
func (s *Service) Watchlist(ctx context.Context, userID int64, handle string) (Watchlist, error) {
	lists, err := s.Watchlists(ctx, userID)
	if err != nil {
		return Watchlist{}, err
	}
	for _, l := range lists {
		if l.Handle == handle {
			return l, nil
		}
	}
	return Watchlist{}, errNoWatchlist()
}

// CreateWatchlist makes a list named name (see ParseWatchlistName) holding symbols
// (normalised by ParseSymbols; may be empty). A user has at most MaxWatchlists lists with
// names unique ignoring case; breaking a rule is a 422 and nothing is stored.
func (s *Service) CreateWatchlist(ctx context.Context, userID int64, name string, symbols []string) (Watchlist, error) {
	name, err := ParseWatchlistName(name)
	if err != nil {
		return Watchlist{}, err
	}
	if len(symbols) > MaxWatchlistSymbols {
		return Watchlist{}, tooManySymbols(FieldWatchlistSymbols, 0, len(symbols))
	}
	var w Watchlist
	var added []string
	err = db.WithUser(ctx, s.pool, userID, func(q *db.Queries) error {
		if _, err := q.LockUserWatchlists(ctx, userID); err != nil {
			return fmt.Errorf("lock the user's watchlists: %w", err)
		}
		n, err := q.CountWatchlists(ctx, userID)
		if err != nil {
			return fmt.Errorf("count watchlists: %w", err)
		}
		if n >= MaxWatchlists {
			return tickstock.FieldError(FieldWatchlistName, "You have %d watchlists, the most there can be. Delete one to make another.", n)
		}
		row, err := q.CreateWatchlist(ctx, db.CreateWatchlistParams{Handle: newHandle(), UserID: userID, Name: name})
		if isNameTaken(err) {
			return nameTaken(name)
		}
		if err != nil {
			return fmt.Errorf("insert watchlist: %w", err)
		}
		w = Watchlist{Handle: row.Handle, Name: row.Name, Symbols: []string{}}
		if len(symbols) > 0 {
			if added, err = q.AddWatchlistSymbols(ctx, db.AddWatchlistSymbolsParams{WatchlistID: row.ID, UserID: userID, Symbols: symbols}); err != nil {
				return fmt.Errorf("add symbols: %w", err)
			}
			w.Symbols = sortedSet(symbols)
		}
		return nil
	})
	if err != nil {
		return Watchlist{}, fmt.Errorf("settings: create watchlist: %w", err)
	}
	s.listsChanged(ctx, userID, sortedSet(added))
	return w, nil
}

// EditWatchlist applies one edit to the user's list handle and returns the list after it
// and the symbols the edit added or removed. Renaming to a name the user has (ignoring
// case) and growing past MaxWatchlistSymbols are 422s that change nothing; adding a symbol
// the list holds, or removing one it does not, is no error (and not in the second result).
// Another user's handle is ENOTFOUND.
func (s *Service) EditWatchlist(ctx context.Context, userID int64, handle string, e WatchlistEdit) (Watchlist, []string, error) {
	var w Watchlist
	var added, removed []string
	err := db.WithUser(ctx, s.pool, userID, func(q *db.Queries) error {
		row, err := lockWatchlist(ctx, q, userID, handle)
		if err != nil {
			return err
		}
		switch e.Action {
		case ActionRename:
			name, err := ParseWatchlistName(e.Name)
			if err != nil {
				return err
			}
			err = q.RenameWatchlist(ctx, db.RenameWatchlistParams{ID: row.ID, UserID: userID, Name: name})
			if isNameTaken(err) {
				return nameTaken(name)
			}
			if err != nil {
				return fmt.Errorf("rename: %w", err)
			}
		case ActionAdd:
			if len(e.Add) == 0 {
				return tickstock.FieldError(FieldWatchlistSymbols, "Enter at least one symbol, such as AAPL.")
			}
			before, err := q.CountWatchlistSymbols(ctx, row.ID)
			if err != nil {
				return fmt.Errorf("count symbols: %w", err)
			}
			if added, err = q.AddWatchlistSymbols(ctx, db.AddWatchlistSymbolsParams{WatchlistID: row.ID, UserID: userID, Symbols: e.Add}); err != nil {
				return fmt.Errorf("add symbols: %w", err)
			}
			if int(before)+len(added) > MaxWatchlistSymbols {
				return tooManySymbols(FieldWatchlistSymbols, int(before), len(added))
			}
		case ActionRemove:
			if removed, err = q.RemoveWatchlistSymbols(ctx, db.RemoveWatchlistSymbolsParams{WatchlistID: row.ID, Symbols: e.Remove}); err != nil {
				return fmt.Errorf("remove symbols: %w", err)
			}
		default:
			return tickstock.FieldError(FieldWatchlistAction, `Action must be "rename", "add" or "remove".`)
		}
		if err := q.TouchWatchlist(ctx, db.TouchWatchlistParams{ID: row.ID, UserID: userID}); err != nil {
			return fmt.Errorf("touch watchlist: %w", err)
		}
		lists, err := q.ListWatchlists(ctx, userID)
		if err != nil {
			return fmt.Errorf("read back: %w", err)
		}
		for _, l := range lists {
			if l.Handle == handle {
				w = Watchlist{Handle: l.Handle, Name: l.Name, Symbols: l.Symbols}
			}
		}
		return nil
	})
	if err != nil {
		return Watchlist{}, nil, fmt.Errorf("settings: edit watchlist: %w", err)
	}
	added = sortedSet(added)
	s.listsChanged(ctx, userID, added)
	return w, sortedSet(append(added, removed...)), nil
}

// DeleteWatchlist deletes the user's list handle and returns its name. A list a tracker
// selects is refused with a 422 that names the tracker (choose other universes for it
// first), so no selection ever loses its last universe behind the user's back. Another
// user's handle is ENOTFOUND.
func (s *Service) DeleteWatchlist(ctx context.Context, userID int64, handle string) (string, error) {
	var name string
	err := db.WithUser(ctx, s.pool, userID, func(q *db.Queries) error {
		row, err := lockWatchlist(ctx, q, userID, handle)
		if err != nil {
			return err
		}
		trackers, err := q.WatchlistTrackers(ctx, db.WatchlistTrackersParams{WatchlistID: row.ID, UserID: userID})
		if err != nil {
			return fmt.Errorf("find trackers: %w", err)
		}
		if len(trackers) > 0 {
			return listInUse(row.Name, trackers)
		}
		_, err = q.DeleteWatchlist(ctx, db.DeleteWatchlistParams{ID: row.ID, UserID: userID})
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" { // selected by a save that committed meanwhile
			return listInUse(row.Name, nil)
		}
		if err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		name = row.Name
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("settings: delete watchlist: %w", err)
	}
	s.listsChanged(ctx, userID, nil)
	return name, nil
}

// WatchlistSymbols returns every symbol of every user's lists, sorted: the feed covers
// them from the start. It reads as the system, across users.
func (s *Service) WatchlistSymbols(ctx context.Context) ([]string, error) {
	var out []string
	err := db.ReadSystem(ctx, s.pool, func(q *db.Queries) error {
		var err error
		out, err = q.AllWatchlistSymbols(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("settings: list watchlist symbols: %w", err)
	}
	return out, nil
}

// UniversesFor lists the universes one user may choose: every shared universe (as
// Universes), then the user's own lists as "WL:<name>" universes. No one else's list
// appears.
func (s *Service) UniversesFor(ctx context.Context, userID int64) ([]UniverseInfo, error) {
	shared, err := s.Universes(ctx)
	if err != nil {
		return nil, err
	}
	lists, err := s.Watchlists(ctx, userID)
	if err != nil {
		return nil, err
	}
	for _, l := range lists {
		shared = append(shared, UniverseInfo{Name: l.Universe(), Description: "Your watchlist", Size: len(l.Symbols)})
	}
	return shared, nil
}

// KnownSymbol reports whether a symbol is in a shared universe or one of the user's own
// lists: such a symbol has a page (saying "no data yet") before any feed ticks it. A
// symbol only in another user's list is not known to this one.
func (s *Service) KnownSymbol(ctx context.Context, userID int64, symbol string) (bool, error) {
	members, err := s.loadMembers(ctx)
	if err != nil {
		return false, err
	}
	for _, syms := range members {
		for _, m := range syms {
			if m == symbol {
				return true, nil
			}
		}
	}
	var mine bool
	err = db.ReadUser(ctx, s.pool, userID, func(q *db.Queries) error {
		var err error
		mine, err = q.UserHasWatchlistSymbol(ctx, db.UserHasWatchlistSymbolParams{UserID: userID, Symbol: symbol})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("settings: look up a watchlist symbol: %w", err)
	}
	return mine, nil
}

// listsChanged announces a committed change to the user's lists: the owner's settings
// (which carry the selected lists' symbols) are dropped everywhere, and added symbols go
// to the feed. A failed publish is logged; this instance has applied the change anyway.
func (s *Service) listsChanged(ctx context.Context, userID int64, added []string) {
	s.changed(ctx, userID)
	if len(added) == 0 {
		return
	}
	if err := s.bus.Publish(ctx, bus.SymbolsAdded{Symbols: added}); err != nil {
		s.logger.Warn("settings: publish added symbols failed; the feed may not cover them until a restart",
			"symbols", len(added), "err", err)
	}
}

func isNameTaken(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "watchlists_user_name_key"
}

func nameTaken(name string) error {
	return tickstock.FieldError(FieldWatchlistName, "You already have a watchlist named %s.", quote(name))
}

func tooManySymbols(field string, have, adding int) error {
	if have == 0 {
		return tickstock.FieldError(field, "A watchlist holds at most %d symbols; that is %d.", MaxWatchlistSymbols, adding)
	}
	return tickstock.FieldError(field, "A watchlist holds at most %d symbols: this one has %d, and %d more would not fit.",
		MaxWatchlistSymbols, have, adding)
}

// listInUse is the 422 for deleting a list a tracker selects, naming the trackers.
func listInUse(name string, trackers []string) error {
	names := make([]string, 0, len(trackers))
	for _, t := range trackers {
		names = append(names, trackerName(t))
	}
	what := "one of your trackers"
	if len(names) > 0 {
		what = "the " + strings.Join(names, " and the ") + " tracker"
	}
	return tickstock.FieldError(FieldWatchlist, "%s is in use by %s. Choose other universes for it in Settings, then delete the list.",
		quote(WatchlistPrefix+name), what)
}

// trackerName is how a message names a tracker: its form name and what it decides.
func trackerName(t string) string {
	switch t {
	case TrackerHighLow:
		return "highlow (panels)"
	case TrackerMarket:
		return "market (summary)"
	}
	return t
}

// newHandle is a list's opaque id for URLs: 128 bits from crypto/rand, base64url.
func newHandle() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Errorf("crypto/rand failed: %w", err)) // the OS has no randomness: nothing is safe
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// lockWatchlist reads the user's watchlist by handle for update; another user's handle, or
// none, is ENOTFOUND.
func lockWatchlist(ctx context.Context, q *db.Queries, userID int64, handle string) (db.GetWatchlistForUpdateRow, error) {
	row, err := q.GetWatchlistForUpdate(ctx, db.GetWatchlistForUpdateParams{Handle: handle, UserID: userID})
	if tickstock.ErrorCode(db.Err("watchlist", err)) == tickstock.ENOTFOUND {
		return row, errNoWatchlist()
	}
	if err != nil {
		return row, fmt.Errorf("find watchlist: %w", err)
	}
	return row, nil
}
