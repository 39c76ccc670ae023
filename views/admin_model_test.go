package views

import (
	"math"
	"slices"
	"testing"
)

func TestSparkSegments(t *testing.T) {
	for _, tc := range []struct {
		name   string
		points []float64
		want   []string
	}{
		{"empty", nil, nil},
		{"all NaN", []float64{math.NaN(), math.NaN()}, nil},
		{"rising", []float64{0, 5, 10}, []string{"0.0,26.0 60.0,14.0 120.0,2.0"}},
		{"flat sits in the middle", []float64{3, 3}, []string{"0.0,14.0 120.0,14.0"}},
		{"a gap breaks the line", []float64{0, math.NaN(), 10, 0}, []string{"0.0,26.0", "80.0,2.0 120.0,26.0"}},
		{"one point", []float64{7}, []string{"60.0,14.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sparkSegments(tc.points); !slices.Equal(got, tc.want) {
				t.Fatalf("sparkSegments(%v) = %q, want %q", tc.points, got, tc.want)
			}
		})
	}
}

func TestWithUnit(t *testing.T) {
	for _, tc := range []struct {
		v     float64
		unit  string
		whole bool
		want  string
	}{
		{1234567, "", true, "1,234,567"},
		{0.5, "%", false, "0.5%"},
		{12.345, "ms", false, "12.35 ms"},
		{3 << 20, "bytes", false, "3.0 MiB"},
		{2.25, "/min", false, "2.2 /min"},
		{1.5, "", false, "1.50"},
		{math.NaN(), "/s", false, "–"},
	} {
		if got := withUnit(tc.v, tc.unit, tc.whole); got != tc.want {
			t.Errorf("withUnit(%v, %q) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}
