package loadtest

// GroupSettings are the universes and filters one settings group of a run gets.
type GroupSettings struct {
	HighLow []string
	Market  []string
	Filters map[string]any
}

// The dimensions SettingsOf varies, in mixed radix. Every choice still lets events through,
// so each group's streams carry a realistic load, not an empty one.
var (
	groupDirections = []string{"both", "up", "down"}
	groupStrengths  = []string{"moderate", "weak", "strong"}
	groupRanges     = [][]string{
		{"penny", "low", "mid", "high"},
		{"low", "mid", "high"},
		{"penny", "low", "mid"},
		{"mid", "high"},
	}
	groupUniverses = [][]string{
		{"DEFAULT_UNIVERSE"},
		{"DEFAULT_UNIVERSE", "ETF_UNIVERSE"},
		{"DEFAULT_UNIVERSE", "TECH_UNIVERSE", "FINANCIALS_UNIVERSE", "ETF_UNIVERSE"},
	}
)

// groupRadix is how many groups the enumerated dimensions make before min_volume counts up.
var groupRadix = len(groupDirections) * len(groupStrengths) * len(groupRanges) * len(groupUniverses)

// SettingsOf returns the settings of group g (g >= 0). Group 0 is the defaults. Different
// groups get different settings, so the server has exactly as many settings groups as the
// run asks for: trends.direction, trends.min_strength, surges.price_ranges and the highlow
// universes are enumerated first, then highlow.min_volume counts up (by 1,000 shares, which
// hides few highs or lows).
func SettingsOf(g int) GroupSettings {
	i := g
	dir := groupDirections[i%len(groupDirections)]
	i /= len(groupDirections)
	strength := groupStrengths[i%len(groupStrengths)]
	i /= len(groupStrengths)
	ranges := groupRanges[i%len(groupRanges)]
	i /= len(groupRanges)
	universes := groupUniverses[i%len(groupUniverses)]
	i /= len(groupUniverses)
	return GroupSettings{
		HighLow: universes,
		Market:  []string{"DEFAULT_UNIVERSE"},
		Filters: map[string]any{
			"highlow": map[string]any{"min_count": 0, "min_volume": i * 1000},
			"trends":  map[string]any{"min_strength": strength, "direction": dir},
			"surges":  map[string]any{"min_strength": "weak", "trigger": "any", "price_ranges": ranges},
		},
	}
}
