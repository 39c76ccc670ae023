package market

import (
	"math"
	"time"
	_ "time/tzdata" // the NY session must work on machines without system tzdata
)

// Detection constants of SPEC section 4, in milliseconds of tick time.
const (
	hlCooldownMs   = 1_000   // between a symbol's high/low events, shared by both
	trendShortMs   = 180_000 // short trend window
	trendMediumMs  = 360_000 // medium trend window
	trendLongMs    = 600_000 // long trend window
	trendRepeatMs  = 90_000  // a lasting trend is reported again after this
	minWindowTicks = 8       // a trend window needs this many ticks in (now-w, now]
	surgeWindowMs  = 30_000  // W
	surgeSpanMaxMs = 300_000 // L at most
	surgeSpanMinMs = 60_000  // L needed for a volume multiple
	surgeQuietMs   = 180_000 // per symbol and direction after a surge
	// surgeZeroMean is the volume multiple when the span's mean volume is 0.
	surgeZeroMean = 10.0

	// tolerance absorbs float rounding at the documented edges: 100.10-100.00 is
	// 0.0999999999999943 in float64, yet the SPEC means it to reach a 0.10 gate.
	tolerance = 1e-9

	// never is the "no such event yet" time: far enough in the past that any
	// "now - never >= cooldown" holds, without overflow.
	never = math.MinInt64 / 4

	minRingCap = 64
	// maxRingCap bounds one symbol's window memory (16 B a tick, 1 MiB): enough for a
	// sustained 109 ticks/s on one symbol over the 600 s window. Beyond it new ticks still
	// drive highs/lows, trends and surges but are not stored in the windows (counted in
	// Engine.Overflow).
	maxRingCap = 1 << 16
)

// window boundary slots in symState.idx; each idx is the ring position of the first tick
// newer than its boundary.
const (
	bW      = iota // now - 30 s (surge W)
	bShort         // now - 180 s
	bSpan          // max(now - 330 s, session start): start of the surge span
	bMedium        // now - 360 s
	bLong          // now - 600 s
	nBounds
)

// sample is one tick in a symbol's window ring: time as ms since the session's first tick
// (a session is at most 25 h, so int32 fits), volume saturated to uint32.
type sample struct {
	t int32
	v uint32
	p float64
}

// SymbolID is a symbol's index in the engine's flat per-symbol arrays. IDs are assigned at
// registration and never reused or changed.
type SymbolID int32

// symState is all per-symbol detection state. Times are Unix ms unless named *Off.
type symState struct {
	name       string
	sessionEnd int64 // first ms of the next NY day: a tick at or after it starts a new session
	start      int64 // the session's first tick
	last       int64 // the latest accepted tick

	firstPrice, high, low, repHigh, repLow float64
	sessVol                                int64
	highCount, lowCount                    int32
	lastHL                                 int64

	// window ring: ticks [idx[bLong]-1, n) are kept; positions are masked by len(ring)-1.
	ring          []sample
	n             uint32
	idx           [nBounds]uint32
	volW, volSpan int64 // volume in (now-W, now] and in the span before it

	trDir     Direction // current trend direction, 0 when no trend
	trStr     Strength  // current trend strength
	sign      Direction // sign of the latest score, 0 when none or not ready
	signSince int64     // when sign took its current value
	lastTrend int64     // last trend event

	lastSurge [2]int64 // last surge event, [0] down and [1] up
}

