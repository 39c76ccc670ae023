package settings

import "github.com/tickstock/tickstock/market"

// SymbolSet is the set of symbols a selection of universes covers. It is immutable once
// built, so one set is shared by every group and goroutine that selected the same
// universes; the zero value is the empty set.
type SymbolSet struct {
	set  map[string]struct{}
	list []string // sorted
	sel  *market.Selection
}

// NewSymbolSet builds a set from symbol lists (duplicates are fine), the union of them all.
func NewSymbolSet(lists ...[]string) SymbolSet {
	sel := market.NewSelection(lists...)
	list := sel.Symbols()
	set := make(map[string]struct{}, len(list))
	for _, s := range list {
		set[s] = struct{}{}
	}
	return SymbolSet{set: set, list: list, sel: sel}
}

// Selection is the set as a market.Selection, for its market summary. The set's
// Selection lives as long as the set, which SymbolSet caches for everyone who selected
// the same universes, so page loads share its summary of each market snapshot.
func (s SymbolSet) Selection() *market.Selection {
	if s.sel == nil {
		return noSymbols
	}
	return s.sel
}

// noSymbols is the zero SymbolSet's Selection.
var noSymbols = market.NewSelection()

// Has reports whether sym is in the set. It does not allocate.
func (s SymbolSet) Has(sym string) bool {
	_, ok := s.set[sym]
	return ok
}

// Len is the number of symbols: a market summary's universe_size.
func (s SymbolSet) Len() int { return len(s.list) }

// Symbols returns the symbols sorted, as market.Snapshot.Summary wants them. The slice is
// shared: do not modify it.
func (s SymbolSet) Symbols() []string { return s.list }

// Matcher is a user's filters compiled for the publisher's hot path: enums parsed to
// market values, price ranges folded into a bit mask, and the highlow symbol set resolved.
// Build one per settings group per emission (or keep it while the group lives) and call
// Match for each event; Match does not allocate. A Matcher is read-only, so goroutines may
// share it.
type Matcher struct {
	symbols        SymbolSet
	minCount       int64
	minVolume      int64
	trendMin       market.Strength
	trendDir       market.Direction // 0: both
	surgeMin       market.Strength
	surgeOnlyPAndV bool
	ranges         uint8 // rangeBit of each allowed price range
}

// NewMatcher compiles filters for events of the symbols in highlow, the symbol set of the
// user's highlow universes. It returns the 422 error of Validate for invalid filters.
func NewMatcher(f Filters, highlow SymbolSet) (*Matcher, error) {
	m, err := compile(f, highlow)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

func compile(f Filters, highlow SymbolSet) (Matcher, error) {
	if err := f.Validate(); err != nil {
		return Matcher{}, err
	}
	m := Matcher{
		symbols:   highlow,
		minCount:  f.HighLow.MinCount,
		minVolume: f.HighLow.MinVolume,
	}
	m.trendMin, _ = parseStrength(f.Trends.MinStrength)
	m.trendDir, _ = parseDirection(f.Trends.Direction)
	m.surgeMin, _ = parseStrength(f.Surges.MinStrength)
	m.surgeOnlyPAndV, _ = parseTrigger(f.Surges.Trigger)
	m.ranges, _ = rangeMask(labelStyle, f.Surges.PriceRanges)
	return m, nil
}

// Symbols is the highlow symbol set the matcher was built with.
func (m *Matcher) Symbols() SymbolSet { return m.symbols }

// Match reports whether the user sees e (SPEC section 5). Every kind needs the symbol in
// the user's highlow universes; then
//   - a high or low needs count ≥ min_count and session volume ≥ min_volume;
//   - a trend needs strength at least min_strength and a direction that direction allows;
//   - a surge needs strength at least min_strength, trigger price_and_volume when the
//     filter says so, and its price's range (market.PriceRange) among price_ranges.
//
// An event of no known kind is not shown.
func (m *Matcher) Match(e *market.Event) bool {
	switch e.Kind {
	case market.KindHigh, market.KindLow:
		hl := &e.HighLow
		return int64(hl.Count) >= m.minCount && hl.Volume >= m.minVolume && m.symbols.Has(hl.Symbol)
	case market.KindTrend:
		t := &e.Trend
		return t.Strength.AtLeast(m.trendMin) &&
			(m.trendDir == 0 || t.Direction == m.trendDir) &&
			m.symbols.Has(t.Symbol)
	case market.KindSurge:
		s := &e.Surge
		return s.Strength.AtLeast(m.surgeMin) &&
			(!m.surgeOnlyPAndV || s.Trigger == market.TriggerPriceAndVolume) &&
			m.ranges&rangeBit(market.PriceRange(s.Price)) != 0 &&
			m.symbols.Has(s.Symbol)
	}
	return false
}

// Filter appends to dst the events of src that Match allows and returns the extended
// slice; with a reused dst it allocates nothing.
func (m *Matcher) Filter(dst, src []market.Event) []market.Event {
	for i := range src {
		if m.Match(&src[i]) {
			dst = append(dst, src[i])
		}
	}
	return dst
}

// Shows is the filter as one pure function: whether a user with filters and the symbol set
// of their highlow universes sees event. It compiles the filters on every call (without
// allocating); loops over many events should build a Matcher once instead. Invalid filters
// show nothing: failing closed never leaks an event the user did not ask for.
func Shows(event market.Event, filters Filters, highlowSymbols SymbolSet) bool {
	m, err := compile(filters, highlowSymbols)
	if err != nil {
		return false
	}
	return m.Match(&event)
}
