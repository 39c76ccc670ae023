package market

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

func simSymbols(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("SIM%03d", i)
	}
	return out
}

// panel names the dashboard panel an event lands in.
func panel(e Event) string {
	switch e.Kind {
	case KindTrend:
		return "trend-" + e.Trend.Direction.String()
	case KindSurge:
		return "surge-" + e.Surge.Direction.String()
	}
	return e.Kind.String()
}

// mustSimLive warms an engine up with the simulator's history, then runs its live path
// for secs seconds of synthetic time at rate ticks/s, and returns when each panel first
// showed an event that passes the default filters (trends at least moderate).
func mustSimLive(tb testing.TB, f *SimFeed, symbols []string, rate, secs int) map[string]float64 {
	tb.Helper()
	start := time.Date(2025, 3, 12, 15, 0, 0, 0, time.UTC)
	e := NewEngine(symbols)
	var evs []Event
	warm := 0
	f.Warmup(start, func(t Tick) {
		if t.Time.After(start) {
			tb.Fatalf("warm-up tick after now: %v", t.Time)
		}
		evs = e.Process(t, evs[:0])
		warm++
	})
	if e.Rejected() != 0 || warm == 0 {
		tb.Fatalf("warm-up: %d ticks, %d rejected", warm, e.Rejected())
	}
	first := map[string]float64{}
	dt := 1 / float64(rate)
	for k := 1; k <= secs*rate; k++ {
		t := f.gen.step(dt)
		t.Time = start.Add(time.Duration(k) * time.Second / time.Duration(rate))
		evs = e.Process(t, evs[:0])
		for _, ev := range evs {
			if ev.Kind == KindTrend && !ev.Trend.Strength.AtLeast(StrengthModerate) {
				continue
			}
			if _, ok := first[panel(ev)]; !ok {
				first[panel(ev)] = float64(k) / float64(rate)
			}
		}
	}
	if e.Rejected() != 0 {
		tb.Fatalf("%d live ticks rejected", e.Rejected())
	}
	return first
}

func TestSimAllPanelsWithinAMinute(t *testing.T) {
	syms := simSymbols(150)
	for _, seed := range []int64{1, 2, 3, 42, 2025} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			f, err := NewSimFeed(syms, seed, 2000)
			if err != nil {
				t.Fatal(err)
			}
			first := mustSimLive(t, f, syms, 2000, 60)
			for _, p := range []string{"high", "low", "trend-up", "trend-down", "surge-up", "surge-down"} {
				if _, ok := first[p]; !ok {
					t.Errorf("no %s event within 60 s", p)
				}
			}
			t.Logf("first event per panel (s): %v", first)
		})
	}
}

func TestSimDeterministic(t *testing.T) {
	syms := simSymbols(20)
	path := func(seed int64) []Tick {
		f, err := NewSimFeed(syms, seed, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []Tick
		f.Warmup(t0, func(tk Tick) { out = append(out, tk) })
		for range 1000 {
			out = append(out, f.gen.step(0.01))
		}
		return out
	}
	a, b, c := path(7), path(7), path(8)
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different paths")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds, same path")
	}
	for _, tk := range a {
		if !(tk.Price > 0) || tk.Volume <= 0 || !ValidSymbol(tk.Symbol) {
			t.Fatalf("bad tick %+v", tk)
		}
	}
}

func TestSimRun(t *testing.T) {
	f, err := NewSimFeed(simSymbols(10), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if f.Seed() == 0 {
		t.Fatal("seed 0 should pick a random seed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	out := make(chan Tick, 10000)
	before := time.Now()
	if err := f.Run(ctx, out); err != nil {
		t.Fatal(err)
	}
	n := len(out)
	// About 200 ticks in 200 ms; allow a slow, busy machine.
	if n < 50 || n > 400 {
		t.Fatalf("%d ticks in 200 ms at 1000/s", n)
	}
	tk := <-out
	if tk.Time.Before(before.Add(-time.Second)) || tk.Time.After(time.Now()) {
		t.Fatalf("tick time %v is not wall-clock now", tk.Time)
	}
}

func TestNewSimFeedErrors(t *testing.T) {
	if _, err := NewSimFeed(nil, 1, 10); err == nil {
		t.Error("no symbols: want error")
	}
	if _, err := NewSimFeed([]string{"A"}, 1, 0); err == nil {
		t.Error("rate 0: want error")
	}
}

func TestSimAddSymbols(t *testing.T) {
	f, err := NewSimFeed(simSymbols(3), 9, 3000)
	if err != nil {
		t.Fatal(err)
	}
	// Added before Warmup: it gets warm-up history too.
	if err := f.AddSymbols([]string{"EARLY"}); err != nil {
		t.Fatal(err)
	}
	warm := map[string]int{}
	f.Warmup(time.Now(), func(tk Tick) { warm[tk.Symbol]++ })
	if warm["EARLY"] == 0 || warm["SIM000"] == 0 {
		t.Fatalf("warm-up ticks %v", warm)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan Tick, 100_000)
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, out) }()
	if err := f.AddSymbols([]string{"LATE", "SIM001", "LATE"}); err != nil {
		t.Fatal(err)
	}
	if err := f.AddSymbols([]string{"bad"}); err == nil {
		t.Fatal("an invalid symbol was accepted")
	}
	seen := map[string]int{}
	for deadline := time.After(5 * time.Second); seen["LATE"] < 20; {
		select {
		case tk := <-out:
			seen[tk.Symbol]++
		case <-deadline:
			t.Fatalf("ticks by symbol %v", seen)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(f.gen.syms) != 5 { // 3, EARLY, LATE once
		t.Fatalf("%d simulated symbols", len(f.gen.syms))
	}
}
