package settings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/db"
)

// Cache lifetimes. A save drops the saver's entry on every instance (through the bus), so
// the TTL only bounds how stale a missed invalidation can leave a user.
const (
	DefaultTTL         = 30 * time.Second
	DefaultUniverseTTL = 30 * time.Second
)

// Option configures a Service.
type Option func(*Service)

// WithTTL sets how long a user's settings stay cached (default DefaultTTL). Zero turns the
// cache off; every read then goes to PostgreSQL.
func WithTTL(d time.Duration) Option { return func(s *Service) { s.ttl = max(d, 0) } }

// WithUniverseTTL sets how long the universe list and members stay cached (default
// DefaultUniverseTTL), which bounds how long an admin's edit on another instance takes to
// show when no invalidation reaches this one.
func WithUniverseTTL(d time.Duration) Option {
	return func(s *Service) { s.universeTTL = max(d, 0) }
}

// WithClock replaces time.Now, so tests can expire the cache without sleeping.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithBus sets the bus that carries invalidations (default: a bus of the service's own,
// which reaches no other part of the app). The service publishes bus.SettingsChanged after
// every save, and drops cached settings or universes when bus.SettingsChanged,
// bus.UserEnded or bus.UniversesChanged arrives, its own included.
func WithBus(b bus.Bus) Option { return func(s *Service) { s.bus = b } }

// WithLogger sets where the service reports trouble it works around (default
// slog.Default()): a failed invalidation publish, a stored filter row it cannot read.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.logger = l } }

// UniverseInfo describes a universe for the settings page and GET /api/universes.
type UniverseInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Size        int    `json:"size"` // number of symbols
}

// Stats are the settings figures of the admin metrics (SPEC section 10).
type Stats struct {
	// UniverseCacheSize is the number of universes whose members are cached.
	UniverseCacheSize int `json:"universe_cache_size"`
	// FilterCacheSize is the number of users whose settings are cached and not expired.
	FilterCacheSize int `json:"filter_cache_size"`
	// HitRate is Hits/(Hits+Misses) since start, 0 before the first read.
	HitRate float64 `json:"hit_rate"`
	Hits    uint64  `json:"hits"`
	Misses  uint64  `json:"misses"`
	// UniqueUniverseConfigs is the number of distinct (highlow, market) selections among
	// the cached users: how many different universe combinations the publisher serves.
	UniqueUniverseConfigs int `json:"unique_universe_configs"`
	// AvgFiltersPerUser is, over the cached users, the mean number of filter fields (of the
	// 7: min_count, min_volume, trend min_strength and direction, surge min_strength,
	// trigger and price_ranges) set to something other than the default.
	AvgFiltersPerUser float64 `json:"avg_filters_per_user"`
}

// Service stores users' settings in PostgreSQL under row-level security and caches them
// per user. It is safe for concurrent use. It does not check who may act for whom: the
// handlers decide that (a user for themselves, an admin for anyone) and pass the user whose
// settings change.
type Service struct {
	pool        *pgxpool.Pool
	bus         bus.Bus
	now         func() time.Time
	ttl         time.Duration
	universeTTL time.Duration
	logger      *slog.Logger

	hits, misses atomic.Uint64

	mu        sync.Mutex
	users     map[int64]*entry
	loading   map[int64]uint64 // user → token of the newest load in flight
	nextToken uint64
	nextSweep time.Time

	uload   sync.Mutex // one universe load at a time
	umu     sync.RWMutex
	ugen    uint64 // bumped by InvalidateUniverses, so a load racing it is not kept
	infos   []UniverseInfo
	infoExp time.Time
	members map[string][]string
	memExp  time.Time
	sets    map[string]SymbolSet // sorted universe names joined by "," → their symbols
}

type entry struct {
	settings   Settings
	expires    time.Time
	selKey     string
	nonDefault int
}

// NewService builds a Service on the app's pool (db.Open: connections run as the app role,
// so row-level security applies).
func NewService(pool *pgxpool.Pool, opts ...Option) *Service {
	s := &Service{
		pool:        pool,
		now:         time.Now,
		ttl:         DefaultTTL,
		universeTTL: DefaultUniverseTTL,
		logger:      slog.Default(),
		users:       make(map[int64]*entry),
		loading:     make(map[int64]uint64),
	}
	for _, o := range opts {
		o(s)
	}
	if s.bus == nil {
		s.bus = bus.NewLocal()
	}
	s.bus.Subscribe(s.apply)
	return s
}