// Engine turns ticks into events by the rules of SPEC section 4, on tick time only.
//
// Per-symbol state lives in one flat slice indexed by SymbolID, with ring buffers for the
// windows, so once every symbol's ring has grown to its working size Process allocates
// nothing. An Engine is not safe for concurrent use; Runner wraps one for that.
//
// Readings of the SPEC where it leaves room, chosen as literally as possible:
//   - Times are taken at millisecond resolution (what events and JSON carry).
//   - A tick older than the symbol's previous tick is rejected (counted in Rejected), as is
//     a tick with an empty symbol, a zero time, a price that is not a positive finite
//     number, or a negative volume. Ticks at equal times are fine.
//   - A high fires only on a new session high (p > session_high) that also clears the gate
//     against reported_high and the shared 1 s cooldown; likewise lows.
//   - pct_change is against the session's first price; volume is the session volume
//     including the current tick.
//   - A trend window w "holds" the ticks in (now-w, now], the current one included; it is
//     ready when today's session has a tick at or before now-w and it holds at least 8.
//   - Trend direction is the sign of the score; age_seconds counts from the first tick at
//     which the score took its current sign (reset when the windows are not ready). A trend
//     event fires when the (direction, strength) pair changes to a trend, or when 90 s have
//     passed since the symbol's previous trend event while a trend lasts.
//   - Surges: L = min(300 s, (now-W) - session start), the span is exactly
//     (now-W-L, now-W] (so the session's first tick leaves the span once L is clamped), and
//     no surge is evaluated at all while L < 60 s, since the event must carry a
//     volume_multiple. The quiet time lets a surge fire again when 180 s have passed.
//   - Threshold comparisons (>=) tolerate 1e-9 of float rounding so that decimal prices
//     land on the documented side of each edge.
//   - Output scores and percents are rounded to 4 decimals.
//   - A new NY day resets everything about the symbol, including its trend windows.
type Engine struct {
	ids     map[string]SymbolID
	shared  bool // ids was handed to a Snapshot: copy before the next write
	syms    []symState
	ny      *time.Location
	now     int64 // latest tick time seen
	dayFrom int64 // cached NY day [dayFrom, dayTo)
	dayTo   int64

	ticks, rejected, overflow uint64
}

// NewEngine returns an engine with the given symbols registered (in order, so symbols[i]
// gets SymbolID i unless duplicated). Unknown symbols met later are registered on the fly.
func NewEngine(symbols []string) *Engine {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		// Unreachable: time/tzdata is linked in.
		panic("market: load America/New_York: " + err.Error())
	}
	e := &Engine{
		ids:  make(map[string]SymbolID, len(symbols)),
		syms: make([]symState, 0, len(symbols)),
		ny:   ny,
		now:  never,
	}
	for _, s := range symbols {
		e.Register(s)
	}
	return e
}

// Register returns the symbol's ID, adding the symbol if it is new.
func (e *Engine) Register(symbol string) SymbolID {
	if id, ok := e.ids[symbol]; ok {
		return id
	}
	if e.shared {
		m := make(map[string]SymbolID, len(e.ids)+1)
		for k, v := range e.ids {
			m[k] = v
		}
		e.ids, e.shared = m, false
	}
	id := SymbolID(len(e.syms))
	e.ids[symbol] = id
	e.syms = append(e.syms, symState{
		name:       symbol,
		sessionEnd: never,
		last:       never,
	})
	return id
}

// Lookup returns the ID of a registered symbol.
func (e *Engine) Lookup(symbol string) (SymbolID, bool) {
	id, ok := e.ids[symbol]
	return id, ok
}

// Symbols returns how many symbols are registered.
func (e *Engine) Symbols() int { return len(e.syms) }

// Now returns the latest tick time the engine has accepted (zero before any).
func (e *Engine) Now() time.Time {
	if e.now == never {
		return time.Time{}
	}
	return time.UnixMilli(e.now).UTC()
}

// Ticks returns how many ticks were accepted.
func (e *Engine) Ticks() uint64 { return e.ticks }

// Rejected returns how many ticks were refused (malformed or out of order).
func (e *Engine) Rejected() uint64 { return e.rejected }

// Overflow returns how many accepted ticks did not fit a full window ring (see maxRingCap).
func (e *Engine) Overflow() uint64 { return e.overflow }

