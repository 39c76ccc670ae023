package settings

import (
	"reflect"
	"testing"
)

func TestKeyMemoGroupsLikeGroupUsers(t *testing.T) {
	a := DefaultSettings()
	b := DefaultSettings()
	b.Filters.Trends.Direction = DirectionUp
	c := DefaultSettings()
	c.Selections.HighLow = []string{"TECH_UNIVERSE", "DEFAULT_UNIVERSE"}
	list := []UserSettings{{UserID: 3, Settings: a}, {UserID: 1, Settings: b}, {UserID: 2, Settings: a}, {UserID: 4, Settings: c}}
	var m KeyMemo
	for round := 0; round < 3; round++ {
		if got, want := m.Group(list), GroupUsers(list); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: memo grouping %+v, want %+v", round, got, want)
		}
	}
	// A user changes settings: the memo notices.
	list[2].Settings = b
	if got, want := m.Group(list), GroupUsers(list); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a change: %+v, want %+v", got, want)
	}
	// A user leaves: forgotten.
	m.Group(list[:2])
	if len(m.entries) != 2 {
		t.Fatalf("memo holds %d users, want 2", len(m.entries))
	}
}
