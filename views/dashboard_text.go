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
	return emptyText(panel, st.Filters, emptyWhere(st.Selections.HighLow, since))
}

// emptyWhere is the part of an empty state that names the universes and the time, " in
// TECH_UNIVERSE since 09:31 ET": the same for every panel of a page, so a page makes it once.
func emptyWhere(highlow []string, since time.Time) string {
	return " in " + universeNames(highlow) + " since " + minuteET(since)
}

// emptyText is EmptyText around a ready-made where (emptyWhere). The sentence is put
// together in one concatenation: a page says six of them.
func emptyText(panel string, f settings.Filters, where string) string {
	var qualifier, what, hidden string
	switch panel {
	case PanelHighs, PanelLows:
		what = "new highs"
		if panel == PanelLows {
			what = "new lows"
		}
		count, vol := f.HighLow.MinCount > 0, f.HighLow.MinVolume > 0
		switch {
		case count && vol:
			hidden = "filters hide those below count " + thousands(f.HighLow.MinCount) + " or below " + thousands(f.HighLow.MinVolume) + " shares"
		case count:
			hidden = "filters hide those below count " + thousands(f.HighLow.MinCount)
		case vol:
			hidden = "filters hide those below " + thousands(f.HighLow.MinVolume) + " shares"
		}
	case PanelTrendUp, PanelTrendDown:
		qualifier = strengthWords(f.Trends.MinStrength)
		other, otherWhat := settings.DirectionDown, "downtrends"
		what = "uptrends"
		if panel == PanelTrendDown {
			what, other, otherWhat = "downtrends", settings.DirectionUp, "uptrends"
		}
		if f.Trends.Direction == other {
			hidden = "your filters show " + otherWhat + " only"
		} else if f.Trends.MinStrength != settings.StrengthWeak {
			hidden = "filters hide weaker ones"
		}
	case PanelSurgeUp, PanelSurgeDown:
		qualifier, what = strengthWords(f.Surges.MinStrength), "surges"
		if f.Surges.MinStrength != settings.StrengthWeak {
			hidden = "filters hide weaker ones"
		}
		if f.Surges.Trigger == settings.TriggerPriceAndVolume {
			hidden = alsoHidden(hidden, "only price-and-volume surges show")
		}
		if len(f.Surges.PriceRanges) < len(settings.PriceRangeOptions()) {
			hidden = alsoHidden(hidden, "only "+rangeWords(f.Surges.PriceRanges)+" stocks show")
		}
	default:
		return ""
	}
	sep := ""
	if hidden != "" {
		sep = " — "
	}
	return "No " + qualifier + what + where + sep + hidden
}

// alsoHidden adds one more way the filters hide events to an empty state's list of them.
func alsoHidden(hidden, more string) string {
	if hidden == "" {
		return more
	}
	return hidden + "; " + more
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
