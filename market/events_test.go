package market

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func jsonKeys(tb testing.TB, b []byte) []string {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestEventJSON(t *testing.T) {
	hl := Event{Kind: KindLow, HighLow: HighLowEvent{Kind: KindLow, Symbol: "AAPL", Price: 99.5, Time: 1741962600250,
		Count: 2, CountUp: 1, CountDown: 2, Volume: 1200, PctChange: -4, SessionHigh: 104, SessionLow: 99.5,
		Phase: PhaseAfter, Reversal: true}}
	tr := Event{Kind: KindTrend, Trend: TrendEvent{Symbol: "MSFT", Price: 388, Time: 1741962600250, Direction: Up,
		Strength: StrengthModerate, Score: 0.45, Short: 0.2, Medium: 0.5, Long: 0.6, AgeSeconds: 75, Phase: PhasePre}}
	su := Event{Kind: KindSurge, Surge: SurgeEvent{Symbol: "PLUG", Price: 3.3, Time: 1741962600250, Direction: Down,
		Strength: StrengthStrong, Trigger: TriggerPriceAndVolume, MagnitudePct: -6.5, VolumeMultiple: 4.25, Phase: PhaseRegular}}
	tests := []struct {
		ev   Event
		keys string
		has  string
	}{
		{hl, "count count_down count_up kind label pct_change phase price reversal session_high session_low symbol time volume",
			`"kind":"low","symbol":"AAPL","price":99.5,"time":1741962600250,"count":2,"count_up":1,"count_down":2,"volume":1200,"pct_change":-4,"session_high":104,"session_low":99.5,"phase":"after","reversal":true,"label":"LOW #2"`},
		{tr, "age_seconds direction kind long medium phase price score short strength symbol time",
			`"direction":"up","strength":"moderate","score":0.45,"short":0.2,"medium":0.5,"long":0.6,"age_seconds":75,"phase":"pre"`},
		{su, "direction kind magnitude_pct phase price strength symbol time trigger volume_multiple",
			`"direction":"down","strength":"strong","trigger":"price_and_volume","magnitude_pct":-6.5,"volume_multiple":4.25,"phase":"regular"`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(jsonKeys(t, b), " "); got != tt.keys {
			t.Errorf("%v keys: %s\nwant %s", tt.ev.Kind, got, tt.keys)
		}
		if !strings.Contains(string(b), tt.has) {
			t.Errorf("%s\nlacks %s", b, tt.has)
		}
		var back Event
		if err := json.Unmarshal(b, &back); err != nil || back != tt.ev {
			t.Errorf("round trip: %+v, %v\nwant %+v", back, err, tt.ev)
		}
	}
	// The per-kind structs marshal on their own too (the stream's JSON lists use them).
	b, _ := json.Marshal([]HighLowEvent{hl.HighLow})
	if !strings.Contains(string(b), `"label":"LOW #2"`) {
		t.Errorf("HighLowEvent JSON lacks its label: %s", b)
	}
	if _, err := json.Marshal(Event{}); err == nil {
		t.Error("zero Event: want a marshal error")
	}
	if err := json.Unmarshal([]byte(`{"kind":"nope"}`), &Event{}); err == nil {
		t.Error("unknown kind: want an error")
	}
}

func TestEventAccessors(t *testing.T) {
	for _, e := range []Event{
		{Kind: KindHigh, HighLow: HighLowEvent{Symbol: "A", Price: 1, Time: 5}},
		{Kind: KindTrend, Trend: TrendEvent{Symbol: "A", Price: 1, Time: 5}},
		{Kind: KindSurge, Surge: SurgeEvent{Symbol: "A", Price: 1, Time: 5}},
	} {
		if e.Symbol() != "A" || e.Price() != 1 || e.Time() != 5 {
			t.Errorf("%v accessors: %q %v %v", e.Kind, e.Symbol(), e.Price(), e.Time())
		}
	}
	if Millis(1741962600250).Time().Format("2006-01-02T15:04:05.000Z07:00") != "2025-03-14T14:30:00.250Z" {
		t.Error("Millis.Time")
	}
}

func TestStrength(t *testing.T) {
	for _, s := range []string{"weak", "moderate", "strong"} {
		v, err := ParseStrength(s)
		if err != nil || v.String() != s {
			t.Errorf("ParseStrength(%q) = %v, %v", s, v, err)
		}
	}
	if _, err := ParseStrength("huge"); err == nil {
		t.Error("ParseStrength(huge): want error")
	}
	if !(StrengthWeak < StrengthModerate && StrengthModerate < StrengthStrong) {
		t.Error("strengths out of order")
	}
	tests := []struct {
		s, min Strength
		want   bool
	}{
		{StrengthStrong, StrengthModerate, true}, {StrengthModerate, StrengthModerate, true},
		{StrengthWeak, StrengthModerate, false}, {StrengthWeak, StrengthWeak, true},
	}
	for _, tt := range tests {
		if got := tt.s.AtLeast(tt.min); got != tt.want {
			t.Errorf("%v.AtLeast(%v) = %v", tt.s, tt.min, got)
		}
	}
	if d, err := ParseDirection("down"); err != nil || d != Down {
		t.Error("ParseDirection(down)")
	}
	if _, err := ParseDirection("both"); err == nil {
		t.Error("ParseDirection(both): want error (both is a filter value, not a direction)")
	}
	if tr, err := ParseTrigger("volume"); err != nil || tr != TriggerVolume {
		t.Error("ParseTrigger(volume)")
	}
}

func TestPriceRange(t *testing.T) {
	tests := []struct {
		p    float64
		want string
	}{
		{0.5, "penny"}, {4.99, "penny"}, {5, "low"}, {24.99, "low"}, {25, "mid"}, {99.99, "mid"}, {100, "high"}, {5000, "high"},
	}
	for _, tt := range tests {
		if got := PriceRange(tt.p); got != tt.want {
			t.Errorf("PriceRange(%v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}