// apply is the service's bus handler.
func (s *Service) apply(m bus.Message) {
	switch m := m.(type) {
	case bus.SettingsChanged:
		s.Invalidate(m.UserID)
	case bus.UserEnded:
		s.Invalidate(m.UserID)
	case bus.UniversesChanged:
		s.InvalidateUniverses()
	case bus.Resync: // this instance may have missed invalidations: trust nothing cached
		s.invalidateAll()
		s.InvalidateUniverses()
	}
}

// invalidateAll drops every user's cached settings, and loads in flight are not kept.
func (s *Service) invalidateAll() {
	s.mu.Lock()
	clear(s.users)
	clear(s.loading)
	s.mu.Unlock()
}

// Get returns a user's settings: from the cache, or read under the user's own row-level
// security context. A user who never saved anything gets DefaultSettings. The result is a
// copy the caller may change.
func (s *Service) Get(ctx context.Context, userID int64) (UserSettings, error) {
	if userID <= 0 {
		return UserSettings{}, fmt.Errorf("settings: get: invalid user id %d", userID)
	}
	if st, ok := s.cached(userID); ok {
		s.hits.Add(1)
		return UserSettings{UserID: userID, Settings: st.Clone()}, nil
	}
	s.misses.Add(1)
	tokens := s.beginLoads([]int64{userID})
	var loaded map[int64]Settings
	err := db.ReadUser(ctx, s.pool, userID, func(q *db.Queries) error {
		var err error
		loaded, err = s.readSettings(ctx, q, []int64{userID})
		return err
	})
	if err != nil {
		s.endLoads(tokens)
		return UserSettings{}, fmt.Errorf("settings: load settings of one user: %w", err)
	}
	st := loaded[userID]
	s.store(loaded, tokens)
	return UserSettings{UserID: userID, Settings: st.Clone()}, nil
}

// LoadMany returns the settings of every given user (ids ≤ 0 and repeats are skipped),
// taking what it can from the cache and reading all the misses in one query, outside any
// single user's row-level security context: it is the publisher's batch load, which acts for
// no one user. Users without rows get DefaultSettings. The results are copies.
func (s *Service) LoadMany(ctx context.Context, userIDs []int64) (map[int64]UserSettings, error) {
	out := make(map[int64]UserSettings, len(userIDs))
	var missing []int64
	s.mu.Lock()
	now := s.now()
	for _, id := range userIDs {
		if id <= 0 {
			continue
		}
		if _, done := out[id]; done {
			continue
		}
		if e := s.users[id]; e != nil && now.Before(e.expires) {
			out[id] = UserSettings{UserID: id, Settings: e.settings.Clone()}
			continue
		}
		out[id] = UserSettings{} // placeholder: marks id as seen
		missing = append(missing, id)
	}
	s.mu.Unlock()
	s.hits.Add(uint64(len(out) - len(missing)))
	s.misses.Add(uint64(len(missing)))
	if len(missing) == 0 {
		return out, nil
	}

	tokens := s.beginLoads(missing)
	var loaded map[int64]Settings
	err := db.ReadSystem(ctx, s.pool, func(q *db.Queries) error {
		var err error
		loaded, err = s.readSettings(ctx, q, missing)
		return err
	})
	if err != nil {
		s.endLoads(tokens)
		return nil, fmt.Errorf("settings: load settings of %d users: %w", len(missing), err)
	}
	s.store(loaded, tokens)
	for id, st := range loaded {
		out[id] = UserSettings{UserID: id, Settings: st.Clone()}
	}
	return out, nil
}

// SaveFilters replaces a user's filters (the form route) and returns what was stored: f
// normalised. Invalid filters are refused with Validate's 422 and nothing is stored.
func (s *Service) SaveFilters(ctx context.Context, userID int64, f Filters) (Filters, error) {
	return s.saveFilters(ctx, userID, f, s.asUser(userID), nil)
}

