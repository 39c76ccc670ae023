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
	// neverOff is never as a session offset: any offset minus it exceeds every cooldown.
	neverOff = math.MinInt32 / 2

	minRingCap = 64
	// DefaultWindowCap is how many entries one symbol's window history holds before it is
	// coarsened (see Engine): 64 KiB a symbol, exact up to about 6.8 ticks a second
	// sustained over the 600 s window.
	DefaultWindowCap = 4096
	// minWindowCap keeps room for one entry per second of the window (601) plus detail.
	minWindowCap = 1024
	maxWindowCap = 1 << 22
)

// Window boundary slots in symHot.idx; each idx is the ring position of the first entry
// newer than its boundary. The start of the surge span (now - 330 s, clamped at the
// session start) is not kept: a surge needs it only when the price has moved enough, so
// spanFrom finds it then, sparing every tick a boundary's cache lines.
const (
	bW      = iota // now - 30 s (surge W)
	bShort         // now - 180 s
	bMedium        // now - 360 s
	bLong          // now - 600 s
	nBounds
)

// boundLag is each boundary's distance behind now, in ms.
var boundLag = [nBounds]int32{surgeWindowMs, trendShortMs, trendMediumMs, trendLongMs}

// sample is one entry of a symbol's window ring: normally one tick, or after coarsening
// every tick of one second (see Engine). t is the (last) tick's time in ms since the
// session's first tick (a session is at most 25 h, so int32 fits); cv is the session's
// cumulative volume through that tick, mod 2^32, so a window's volume is a difference of
// two entries, exact up to 4.29 billion shares a window; p is the (last) tick's price.
type sample struct {
	t  int32
	cv uint32
	p  float64
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

	// Window ring: entries [idx[bLong]-1, n) are kept; positions are masked by len-1.
	ring []sample
	n    uint32
	idx  [nBounds]uint32

	ticks    uint32 // ticks this session (more than n once entries are coarsened)
	nextPt   int32  // where the next price-history bucket starts (see symHist)
	coarseTo int32  // the newest coarsened entry's time; neverOff when none this session

	lastHL    int32     // last high or low event
	lastTrend int32     // last trend event
	lastSurge [2]int32  // last surge event, [0] down and [1] up
	trDir     Direction // current trend direction, 0 when no trend
	trStr     Strength  // current trend strength
	sign      Direction // sign of the latest score, 0 when none or not ready
	coarse    bool      // the ring holds coarsened entries this session: cold.cum is kept
	signSince int32     // when the score took its current sign (hot: it changes often)
	_         [8]byte
}

// symCold is per-symbol state needed only for events, session starts, coarsening and reads.
type symCold struct {
	name                string
	firstPrice          float64
	repHigh, repLow     float64 // reported_high, reported_low
	highCount, lowCount int32
	lastHLKind          EventKind // the session's last high or low event, for reversals
	// cum[pos&mask] is the session tick count through the entry at pos, kept while
	// symHot.coarse (entries then hold more than one tick).
	cum []uint32
}

