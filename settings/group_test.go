package settings_test

import (
	"reflect"
	"testing"

	"github.com/tickstock/tickstock/settings"
)

func TestKey(t *testing.T) {
	base := func() settings.Settings {
		return settings.Settings{
			Selections: settings.Selections{Market: []string{"ETF_UNIVERSE", "DEFAULT_UNIVERSE"}, HighLow: []string{"TECH_UNIVERSE", "FINANCIALS_UNIVERSE"}},
			Filters:    settings.DefaultFilters(),
		}
	}
	same := []struct {
		name string
		mod  func(*settings.Settings)
	}{
		{"highlow reordered", func(s *settings.Settings) { s.Selections.HighLow = []string{"FINANCIALS_UNIVERSE", "TECH_UNIVERSE"} }},
		{"market reordered and repeated", func(s *settings.Settings) {
			s.Selections.Market = []string{"DEFAULT_UNIVERSE", "ETF_UNIVERSE", "DEFAULT_UNIVERSE"}
		}},
		{"price ranges reordered", func(s *settings.Settings) {
			s.Filters.Surges.PriceRanges = []string{"high", "mid", "low", "penny", "low"}
		}},
		// The display choice changes the page, not the events: one rendering serves both.
		{"one row per symbol", func(s *settings.Settings) { s.Filters.Display.OneRowPerSymbol = true }},
	}
	for _, tc := range same {
		t.Run("same/"+tc.name, func(t *testing.T) {
			a, b := base(), base()
			tc.mod(&b)
			if settings.Key(settings.UserSettings{UserID: 1, Settings: a}) != settings.Key(settings.UserSettings{UserID: 2, Settings: b}) {
				t.Fatalf("keys differ:\n%s\n%s", a.Key(), b.Key())
			}
		})
	}
	different := []struct {
		name string
		mod  func(*settings.Settings)
	}{
		{"highlow universe", func(s *settings.Settings) { s.Selections.HighLow = []string{"TECH_UNIVERSE"} }},
		{"market universe", func(s *settings.Settings) { s.Selections.Market = []string{"ETF_UNIVERSE"} }},
		{"trackers swapped", func(s *settings.Settings) {
			s.Selections.Market, s.Selections.HighLow = s.Selections.HighLow, s.Selections.Market
		}},
		{"min_count", func(s *settings.Settings) { s.Filters.HighLow.MinCount = 1 }},
		{"min_volume", func(s *settings.Settings) { s.Filters.HighLow.MinVolume = 1 }},
		{"trend strength", func(s *settings.Settings) { s.Filters.Trends.MinStrength = "strong" }},
		{"trend direction", func(s *settings.Settings) { s.Filters.Trends.Direction = "up" }},
		{"surge strength", func(s *settings.Settings) { s.Filters.Surges.MinStrength = "strong" }},
		{"surge trigger", func(s *settings.Settings) { s.Filters.Surges.Trigger = "price_and_volume" }},
		{"price ranges", func(s *settings.Settings) { s.Filters.Surges.PriceRanges = []string{"penny"} }},
		{"a name that looks like two", func(s *settings.Settings) {
			s.Selections.HighLow = []string{`FINANCIALS_UNIVERSE","TECH_UNIVERSE`}
		}},
	}
	for _, tc := range different {
		t.Run("different/"+tc.name, func(t *testing.T) {
			a, b := base(), base()
			tc.mod(&b)
			if a.Key() == b.Key() {
				t.Fatalf("different settings share key %s", a.Key())
			}
		})
	}
}

func TestGroupUsers(t *testing.T) {
	def := settings.DefaultSettings()
	tech := settings.DefaultSettings()
	tech.Selections.HighLow = []string{"TECH_UNIVERSE"}
	techShuffled := settings.DefaultSettings()
	techShuffled.Selections.HighLow = []string{"TECH_UNIVERSE", "TECH_UNIVERSE"}
	techShuffled.Filters.Surges.PriceRanges = []string{"high", "low", "penny", "mid"}
	up := settings.DefaultSettings()
	up.Filters.Trends.Direction = "up"

	list := []settings.UserSettings{
		{UserID: 5, Settings: def},
		{UserID: 3, Settings: tech},
		{UserID: 1, Settings: def},
		{UserID: 4, Settings: up},
		{UserID: 2, Settings: techShuffled},
		{UserID: 1, Settings: def}, // the same user twice (two lookups) counts once
	}
	groups := settings.GroupUsers(list)
	if len(groups) != 3 {
		t.Fatalf("got %d groups, want 3: %+v", len(groups), groups)
	}
	byKey := map[string][]int64{}
	for i, g := range groups {
		if i > 0 && groups[i-1].Key >= g.Key {
			t.Errorf("groups not sorted by key")
		}
		if g.Key != g.Settings.Key() {
			t.Errorf("group key %q is not its settings' key", g.Key)
		}
		if !reflect.DeepEqual(g.Settings, g.Settings.Normalized()) {
			t.Errorf("group settings not normalised: %+v", g.Settings)
		}
		byKey[g.Key] = g.UserIDs
	}
	for _, want := range []struct {
		s   settings.Settings
		ids []int64
	}{{def, []int64{1, 5}}, {tech, []int64{2, 3}}, {up, []int64{4}}} {
		if got := byKey[want.s.Key()]; !reflect.DeepEqual(got, want.ids) {
			t.Errorf("group %s = %v, want %v", want.s.Key(), got, want.ids)
		}
	}

	// Any input order gives the same groups.
	rev := make([]settings.UserSettings, len(list))
	for i := range list {
		rev[len(list)-1-i] = list[i]
	}
	if !reflect.DeepEqual(settings.GroupUsers(rev), groups) {
		t.Error("grouping depends on the input order")
	}
	if got := settings.GroupUsers(nil); len(got) != 0 {
		t.Errorf("GroupUsers(nil) = %v", got)
	}
}