// saveFilters stores f in a transaction run by tx; rec, when set, runs in it with the
// filters before and after.
func (s *Service) saveFilters(ctx context.Context, userID int64, f Filters, tx txFunc, rec Recorder) (Filters, error) {
	f = f.Normalized()
	if err := f.Validate(); err != nil {
		return Filters{}, err
	}
	b, err := json.Marshal(f)
	if err != nil {
		return Filters{}, fmt.Errorf("settings: encode filters: %w", err)
	}
	err = tx(ctx, func(q *db.Queries) error {
		var before Filters
		if rec != nil {
			if before, err = s.lockFilters(ctx, q, userID); err != nil {
				return err
			}
		}
		if err := q.UpsertUserFilters(ctx, db.UpsertUserFiltersParams{UserID: userID, Filters: b}); err != nil {
			return err
		}
		if rec != nil {
			return rec(ctx, q, before, f)
		}
		return nil
	})
	if err != nil {
		return Filters{}, fmt.Errorf("settings: save filters: %w", err)
	}
	s.changed(ctx, userID)
	return f, nil
}

// lockFilters makes sure the user's filters row exists and locks it, returning the stored
// filters (the defaults for a user who never saved any).
func (s *Service) lockFilters(ctx context.Context, q *db.Queries, userID int64) (Filters, error) {
	defaults, err := json.Marshal(DefaultFilters())
	if err != nil {
		return Filters{}, fmt.Errorf("encode default filters: %w", err)
	}
	if err := q.EnsureUserFilters(ctx, db.EnsureUserFiltersParams{UserID: userID, Filters: defaults}); err != nil {
		return Filters{}, fmt.Errorf("create filters row: %w", err)
	}
	raw, err := q.GetUserFiltersForUpdate(ctx, userID)
	if err != nil {
		return Filters{}, fmt.Errorf("lock filters row: %w", err)
	}
	return s.decodeFilters(userID, raw), nil
}

// UpdateFilters applies the body of POST /api/user-filters ({"filter_data":{...}}, see
// MergeFilterJSON) to the user's stored filters and returns the result. Reading, merging
// and writing happen in one transaction holding the user's filter row, so two partial
// updates at once cannot undo each other. A bad body is refused (400 or 422) before
// anything is read, and nothing is stored.
func (s *Service) UpdateFilters(ctx context.Context, userID int64, body []byte) (Filters, error) {
	// Every field is validated on its own, so a body that merges cleanly over the defaults
	// merges cleanly over any valid filters: refuse bad input before touching the database.
	if _, err := MergeFilterJSON(DefaultFilters(), body); err != nil {
		return Filters{}, err
	}
	var out Filters
	err := db.WithUser(ctx, s.pool, userID, func(q *db.Queries) error {
		current, err := s.lockFilters(ctx, q, userID)
		if err != nil {
			return err
		}
		f, err := MergeFilterJSON(current, body)
		if err != nil {
			return err
		}
		b, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("encode filters: %w", err)
		}
		if err := q.UpsertUserFilters(ctx, db.UpsertUserFiltersParams{UserID: userID, Filters: b}); err != nil {
			return fmt.Errorf("store filters: %w", err)
		}
		out = f
		return nil
	})
	if err != nil {
		return Filters{}, fmt.Errorf("settings: update filters: %w", err)
	}
	s.changed(ctx, userID)
	return out, nil
}

// SaveSelection replaces the universes of one tracker and returns the user's selections for
// both trackers after the save (what GET /api/user/universe-selections answers). The
// tracker must be highlow or market and the list non-empty, naming only universes that
// exist when the transaction runs; otherwise it is a 422 and nothing changes.
func (s *Service) SaveSelection(ctx context.Context, userID int64, tracker string, universes []string) (Selections, error) {
	return s.saveSelection(ctx, userID, tracker, universes, s.asUser(userID), nil)
}

