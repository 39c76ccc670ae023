package views

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tickstock/tickstock/market"
)

// The symbol chart is drawn on the server as SVG: no chart library runs in the browser.
// Chart lays the session out in the SVG's own units; SymbolChart (symbol.templ) writes it.

// Chart geometry, in viewBox units.
const (
	chartLeft   = 64 // room for price labels; SymbolChart's viewBox is 960 × 300
	chartRight  = 948
	chartTop    = 14
	chartBottom = 270 // time labels below
)

// Chart is a symbol's session laid out for SymbolChart: one line point per price sample and
// one marker per event.
type Chart struct {
	Symbol  string
	Empty   bool   // no price yet: the chart says "no data yet"
	Line    string // the polyline's points, "x,y x,y ..."
	Points  int    // how many points Line holds
	Up      bool   // the latest price is at or above the open: the line's colour
	OpenY   string // the session open's height, for a dashed reference line
	Markers []ChartMarker
	YTicks  []ChartTick
	XTicks  []ChartTick
	Label   string // the chart's accessible description
}

// ChartMarker is one event on the chart, with a hover title.
type ChartMarker struct {
	Kind  string // high, low, trend or surge
	Dir   string // up or down (trends and surges; highs are up, lows down)
	Path  string // the marker's shape, centred on the event's time and price
	Fill  string
	Title string
}

// ChartTick is one axis label: Pos is the x (time axis) or y (price axis) it sits at.
type ChartTick struct {
	Pos   string
	Label string
}

// Marker colours. The line and markers carry their colours as attributes, since the page's
// Content-Security-Policy allows no inline styles and the SVG must stand alone too.
const (
	chartColorUp    = "#15803d"
	chartColorDown  = "#b91c1c"
	chartColorTrend = "#1d4ed8"
	chartColorSurge = "#b45309"
)

// NewChart lays out v's price line and the given events (those the user's filters allow,
// newest first or in any order) on the chart.
func NewChart(v market.SymbolView, events []market.Event) Chart {
	c := Chart{Symbol: v.State.Symbol}
	if len(v.Prices) == 0 {
		c.Empty = true
		c.Label = v.State.Symbol + ": no data yet this session"
		return c
	}
	// The ranges: every price point and every event.
	t0, t1 := int64(v.Prices[0].Time), int64(v.Prices[len(v.Prices)-1].Time)
	lo, hi := v.Prices[0].Price, v.Prices[0].Price
	for _, p := range v.Prices {
		lo, hi = math.Min(lo, p.Price), math.Max(hi, p.Price)
	}
	for i := range events {
		e := &events[i]
		t := int64(e.Time())
		t0, t1 = min(t0, t), max(t1, t)
		lo, hi = math.Min(lo, e.Price()), math.Max(hi, e.Price())
	}
	if v.State.Open > 0 {
		lo, hi = math.Min(lo, v.State.Open), math.Max(hi, v.State.Open)
	}
	if t1-t0 < 60_000 { // under a minute: show a minute, the data at its start
		t1 = t0 + 60_000
	}
	span := hi - lo
	if span <= 0 {
		span = math.Max(hi*0.002, 0.01)
		lo, hi = lo-span/2, hi+span/2
	} else {
		lo, hi = lo-span*0.06, hi+span*0.06
	}
	x := func(t int64) float64 {
		return chartLeft + float64(t-t0)/float64(t1-t0)*(chartRight-chartLeft)
	}
	y := func(p float64) float64 {
		return chartBottom - (p-lo)/(hi-lo)*(chartBottom-chartTop)
	}

	var b strings.Builder
	b.Grow(len(v.Prices) * 12)
	for i, p := range v.Prices {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(chartCoord(x(int64(p.Time))))
		b.WriteByte(',')
		b.WriteString(chartCoord(y(p.Price)))
	}
	c.Line, c.Points = b.String(), len(v.Prices)
	c.Up = v.State.Price >= v.State.Open
	if v.State.Open > 0 {
		c.OpenY = chartCoord(y(v.State.Open))
	}

	for _, p := range chartPriceTicks(lo, hi) {
		c.YTicks = append(c.YTicks, ChartTick{Pos: chartCoord(y(p)), Label: price(p)})
	}
	for _, t := range chartTimeTicks(t0, t1) {
		c.XTicks = append(c.XTicks, ChartTick{Pos: chartCoord(x(t)), Label: chartHHMM(market.Millis(t))})
	}
	// Oldest first, so the newest marker is drawn on top.
	order := make([]int, len(events))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(events[a].Time(), events[b].Time()) })
	for _, i := range order {
		if m, ok := newChartMarker(&events[i], x(int64(events[i].Time())), y(events[i].Price())); ok {
			c.Markers = append(c.Markers, m)
		}
	}
	c.Label = v.State.Symbol + " price this session, from " + price(v.Prices[0].Price) + " to " + price(v.State.Price) +
		", with " + strconv.Itoa(len(c.Markers)) + " event markers"
	return c
}

