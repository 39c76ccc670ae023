package loadtest

import (
	"math/bits"
	"sync/atomic"
)

// Histogram counts values (microseconds here) in log-linear buckets, like HdrHistogram:
// values below 2*histSub are exact, and above that every power of two is split into histSub
// buckets, so a bucket's width is at most 1/histSub (about 1.6 %) of its values. It is fixed
// in size (about 30 KiB), whatever the number of samples, and safe for concurrent use
// without locks.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

const (
	histSubBits = 6
	histSub     = 1 << histSubBits // buckets per power of two
	// histBuckets covers every int64 >= 0: bits.Len64 is at most 63, so the shift is at
	// most 63-histSubBits-1 and the bucket below (shift+2)*histSub.
	histBuckets = (64 - histSubBits) * histSub
)

// bucketOf returns v's bucket. Values below zero count as zero.
func bucketOf(v int64) int {
	if v < 2*histSub {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	u := uint64(v)
	shift := bits.Len64(u) - histSubBits - 1 // >= 1 here
	// the top histSubBits+1 bits of u, of which the first is 1
	top := int(u >> uint(shift))
	return shift*histSub + top
}

// bucketLow and bucketHigh are the smallest and largest values of bucket b.
func bucketLow(b int) int64 {
	if b < 2*histSub {
		return int64(b)
	}
	shift := b/histSub - 1
	top := b - shift*histSub
	return int64(top) << uint(shift)
}

func bucketHigh(b int) int64 {
	if b < 2*histSub {
		return int64(b)
	}
	shift := b/histSub - 1
	return bucketLow(b) + int64(1)<<uint(shift) - 1
}

// Record counts one value.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	b := bucketOf(v)
	if b >= histBuckets {
		b = histBuckets - 1
	}
	h.counts[b].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the largest value recorded (exact), or 0.
func (h *Histogram) Max() int64 { return h.max.Load() }

// Quantile returns the value at quantile q (0 < q <= 1): the midpoint of the bucket that
// holds the ceil(q*n)-th smallest value, capped at Max. It is 0 with no values.
func (h *Histogram) Quantile(q float64) int64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q * float64(n))
	if float64(rank) < q*float64(n) {
		rank++
	}
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	var seen uint64
	for b := range h.counts {
		seen += h.counts[b].Load()
		if seen >= rank {
			lo, hi := bucketLow(b), bucketHigh(b)
			v := lo + (hi-lo)/2
			if m := h.max.Load(); v > m {
				v = m
			}
			return v
		}
	}
	return h.max.Load()
}
