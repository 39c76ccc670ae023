package views

import (
	"strconv"
	"strings"
	"time"

	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
)

// The dashboard's words: the market phase and its countdown, the panels' empty states and
// the universe line. They are plain functions of the view model, so they are table-tested
// without rendering.

// phaseLabel is how the dashboard names a market phase.
func phaseLabel(p market.Phase) string {
	switch p {
	case market.PhasePre:
		return "Pre-market"
	case market.PhaseRegular:
		return "Open"
	case market.PhaseAfter:
		return "After-hours"
	}
	return "Closed"
}

// phaseNext says what comes next and when, counted on the summary's own clock (the latest
// tick's time): "opens in 2h 14m". It is empty before any tick.
func phaseNext(s market.Summary) string {
	if s.At == 0 || s.NextPhaseAt <= s.At {
		return ""
	}
	d := time.Duration(s.NextPhaseAt-s.At) * time.Millisecond
	var what string
	switch s.NextPhase {
	case market.PhasePre:
		what = "pre-market starts"
	case market.PhaseRegular:
		what = "opens"
	case market.PhaseAfter:
		what = "closes"
	default:
		what = "after-hours end"
	}
	return what + " " + untilText(d)
}

// untilText is a countdown rounded down to the minute: "in 2h 14m", "in 14m", "in 3d 4h",
// "in under a minute".
func untilText(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "in under a minute"
	case d < time.Hour:
		return "in " + strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		h := int(d / time.Hour)
		m := int((d % time.Hour) / time.Minute)
		return "in " + strconv.Itoa(h) + "h " + strconv.Itoa(m) + "m"
	}
	days := int(d / (24 * time.Hour))
	h := int((d % (24 * time.Hour)) / time.Hour)
	return "in " + strconv.Itoa(days) + "d " + strconv.Itoa(h) + "h"
}

// ofUniverse is "37 of 103": how many symbols of the universe did something.
func ofUniverse(n, size int) string { return itoa(n) + " of " + itoa(size) }

// events is "3,322 events" (or "1 event").
func events(n int) string {
	if n == 1 {
		return "1 event"
	}
	return itoa(n) + " events"
}

// activityLabel names a relative activity level for people.
func activityLabel(a string) string {
	switch a {
	case market.ActivityVeryHigh:
		return "very high"
	case "":
		return "—"
	}
	return a
}

// activityLevel places an activity level on the neutral six-step scale the dashboard draws
// (1 quiet … 6 extreme), 0 when unknown.
func activityLevel(a string) int {
	for i, l := range []string{market.ActivityQuiet, market.ActivityLow, market.ActivityMedium,
		market.ActivityHigh, market.ActivityVeryHigh, market.ActivityExtreme} {
		if a == l {
			return i + 1
		}
	}
	return 0
}

// universeNames names the universes of a panel in a sentence: "TECH_UNIVERSE",
// "TECH_UNIVERSE and ETF_UNIVERSE", or "4 universes".
func universeNames(names []string) string {
	switch len(names) {
	case 0:
		return "your universes"
	case 1:
		return names[0]
	case 2:
		return names[0] + " and " + names[1]
	}
	return strconv.Itoa(len(names)) + " universes"
}

// EmptyText is what an empty panel says: what it waits for, in which universes, since when,
// and which of the user's filters hide events from it, e.g. "No strong surges in
// TECH_UNIVERSE since 09:31 ET — filters hide weaker ones". panel is a panel id (PanelHighs
// …); since is when the panel started watching (the page load, or the last change of
// settings).
func EmptyText(panel string, st settings.Settings, since time.Time) string {
	f := st.Filters
	var what string
	var hidden []string
	switch panel {
	case PanelHighs, PanelLows:
		what = "new highs"
		if panel == PanelLows {
			what = "new lows"
		}
		if f.HighLow.MinCount > 0 {
			hidden = append(hidden, "below count "+thousands(f.HighLow.MinCount))
		}
		if f.HighLow.MinVolume > 0 {
			hidden = append(hidden, "below "+thousands(f.HighLow.MinVolume)+" shares")
		}
		if len(hidden) > 0 {
			hidden = []string{"filters hide those " + strings.Join(hidden, " or ")}
		}
	case PanelTrendUp, PanelTrendDown:
		dir, other := "uptrends", settings.DirectionDown
		if panel == PanelTrendDown {
			dir, other = "downtrends", settings.DirectionUp
		}
		what = strengthWords(f.Trends.MinStrength) + dir
		if f.Trends.Direction == other {
			hidden = append(hidden, "your filters show "+map[string]string{settings.DirectionUp: "uptrends", settings.DirectionDown: "downtrends"}[other]+" only")
		} else if f.Trends.MinStrength != settings.StrengthWeak {
			hidden = append(hidden, "filters hide weaker ones")
		}
	case PanelSurgeUp, PanelSurgeDown:
		what = strengthWords(f.Surges.MinStrength) + "surges"
		if f.Surges.MinStrength != settings.StrengthWeak {
			hidden = append(hidden, "filters hide weaker ones")
		}
		if f.Surges.Trigger == settings.TriggerPriceAndVolume {
			hidden = append(hidden, "only price-and-volume surges show")
		}
		if len(f.Surges.PriceRanges) < len(settings.PriceRangeOptions()) {
			hidden = append(hidden, "only "+rangeWords(f.Surges.PriceRanges)+" stocks show")
		}
	default:
		return ""
	}
	s := "No " + what + " in " + universeNames(st.Selections.HighLow) + " since " + minuteET(since)
	if len(hidden) > 0 {
		s += " — " + strings.Join(hidden, "; ")
	}
	return s
}

// strengthWords is the strength qualifier of an empty state: "" for weak (everything),
// "moderate or strong ", "strong ".
func strengthWords(min string) string {
	switch min {
	case settings.StrengthModerate:
		return "moderate or strong "
	case settings.StrengthStrong:
		return "strong "
	}
	return ""
}

// rangeWords names price ranges in a sentence: "penny and low-priced".
func rangeWords(ranges []string) string {
	words := make([]string, 0, len(ranges))
	for _, r := range ranges {
		switch r {
		case settings.RangePenny:
			words = append(words, "penny (under $5)")
		case settings.RangeLow:
			words = append(words, "$5–25")
		case settings.RangeMid:
			words = append(words, "$25–100")
		case settings.RangeHigh:
			words = append(words, "$100+")
		}
	}
	switch len(words) {
	case 0:
		return "no"
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// universeLine is the dashboard header's line naming both trackers' universes.
func universeLine(highlow, market []string) string {
	return "Panels: " + joinNames(highlow) + " · Summary: " + joinNames(market)
}

func joinNames(names []string) string {
	if len(names) == 0 {
		return "—"
	}
	return strings.Join(names, ", ")
}
