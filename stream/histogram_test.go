package stream

import (
	"math"
	"testing"
	"time"
)

func TestHistogramBucketsAndQuantiles(t *testing.T) {
	var h histogram
	if q := h.snapshot().Quantile(0.99); !math.IsNaN(q) {
		t.Fatalf("empty histogram p99 = %v, want NaN", q)
	}
	// 90 fast emissions (0.3 ms), 9 of 20 ms, 1 of 7 s (beyond the last bound).
	for i := 0; i < 90; i++ {
		h.observe(300 * time.Microsecond)
	}
	for i := 0; i < 9; i++ {
		h.observe(20 * time.Millisecond)
	}
	h.observe(7 * time.Second)
	s := h.snapshot()
	if s.Count != 100 || math.Abs(s.SumSeconds-(90*0.0003+9*0.02+7)) > 1e-9 {
		t.Fatalf("count %d sum %v", s.Count, s.SumSeconds)
	}
	if s.Cumulative[0] != 90 || s.Cumulative[len(s.Cumulative)-1] != 99 {
		t.Fatalf("cumulative %v", s.Cumulative)
	}
	if q := s.Quantile(0.5); q <= 0 || q > 0.0005 {
		t.Fatalf("p50 = %v, want within the first bucket", q)
	}
	if q := s.Quantile(0.95); q <= 0.01 || q > 0.025 {
		t.Fatalf("p95 = %v, want in (10 ms, 25 ms]", q)
	}
	if q := s.Quantile(1); q != 5 {
		t.Fatalf("p100 = %v, want the last bound for an observation beyond it", q)
	}
}
