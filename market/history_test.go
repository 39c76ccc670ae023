package market

import (
	"encoding/json"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// wantPoints is the price line the SPEC asks for, computed plainly: the last tick of each
// step-ms bucket of the clock.
func wantPoints(ticks []Tick, step int64) []PricePoint {
	var out []PricePoint
	for _, tk := range ticks {
		ms := tk.Time.UnixMilli()
		p := PricePoint{Millis(ms), tk.Price}
		if n := len(out); n > 0 && floorDiv(int64(out[n-1].Time), step) == floorDiv(ms, step) {
			out[n-1] = p
			continue
		}
		out = append(out, p)
	}
	return out
}

// walk makes ticks of symbol "W" every gap from start, for n ticks, on a wavy price.
func walk(start time.Time, gap time.Duration, n int) []Tick {
	out := make([]Tick, n)
	for i := range out {
		p := math.Round((100+3*math.Sin(float64(i)/40)+float64(i%7)/10)*100) / 100
		out[i] = Tick{Symbol: "W", Price: p, Volume: int64(100 + i%13), Time: start.Add(time.Duration(i) * gap)}
	}
	return out
}

func TestSymbolPricePoints(t *testing.T) {
	tests := []struct {
		name  string
		ticks []Tick
		step  int64
	}{
		{"every 700 ms for 20 min", walk(t0.Add(123*time.Millisecond), 700*time.Millisecond, 20*60*10/7), PricePointStep},
		{"every 13 s: sparse buckets", walk(t0, 13*time.Second, 200), PricePointStep},
		{"equal times", append(walk(t0, time.Second, 30), Tick{Symbol: "W", Price: 1, Volume: 1, Time: t0.Add(29 * time.Second)}), PricePointStep},
		// 1 a second for 4 h: 2880 buckets of 5 s outgrow MaxPricePoints, so the
		// resolution halves once, to 10 s.
		{"4 h: halved once", walk(t0.Add(-4*time.Hour), time.Second, 4*3600), 2 * PricePointStep},
		// 10 h: 7200 buckets of 5 s; 20 s after two halvings.
		{"10 h: halved twice", walk(time.Date(2025, 3, 12, 9, 0, 0, 0, time.UTC), 1500*time.Millisecond, 10*2400), 4 * PricePointStep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEngine(nil)
			for _, tk := range tt.ticks {
				e.Process(tk, nil)
			}
			v, ok := e.SymbolView("W")
			if !ok {
				t.Fatal("W unknown")
			}
			want := wantPoints(tt.ticks, tt.step)
			if !slices.Equal(v.Prices, want) {
				t.Fatalf("%d points, want %d\nfirst got %v\nfirst want %v", len(v.Prices), len(want), v.Prices[:min(3, len(v.Prices))], want[:min(3, len(want))])
			}
			if len(v.Prices) > MaxPricePoints+1 {
				t.Fatalf("%d points", len(v.Prices))
			}
			last := tt.ticks[len(tt.ticks)-1]
			if p := v.Prices[len(v.Prices)-1]; p.Time != MillisOf(last.Time) || p.Price != last.Price {
				t.Fatalf("the line ends at %v, not the latest tick %v", p, last)
			}
		})
	}
}

