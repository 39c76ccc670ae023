package settings_test

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/settings"
)

var errAudit = errors.New("audit store refused")

// TestAdminSavesAreAtomicWithTheirRecord: an admin's save and its recorder commit together;
// a recorder that fails rolls the save back, and nothing is announced.
func TestAdminSavesAreAtomicWithTheirRecord(t *testing.T) {
	tdb := MustDB(t)
	b := bus.NewLocal()
	var changed []bus.Message
	b.Subscribe(func(m bus.Message) { changed = append(changed, m) })
	svc := settings.NewService(tdb.pool, settings.WithBus(b))
	ctx := context.Background()
	uid := MustUser(t, tdb.pool, "target")
	fail := func(context.Context, *db.Queries, any, any) error { return errAudit }

	if _, err := svc.AdminSaveFilters(ctx, uid, customFilters(), fail); !errors.Is(err, errAudit) {
		t.Fatalf("AdminSaveFilters with a failing recorder: %v", err)
	}
	if _, err := svc.AdminSaveSelection(ctx, uid, settings.TrackerHighLow, []string{"TEST_ALPHA"}, fail); !errors.Is(err, errAudit) {
		t.Fatalf("AdminSaveSelection with a failing recorder: %v", err)
	}
	if got := MustStored(t, tdb.pool, uid); !reflect.DeepEqual(got, settings.DefaultSettings()) {
		t.Fatalf("a rolled-back admin save left %+v", got)
	}
	if len(changed) != 0 {
		t.Fatalf("a rolled-back save was announced: %v", changed)
	}

	var before, after any
	rec := func(_ context.Context, _ *db.Queries, b, a any) error { before, after = b, a; return nil }
	if _, err := svc.AdminSaveFilters(ctx, uid, customFilters(), rec); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, settings.DefaultFilters()) || !reflect.DeepEqual(after, customFilters().Normalized()) {
		t.Fatalf("recorder got before %+v after %+v", before, after)
	}
	if _, err := svc.AdminSaveSelection(ctx, uid, settings.TrackerMarket, []string{"TEST_BETA", "TEST_ALPHA"}, rec); err != nil {
		t.Fatal(err)
	}
	if a := after.(settings.Selections); strings.Join(a.Market, ",") != "TEST_ALPHA,TEST_BETA" ||
		strings.Join(before.(settings.Selections).Market, ",") != settings.DefaultUniverse {
		t.Fatalf("selection recorder got before %+v after %+v", before, after)
	}
	if got := MustStored(t, tdb.pool, uid); strings.Join(got.Selections.Market, ",") != "TEST_ALPHA,TEST_BETA" || got.Filters.Trends.Direction != "up" {
		t.Fatalf("stored %+v", got)
	}
	if len(changed) != 2 {
		t.Fatalf("announced %d changes, want 2", len(changed))
	}
	// The same validation as the user's own saves.
	_, err := svc.AdminSaveSelection(ctx, uid, settings.TrackerHighLow, []string{"NO_SUCH"}, rec)
	MustCode(t, err, tickstock.EINVALID, settings.FieldUniverses)
}

func TestUniverseCreateAndUpdate(t *testing.T) {
	tdb := MustDB(t)
	b := bus.NewLocal()
	announced := 0
	b.Subscribe(func(m bus.Message) {
		if _, ok := m.(bus.UniversesChanged); ok {
			announced++
		}
	})
	svc := settings.NewService(tdb.pool, settings.WithBus(b))
	ctx := context.Background()
	if _, err := svc.Universes(ctx); err != nil { // fill the cache
		t.Fatal(err)
	}

	u, err := svc.CreateUniverse(ctx, settings.Universe{Name: "new_one", Description: " Fresh ", Symbols: []string{"zzx", "ZZY", "zzx"}}, nil)
	if err != nil || u.Name != "NEW_ONE" || u.Description != "Fresh" || strings.Join(u.Symbols, ",") != "ZZX,ZZY" {
		t.Fatalf("create: %+v %v", u, err)
	}
	if announced != 1 {
		t.Fatalf("create announced %d times", announced)
	}
	infos, err := svc.Universes(ctx) // the cache was dropped: the new universe is listed
	if err != nil || !containsUniverse(infos, "NEW_ONE", 2) {
		t.Fatalf("universes after create: %+v %v", infos, err)
	}
	_, err = svc.CreateUniverse(ctx, settings.Universe{Name: "NEW_ONE", Symbols: []string{"A"}}, nil)
	MustCode(t, err, tickstock.EINVALID, settings.FieldUniverseName)

	set, err := svc.SymbolSet(ctx, []string{"NEW_ONE"})
	if err != nil || set.Len() != 2 {
		t.Fatalf("symbol set %v %v", set.Symbols(), err)
	}
	before, after, err := svc.UpdateUniverse(ctx, settings.Universe{Name: "NEW_ONE", Description: "Edited", Symbols: []string{"ZZY", "ZZW"}}, nil)
	if err != nil || strings.Join(before.Symbols, ",") != "ZZX,ZZY" || strings.Join(after.Symbols, ",") != "ZZW,ZZY" || after.Description != "Edited" {
		t.Fatalf("update: %+v → %+v (%v)", before, after, err)
	}
	if set, _ := svc.SymbolSet(ctx, []string{"NEW_ONE"}); strings.Join(set.Symbols(), ",") != "ZZW,ZZY" {
		t.Fatalf("cached symbol set after the edit: %v", set.Symbols())
	}
	all, err := svc.AllSymbols(ctx)
	if err != nil || !contains(all, "ZZW") || !contains(all, "AAPL") {
		t.Fatalf("AllSymbols %v %v", all, err)
	}

	_, _, err = svc.UpdateUniverse(ctx, settings.Universe{Name: "NOPE", Symbols: []string{"A"}}, nil)
	MustCode(t, err, tickstock.ENOTFOUND, "")
	_, _, err = svc.UpdateUniverse(ctx, settings.Universe{Name: "NEW_ONE", Symbols: []string{"A"}},
		func(context.Context, *db.Queries, any, any) error { return errAudit })
	if !errors.Is(err, errAudit) {
		t.Fatalf("failing recorder: %v", err)
	}
	if got, _ := svc.Universe(ctx, "NEW_ONE"); strings.Join(got.Symbols, ",") != "ZZW,ZZY" {
		t.Fatalf("a rolled-back edit left %v", got.Symbols)
	}
	if announced != 2 {
		t.Fatalf("announced %d times, want 2 (create, one committed edit)", announced)
	}
}

