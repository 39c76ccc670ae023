package market

import (
	"encoding/json"
	"math"
	"strconv"
)

// Symbol history bounds (SPEC section 13: the symbol page's chart and event list).
const (
	// PricePointStep is the finest spacing of a symbol's price history: one point per 5 s
	// of the clock (:00, :05, ...).
	PricePointStep = 5_000
	// MaxPricePoints bounds a symbol's price history. A session that outgrows it (2048
	// points of 5 s are 2 h 50 min) halves its resolution, merging pairs of buckets, so a
	// full 20 h day ends at 40 s a point and the chart always spans the whole session.
	MaxPricePoints = 2048
	// MaxSymbolEvents is how many of a symbol's latest session events are kept for its page.
	MaxSymbolEvents = 512
)

// symHist is one symbol's session history: the price line, downsampled to one point per
// bucket of step ms (the last tick in it), and a ring of the latest events. Memory: 12
// bytes a point and 72 an event, at most 24 KiB + 36 KiB a symbol. The slices grow by
// doubling and are kept across sessions, so a long-running engine stops allocating.
type symHist struct {
	pts     []point
	step    int64 // bucket width in ms: PricePointStep, doubled by each halving
	lastEnd int32 // where the last point's bucket ends, as a session offset
	evN     uint32
	ev      []histEvent // ring of the last min(evN, MaxSymbolEvents) events
}

// point is a price point packed into 12 bytes: the price's bits in two halves, so that the
// array has no padding.
type point struct {
	off    int32 // ms since the session's first tick
	lo, hi uint32
}

func mkPoint(off int32, p float64) point {
	b := math.Float64bits(p)
	return point{off: off, lo: uint32(b), hi: uint32(b >> 32)}
}

func (p point) price() float64 { return math.Float64frombits(uint64(p.hi)<<32 | uint64(p.lo)) }

// reset starts a session whose first tick is at ms and returns, as an offset from ms, where
// that tick's bucket ends.
func (s *symHist) reset(ms int64) int32 {
	s.pts, s.ev = s.pts[:0], s.ev[:0]
	s.step, s.evN = PricePointStep, 0
	s.lastEnd = neverOff
	return int32(bucketEnd(ms, s.step) - ms)
}

// bucketEnd is the end of the step-ms bucket holding the Unix ms instant ms.
func bucketEnd(ms, step int64) int64 { return (floorDiv(ms, step) + 1) * step }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// closeBucket records the previous tick (at prevOff, price prevPrice) as the close of its
// bucket, which ends at h.nextPt, now that a tick at off is past it; then it moves h.nextPt
// to the end of off's bucket.
func (e *Engine) closeBucket(id SymbolID, h *symHot, prevOff int32, prevPrice float64, off int32) {
	s := &e.hist[id]
	s.add(h.start, mkPoint(prevOff, prevPrice), h.nextPt)
	next := s.lastEnd // after a halving, off may share the closed point's wider bucket
	for k := 0; off >= next && k < 2; k++ {
		next += int32(s.step)
	}
	if off >= next {
		next = int32(bucketEnd(h.start+int64(off), s.step) - h.start)
	}
	h.nextPt = next
}

// add stores pt, the close of the bucket ending at end (a session offset), replacing the
// last point when it is in the same bucket (after a halving), and halves the resolution
// when the history is full.
func (s *symHist) add(start int64, pt point, end int32) {
	n := len(s.pts)
	if n > 0 && s.lastEnd == end {
		s.pts[n-1] = pt
		return
	}
	if n == MaxPricePoints {
		s.halve(start)
		end = int32(bucketEnd(start+int64(pt.off), s.step) - start)
		if s.lastEnd == end {
			s.pts[len(s.pts)-1] = pt
			return
		}
	}
	if len(s.pts) == cap(s.pts) {
		// Doubling up to the bound: append's gentler growth past 256 points would copy
		// each point about four times over a session instead of once.
		pts := make([]point, len(s.pts), min(max(2*cap(s.pts), 16), MaxPricePoints))
		copy(pts, s.pts)
		s.pts = pts
	}
	s.pts = append(s.pts, pt)
	s.lastEnd = end
}

// halve doubles the bucket width, keeping the last point of each new bucket.
func (s *symHist) halve(start int64) {
	s.step *= 2
	w := 0
	for i, p := range s.pts {
		if i+1 < len(s.pts) && floorDiv(start+int64(p.off), s.step) == floorDiv(start+int64(s.pts[i+1].off), s.step) {
			continue
		}
		s.pts[w] = p
		w++
	}
	s.pts = s.pts[:w]
	s.lastEnd = int32(bucketEnd(start+int64(s.pts[w-1].off), s.step) - start)
}

// record keeps evs (one tick's events) in the symbol's event ring.
func (s *symHist) record(evs []Event, start int64) {
	for i := range evs {
		c := compactEvent(&evs[i])
		if len(s.ev) < MaxSymbolEvents {
			s.ev = append(s.ev, c)
		} else {
			s.ev[s.evN%MaxSymbolEvents] = c
		}
		s.evN++
	}
}

