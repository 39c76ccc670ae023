package market

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestActivityLevel(t *testing.T) {
	tests := []struct {
		x    float64
		want string
	}{
		{0, "quiet"}, {0.4999, "quiet"}, {0.5, "low"}, {0.7999, "low"}, {0.8, "medium"}, {1.2499, "medium"},
		{1.25, "high"}, {1.9999, "high"}, {2, "very_high"}, {3.9999, "very_high"}, {4, "extreme"}, {100, "extreme"},
	}
	for _, tt := range tests {
		if got := ActivityLevel(tt.x); got != tt.want {
			t.Errorf("ActivityLevel(%v) = %q, want %q", tt.x, got, tt.want)
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
	e := NewEngine([]string{"A", "B", "C", "OLD", "QUIET"})
	var evs []Event
	sym := func(s string, sec, p float64) Tick { return Tick{Symbol: s, Price: p, Volume: 1, Time: at(sec)} }
	// OLD ticked yesterday only: none of its figures count today.
	evs = e.Process(Tick{Symbol: "OLD", Price: 1, Volume: 1, Time: t0.Add(-24 * time.Hour)}, evs)
	evs = e.Process(Tick{Symbol: "OLD", Price: 2, Volume: 1, Time: t0.Add(-24*time.Hour + time.Second)}, evs)
	// C ticked at the start and then went silent; QUIET never moves (no highs or lows).
	evs = e.Process(sym("C", 0, 10), evs)
	evs = e.Process(sym("C", 1, 11), evs)
	for s := 0; s <= 400; s++ {
		p := 100 + float64(s%7) - float64(s)/100 // swings: highs and lows
		evs = e.Process(sym("A", float64(s), p), evs)
		if s%2 == 0 {
			evs = e.Process(sym("B", float64(s), 50+float64(s)/10), evs) // climbs: highs only
		}
		if s%10 == 0 {
			evs = e.Process(sym("QUIET", float64(s), 7), evs)
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
	if count["B"][1] != 0 || count["B"][0] == 0 || count["A"][0] == 0 || count["A"][1] == 0 || count["C"][0] != 1 {
		t.Fatalf("setup: events by symbol %v", count)
	}
	snap := e.Snapshot()
	if snap.Now != MillisOf(at(400)) || snap.Phase != PhaseRegular {
		t.Fatalf("now %v, phase %v", snap.Now, snap.Phase)
	}
	all := []string{"A", "B", "C", "OLD", "QUIET", "NEVER"}
	got := snap.Summary(all)
	h := count["A"][0] + count["B"][0] + count["C"][0]
	l := count["A"][1]
	// The activity base: 401+201+41+2 ticks over the 400 s since the first tick (6.67 min),
	// against 60+30+6 in the last minute: x = 96/96.75 = 0.99.
	want := Summary{
		UniverseSize:     6,
		Highs:            h,
		Lows:             l,
		Breadth:          Breadth(h, l),
		SymbolsWithHighs: 3,              // A, B, C
		SymbolsWithLows:  1,              // A
		Ticks10s:         10 + 5 + 1,     // A: (390, 400] every second; B: every other second; QUIET at 400
		Ticks60s:         60 + 30 + 6,    //
		Ticks300s:        300 + 150 + 30, // C's ticks are 399 s old
		Activity:         ActivityMedium,
		Phase:            PhaseRegular,
		NextPhase:        PhaseAfter,
		NextPhaseAt:      MillisOf(time.Date(2025, 3, 12, 20, 0, 0, 0, time.UTC)), // 16:00 EDT
		At:               snap.Now,
	}
	if got != want {
		t.Fatalf("summary\n got %+v\nwant %+v", got, want)
	}
	if s := snap.Summary(nil); s != (Summary{Breadth: 50, Activity: ActivityMedium, Phase: PhaseRegular,
		NextPhase: PhaseAfter, NextPhaseAt: want.NextPhaseAt, At: snap.Now}) {
		t.Fatalf("empty set: %+v", s)
	}
	// A Selection gives the same summary, and remembers it for the same snapshot.
	sel := NewSelection(all, []string{"A"})
	if s := snap.SummaryOf(sel); s != got {
		t.Fatalf("selection summary\n got %+v\nwant %+v", s, got)
	}
	if st := sel.state.Load(); st == nil || st.snap != snap || len(st.ids) != 5 {
		t.Fatalf("selection state %+v", st)
	}
	// A snapshot is frozen: later ticks do not change it.
	e.Process(sym("A", 401, 1000), nil)
	if again := snap.Summary(all); again != got {
		t.Fatalf("snapshot changed: %+v", again)
	}
	// A symbol registered after a Selection resolved is found by the next snapshot's.
	e.Register("NEVER")
	e.Process(sym("NEVER", 402, 5), nil)
	// (392, 402]: A 393-401, B 394-400, QUIET 400, NEVER 402.
	if s := e.Snapshot().SummaryOf(sel); s.Ticks10s != 9+4+1+1 {
		t.Fatalf("after registering NEVER: %+v", s)
	}
	if s := NewEngine(nil).Snapshot().Summary([]string{"A"}); s != EmptySummary(1) {
		t.Fatalf("summary before any tick: %+v", s)
	}
	if s := (Batch{}).Summary([]string{"A", "B"}); s != EmptySummary(2) {
		t.Fatalf("summary of a zero Batch: %+v", s)
	}
	var nilSnap *Snapshot
	if s := nilSnap.SummaryOf(NewSelection([]string{"A"})); s != EmptySummary(1) {
		t.Fatalf("nil snapshot: %+v", s)
	}
}

// activityTicks makes n symbols tick for the given minutes at perMin ticks a minute each,
// then one last minute at lastPerMin, evenly spaced, starting at t0.
func activityTicks(n, minutes, perMin, lastPerMin int) []Tick {
	var out []Tick
	emit := func(from time.Time, rate int) {
		for k := 0; k < rate; k++ {
			for i := 0; i < n; i++ {
				at := from.Add(time.Duration(k)*time.Minute/time.Duration(rate) + time.Duration(i)*time.Millisecond)
				out = append(out, Tick{Symbol: fmt.Sprintf("S%02d", i), Price: 100, Volume: 1, Time: at})
			}
		}
	}
	for m := 0; m < minutes; m++ {
		emit(t0.Add(time.Duration(m)*time.Minute), perMin)
	}
	if lastPerMin > 0 {
		emit(t0.Add(time.Duration(minutes)*time.Minute), lastPerMin)
	}
	return out
}

func TestActivity(t *testing.T) {
	syms := make([]string, 20)
	for i := range syms {
		syms[i] = fmt.Sprintf("S%02d", i)
	}
	tests := []struct {
		name  string
		ticks []Tick
		want  string
	}{
		{"steady feed", activityTicks(20, 45, 30, 30), ActivityMedium},
		{"burst: the last minute at 5x", activityTicks(20, 45, 30, 150), ActivityExtreme},
		{"lull: the last minute at a fifth", activityTicks(20, 45, 30, 6), ActivityQuiet},
		{"busier: 1.5x", activityTicks(20, 45, 30, 45), ActivityHigh},
		{"slower: 0.7x", activityTicks(20, 45, 30, 21), ActivityLow},
		{"young session, steady", activityTicks(20, 10, 30, 30), ActivityMedium},
		{"young session, burst", activityTicks(20, 10, 30, 240), ActivityExtreme},
		{"under 2 minutes of history, burst", activityTicks(20, 1, 6, 150), ActivityMedium},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEngine(syms)
			var evs []Event
			for _, tk := range tt.ticks {
				evs = e.Process(tk, evs[:0])
			}
			s := e.Snapshot().Summary(syms)
			if s.Activity != tt.want {
				t.Fatalf("activity %q, want %q (%+v)", s.Activity, tt.want, s)
			}
		})
	}
	// No ticks at all: medium.
	if s := NewEngine(syms).Snapshot().Summary(syms); s.Activity != ActivityMedium {
		t.Fatalf("no ticks: %q", s.Activity)
	}
}

func TestActivityBaseSpan(t *testing.T) {
	// 40 minutes at 10 ticks a minute, then 40 a minute for 31 minutes: the base then only
	// covers the busy pace (the quiet start is over 30 minutes old), so the busy last minute
	// is medium, not extreme.
	var ticks []Tick
	add := func(from time.Time, minutes, rate int) {
		for m := 0; m < minutes; m++ {
			for k := 0; k < rate; k++ {
				ticks = append(ticks, Tick{Symbol: "S", Price: 100, Volume: 1,
					Time: from.Add(time.Duration(m)*time.Minute + time.Duration(k)*time.Minute/time.Duration(rate))})
			}
		}
	}
	add(t0, 40, 10)
	add(t0.Add(40*time.Minute), 31, 40)
	e := NewEngine(nil)
	for _, tk := range ticks {
		e.Process(tk, nil)
	}
	if s := e.Snapshot().Summary([]string{"S"}); s.Activity != ActivityMedium || s.Ticks60s != 40 {
		t.Fatalf("%+v", s)
	}
}

func TestSummaryJSON(t *testing.T) {
	b, err := json.Marshal(Summary{UniverseSize: 3, Highs: 2, Lows: 1, Breadth: 66.67, SymbolsWithHighs: 2, SymbolsWithLows: 1,
		Ticks10s: 1, Ticks60s: 2, Ticks300s: 3, Activity: "quiet", Phase: PhasePre, NextPhase: PhaseRegular, NextPhaseAt: 5})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"universe_size":3,"highs":2,"lows":1,"breadth":66.67,"symbols_with_highs":2,"symbols_with_lows":1,` +
		`"ticks_10s":1,"ticks_60s":2,"ticks_300s":3,"activity":"quiet","phase":"pre"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back Summary
	if err := json.Unmarshal(b, &back); err != nil || back.Phase != PhasePre || back.SymbolsWithHighs != 2 {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	if !strings.Contains(string(b), `"phase":"pre"`) {
		t.Fatal("phase")
	}
}

// BenchmarkSummary measures one settings group's summary over a 500-symbol universe of a
// 10,000-symbol engine, by symbol list (hashing each) and by Selection (resolved once).
func BenchmarkSummary(b *testing.B) {
	block, _ := benchTicks(10_000, 60, 5)
	e := NewEngine(nil)
	e.ProcessBatch(block, nil)
	var universe []string
	for i := 0; i < 10_000; i += 20 {
		universe = append(universe, fmt.Sprintf("S%05d", i))
	}
	snap := e.Snapshot()
	b.Run("symbols", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = snap.Summary(universe)
		}
	})
	b.Run("selection", func(b *testing.B) {
		sel := NewSelection(universe)
		b.ReportAllocs()
		for b.Loop() {
			sel.state.Load().snap = nil // defeat the per-snapshot memo: measure the walk
			_ = snap.SummaryOf(sel)
		}
	})
	b.Run("snapshot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = e.Snapshot()
		}
	})
}
