package stream

import (
	"math"
	"sync/atomic"
	"time"
)

// emitBounds are the upper bounds, in seconds, of the emission-time buckets: 0.5 ms to 5 s,
// about ×2.5 apart. An emission renders every group once, so its time grows with the number
// of distinct settings and the events per interval; past a second it delays the next one.
var emitBounds = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// histogram counts durations into emitBounds buckets without locks, so the publisher's
// emission never waits for a reader.
type histogram struct {
	counts [len(emitBounds) + 1]atomic.Uint64 // the last bucket is +Inf
	sumNs  atomic.Int64
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(emitBounds) && s > emitBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
}

// Histogram is a copy of a duration distribution: Counts[i] observations took at most
// Bounds[i] seconds (cumulative, as Prometheus reports buckets); Count is every one.
type Histogram struct {
	Bounds     []float64
	Cumulative []uint64
	Count      uint64
	SumSeconds float64
}

func (h *histogram) snapshot() Histogram {
	out := Histogram{Bounds: emitBounds[:], Cumulative: make([]uint64, len(emitBounds))}
	var run uint64
	for i := range emitBounds {
		run += h.counts[i].Load()
		out.Cumulative[i] = run
	}
	out.Count = run + h.counts[len(emitBounds)].Load()
	out.SumSeconds = float64(h.sumNs.Load()) / 1e9
	return out
}

// Quantile estimates the q-quantile (0 < q ≤ 1) in seconds by interpolating inside its
// bucket, as Prometheus's histogram_quantile does; NaN without observations. Beyond the
// last bound it answers the last bound.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count == 0 || len(h.Bounds) == 0 {
		return math.NaN()
	}
	rank := q * float64(h.Count)
	lower, below := 0.0, uint64(0)
	for i, b := range h.Bounds {
		if float64(h.Cumulative[i]) >= rank {
			in := h.Cumulative[i] - below
			if in == 0 {
				return b
			}
			return lower + (b-lower)*(rank-float64(below))/float64(in)
		}
		lower, below = b, h.Cumulative[i]
	}
	return h.Bounds[len(h.Bounds)-1]
}