// Engine turns ticks into events by the rules of SPEC section 4, on tick time only.
//
// Per-symbol state lives in flat slices indexed by SymbolID, with ring buffers for the
// windows, so once every symbol's ring has grown to its working size Process allocates
// nothing. An Engine is not safe for concurrent use; Runner wraps one for that.
//
// Window memory is bounded by the window, not by the tick rate. A symbol's ring holds one
// entry per tick while it fits the window cap (DefaultWindowCap, see WithWindowCap); the
// answers are then exact at millisecond resolution. A symbol that ticks faster than the cap
// allows over the 600 s window (about 6.8 ticks a second sustained, by default) has its
// oldest entries merged into one entry per second of tick time (its last time, price and
// cumulative volume, with the tick count kept aside), never more than about 610 entries for
// the whole window. Every tick is still counted and the start of every window is kept; only
// a window boundary that falls between two ticks of one merged second is then resolved to
// that second (its ticks count as after the boundary). Ticks whose detection met such a
// boundary are counted in Coarse, and Runner logs and reports them.
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
//   - reversal is true on a high whose symbol's previous high or low event this session was
//     a low, and on a low after a high; the session's first event is never a reversal.
//   - phase is the market phase at the event's own time (PhaseAt).
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
//   - A new NY day resets everything about the symbol, including its trend windows and its
//     price history.
type Engine struct {
	tab    *symTable
	shared bool // tab was handed to a Snapshot: copy before the next insert
	hot    []symHot
	cold   []symCold
	hist   []symHist
	day    nyDay // cached: ticks cluster in one NY day
	now    int64 // latest tick time seen, Unix ms
	cap    uint32

	// Activity checkpoints: the session tick count of every symbol at the start of each of
	// the last cpSlots minutes (see Snapshot).
	cpMin   [cpSlots]int64
	cpTicks [cpSlots][]uint32
	nextMin int64 // Unix ms at which the next checkpoint is due

	ticks, rejected, coarse uint64
	coarseAt                uint64   // e.ticks when a tick was last counted in coarse
	coarseSym               SymbolID // the last symbol whose ring was coarsened, -1 if none
	coarsenings             uint64
	sink                    uint32 // keeps ProcessBatch's touching loads alive
}

// EngineOption changes an Engine's defaults.
type EngineOption func(*Engine)

// WithWindowCap sets how many entries a symbol's window ring may hold before its oldest
// entries are merged per second (rounded up to a power of two, at least 1024). A larger cap
// keeps detection exact for faster symbols at 16 bytes an entry: 65,536 covers 109 ticks a
// second sustained, at 1 MiB a symbol.
func WithWindowCap(entries int) EngineOption {
	return func(e *Engine) {
		c := uint32(minWindowCap)
		for int(c) < entries && c < maxWindowCap {
			c *= 2
		}
		e.cap = c
	}
}

// NewEngine returns an engine with the given symbols registered (in order, so symbols[i]
// gets SymbolID i unless duplicated). Unknown symbols met later are registered on the fly.
func NewEngine(symbols []string, opts ...EngineOption) *Engine {
	e := &Engine{
		tab:       newSymTable(len(symbols)),
		hot:       make([]symHot, 0, len(symbols)),
		cold:      make([]symCold, 0, len(symbols)),
		hist:      make([]symHist, 0, len(symbols)),
		now:       never,
		nextMin:   never,
		cap:       DefaultWindowCap,
		coarseSym: -1,
	}
	for i := range e.cpMin {
		e.cpMin[i] = never
	}
	for _, o := range opts {
		o(e)
	}
	for _, s := range symbols {
		e.Register(s)
	}
	return e
}

// Register returns the symbol's ID, adding the symbol if it is new.
func (e *Engine) Register(symbol string) SymbolID {
	if id, ok := e.tab.get(symbol); ok {
		return id
	}
	if e.shared {
		e.tab, e.shared = e.tab.clone(), false
	}
	id := e.tab.put(symbol)
	// A fresh symbol's session ended long ago, so its first tick starts one.
	e.hot = append(e.hot, symHot{start: never, ring: make([]sample, minRingCap)})
	e.cold = append(e.cold, symCold{name: symbol})
	e.hist = append(e.hist, symHist{})
	return id
}

// Lookup returns the ID of a registered symbol.
func (e *Engine) Lookup(symbol string) (SymbolID, bool) { return e.tab.get(symbol) }

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

// Coarse returns how many accepted ticks met a window boundary inside a coarsened second,
// so that at least one of their window figures was taken at one-second resolution.
func (e *Engine) Coarse() uint64 { return e.coarse }

// Coarsenings returns how many times a symbol's window ring was full and had its oldest
// entries merged per second, and the symbol of the latest one ("" if none).
func (e *Engine) Coarsenings() (uint64, string) {
	if e.coarseSym < 0 {
		return e.coarsenings, ""
	}
	return e.coarsenings, e.cold[e.coarseSym].name
}

