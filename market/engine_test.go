package market

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func TestGate(t *testing.T) {
	tests := []struct {
		price, want float64
	}{
		{0.50, 0.001}, {0.999, 0.001998}, // < $1: 0.20 % beats $0.005
		{1.00, 0.0015}, {4.99, 0.007485}, // < $5: 0.15 % beats $0.01
		{5.00, 0.005}, {19.99, 0.01999}, {20.01, 0.02}, {24.99, 0.02}, // < $25
		{25.00, 0.02}, {62.5, 0.05}, {99.99, 0.05}, // < $100
		{100.00, 0.05}, {199.99, 0.099995}, {200, 0.10}, {3000, 0.10}, // >= $100
	}
	for _, tt := range tests {
		if got := Gate(tt.price); !near(got, tt.want) {
			t.Errorf("Gate(%v) = %v, want %v", tt.price, got, tt.want)
		}
	}
}

func TestHighLowGate(t *testing.T) {
	tests := []struct {
		name  string
		p0, p float64
		want  EventKind // 0: no event
	}{
		{"≥$100 dollar step: at gate", 300, 300.10, KindHigh},
		{"≥$100 dollar step: below", 300, 300.09, 0},
		{"≥$100 percent step: at gate", 150, 150 / (1 - 0.0005), KindHigh},
		{"≥$100 percent step: below", 150, 150.07, 0},
		{"<$100 dollar step: at gate", 80, 80.05, KindHigh},
		{"<$100 dollar step: below", 80, 80.04, 0},
		{"<$100 percent step: at gate", 30, 30 / (1 - 0.0008), KindHigh},
		{"<$100 percent step: below", 30, 30.02, 0},
		{"<$25 dollar step: at gate", 22, 22.02, KindHigh},
		{"<$25 dollar step: below", 22, 22.01, 0},
		{"<$25 percent step: at gate", 10, 10 / (1 - 0.001), KindHigh},
		{"<$25 percent step: below", 10, 10.0099, 0},
		{"<$5 percent step: at gate", 2, 2 / (1 - 0.0015), KindHigh},
		{"<$5 percent step: below", 2, 2.0029, 0},
		{"<$1 percent step: at gate", 0.5, 0.5 / (1 - 0.002), KindHigh},
		{"<$1 percent step: below", 0.5, 0.501, 0},
		// Band borders: the gate is the band of the new price.
		{"$1 border: at gate", 0.9985, 1.00, KindHigh},
		{"$1 border: below", 0.9986, 1.00, 0},
		{"$5 border: at gate", 4.995, 5.00, KindHigh},
		{"$5 border: below", 4.996, 5.00, 0},
		{"$25 border: at gate", 24.98, 25.00, KindHigh},
		{"$25 border: below", 24.981, 25.00, 0},
		{"$100 border: at gate", 99.95, 100.00, KindHigh},
		{"$100 border: below", 99.951, 100.00, 0},
		// Lows mirror highs.
		{"low ≥$100: at gate", 300, 299.90, KindLow},
		{"low ≥$100: below", 300, 299.91, 0},
		{"low $100 border: at gate", 100.05, 100.00, KindLow}, // gate(100) = 0.05
		{"low $100 border: below", 100.049, 100.00, 0},
		{"low $1 border: at gate", 1.0, 1 / 1.002, KindLow}, // the <$1 band: 0.20 % of p
		{"low $1 border: below", 1.0, 0.9981, 0},
		{"low <$5 percent: at gate", 2, 2 / (1 + 0.0015), KindLow},
		{"low <$5 percent: below", 2, 1.9971, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := mustLast(t, []Tick{tk(0, tt.p0, 100), tk(5, tt.p, 100)})
			var got EventKind
			if len(evs) > 0 {
				got = evs[0].Kind
			}
			if got != tt.want {
				t.Fatalf("%v -> %v: got %v, want %v (gate %v, move %v)", tt.p0, tt.p, got, tt.want,
					Gate(tt.p), math.Abs(tt.p-tt.p0))
			}
		})
	}
}

