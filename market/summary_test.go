package market

import (
	"encoding/json"
	"testing"
	"time"
)

func TestActivityLevel(t *testing.T) {
	tests := []struct {
		tpm  int
		want string
	}{
		{0, "quiet"}, {29, "quiet"}, {30, "low"}, {59, "low"}, {60, "medium"}, {119, "medium"},
		{120, "high"}, {239, "high"}, {240, "very_high"}, {479, "very_high"}, {480, "extreme"},
	}
	for _, tt := range tests {
		if got := ActivityLevel(tt.tpm); got != tt.want {
			t.Errorf("ActivityLevel(%d) = %q, want %q", tt.tpm, got, tt.want)
		}
	}
}

func TestBreadth(t *testing.T) {
	tests := []struct {
		h, l int
		want float64
	}{{0, 0, 50}, {3, 1, 75}, {1, 2, 33.33}, {0, 5, 0}, {5, 0, 100}}
	for _, tt := range tests {
		if got := Breadth(tt.h, tt.l); got != tt.want {
			t.Errorf("Breadth(%d, %d) = %v, want %v", tt.h, tt.l, got, tt.want)
		}
	}
}

func TestSnapshotSummary(t *testing.T) {
	e := NewEngine([]string{"A", "B", "C", "OLD"})
	var evs []Event
	sym := func(s string, sec, p float64) Tick { return Tick{Symbol: s, Price: p, Volume: 1, Time: at(sec)} }
	// OLD ticked yesterday only: none of its figures count today.
	evs = e.Process(Tick{Symbol: "OLD", Price: 1, Volume: 1, Time: t0.Add(-24 * time.Hour)}, evs)
	evs = e.Process(Tick{Symbol: "OLD", Price: 2, Volume: 1, Time: t0.Add(-24*time.Hour + time.Second)}, evs)
	// C ticked at the start and then went silent.
	evs = e.Process(sym("C", 0, 10), evs)
	evs = e.Process(sym("C", 1, 11), evs)
	for s := 0; s <= 400; s++ {
		p := 100 + float64(s%7) - float64(s)/100 // swings: highs and lows
		evs = e.Process(sym("A", float64(s), p), evs)
		if s%2 == 0 {
			evs = e.Process(sym("B", float64(s), 50+float64(s)/10), evs)
		}
	}
	count := map[string][2]int{}
	for _, ev := range evs {
		if ev.HighLow.Time < MillisOf(t0.Add(-time.Hour)) {
			continue
		}
		c := count[ev.Symbol()]
		switch ev.Kind {
		case KindHigh:
			c[0]++
		case KindLow:
			c[1]++
		}
		count[ev.Symbol()] = c
	}
	snap := e.Snapshot()
	if snap.Now != MillisOf(at(400)) {
		t.Fatalf("now %v", snap.Now)
	}
	got := snap.Summary([]string{"A", "B", "C", "OLD", "NEVER"})
	h := count["A"][0] + count["B"][0] + count["C"][0]
	l := count["A"][1] + count["B"][1] + count["C"][1]
	want := Summary{
		UniverseSize: 5,
		Highs:        h,
		Lows:         l,
		Breadth:      Breadth(h, l),
		Ticks10s:     10 + 5,    // A: (390, 400] every second; B: every other second
		Ticks60s:     60 + 30,   //
		Ticks300s:    300 + 150, // C's ticks are 399 s old
		Activity:     ActivityMedium,
	}
	if got != want || h == 0 || l == 0 {
		t.Fatalf("summary\n got %+v\nwant %+v", got, want)
	}
	if s := snap.Summary(nil); s != (Summary{Breadth: 50, Activity: ActivityQuiet}) {
		t.Fatalf("empty set: %+v", s)
	}
	// A snapshot is frozen: later ticks do not change it.
	e.Process(sym("A", 401, 1000), nil)
	if again := snap.Summary([]string{"A", "B", "C", "OLD", "NEVER"}); again != got {
		t.Fatalf("snapshot changed: %+v", again)
	}
	if NewEngine(nil).Snapshot().Summary([]string{"A"}) != (Summary{UniverseSize: 1, Breadth: 50, Activity: ActivityQuiet}) {
		t.Fatal("summary before any tick")
	}
	if (Batch{}).Summary([]string{"A", "B"}) != (Summary{UniverseSize: 2, Breadth: 50, Activity: ActivityQuiet}) {
		t.Fatal("summary of a zero Batch")
	}
}

func TestSummaryJSON(t *testing.T) {
	b, err := json.Marshal(Summary{UniverseSize: 3, Highs: 2, Lows: 1, Breadth: 66.67, Ticks10s: 1, Ticks60s: 2, Ticks300s: 3, Activity: "quiet"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"universe_size":3,"highs":2,"lows":1,"breadth":66.67,"ticks_10s":1,"ticks_60s":2,"ticks_300s":3,"activity":"quiet"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}