// Process runs one tick through detection and appends the events it causes to out, in the
// order high/low, trend, surge. With a reused out slice it allocates nothing in the steady
// state.
func (e *Engine) Process(t Tick, out []Event) []Event {
	id, ok := e.tab.get(t.Symbol)
	if !ok {
		if t.Symbol == "" {
			e.rejected++
			return out
		}
		id = e.Register(t.Symbol)
	}
	if t.Time.IsZero() {
		e.rejected++
		return out
	}
	return e.process(id, t.Price, t.Volume, t.Time.UnixMilli(), out)
}

// batchGroup is how many ticks each stage of ProcessBatch's pipeline works on. With three
// groups in flight (about 10 lines a tick), 8 keeps the touched lines in L1 until they are
// used; 16 and 32 measured slower, 4 too few misses in flight.
const batchGroup = 8

// ProcessBatch is Process for each tick in order, with the same results, but faster when
// ticks spread over many symbols. It works on groups of batchGroup ticks as a three-stage
// pipeline: while it processes one group, it touches the window ring lines of the next
// group (whose symbol state it touched one group earlier) and looks up the symbols of the
// group after that and touches their state. The touches are plain loads whose values are
// discarded; they make each level of cache misses (symbol state, then ring entries) meet
// in flight with the others instead of being met one after another. Runner uses it.
func (e *Engine) ProcessBatch(ticks []Tick, out []Event) []Event {
	var st [3]batchSlot
	a, b, c := &st[0], &st[1], &st[2] // the groups at g, g+1 and g+2 ticks
	var sink uint32
	for g := -2 * batchGroup; g < len(ticks); g += batchGroup {
		if k := g + 2*batchGroup; k < len(ticks) {
			sink += e.touchState(ticks[k:min(k+batchGroup, len(ticks))], c)
		}
		if k := g + batchGroup; k >= 0 && k < len(ticks) {
			sink += e.touchRing(b)
		}
		if g >= 0 {
			gr := ticks[g:min(g+batchGroup, len(ticks))]
			for k := range gr {
				if id := a.ids[k]; id >= 0 {
					out = e.process(id, gr[k].Price, gr[k].Volume, a.ms[k], out)
				} else {
					out = e.Process(gr[k], out) // registers the symbol if new, or rejects
				}
			}
		}
		a, b, c = b, c, a
	}
	e.sink += sink
	return out
}

// batchSlot is one group of ProcessBatch's pipeline: each tick's symbol (-1 when unknown,
// or when its time is zero and Process must reject it) and time in Unix ms, converted once.
type batchSlot struct {
	ids [batchGroup]SymbolID
	ms  [batchGroup]int64
	n   int
}

// touchState looks up the symbols of ticks into s and loads both cache lines of each
// one's state.
func (e *Engine) touchState(ticks []Tick, s *batchSlot) uint32 {
	var sink uint32
	s.n = len(ticks)
	for k := range ticks {
		t := &ticks[k]
		id, ok := e.tab.get(t.Symbol)
		if !ok || t.Time.IsZero() {
			s.ids[k] = -1
			continue
		}
		s.ids[k], s.ms[k] = id, t.Time.UnixMilli()
		h := &e.hot[id]
		sink += h.n + uint32(len(h.ring))
	}
	return sink
}