// saveSelection stores a tracker's selection in a transaction run by tx; rec, when set,
// runs in it with both trackers' selections before and after.
func (s *Service) saveSelection(ctx context.Context, userID int64, tracker string, universes []string, tx txFunc, rec Recorder) (Selections, error) {
	list, err := checkSelection(tracker, universes)
	if err != nil {
		return Selections{}, err
	}
	var sel Selections
	err = tx(ctx, func(q *db.Queries) error {
		var shared, listNames []string
		for _, u := range list {
			if name, ok := strings.CutPrefix(u, WatchlistPrefix); ok {
				listNames = append(listNames, name)
			} else {
				shared = append(shared, u)
			}
		}
		existing, err := q.ExistingUniverses(ctx, shared)
		if err != nil {
			return fmt.Errorf("check universes: %w", err)
		}
		// Only the user's own lists: row-level security hides everyone else's, so another
		// user's "WL:Tech" is as unknown as a universe that does not exist.
		lists, err := q.WatchlistsByName(ctx, db.WatchlistsByNameParams{UserID: userID, Names: listNames})
		if err != nil {
			return fmt.Errorf("check watchlists: %w", err)
		}
		listIDs := make([]int64, len(lists))
		for i, l := range lists {
			existing = append(existing, WatchlistPrefix+l.Name)
			listIDs[i] = l.ID
		}
		if list, err = ValidateSelection(tracker, list, existing); err != nil {
			return err
		}
		var before Selections
		if rec != nil {
			prev, err := s.readSettings(ctx, q, []int64{userID})
			if err != nil {
				return fmt.Errorf("read selections: %w", err)
			}
			before = prev[userID].Selections
		}
		if _, err := q.DeleteUserSelection(ctx, db.DeleteUserSelectionParams{UserID: userID, Tracker: tracker}); err != nil {
			return fmt.Errorf("clear selection: %w", err)
		}
		if _, err := q.DeleteUserWatchlistSelection(ctx, db.DeleteUserWatchlistSelectionParams{UserID: userID, Tracker: tracker}); err != nil {
			return fmt.Errorf("clear watchlist selection: %w", err)
		}
		_, err = q.InsertUserSelection(ctx, db.InsertUserSelectionParams{UserID: userID, Tracker: tracker, Universes: shared})
		if err == nil {
			_, err = q.InsertUserWatchlistSelection(ctx, db.InsertUserWatchlistSelectionParams{UserID: userID, Tracker: tracker, WatchlistIds: listIDs})
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation: deleted meanwhile
			return tickstock.FieldError(FieldUniverses, "One of the chosen universes no longer exists. Please reload and choose again.")
		}
		if err != nil {
			return fmt.Errorf("store selection: %w", err)
		}
		loaded, err := s.readSettings(ctx, q, []int64{userID})
		if err != nil {
			return fmt.Errorf("read back selections: %w", err)
		}
		sel = loaded[userID].Selections
		if rec != nil {
			return rec(ctx, q, before, sel)
		}
		return nil
	})
	if err != nil {
		return Selections{}, fmt.Errorf("settings: save selection: %w", err)
	}
	s.changed(ctx, userID)
	return sel, nil
}

// Invalidate drops a user's cached settings, so the next read (and so the next emission)
// uses what is stored. The service's bus handler calls it for every save, on every instance.
func (s *Service) Invalidate(userID int64) {
	s.mu.Lock()
	delete(s.users, userID)
	delete(s.loading, userID) // a load already reading the old rows will not be cached
	s.mu.Unlock()
}

// changed runs after a committed save: it announces the change, and every instance, this
// one before Publish returns, drops the user's entry. A failed publish is logged, not
// returned: the save itself succeeded, this instance has applied it anyway, and the other
// instances' entries still expire within the TTL.
func (s *Service) changed(ctx context.Context, userID int64) {
	if err := s.bus.Publish(ctx, bus.SettingsChanged{UserID: userID}); err != nil {
		s.Invalidate(userID)
		s.logger.Warn("settings: publish invalidation failed; other instances may serve old settings until the cache TTL",
			"user_id", userID, "ttl", s.ttl, "err", err)
	}
}

// cached returns a live cache entry's settings (not a copy).
func (s *Service) cached(userID int64) (Settings, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.users[userID]
	if e == nil || !s.now().Before(e.expires) {
		return Settings{}, false
	}
	return e.settings, true
}

// beginLoads registers loads about to read the database; an Invalidate that arrives
// meanwhile cancels the registration, and store then keeps nothing stale.
func (s *Service) beginLoads(ids []int64) map[int64]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	tokens := make(map[int64]uint64, len(ids))
	for _, id := range ids {
		s.nextToken++
		s.loading[id] = s.nextToken
		tokens[id] = s.nextToken
	}
	return tokens
}

// endLoads forgets registrations after a failed load.
func (s *Service) endLoads(tokens map[int64]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range tokens {
		if s.loading[id] == t {
			delete(s.loading, id)
		}
	}
}

// store caches loaded settings whose load is still the newest and was not invalidated.
func (s *Service) store(loaded map[int64]Settings, tokens map[int64]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if !now.Before(s.nextSweep) {
		for id, e := range s.users {
			if !now.Before(e.expires) {
				delete(s.users, id)
			}
		}
		s.nextSweep = now.Add(max(s.ttl, time.Second))
	}
	for id, st := range loaded {
		t, ok := tokens[id]
		if !ok || s.loading[id] != t {
			continue
		}
		delete(s.loading, id)
		if s.ttl == 0 {
			continue
		}
		s.users[id] = &entry{
			settings:   st.Clone(),
			expires:    now.Add(s.ttl),
			selKey:     st.universeKey(),
			nonDefault: st.Filters.nonDefaultFields(),
		}
	}
}

