package settings

import (
	"slices"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/market"
)

// Trackers: the two places a user chooses universes for. TrackerHighLow decides which
// symbols reach the highs, lows, trend and surge panels; TrackerMarket decides what the
// market summary covers.
const (
	TrackerHighLow = "highlow"
	TrackerMarket  = "market"
)

// DefaultUniverse is what both trackers use until the user chooses otherwise (a tracker
// with no stored rows).
const DefaultUniverse = "DEFAULT_UNIVERSE"

// Filter enum values, exactly as they appear in JSON and in form fields.
const (
	StrengthWeak     = "weak"
	StrengthModerate = "moderate"
	StrengthStrong   = "strong"

	DirectionBoth = "both"
	DirectionUp   = "up"
	DirectionDown = "down"

	TriggerAny            = "any"
	TriggerPriceAndVolume = "price_and_volume"

	RangePenny = market.RangePenny // below $5
	RangeLow   = market.RangeLow   // $5 to below $25
	RangeMid   = market.RangeMid   // $25 to below $100
	RangeHigh  = market.RangeHigh  // $100 and up
)

// Field paths: the names of the filter form fields and the Field of validation errors, so
// a view can put each message next to its input. They are the dotted JSON paths.
const (
	FieldMinCount       = "highlow.min_count"
	FieldMinVolume      = "highlow.min_volume"
	FieldTrendStrength  = "trends.min_strength"
	FieldTrendDirection = "trends.direction"
	FieldSurgeStrength  = "surges.min_strength"
	FieldSurgeTrigger   = "surges.trigger"
	FieldPriceRanges    = "surges.price_ranges"
	FieldAlertsEnabled  = "alerts.enabled"
	FieldAlertsSound    = "alerts.sound"
	FieldAlertsNotify   = "alerts.notify"
	FieldOneRow         = "display.one_row_per_symbol"
	FieldFilterData     = "filter_data"
	FieldTracker        = "tracker"
	FieldUniverses      = "universes"
	FieldCSRF           = "_csrf" // ignored by the form parsers; the CSRF middleware owns it
)

// MaxFilterInt caps min_count and min_volume at the largest integer JavaScript holds
// exactly, so a value saved through the API reads back unchanged in a browser.
const MaxFilterInt = 1<<53 - 1

// Filters are one user's event filters, with the JSON shape of SPEC section 5. A Filters
// that passed Validate (every parser here returns only such values) is safe to compile into
// a Matcher. Alerts change what the dashboard does with events, not which events the
// stream carries, so they take no part in matching or in the grouping key.
type Filters struct {
	HighLow HighLowFilters `json:"highlow"`
	Trends  TrendFilters   `json:"trends"`
	Surges  SurgeFilters   `json:"surges"`
	Alerts  AlertFilters   `json:"alerts"`
	Display Display        `json:"display"`
}

// AlertFilters are the user's opt-in alerts (SPEC section 13): while Enabled, an event on
// a symbol of one of the user's watchlists that reaches the dashboard plays a sound (when
// Sound) and shows a desktop notification (when Notify and the browser allows it).
type AlertFilters struct {
	Enabled bool `json:"enabled"`
	Sound   bool `json:"sound"`
	Notify  bool `json:"notify"`
}

// HighLowFilters hide highs and lows below a session count or session volume, so a trader
// can ignore the first small moves of the day.
type HighLowFilters struct {
	MinCount  int64 `json:"min_count"`  // the event's count must be at least this
	MinVolume int64 `json:"min_volume"` // the event's session volume must be at least this
}

// TrendFilters choose which trends are shown.
type TrendFilters struct {
	MinStrength string `json:"min_strength"` // weak, moderate or strong: at least this
	Direction   string `json:"direction"`    // both, up or down
}

// SurgeFilters choose which surges are shown.
type SurgeFilters struct {
	MinStrength string   `json:"min_strength"` // weak, moderate or strong: at least this
	Trigger     string   `json:"trigger"`      // any, or only price_and_volume surges
	PriceRanges []string `json:"price_ranges"` // penny, low, mid, high; never empty
}

// Display is how the dashboard lays out the events it gets (SPEC section 13). It changes
// what the page does, not which events the stream carries, so it is no part of the
// settings group key: users who differ only here share one rendering.
type Display struct {
	// OneRowPerSymbol makes the newest event replace that symbol's row in a panel, with a
	// repeat count, so a few busy symbols cannot fill a panel.
	OneRowPerSymbol bool `json:"one_row_per_symbol"`
}