// touchRing loads the ring lines that processing s's ticks will read: the head and, at
// each window boundary, the entry there and the next one (which seek reads when the
// boundary moves); and the symbol's history header when the tick closes a price bucket.
func (e *Engine) touchRing(s *batchSlot) uint32 {
	var sink uint32
	for k := 0; k < s.n && k < batchGroup; k++ {
		id := s.ids[k]
		if id < 0 {
			continue
		}
		h := &e.hot[id]
		r, m := h.ringMask()
		n, iW, iS, iM, iL := int(h.n), int(h.idx[bW]), int(h.idx[bShort]), int(h.idx[bMedium]), int(h.idx[bLong])
		sink += uint32(r[n&m].t + r[iW&m].t + r[iS&m].t + r[iM&m].t + r[iL&m].t)
		sink += uint32(r[(n-1)&m].t + r[(iW+1)&m].t + r[(iS+1)&m].t + r[(iM+1)&m].t + r[(iL+1)&m].t)
		if s.ms[k]-h.start >= int64(h.nextPt) {
			// The tick closes a price bucket: its close is appended after the last point.
			if pts := e.hist[id].pts; len(pts) > 0 {
				sink += uint32(pts[len(pts)-1].off)
			}
		}
	}
	return sink
}

// process runs a tick of a known symbol, whose time ms is that of a non-zero time.Time,
// through detection.
func (e *Engine) process(id SymbolID, p float64, vol int64, ms int64, out []Event) []Event {
	h := &e.hot[id]
	if !(p > 0 && p <= math.MaxFloat64) || vol < 0 {
		e.rejected++
		return out
	}
	off64 := ms - h.start
	if off64 < int64(h.lastOff) {
		e.rejected++
		return out
	}
	if ms >= e.nextMin {
		e.checkpoint(ms)
	}
	e.ticks++
	if ms > e.now {
		e.now = ms
	}
	if off64 >= int64(h.endOff) {
		e.startSession(id, ms, p, vol)
		return out
	}
	off := int32(off64)

	prevOff := h.lastOff
	h.lastOff = off
	h.sessVol += vol
	h.ticks++
	n0 := len(out)

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

	if off >= h.nextPt {
		// The previous tick, still the ring's head, closed its price-history bucket.
		r, m := h.ringMask()
		e.closeBucket(id, h, prevOff, r[int(h.n-1)&m].p, off)
	}

	// The current tick is newer than every boundary, so the windows can move before
	// it is stored; that also frees ring space for it.
	h.advance(off)
	if h.coarseTo > off-trendLongMs {
		e.checkCoarse(id, h, off)
	}
	e.push(id, h, off, p)
	out = e.trend(id, h, p, ms, off, out)
	out = e.surge(id, h, p, ms, off, out)
	if len(out) > n0 {
		e.hist[id].record(out[n0:], h.start)
	}
	return out
}

// startSession seeds a symbol's state from the first tick of a NY trading day.
func (e *Engine) startSession(id SymbolID, ms int64, p float64, vol int64) {
	h, c := &e.hot[id], &e.cold[id]
	end := e.dayAt(ms).to
	*h = symHot{
		start:     ms,
		endOff:    int32(end - ms),
		high:      p,
		low:       p,
		sessVol:   vol,
		ring:      h.ring,
		ticks:     1,
		coarseTo:  neverOff,
		lastHL:    neverOff,
		lastTrend: neverOff,
		lastSurge: [2]int32{neverOff, neverOff},
		signSince: neverOff,
	}
	*c = symCold{name: c.name, firstPrice: p, repHigh: p, repLow: p, cum: c.cum}
	h.nextPt = e.hist[id].reset(ms)
	e.push(id, h, 0, p)
}

// dayAt returns the New York day holding ms, from a one-day cache.
func (e *Engine) dayAt(ms int64) *nyDay {
	if ms < e.day.from || ms >= e.day.to {
		e.day = dayOf(ms)
	}
	return &e.day
}

// phaseAt is PhaseAt for a Unix ms instant, through the day cache.
func (e *Engine) phaseAt(ms int64) Phase { return e.dayAt(ms).phase(ms) }

