package market

import (
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// Tick-count windows of the market summary, in ms of tick time.
const (
	summary10s  = 10_000
	summary60s  = 60_000
	summary300s = 300_000

	// activityMinutes is the span of the activity base: the mean ticks per minute over the
	// last 30 minutes.
	activityMinutes = 30
	// activityMinHistory is the history the activity needs; with less it is medium.
	activityMinHistory = 2 * 60_000
	// cpSlots is how many per-minute checkpoints the engine keeps (a power of two above
	// activityMinutes).
	cpSlots  = 32
	minuteMs = 60_000
)

// Activity levels of the market summary: the last minute's ticks against the recent pace
// (see Summary).
const (
	ActivityQuiet    = "quiet"
	ActivityLow      = "low"
	ActivityMedium   = "medium"
	ActivityHigh     = "high"
	ActivityVeryHigh = "very_high"
	ActivityExtreme  = "extreme"
)

// Summary is the market summary over a set of symbols (SPEC section 4), with the SPEC's JSON
// names. Highs and Lows count this session's high and low events; SymbolsWithHighs and
// SymbolsWithLows count the distinct symbols that made at least one ("37 of 103 made new
// highs"); Breadth is highs/(highs+lows)*100 rounded to 2 decimals, or 50 when both are 0.
// The tick counts are over the last 10, 60 and 300 s of tick time, ending at the latest tick
// the engine saw, and Phase is the market phase at that tick.
//
// Activity compares the last minute with the recent pace, so it means the same on any feed:
// base is the mean ticks per minute of these symbols since the start of the minute 29
// minutes before the latest tick's minute (the last 29 to 30 minutes, counted from
// per-minute checkpoints), or since the session's first tick of these symbols when that is
// later; x = ticks_60s / base; x < 0.5 is quiet, < 0.8 low, < 1.25 medium, < 2 high, < 4
// very_high, else extreme. With less than 2 minutes of history, or no ticks, it is medium.
//
// NextPhase and NextPhaseAt (not in the JSON) say which phase comes next and when, from the
// latest tick's time At, for "opens in 2h 14m" (on tick time, so a replay counts down on its
// own clock).
type Summary struct {
	UniverseSize     int     `json:"universe_size"`
	Highs            int     `json:"highs"`
	Lows             int     `json:"lows"`
	Breadth          float64 `json:"breadth"`
	SymbolsWithHighs int     `json:"symbols_with_highs"`
	SymbolsWithLows  int     `json:"symbols_with_lows"`
	Ticks10s         int     `json:"ticks_10s"`
	Ticks60s         int     `json:"ticks_60s"`
	Ticks300s        int     `json:"ticks_300s"`
	Activity         string  `json:"activity"`
	Phase            Phase   `json:"phase"`

	NextPhase   Phase  `json:"-"`
	NextPhaseAt Millis `json:"-"`
	At          Millis `json:"-"`
}

// EmptySummary is the summary of size symbols before any tick: breadth 50, activity
// medium (no history), phase closed.
func EmptySummary(size int) Summary {
	return Summary{UniverseSize: size, Breadth: 50, Activity: ActivityMedium}
}

// ActivityLevel names the activity for x, the last minute's ticks over the mean ticks per
// minute of the recent pace: below 0.5 quiet, 0.8 low, 1.25 medium, 2 high, 4 very_high,
// else extreme.
func ActivityLevel(x float64) string {
	switch {
	case x < 0.5:
		return ActivityQuiet
	case x < 0.8:
		return ActivityLow
	case x < 1.25:
		return ActivityMedium
	case x < 2:
		return ActivityHigh
	case x < 4:
		return ActivityVeryHigh
	}
	return ActivityExtreme
}

// Breadth is highs/(highs+lows)*100 rounded to 2 decimals, or 50 when both are 0.
func Breadth(highs, lows int) float64 {
	if highs+lows == 0 {
		return 50
	}
	return math.Round(float64(highs)/float64(highs+lows)*1e4) / 100
}

// symFigs is one symbol's contribution to a summary, precomputed once per Snapshot so a
// summary is a sum over its symbols. start is 0 when the symbol has no tick in the session
// of the latest tick.
type symFigs struct {
	highs, lows, t10, t60, t300, tBase int32
	start                              int64 // Unix ms of the session's first tick
}

// Snapshot is a frozen copy of every symbol's summary figures at one moment, so summaries
// for any number of symbol sets can be computed later, from any goroutine, without touching
// the engine. It is immutable and safe for concurrent use.
type Snapshot struct {
	// Now is the latest tick time the engine had seen (0 before any tick).
	Now Millis
	// Phase is the market phase at Now.
	Phase     Phase
	next      Phase
	nextAt    Millis
	baseStart int64 // Unix ms where the activity base span starts at the latest
	tab       *symTable
	figs      []symFigs
}

// checkpoint records every symbol's session tick count as the minute of ms begins (before
// the tick at ms is counted), for the activity base.
func (e *Engine) checkpoint(ms int64) {
	m := floorDiv(ms, minuteMs)
	slot := m & (cpSlots - 1)
	if cap(e.cpTicks[slot]) < len(e.hot) {
		// All slots at once, so later minutes do not allocate.
		for k, old := range e.cpTicks {
			e.cpTicks[k] = append(make([]uint32, 0, cap(e.hot)), old...)
		}
	}
	buf := e.cpTicks[slot][:0]
	for i := range e.hot {
		buf = append(buf, e.hot[i].ticks)
	}
	e.cpMin[slot], e.cpTicks[slot] = m, buf
	e.nextMin = (m + 1) * minuteMs
}

// Snapshot captures the figures the market summary needs. It allocates one slice for all
// symbols; call it once per emission, not per symbol set.
func (e *Engine) Snapshot() *Snapshot {
	s := &Snapshot{tab: e.tab, figs: make([]symFigs, len(e.hot))}
	e.shared = true
	if e.now == never {
		return s
	}
	s.Now = Millis(e.now)
	s.Phase = e.phaseAt(e.now)
	next, at := NextPhaseChange(time.UnixMilli(e.now))
	s.next, s.nextAt = next, MillisOf(at)

	// The checkpoint that opens the base span: the earliest one at or after the minute 29
	// minutes before now's. Minutes without one had no ticks at all, so starting at the
	// next checkpoint counts the same ticks.
	first := floorDiv(e.now, minuteMs) - (activityMinutes - 1)
	s.baseStart = first * minuteMs
	cp := -1
	for k := range e.cpMin {
		if e.cpMin[k] >= first && (cp < 0 || e.cpMin[k] < e.cpMin[cp]) {
			cp = k
		}
	}
	var cpTicks []uint32
	var cpStart int64
	if cp >= 0 {
		cpTicks, cpStart = e.cpTicks[cp], e.cpMin[cp]*minuteMs
	}
	for i := range e.hot {
		h := &e.hot[i]
		if h.start == never || h.start+int64(h.endOff) <= e.now {
			continue // no tick in the current NY session
		}
		base := h.ticks
		if h.start < cpStart && i < len(cpTicks) {
			base -= cpTicks[i]
		}
		s.figs[i] = symFigs{
			highs: e.cold[i].highCount,
			lows:  e.cold[i].lowCount,
			t10:   e.ticksSince(SymbolID(i), e.now-summary10s),
			t60:   e.ticksSince(SymbolID(i), e.now-summary60s),
			t300:  e.ticksSince(SymbolID(i), e.now-summary300s),
			tBase: int32(base),
			start: h.start,
		}
	}
	return s
}

// ticksSince counts the current session's ticks newer than the Unix ms bound.
func (e *Engine) ticksSince(id SymbolID, bound int64) int32 {
	h := &e.hot[id]
	off := bound - h.start
	if int64(h.lastOff) <= off {
		return 0
	}
	if off < 0 {
		return int32(h.ticks)
	}
	lo := h.idx[bLong]
	if lo > 0 {
		lo--
	}
	r, mask, hi := h.ring, uint32(len(h.ring)-1), h.n
	for lo < hi { // first position with t > off
		mid := lo + (hi-lo)/2
		if int64(r[mid&mask].t) <= off {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return int32(e.windowTicks(id, h, lo))
}

// Summary computes the market summary over symbols, which should be unique (UnionSymbols
// makes them so); UniverseSize is len(symbols). Symbols the engine never saw count as
// silent, and so does everything on a nil Snapshot. It does not allocate, but it hashes
// every symbol: for a set summarised at every emission, Selection is cheaper.
func (s *Snapshot) Summary(symbols []string) Summary {
	out := EmptySummary(len(symbols))
	if s == nil {
		return out
	}
	var a summaryAcc
	for _, sym := range symbols {
		if id, ok := s.tab.get(sym); ok && int(id) < len(s.figs) {
			a.add(&s.figs[id])
		}
	}
	return s.finish(out, &a)
}

type summaryAcc struct {
	highs, lows, withHighs, withLows, t10, t60, t300, base int
	first                                                  int64
}

func (a *summaryAcc) add(f *symFigs) {
	if f.start == 0 {
		return
	}
	a.highs += int(f.highs)
	a.lows += int(f.lows)
	a.withHighs += int(b2i(f.highs > 0))
	a.withLows += int(b2i(f.lows > 0))
	a.t10 += int(f.t10)
	a.t60 += int(f.t60)
	a.t300 += int(f.t300)
	a.base += int(f.tBase)
	if a.first == 0 || f.start < a.first {
		a.first = f.start
	}
}

func (s *Snapshot) finish(out Summary, a *summaryAcc) Summary {
	out.Highs, out.Lows = a.highs, a.lows
	out.SymbolsWithHighs, out.SymbolsWithLows = a.withHighs, a.withLows
	out.Ticks10s, out.Ticks60s, out.Ticks300s = a.t10, a.t60, a.t300
	out.Breadth = Breadth(a.highs, a.lows)
	out.Phase, out.NextPhase, out.NextPhaseAt, out.At = s.Phase, s.next, s.nextAt, s.Now
	out.Activity = activity(int64(s.Now), s.baseStart, a)
	return out
}

// activity applies the SPEC's rule to a set's sums (see Summary).
func activity(now, baseStart int64, a *summaryAcc) string {
	if a.first == 0 || a.base == 0 || now-a.first < activityMinHistory {
		return ActivityMedium
	}
	span := now - max(baseStart, a.first)
	base := float64(a.base) / (float64(span) / minuteMs)
	return ActivityLevel(float64(a.t60) / base)
}

// Selection is a fixed list of symbols (a settings group's market universes) resolved to
// the engine's SymbolIDs once, so that summarising it at every emission is a walk over an
// array rather than a hash per symbol. It is safe for concurrent use, and remembers the
// last Snapshot it summarised, so groups that share a Selection share the work.
type Selection struct {
	symbols []string
	state   atomic.Pointer[selState]
}

type selState struct {
	lineage *int // the registry the ids were resolved against
	size    int  // its size then: symbols registered later are looked up again
	ids     []SymbolID
	snap    *Snapshot // the last summary, for that snapshot
	sum     Summary
}

// NewSelection returns a Selection of the distinct symbols of lists.
func NewSelection(lists ...[]string) *Selection {
	return &Selection{symbols: UnionSymbols(lists...)}
}

// Symbols returns the selection's symbols, sorted. The slice is shared: do not modify it.
func (sel *Selection) Symbols() []string { return sel.symbols }

// SummaryOf is Summary over the selection's symbols.
func (s *Snapshot) SummaryOf(sel *Selection) Summary {
	out := EmptySummary(len(sel.symbols))
	if s == nil {
		return out
	}
	st := sel.state.Load()
	if st != nil && st.snap == s {
		return st.sum
	}
	var ids []SymbolID
	if st != nil && st.lineage == s.tab.lineage && st.size == s.tab.len() {
		ids = st.ids
	} else {
		ids = make([]SymbolID, 0, len(sel.symbols))
		for _, sym := range sel.symbols {
			if id, ok := s.tab.get(sym); ok {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
	}
	var a summaryAcc
	for _, id := range ids {
		if int(id) < len(s.figs) {
			a.add(&s.figs[id])
		}
	}
	out = s.finish(out, &a)
	sel.state.Store(&selState{lineage: s.tab.lineage, size: s.tab.len(), ids: ids, snap: s, sum: out})
	return out
}
