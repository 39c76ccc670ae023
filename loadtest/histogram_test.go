package loadtest

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func TestBucketBounds(t *testing.T) {
	tests := []struct {
		v        int64
		low, max int64 // the bucket's bounds
	}{
		{0, 0, 0},
		{1, 1, 1},
		{127, 127, 127},
		{128, 128, 129},
		{129, 128, 129},
		{255, 254, 255},
		{256, 256, 259},
		{1000, 1000, 1007},
		{1_000_000, 999_424, 1_007_615},
		{math.MaxInt64, math.MaxInt64 - (1<<56 - 1), math.MaxInt64},
	}
	for _, tt := range tests {
		b := bucketOf(tt.v)
		if b >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d, beyond %d buckets", tt.v, b, histBuckets)
		}
		if lo, hi := bucketLow(b), bucketHigh(b); lo != tt.low || hi != tt.max {
			t.Errorf("bucket of %d = [%d, %d], want [%d, %d]", tt.v, lo, hi, tt.low, tt.max)
		}
	}
}

// TestBucketsTile checks that buckets are contiguous, each value lands in the bucket whose
// bounds hold it, and a bucket is never wider than 1/64 of its values.
func TestBucketsTile(t *testing.T) {
	last := bucketOf(math.MaxInt64)
	for b := 1; b <= last; b++ {
		if bucketLow(b) != bucketHigh(b-1)+1 {
			t.Fatalf("gap between bucket %d (..%d) and %d (%d..)", b-1, bucketHigh(b-1), b, bucketLow(b))
		}
		lo, hi := bucketLow(b), bucketHigh(b)
		if bucketOf(lo) != b || bucketOf(hi) != b {
			t.Fatalf("bucket %d = [%d, %d] but bucketOf gives %d and %d", b, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if float64(hi-lo) > float64(lo)/histSub {
			t.Fatalf("bucket %d = [%d, %d] is wider than 1/%d", b, lo, hi, histSub)
		}
	}
}

func TestQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values func(r *rand.Rand) int64
		n      int
	}{
		{"uniform 0-500ms", func(r *rand.Rand) int64 { return r.Int64N(500_000) }, 100_000},
		{"exponential around 20ms", func(r *rand.Rand) int64 { return int64(r.ExpFloat64() * 20_000) }, 100_000},
		{"heavy tail", func(r *rand.Rand) int64 {
			if r.IntN(100) == 0 {
				return 200_000 + r.Int64N(1_000_000)
			}
			return 1_000 + r.Int64N(5_000)
		}, 50_000},
		{"a few exact small values", func(r *rand.Rand) int64 { return r.Int64N(4) }, 1_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var h Histogram
			vals := make([]int64, tt.n)
			for i := range vals {
				vals[i] = tt.values(r)
				h.Record(vals[i])
			}
			slices.Sort(vals)
			if h.Count() != uint64(tt.n) || h.Max() != vals[len(vals)-1] {
				t.Fatalf("count %d max %d, want %d and %d", h.Count(), h.Max(), tt.n, vals[len(vals)-1])
			}
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				rank := int(math.Ceil(q*float64(tt.n))) - 1
				exact := vals[rank]
				got := h.Quantile(q)
				if tol := float64(exact)/histSub + 1; math.Abs(float64(got-exact)) > tol {
					t.Errorf("q%.3f = %d, exact %d (tolerance %.0f)", q, got, exact, tol)
				}
			}
			if p50, p99, m := h.Quantile(0.5), h.Quantile(0.99), h.Max(); p50 > p99 || p99 > m {
				t.Errorf("p50 %d, p99 %d, max %d out of order", p50, p99, m)
			}
		})
	}
}

func TestHistogramEmptyAndNegative(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Max() != 0 || h.Count() != 0 {
		t.Fatal("an empty histogram should report zeros")
	}
	h.Record(-5) // a client clock behind the server's
	if h.Count() != 1 || h.Quantile(0.5) != 0 {
		t.Fatalf("a negative value should count as 0, got count %d p50 %d", h.Count(), h.Quantile(0.5))
	}
}

func TestHistogramConcurrent(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10_000 {
				h.Record(int64(g*10_000 + i))
			}
		})
	}
	wg.Wait()
	if h.Count() != 80_000 || h.Max() != 79_999 {
		t.Fatalf("count %d max %d, want 80000 and 79999", h.Count(), h.Max())
	}
	if got := h.Quantile(0.5); math.Abs(float64(got)-40_000) > 40_000/histSub {
		t.Fatalf("median %d, want about 40000", got)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.RunParallel(func(pb *testing.PB) {
		v := int64(1000)
		for pb.Next() {
			h.Record(v)
			v = (v*31 + 7) % 300_000
		}
	})
}
