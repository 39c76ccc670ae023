package settings

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Selections are a user's universes per tracker, with the JSON shape of
// GET /api/user/universe-selections. A Service always returns both lists non-empty, sorted
// and without duplicates.
type Selections struct {
	Market  []string `json:"market"`
	HighLow []string `json:"highlow"`
}

// DefaultSelections are the selections of a user who never chose: DEFAULT_UNIVERSE for
// both trackers.
func DefaultSelections() Selections {
	return Selections{Market: []string{DefaultUniverse}, HighLow: []string{DefaultUniverse}}
}

// For returns the universes of one tracker (nil for an unknown tracker).
func (s Selections) For(tracker string) []string {
	switch tracker {
	case TrackerHighLow:
		return s.HighLow
	case TrackerMarket:
		return s.Market
	}
	return nil
}

// Clone returns a deep copy.
func (s Selections) Clone() Selections {
	return Selections{Market: slices.Clone(s.Market), HighLow: slices.Clone(s.HighLow)}
}

// Normalized returns a copy with each list sorted and deduplicated.
func (s Selections) Normalized() Selections {
	return Selections{Market: sortedSet(s.Market), HighLow: sortedSet(s.HighLow)}
}

func sortedSet(in []string) []string {
	out := slices.Clone(in)
	sort.Strings(out)
	return slices.Compact(out)
}

// Settings are everything that decides what a user's stream shows: the universes and the
// filters. Users with equal Settings see the same events, so the publisher works once per
// distinct Settings (see GroupUsers).
//
// A selected "WL:<name>" universe is one of the user's own watchlists, and two users'
// "WL:Tech" are different lists. So the symbols of every selected watchlist travel with
// the settings, in Watchlists (universe name → sorted symbols): resolving a selection then
// needs no user (Service.TrackerSymbols), and the grouping key covers what the lists hold,
// so users share a group only when their lists hold the same symbols.
type Settings struct {
	Selections Selections          `json:"selections"`
	Filters    Filters             `json:"filters"`
	Watchlists map[string][]string `json:"watchlists,omitempty"`
}

// DefaultSettings are a new user's settings.
func DefaultSettings() Settings {
	return Settings{Selections: DefaultSelections(), Filters: DefaultFilters()}
}

// Clone returns a deep copy, so a caller may change it without touching a cached value.
func (s Settings) Clone() Settings {
	return Settings{Selections: s.Selections.Clone(), Filters: s.Filters.Clone(), Watchlists: cloneLists(s.Watchlists)}
}

// Normalized returns a copy in canonical form: universes sorted and deduplicated, price
// ranges in canonical order, watchlist symbols sorted and deduplicated.
func (s Settings) Normalized() Settings {
	out := Settings{Selections: s.Selections.Normalized(), Filters: s.Filters.Normalized()}
	if len(s.Watchlists) > 0 {
		out.Watchlists = make(map[string][]string, len(s.Watchlists))
		for name, syms := range s.Watchlists {
			out.Watchlists[name] = sortedSet(syms)
		}
	}
	return out
}

func cloneLists(m map[string][]string) map[string][]string {
	if m == nil {
		return nil
	}
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}

// Key is a canonical string for s: equal for settings that show the same events however
// their lists are ordered or repeated, different otherwise. It names no user, so it is safe
// in logs and as a map key shared across users. Its format is not stable across releases;
// do not store it.
func (s Settings) Key() string {
	n := s.Normalized()
	b := make([]byte, 0, 192)
	b = append(b, "hl:"...)
	b = appendList(b, n.Selections.HighLow)
	b = append(b, "|mk:"...)
	b = appendList(b, n.Selections.Market)
	b = append(b, "|hc:"...)
	b = strconv.AppendInt(b, n.Filters.HighLow.MinCount, 10)
	b = append(b, "|hv:"...)
	b = strconv.AppendInt(b, n.Filters.HighLow.MinVolume, 10)
	b = append(b, "|ts:"...)
	b = strconv.AppendQuote(b, n.Filters.Trends.MinStrength)
	b = append(b, "|td:"...)
	b = strconv.AppendQuote(b, n.Filters.Trends.Direction)
	b = append(b, "|ss:"...)
	b = strconv.AppendQuote(b, n.Filters.Surges.MinStrength)
	b = append(b, "|st:"...)
	b = strconv.AppendQuote(b, n.Filters.Surges.Trigger)
	b = append(b, "|pr:"...)
	b = appendList(b, n.Filters.Surges.PriceRanges)
	return string(appendLists(b, n.Watchlists))
}

