package market

import (
	"math"
	"testing"
	"time"
)

// t0 is 10:30 New York time on a Wednesday: mid-session, far from midnight.
var t0 = time.Date(2025, 3, 12, 14, 30, 0, 0, time.UTC)

// at is t0 plus sec seconds, at millisecond precision.
func at(sec float64) time.Time {
	return t0.Add(time.Duration(math.Round(sec*1000)) * time.Millisecond)
}

// tk builds a tick of symbol "T" at t0+sec.
func tk(sec, price float64, vol int64) Tick {
	return Tick{Symbol: "T", Price: price, Volume: vol, Time: at(sec)}
}

// mustRun feeds ticks through a fresh engine and returns the events, per tick.
func mustRun(tb testing.TB, ticks []Tick) [][]Event {
	tb.Helper()
	e := NewEngine(nil)
	out := make([][]Event, len(ticks))
	for i, t := range ticks {
		before := e.Rejected()
		out[i] = e.Process(t, nil)
		if e.Rejected() != before {
			tb.Fatalf("tick %d (%+v) rejected", i, t)
		}
	}
	return out
}

// mustLast runs ticks and returns the events of the last tick.
func mustLast(tb testing.TB, ticks []Tick) []Event {
	tb.Helper()
	evs := mustRun(tb, ticks)
	return evs[len(evs)-1]
}

// ofKind keeps the events of the given kinds.
func ofKind(evs []Event, kinds ...EventKind) []Event {
	var out []Event
	for _, e := range evs {
		for _, k := range kinds {
			if e.Kind == k {
				out = append(out, e)
			}
		}
	}
	return out
}

// flat concatenates per-tick events.
func flat(evs [][]Event) []Event {
	var out []Event
	for _, e := range evs {
		out = append(out, e...)
	}
	return out
}

// steady returns ticks every second from sec from to to-1 at price and volume.
func steady(from, to int, price float64, vol int64) []Tick {
	var out []Tick
	for s := from; s < to; s++ {
		out = append(out, tk(float64(s), price, vol))
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }
