package market

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"
)

// refEngine is SPEC section 4 written the plain way, for differential tests of Engine: it
// keeps every tick of each symbol's session and finds each window by binary search over
// them, with prefix sums for counts and volumes. The score, gate and trigger helpers are
// shared with Engine (they are the SPEC's formulas); what this checks is the windows, the
// sessions and the event state machines.
type refEngine struct {
	syms map[string]*refSym
}

type refSym struct {
	dayEnd            int64
	t                 []int64 // tick times, Unix ms
	p                 []float64
	cumV              []int64 // cumV[i]: volume of ticks [0, i]
	high, low, first  float64
	repHigh, repLow   float64
	highs, lows       int
	vol               int64
	lastHL, lastTrend int64
	lastSurge         [2]int64
	lastKind          EventKind
	trDir, sign       Direction
	trStr             Strength
	signSince         int64
	hasHL, hasTr      bool
	hasSurge          [2]bool
}

func newRefEngine() *refEngine { return &refEngine{syms: map[string]*refSym{}} }

// lastAtOrBefore is the index of the last tick at or before ms, or -1.
func (s *refSym) lastAtOrBefore(ms int64) int {
	return sort.Search(len(s.t), func(i int) bool { return s.t[i] > ms }) - 1
}

func (r *refEngine) process(tk Tick) []Event {
	ms := tk.Time.UnixMilli()
	s := r.syms[tk.Symbol]
	if s == nil {
		s = &refSym{dayEnd: math.MinInt64}
		r.syms[tk.Symbol] = s
	}
	p := tk.Price
	if ms >= s.dayEnd {
		d := dayOf(ms)
		*s = refSym{dayEnd: d.to, t: []int64{ms}, p: []float64{p}, cumV: []int64{tk.Volume},
			high: p, low: p, first: p, repHigh: p, repLow: p, vol: tk.Volume}
		return nil
	}
	s.t, s.p = append(s.t, ms), append(s.p, p)
	s.vol += tk.Volume
	s.cumV = append(s.cumV, s.vol)
	start := s.t[0]
	n := len(s.t)
	var out []Event
	cooled := !s.hasHL || ms-s.lastHL >= hlCooldownMs
	hl := func(kind EventKind) {
		rev := s.lastKind != 0 && s.lastKind != kind
		s.lastKind, s.lastHL, s.hasHL = kind, ms, true
		count := s.highs
		if kind == KindLow {
			count = s.lows
		}
		out = append(out, Event{Kind: kind, HighLow: HighLowEvent{Kind: kind, Symbol: tk.Symbol, Price: p,
			Time: Millis(ms), Count: count, CountUp: s.highs, CountDown: s.lows, Volume: s.vol,
			PctChange: round4((p - s.first) / s.first * 100), SessionHigh: s.high, SessionLow: s.low,
			Phase: PhaseAt(tk.Time), Reversal: rev}})
	}
	if p > s.high {
		s.high = p
		if geq(p-s.repHigh, Gate(p)) && cooled {
			s.repHigh = p
			s.highs++
			hl(KindHigh)
		}
	} else if p < s.low {
		s.low = p
		if geq(s.repLow-p, Gate(p)) && cooled {
			s.repLow = p
			s.lows++
			hl(KindLow)
		}
	}

	// Trends.
	iS, iM, iL := s.lastAtOrBefore(ms-trendShortMs), s.lastAtOrBefore(ms-trendMediumMs), s.lastAtOrBefore(ms-trendLongMs)
	if iL < 0 || n-1-iS < minWindowTicks {
		s.trDir, s.trStr, s.sign = 0, StrengthNone, 0
	} else {
		sS, sM, sL := windowScore(p, s.p[iS]), windowScore(p, s.p[iM]), windowScore(p, s.p[iL])
		score := 0.3*sS + 0.4*sM + 0.3*sL
		var dir Direction
		if score > 0 {
			dir = Up
		} else if score < 0 {
			dir = Down
		}
		if dir != s.sign {
			s.sign, s.signSince = dir, ms
		}
		str := TrendStrength(score)
		if str == StrengthNone {
			s.trDir, s.trStr = 0, StrengthNone
		} else {
			if dir != s.trDir || str != s.trStr || !s.hasTr || ms-s.lastTrend >= trendRepeatMs {
				s.lastTrend, s.hasTr = ms, true
				out = append(out, Event{Kind: KindTrend, Trend: TrendEvent{Symbol: tk.Symbol, Price: p, Time: Millis(ms),
					Direction: dir, Strength: str, Score: round4(score), Short: round4(sS), Medium: round4(sM),
					Long: round4(sL), AgeSeconds: (ms - s.signSince) / 1000, Phase: PhaseAt(tk.Time)}})
			}
			s.trDir, s.trStr = dir, str
		}
	}

	// Surges.
	span := ms - surgeWindowMs - start
	iW := s.lastAtOrBefore(ms - surgeWindowMs)
	if span >= surgeSpanMinMs && iW >= 0 {
		then := s.p[iW]
		pct := (p - then) / then
		thr := SurgeThreshold(p)
		slot, dir := 1, Up
		if pct < 0 {
			slot, dir = 0, Down
		}
		if geq(math.Abs(pct), 0.5*thr) && (!s.hasSurge[slot] || ms-s.lastSurge[slot] >= surgeQuietMs) {
			L := min(span, surgeSpanMaxMs)
			volW := s.vol - s.cumV[iW]
			var before int64
			if i := s.lastAtOrBefore(ms - surgeWindowMs - L); i >= 0 {
				before = s.cumV[i]
			}
			volSpan := s.cumV[iW] - before
			mult := surgeZeroMean
			if mean := float64(volSpan) * surgeWindowMs / float64(L); mean != 0 {
				mult = float64(volW) / mean
			}
			if trig, str := SurgeTrigger(pct, mult, thr); trig != 0 {
				s.lastSurge[slot], s.hasSurge[slot] = ms, true
				out = append(out, Event{Kind: KindSurge, Surge: SurgeEvent{Symbol: tk.Symbol, Price: p, Time: Millis(ms),
					Direction: dir, Strength: str, Trigger: trig, MagnitudePct: round4(pct * 100),
					VolumeMultiple: round4(mult), Phase: PhaseAt(tk.Time)}})
			}
		}
	}
	return out
}

// ticksSince counts the session ticks of sym after bound (Unix ms).
func (r *refEngine) ticksSince(sym string, bound int64) int {
	s := r.syms[sym]
	if s == nil {
		return 0
	}
	return len(s.t) - 1 - s.lastAtOrBefore(bound)
}

// refProfile describes how one generated symbol ticks.
type refProfile struct {
	name  string
	price float64
	sigma float64 // per-tick volatility; 0 means 0.0008
	// gap returns the ms until the next tick.
	gap func(rng *rand.Rand, ms int64) int64
}

// refTicks generates secs seconds of ticks for the profiles from start, merged in time
// order, with random walks, trending spells, and jumps on heavy volume now and then.
func refTicks(seed uint64, start time.Time, secs int, profiles []refProfile) []Tick {
	rng := rand.New(rand.NewPCG(seed, 99))
	var all []Tick
	end := start.UnixMilli() + int64(secs)*1000
	for _, pr := range profiles {
		p, drift := pr.price, 0.0
		sigma := cmp.Or(pr.sigma, 0.0008)
		for ms := start.UnixMilli() + rng.Int64N(1000); ms < end; ms += pr.gap(rng, ms) {
			if rng.IntN(400) == 0 {
				drift = (rng.Float64() - 0.5) * 0.004
			}
			vol := int64(50 + rng.IntN(500))
			move := drift + sigma*rng.NormFloat64()
			if rng.IntN(900) == 0 { // a jump on heavy volume
				move += (rng.Float64() - 0.5) * 0.12
				vol *= 40
			}
			p = math.Max(0.05, p*math.Exp(move))
			all = append(all, Tick{Symbol: pr.name, Price: math.Round(p*100) / 100, Volume: vol, Time: time.UnixMilli(ms).UTC()})
		}
	}
	slices.SortStableFunc(all, func(a, b Tick) int { return a.Time.Compare(b.Time) })
	return all
}