// Process runs one tick through detection and appends the events it causes to out, in the
// order high/low, trend, surge. With a reused out slice it allocates nothing in the steady
// state.
func (e *Engine) Process(t Tick, out []Event) []Event {
	id, ok := e.ids[t.Symbol]
	if !ok {
		if t.Symbol == "" {
			e.rejected++
			return out
		}
		id = e.Register(t.Symbol)
	}
	return e.process(&e.syms[id], t, out)
}

func (e *Engine) process(st *symState, t Tick, out []Event) []Event {
	p := t.Price
	if !(p > 0 && p <= math.MaxFloat64) || t.Volume < 0 || t.Time.IsZero() {
		e.rejected++
		return out
	}
	ms := t.Time.UnixMilli()
	if ms < st.last {
		e.rejected++
		return out
	}
	e.ticks++
	if ms > e.now {
		e.now = ms
	}
	if ms >= st.sessionEnd {
		e.startSession(st, ms, p, t.Volume)
		return out
	}
	st.last = ms
	st.sessVol += t.Volume

	// New highs and lows.
	if p > st.high {
		st.high = p
		if geq(p-st.repHigh, Gate(p)) && ms-st.lastHL >= hlCooldownMs {
			st.repHigh = p
			st.highCount++
			st.lastHL = ms
			out = append(out, st.highLow(KindHigh, p, ms))
		}
	} else if p < st.low {
		st.low = p
		if geq(st.repLow-p, Gate(p)) && ms-st.lastHL >= hlCooldownMs {
			st.repLow = p
			st.lowCount++
			st.lastHL = ms
			out = append(out, st.highLow(KindLow, p, ms))
		}
	}

	off := int32(ms - st.start)
	e.push(st, off, t.Volume, p)
	st.advance(off)
	out = st.trend(p, ms, out)
	out = st.surge(p, ms, off, out)
	return out
}

// startSession seeds a symbol's state from the first tick of a NY trading day.
func (e *Engine) startSession(st *symState, ms int64, p float64, vol int64) {
	_, st.sessionEnd = e.nyDay(ms)
	st.start, st.last = ms, ms
	st.firstPrice, st.high, st.low, st.repHigh, st.repLow = p, p, p, p, p
	st.sessVol = vol
	st.highCount, st.lowCount = 0, 0
	st.lastHL = never
	st.n = 0
	st.idx = [nBounds]uint32{}
	st.volW, st.volSpan = 0, 0
	st.trDir, st.trStr, st.sign = 0, StrengthNone, 0
	st.signSince, st.lastTrend = never, never
	st.lastSurge = [2]int64{never, never}
	e.push(st, 0, vol, p)
}

// nyDay returns the [start, end) of the America/New_York calendar day holding ms, in Unix
// ms. The last answer is cached, as ticks cluster in one day.
func (e *Engine) nyDay(ms int64) (int64, int64) {
	if ms >= e.dayFrom && ms < e.dayTo {
		return e.dayFrom, e.dayTo
	}
	y, m, d := time.UnixMilli(ms).In(e.ny).Date()
	e.dayFrom = time.Date(y, m, d, 0, 0, 0, 0, e.ny).UnixMilli()
	e.dayTo = time.Date(y, m, d+1, 0, 0, 0, 0, e.ny).UnixMilli()
	return e.dayFrom, e.dayTo
}

// push stores a tick in the symbol's ring, growing it (by doubling, up to maxRingCap) when
// the retained span is full.
func (e *Engine) push(st *symState, off int32, vol int64, p float64) {
	var tail uint32
	if st.idx[bLong] > 0 {
		tail = st.idx[bLong] - 1
	}
	if st.n-tail == uint32(len(st.ring)) {
		if len(st.ring) >= maxRingCap {
			e.overflow++
			return
		}
		st.grow(tail)
	}
	v := uint32(math.MaxUint32)
	if vol < math.MaxUint32 {
		v = uint32(vol)
	}
	st.ring[st.n&uint32(len(st.ring)-1)] = sample{t: off, v: v, p: p}
	st.n++
	st.volW += int64(v)
}

