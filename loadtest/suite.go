package loadtest

import (
	"fmt"
	"sort"
)

// SuiteResults is what the bench task writes to results.json: every run of every case,
// and each case's medians.
type SuiteResults struct {
	Machine Machine       `json:"machine"`
	Cases   []CaseResults `json:"cases"`
	Rate    *RateCase     `json:"rate,omitempty"`
}

// Machine describes where the figures were taken.
type Machine struct {
	Date     string `json:"date"`
	CPUs     int    `json:"cpus"`
	Go       string `json:"go"`
	Commit   string `json:"commit"`
	Sessions string `json:"sessions"` // "redis" or "memory"
	Note     string `json:"note,omitempty"`
}

// Case is one standard stream case.
type Case struct {
	Name    string `json:"name"`
	Clients int    `json:"clients"`
	Users   int    `json:"users"`
	Groups  int    `json:"groups"`
	Format  string `json:"format"`
	Scale   bool   `json:"scale"` // part of the streams-versus-figures plot
	// SimRate, when set, is the server's TICKSTOCK_SIM_RATE for this case, and ExtraSymbols
	// widens its feed first (Options.ExtraSymbols): the burst case.
	SimRate      int `json:"sim_rate,omitempty"`
	ExtraSymbols int `json:"extra_symbols,omitempty"`
}

// CaseResults are a case's runs and their medians.
type CaseResults struct {
	Case
	Runs   []map[string]any `json:"runs"`
	Median map[string]any   `json:"median"`
}

// RateCase is the request-rate comparison: each run's per-path rates and the median
// ratio of the last path's rate to the first's.
type RateCase struct {
	Paths       []string     `json:"paths"`
	Concurrency int          `json:"concurrency"`
	Runs        []RateResult `json:"runs"`
	MedianRatio float64      `json:"median_ratio"`
}

// StandardCases are the cases of issue 16: 1k, 2k, 5k, 10k and 19k JSON streams in 100
// settings groups (the plot's series), 10k streams where every user's settings differ
// (1,250 groups), and 1k streams while the feed bursts at 1,000,000 ticks a second over
// 10,000 more symbols (a real market's peak).
func StandardCases() []Case {
	var cs []Case
	for _, n := range []int{1000, 2000, 5000, 10000, 19000} {
		cs = append(cs, Case{Name: fmt.Sprintf("streams-%dk-g100", n/1000), Clients: n,
			Users: (n + MaxStreamsPerUser - 1) / MaxStreamsPerUser, Groups: 100, Format: "json", Scale: true})
	}
	cs = append(cs, Case{Name: "streams-10k-g1250", Clients: 10000, Users: 1250, Groups: 1250, Format: "json"})
	cs = append(cs, Case{Name: "burst-1k-1m", Clients: 1000, Users: 125, Groups: 100, Format: "json",
		SimRate: 1_000_000, ExtraSymbols: 10_000})
	return cs
}

// Medians returns, for every numeric key of the runs, the median value (the mean of the
// middle two for an even count). Keys that are null in some run use the others; a key
// null in every run is null.
func Medians(runs []map[string]any) map[string]any {
	out := map[string]any{}
	keys := map[string]bool{}
	for _, r := range runs {
		for k := range r {
			keys[k] = true
		}
	}
	for k := range keys {
		var vals []float64
		for _, r := range runs {
			if v, ok := r[k].(float64); ok {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			out[k] = nil
			continue
		}
		out[k] = median(vals)
	}
	return out
}

func median(vals []float64) float64 {
	s := append([]float64(nil), vals...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// MedianRatio is the median over runs of the last path's rate over the first path's.
func MedianRatio(runs []RateResult) float64 {
	var vals []float64
	for _, r := range runs {
		if len(r.Paths) >= 2 {
			vals = append(vals, r.Paths[len(r.Paths)-1].RatioToFirst)
		}
	}
	if len(vals) == 0 {
		return 0
	}
	return median(vals)
}