// push stores a tick in the symbol's ring, growing it (by doubling, up to the window cap)
// or coarsening it when the retained span is full.
func (e *Engine) push(id SymbolID, h *symHot, off int32, p float64) {
	var tail uint32
	if h.idx[bLong] > 0 {
		tail = h.idx[bLong] - 1
	}
	if h.n-tail == uint32(len(h.ring)) {
		if uint32(len(h.ring)) < e.cap {
			e.grow(id, h, tail)
		} else {
			e.coarsen(id, h, tail)
		}
	}
	r, m := h.ringMask()
	r[int(h.n)&m] = sample{t: off, cv: uint32(h.sessVol), p: p}
	if h.coarse {
		e.cold[id].cum[int(h.n)&m] = h.ticks
	}
	h.n++
}

func (e *Engine) grow(id SymbolID, h *symHot, tail uint32) {
	size := 2 * len(h.ring)
	ring := make([]sample, size)
	oldMask, newMask := uint32(len(h.ring)-1), uint32(size-1)
	for i := tail; i != h.n; i++ {
		ring[i&newMask] = h.ring[i&oldMask]
	}
	h.ring = ring
	if c := &e.cold[id]; c.cum != nil {
		cum := make([]uint32, size)
		if h.coarse {
			for i := tail; i != h.n; i++ {
				cum[i&newMask] = c.cum[i&oldMask]
			}
		}
		c.cum = cum
	}
}

// coarsen frees ring space by merging the oldest entries of each second of tick time into
// one: the last tick's time, price and cumulative volume, with the tick count kept in
// cold.cum. Window boundaries are barriers (an entry at a boundary starts a new run), so
// every window holds the same ticks before and after. It merges from the tail until a
// quarter of the ring is free, so its cost is a few entry copies per tick.
func (e *Engine) coarsen(id SymbolID, h *symHot, tail uint32) {
	c := &e.cold[id]
	r, mask := h.ring, uint32(len(h.ring)-1)
	if !h.coarse {
		if len(c.cum) != len(r) {
			c.cum = make([]uint32, len(r))
		}
		// Until now every entry was one tick.
		for i, k := tail, h.ticks-(h.n-tail); i != h.n; i++ {
			k++
			c.cum[i&mask] = k
		}
		h.coarse = true
	}
	cum := c.cum
	want := uint32(len(r) / 4)
	w, i := tail, tail
	var newIdx [nBounds]uint32
	for i != h.n && i-w < want {
		j := i + 1
		sec := r[i&mask].t / 1000
		for j != h.n && r[j&mask].t/1000 == sec && !h.isBoundary(j) {
			j++
		}
		for b := range h.idx {
			if h.idx[b] == i {
				newIdx[b] = w
			}
		}
		last := (j - 1) & mask
		if j-i > 1 {
			h.coarseTo = max(h.coarseTo, r[last].t)
		}
		r[w&mask], cum[w&mask] = r[last], cum[last]
		w, i = w+1, j
	}
	stop, shift := i, i-w
	for ; i != h.n; i++ {
		r[(i-shift)&mask], cum[(i-shift)&mask] = r[i&mask], cum[i&mask]
	}
	// Boundaries in the merged part started a run each; the rest moved down by shift.
	for b := range h.idx {
		if h.idx[b] >= stop {
			h.idx[b] -= shift
		} else {
			h.idx[b] = newIdx[b]
		}
	}
	h.n -= shift
	e.coarsenings++
	e.coarseSym = id
}

// isBoundary reports whether ring position i is where a window boundary stands.
func (h *symHot) isBoundary(i uint32) bool {
	return i == h.idx[0] || i == h.idx[1] || i == h.idx[2] || i == h.idx[3]
}

// checkCoarse counts the tick in Coarse when a window boundary falls inside a coarsened
// second that holds ticks on both sides of it (conservatively: any merged entry whose
// second holds the boundary).
func (e *Engine) checkCoarse(id SymbolID, h *symHot, off int32) {
	c := &e.cold[id]
	mask := uint32(len(h.ring) - 1)
	for b := range h.idx {
		i := h.idx[b]
		bound := off - boundLag[b]
		if i == 0 || i == h.n || bound < 0 {
			continue
		}
		if c.cum[i&mask]-c.cum[(i-1)&mask] > 1 && h.ring[i&mask].t/1000 == bound/1000 {
			e.countCoarse()
			return
		}
	}
}