// appendLists writes each selected watchlist by name and a digest of its symbols (sorted),
// so lists of different users with equal names but different symbols never share a key.
// The digest keeps the key short however long the lists. Nothing is written without lists.
func appendLists(b []byte, lists map[string][]string) []byte {
	if len(lists) == 0 {
		return b
	}
	b = append(b, "|wl:"...)
	for i, name := range slices.Sorted(maps.Keys(lists)) {
		if i > 0 {
			b = append(b, ',')
		}
		sum := sha256.Sum256([]byte(strings.Join(lists[name], ",")))
		b = strconv.AppendQuote(b, name)
		b = append(b, '=')
		b = hex.AppendEncode(b, sum[:16])
	}
	return b
}

// universeKey is the part of Settings.Key that covers the universes, watchlists'
// contents included: Stats counts distinct ones.
func (s Settings) universeKey() string {
	n := s.Normalized()
	b := append(appendList([]byte("hl:"), n.Selections.HighLow), "|mk:"...)
	return string(appendLists(appendList(b, n.Selections.Market), n.Watchlists))
}

// appendList writes each item quoted, so no item can fake a separator.
func appendList(b []byte, items []string) []byte {
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, it)
	}
	return b
}

// UserSettings are one user's settings. The user id is the database row id, which never
// leaves the server, so it has no JSON name.
type UserSettings struct {
	UserID int64 `json:"-"`
	Settings
}

// Key is us.Settings.Key(): the canonical key of the user's universes and filters.
func Key(us UserSettings) string { return us.Settings.Key() }

// Group is a set of users with equal settings: the publisher filters and renders each
// emission once per Group and sends the result to every user in it.
type Group struct {
	Key      string   // Settings.Key()
	Settings Settings // normalised
	UserIDs  []int64  // ascending, without duplicates
}

// GroupUsers groups users by Key. Groups come sorted by Key, so the result is the same for
// the same input in any order.
func GroupUsers(list []UserSettings) []Group {
	idx := make(map[string]int, len(list))
	var groups []Group
	for _, us := range list {
		k := us.Settings.Key()
		i, ok := idx[k]
		if !ok {
			i = len(groups)
			idx[k] = i
			groups = append(groups, Group{Key: k, Settings: us.Settings.Normalized()})
		}
		groups[i].UserIDs = append(groups[i].UserIDs, us.UserID)
	}
	for i := range groups {
		slices.Sort(groups[i].UserIDs)
		groups[i].UserIDs = slices.Compact(groups[i].UserIDs)
	}
	sort.Slice(groups, func(a, b int) bool { return groups[a].Key < groups[b].Key })
	return groups
}

// KeyMemo remembers each user's Key between calls, so a caller that groups the same users
// over and over (the publisher, every emission) builds a key only when a user's settings
// change. Comparing settings allocates nothing; building a key does. Not safe for
// concurrent use.
type KeyMemo struct {
	gen     uint64
	entries map[int64]memoEntry
}

type memoEntry struct {
	st  Settings
	key string
	gen uint64
}

// Group groups list like GroupUsers, reusing remembered keys, and forgets users that are
// no longer in list.
func (m *KeyMemo) Group(list []UserSettings) []Group {
	if m.entries == nil {
		m.entries = make(map[int64]memoEntry, len(list))
	}
	m.gen++
	idx := make(map[string]int)
	var groups []Group
	for _, us := range list {
		e, ok := m.entries[us.UserID]
		if !ok || !e.st.equal(us.Settings) {
			e = memoEntry{st: us.Settings.Clone(), key: us.Settings.Key()}
		}
		e.gen = m.gen
		m.entries[us.UserID] = e
		i, ok := idx[e.key]
		if !ok {
			i = len(groups)
			idx[e.key] = i
			groups = append(groups, Group{Key: e.key, Settings: us.Settings.Normalized()})
		}
		groups[i].UserIDs = append(groups[i].UserIDs, us.UserID)
	}
	for id, e := range m.entries {
		if e.gen != m.gen {
			delete(m.entries, id)
		}
	}
	for i := range groups {
		slices.Sort(groups[i].UserIDs)
		groups[i].UserIDs = slices.Compact(groups[i].UserIDs)
	}
	sort.Slice(groups, func(a, b int) bool { return groups[a].Key < groups[b].Key })
	return groups
}

// equal reports whether s and o are the same settings, field by field, without allocating.
func (s Settings) equal(o Settings) bool {
	return slices.Equal(s.Selections.HighLow, o.Selections.HighLow) &&
		slices.Equal(s.Selections.Market, o.Selections.Market) &&
		s.Filters.HighLow == o.Filters.HighLow &&
		s.Filters.Trends == o.Filters.Trends &&
		s.Filters.Surges.MinStrength == o.Filters.Surges.MinStrength &&
		s.Filters.Surges.Trigger == o.Filters.Surges.Trigger &&
		slices.Equal(s.Filters.Surges.PriceRanges, o.Filters.Surges.PriceRanges) &&
		maps.EqualFunc(s.Watchlists, o.Watchlists, slices.Equal[[]string])
}