func TestHighLowCooldown(t *testing.T) {
	tests := []struct {
		name  string
		ticks []Tick
		want  []string // labels of the last tick's events
	}{
		{"high after high at 0.999 s", []Tick{tk(0, 100, 1), tk(1, 100.2, 1), tk(1.999, 100.4, 1)}, nil},
		{"high after high at 1 s", []Tick{tk(0, 100, 1), tk(1, 100.2, 1), tk(2, 100.4, 1)}, []string{"HIGH #2"}},
		{"low after high at 0.999 s", []Tick{tk(0, 100, 1), tk(1, 100.2, 1), tk(1.999, 99.7, 1)}, nil},
		{"low after high at 1 s", []Tick{tk(0, 100, 1), tk(1, 100.2, 1), tk(2, 99.7, 1)}, []string{"LOW #1"}},
		{"high after low at 0.999 s", []Tick{tk(0, 100, 1), tk(1, 99.8, 1), tk(1.999, 100.3, 1)}, nil},
		{"high after low at 1 s", []Tick{tk(0, 100, 1), tk(1, 99.8, 1), tk(2, 100.3, 1)}, []string{"HIGH #1"}},
		// First event of a session has no cooldown, even right after the seed tick.
		{"first high 1 ms after the seed", []Tick{tk(0, 100, 1), tk(0.001, 100.2, 1)}, []string{"HIGH #1"}},
		// A high skipped by the cooldown still moves session_high, so an equal price
		// after the cooldown is not a new high.
		{"equal to an unreported high", []Tick{tk(0, 100, 1), tk(1, 100.2, 1), tk(1.5, 100.4, 1), tk(3, 100.4, 1)}, nil},
		{"above an unreported high", []Tick{tk(0, 100, 1), tk(1, 100.2, 1), tk(1.5, 100.4, 1), tk(3, 100.41, 1)}, []string{"HIGH #2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range mustLast(t, tt.ticks) {
				got = append(got, e.HighLow.Label())
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHighLowEventFields(t *testing.T) {
	evs := flat(mustRun(t, []Tick{
		tk(0, 100, 10), tk(1, 101, 20), tk(2, 99, 30), tk(3, 104, 40),
	}))
	want := []HighLowEvent{
		{Kind: KindHigh, Symbol: "T", Price: 101, Time: MillisOf(at(1)), Count: 1, CountUp: 1, CountDown: 0,
			Volume: 30, PctChange: 1, SessionHigh: 101, SessionLow: 100, Phase: PhaseRegular},
		{Kind: KindLow, Symbol: "T", Price: 99, Time: MillisOf(at(2)), Count: 1, CountUp: 1, CountDown: 1,
			Volume: 60, PctChange: -1, SessionHigh: 101, SessionLow: 99, Phase: PhaseRegular, Reversal: true},
		{Kind: KindHigh, Symbol: "T", Price: 104, Time: MillisOf(at(3)), Count: 2, CountUp: 2, CountDown: 1,
			Volume: 100, PctChange: 4, SessionHigh: 104, SessionLow: 99, Phase: PhaseRegular, Reversal: true},
	}
	if len(evs) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(evs), len(want), evs)
	}
	for i, w := range want {
		if evs[i].Kind != w.Kind || evs[i].HighLow != w {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, evs[i].HighLow, w)
		}
	}
	if l := evs[2].HighLow.Label(); l != "HIGH #2" {
		t.Errorf("label %q", l)
	}
	if l := evs[1].HighLow.Label(); l != "LOW #1" {
		t.Errorf("label %q", l)
	}
}

func TestSessionReset(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name string
		// times of four ticks at prices 100, 101, 102, 103 (each a high if same session)
		times [4]string
		// labels expected on ticks 2..4
		want [3]string
	}{
		{"same day until 23:59:59.999 EDT",
			[4]string{"2025-03-11T14:00:00Z", "2025-03-12T03:59:58.000Z", "2025-03-12T03:59:59.999Z", "2025-03-12T03:59:59.999Z"},
			[3]string{"HIGH #1", "HIGH #2", ""}}, // last: cooldown
		{"midnight EDT resets",
			[4]string{"2025-03-11T14:00:00Z", "2025-03-12T03:59:59.999Z", "2025-03-12T04:00:00Z", "2025-03-12T04:00:02Z"},
			[3]string{"HIGH #1", "", "HIGH #1"}},
		{"DST start day: 23:59:59.999 EDT is still Mar 9",
			[4]string{"2025-03-09T05:00:00Z", "2025-03-10T03:59:58Z", "2025-03-10T03:59:59.999Z", "2025-03-10T04:00:00Z"},
			[3]string{"HIGH #1", "HIGH #2", ""}}, // 04:00Z is Mar 10 00:00 EDT: a new session
		{"DST start day: session began at 05:00Z (midnight EST)",
			[4]string{"2025-03-09T04:59:59.999Z", "2025-03-09T05:00:00Z", "2025-03-09T05:00:02Z", "2025-03-09T05:00:04Z"},
			[3]string{"", "HIGH #1", "HIGH #2"}},
		{"DST end day: 04:30Z on Nov 3 is still Nov 2 (EST)",
			[4]string{"2025-11-02T04:00:00Z", "2025-11-03T04:30:00Z", "2025-11-03T04:59:59.999Z", "2025-11-03T05:00:00Z"},
			[3]string{"HIGH #1", "HIGH #2", ""}},
		{"DST end day: 03:59Z on Nov 2 is Nov 1 (EDT)",
			[4]string{"2025-11-01T12:00:00Z", "2025-11-02T03:59:59.999Z", "2025-11-02T04:00:00Z", "2025-11-02T04:00:01Z"},
			[3]string{"HIGH #1", "", "HIGH #1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ticks []Tick
			for i, s := range tt.times {
				ticks = append(ticks, Tick{Symbol: "T", Price: 100 + float64(i), Volume: 1, Time: utc(s)})
			}
			evs := mustRun(t, ticks)
			for i, w := range tt.want {
				var got string
				if len(evs[i+1]) > 0 {
					got = evs[i+1][0].HighLow.Label()
				}
				if got != w {
					t.Errorf("tick %d at %s: got %q, want %q", i+2, tt.times[i+1], got, w)
				}
			}
		})
	}
}

func TestSessionResetClearsState(t *testing.T) {
	// After midnight the first tick seeds everything: pct_change and volume start over.
	ticks := []Tick{
		{Symbol: "T", Price: 50, Volume: 1000, Time: time.Date(2025, 3, 12, 3, 59, 0, 0, time.UTC)},
		{Symbol: "T", Price: 60, Volume: 5, Time: time.Date(2025, 3, 12, 4, 0, 0, 0, time.UTC)},
		{Symbol: "T", Price: 63, Volume: 7, Time: time.Date(2025, 3, 12, 4, 0, 5, 0, time.UTC)},
	}
	evs := mustRun(t, ticks)
	if len(evs[1]) != 0 || len(evs[2]) != 1 {
		t.Fatalf("events %+v", evs)
	}
	hl := evs[2][0].HighLow
	if hl.Volume != 12 || hl.PctChange != 5 || hl.SessionLow != 60 || hl.Count != 1 {
		t.Fatalf("not reset: %+v", hl)
	}
}

// trendTicks: a flat price of 100 every 10 s from 0 to 590 s, then p at 600 s, the first
// moment the long window is ready. All three windows then see p_then = 100.
func trendTicks(p float64) []Tick {
	var ts []Tick
	for s := 0; s < 600; s += 10 {
		ts = append(ts, tk(float64(s), 100, 100))
	}
	return append(ts, tk(600, p, 100))
}

func TestTrendStrengthEdges(t *testing.T) {
	tests := []struct {
		p    float64
		dir  Direction
		want Strength
	}{
		{100.1, Up, StrengthWeak}, // score exactly 0.1
		{100.0999, Up, StrengthNone},
		{100.3, Up, StrengthModerate}, // 0.3
		{100.2999, Up, StrengthWeak},
		{100.6, Up, StrengthStrong}, // 0.6
		{100.5999, Up, StrengthModerate},
		{101.5, Up, StrengthStrong}, // clamped at 1
		{99.9, Down, StrengthWeak},
		{99.9001, Down, StrengthNone},
		{99.7, Down, StrengthModerate},
		{99.4, Down, StrengthStrong},
		{99.4001, Down, StrengthModerate},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.p), func(t *testing.T) {
			trends := ofKind(mustLast(t, trendTicks(tt.p)), KindTrend)
			if tt.want == StrengthNone {
				if len(trends) != 0 {
					t.Fatalf("want no trend, got %+v", trends[0].Trend)
				}
				return
			}
			if len(trends) != 1 {
				t.Fatalf("want one trend event, got %d", len(trends))
			}
			tr := trends[0].Trend
			if tr.Strength != tt.want || tr.Direction != tt.dir {
				t.Fatalf("got %v %v (score %v), want %v %v", tr.Direction, tr.Strength, tr.Score, tt.dir, tt.want)
			}
		})
	}
	if got := TrendStrength(0.0999999); got != StrengthNone {
		t.Errorf("TrendStrength(0.0999999) = %v", got)
	}
	if got := TrendStrength(-0.6); got != StrengthStrong {
		t.Errorf("TrendStrength(-0.6) = %v", got)
	}
}