// histEvent is an Event without its symbol, in 72 bytes instead of 260: the fields of
// whichever kind it is, packed.
type histEvent struct {
	time  Millis
	price float64
	f     [4]float64 // high/low: pct, high, low; trend: score, short, medium, long; surge: magnitude, multiple
	i     int64      // high/low: volume; trend: age_seconds
	c1    int32      // high/low: count_up
	c2    int32      // high/low: count_down
	kind  EventKind
	phase Phase
	dir   Direction
	str   Strength
	trig  Trigger
	rev   bool
}

func compactEvent(e *Event) histEvent {
	switch e.Kind {
	case KindTrend:
		t := &e.Trend
		return histEvent{time: t.Time, price: t.Price, f: [4]float64{t.Score, t.Short, t.Medium, t.Long},
			i: t.AgeSeconds, kind: KindTrend, phase: t.Phase, dir: t.Direction, str: t.Strength}
	case KindSurge:
		s := &e.Surge
		return histEvent{time: s.Time, price: s.Price, f: [4]float64{s.MagnitudePct, s.VolumeMultiple},
			kind: KindSurge, phase: s.Phase, dir: s.Direction, str: s.Strength, trig: s.Trigger}
	}
	h := &e.HighLow
	return histEvent{time: h.Time, price: h.Price, f: [4]float64{h.PctChange, h.SessionHigh, h.SessionLow},
		i: h.Volume, c1: int32(h.CountUp), c2: int32(h.CountDown), kind: e.Kind, phase: h.Phase, rev: h.Reversal}
}

func (c *histEvent) event(symbol string) Event {
	switch c.kind {
	case KindTrend:
		return Event{Kind: KindTrend, Trend: TrendEvent{Symbol: symbol, Price: c.price, Time: c.time,
			Direction: c.dir, Strength: c.str, Score: c.f[0], Short: c.f[1], Medium: c.f[2], Long: c.f[3],
			AgeSeconds: c.i, Phase: c.phase}}
	case KindSurge:
		return Event{Kind: KindSurge, Surge: SurgeEvent{Symbol: symbol, Price: c.price, Time: c.time,
			Direction: c.dir, Strength: c.str, Trigger: c.trig, MagnitudePct: c.f[0], VolumeMultiple: c.f[1],
			Phase: c.phase}}
	}
	count := c.c1
	if c.kind == KindLow {
		count = c.c2
	}
	return Event{Kind: c.kind, HighLow: HighLowEvent{Kind: c.kind, Symbol: symbol, Price: c.price, Time: c.time,
		Count: int(count), CountUp: int(c.c1), CountDown: int(c.c2), Volume: c.i, PctChange: c.f[0],
		SessionHigh: c.f[1], SessionLow: c.f[2], Phase: c.phase, Reversal: c.rev}}
}

// PricePoint is one point of a symbol's price line. It marshals as [unix_ms, price], the
// shape GET /api/symbols/{symbol} serves (SPEC section 13).
type PricePoint struct {
	Time  Millis
	Price float64
}

// MarshalJSON writes [time, price].
func (p PricePoint) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 32)
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(p.Time), 10)
	b = append(b, ',')
	b = strconv.AppendFloat(b, p.Price, 'f', -1, 64)
	return append(b, ']'), nil
}

// UnmarshalJSON reads [time, price].
func (p *PricePoint) UnmarshalJSON(b []byte) error {
	var v [2]json.Number
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	t, err := v[0].Int64()
	if err != nil {
		return err
	}
	f, err := v[1].Float64()
	if err != nil {
		return err
	}
	*p = PricePoint{Time: Millis(t), Price: f}
	return nil
}

// TrendScores are a symbol's trend window scores at its latest tick (SPEC section 4), each
// clamp(r_w / 1 %, -1, 1), or 0 while that window has no tick at or before its start.
// Ready says all three windows are ready; only then do Score, Direction and Strength mean
// anything (Strength is "none" below a weak trend).
type TrendScores struct {
	Ready     bool      `json:"ready"`
	Short     float64   `json:"short"`
	Medium    float64   `json:"medium"`
	Long      float64   `json:"long"`
	Score     float64   `json:"score"`
	Direction Direction `json:"direction"`
	Strength  Strength  `json:"strength"`
}

// SymbolState is a symbol's session at its latest tick, for its page. HasData is false for a
// symbol that is known (in a universe or watchlist) but has not ticked yet ("no data yet");
// the other fields are then zero. The session is the symbol's latest, which on a weekend is
// the last trading day's. PctFromOpen is in percent against the session's first price.
type SymbolState struct {
	Symbol       string      `json:"symbol"`
	HasData      bool        `json:"has_data"`
	Phase        Phase       `json:"phase"`
	Time         Millis      `json:"time"`
	Price        float64     `json:"price"`
	Open         float64     `json:"open"`
	PctFromOpen  float64     `json:"pct_from_open"`
	SessionHigh  float64     `json:"session_high"`
	SessionLow   float64     `json:"session_low"`
	Volume       int64       `json:"volume"`
	HighCount    int         `json:"high_count"`
	LowCount     int         `json:"low_count"`
	Ticks        int         `json:"ticks"`
	SessionStart Millis      `json:"session_start"`
	Trend        TrendScores `json:"trend"`
}