func TestSymbolView(t *testing.T) {
	e := NewEngine([]string{"W", "IDLE"})
	ticks := walk(t0, 500*time.Millisecond, 2*900) // 15 minutes, 2 a second
	var evs []Event
	for _, tk := range ticks {
		evs = e.Process(tk, evs)
	}
	v, ok := e.SymbolView("W")
	if !ok || len(evs) == 0 {
		t.Fatalf("ok %v, %d events", ok, len(evs))
	}
	var high, low float64 = ticks[0].Price, ticks[0].Price
	var vol int64
	for _, tk := range ticks {
		high, low, vol = max(high, tk.Price), min(low, tk.Price), vol+tk.Volume
	}
	last := ticks[len(ticks)-1]
	count := func(k EventKind) int { return len(ofKind(evs, k)) }
	st := v.State
	want := SymbolState{Symbol: "W", HasData: true, Phase: PhaseRegular, Time: MillisOf(last.Time), Price: last.Price,
		Open: ticks[0].Price, PctFromOpen: round4((last.Price - ticks[0].Price) / ticks[0].Price * 100),
		SessionHigh: high, SessionLow: low, Volume: vol, HighCount: count(KindHigh), LowCount: count(KindLow),
		Ticks: len(ticks), SessionStart: MillisOf(t0), Trend: st.Trend}
	if st != want {
		t.Fatalf("state\n got %+v\nwant %+v", st, want)
	}
	// The trend scores are the windows' at the latest tick: what a trend event there carries.
	ref := newRefEngine()
	for _, tk := range ticks[:len(ticks)-1] {
		ref.process(tk)
	}
	s := ref.syms["W"]
	now := last.Time.UnixMilli()
	score := func(w int64) float64 { return round4(windowScore(last.Price, s.p[s.lastAtOrBefore(now-w)])) }
	if tr := st.Trend; !tr.Ready || tr.Short != score(trendShortMs) || tr.Medium != score(trendMediumMs) ||
		tr.Long != score(trendLongMs) || tr.Strength != TrendStrength(tr.Score) {
		t.Fatalf("trend %+v, want short %v medium %v long %v", tr, score(trendShortMs), score(trendMediumMs), score(trendLongMs))
	}
	// Events: the latest first.
	wantEv := slices.Clone(evs)
	slices.Reverse(wantEv)
	if !slices.Equal(v.Events, wantEv) {
		t.Fatalf("%d events, want %d", len(v.Events), len(wantEv))
	}
	// A known symbol without ticks: "no data yet", with empty lists.
	idle, ok := e.SymbolView("IDLE")
	if !ok || idle.State.HasData || len(idle.Prices) != 0 || len(idle.Events) != 0 || idle.State.Symbol != "IDLE" {
		t.Fatalf("idle: %+v %v", idle, ok)
	}
	b, err := json.Marshal(idle)
	if err != nil || !strings.Contains(string(b), `"prices":[],"events":[]`) || !strings.Contains(string(b), `"has_data":false`) {
		t.Fatalf("idle JSON %s %v", b, err)
	}
	if _, ok := e.SymbolView("NOPE"); ok {
		t.Fatal("an unknown symbol has a view")
	}
	// The state alone, as a watchlist reads it, is the view's state.
	if got, ok := e.SymbolState("W"); !ok || got != v.State {
		t.Fatalf("SymbolState(W) = %+v %v, want the view's state", got, ok)
	}
	if got, ok := e.SymbolState("IDLE"); !ok || got.HasData || got.Symbol != "IDLE" {
		t.Fatalf("SymbolState(IDLE) = %+v %v", got, ok)
	}
	if _, ok := e.SymbolState("NOPE"); ok {
		t.Fatal("an unknown symbol has a state")
	}
	// JSON: prices as [ms, price] pairs, and back.
	b, err = json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"prices":[[`+strconvItoa(int64(v.Prices[0].Time))+`,`) {
		t.Fatalf("prices JSON: %.200s", b)
	}
	var back SymbolView
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.State != v.State || !slices.Equal(back.Prices, v.Prices) || !slices.Equal(back.Events, v.Events) {
		t.Fatal("JSON round trip changed the view")
	}
}

func TestSymbolEventsBounded(t *testing.T) {
	// A saw-tooth: a high or a low every 1.5 s for an hour, far more than MaxSymbolEvents.
	e := NewEngine(nil)
	var evs []Event
	for i := 0; i < 2400; i++ {
		p := 100 + float64(i)/10
		if i%2 == 1 {
			p = 100 - float64(i)/10
		}
		evs = e.Process(tk(float64(i)*1.5, p, 1), evs)
	}
	v, _ := e.SymbolView("T")
	if len(evs) <= MaxSymbolEvents || len(v.Events) != MaxSymbolEvents {
		t.Fatalf("%d events, view keeps %d", len(evs), len(v.Events))
	}
	for i, ev := range v.Events {
		if ev != evs[len(evs)-1-i] {
			t.Fatalf("event %d: %+v, want %+v", i, ev, evs[len(evs)-1-i])
		}
	}
}

func TestSymbolHistoryResetsWithTheSession(t *testing.T) {
	e := NewEngine(nil)
	for _, tk := range walk(t0, time.Second, 600) {
		e.Process(tk, nil)
	}
	next := walk(t0.Add(24*time.Hour), 2*time.Second, 100)
	var evs []Event
	for _, tk := range next {
		evs = e.Process(tk, evs)
	}
	v, _ := e.SymbolView("W")
	if !slices.Equal(v.Prices, wantPoints(next, PricePointStep)) || v.State.SessionStart != MillisOf(next[0].Time) ||
		v.State.Ticks != 100 || len(v.Events) != len(evs) {
		t.Fatalf("after a new day: %d points, start %v, %d ticks, %d events (want %d)",
			len(v.Prices), v.State.SessionStart, v.State.Ticks, len(v.Events), len(evs))
	}
	for _, ev := range v.Events {
		if ev.Time() < MillisOf(next[0].Time) {
			t.Fatalf("yesterday's event %+v", ev)
		}
	}
}

func TestProcessAllocsWithHistory(t *testing.T) {
	// Once a symbol's history is full (after a long session, as on a long-running server),
	// Process allocates nothing, bucket closes and halvings included. MemStats counts every
	// goroutine's allocations, and goroutines left by earlier tests (a closing test server)
	// can allocate during the measurement, so the same hour is measured on three fresh
	// engines and the fewest allocations count: an allocation of Process's own shows in all.
	ticks := walk(t0.Add(-4*time.Hour), time.Second, 5*3600)
	fewest := uint64(math.MaxUint64)
	for range 3 {
		e := NewEngine([]string{"W"})
		for _, tk := range ticks[:4*3600] {
			e.Process(tk, nil)
		}
		out := make([]Event, 0, 16)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, tk := range ticks[4*3600:] {
			out = e.Process(tk, out[:0])
		}
		runtime.ReadMemStats(&after)
		fewest = min(fewest, after.Mallocs-before.Mallocs)
	}
	if fewest != 0 {
		t.Fatalf("%d allocations in %d ticks, in each of three runs", fewest, 3600)
	}
}