// DefaultFilters are the filters of a user who never saved any (SPEC section 5): every high
// and low, moderate or stronger trends both ways, every surge.
func DefaultFilters() Filters {
	return Filters{
		HighLow: HighLowFilters{MinCount: 0, MinVolume: 0},
		Trends:  TrendFilters{MinStrength: StrengthModerate, Direction: DirectionBoth},
		Surges: SurgeFilters{
			MinStrength: StrengthWeak,
			Trigger:     TriggerAny,
			PriceRanges: PriceRangeOptions(),
		},
		Alerts: AlertFilters{Enabled: false, Sound: true, Notify: true},
	}
}

// StrengthOptions lists the min_strength values, weakest first, for a form's select.
func StrengthOptions() []string {
	return []string{StrengthWeak, StrengthModerate, StrengthStrong}
}

// DirectionOptions lists the trends.direction values for a form's select.
func DirectionOptions() []string { return []string{DirectionBoth, DirectionUp, DirectionDown} }

// TriggerOptions lists the surges.trigger values for a form's select.
func TriggerOptions() []string { return []string{TriggerAny, TriggerPriceAndVolume} }

// PriceRangeOptions lists the price ranges in their canonical order, cheapest first. Stored
// and compared price_ranges always use this order.
func PriceRangeOptions() []string { return []string{RangePenny, RangeLow, RangeMid, RangeHigh} }

// TrackerOptions lists the trackers, in the order the settings page shows them.
func TrackerOptions() []string { return []string{TrackerHighLow, TrackerMarket} }

// PriceRangeLabel is the human label of a price range for a checkbox ("Penny (under $5)"),
// or the name itself if it is not a range.
func PriceRangeLabel(name string) string {
	switch name {
	case RangePenny:
		return "Penny (under $5)"
	case RangeLow:
		return "Low ($5 to $25)"
	case RangeMid:
		return "Mid ($25 to $100)"
	case RangeHigh:
		return "High ($100 and up)"
	}
	return name
}

// FieldLabel is the human name of a field path, for messages next to form inputs.
func FieldLabel(field string) string {
	switch field {
	case FieldMinCount:
		return "Minimum count"
	case FieldMinVolume:
		return "Minimum volume"
	case FieldTrendStrength:
		return "Minimum trend strength"
	case FieldTrendDirection:
		return "Trend direction"
	case FieldSurgeStrength:
		return "Minimum surge strength"
	case FieldSurgeTrigger:
		return "Surge trigger"
	case FieldPriceRanges:
		return "Price ranges"
	case FieldAlertsEnabled:
		return "Alerts"
	case FieldAlertsSound:
		return "Alert sound"
	case FieldAlertsNotify:
		return "Desktop notifications"
	case FieldOneRow:
		return "One row per symbol"
	case FieldTracker:
		return "Tracker"
	case FieldUniverses:
		return "Universes"
	}
	return field
}

// Clone returns a deep copy, so a caller may change the result without touching a cached
// value.
func (f Filters) Clone() Filters {
	f.Surges.PriceRanges = slices.Clone(f.Surges.PriceRanges)
	return f
}

// Normalized returns a copy with price_ranges deduplicated and in canonical order (unknown
// names are kept, after the known ones, for Validate to report). Equal filters then compare
// and serialise equally, which the grouping key relies on.
func (f Filters) Normalized() Filters {
	f.Surges.PriceRanges = normalizeRanges(f.Surges.PriceRanges)
	return f
}

