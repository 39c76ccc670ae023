package loadtest

import (
	"encoding/json"
	"testing"

	"github.com/tickstock/tickstock/settings"
)

// TestSettingsOfDistinctAndValid checks, with the server's own parsers, that the settings
// of groups 0..1999 are all accepted and all fall in different settings groups, and that
// group 0 is the defaults.
func TestSettingsOfDistinctAndValid(t *testing.T) {
	seen := map[string]int{}
	for g := range 2000 {
		gs := SettingsOf(g)
		body, err := json.Marshal(map[string]any{"filter_data": gs.Filters})
		if err != nil {
			t.Fatal(err)
		}
		f, err := settings.MergeFilterJSON(settings.DefaultFilters(), body)
		if err != nil {
			t.Fatalf("group %d: filters %s rejected: %v", g, body, err)
		}
		var sel settings.Selections
		for tracker, list := range map[string][]string{"highlow": gs.HighLow, "market": gs.Market} {
			b, _ := json.Marshal(map[string]any{"tracker": tracker, "universes": list})
			tr, universes, err := settings.ParseSelectionJSON(b)
			if err != nil {
				t.Fatalf("group %d: selection %s rejected: %v", g, b, err)
			}
			if tr == "highlow" {
				sel.HighLow = universes
			} else {
				sel.Market = universes
			}
		}
		key := settings.Settings{Selections: sel, Filters: f}.Key()
		if prev, dup := seen[key]; dup {
			t.Fatalf("groups %d and %d have the same settings", prev, g)
		}
		seen[key] = g
		if g == 0 && key != settings.DefaultSettings().Key() {
			t.Fatalf("group 0 is not the default settings: %+v", gs)
		}
	}
}
