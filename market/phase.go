package market

import (
	"fmt"
	"time"
)

// Phase is the US equity market's phase at a moment (SPEC section 4): pre-market, the
// regular session, after-hours, or closed.
type Phase uint8

// Phases. The zero value is PhaseClosed, so a zero Summary reads "closed" rather than a
// phase that invites trading.
const (
	PhaseClosed  Phase = iota
	PhasePre           // 04:00-09:30 New York time on a trading day
	PhaseRegular       // 09:30-16:00
	PhaseAfter         // 16:00-20:00
)

var phaseNames = [...]string{"closed", "pre", "regular", "after"}

// String returns "closed", "pre", "regular" or "after", the SPEC's JSON values.
func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("Phase(%d)", uint8(p))
}

// MarshalText encodes the phase as its SPEC name, so JSON carries "phase":"regular".
func (p Phase) MarshalText() ([]byte, error) {
	if int(p) >= len(phaseNames) {
		return nil, fmt.Errorf("market: marshal phase %d: unknown phase", uint8(p))
	}
	return []byte(phaseNames[p]), nil
}

// UnmarshalText parses a phase name written by MarshalText, so events and summaries cross
// the bus intact.
func (p *Phase) UnmarshalText(b []byte) error {
	for i, n := range phaseNames {
		if string(b) == n {
			*p = Phase(i)
			return nil
		}
	}
	return fmt.Errorf("market: parse phase %q: want closed, pre, regular or after", b)
}

// Phase boundaries, as minutes after midnight New York time.
const (
	preOpenMin  = 4 * 60
	regularMin  = 9*60 + 30
	afterMin    = 16 * 60
	afterEndMin = 20 * 60
)

// nyseHolidays are the days the NYSE is closed all day in 2025-2027, besides weekends. The
// exchange also closes early (13:00) on some days (the day after Thanksgiving, Christmas
// Eve, the eve of Independence Day); the SPEC has no early closes, so those days keep the
// 16:00 close, and after-hours starts at 16:00 as on any other day.
var nyseHolidays = map[civilDate]string{
	{2025, time.January, 1}:   "New Year's Day",
	{2025, time.January, 9}:   "National Day of Mourning for President Carter",
	{2025, time.January, 20}:  "Martin Luther King Jr. Day",
	{2025, time.February, 17}: "Washington's Birthday",
	{2025, time.April, 18}:    "Good Friday",
	{2025, time.May, 26}:      "Memorial Day",
	{2025, time.June, 19}:     "Juneteenth",
	{2025, time.July, 4}:      "Independence Day",
	{2025, time.September, 1}: "Labor Day",
	{2025, time.November, 27}: "Thanksgiving Day",
	{2025, time.December, 25}: "Christmas Day",
	{2026, time.January, 1}:   "New Year's Day",
	{2026, time.January, 19}:  "Martin Luther King Jr. Day",
	{2026, time.February, 16}: "Washington's Birthday",
	{2026, time.April, 3}:     "Good Friday",
	{2026, time.May, 25}:      "Memorial Day",
	{2026, time.June, 19}:     "Juneteenth",
	{2026, time.July, 3}:      "Independence Day (observed)",
	{2026, time.September, 7}: "Labor Day",
	{2026, time.November, 26}: "Thanksgiving Day",
	{2026, time.December, 25}: "Christmas Day",
	{2027, time.January, 1}:   "New Year's Day",
	{2027, time.January, 18}:  "Martin Luther King Jr. Day",
	{2027, time.February, 15}: "Washington's Birthday",
	{2027, time.March, 26}:    "Good Friday",
	{2027, time.May, 31}:      "Memorial Day",
	{2027, time.June, 18}:     "Juneteenth (observed)",
	{2027, time.July, 5}:      "Independence Day (observed)",
	{2027, time.September, 6}: "Labor Day",
	{2027, time.November, 25}: "Thanksgiving Day",
	{2027, time.December, 24}: "Christmas Day (observed)",
}