func TestTrendWeights(t *testing.T) {
	// long p_then (t=0) 99, medium p_then (t=240) 100, short p_then (t=420) 100.5, now 101.
	ts := []Tick{tk(0, 99, 1)}
	for s := 10; s <= 590; s += 10 {
		p := 100.0
		switch {
		case s > 420:
			p = 100.8
		case s > 240:
			p = 100.5
		}
		ts = append(ts, tk(float64(s), p, 1))
	}
	ts = append(ts, tk(600, 101, 1))
	trends := ofKind(mustLast(t, ts), KindTrend)
	if len(trends) != 1 {
		t.Fatalf("want 1 trend, got %+v", trends)
	}
	tr := trends[0].Trend
	short := round4((101 - 100.5) / 100.5 / 0.01)
	want := TrendEvent{Symbol: "T", Price: 101, Time: MillisOf(at(600)), Direction: Up,
		Strength: StrengthStrong, Score: round4(0.3*short + 0.4 + 0.3), Short: short, Medium: 1, Long: 1, Phase: PhaseRegular}
	if tr != want {
		t.Fatalf("got  %+v\nwant %+v", tr, want)
	}
}

func TestTrendReadiness(t *testing.T) {
	// One tick at 0 (p_then of every window), then n ticks in (420 s, now], the last one
	// at now and 1 % up. All windows hold the same n ticks.
	build := func(n int, now float64) []Tick {
		ts := []Tick{tk(0, 100, 1)}
		for k := n - 1; k >= 0; k-- {
			p := 100.0
			if k == 0 {
				p = 101
			}
			ts = append(ts, tk(now-2*float64(k), p, 1))
		}
		return ts
	}
	tests := []struct {
		name  string
		n     int
		now   float64
		ready bool
	}{
		{"8 ticks in window", 8, 600, true},
		{"7 ticks in window", 7, 600, false},
		{"p_then exactly at now-600s", 10, 600, true},
		{"no tick at or before now-600s", 10, 599.999, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := len(ofKind(mustLast(t, build(tt.n, tt.now)), KindTrend)) > 0
			if got != tt.ready {
				t.Fatalf("trend reported = %v, want %v", got, tt.ready)
			}
		})
	}
}

func TestTrendEventsOverTime(t *testing.T) {
	// Flat 100 until 590 s, 101 from 600 s to 1200 s, then 100 at 1210 s.
	var ts []Tick
	for s := 0; s <= 1200; s += 10 {
		p := 100.0
		if s >= 600 {
			p = 101
		}
		ts = append(ts, tk(float64(s), p, 1))
	}
	ts = append(ts, tk(1210, 100, 1))
	type ev struct {
		sec float64
		dir Direction
		str Strength
		age int64
	}
	var got []ev
	for _, e := range ofKind(flat(mustRun(t, ts)), KindTrend) {
		got = append(got, ev{float64(e.Trend.Time-MillisOf(t0)) / 1000, e.Trend.Direction, e.Trend.Strength, e.Trend.AgeSeconds})
	}
	want := []ev{
		{600, Up, StrengthStrong, 0},     // becomes a trend: score 1
		{690, Up, StrengthStrong, 90},    // 90 s later, still strong
		{780, Up, StrengthStrong, 180},   // short window flat now: score 0.7
		{870, Up, StrengthStrong, 270},   // repeat
		{960, Up, StrengthModerate, 360}, // medium flat too: score 0.3, a change
		{1050, Up, StrengthModerate, 450},
		{1140, Up, StrengthModerate, 540},
		// 1200: long flat too, score 0: the trend ends silently.
		{1210, Down, StrengthStrong, 0}, // a new trend the other way
	}
	if !slices.Equal(got, want) {
		t.Fatalf("trend events\n got %v\nwant %v", got, want)
	}
}