func (st *symState) grow(tail uint32) {
	size := 2 * len(st.ring)
	if size < minRingCap {
		size = minRingCap
	}
	ring := make([]sample, size)
	oldMask, newMask := uint32(len(st.ring)-1), uint32(size-1)
	for i := tail; i != st.n; i++ {
		ring[i&newMask] = st.ring[i&oldMask]
	}
	st.ring = ring
}

// advance moves every window boundary up to the tick time off, keeping the W and span
// volume sums in step.
func (st *symState) advance(off int32) {
	r := st.ring
	mask := uint32(len(r) - 1)
	n := st.n

	// W: ticks leaving (now-W, now] enter the span.
	b := off - surgeWindowMs
	i := st.idx[bW]
	for i != n && r[i&mask].t <= b {
		v := int64(r[i&mask].v)
		st.volW -= v
		st.volSpan += v
		i++
	}
	st.idx[bW] = i

	// Span start: max(now-W-300s, session start), never past the W boundary.
	b = off - surgeWindowMs - surgeSpanMaxMs
	if b < 0 {
		b = 0
	}
	i, lim := st.idx[bSpan], st.idx[bW]
	for i != lim && r[i&mask].t <= b {
		st.volSpan -= int64(r[i&mask].v)
		i++
	}
	st.idx[bSpan] = i

	st.idx[bShort] = seek(r, mask, st.idx[bShort], n, off-trendShortMs)
	st.idx[bMedium] = seek(r, mask, st.idx[bMedium], n, off-trendMediumMs)
	st.idx[bLong] = seek(r, mask, st.idx[bLong], n, off-trendLongMs)
}

// seek advances i past every stored tick at or before bound.
func seek(r []sample, mask, i, n uint32, bound int32) uint32 {
	for i != n && r[i&mask].t <= bound {
		i++
	}
	return i
}

func (st *symState) highLow(kind EventKind, p float64, ms int64) Event {
	count := st.highCount
	if kind == KindLow {
		count = st.lowCount
	}
	return Event{Kind: kind, HighLow: HighLowEvent{
		Kind:        kind,
		Symbol:      st.name,
		Price:       p,
		Time:        Millis(ms),
		Count:       int(count),
		CountUp:     int(st.highCount),
		CountDown:   int(st.lowCount),
		Volume:      st.sessVol,
		PctChange:   round4((p - st.firstPrice) / st.firstPrice * 100),
		SessionHigh: st.high,
		SessionLow:  st.low,
	}}
}

// trend scores the three windows and emits a trend event when due.
func (st *symState) trend(p float64, ms int64, out []Event) []Event {
	iS, iM, iL := st.idx[bShort], st.idx[bMedium], st.idx[bLong]
	// Windows nest, so the long one's first tick implies the others', and the short
	// one's count is the smallest.
	if iL == 0 || iM == 0 || iS == 0 || st.n-iS < minWindowTicks ||
		st.n-iM < minWindowTicks || st.n-iL < minWindowTicks {
		st.trDir, st.trStr, st.sign = 0, StrengthNone, 0
		return out
	}
	mask := uint32(len(st.ring) - 1)
	sS := windowScore(p, st.ring[(iS-1)&mask].p)
	sM := windowScore(p, st.ring[(iM-1)&mask].p)
	sL := windowScore(p, st.ring[(iL-1)&mask].p)
	score := 0.3*sS + 0.4*sM + 0.3*sL

	var dir Direction
	switch {
	case score > 0:
		dir = Up
	case score < 0:
		dir = Down
	}
	if dir != st.sign {
		st.sign, st.signSince = dir, ms
	}
	str := TrendStrength(score)
	if str == StrengthNone {
		st.trDir, st.trStr = 0, StrengthNone
		return out
	}
	if dir != st.trDir || str != st.trStr || ms-st.lastTrend >= trendRepeatMs {
		st.lastTrend = ms
		out = append(out, Event{Kind: KindTrend, Trend: TrendEvent{
			Symbol:     st.name,
			Price:      p,
			Time:       Millis(ms),
			Direction:  dir,
			Strength:   str,
			Score:      round4(score),
			Short:      round4(sS),
			Medium:     round4(sM),
			Long:       round4(sL),
			AgeSeconds: (ms - st.signSince) / 1000,
		}})
	}
	st.trDir, st.trStr = dir, str
	return out
}