// SymbolView is everything the symbol page shows: the state, the session's price line
// (oldest first, at most one point per 5 s bucket, the last being the latest tick) and its
// latest events (newest first, at most MaxSymbolEvents). It marshals to the body of
// GET /api/symbols/{symbol} without "success": {"symbol":{...},"prices":[[ms,p],...],
// "events":[...]}.
type SymbolView struct {
	State  SymbolState  `json:"symbol"`
	Prices []PricePoint `json:"prices"`
	Events []Event      `json:"events"`
}

// SymbolState returns the symbol's state at its latest tick without its history (cheap
// enough for a watchlist of 200 symbols), or false when the engine does not know it.
func (e *Engine) SymbolState(symbol string) (SymbolState, bool) {
	id, ok := e.tab.get(symbol)
	if !ok {
		return SymbolState{}, false
	}
	return e.symbolState(id), true
}

// symbolState is the state of a known symbol.
func (e *Engine) symbolState(id SymbolID) SymbolState {
	h, c := &e.hot[id], &e.cold[id]
	if h.start == never {
		return SymbolState{Symbol: c.name}
	}
	mask := uint32(len(h.ring) - 1)
	last := h.ring[(h.n-1)&mask].p
	lastMs := h.start + int64(h.lastOff)
	return SymbolState{
		Symbol:       c.name,
		HasData:      true,
		Phase:        e.phaseAt(lastMs),
		Time:         Millis(lastMs),
		Price:        last,
		Open:         c.firstPrice,
		PctFromOpen:  round4((last - c.firstPrice) / c.firstPrice * 100),
		SessionHigh:  h.high,
		SessionLow:   h.low,
		Volume:       h.sessVol,
		HighCount:    int(c.highCount),
		LowCount:     int(c.lowCount),
		Ticks:        int(h.ticks),
		SessionStart: Millis(h.start),
		Trend:        e.trendScores(id, h, last),
	}
}

// SymbolView returns a copy of the symbol's session history, or false when the engine does
// not know the symbol.
func (e *Engine) SymbolView(symbol string) (SymbolView, bool) {
	id, ok := e.tab.get(symbol)
	if !ok {
		return SymbolView{}, false
	}
	h, c, s := &e.hot[id], &e.cold[id], &e.hist[id]
	v := SymbolView{State: e.symbolState(id), Prices: []PricePoint{}, Events: []Event{}}
	if h.start == never {
		return v, true
	}
	last, lastMs := v.State.Price, int64(v.State.Time)
	v.Prices = make([]PricePoint, 0, len(s.pts)+1)
	for _, p := range s.pts {
		v.Prices = append(v.Prices, PricePoint{Millis(h.start + int64(p.off)), p.price()})
	}
	live := PricePoint{Millis(lastMs), last}
	if n := len(v.Prices); n > 0 && floorDiv(int64(v.Prices[n-1].Time), s.step) == floorDiv(lastMs, s.step) {
		v.Prices[n-1] = live
	} else {
		v.Prices = append(v.Prices, live)
	}
	v.Events = make([]Event, 0, len(s.ev))
	for k := uint32(0); k < uint32(len(s.ev)); k++ {
		v.Events = append(v.Events, s.ev[(s.evN-1-k)%MaxSymbolEvents].event(c.name))
	}
	return v, true
}

// trendScores are the window scores at the symbol's latest tick, whose price is p.
func (e *Engine) trendScores(id SymbolID, h *symHot, p float64) TrendScores {
	mask := uint32(len(h.ring) - 1)
	var ts TrendScores
	score := func(i uint32) float64 {
		if i == 0 {
			return 0
		}
		return round4(windowScore(p, h.ring[(i-1)&mask].p))
	}
	ts.Short, ts.Medium, ts.Long = score(h.idx[bShort]), score(h.idx[bMedium]), score(h.idx[bLong])
	iS := h.idx[bShort]
	if h.idx[bLong] > 0 && (h.n-iS >= minWindowTicks || e.windowTicks(id, h, iS) >= minWindowTicks) {
		s := 0.3*windowScore(p, h.ring[(iS-1)&mask].p) + 0.4*windowScore(p, h.ring[(h.idx[bMedium]-1)&mask].p) +
			0.3*windowScore(p, h.ring[(h.idx[bLong]-1)&mask].p)
		ts.Ready, ts.Score, ts.Strength = true, round4(s), TrendStrength(s)
		if ts.Strength != StrengthNone {
			ts.Direction = signOf(s)
		}
	}
	return ts
}
