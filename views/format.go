package views

import (
	"strconv"
	"time"
	_ "time/tzdata" // New York time without system tzdata

	"github.com/tickstock/tickstock/market"
)

// newYork is the exchange's clock; every time on the dashboard shows in it, marked "ET".
var newYork = mustLocation("America/New_York")

func mustLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// clock formats an event time as HH:MM:SS New York time, for table cells under a
// "Time (ET)" heading.
func clock(ms market.Millis) string {
	return time.UnixMilli(int64(ms)).In(newYork).Format("15:04:05")
}

// clockET formats an instant as "10:42:05 ET", for times that stand alone in a sentence.
func clockET(t time.Time) string { return t.In(newYork).Format("15:04:05") + " ET" }

// minuteET formats an instant as "09:31 ET" (in one allocation: every page says it).
func minuteET(t time.Time) string {
	var b [8]byte
	return string(t.In(newYork).AppendFormat(b[:0], "15:04")) + " ET"
}

// price formats a price with cents, or four decimals under $1, with thousands separators
// ($1,234.50).
func price(p float64) string {
	digits := 2
	if p < 1 {
		digits = 4
	}
	return groupDigits(strconv.FormatFloat(p, 'f', digits, 64))
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

// volume writes a share count with thousands separators below a million (950, 12,300)
// and abbreviated above (4.56M, 1.20B), so the column stays narrow.
func volume(v int64) string {
	f := float64(v)
	switch {
	case v >= 1_000_000_000:
		return strconv.FormatFloat(f/1e9, 'f', 2, 64) + "B"
	case v >= 1_000_000:
		return strconv.FormatFloat(f/1e6, 'f', 2, 64) + "M"
	}
	return thousands(v)
}

// thousands writes n with comma thousands separators: 1234567 → "1,234,567".
func thousands(n int64) string { return groupDigits(strconv.FormatInt(n, 10)) }

// groupDigits puts commas into the integer part of a formatted number ("-1234.50" →
// "-1,234.50").
func groupDigits(s string) string {
	start := 0
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		start = 1
	}
	end := start
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n := end - start
	if n <= 3 {
		return s
	}
	b := make([]byte, 0, len(s)+n/3)
	b = append(b, s[:start]...)
	for i := start; i < end; i++ {
		if i > start && (end-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(append(b, s[end:]...))
}

func fixed(v float64, digits int) string { return strconv.FormatFloat(v, 'f', digits, 64) }

func itoa(n int) string { return thousands(int64(n)) }

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