func normalizeRanges(in []string) []string {
	out := make([]string, 0, len(in))
	for _, r := range PriceRangeOptions() {
		if slices.Contains(in, r) {
			out = append(out, r)
		}
	}
	for _, r := range in {
		if rangeBit(r) == 0 && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// Validate reports the first rule f breaks, as a 422 *tickstock.Error whose Field is the
// field path, in the order the form shows the fields. It is the last check before a save,
// so a Filters built by hand can never be stored broken.
func (f Filters) Validate() error { return f.validate(labelStyle) }

func (f Filters) validate(st msgStyle) error {
	if err := checkInt(st, FieldMinCount, f.HighLow.MinCount); err != nil {
		return err
	}
	if err := checkInt(st, FieldMinVolume, f.HighLow.MinVolume); err != nil {
		return err
	}
	if _, ok := parseStrength(f.Trends.MinStrength); !ok {
		return badStrength(st, FieldTrendStrength)
	}
	if _, ok := parseDirection(f.Trends.Direction); !ok {
		return badDirection(st)
	}
	if _, ok := parseStrength(f.Surges.MinStrength); !ok {
		return badStrength(st, FieldSurgeStrength)
	}
	if _, ok := parseTrigger(f.Surges.Trigger); !ok {
		return badTrigger(st)
	}
	if _, err := rangeMask(st, f.Surges.PriceRanges); err != nil {
		return err
	}
	return nil
}

// nonDefaultFields counts the filter fields (of 7) that differ from DefaultFilters; Stats
// averages it over cached users to show how much traders personalise.
func (f Filters) nonDefaultFields() int {
	d := DefaultFilters()
	n := 0
	for _, differs := range []bool{
		f.HighLow.MinCount != d.HighLow.MinCount,
		f.HighLow.MinVolume != d.HighLow.MinVolume,
		f.Trends.MinStrength != d.Trends.MinStrength,
		f.Trends.Direction != d.Trends.Direction,
		f.Surges.MinStrength != d.Surges.MinStrength,
		f.Surges.Trigger != d.Surges.Trigger,
		!slices.Equal(normalizeRanges(f.Surges.PriceRanges), d.Surges.PriceRanges),
	} {
		if differs {
			n++
		}
	}
	return n
}

// parseStrength accepts only the three filter strengths (market also knows "none", which
// is no trend at all and so no sensible minimum).
func parseStrength(s string) (market.Strength, bool) {
	switch s {
	case StrengthWeak:
		return market.StrengthWeak, true
	case StrengthModerate:
		return market.StrengthModerate, true
	case StrengthStrong:
		return market.StrengthStrong, true
	}
	return market.StrengthNone, false
}

// parseDirection maps both to 0, the "any direction" of a Matcher.
func parseDirection(s string) (market.Direction, bool) {
	switch s {
	case DirectionBoth:
		return 0, true
	case DirectionUp:
		return market.Up, true
	case DirectionDown:
		return market.Down, true
	}
	return 0, false
}

// parseTrigger reports whether only price_and_volume surges pass.
func parseTrigger(s string) (onlyPriceAndVolume, ok bool) {
	switch s {
	case TriggerAny:
		return false, true
	case TriggerPriceAndVolume:
		return true, true
	}
	return false, false
}

// rangeBit is the bit of a price range in a Matcher's mask, 0 for an unknown name.
func rangeBit(r string) uint8 {
	switch r {
	case RangePenny:
		return 1
	case RangeLow:
		return 2
	case RangeMid:
		return 4
	case RangeHigh:
		return 8
	}
	return 0
}

// rangeMask validates a price_ranges list and folds it into a bit mask. An empty list is
// refused: it would hide every surge for good, which is surely a slip (an unticked box)
// rather than a wish, and there is no other way to notice it on the page.
func rangeMask(st msgStyle, ranges []string) (uint8, error) {
	var m uint8
	for _, r := range ranges {
		b := rangeBit(r)
		if b == 0 {
			return 0, fieldErr(st, FieldPriceRanges, "has unknown range %s; choose from penny, low, mid and high.", quote(r))
		}
		m |= b
	}
	if m == 0 {
		return 0, fieldErr(st, FieldPriceRanges, "must include at least one range.")
	}
	return m, nil
}

func checkInt(st msgStyle, field string, v int64) error {
	if v < 0 {
		return fieldErr(st, field, "must be 0 or more.")
	}
	if v > MaxFilterInt {
		return fieldErr(st, field, "must be at most %d.", int64(MaxFilterInt))
	}
	return nil
}

func badStrength(st msgStyle, field string) error {
	return fieldErr(st, field, "must be weak, moderate or strong.")
}

func badDirection(st msgStyle) error {
	return fieldErr(st, FieldTrendDirection, "must be both, up or down.")
}

func badTrigger(st msgStyle) error {
	return fieldErr(st, FieldSurgeTrigger, "must be any or price_and_volume.")
}

// msgStyle says how a validation message names its field: by path for JSON clients, who
// have no form to look at ("trends.direction must be ..."), or by label for a message shown
// next to a form input ("Trend direction must be ...").
type msgStyle uint8

const (
	labelStyle msgStyle = iota
	pathStyle
)

// fieldErr builds the 422 error for field, naming it in the given style.
func fieldErr(st msgStyle, field, format string, args ...any) *tickstock.Error {
	name := field
	if st == labelStyle {
		name = FieldLabel(field)
	}
	e := tickstock.FieldError(field, format, args...)
	e.Message = name + " " + e.Message
	return e
}