// countCoarse counts the current tick in Coarse, once however many of its boundaries fell
// in merged seconds.
func (e *Engine) countCoarse() {
	if e.coarseAt != e.ticks {
		e.coarseAt = e.ticks
		e.coarse++
	}
}

// advance moves every window boundary up to the tick time off. It loads each boundary's
// next stored entry before seeking any: they are independent cache misses (the ring is
// far bigger than the caches when there are many symbols), which overlap when issued
// together instead of being met one seek at a time.
func (h *symHot) advance(off int32) {
	r, m := h.ringMask()
	n := h.n
	iW, iS, iM, iL := h.idx[bW], h.idx[bShort], h.idx[bMedium], h.idx[bLong]
	tW, tS, tM, tL := r[int(iW)&m].t, r[int(iS)&m].t, r[int(iM)&m].t, r[int(iL)&m].t
	h.idx[bW] = seek(r, m, iW, n, off-surgeWindowMs, tW)
	h.idx[bShort] = seek(r, m, iS, n, off-trendShortMs, tS)
	h.idx[bMedium] = seek(r, m, iM, n, off-trendMediumMs, tM)
	h.idx[bLong] = seek(r, m, iL, n, off-trendLongMs, tL)
}

// seek advances i past every stored entry at or before bound; t is the time at i. Most
// ticks move a boundary by zero or one entry, so that step is taken without a branch
// (which would mispredict half the time); further entries take the loop. m is the
// ring's mask, len(r)-1 (see ringMask).
func seek(r []sample, m int, i, n uint32, bound, t int32) uint32 {
	i += b2u(i != n) & b2u(t <= bound)
	t = r[int(i)&m].t
	for i != n && t <= bound {
		i++
		t = r[int(i)&m].t
	}
	return i
}

// ringMask returns the symbol's ring and the mask of its positions, len-1, as an int
// known to be non-negative: the compiler then proves r[int(pos)&m] in bounds, sparing
// the hot path a bounds check at every ring access.
func (h *symHot) ringMask() ([]sample, int) {
	r := h.ring
	m := len(r) - 1
	if m < 0 {
		panic("market: empty window ring")
	}
	return r, m
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

func (e *Engine) highLow(id SymbolID, kind EventKind, p float64, ms int64) Event {
	h, c := &e.hot[id], &e.cold[id]
	count := c.highCount
	if kind == KindLow {
		count = c.lowCount
	}
	rev := c.lastHLKind != 0 && c.lastHLKind != kind
	c.lastHLKind = kind
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
		Phase:       e.phaseAt(ms),
		Reversal:    rev,
	}}
}

// windowTicks is how many ticks the ring holds from position i to the head.
func (e *Engine) windowTicks(id SymbolID, h *symHot, i uint32) uint32 {
	if !h.coarse || i == 0 {
		return h.n - i
	}
	return h.ticks - e.cold[id].cum[(i-1)&uint32(len(h.ring)-1)]
}

// trend scores the three windows and emits a trend event when due.
func (e *Engine) trend(id SymbolID, h *symHot, p float64, ms int64, off int32, out []Event) []Event {
	iS, iM, iL := h.idx[bShort], h.idx[bMedium], h.idx[bLong]
	// Windows nest, so the long one's first tick implies the others', and the short
	// one holds the fewest ticks.
	if iL == 0 || (h.n-iS < minWindowTicks && e.windowTicks(id, h, iS) < minWindowTicks) {
		h.trDir, h.trStr, h.sign = 0, StrengthNone, 0
		return out
	}
	r, m := h.ringMask()
	sS := windowScore(p, r[int(iS-1)&m].p)
	sM := windowScore(p, r[int(iM-1)&m].p)
	sL := windowScore(p, r[int(iL-1)&m].p)
	score := 0.3*sS + 0.4*sM + 0.3*sL

	dir := signOf(score)
	if dir != h.sign {
		h.sign = dir
		h.signSince = off
	}
	str := StrengthNone
	if geq(math.Abs(score), 0.1) { // on most ticks there is no trend to grade
		str = TrendStrength(score)
	}
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
			AgeSeconds: int64(off-h.signSince) / 1000,
			Phase:      e.phaseAt(ms),
		}})
	}
	h.trDir, h.trStr = dir, str
	return out
}