func containsUniverse(infos []settings.UniverseInfo, name string, size int) bool {
	for _, i := range infos {
		if i.Name == name && i.Size == size {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestUniverseFromForm(t *testing.T) {
	for _, tc := range []struct {
		name     string
		form     url.Values
		withName bool
		field    string // "" when valid
	}{
		{"valid", url.Values{"name": {"my_list"}, "symbols": {"aapl\nmsft, brk.b"}}, true, ""},
		{"edit form", url.Values{"symbols": {"AAPL"}, "description": {"x"}}, false, ""},
		{"name on the edit form", url.Values{"name": {"X"}, "symbols": {"AAPL"}}, false, "name"},
		{"unknown field", url.Values{"name": {"X"}, "symbols": {"AAPL"}, "owner": {"me"}}, true, "owner"},
		{"name twice", url.Values{"name": {"X", "Y"}, "symbols": {"AAPL"}}, true, "name"},
		{"missing name", url.Values{"symbols": {"AAPL"}}, true, "name"},
		{"watchlist name", url.Values{"name": {"wl:mine"}, "symbols": {"AAPL"}}, true, "name"},
		{"control characters", url.Values{"name": {"X"}, "symbols": {"AAPL"}, "description": {"a\x00b"}}, true, "description"},
		{"long description", url.Values{"name": {"X"}, "symbols": {"AAPL"}, "description": {strings.Repeat("é", 301)}}, true, "description"},
		{"no symbols", url.Values{"name": {"X"}}, true, "symbols"},
		{"eleven characters", url.Values{"name": {"X"}, "symbols": {"ABCDEFGHIJK"}}, true, "symbols"},
		{"csrf ignored", url.Values{"name": {"X"}, "symbols": {"A"}, "_csrf": {"t"}}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := settings.UniverseFromForm(tc.form, tc.withName)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.withName && u.Name != strings.ToUpper(tc.form.Get("name")) {
					t.Fatalf("name %q", u.Name)
				}
				return
			}
			MustCode(t, err, tickstock.EINVALID, tc.field)
		})
	}
}

// FuzzParseUniverseSymbols: whatever an admin pastes, the parser never panics, and what it
// accepts is a sorted, distinct, non-empty list of valid symbols of at most 10 characters.
func FuzzParseUniverseSymbols(f *testing.F) {
	for _, s := range []string{"AAPL", "aapl, msft\nBRK.B", " , ;\t", "ÅÄÖ", "A\x00B", strings.Repeat("A,", 3000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		syms, err := settings.ParseUniverseSymbols(text)
		if err != nil {
			var te *tickstock.Error
			if !errors.As(err, &te) || te.Code != tickstock.EINVALID || !utf8.ValidString(te.Message) && utf8.ValidString(text) {
				t.Fatalf("error %v is not a 422 with a message", err)
			}
			return
		}
		if len(syms) == 0 || len(syms) > settings.MaxUniverseSymbols {
			t.Fatalf("%d symbols accepted", len(syms))
		}
		for i, s := range syms {
			if len(s) == 0 || len(s) > 10 || strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != "" {
				t.Fatalf("invalid symbol %q accepted", s)
			}
			if i > 0 && syms[i-1] >= s {
				t.Fatalf("not sorted and distinct: %v", syms)
			}
		}
	})
}