// newChartMarker draws one event: a triangle up for a high, down for a low, a diamond for a trend
// and a circle for a surge.
func newChartMarker(e *market.Event, x, y float64) (ChartMarker, bool) {
	at := " at $" + price(e.Price()) + " · " + clock(e.Time()) + " ET"
	switch e.Kind {
	case market.KindHigh, market.KindLow:
		hl := &e.HighLow
		m := ChartMarker{Kind: e.Kind.String(), Title: hl.Label() + at}
		if hl.Reversal {
			m.Title += " · reversal"
		}
		if e.Kind == market.KindHigh {
			m.Dir, m.Fill = "up", chartColorUp
			m.Path = "M" + chartCoord(x) + " " + chartCoord(y-6) + "l6 10h-12z"
		} else {
			m.Dir, m.Fill = "down", chartColorDown
			m.Path = "M" + chartCoord(x) + " " + chartCoord(y+6) + "l6 -10h-12z"
		}
		return m, true
	case market.KindTrend:
		t := &e.Trend
		return ChartMarker{Kind: "trend", Dir: t.Direction.String(), Fill: chartColorTrend,
			Path:  "M" + chartCoord(x) + " " + chartCoord(y-6) + "l6 6l-6 6l-6 -6z",
			Title: "Trend " + t.Direction.String() + " (" + t.Strength.String() + "), score " + fixed(t.Score, 2) + at}, true
	case market.KindSurge:
		s := &e.Surge
		return ChartMarker{Kind: "surge", Dir: s.Direction.String(), Fill: chartColorSurge,
			Path: "M" + chartCoord(x-5) + " " + chartCoord(y) + "a5 5 0 1 0 10 0a5 5 0 1 0 -10 0z",
			Title: "Surge " + s.Direction.String() + " (" + s.Strength.String() + ", " + symTriggerLabel(s.Trigger) + "), " +
				pct(s.MagnitudePct) + " in 30s, " + fixed(s.VolumeMultiple, 1) + "× volume" + at}, true
	}
	return ChartMarker{}, false
}

// chartCoord writes an SVG coordinate with one decimal, which keeps the markup short and the
// output stable.
func chartCoord(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// chartPriceTicks are 3 to 6 round prices within [lo, hi].
func chartPriceTicks(lo, hi float64) []float64 {
	step := chartNiceStep((hi - lo) / 4)
	var out []float64
	for p := math.Ceil(lo/step) * step; p <= hi && len(out) < 8; p += step {
		out = append(out, math.Round(p/step)*step)
	}
	return out
}

// chartNiceStep rounds a raw step up to 1, 2, 2.5 or 5 times a power of ten.
func chartNiceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if raw <= m*pow {
			return m * pow
		}
	}
	return 10 * pow
}

// chartTimeTicks are whole clock times (New York) within [t0, t1], at most 7.
func chartTimeTicks(t0, t1 int64) []int64 {
	steps := []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
		30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if (t1-t0)/s.Milliseconds() <= 6 {
			step = s
			break
		}
	}
	// Whole steps of New York time (offsets are whole hours, so minutes align in UTC).
	_, off := time.UnixMilli(t0).In(newYork).Zone()
	ms, offMs := step.Milliseconds(), int64(off)*1000
	var out []int64
	for t := ((t0+offMs)/ms+1)*ms - offMs; t <= t1 && len(out) < 7; t += ms {
		out = append(out, t)
	}
	return out
}

// chartHHMM is a time of day in New York, as an axis label.
func chartHHMM(ms market.Millis) string {
	return time.UnixMilli(int64(ms)).In(newYork).Format("15:04")
}

// symTriggerLabel names a surge's trigger in a few words.
func symTriggerLabel(t market.Trigger) string {
	switch t {
	case market.TriggerPriceAndVolume:
		return "price and volume"
	case market.TriggerPrice:
		return "price"
	case market.TriggerVolume:
		return "volume"
	}
	return ""
}