// refMixed is a mix of symbols that exercises the windows: per-second aggregates, several
// ticks a second with equal-time bursts, sparse symbols with long gaps, and a burst-then-
// silence symbol.
func refMixed() []refProfile {
	return []refProfile{
		{"AGG", 212.3, 0, func(rng *rand.Rand, ms int64) int64 { return 1000 }},
		{"JIT", 48.1, 0, func(rng *rand.Rand, ms int64) int64 { return 700 + rng.Int64N(700) }},
		{"FAST", 8.4, 0, func(rng *rand.Rand, ms int64) int64 { // ~5 a second, some at equal times
			if rng.IntN(5) == 0 {
				return 0
			}
			return 1 + rng.Int64N(400)
		}},
		{"SPARSE", 0.72, 0, func(rng *rand.Rand, ms int64) int64 { return 1000 + rng.Int64N(90_000) }},
		{"BURSTY", 131.9, 0, func(rng *rand.Rand, ms int64) int64 { // quiet minutes, then 20 a second
			if (ms/120_000)%3 == 0 {
				return 1 + rng.Int64N(100)
			}
			return 5000 + rng.Int64N(10_000)
		}},
	}
}

func TestEngineMatchesReference(t *testing.T) {
	tests := []struct {
		name     string
		start    time.Time
		secs     int
		opts     []EngineOption
		profiles []refProfile
	}{
		{"mid-session", time.Date(2025, 3, 12, 14, 0, 0, 0, time.UTC), 2400, []EngineOption{WithWindowCap(1 << 16)}, refMixed()},
		{"across NY midnight", time.Date(2025, 3, 13, 3, 40, 0, 0, time.UTC), 2400, []EngineOption{WithWindowCap(1 << 16)}, refMixed()},
		// The default cap holds every symbol here but BURSTY (20 a second for 2 minutes,
		// twice in 10): exact for up to about 6.8 ticks a second sustained.
		{"default cap", time.Date(2025, 3, 12, 14, 0, 0, 0, time.UTC), 2400, nil, refMixed()[:4]},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ticks := refTicks(uint64(i+1), tt.start, tt.secs, tt.profiles)
			ref := newRefEngine()
			e := NewEngine(nil, tt.opts...)
			var got []Event
			for k, tk := range ticks {
				want := ref.process(tk)
				n := len(got)
				got = e.Process(tk, got)
				if !slices.Equal(got[n:], want) {
					t.Fatalf("tick %d %+v:\nengine    %+v\nreference %+v", k, tk, got[n:], want)
				}
			}
			if e.Coarse() != 0 || e.Rejected() != 0 {
				t.Fatalf("coarse %d, rejected %d", e.Coarse(), e.Rejected())
			}
			kinds := map[string]int{}
			for _, ev := range got {
				kinds[panel(ev)]++
			}
			for _, p := range []string{"high", "low", "trend-up", "trend-down", "surge-up", "surge-down"} {
				if kinds[p] == 0 && len(tt.profiles) == 5 {
					t.Errorf("no %s event: the input does not exercise it", p)
				}
			}
			// The summary's tick counts agree too.
			now := ticks[len(ticks)-1].Time.UnixMilli()
			snap := e.Snapshot()
			for _, pr := range tt.profiles {
				s := snap.Summary([]string{pr.name})
				r10, r60, r300 := ref.ticksSince(pr.name, now-10_000), ref.ticksSince(pr.name, now-60_000), ref.ticksSince(pr.name, now-300_000)
				if ref.syms[pr.name].dayEnd <= now {
					r10, r60, r300 = 0, 0, 0
				}
				if s.Ticks10s != r10 || s.Ticks60s != r60 || s.Ticks300s != r300 {
					t.Errorf("%s ticks %d/%d/%d, reference %d/%d/%d", pr.name, s.Ticks10s, s.Ticks60s, s.Ticks300s, r10, r60, r300)
				}
			}
			t.Logf("%d ticks, events by panel %v", len(ticks), kinds)
		})
	}
}

