package settings_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/settings"
)

// testUniverses are inserted (if missing) into every test database, so the tests do not
// depend on the seed migration. The TEST_ universes have members no seed uses, so symbol
// sets are exact.
func testUniverses() map[string][]string {
	return map[string][]string{
		"DEFAULT_UNIVERSE":    {"AAPL", "MSFT", "NVDA", "JPM"},
		"TECH_UNIVERSE":       {"AAPL", "MSFT", "NVDA"},
		"FINANCIALS_UNIVERSE": {"JPM", "GS"},
		"ETF_UNIVERSE":        {"SPY", "QQQ"},
		"TEST_ALPHA":          {"ZZA", "ZZB"},
		"TEST_BETA":           {"ZZB", "ZZC"},
	}
}

// fakeClock is a settable clock for cache expiry.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testDB is one fresh database with the app pool and a superuser connection URL.
type testDB struct {
	pool *pgxpool.Pool
	url  string
}

// MustDB gives a fresh migrated database with the test universes.
func MustDB(tb testing.TB) testDB {
	tb.Helper()
	pool, url := testenv.MustPool(tb)
	MustExec(tb, url, "") // connectivity check as superuser
	for name, syms := range testUniverses() {
		MustExec(tb, url, `INSERT INTO universes (name, description) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			name, "Test universe "+name)
		for _, s := range syms {
			MustExec(tb, url, `INSERT INTO universe_symbols (universe_name, symbol) VALUES ($1, $2) ON CONFLICT DO NOTHING`, name, s)
		}
	}
	return testDB{pool: pool, url: url}
}

// MustExec runs one statement as the database's superuser, outside row-level security: the
// way an admin or a seed would change data behind the service's back.
func MustExec(tb testing.TB, url, sql string, args ...any) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatalf("connect as superuser: %v", err)
	}
	defer conn.Close(ctx)
	if sql == "" {
		return
	}
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("exec %q: %v", sql, err)
	}
}

// MustUser creates a user and returns the row id.
func MustUser(tb testing.TB, pool *pgxpool.Pool, name string) int64 {
	tb.Helper()
	ctx := context.Background()
	var u db.User
	err := db.WithSystem(ctx, pool, func(q *db.Queries) error {
		var err error
		u, err = q.CreateUser(ctx, db.CreateUserParams{
			Handle: "h-" + name, Email: name + "@example.com", Username: name, PasswordHash: "x", Role: "user",
		})
		return err
	})
	if err != nil {
		tb.Fatalf("create user %s: %v", name, err)
	}
	return u.ID
}

// MustGet reads a user's settings or fails.
func MustGet(tb testing.TB, svc *settings.Service, userID int64) settings.Settings {
	tb.Helper()
	us, err := svc.Get(context.Background(), userID)
	if err != nil {
		tb.Fatalf("Get(%d): %v", userID, err)
	}
	if us.UserID != userID {
		tb.Fatalf("Get(%d) returned user %d", userID, us.UserID)
	}
	return us.Settings
}

// MustStored reads a user's settings through a new, cache-less service: what is in the
// database right now.
func MustStored(tb testing.TB, pool *pgxpool.Pool, userID int64) settings.Settings {
	tb.Helper()
	return MustGet(tb, settings.NewService(pool, settings.WithTTL(0)), userID)
}

func customFilters() settings.Filters {
	return settings.Filters{
		HighLow: settings.HighLowFilters{MinCount: 3, MinVolume: 250000},
		Trends:  settings.TrendFilters{MinStrength: "strong", Direction: "up"},
		Surges:  settings.SurgeFilters{MinStrength: "moderate", Trigger: "price_and_volume", PriceRanges: []string{"mid", "high"}},
	}
}

func TestDefaultsForNewUser(t *testing.T) {
	d := MustDB(t)
	svc := settings.NewService(d.pool)
	id := MustUser(t, d.pool, "newbie")
	got := MustGet(t, svc, id)
	if !reflect.DeepEqual(got, settings.DefaultSettings()) {
		t.Fatalf("new user's settings = %+v, want defaults", got)
	}
	b, _ := json.Marshal(got.Filters)
	want := `{"highlow":{"min_count":0,"min_volume":0},"trends":{"min_strength":"moderate","direction":"both"},"surges":{"min_strength":"weak","trigger":"any","price_ranges":["penny","low","mid","high"]},"alerts":{"enabled":false,"sound":true,"notify":true},"display":{"one_row_per_symbol":false}}`
	if string(b) != want {
		t.Fatalf("filters JSON = %s", b)
	}
	// The caller owns the copy it gets.
	got.Selections.HighLow[0] = "CHANGED"
	if again := MustGet(t, svc, id); again.Selections.HighLow[0] != settings.DefaultUniverse {
		t.Fatal("changing a returned value changed the cache")
	}
}

func TestSaveAndLoad(t *testing.T) {
	d := MustDB(t)
	ctx := context.Background()
	svc := settings.NewService(d.pool)
	id := MustUser(t, d.pool, "trader")

	// Filters replaced whole (the form route); ranges come back in canonical order.
	in := customFilters()
	in.Surges.PriceRanges = []string{"high", "mid", "high"}
	saved, err := svc.SaveFilters(ctx, id, in)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(saved, customFilters()) {
		t.Fatalf("SaveFilters returned %+v", saved)
	}
	for _, got := range []settings.Settings{MustGet(t, svc, id), MustStored(t, d.pool, id)} {
		if !reflect.DeepEqual(got.Filters, customFilters()) {
			t.Fatalf("filters after save = %+v", got.Filters)
		}
	}

	// A partial JSON update changes only what it names.
	upd, err := svc.UpdateFilters(ctx, id, []byte(`{"filter_data":{"trends":{"direction":"down"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := customFilters()
	want.Trends.Direction = "down"
	if !reflect.DeepEqual(upd, want) || !reflect.DeepEqual(MustGet(t, svc, id).Filters, want) {
		t.Fatalf("after partial update: %+v", upd)
	}

	// Selections: one tracker at a time; the answer holds both.
	sel, err := svc.SaveSelection(ctx, id, settings.TrackerHighLow, []string{"TECH_UNIVERSE", "FINANCIALS_UNIVERSE", "TECH_UNIVERSE"})
	if err != nil {
		t.Fatal(err)
	}
	wantSel := settings.Selections{Market: []string{"DEFAULT_UNIVERSE"}, HighLow: []string{"FINANCIALS_UNIVERSE", "TECH_UNIVERSE"}}
	if !reflect.DeepEqual(sel, wantSel) {
		t.Fatalf("SaveSelection = %+v, want %+v", sel, wantSel)
	}
	sel, err = svc.SaveSelection(ctx, id, settings.TrackerMarket, []string{"ETF_UNIVERSE"})
	if err != nil {
		t.Fatal(err)
	}
	wantSel.Market = []string{"ETF_UNIVERSE"}
	if !reflect.DeepEqual(sel, wantSel) {
		t.Fatalf("SaveSelection(market) = %+v, want %+v", sel, wantSel)
	}
	// Saving again replaces, it does not add.
	if _, err := svc.SaveSelection(ctx, id, settings.TrackerHighLow, []string{"TECH_UNIVERSE"}); err != nil {
		t.Fatal(err)
	}
	wantSel.HighLow = []string{"TECH_UNIVERSE"}
	for _, got := range []settings.Settings{MustGet(t, svc, id), MustStored(t, d.pool, id)} {
		if !reflect.DeepEqual(got.Selections, wantSel) || !reflect.DeepEqual(got.Filters, want) {
			t.Fatalf("settings after saves = %+v", got)
		}
	}
}

func TestUpdateFiltersForNewUserAndConcurrently(t *testing.T) {
	d := MustDB(t)
	ctx := context.Background()
	svc := settings.NewService(d.pool)
	ids := []int64{MustUser(t, d.pool, "conc1"), MustUser(t, d.pool, "conc2"), MustUser(t, d.pool, "conc3")}
	bodies := []string{
		`{"filter_data":{"highlow":{"min_count":5}}}`,
		`{"filter_data":{"trends":{"direction":"up"}}}`,
		`{"filter_data":{"surges":{"trigger":"price_and_volume"}}}`,
		`{"filter_data":{"highlow":{"min_volume":7}}}`,
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(ids)*len(bodies))
	for _, id := range ids {
		for _, b := range bodies {
			wg.Go(func() {
				if _, err := svc.UpdateFilters(ctx, id, []byte(b)); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := settings.DefaultFilters()
	want.HighLow = settings.HighLowFilters{MinCount: 5, MinVolume: 7}
	want.Trends.Direction = "up"
	want.Surges.Trigger = "price_and_volume"
	for _, id := range ids {
		if got := MustStored(t, d.pool, id).Filters; !reflect.DeepEqual(got, want) {
			t.Errorf("user %d: concurrent partial updates lost a change: %+v", id, got)
		}
	}
}

func TestRefusedSavesChangeNothing(t *testing.T) {
	d := MustDB(t)
	ctx := context.Background()
	svc := settings.NewService(d.pool)
	id := MustUser(t, d.pool, "careful")
	if _, err := svc.SaveFilters(ctx, id, customFilters()); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SaveSelection(ctx, id, settings.TrackerHighLow, []string{"TECH_UNIVERSE"}); err != nil {
		t.Fatal(err)
	}
	before := MustStored(t, d.pool, id)
	fresh := MustUser(t, d.pool, "fresh") // a user with no rows must stay without rows

	bad := func(mod func(*settings.Filters)) settings.Filters {
		f := customFilters()
		mod(&f)
		return f
	}
	cases := []struct {
		name  string
		code  string
		field string
		op    func(userID int64) error
	}{
		{"empty selection", tickstock.EINVALID, "universes", func(u int64) error {
			_, err := svc.SaveSelection(ctx, u, settings.TrackerHighLow, nil)
			return err
		}},
		{"unknown universe", tickstock.EINVALID, "universes", func(u int64) error {
			_, err := svc.SaveSelection(ctx, u, settings.TrackerHighLow, []string{"NOPE_UNIVERSE"})
			return err
		}},
		{"known plus unknown universe", tickstock.EINVALID, "universes", func(u int64) error {
			_, err := svc.SaveSelection(ctx, u, settings.TrackerMarket, []string{"ETF_UNIVERSE", "NOPE_UNIVERSE"})
			return err
		}},
		{"bad tracker", tickstock.EINVALID, "tracker", func(u int64) error {
			_, err := svc.SaveSelection(ctx, u, "trends", []string{"ETF_UNIVERSE"})
			return err
		}},
		{"negative min_count", tickstock.EINVALID, "highlow.min_count", func(u int64) error {
			_, err := svc.SaveFilters(ctx, u, bad(func(f *settings.Filters) { f.HighLow.MinCount = -1 }))
			return err
		}},
		{"unknown direction", tickstock.EINVALID, "trends.direction", func(u int64) error {
			_, err := svc.SaveFilters(ctx, u, bad(func(f *settings.Filters) { f.Trends.Direction = "sideways" }))
			return err
		}},
		{"no price ranges", tickstock.EINVALID, "surges.price_ranges", func(u int64) error {
			_, err := svc.SaveFilters(ctx, u, bad(func(f *settings.Filters) { f.Surges.PriceRanges = nil }))
			return err
		}},
		{"JSON unknown key", tickstock.EINVALID, "trends.speed", func(u int64) error {
			_, err := svc.UpdateFilters(ctx, u, []byte(`{"filter_data":{"trends":{"speed":1}}}`))
			return err
		}},
		{"JSON wrong type", tickstock.EINVALID, "highlow.min_volume", func(u int64) error {
			_, err := svc.UpdateFilters(ctx, u, []byte(`{"filter_data":{"highlow":{"min_volume":"lots"}}}`))
			return err
		}},
		{"JSON valid field then bad one", tickstock.EINVALID, "surges.trigger", func(u int64) error {
			_, err := svc.UpdateFilters(ctx, u, []byte(`{"filter_data":{"trends":{"direction":"down"},"surges":{"trigger":"volume"}}}`))
			return err
		}},
		{"JSON malformed", tickstock.EBADREQUEST, "", func(u int64) error {
			_, err := svc.UpdateFilters(ctx, u, []byte(`{"filter_data":{`))
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			MustCode(t, tc.op(id), tc.code, tc.field)
			if got := MustStored(t, d.pool, id); !reflect.DeepEqual(got, before) {
				t.Fatalf("a refused save changed settings:\n%+v\nwas\n%+v", got, before)
			}
			if got := MustGet(t, svc, id); !reflect.DeepEqual(got, before) {
				t.Fatalf("a refused save changed cached settings: %+v", got)
			}
			MustCode(t, tc.op(fresh), tc.code, tc.field)
			MustNoRows(t, d.pool, fresh)
		})
	}
}

// MustNoRows fails unless the user has no selection or filter rows.
func MustNoRows(tb testing.TB, pool *pgxpool.Pool, userID int64) {
	tb.Helper()
	ctx := context.Background()
	err := db.WithSystem(ctx, pool, func(q *db.Queries) error {
		rows, err := q.LoadUserSettings(ctx, []int64{userID})
		if err != nil {
			return err
		}
		if len(rows) != 1 || len(rows[0].Highlow) != 0 || len(rows[0].Market) != 0 || rows[0].Filters != nil {
			tb.Errorf("user %d has rows: %+v", userID, rows)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func TestIsolation(t *testing.T) {
	d := MustDB(t)
	ctx := context.Background()
	svc := settings.NewService(d.pool)
	a := MustUser(t, d.pool, "alice")
	b := MustUser(t, d.pool, "bobby")
	if _, err := svc.SaveFilters(ctx, b, customFilters()); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SaveSelection(ctx, b, settings.TrackerHighLow, []string{"ETF_UNIVERSE"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SaveSelection(ctx, a, settings.TrackerMarket, []string{"TECH_UNIVERSE"}); err != nil {
		t.Fatal(err)
	}
	bBefore := MustStored(t, d.pool, b)

	// Through the service, each sees only their own.
	if got := MustGet(t, svc, a); !reflect.DeepEqual(got.Filters, settings.DefaultFilters()) ||
		!reflect.DeepEqual(got.Selections.HighLow, []string{"DEFAULT_UNIVERSE"}) {
		t.Fatalf("A sees %+v", got)
	}

	// Acting as A, the service's own queries cannot read or change B's rows, even when
	// handed B's id: row-level security backs up every WHERE clause.
	err := db.WithUser(ctx, d.pool, a, func(q *db.Queries) error {
		rows, err := q.LoadUserSettings(ctx, []int64{a, b})
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.UserID == b && (r.Filters != nil || len(r.Highlow) > 0 || len(r.Market) > 0) {
				t.Errorf("as A, read B's settings: %+v", r)
			}
		}
		if _, err := q.GetUserFilters(ctx, b); !errors.Is(err, pgx.ErrNoRows) {
			t.Errorf("as A, GetUserFilters(B) = %v, want no rows", err)
		}
		sels, err := q.ListUserSelections(ctx, b)
		if err != nil || len(sels) != 0 {
			t.Errorf("as A, ListUserSelections(B) = %v, %v", sels, err)
		}
		if n, err := q.DeleteUserSelection(ctx, db.DeleteUserSelectionParams{UserID: b, Tracker: settings.TrackerHighLow}); err != nil || n != 0 {
			t.Errorf("as A, deleting B's selection touched %d rows (%v)", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Writing B's rows as A fails outright (WITH CHECK), in its own transaction.
	err = db.WithUser(ctx, d.pool, a, func(q *db.Queries) error {
		return q.UpsertUserFilters(ctx, db.UpsertUserFiltersParams{UserID: b, Filters: []byte(`{}`)})
	})
	if err == nil {
		t.Error("as A, overwrote B's filters")
	}
	err = db.WithUser(ctx, d.pool, a, func(q *db.Queries) error {
		_, err := q.InsertUserSelection(ctx, db.InsertUserSelectionParams{UserID: b, Tracker: "market", Universes: []string{"ETF_UNIVERSE"}})
		return err
	})
	if err == nil {
		t.Error("as A, inserted a selection for B")
	}

	// A raw query without WHERE, as A, sees only A's rows; with no user set, none at all.
	MustRawCounts(t, d.pool, a, b)

	if got := MustStored(t, d.pool, b); !reflect.DeepEqual(got, bBefore) {
		t.Fatalf("B's settings changed: %+v", got)
	}
}

// MustRawCounts checks what raw, WHERE-less queries see as user a and as nobody.
func MustRawCounts(tb testing.TB, pool *pgxpool.Pool, a, b int64) {
	tb.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, "SELECT set_config('app.user_id', $1, true)", fmt.Sprint(a)); err != nil {
		tb.Fatal(err)
	}
	for _, table := range []string{"user_universe_selections", "user_filters"} {
		var others int
		if err := tx.QueryRow(ctx, "SELECT count(*) FILTER (WHERE user_id <> $1) FROM "+table, a).Scan(&others); err != nil {
			tb.Fatal(err)
		}
		if others != 0 {
			tb.Errorf("as A, a raw query on %s saw %d rows of other users", table, others)
		}
	}
	var mine int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM user_universe_selections").Scan(&mine); err != nil || mine != 1 {
		tb.Errorf("as A, a raw query saw %d selection rows (%v), want A's 1", mine, err)
	}
	var bRows int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM user_filters WHERE user_id = $1", b).Scan(&bRows); err != nil || bRows != 0 {
		tb.Errorf("as A, a raw query for B's filters found %d rows (%v)", bRows, err)
	}
	for _, table := range []string{"user_universe_selections", "user_filters"} {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 0 {
			tb.Errorf("with no user set, a raw query on %s saw %d rows (%v)", table, n, err)
		}
	}
}

func TestCacheInvalidationAndTTL(t *testing.T) {
	d := MustDB(t)
	ctx := context.Background()
	clock := &fakeClock{now: time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)}

	// Two instances on one bus: one's saves reach the other.
	b := bus.NewLocal()
	svc := settings.NewService(d.pool, settings.WithClock(clock.Now), settings.WithBus(b))
	other := settings.NewService(d.pool, settings.WithClock(clock.Now), settings.WithBus(b))
	// A third instance nobody tells: only the TTL refreshes it.
	deaf := settings.NewService(d.pool, settings.WithClock(clock.Now), settings.WithTTL(10*time.Second))

	id := MustUser(t, d.pool, "cached")
	for _, s := range []*settings.Service{svc, other, deaf} {
		MustGet(t, s, id)
		MustGet(t, s, id)
	}
	if st := svc.Stats(); st.Hits != 1 || st.Misses != 1 || st.HitRate != 0.5 || st.FilterCacheSize != 1 {
		t.Fatalf("stats after miss+hit = %+v", st)
	}

	// Behind the service's back the cache keeps serving what it has...
	MustExec(t, d.url, `INSERT INTO user_filters (user_id, filters) VALUES ($1, '{"trends":{"direction":"down"}}')`, id)
	if got := MustGet(t, svc, id); got.Filters.Trends.Direction != "both" {
		t.Fatalf("cache did not serve the cached value: %+v", got.Filters.Trends)
	}
	// ...until Invalidate, and the next read has the stored value (defaults filling the rest).
	svc.Invalidate(id)
	if got := MustGet(t, svc, id); got.Filters.Trends.Direction != "down" || got.Filters.Surges.Trigger != "any" {
		t.Fatalf("after Invalidate: %+v", got.Filters)
	}

	// A save takes effect on the next read here and on the told instance.
	want := customFilters()
	if _, err := svc.SaveFilters(ctx, id, want); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*settings.Service{"saver": svc, "other": other} {
		if got := MustGet(t, s, id); !reflect.DeepEqual(got.Filters, want) {
			t.Errorf("%s instance after save: %+v", name, got.Filters)
		}
	}
	if _, err := svc.SaveSelection(ctx, id, settings.TrackerHighLow, []string{"TECH_UNIVERSE"}); err != nil {
		t.Fatal(err)
	}
	if got := MustGet(t, other, id); !reflect.DeepEqual(got.Selections.HighLow, []string{"TECH_UNIVERSE"}) {
		t.Errorf("other instance after selection save: %+v", got.Selections)
	}

	// The deaf instance is stale until its TTL ends, then fresh.
	clock.Advance(9 * time.Second)
	if got := MustGet(t, deaf, id); got.Filters.Trends.Direction != "both" {
		t.Fatalf("deaf instance refreshed before its TTL: %+v", got.Filters.Trends)
	}
	clock.Advance(time.Second)
	if got := MustGet(t, deaf, id); !reflect.DeepEqual(got.Filters, want) || got.Selections.HighLow[0] != "TECH_UNIVERSE" {
		t.Fatalf("deaf instance after TTL: %+v", got)
	}

	// Disabling the user (bus.UserEnded) drops them everywhere; a universe edit
	// (bus.UniversesChanged) drops the cached universes.
	MustGet(t, svc, id)
	MustGet(t, other, id)
	if err := b.Publish(ctx, bus.UserEnded{UserID: id, Reason: bus.ReasonDisabled}); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*settings.Service{"saver": svc, "other": other} {
		if st := s.Stats(); st.FilterCacheSize != 0 {
			t.Errorf("%s instance kept the ended user cached: %+v", name, st)
		}
	}
	if _, err := svc.Universes(ctx); err != nil {
		t.Fatal(err)
	}
	MustExec(t, d.url, `UPDATE universes SET description = 'edited' WHERE name = 'ETF_UNIVERSE'`)
	if err := b.Publish(ctx, bus.UniversesChanged{}); err != nil {
		t.Fatal(err)
	}
	infos, err := svc.Universes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range infos {
		if u.Name == "ETF_UNIVERSE" && u.Description != "edited" {
			t.Errorf("universe list not dropped on UniversesChanged: %+v", u)
		}
	}

	// A resync (the instance's bus connection broke and came back, so it may have missed
	// any invalidation) drops every cached user and the universes.
	MustGet(t, svc, id)
	other2 := MustUser(t, d.pool, "cached-too")
	MustGet(t, svc, other2)
	MustExec(t, d.url, `UPDATE user_filters SET filters = '{"trends":{"direction":"up"}}' WHERE user_id = $1`, id)
	MustExec(t, d.url, `UPDATE universes SET description = 'edited again' WHERE name = 'ETF_UNIVERSE'`)
	if err := b.Publish(ctx, bus.Resync{}); err != nil {
		t.Fatal(err)
	}
	if st := svc.Stats(); st.FilterCacheSize != 0 {
		t.Fatalf("users still cached after a resync: %+v", st)
	}
	if got := MustGet(t, svc, id); got.Filters.Trends.Direction != "up" {
		t.Fatalf("after a resync: %+v", got.Filters.Trends)
	}
	infos, _ = svc.Universes(ctx)
	for _, u := range infos {
		if u.Name == "ETF_UNIVERSE" && u.Description != "edited again" {
			t.Errorf("universe list not dropped on Resync: %+v", u)
		}
	}
}

// failingBus applies messages here but cannot reach other instances.
type failingBus struct{ *bus.Local }

func (f failingBus) Publish(ctx context.Context, m bus.Message) error {
	_ = f.Local.Publish(ctx, m)
	return errors.New("bus down")
}

func TestFailedInvalidationStillSaves(t *testing.T) {
	d := MustDB(t)
	svc := settings.NewService(d.pool,
		settings.WithLogger(testenv.Logger()),
		settings.WithBus(failingBus{bus.NewLocal()}))
	id := MustUser(t, d.pool, "busdown")
	if _, err := svc.SaveFilters(context.Background(), id, customFilters()); err != nil {
		t.Fatalf("SaveFilters failed because the invalidation did: %v", err)
	}
	if got := MustGet(t, svc, id); !reflect.DeepEqual(got.Filters, customFilters()) {
		t.Fatalf("after save: %+v", got.Filters)
	}
}

func TestUnreadableStoredFiltersGiveDefaults(t *testing.T) {
	d := MustDB(t)
	svc := settings.NewService(d.pool, settings.WithLogger(testenv.Logger()))
	id := MustUser(t, d.pool, "corrupt")
	MustExec(t, d.url, `INSERT INTO user_filters (user_id, filters) VALUES ($1, '{"trends":{"direction":"sideways"}}')`, id)
	if got := MustGet(t, svc, id); !reflect.DeepEqual(got.Filters, settings.DefaultFilters()) {
		t.Fatalf("unreadable row gave %+v", got.Filters)
	}
}

func TestLoadMany(t *testing.T) {
	d := MustDB(t)
	ctx := context.Background()
	svc := settings.NewService(d.pool)
	plain := MustUser(t, d.pool, "plain")
	tech := MustUser(t, d.pool, "techie")
	picky := MustUser(t, d.pool, "picky")
	if _, err := svc.SaveSelection(ctx, tech, settings.TrackerHighLow, []string{"TECH_UNIVERSE"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SaveSelection(ctx, tech, settings.TrackerMarket, []string{"TECH_UNIVERSE", "ETF_UNIVERSE"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SaveFilters(ctx, picky, customFilters()); err != nil {
		t.Fatal(err)
	}
	MustGet(t, svc, plain) // one cached, the rest missing
	before := svc.Stats()

	got, err := svc.LoadMany(ctx, []int64{picky, tech, plain, 999999, tech, 0, -4})
	if err != nil {
		t.Fatal(err)
	}
	techSettings := settings.DefaultSettings()
	techSettings.Selections = settings.Selections{Market: []string{"ETF_UNIVERSE", "TECH_UNIVERSE"}, HighLow: []string{"TECH_UNIVERSE"}}
	pickySettings := settings.DefaultSettings()
	pickySettings.Filters = customFilters()
	want := map[int64]settings.UserSettings{
		plain:  {UserID: plain, Settings: settings.DefaultSettings()},
		tech:   {UserID: tech, Settings: techSettings},
		picky:  {UserID: picky, Settings: pickySettings},
		999999: {UserID: 999999, Settings: settings.DefaultSettings()}, // no such user: defaults
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("LoadMany =\n%+v\nwant\n%+v", got, want)
	}
	after := svc.Stats()
	if after.Hits-before.Hits != 1 || after.Misses-before.Misses != 3 {
		t.Fatalf("LoadMany counted %d hits, %d misses; want 1 and 3", after.Hits-before.Hits, after.Misses-before.Misses)
	}
	// Everything is cached now: a second call reads nothing.
	if _, err := svc.LoadMany(ctx, []int64{picky, tech, plain, 999999}); err != nil {
		t.Fatal(err)
	}
	if st := svc.Stats(); st.Misses != after.Misses || st.Hits != after.Hits+4 {
		t.Fatalf("second LoadMany missed: %+v", st)
	}

	// The groups the publisher would form.
	list := make([]settings.UserSettings, 0, len(got))
	for _, us := range got {
		list = append(list, us)
	}
	groups := settings.GroupUsers(list)
	if len(groups) != 3 {
		t.Fatalf("%d groups, want 3 (defaults shared by plain and 999999)", len(groups))
	}

	// Stats: 4 cached users, 2 distinct universe configs, 7 non-default filter fields of
	// picky over 4 users.
	st := svc.Stats()
	if st.FilterCacheSize != 4 || st.UniqueUniverseConfigs != 2 {
		t.Fatalf("stats = %+v", st)
	}
	if st.AvgFiltersPerUser != 7.0/4 {
		t.Fatalf("avg_filters_per_user = %v, want %v", st.AvgFiltersPerUser, 7.0/4)
	}
	if empty, err := svc.LoadMany(ctx, nil); err != nil || len(empty) != 0 {
		t.Fatalf("LoadMany(nil) = %v, %v", empty, err)
	}
}

func TestUniversesAndSymbolSets(t *testing.T) {
	d := MustDB(t)
	ctx := context.Background()
	clock := &fakeClock{now: time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)}
	svc := settings.NewService(d.pool, settings.WithClock(clock.Now), settings.WithUniverseTTL(time.Minute))

	infos, err := svc.Universes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]settings.UniverseInfo{}
	for i, u := range infos {
		if i > 0 && infos[i-1].Name >= u.Name {
			t.Errorf("universes not sorted: %v", infos)
		}
		byName[u.Name] = u
	}
	if a := byName["TEST_ALPHA"]; a.Size != 2 || a.Description != "Test universe TEST_ALPHA" {
		t.Fatalf("TEST_ALPHA = %+v", a)
	}
	for _, n := range []string{"DEFAULT_UNIVERSE", "TECH_UNIVERSE", "FINANCIALS_UNIVERSE", "ETF_UNIVERSE"} {
		if byName[n].Size == 0 {
			t.Errorf("universe %s missing or empty", n)
		}
	}

	set, err := svc.SymbolSet(ctx, []string{"TEST_BETA", "TEST_ALPHA", "TEST_ALPHA", "NO_SUCH"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(set.Symbols()) != "[ZZA ZZB ZZC]" {
		t.Fatalf("SymbolSet = %v", set.Symbols())
	}
	if st := svc.Stats(); st.UniverseCacheSize < len(testUniverses()) {
		t.Fatalf("universe_cache_size = %d", st.UniverseCacheSize)
	}

	// An admin edit shows after InvalidateUniverses, or after the TTL.
	MustExec(t, d.url, `INSERT INTO universe_symbols (universe_name, symbol) VALUES ('TEST_ALPHA', 'ZZD')`)
	if set, _ := svc.SymbolSet(ctx, []string{"TEST_ALPHA"}); set.Has("ZZD") {
		t.Fatal("symbol set not cached")
	}
	svc.InvalidateUniverses()
	if set, _ := svc.SymbolSet(ctx, []string{"TEST_ALPHA"}); !set.Has("ZZD") {
		t.Fatal("InvalidateUniverses did not refresh members")
	}
	if infos, _ := svc.Universes(ctx); !hasUniverse(infos, "TEST_ALPHA", 3) {
		t.Fatal("InvalidateUniverses did not refresh the list")
	}
	MustExec(t, d.url, `INSERT INTO universe_symbols (universe_name, symbol) VALUES ('TEST_ALPHA', 'ZZE')`)
	clock.Advance(59 * time.Second)
	if set, _ := svc.SymbolSet(ctx, []string{"TEST_ALPHA"}); set.Has("ZZE") {
		t.Fatal("members refreshed before the TTL")
	}
	clock.Advance(time.Second)
	if set, _ := svc.SymbolSet(ctx, []string{"TEST_ALPHA"}); !set.Has("ZZE") {
		t.Fatal("members not refreshed after the TTL")
	}
	if infos, _ := svc.Universes(ctx); !hasUniverse(infos, "TEST_ALPHA", 4) {
		t.Fatal("list not refreshed after the TTL")
	}

	// A matcher for a user's settings resolves their highlow universes.
	st := settings.DefaultSettings()
	st.Selections.HighLow = []string{"TEST_BETA"}
	m, err := svc.Matcher(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Match(ptr(high("ZZC", 1, 1))) || m.Match(ptr(high("ZZA", 1, 1))) {
		t.Fatal("matcher does not use the TEST_BETA symbols")
	}
}

func hasUniverse(infos []settings.UniverseInfo, name string, size int) bool {
	for _, u := range infos {
		if u.Name == name {
			return u.Size == size
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

func TestUnavailableDatabase(t *testing.T) {
	d := MustDB(t)
	id := MustUser(t, d.pool, "offline")
	closed, err := db.Open(context.Background(), d.url)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	svc := settings.NewService(closed)
	_, err = svc.Get(context.Background(), id)
	MustCode(t, err, tickstock.EUNAVAILABLE, "")
	_, err = svc.SaveFilters(context.Background(), id, customFilters())
	MustCode(t, err, tickstock.EUNAVAILABLE, "")
	_, err = svc.LoadMany(context.Background(), []int64{id})
	MustCode(t, err, tickstock.EUNAVAILABLE, "")
	// Bad input is still a 4xx, not a 503: it is refused before the database.
	_, err = svc.UpdateFilters(context.Background(), id, []byte(`{"filter_data":{"x":1}}`))
	MustCode(t, err, tickstock.EINVALID, "x")
}

func TestConcurrentUse(t *testing.T) {
	d := MustDB(t)
	ctx := context.Background()
	svc := settings.NewService(d.pool)
	ids := []int64{MustUser(t, d.pool, "race1"), MustUser(t, d.pool, "race2")}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 10 {
				id := ids[(i+j)%2]
				switch (i + j) % 5 {
				case 0:
					f := settings.DefaultFilters()
					f.HighLow.MinCount = int64(j)
					if _, err := svc.SaveFilters(ctx, id, f); err != nil {
						t.Error(err)
					}
				case 1:
					if _, err := svc.LoadMany(ctx, ids); err != nil {
						t.Error(err)
					}
				case 2:
					svc.Invalidate(id)
					_ = svc.Stats()
				case 3:
					if _, err := svc.SymbolSet(ctx, []string{"TECH_UNIVERSE"}); err != nil {
						t.Error(err)
					}
				default:
					if _, err := svc.Get(ctx, id); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	// After the dust settles the cache agrees with the database.
	for _, id := range ids {
		if got, stored := MustGet(t, svc, id), MustStored(t, d.pool, id); !reflect.DeepEqual(got, stored) {
			t.Errorf("user %d: cache %+v, database %+v", id, got, stored)
		}
	}
}
