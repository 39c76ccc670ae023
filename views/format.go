package views

import (
	"strconv"
	"time"
	_ "time/tzdata" // New York time without system tzdata

	"github.com/tickstock/tickstock/market"
)

// newYork is the exchange's clock; event times show in it.
var newYork = mustLocation("America/New_York")

func mustLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// clock formats an event time as HH:MM:SS New York time.
func clock(ms market.Millis) string {
	return time.UnixMilli(int64(ms)).In(newYork).Format("15:04:05")
}

// price formats a price with cents, or four decimals under $1.
func price(p float64) string {
	if p < 1 {
		return strconv.FormatFloat(p, 'f', 4, 64)
	}
	return strconv.FormatFloat(p, 'f', 2, 64)
}

// pct formats a percentage with a sign.
func pct(p float64) string {
	s := strconv.FormatFloat(p, 'f', 2, 64) + "%"
	if p > 0 {
		return "+" + s
	}
	return s
}

// signClass colours a number by its sign.
func signClass(v float64) string {
	switch {
	case v > 0:
		return "num up"
	case v < 0:
		return "num down"
	}
	return "num"
}

// volume abbreviates a share count: 950, 12.3K, 4.56M, 1.2B.
func volume(v int64) string {
	f := float64(v)
	switch {
	case v >= 1_000_000_000:
		return strconv.FormatFloat(f/1e9, 'f', 2, 64) + "B"
	case v >= 1_000_000:
		return strconv.FormatFloat(f/1e6, 'f', 2, 64) + "M"
	case v >= 10_000:
		return strconv.FormatFloat(f/1e3, 'f', 1, 64) + "K"
	}
	return strconv.FormatInt(v, 10)
}

func fixed(v float64, digits int) string { return strconv.FormatFloat(v, 'f', digits, 64) }

func itoa(n int) string { return strconv.Itoa(n) }

func millis(ms int64) string { return strconv.FormatInt(ms, 10) }

// stamp shows an instant in UTC to the second (the server does not know the viewer's zone);
// the zero time is "never".
func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