// spanFrom is the session's cumulative volume (mod 2^32) just before the surge span of a
// tick at off (now - W - L, with L clamped at the session start): that of the last stored
// entry at or before max(off - 330 s, 0), or 0 when there is none. The span starts between
// the medium and W boundaries (off - 360 s <= it <= off - 30 s, since a surge needs
// off >= 90 s), so it is a binary search of that stretch of the ring. When coarsening has
// merged the second holding the span's start, that second counts as inside the span, as
// for the kept boundaries, and the tick is counted in Coarse.
func (e *Engine) spanFrom(id SymbolID, h *symHot, off int32) uint32 {
	bound := max(off-surgeWindowMs-surgeSpanMaxMs, 0)
	r, mask := h.ring, uint32(len(h.ring)-1)
	lo, hi := h.idx[bMedium], h.idx[bW]
	for lo < hi { // the first position with t > bound
		mid := lo + (hi-lo)/2
		if r[mid&mask].t <= bound {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return 0
	}
	if h.coarse && lo != h.n && bound > 0 {
		c := &e.cold[id]
		if c.cum[lo&mask]-c.cum[(lo-1)&mask] > 1 && r[lo&mask].t/1000 == bound/1000 {
			e.countCoarse()
		}
	}
	return r[(lo-1)&mask].cv
}

// signOf is Up for x > 0, Down for x < 0 and 0 otherwise, without branches.
func signOf(x float64) Direction {
	return Direction(b2i(x > 0) - b2i(x < 0))
}

func b2i(b bool) int8 {
	if b {
		return 1
	}
	return 0
}

// windowScore is clamp(r / 1 %, -1, 1) for the return from then to p. The clamp is
// written as comparisons: r is never NaN (prices are positive and finite), so the NaN and
// signed-zero handling the min and max builtins compile to would be wasted instructions.
func windowScore(p, then float64) float64 {
	r := (p - then) / then * 100
	if r > 1 {
		return 1
	}
	if r < -1 {
		return -1
	}
	return r
}

// TrendStrength grades a trend score: strong at |score| >= 0.6, moderate at >= 0.3, weak at
// >= 0.1, and StrengthNone (no trend) below.
func TrendStrength(score float64) Strength {
	a := math.Abs(score)
	return Strength(b2i(geq(a, 0.1)) + b2i(geq(a, 0.3)) + b2i(geq(a, 0.6)))
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
	r, m := h.ringMask()
	before := &r[int(iW-1)&m]
	then := before.p
	pct := (p - then) / then
	if !geq(math.Abs(pct), 0.5*minSurgeThreshold) {
		// Below every band's 0.5 thr, so below every trigger's price condition (the usual
		// case): skip the band lookup as well as the volume math.
		return out
	}
	thr := SurgeThreshold(p)
	if !geq(math.Abs(pct), 0.5*thr) {
		return out
	}
	dir, slot := Up, 1
	if pct < 0 {
		dir, slot = Down, 0
	}
	if int64(off)-int64(h.lastSurge[slot]) < surgeQuietMs {
		return out
	}
	span = min(span, surgeSpanMaxMs)
	spanFrom := e.spanFrom(id, h, off)
	volW, volSpan := uint32(h.sessVol)-before.cv, before.cv-spanFrom
	mult := surgeZeroMean
	if mean := float64(volSpan) * surgeWindowMs / float64(span); mean != 0 {
		mult = float64(volW) / mean
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
		Phase:          e.phaseAt(ms),
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