// TestEngineCoarse runs a symbol far faster than a small window cap allows: memory stays
// at the cap, every tick is still counted, highs and lows (which need no window) stay
// exact, trends and surges stay close to the exact ones, and the coarse ticks are counted.
func TestEngineCoarse(t *testing.T) {
	start := time.Date(2025, 3, 12, 14, 0, 0, 0, time.UTC)
	profiles := []refProfile{
		{"HOT", 64.2, 0.00012, func(rng *rand.Rand, ms int64) int64 { return rng.Int64N(40) }}, // ~50 a second
		{"AGG", 212.3, 0, func(rng *rand.Rand, ms int64) int64 { return 1000 }},
	}
	ticks := refTicks(7, start, 1500, profiles)
	ref := newRefEngine()
	e := NewEngine(nil, WithWindowCap(1024))
	var want, got []Event
	for _, tk := range ticks {
		want = append(want, ref.process(tk)...)
		got = e.Process(tk, got)
	}
	id, _ := e.Lookup("HOT")
	if n, sym := e.Coarsenings(); n == 0 || sym != "HOT" || len(e.hot[id].ring) != 1024 || e.Coarse() == 0 {
		t.Fatalf("coarsenings %d (%s), ring %d, coarse ticks %d", n, sym, len(e.hot[id].ring), e.Coarse())
	}
	if aggID, _ := e.Lookup("AGG"); e.hot[aggID].coarse {
		t.Fatal("the 1-a-second symbol was coarsened")
	}
	split := func(evs []Event, sym string) (hl, other []Event) {
		for _, ev := range evs {
			switch {
			case ev.Symbol() != sym:
			case ev.Kind == KindHigh || ev.Kind == KindLow:
				hl = append(hl, ev)
			default:
				other = append(other, ev)
			}
		}
		return hl, other
	}
	gotHL, gotOther := split(got, "HOT")
	wantHL, wantOther := split(want, "HOT")
	if !slices.Equal(gotHL, wantHL) || len(gotHL) == 0 {
		t.Fatalf("highs and lows differ: %d vs %d", len(gotHL), len(wantHL))
	}
	// The AGG symbol, never coarsened, is exact throughout.
	aggGot, aggGotOther := split(got, "AGG")
	aggWant, aggWantOther := split(want, "AGG")
	if !slices.Equal(aggGot, aggWant) || !slices.Equal(aggGotOther, aggWantOther) {
		t.Fatal("the uncoarsened symbol's events differ")
	}
	// Trends and surges: a coarse boundary moves a window's start by less than a second, so
	// most events of the reference have a twin of the same kind and direction in the
	// engine's output within 2 s.
	twin := func(ev Event, in []Event) bool {
		for _, o := range in {
			if o.Kind == ev.Kind && o.Trend.Direction == ev.Trend.Direction && o.Surge.Direction == ev.Surge.Direction &&
				math.Abs(float64(o.Time()-ev.Time())) <= 2000 {
				return true
			}
		}
		return false
	}
	same := 0
	for _, ev := range wantOther {
		if twin(ev, gotOther) {
			same++
		}
	}
	if len(wantOther) < 10 || float64(same) < 0.8*float64(len(wantOther)) || len(gotOther) > len(wantOther)*5/4 {
		t.Fatalf("trends and surges: %d of the reference's %d have a twin; the engine gave %d", same, len(wantOther), len(gotOther))
	}
	// The summary counts every tick; a count whose start falls in a merged second may
	// include that whole second (about 50 ticks here).
	now := ticks[len(ticks)-1].Time.UnixMilli()
	s := e.Snapshot().Summary([]string{"HOT"})
	for _, c := range []struct {
		got  int
		back int64
	}{{s.Ticks10s, 10_000}, {s.Ticks60s, 60_000}, {s.Ticks300s, 300_000}} {
		if r := ref.ticksSince("HOT", now-c.back); c.got < r || c.got > r+80 {
			t.Errorf("ticks in the last %d s: %d, reference %d", c.back/1000, c.got, r)
		}
	}
	t.Logf("%d ticks; coarse ticks %d; trends+surges: %d of %d have a twin, engine %d", len(ticks), e.Coarse(), same, len(wantOther), len(gotOther))
}