// readSettings reads the stored settings of ids in q's transaction: both trackers'
// universes (shared and watchlist ones), the filters, and the symbols of every selected
// watchlist. Every id gets an entry; one with nothing stored gets DefaultSettings.
func (s *Service) readSettings(ctx context.Context, q *db.Queries, ids []int64) (map[int64]Settings, error) {
	rows, err := q.LoadUserSettings(ctx, ids)
	if err != nil {
		return nil, err
	}
	lists, err := q.LoadWatchlistSelections(ctx, ids)
	if err != nil {
		return nil, err
	}
	byUser := make(map[int64][]db.LoadWatchlistSelectionsRow)
	for _, l := range lists {
		byUser[l.UserID] = append(byUser[l.UserID], l)
	}
	out := make(map[int64]Settings, len(ids))
	for _, id := range ids {
		out[id] = DefaultSettings()
	}
	for _, r := range rows {
		if _, asked := out[r.UserID]; !asked {
			continue
		}
		st := Settings{Filters: s.decodeFilters(r.UserID, r.Filters)}
		st.Selections, st.Watchlists = selectionsOf(r, byUser[r.UserID])
		out[r.UserID] = st
	}
	return out, nil
}

// selectionsOf joins a user's shared universes and watchlist universes per tracker; a
// tracker with neither uses the default. The second result maps each selected list's
// universe name to its symbols (nil when no list is selected).
func selectionsOf(r db.LoadUserSettingsRow, lists []db.LoadWatchlistSelectionsRow) (Selections, map[string][]string) {
	hl, mk := slices.Clone(r.Highlow), slices.Clone(r.Market)
	var syms map[string][]string
	for _, l := range lists {
		name := WatchlistPrefix + l.Name
		switch l.Tracker {
		case TrackerHighLow:
			hl = append(hl, name)
		case TrackerMarket:
			mk = append(mk, name)
		default:
			continue
		}
		if syms == nil {
			syms = make(map[string][]string)
		}
		syms[name] = l.Symbols
	}
	sel := DefaultSelections()
	if len(hl) > 0 {
		sel.HighLow = sortedSet(hl)
	}
	if len(mk) > 0 {
		sel.Market = sortedSet(mk)
	}
	return sel, syms
}

// decodeFilters reads a stored filters row the way the API reads a body, over the
// defaults, so a row written before a new field existed gets that field's default. A row it
// cannot read (hand-edited, or from a newer release) gives the defaults and a warning rather
// than breaking the user's stream.
func (s *Service) decodeFilters(userID int64, raw []byte) Filters {
	if raw == nil {
		return DefaultFilters()
	}
	body := make([]byte, 0, len(raw)+16)
	body = append(append(append(body, `{"filter_data":`...), raw...), '}')
	f, err := MergeFilterJSON(DefaultFilters(), body)
	if err != nil {
		s.logger.Warn("settings: stored filters unreadable; using defaults", "user_id", userID, "err", err)
		return DefaultFilters()
	}
	return f
}