// civilDate is a calendar day, without a zone.
type civilDate struct {
	y int
	m time.Month
	d int
}

// Holiday returns the name of the NYSE holiday on the New York calendar day of t, or "" if
// there is none (or the year is outside 2025-2027, which the table covers).
func Holiday(t time.Time) string {
	y, m, d := t.In(nyLoc).Date()
	return nyseHolidays[civilDate{y, m, d}]
}

// nyLoc is America/New_York; time/tzdata (imported by engine.go) makes it load everywhere.
var nyLoc = mustNY()

func mustNY() *time.Location {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		// Unreachable: time/tzdata is linked in.
		panic("market: load America/New_York: " + err.Error())
	}
	return ny
}

// nyDay is one New York calendar day with its phase boundaries as Unix ms, so a phase is a
// few comparisons. On a weekend or holiday every boundary is the day's end: closed all day.
type nyDay struct {
	from, to                    int64 // [midnight, next midnight)
	pre, regular, after, closed int64 // 04:00, 09:30, 16:00, 20:00
}

// dayOf returns the New York day holding the Unix ms instant ms.
func dayOf(ms int64) nyDay {
	y, m, d := time.UnixMilli(ms).In(nyLoc).Date()
	at := func(min int) int64 { return time.Date(y, m, d, min/60, min%60, 0, 0, nyLoc).UnixMilli() }
	day := nyDay{from: at(0), to: time.Date(y, m, d+1, 0, 0, 0, 0, nyLoc).UnixMilli()}
	wd := time.Date(y, m, d, 12, 0, 0, 0, nyLoc).Weekday()
	if wd == time.Saturday || wd == time.Sunday || nyseHolidays[civilDate{y, m, d}] != "" {
		day.pre, day.regular, day.after, day.closed = day.to, day.to, day.to, day.to
		return day
	}
	day.pre, day.regular, day.after, day.closed = at(preOpenMin), at(regularMin), at(afterMin), at(afterEndMin)
	return day
}

// phase is the phase at ms, which must lie in the day.
func (d *nyDay) phase(ms int64) Phase {
	switch {
	case ms < d.pre || ms >= d.closed:
		return PhaseClosed
	case ms < d.regular:
		return PhasePre
	case ms < d.after:
		return PhaseRegular
	}
	return PhaseAfter
}

// next returns the first phase change after ms within the day, or ok false when the day
// holds none (it ends closed).
func (d *nyDay) next(ms int64) (Phase, int64, bool) {
	switch {
	case ms < d.pre:
		return PhasePre, d.pre, d.pre < d.to
	case ms < d.regular:
		return PhaseRegular, d.regular, true
	case ms < d.after:
		return PhaseAfter, d.after, true
	case ms < d.closed:
		return PhaseClosed, d.closed, true
	}
	return 0, 0, false
}

// PhaseAt returns the market phase at t (SPEC section 4): from its time in
// America/New_York, pre 04:00-09:30, regular 09:30-16:00, after 16:00-20:00, else closed;
// weekends and the NYSE holidays of 2025-2027 are closed all day. Each boundary belongs to
// the phase it starts (09:30:00.000 is regular).
func PhaseAt(t time.Time) Phase {
	ms := t.UnixMilli()
	d := dayOf(ms)
	return d.phase(ms)
}

// NextPhaseChange returns the phase that follows t's phase and the moment it starts, so the
// dashboard can say "opens in 2h 14m". Over a weekend or a holiday it looks ahead to the next
// trading day's 04:00 pre-market (at most 10 days, which no calendar of the table exceeds).
func NextPhaseChange(t time.Time) (Phase, time.Time) {
	ms := t.UnixMilli()
	for range 10 {
		d := dayOf(ms)
		if p, at, ok := d.next(ms); ok {
			return p, time.UnixMilli(at).In(nyLoc)
		}
		ms = d.to
	}
	// Unreachable with the holiday table: no ten days in a row are closed.
	return PhaseClosed, time.UnixMilli(ms).In(nyLoc)
}
