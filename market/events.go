package market

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// EventKind says which detection rule produced an Event.
type EventKind uint8

// Event kinds. The zero value is not a valid kind, so a zero Event is recognisably empty.
const (
	KindHigh EventKind = iota + 1
	KindLow
	KindTrend
	KindSurge
)

var kindNames = [...]string{"", "high", "low", "trend", "surge"}

// String returns "high", "low", "trend" or "surge".
func (k EventKind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText encodes the kind as its name, so JSON carries "kind":"high".
func (k EventKind) MarshalText() ([]byte, error) {
	if k == 0 || int(k) >= len(kindNames) {
		return nil, fmt.Errorf("market: marshal event kind %d: unknown kind", k)
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText parses a kind name written by MarshalText.
func (k *EventKind) UnmarshalText(b []byte) error {
	for i := 1; i < len(kindNames); i++ {
		if string(b) == kindNames[i] {
			*k = EventKind(i)
			return nil
		}
	}
	return fmt.Errorf("market: parse event kind %q: unknown kind", b)
}

// Direction is the sign of a trend or surge: Up or Down.
type Direction int8

// Directions. The zero value means "no direction".
const (
	Down Direction = -1
	Up   Direction = 1
)

// String returns "up", "down" or "none".
func (d Direction) String() string {
	switch d {
	case Up:
		return "up"
	case Down:
		return "down"
	}
	return "none"
}

// MarshalText encodes the direction as "up" or "down" (SPEC section 4).
func (d Direction) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses "up" or "down", and "none" (no direction, as TrendScores may carry).
func (d *Direction) UnmarshalText(b []byte) error {
	if string(b) == "none" {
		*d = 0
		return nil
	}
	v, err := ParseDirection(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ParseDirection parses "up" or "down"; settings code uses it to validate filters.
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "up":
		return Up, nil
	case "down":
		return Down, nil
	}
	return 0, fmt.Errorf("market: parse direction %q: want up or down", s)
}

// Strength grades a trend or surge. The values are ordered, weak < moderate < strong, so a
// "minimum strength" filter is a plain comparison (see AtLeast).
type Strength uint8

// Strengths in increasing order. StrengthNone means "below weak": no trend.
const (
	StrengthNone Strength = iota
	StrengthWeak
	StrengthModerate
	StrengthStrong
)

var strengthNames = [...]string{"none", "weak", "moderate", "strong"}

// String returns "weak", "moderate", "strong" or "none".
func (s Strength) String() string {
	if int(s) < len(strengthNames) {
		return strengthNames[s]
	}
	return "Strength(" + strconv.Itoa(int(s)) + ")"
}

// AtLeast reports whether s is min or stronger; it is how the settings filter applies
// min_strength.
func (s Strength) AtLeast(min Strength) bool { return s >= min }

// MarshalText encodes the strength as its name (SPEC section 4).
func (s Strength) MarshalText() ([]byte, error) {
	if int(s) >= len(strengthNames) {
		return nil, fmt.Errorf("market: marshal strength %d: unknown strength", s)
	}
	return []byte(strengthNames[s]), nil
}

// UnmarshalText parses a strength name.
func (s *Strength) UnmarshalText(b []byte) error {
	v, err := ParseStrength(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseStrength parses "weak", "moderate" or "strong" (and "none"); settings code uses it to
// validate min_strength.
func ParseStrength(s string) (Strength, error) {
	for i, n := range strengthNames {
		if s == n {
			return Strength(i), nil
		}
	}
	return 0, fmt.Errorf("market: parse strength %q: want weak, moderate or strong", s)
}

// Trigger says which surge rule fired, in the SPEC's order of precedence.
type Trigger uint8

// Surge triggers, in order of precedence.
const (
	TriggerPriceAndVolume Trigger = iota + 1
	TriggerPrice
	TriggerVolume
)

var triggerNames = [...]string{"", "price_and_volume", "price", "volume"}

// String returns "price_and_volume", "price" or "volume".
func (t Trigger) String() string {
	if t != 0 && int(t) < len(triggerNames) {
		return triggerNames[t]
	}
	return "Trigger(" + strconv.Itoa(int(t)) + ")"
}

// MarshalText encodes the trigger as its name (SPEC section 4).
func (t Trigger) MarshalText() ([]byte, error) {
	if t == 0 || int(t) >= len(triggerNames) {
		return nil, fmt.Errorf("market: marshal trigger %d: unknown trigger", t)
	}
	return []byte(triggerNames[t]), nil
}

// UnmarshalText parses a trigger name.
func (t *Trigger) UnmarshalText(b []byte) error {
	v, err := ParseTrigger(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// ParseTrigger parses "price_and_volume", "price" or "volume".
func ParseTrigger(s string) (Trigger, error) {
	for i := 1; i < len(triggerNames); i++ {
		if s == triggerNames[i] {
			return Trigger(i), nil
		}
	}
	return 0, fmt.Errorf("market: parse trigger %q: want price_and_volume, price or volume", s)
}

// HighLowEvent is a new session high (Kind KindHigh) or low (KindLow), SPEC section 4.
// PctChange is in percent against the session's first price (4.0 = +4 %). Reversal marks a
// high whose symbol's previous high or low event this session was a low, or a low after a
// high: the move turned. The label ("HIGH #3") is derived from Kind and Count, so building
// the event allocates nothing; it is included in the JSON.
type HighLowEvent struct {
	Kind        EventKind `json:"kind"`
	Symbol      string    `json:"symbol"`
	Price       float64   `json:"price"`
	Time        Millis    `json:"time"`
	Count       int       `json:"count"`
	CountUp     int       `json:"count_up"`
	CountDown   int       `json:"count_down"`
	Volume      int64     `json:"volume"`
	PctChange   float64   `json:"pct_change"`
	SessionHigh float64   `json:"session_high"`
	SessionLow  float64   `json:"session_low"`
	Phase       Phase     `json:"phase"`
	Reversal    bool      `json:"reversal"`
}

// Label returns "HIGH #n" or "LOW #n".
func (e HighLowEvent) Label() string {
	if e.Kind == KindLow {
		return "LOW #" + strconv.Itoa(e.Count)
	}
	return "HIGH #" + strconv.Itoa(e.Count)
}

type highLowJSON HighLowEvent // no methods: avoids recursion in MarshalJSON

// MarshalJSON writes the SPEC fields plus "label".
func (e HighLowEvent) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		highLowJSON
		Label string `json:"label"`
	}{highLowJSON(e), e.Label()})
}

// TrendEvent reports a trend (SPEC section 4). Score, Short, Medium and Long are the
// combined and per-window scores in [-1, 1]; AgeSeconds is how long the score has kept its
// current sign, in whole seconds of tick time. Phase, as on every event, is the market
// phase at the event's time.
type TrendEvent struct {
	Symbol     string    `json:"symbol"`
	Price      float64   `json:"price"`
	Time       Millis    `json:"time"`
	Direction  Direction `json:"direction"`
	Strength   Strength  `json:"strength"`
	Score      float64   `json:"score"`
	Short      float64   `json:"short"`
	Medium     float64   `json:"medium"`
	Long       float64   `json:"long"`
	AgeSeconds int64     `json:"age_seconds"`
	Phase      Phase     `json:"phase"`
}

// SurgeEvent reports a surge (SPEC section 4). MagnitudePct is the signed 30 s price change
// in percent (-3.5 = down 3.5 %); VolumeMultiple is the 30 s volume over its recent mean.
type SurgeEvent struct {
	Symbol         string    `json:"symbol"`
	Price          float64   `json:"price"`
	Time           Millis    `json:"time"`
	Direction      Direction `json:"direction"`
	Strength       Strength  `json:"strength"`
	Trigger        Trigger   `json:"trigger"`
	MagnitudePct   float64   `json:"magnitude_pct"`
	VolumeMultiple float64   `json:"volume_multiple"`
	Phase          Phase     `json:"phase"`
}

// Event is one detection result as a tagged value: Kind says which of HighLow, Trend or
// Surge is set. It holds no pointers besides the interned symbol string, so the engine can
// append events to a reused slice without allocating.
type Event struct {
	Kind    EventKind
	HighLow HighLowEvent // set when Kind is KindHigh or KindLow
	Trend   TrendEvent   // set when Kind is KindTrend
	Surge   SurgeEvent   // set when Kind is KindSurge
}

// Symbol returns the symbol of whichever event is set.
func (e *Event) Symbol() string {
	switch e.Kind {
	case KindTrend:
		return e.Trend.Symbol
	case KindSurge:
		return e.Surge.Symbol
	}
	return e.HighLow.Symbol
}

// Price returns the tick price of whichever event is set.
func (e *Event) Price() float64 {
	switch e.Kind {
	case KindTrend:
		return e.Trend.Price
	case KindSurge:
		return e.Surge.Price
	}
	return e.HighLow.Price
}

// Phase returns the market phase of whichever event is set.
func (e *Event) Phase() Phase {
	switch e.Kind {
	case KindTrend:
		return e.Trend.Phase
	case KindSurge:
		return e.Surge.Phase
	}
	return e.HighLow.Phase
}

// Time returns the tick time of whichever event is set.
func (e *Event) Time() Millis {
	switch e.Kind {
	case KindTrend:
		return e.Trend.Time
	case KindSurge:
		return e.Surge.Time
	}
	return e.HighLow.Time
}

// MarshalJSON writes the set event's fields with a "kind" key ("high", "low", "trend" or
// "surge"), so a []Event can cross the bus and come back with UnmarshalJSON.
func (e Event) MarshalJSON() ([]byte, error) {
	switch e.Kind {
	case KindHigh, KindLow:
		hl := e.HighLow
		hl.Kind = e.Kind
		return hl.MarshalJSON()
	case KindTrend:
		return json.Marshal(struct {
			Kind EventKind `json:"kind"`
			TrendEvent
		}{e.Kind, e.Trend})
	case KindSurge:
		return json.Marshal(struct {
			Kind EventKind `json:"kind"`
			SurgeEvent
		}{e.Kind, e.Surge})
	}
	return nil, fmt.Errorf("market: marshal event: unknown kind %d", e.Kind)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *Event) UnmarshalJSON(b []byte) error {
	var head struct {
		Kind EventKind `json:"kind"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return fmt.Errorf("market: unmarshal event kind: %w", err)
	}
	*e = Event{Kind: head.Kind}
	var err error
	switch head.Kind {
	case KindHigh, KindLow:
		err = json.Unmarshal(b, &e.HighLow)
		e.HighLow.Kind = head.Kind
	case KindTrend:
		err = json.Unmarshal(b, &e.Trend)
	case KindSurge:
		err = json.Unmarshal(b, &e.Surge)
	}
	if err != nil {
		return fmt.Errorf("market: unmarshal %s event: %w", head.Kind, err)
	}
	return nil
}

// Gate is the minimum move, in dollars, from the last reported high (or low) to a new one
// at price p: the smaller of the band's dollar step and percent step (SPEC section 4).
func Gate(p float64) float64 {
	var step, pct float64
	switch {
	case p < 1:
		step, pct = 0.005, 0.0020
	case p < 5:
		step, pct = 0.01, 0.0015
	case p < 25:
		step, pct = 0.02, 0.0010
	case p < 100:
		step, pct = 0.05, 0.0008
	default:
		step, pct = 0.10, 0.0005
	}
	return math.Min(step, pct*p)
}

// SurgeThreshold is the surge price threshold thr at price p, as a fraction (0.016 = 1.6 %),
// by the SPEC's price bands.
func SurgeThreshold(p float64) float64 {
	// Counting the bands p is not below, without branches: ticks of symbols at every price
	// interleave, so a switch here mispredicted on most ticks. NaN lands in the last band, as
	// a switch of "p < bound" cases would put it.
	return surgeThresholds[b2i(!(p < 10))+b2i(!(p < 50))+b2i(!(p < 200))+b2i(!(p < 500))]
}

var surgeThresholds = [5]float64{0.032, 0.020, 0.016, 0.012, minSurgeThreshold}

// minSurgeThreshold is the lowest band's threshold, the smallest SurgeThreshold.
const minSurgeThreshold = 0.008

// Price ranges used by the surge price_ranges filter (SPEC section 5).
const (
	RangePenny = "penny"
	RangeLow   = "low"
	RangeMid   = "mid"
	RangeHigh  = "high"
)

// PriceRange names the filter band of a price: "penny" below $5, "low" below $25, "mid"
// below $100 and "high" from $100.
func PriceRange(price float64) string {
	switch {
	case price < 5:
		return RangePenny
	case price < 25:
		return RangeLow
	case price < 100:
		return RangeMid
	}
	return RangeHigh
}