// Universes lists every universe with its description and size, sorted by name, for the
// settings page and GET /api/universes. It is cached for the universe TTL.
func (s *Service) Universes(ctx context.Context) ([]UniverseInfo, error) {
	s.umu.RLock()
	infos, ok, gen := s.infos, s.infos != nil && s.now().Before(s.infoExp), s.ugen
	s.umu.RUnlock()
	if ok {
		return slices.Clone(infos), nil
	}
	var rows []db.ListUniversesRow
	err := db.ReadSystem(ctx, s.pool, func(q *db.Queries) error {
		var err error
		rows, err = q.ListUniverses(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("settings: list universes: %w", err)
	}
	infos = make([]UniverseInfo, len(rows))
	for i, r := range rows {
		infos[i] = UniverseInfo{Name: r.Name, Description: r.Description, Size: int(r.Size)}
	}
	s.umu.Lock()
	if s.ugen == gen {
		s.infos, s.infoExp = infos, s.now().Add(s.universeTTL)
	}
	s.umu.Unlock()
	return slices.Clone(infos), nil
}

// SymbolSet resolves universe names to the set of their symbols, the union over all of
// them. Names that are not universes (say, deleted a moment ago) add nothing. Sets are
// cached per distinct list of names until the universe TTL ends or InvalidateUniverses.
func (s *Service) SymbolSet(ctx context.Context, universes []string) (SymbolSet, error) {
	names := sortedSet(universes)
	key := strings.Join(names, ",")
	s.umu.RLock()
	set, ok := s.sets[key]
	fresh := s.members != nil && s.now().Before(s.memExp)
	s.umu.RUnlock()
	if ok && fresh {
		return set, nil
	}
	members, err := s.loadMembers(ctx)
	if err != nil {
		return SymbolSet{}, err
	}
	lists := make([][]string, 0, len(names))
	for _, n := range names {
		lists = append(lists, members[n])
	}
	set = NewSymbolSet(lists...)
	s.umu.Lock()
	if s.sets != nil {
		s.sets[key] = set
	}
	s.umu.Unlock()
	return set, nil
}

// TrackerSymbols resolves the universes one tracker of st selects to their symbols: shared
// universes through SymbolSet (cached), and "WL:" universes from the watchlist symbols st
// carries (see Settings). It needs no user, so it serves a whole settings group.
func (s *Service) TrackerSymbols(ctx context.Context, st Settings, tracker string) (SymbolSet, error) {
	names := st.Selections.For(tracker)
	shared := make([]string, 0, len(names))
	var lists [][]string
	for _, n := range names {
		if IsWatchlistUniverse(n) {
			lists = append(lists, st.Watchlists[n])
		} else {
			shared = append(shared, n)
		}
	}
	set, err := s.SymbolSet(ctx, shared)
	if err != nil || len(lists) == 0 {
		return set, err
	}
	return NewSymbolSet(append(lists, set.Symbols())...), nil
}

// Matcher compiles st's filters against the symbols of its highlow universes: what the
// publisher needs per settings group.
func (s *Service) Matcher(ctx context.Context, st Settings) (*Matcher, error) {
	set, err := s.TrackerSymbols(ctx, st, TrackerHighLow)
	if err != nil {
		return nil, err
	}
	return NewMatcher(st.Filters, set)
}

// loadMembers returns the universe → symbols map, reading it once per universe TTL. One
// goroutine reads; the others wait for its result.
func (s *Service) loadMembers(ctx context.Context) (map[string][]string, error) {
	s.uload.Lock()
	defer s.uload.Unlock()
	s.umu.RLock()
	members, fresh, gen := s.members, s.members != nil && s.now().Before(s.memExp), s.ugen
	s.umu.RUnlock()
	if fresh {
		return members, nil
	}
	var rows []db.UniverseSymbol
	err := db.ReadSystem(ctx, s.pool, func(q *db.Queries) error {
		var err error
		rows, err = q.ListUniverseMembers(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("settings: list universe members: %w", err)
	}
	members = make(map[string][]string)
	for _, r := range rows {
		members[r.UniverseName] = append(members[r.UniverseName], r.Symbol)
	}
	s.umu.Lock()
	if s.ugen == gen {
		s.members, s.memExp = members, s.now().Add(s.universeTTL)
		s.sets = make(map[string]SymbolSet)
	}
	s.umu.Unlock()
	return members, nil
}

// InvalidateUniverses drops the cached universe list, members and symbol sets, for when an
// admin creates or edits a universe.
func (s *Service) InvalidateUniverses() {
	s.umu.Lock()
	s.ugen++
	s.infos, s.members, s.sets = nil, nil, nil
	s.umu.Unlock()
}

// Stats reports the cache and personalisation figures for the metrics.
func (s *Service) Stats() Stats {
	var st Stats
	st.Hits, st.Misses = s.hits.Load(), s.misses.Load()
	if total := st.Hits + st.Misses; total > 0 {
		st.HitRate = float64(st.Hits) / float64(total)
	}
	s.mu.Lock()
	now := s.now()
	configs := make(map[string]struct{})
	nonDefault := 0
	for _, e := range s.users {
		if !now.Before(e.expires) {
			continue
		}
		st.FilterCacheSize++
		configs[e.selKey] = struct{}{}
		nonDefault += e.nonDefault
	}
	s.mu.Unlock()
	st.UniqueUniverseConfigs = len(configs)
	if st.FilterCacheSize > 0 {
		st.AvgFiltersPerUser = float64(nonDefault) / float64(st.FilterCacheSize)
	}
	s.umu.RLock()
	st.UniverseCacheSize = len(s.members)
	s.umu.RUnlock()
	return st
}