// surgeTicks: 1 tick a second at price 50 and volume 100 over [0, 400), then one tick at
// 400 s. At 400 s: p_then = 50 (tick at 370), the span (70 s, 370 s] holds 300 ticks of 100
// (mean 3000 per 30 s), and W = (370 s, 400 s] holds 29 ticks of 100 plus the current.
// So volume_multiple = (2900 + vol) / 3000: 6100 gives 3, 15100 gives 6.
func surgeTicks(base, p float64, vol int64) []Tick {
	return append(steady(0, 400, base, 100), tk(400, p, vol))
}

func TestSurgeThreshold(t *testing.T) {
	tests := []struct{ p, want float64 }{
		{9.99, 0.032}, {10, 0.020}, {49.99, 0.020}, {50, 0.016},
		{199.99, 0.016}, {200, 0.012}, {499.99, 0.012}, {500, 0.008},
	}
	for _, tt := range tests {
		if got := SurgeThreshold(tt.p); got != tt.want {
			t.Errorf("SurgeThreshold(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
}

func TestSurgeTriggers(t *testing.T) {
	tests := []struct {
		name    string
		base, p float64
		vol     int64
		trig    Trigger // 0: no surge
		str     Strength
		dir     Direction
	}{
		{"price_and_volume at thr and 3x", 50, 50.8, 6100, TriggerPriceAndVolume, StrengthWeak, Up},
		{"price_and_volume: pct just below thr", 50, 50.79, 6100, 0, 0, 0},
		{"price_and_volume: multiple just below 3", 50, 50.8, 6099, 0, 0, 0},
		{"price at 2 thr", 50, 51.6, 100, TriggerPrice, StrengthStrong, Up},
		{"price: just below 2 thr", 50, 51.59, 100, 0, 0, 0},
		{"volume at 6x and 0.5 thr", 50, 50.4, 15100, TriggerVolume, StrengthWeak, Up},
		{"volume: multiple just below 6", 50, 50.4, 15099, 0, 0, 0},
		{"volume: pct just below 0.5 thr", 50, 50.39, 15100, 0, 0, 0},
		{"precedence: price_and_volume over price", 50, 51.6, 6100, TriggerPriceAndVolume, StrengthStrong, Up},
		{"precedence: price_and_volume over volume", 50, 50.8, 15100, TriggerPriceAndVolume, StrengthWeak, Up},
		{"precedence: price over volume", 50, 51.6, 15100, TriggerPriceAndVolume, StrengthStrong, Up},
		{"moderate at 1.5 thr", 50, 51.2, 6100, TriggerPriceAndVolume, StrengthModerate, Up},
		{"weak just below 1.5 thr", 50, 51.19, 6100, TriggerPriceAndVolume, StrengthWeak, Up},
		{"down", 100, 98.4, 6100, TriggerPriceAndVolume, StrengthWeak, Down},
		{"down price", 100, 96.8, 100, TriggerPrice, StrengthStrong, Down},
		{"down at $49.20 needs 2 %", 50, 49.2, 6100, 0, 0, 0},
		// Band borders: the threshold is the current price's band.
		{"$10 border: 2.0 % counts at $10", 9.8, 10, 6100, TriggerPriceAndVolume, StrengthWeak, Up},
		{"$10 border: below 2.0 %", 9.81, 10, 6100, 0, 0, 0},
		{"$50 border: 1.6 % counts at $50", 49.2, 50, 6100, TriggerPriceAndVolume, StrengthWeak, Up},
		{"$50 border: below 1.6 %", 49.3, 50, 6100, 0, 0, 0},
		{"$200 border: 1.2 % counts at $200", 197.6, 200, 6100, TriggerPriceAndVolume, StrengthWeak, Up},
		{"$200 border: below 1.2 %", 197.7, 200, 6100, 0, 0, 0},
		{"$500 border: 0.8 % counts at $500", 496, 500, 6100, TriggerPriceAndVolume, StrengthWeak, Up},
		{"$500 border: below 0.8 %", 496.1, 500, 6100, 0, 0, 0},
		{"just under $10 needs 3.2 %", 9.7, 9.99, 6100, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			surges := ofKind(mustLast(t, surgeTicks(tt.base, tt.p, tt.vol)), KindSurge)
			if tt.trig == 0 {
				if len(surges) != 0 {
					t.Fatalf("want no surge, got %+v", surges[0].Surge)
				}
				return
			}
			if len(surges) != 1 {
				t.Fatalf("want a surge, got none")
			}
			s := surges[0].Surge
			if s.Trigger != tt.trig || s.Strength != tt.str || s.Direction != tt.dir {
				t.Fatalf("got %v %v %v, want %v %v %v (%+v)", s.Trigger, s.Strength, s.Direction,
					tt.trig, tt.str, tt.dir, s)
			}
			if want := round4((tt.p - tt.base) / tt.base * 100); s.MagnitudePct != want {
				t.Errorf("magnitude_pct %v, want %v", s.MagnitudePct, want)
			}
			if want := round4(float64(2900+tt.vol) / 3000); s.VolumeMultiple != want {
				t.Errorf("volume_multiple %v, want %v", s.VolumeMultiple, want)
			}
		})
	}
}

func TestSurgeQuietTime(t *testing.T) {
	first := surgeTicks(50, 51.6, 100) // a price surge up at 400 s
	tests := []struct {
		name string
		next Tick
		want Direction // 0: quiet
	}{
		{"up again after 179 s", tk(579, 53.664, 100), 0},
		{"up again after 179.999 s", tk(579.999, 53.664, 100), 0},
		{"up again after 180 s", tk(580, 53.664, 100), Up},
		{"down is not quieted by up", tk(431, 48, 100), Down},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := mustRun(t, append(slices.Clone(first), tt.next))
			if len(ofKind(evs[len(evs)-2], KindSurge)) != 1 {
				t.Fatal("setup: no first surge")
			}
			surges := ofKind(evs[len(evs)-1], KindSurge)
			var got Direction
			if len(surges) > 0 {
				got = surges[0].Surge.Direction
			}
			if got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSurgeSpan(t *testing.T) {
	tests := []struct {
		name  string
		ticks []Tick
		want  float64 // volume_multiple; 0: no surge
	}{
		// L = now - W - session start must reach 60 s.
		{"L 59.999 s", append(steady(0, 90, 50, 100), tk(89.999, 51.6, 100)), 0},
		{"L 60 s", append(steady(0, 90, 50, 100), tk(90, 51.6, 100)), 1},
		// L = 70 s: the span (0, 70 s] leaves out the session's first tick at 0, so it
		// holds 70 ticks of 100 and the mean per 30 s is exactly 3000.
		{"clamped L, first tick left out: 3x", append(steady(0, 100, 50, 100), tk(100, 50.8, 6100)), 3},
		{"clamped L: just below 3x", append(steady(0, 100, 50, 100), tk(100, 50.8, 6099)), 0},
		{"mean 0 gives 10", append(steady(0, 400, 50, 0), tk(400, 50.8, 0)), 10},
		{"mean 0 with volume now gives 10", append(steady(0, 400, 50, 0), tk(400, 50.8, 5)), 10},
		// L capped at 300 s: ticks older than now-330 s drop out of the span.
		{"L capped at 300 s", append(append(steady(0, 100, 50, 10_000), steady(100, 700, 50, 100)...), tk(700, 50.8, 6100)), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			surges := ofKind(mustLast(t, tt.ticks), KindSurge)
			var got float64
			if len(surges) > 0 {
				got = surges[0].Surge.VolumeMultiple
			}
			if got != tt.want {
				t.Fatalf("volume_multiple %v, want %v (%+v)", got, tt.want, surges)
			}
		})
	}
}

func TestRejectedTicks(t *testing.T) {
	good := tk(10, 100, 1)
	tests := []struct {
		name string
		t    Tick
	}{
		{"out of order", tk(9.999, 100, 1)},
		{"zero price", tk(11, 0, 1)},
		{"negative price", tk(11, -1, 1)},
		{"NaN price", tk(11, math.NaN(), 1)},
		{"Inf price", tk(11, math.Inf(1), 1)},
		{"negative volume", tk(11, 100, -1)},
		{"no symbol", Tick{Price: 1, Volume: 1, Time: at(11)}},
		{"zero time", Tick{Symbol: "T", Price: 1, Volume: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEngine([]string{"T"})
			e.Process(good, nil)
			if evs := e.Process(tt.t, nil); len(evs) != 0 || e.Rejected() != 1 || e.Ticks() != 1 {
				t.Fatalf("events %v, rejected %d, ticks %d", evs, e.Rejected(), e.Ticks())
			}
		})
	}
	e := NewEngine(nil)
	e.Process(good, nil)
	e.Process(good, nil) // equal times are fine
	if e.Rejected() != 0 || e.Ticks() != 2 {
		t.Fatalf("equal time rejected")
	}
}

func TestEngineRegistry(t *testing.T) {
	e := NewEngine([]string{"A", "B", "A"})
	if e.Symbols() != 2 {
		t.Fatalf("symbols %d", e.Symbols())
	}
	if id, ok := e.Lookup("B"); !ok || id != 1 {
		t.Fatalf("B = %v %v", id, ok)
	}
	snap := e.Snapshot()
	e.Process(Tick{Symbol: "NEW", Price: 1, Volume: 1, Time: t0}, nil)
	if id, ok := e.Lookup("NEW"); !ok || id != 2 {
		t.Fatalf("NEW = %v %v", id, ok)
	}
	if _, ok := snap.tab.get("NEW"); ok {
		t.Fatal("registration changed an older snapshot")
	}
	if !e.Now().Equal(t0) {
		t.Fatalf("now %v", e.Now())
	}
}

func TestRingGrowth(t *testing.T) {
	// 24,000 ticks at 20 a second: the ring grows past its first size and the windows still
	// see the right p_then (a tick at or before now-600 s) after wrapping many times.
	e := NewEngine(nil, WithWindowCap(16384))
	var evs []Event
	for i := 0; i <= 20*1200; i++ {
		p := 100.0
		if i == 20*1200 {
			p = 101
		}
		evs = e.Process(tk(float64(i)/20, p, 1), evs[:0])
	}
	trends := ofKind(evs, KindTrend)
	if len(trends) != 1 || trends[0].Trend.Score != 1 {
		t.Fatalf("trend after ring growth: %+v", trends)
	}
	if n := len(e.hot[0].ring); n < 20*600 || n > 4*20*600 {
		t.Fatalf("ring size %d", n)
	}
}

func TestProcessAllocs(t *testing.T) {
	e := NewEngine([]string{"A", "B"})
	var out []Event
	sec := 0.0
	step := func() {
		sec += 0.25
		p := 100 + 5*math.Sin(sec/50)
		out = e.Process(Tick{Symbol: "A", Price: p, Volume: 100, Time: at(sec)}, out[:0])
		out = e.Process(Tick{Symbol: "B", Price: 2 * p, Volume: 100, Time: at(sec)}, out[:0])
	}
	for i := 0; i < 4*1200; i++ { // 20 minutes: rings at their working size
		step()
	}
	out = make([]Event, 0, 16)
	if n := testing.AllocsPerRun(1000, step); n != 0 {
		t.Fatalf("Process allocates %v times per tick pair", n)
	}
}

func TestHotStateSize(t *testing.T) {
	if n := unsafe.Sizeof(symHot{}); n != 128 {
		t.Fatalf("symHot is %d bytes, want 128 (two cache lines)", n)
	}
}

func TestProcessBatchMatchesProcess(t *testing.T) {
	block, _ := benchTicks(300, 900, 3)
	// Sprinkle in unknown symbols (registered on the fly, twice within one group) and
	// rejected ticks.
	block[100].Symbol, block[101].Symbol = "NEW1", "NEW1"
	block[200].Price = -1
	block[5000] = block[4000]
	a, b := NewEngine(nil), NewEngine(nil)
	var evA, evB []Event
	for _, tk := range block {
		evA = a.Process(tk, evA)
	}
	for i := 0; i < len(block); i += 777 {
		evB = b.ProcessBatch(block[i:min(i+777, len(block))], evB)
	}
	if len(evA) == 0 || !slices.Equal(evA, evB) {
		t.Fatalf("Process gave %d events, ProcessBatch %d", len(evA), len(evB))
	}
	if a.Rejected() != b.Rejected() || a.Ticks() != b.Ticks() || a.Rejected() < 2 {
		t.Fatalf("rejected %d/%d ticks %d/%d", a.Rejected(), b.Rejected(), a.Ticks(), b.Ticks())
	}
	kinds := map[EventKind]int{}
	for _, e := range evA {
		kinds[e.Kind]++
	}
	t.Logf("events by kind: %v", kinds)
}

func TestRingCap(t *testing.T) {
	// 300 ticks a second for 300 s on one symbol: more than the ring may hold. The oldest
	// entries are merged per second, detection goes on, and memory stays bounded.
	e := NewEngine(nil)
	var evs []Event
	highs := 0
	for i := 0; i < 300*300; i++ {
		evs = e.Process(tk(float64(i)/300, 100+float64(i)/1000, 1), evs[:0])
		highs += len(ofKind(evs, KindHigh))
	}
	if n, sym := e.Coarsenings(); n == 0 || sym != "T" || len(e.hot[0].ring) != DefaultWindowCap || e.Rejected() != 0 {
		t.Fatalf("coarsenings %d (%q), ring %d, rejected %d", n, sym, len(e.hot[0].ring), e.Rejected())
	}
	if highs < 290 { // one a second, by the cooldown
		t.Fatalf("%d highs", highs)
	}
}

func TestReversal(t *testing.T) {
	// A crafted session: highs, a turn down, lows, a turn up; then a new NY day, whose
	// first event is never a reversal even though yesterday ended on a high.
	next := t0.Add(24 * time.Hour)
	ticks := []Tick{
		tk(0, 100, 1),
		tk(2, 101, 1),  // HIGH #1: the session's first event
		tk(4, 102, 1),  // HIGH #2
		tk(6, 99, 1),   // LOW #1: a reversal
		tk(8, 98, 1),   // LOW #2
		tk(10, 97, 1),  // LOW #3
		tk(12, 103, 1), // HIGH #3: a reversal
		tk(12.5, 96, 1),
		tk(14, 95, 1), // LOW #4 (the low at 12.5 s was in the cooldown): a reversal
		{Symbol: "T", Price: 50, Volume: 1, Time: next},
		{Symbol: "T", Price: 49, Volume: 1, Time: next.Add(2 * time.Second)}, // LOW #1 of a new day
		{Symbol: "T", Price: 51, Volume: 1, Time: next.Add(4 * time.Second)}, // HIGH #1: a reversal
	}
	type hl struct {
		label string
		rev   bool
	}
	var got []hl
	for _, e := range ofKind(flat(mustRun(t, ticks)), KindHigh, KindLow) {
		got = append(got, hl{e.HighLow.Label(), e.HighLow.Reversal})
	}
	want := []hl{{"HIGH #1", false}, {"HIGH #2", false}, {"LOW #1", true}, {"LOW #2", false}, {"LOW #3", false},
		{"HIGH #3", true}, {"LOW #4", true}, {"LOW #1", false}, {"HIGH #1", true}}
	if !slices.Equal(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

func TestSymTable(t *testing.T) {
	tab := newSymTable(0)
	var names []string
	for i := range 5000 {
		n := fmt.Sprintf("S%d", i)
		if i%7 == 0 {
			n = fmt.Sprintf("LONG.SYMBOL-%09d", i) // over 16 bytes: the other hash path
		}
		names = append(names, n)
		if id := tab.put(n); int(id) != i {
			t.Fatalf("put %q = %d", n, id)
		}
	}
	snapshot := tab.clone()
	tab.put("LATE")
	for i, n := range names {
		if id, ok := tab.get(strings.Clone(n)); !ok || int(id) != i {
			t.Fatalf("get %q = %d %v", n, id, ok)
		}
	}
	if _, ok := tab.get("NOPE"); ok {
		t.Fatal("found a symbol never put")
	}
	if _, ok := snapshot.get("LATE"); ok || snapshot.len() != 5000 {
		t.Fatal("a clone saw a later insert")
	}
	if id, ok := tab.get("LATE"); !ok || id != 5000 {
		t.Fatal("LATE")
	}
}