// windowScore is clamp(r / 1 %, -1, 1) for the return from then to p.
func windowScore(p, then float64) float64 {
	s := (p - then) / then / 0.01
	return math.Max(-1, math.Min(1, s))
}

// TrendStrength grades a trend score: strong at |score| >= 0.6, moderate at >= 0.3, weak at
// >= 0.1, and StrengthNone (no trend) below.
func TrendStrength(score float64) Strength {
	a := math.Abs(score)
	switch {
	case geq(a, 0.6):
		return StrengthStrong
	case geq(a, 0.3):
		return StrengthModerate
	case geq(a, 0.1):
		return StrengthWeak
	}
	return StrengthNone
}

// surge evaluates the three surge triggers over W and emits a surge event when one fires
// outside the direction's quiet time.
func (st *symState) surge(p float64, ms int64, off int32, out []Event) []Event {
	span := int64(off) - surgeWindowMs // history today before the W window
	if span < surgeSpanMinMs {
		return out
	}
	iW := st.idx[bW]
	if iW == 0 {
		return out
	}
	then := st.ring[(iW-1)&uint32(len(st.ring)-1)].p
	pct := (p - then) / then
	var dir Direction
	slot := 1
	switch {
	case pct > 0:
		dir = Up
	case pct < 0:
		dir, slot = Down, 0
	default:
		return out
	}
	if ms-st.lastSurge[slot] < surgeQuietMs {
		return out
	}
	if span > surgeSpanMaxMs {
		span = surgeSpanMaxMs
	}
	mult := surgeZeroMean
	if mean := float64(st.volSpan) * surgeWindowMs / float64(span); mean != 0 {
		mult = float64(st.volW) / mean
	}
	trig, str := SurgeTrigger(pct, mult, SurgeThreshold(p))
	if trig == 0 {
		return out
	}
	st.lastSurge[slot] = ms
	return append(out, Event{Kind: KindSurge, Surge: SurgeEvent{
		Symbol:         st.name,
		Price:          p,
		Time:           Millis(ms),
		Direction:      dir,
		Strength:       str,
		Trigger:        trig,
		MagnitudePct:   round4(pct * 100),
		VolumeMultiple: round4(mult),
	}})
}

// SurgeTrigger applies the surge triggers, in order of precedence, to a price change pct
// (a fraction), a volume multiple and the band threshold thr. It returns 0 when none fires,
// else the trigger and the strength (strong at |pct| >= 2 thr, moderate at >= 1.5 thr).
func SurgeTrigger(pct, mult, thr float64) (Trigger, Strength) {
	a := math.Abs(pct)
	var trig Trigger
	switch {
	case geq(a, thr) && geq(mult, 3):
		trig = TriggerPriceAndVolume
	case geq(a, 2*thr):
		trig = TriggerPrice
	case geq(mult, 6) && geq(a, 0.5*thr):
		trig = TriggerVolume
	default:
		return 0, StrengthNone
	}
	switch {
	case geq(a, 2*thr):
		return trig, StrengthStrong
	case geq(a, 1.5*thr):
		return trig, StrengthModerate
	}
	return trig, StrengthWeak
}

// geq is a >= b up to float rounding (see tolerance).
func geq(a, b float64) bool { return a >= b-tolerance }

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }
