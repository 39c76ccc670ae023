package market

import (
	"math"
	"time"
	_ "time/tzdata" // the NY session must work on machines without system tzdata
	"unsafe"
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
	// neverOff is never as a session offset: any offset minus it exceeds every cooldown.
	neverOff = math.MinInt32 / 2

	minRingCap = 64
	// maxRingCap bounds one symbol's window memory (16 B a tick, 1 MiB): enough for a
	// sustained 109 ticks/s on one symbol over the 600 s window. Beyond it new ticks still
	// drive highs/lows, trends and surges but are not stored in the windows (counted in
	// Engine.Overflow).
	maxRingCap = 1 << 16
)

// Window boundary slots in symHot.idx; each idx is the ring position of the first tick
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

// symHot is the per-symbol state every tick reads and writes, packed into exactly two
// cache lines (128 bytes, so slice elements stay line-aligned): with 10,000 symbols the
// engine is bound by memory latency, not arithmetic. Times are ms offsets from the
// session's first tick (a session is at most 25 h, so int32 fits).
type symHot struct {
	start   int64   // Unix ms of the session's first tick
	endOff  int32   // the next NY day starts here: a tick at or after it starts a session
	lastOff int32   // the latest accepted tick
	high    float64 // session_high
	low     float64 // session_low
	sessVol int64

	// Window ring: ticks [idx[bLong]-1, n) are kept; positions are masked by len-1.
	ring          []sample
	n             uint32
	idx           [nBounds]uint32
	volW, volSpan int64 // volume in (now-W, now] and in the span before it

	lastHL    int32     // last high or low event
	lastTrend int32     // last trend event
	lastSurge [2]int32  // last surge event, [0] down and [1] up
	trDir     Direction // current trend direction, 0 when no trend
	trStr     Strength  // current trend strength
	sign      Direction // sign of the latest score, 0 when none or not ready
	_         [5]byte
}

// idSlot caches a symbol string's ID by the address of its bytes (see Engine.lookup).
type idSlot struct {
	data uintptr
	n    int
	id   SymbolID
}

// symCold is per-symbol state needed only for events and session starts.
type symCold struct {
	name                string
	firstPrice          float64
	repHigh, repLow     float64 // reported_high, reported_low
	highCount, lowCount int32
	signSince           int32 // when the score took its current sign
}

// Engine turns ticks into events by the rules of SPEC section 4, on tick time only.
//
// Per-symbol state lives in flat slices indexed by SymbolID, with ring buffers for the
// windows, so once every symbol's ring has grown to its working size Process allocates
// nothing. An Engine is not safe for concurrent use; Runner wraps one for that.
//
// Readings of the SPEC where it leaves room, chosen as literally as possible:
//   - Times are taken at millisecond resolution (what events and JSON carry).
//   - A tick older than the symbol's previous tick is rejected (counted in Rejected), as is
//     a tick with an empty symbol, a zero time, a price that is not a positive finite
//     number, or a negative volume. Ticks at equal times are fine.
//   - A high fires only on a new session high (p > session_high) that also clears the gate
//     against reported_high and the shared 1 s cooldown; likewise lows. The session's first
//     tick only seeds the state.
//   - pct_change is against the session's first price; volume is the session volume
//     including the current tick.
//   - A trend window w "holds" the ticks in (now-w, now], the current one included; it is
//     ready when today's session has a tick at or before now-w and it holds at least 8.
//   - Trend direction is the sign of the score; age_seconds counts whole seconds from the
//     first tick at which the score took its current sign (the sign resets when the
//     windows are not ready). A trend event fires when the (direction, strength) pair
//     changes to a trend, or when 90 s have passed since the symbol's previous trend event
//     while a trend lasts.
//   - Surges: L = min(300 s, (now-W) - session start), the span is exactly
//     (now-W-L, now-W] (so the session's first tick is outside it while L is clamped), and
//     no surge is evaluated at all while L < 60 s, since the event must carry a
//     volume_multiple. The quiet time lets a surge fire again once 180 s have passed.
//   - Threshold comparisons (>=) tolerate 1e-9 of float rounding so that decimal prices
//     land on the documented side of each edge.
//   - Output scores and percents are rounded to 4 decimals.
//   - A new NY day resets everything about the symbol, including its trend windows.
type Engine struct {
	ids     map[string]SymbolID
	idCache []idSlot // see lookup
	shared  bool     // ids was handed to a Snapshot: copy before the next write
	hot     []symHot
	cold    []symCold
	ny      *time.Location
	now     int64 // latest tick time seen, Unix ms
	dayFrom int64 // cached NY day [dayFrom, dayTo), Unix ms
	dayTo   int64

	ticks, rejected, overflow uint64
	sink                      uint32 // keeps ProcessBatch's touching loads alive
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
		ids:     make(map[string]SymbolID, len(symbols)),
		idCache: make([]idSlot, 1024),
		hot:     make([]symHot, 0, len(symbols)),
		cold:    make([]symCold, 0, len(symbols)),
		ny:      ny,
		now:     never,
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
	id := SymbolID(len(e.hot))
	e.ids[symbol] = id
	if len(e.idCache) < 4*len(e.hot)+4 {
		size := 1024 // a power of two at least 8 times the symbols: few collisions
		for size < 8*(len(e.hot)+1) {
			size *= 2
		}
		e.idCache = make([]idSlot, size)
	}
	// A fresh symbol's session ended long ago, so its first tick starts one.
	e.hot = append(e.hot, symHot{start: never, ring: make([]sample, minRingCap)})
	e.cold = append(e.cold, symCold{name: symbol})
	return id
}

// lookup finds a symbol's ID. Feeds intern symbols, so a tick's symbol usually shares its
// bytes with the registered name; a direct-mapped cache keyed by that address then skips
// hashing the string. A slot is only filled when the address is the registered name's
// own, which the engine keeps alive, so the address cannot be reused by another string.
func (e *Engine) lookup(symbol string) (SymbolID, bool) {
	p := uintptr(unsafe.Pointer(unsafe.StringData(symbol)))
	slot := &e.idCache[(p>>4^p>>17)&uintptr(len(e.idCache)-1)]
	if slot.data == p && slot.n == len(symbol) && p != 0 {
		return slot.id, true
	}
	id, ok := e.ids[symbol]
	if ok && unsafe.StringData(e.cold[id].name) == unsafe.StringData(symbol) {
		*slot = idSlot{data: p, n: len(symbol), id: id}
	}
	return id, ok
}

// Lookup returns the ID of a registered symbol.
func (e *Engine) Lookup(symbol string) (SymbolID, bool) {
	id, ok := e.ids[symbol]
	return id, ok
}

// Symbols returns how many symbols are registered.
func (e *Engine) Symbols() int { return len(e.hot) }

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
	id, ok := e.lookup(t.Symbol)
	if !ok {
		if t.Symbol == "" {
			e.rejected++
			return out
		}
		id = e.Register(t.Symbol)
	}
	return e.process(id, t, out)
}

// batchGroup is how many ticks ProcessBatch prepares at once: enough cache misses in
// flight to hide memory latency, few enough that their lines stay in L1/L2.
const batchGroup = 16

// ProcessBatch is Process for each tick in order, with the same results, but faster when
// ticks spread over many symbols: for each group of 16 ticks it first looks up the
// symbols and touches their state and window lines, so those cache misses overlap instead
// of being met one after another. Runner uses it.
func (e *Engine) ProcessBatch(ticks []Tick, out []Event) []Event {
	var ids [batchGroup]SymbolID
	for len(ticks) > 0 {
		g := ticks[:min(len(ticks), batchGroup)]
		ticks = ticks[len(g):]
		for k := range g {
			id, ok := e.lookup(g[k].Symbol)
			if !ok {
				id = -1
			}
			ids[k] = id
		}
		var sink uint32
		for k := range g {
			if id := ids[k]; id >= 0 {
				h := &e.hot[id]
				sink += h.n + uint32(len(h.ring))
			}
		}
		for k := range g {
			if id := ids[k]; id >= 0 {
				h := &e.hot[id]
				r, m := h.ring, uint32(len(h.ring)-1)
				// Each boundary reads its next tick and, when it moves, the one after.
				sink += uint32(r[h.n&m].t + r[h.idx[bW]&m].t + r[h.idx[bShort]&m].t +
					r[h.idx[bSpan]&m].t + r[h.idx[bMedium]&m].t + r[h.idx[bLong]&m].t +
					r[(h.idx[bW]+1)&m].t + r[(h.idx[bShort]+1)&m].t + r[(h.idx[bSpan]+1)&m].t +
					r[(h.idx[bMedium]+1)&m].t + r[(h.idx[bLong]+1)&m].t)
			}
		}
		e.sink += sink
		for k := range g {
			if ids[k] >= 0 {
				out = e.process(ids[k], g[k], out)
			} else {
				out = e.Process(g[k], out)
			}
		}
	}
	return out
}

func (e *Engine) process(id SymbolID, t Tick, out []Event) []Event {
	h := &e.hot[id]
	p := t.Price
	if !(p > 0 && p <= math.MaxFloat64) || t.Volume < 0 || t.Time.IsZero() {
		e.rejected++
		return out
	}
	ms := t.Time.UnixMilli()
	off64 := ms - h.start
	if off64 < int64(h.lastOff) {
		e.rejected++
		return out
	}
	e.ticks++
	if ms > e.now {
		e.now = ms
	}
	if off64 >= int64(h.endOff) {
		e.startSession(id, ms, p, t.Volume)
		return out
	}
	off := int32(off64)

	// Start loading the first candidate tick of every window boundary now. These are
	// independent cache misses (the ring is far bigger than the caches when there are
	// many symbols); issued together they overlap, where the loops in advance would
	// otherwise meet them one at a time behind mispredicted branches.
	r := h.ring
	mask := uint32(len(r) - 1)
	var first [nBounds]int32
	for b := range first {
		first[b] = r[h.idx[b]&mask].t
	}

	h.lastOff = off
	h.sessVol += t.Volume

	// New highs and lows.
	if p > h.high {
		h.high = p
		c := &e.cold[id]
		if geq(p-c.repHigh, Gate(p)) && int64(off)-int64(h.lastHL) >= hlCooldownMs {
			c.repHigh = p
			c.highCount++
			h.lastHL = off
			out = append(out, e.highLow(id, KindHigh, p, ms))
		}
	} else if p < h.low {
		h.low = p
		c := &e.cold[id]
		if geq(c.repLow-p, Gate(p)) && int64(off)-int64(h.lastHL) >= hlCooldownMs {
			c.repLow = p
			c.lowCount++
			h.lastHL = off
			out = append(out, e.highLow(id, KindLow, p, ms))
		}
	}

	// The current tick is newer than every boundary, so the windows can move before
	// it is stored; that also frees ring space for it.
	h.advance(off, &first)
	e.push(h, off, t.Volume, p)
	out = e.trend(id, h, p, ms, off, out)
	out = e.surge(id, h, p, ms, off, out)
	return out
}

// startSession seeds a symbol's state from the first tick of a NY trading day.
func (e *Engine) startSession(id SymbolID, ms int64, p float64, vol int64) {
	h, c := &e.hot[id], &e.cold[id]
	_, end := e.nyDay(ms)
	*h = symHot{
		start:     ms,
		endOff:    int32(end - ms),
		high:      p,
		low:       p,
		sessVol:   vol,
		ring:      h.ring,
		lastHL:    neverOff,
		lastTrend: neverOff,
		lastSurge: [2]int32{neverOff, neverOff},
	}
	*c = symCold{name: c.name, firstPrice: p, repHigh: p, repLow: p, signSince: neverOff}
	e.push(h, 0, vol, p)
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
func (e *Engine) push(h *symHot, off int32, vol int64, p float64) {
	var tail uint32
	if h.idx[bLong] > 0 {
		tail = h.idx[bLong] - 1
	}
	if h.n-tail == uint32(len(h.ring)) {
		if len(h.ring) >= maxRingCap {
			e.overflow++
			return
		}
		h.grow(tail)
	}
	v := uint32(math.MaxUint32)
	if vol < math.MaxUint32 {
		v = uint32(vol)
	}
	h.ring[h.n&uint32(len(h.ring)-1)] = sample{t: off, v: v, p: p}
	h.n++
	h.volW += int64(v)
}

func (h *symHot) grow(tail uint32) {
	size := 2 * len(h.ring)
	ring := make([]sample, size)
	oldMask, newMask := uint32(len(h.ring)-1), uint32(size-1)
	for i := tail; i != h.n; i++ {
		ring[i&newMask] = h.ring[i&oldMask]
	}
	h.ring = ring
}

// advance moves every window boundary up to the tick time off, keeping the W and span
// volume sums in step. first holds each boundary's next stored tick time, preloaded.
func (h *symHot) advance(off int32, first *[nBounds]int32) {
	r := h.ring
	mask := uint32(len(r) - 1)
	n := h.n

	// W: ticks leaving (now-W, now] enter the span.
	b := off - surgeWindowMs
	i, t := h.idx[bW], first[bW]
	for i != n && t <= b {
		v := int64(r[i&mask].v)
		h.volW -= v
		h.volSpan += v
		i++
		t = r[i&mask].t
	}
	h.idx[bW] = i

	// Span start: max(now-W-300s, session start), never past the W boundary.
	b = max(off-surgeWindowMs-surgeSpanMaxMs, 0)
	i, t = h.idx[bSpan], first[bSpan]
	for lim := h.idx[bW]; i != lim && t <= b; {
		h.volSpan -= int64(r[i&mask].v)
		i++
		t = r[i&mask].t
	}
	h.idx[bSpan] = i

	h.idx[bShort] = seek(r, mask, h.idx[bShort], n, off-trendShortMs, first[bShort])
	h.idx[bMedium] = seek(r, mask, h.idx[bMedium], n, off-trendMediumMs, first[bMedium])
	h.idx[bLong] = seek(r, mask, h.idx[bLong], n, off-trendLongMs, first[bLong])
}

// seek advances i past every stored tick at or before bound; t is the time at i.
func seek(r []sample, mask, i, n uint32, bound, t int32) uint32 {
	for i != n && t <= bound {
		i++
		t = r[i&mask].t
	}
	return i
}

func (e *Engine) highLow(id SymbolID, kind EventKind, p float64, ms int64) Event {
	h, c := &e.hot[id], &e.cold[id]
	count := c.highCount
	if kind == KindLow {
		count = c.lowCount
	}
	return Event{Kind: kind, HighLow: HighLowEvent{
		Kind:        kind,
		Symbol:      c.name,
		Price:       p,
		Time:        Millis(ms),
		Count:       int(count),
		CountUp:     int(c.highCount),
		CountDown:   int(c.lowCount),
		Volume:      h.sessVol,
		PctChange:   round4((p - c.firstPrice) / c.firstPrice * 100),
		SessionHigh: h.high,
		SessionLow:  h.low,
	}}
}

// trend scores the three windows and emits a trend event when due.
func (e *Engine) trend(id SymbolID, h *symHot, p float64, ms int64, off int32, out []Event) []Event {
	iS, iM, iL := h.idx[bShort], h.idx[bMedium], h.idx[bLong]
	// Windows nest, so the long one's first tick implies the others', and the short
	// one holds the fewest ticks.
	if iL == 0 || h.n-iS < minWindowTicks {
		h.trDir, h.trStr, h.sign = 0, StrengthNone, 0
		return out
	}
	mask := uint32(len(h.ring) - 1)
	sS := windowScore(p, h.ring[(iS-1)&mask].p)
	sM := windowScore(p, h.ring[(iM-1)&mask].p)
	sL := windowScore(p, h.ring[(iL-1)&mask].p)
	score := 0.3*sS + 0.4*sM + 0.3*sL

	var dir Direction
	switch {
	case score > 0:
		dir = Up
	case score < 0:
		dir = Down
	}
	if dir != h.sign {
		h.sign = dir
		e.cold[id].signSince = off
	}
	str := TrendStrength(score)
	if str == StrengthNone {
		h.trDir, h.trStr = 0, StrengthNone
		return out
	}
	if dir != h.trDir || str != h.trStr || int64(off)-int64(h.lastTrend) >= trendRepeatMs {
		h.lastTrend = off
		c := &e.cold[id]
		out = append(out, Event{Kind: KindTrend, Trend: TrendEvent{
			Symbol:     c.name,
			Price:      p,
			Time:       Millis(ms),
			Direction:  dir,
			Strength:   str,
			Score:      round4(score),
			Short:      round4(sS),
			Medium:     round4(sM),
			Long:       round4(sL),
			AgeSeconds: int64(off-c.signSince) / 1000,
		}})
	}
	h.trDir, h.trStr = dir, str
	return out
}

// windowScore is clamp(r / 1 %, -1, 1) for the return from then to p.
func windowScore(p, then float64) float64 {
	s := (p - then) / then * 100
	if s > 1 {
		return 1
	}
	if s < -1 {
		return -1
	}
	return s
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
func (e *Engine) surge(id SymbolID, h *symHot, p float64, ms int64, off int32, out []Event) []Event {
	span := int64(off) - surgeWindowMs // today's history before the W window
	if span < surgeSpanMinMs {
		return out
	}
	iW := h.idx[bW]
	if iW == 0 {
		return out
	}
	then := h.ring[(iW-1)&uint32(len(h.ring)-1)].p
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
	thr := SurgeThreshold(p)
	if !geq(math.Abs(pct), 0.5*thr) {
		return out // below every trigger's price condition: skip the volume math
	}
	if int64(off)-int64(h.lastSurge[slot]) < surgeQuietMs {
		return out
	}
	span = min(span, surgeSpanMaxMs)
	mult := surgeZeroMean
	if mean := float64(h.volSpan) * surgeWindowMs / float64(span); mean != 0 {
		mult = float64(h.volW) / mean
	}
	trig, str := SurgeTrigger(pct, mult, thr)
	if trig == 0 {
		return out
	}
	h.lastSurge[slot] = off
	return append(out, Event{Kind: KindSurge, Surge: SurgeEvent{
		Symbol:         e.cold[id].name,
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
