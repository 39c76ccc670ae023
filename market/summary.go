package market

import "math"

// Tick-count windows of the market summary, in ms of tick time.
const (
	summary10s  = 10_000
	summary60s  = 60_000
	summary300s = 300_000
)

// Activity levels of the market summary, by ticks per minute.
const (
	ActivityQuiet    = "quiet"
	ActivityLow      = "low"
	ActivityMedium   = "medium"
	ActivityHigh     = "high"
	ActivityVeryHigh = "very_high"
	ActivityExtreme  = "extreme"
)

// Summary is the market summary over a set of symbols (SPEC section 4), with the SPEC's JSON
// names. Highs and Lows count this session's high and low events; Breadth is
// highs/(highs+lows)*100 rounded to 2 decimals, or 50 when both are 0. The tick counts are
// over the last 10, 60 and 300 s of tick time, ending at the latest tick the engine saw.
type Summary struct {
	UniverseSize int     `json:"universe_size"`
	Highs        int     `json:"highs"`
	Lows         int     `json:"lows"`
	Breadth      float64 `json:"breadth"`
	Ticks10s     int     `json:"ticks_10s"`
	Ticks60s     int     `json:"ticks_60s"`
	Ticks300s    int     `json:"ticks_300s"`
	Activity     string  `json:"activity"`
}

// ActivityLevel names the activity for a rate in ticks per minute: below 30 quiet, 60 low,
// 120 medium, 240 high, 480 very_high, else extreme.
func ActivityLevel(ticksPerMinute int) string {
	switch {
	case ticksPerMinute < 30:
		return ActivityQuiet
	case ticksPerMinute < 60:
		return ActivityLow
	case ticksPerMinute < 120:
		return ActivityMedium
	case ticksPerMinute < 240:
		return ActivityHigh
	case ticksPerMinute < 480:
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

// symCounts is one symbol's contribution to a summary.
type symCounts struct {
	highs, lows, t10, t60, t300 int32
}

// Snapshot is a frozen copy of every symbol's summary figures at one moment, so summaries
// for any number of symbol sets can be computed later, from any goroutine, without touching
// the engine. It is immutable and safe for concurrent use.
type Snapshot struct {
	// Now is the latest tick time the engine had seen (0 before any tick).
	Now    Millis
	ids    map[string]SymbolID
	counts []symCounts
}

// Snapshot captures the figures the market summary needs. It allocates one slice for all
// symbols; call it once per emission, not per symbol set.
func (e *Engine) Snapshot() *Snapshot {
	s := &Snapshot{ids: e.ids, counts: make([]symCounts, len(e.hot))}
	e.shared = true
	if e.now == never {
		return s
	}
	s.Now = Millis(e.now)
	for i := range e.hot {
		h := &e.hot[i]
		if h.start == never || h.start+int64(h.endOff) <= e.now {
			continue // no tick in the current NY session
		}
		s.counts[i] = symCounts{
			highs: e.cold[i].highCount,
			lows:  e.cold[i].lowCount,
			t10:   h.ticksSince(e.now - summary10s),
			t60:   h.ticksSince(e.now - summary60s),
			t300:  h.ticksSince(e.now - summary300s),
		}
	}
	return s
}

// ticksSince counts stored ticks of the current session newer than the Unix ms bound.
func (h *symHot) ticksSince(bound int64) int32 {
	off := bound - h.start
	if int64(h.lastOff) <= off {
		return 0
	}
	var lo uint32
	if h.idx[bLong] > 0 {
		lo = h.idx[bLong] - 1
	}
	if off < 0 {
		return int32(h.n - lo)
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
	return int32(h.n - lo)
}

// Summary computes the market summary over symbols, which should be unique (UnionSymbols
// makes them so); UniverseSize is len(symbols). Symbols the engine never saw count as
// silent, and so does everything on a nil Snapshot. It does not allocate.
func (s *Snapshot) Summary(symbols []string) Summary {
	out := Summary{UniverseSize: len(symbols), Breadth: 50, Activity: ActivityQuiet}
	if s == nil {
		return out
	}
	for _, sym := range symbols {
		id, ok := s.ids[sym]
		if !ok || int(id) >= len(s.counts) {
			continue
		}
		c := s.counts[id]
		out.Highs += int(c.highs)
		out.Lows += int(c.lows)
		out.Ticks10s += int(c.t10)
		out.Ticks60s += int(c.t60)
		out.Ticks300s += int(c.t300)
	}
	out.Breadth = Breadth(out.Highs, out.Lows)
	out.Activity = ActivityLevel(out.Ticks60s)
	return out
}
