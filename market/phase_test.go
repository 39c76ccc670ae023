package market

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// ny is a New York wall-clock time.
func ny(y int, m time.Month, d, h, min, sec, ms int) time.Time {
	return time.Date(y, m, d, h, min, sec, ms*1e6, nyLoc)
}

func TestPhaseAt(t *testing.T) {
	tests := []struct {
		name string
		at   time.Time
		want Phase
	}{
		// A plain Wednesday, across each boundary.
		{"midnight", ny(2025, 3, 12, 0, 0, 0, 0), PhaseClosed},
		{"03:59:59.999", ny(2025, 3, 12, 3, 59, 59, 999), PhaseClosed},
		{"04:00 pre opens", ny(2025, 3, 12, 4, 0, 0, 0), PhasePre},
		{"09:29:59.999", ny(2025, 3, 12, 9, 29, 59, 999), PhasePre},
		{"09:30 regular opens", ny(2025, 3, 12, 9, 30, 0, 0), PhaseRegular},
		{"15:59:59.999", ny(2025, 3, 12, 15, 59, 59, 999), PhaseRegular},
		{"16:00 after-hours", ny(2025, 3, 12, 16, 0, 0, 0), PhaseAfter},
		{"19:59:59.999", ny(2025, 3, 12, 19, 59, 59, 999), PhaseAfter},
		{"20:00 closed", ny(2025, 3, 12, 20, 0, 0, 0), PhaseClosed},
		{"23:59:59.999", ny(2025, 3, 12, 23, 59, 59, 999), PhaseClosed},
		// The weekend is closed all day, and Friday night and Monday morning around it.
		{"Friday after-hours", ny(2025, 3, 14, 19, 0, 0, 0), PhaseAfter},
		{"Saturday noon", ny(2025, 3, 15, 12, 0, 0, 0), PhaseClosed},
		{"Saturday 10:00", ny(2025, 3, 15, 10, 0, 0, 0), PhaseClosed},
		{"Sunday 17:00", ny(2025, 3, 16, 17, 0, 0, 0), PhaseClosed},
		{"Monday 04:00", ny(2025, 3, 17, 4, 0, 0, 0), PhasePre},
		// Holidays are closed all day, the days around them are not.
		{"Good Friday 2025, 10:00", ny(2025, 4, 18, 10, 0, 0, 0), PhaseClosed},
		{"Good Friday 2025, 05:00", ny(2025, 4, 18, 5, 0, 0, 0), PhaseClosed},
		{"the Thursday before, 10:00", ny(2025, 4, 17, 10, 0, 0, 0), PhaseRegular},
		{"Christmas 2026 (a Friday), 17:00", ny(2026, 12, 25, 17, 0, 0, 0), PhaseClosed},
		{"Juneteenth 2027 observed on Friday the 18th", ny(2027, 6, 18, 11, 0, 0, 0), PhaseClosed},
		{"day after Thanksgiving 2025 keeps 16:00", ny(2025, 11, 28, 15, 0, 0, 0), PhaseRegular},
		{"day after Thanksgiving 2025 after-hours at 16:00", ny(2025, 11, 28, 16, 0, 0, 0), PhaseAfter},
		{"New Year's Eve 2027 trades", ny(2027, 12, 31, 10, 0, 0, 0), PhaseRegular},
		// DST: phases follow New York's clock on the days the clocks change.
		{"DST start Sunday", ny(2025, 3, 9, 10, 0, 0, 0), PhaseClosed},
		{"DST start Monday 09:29 EDT", time.Date(2025, 3, 10, 13, 29, 0, 0, time.UTC), PhasePre},
		{"DST start Monday 09:30 EDT", time.Date(2025, 3, 10, 13, 30, 0, 0, time.UTC), PhaseRegular},
		{"the Friday before DST, 09:30 EST", time.Date(2025, 3, 7, 14, 30, 0, 0, time.UTC), PhaseRegular},
		{"the Friday before DST, 13:30Z is 08:30 EST", time.Date(2025, 3, 7, 13, 30, 0, 0, time.UTC), PhasePre},
		{"DST end Monday 04:00 EST", time.Date(2025, 11, 3, 9, 0, 0, 0, time.UTC), PhasePre},
		{"DST end Monday 08:59Z is 03:59 EST", time.Date(2025, 11, 3, 8, 59, 0, 0, time.UTC), PhaseClosed},
		{"DST end Friday 20:00 EDT", time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC), PhaseClosed},
		{"DST end Friday 19:59 EDT", time.Date(2025, 10, 31, 23, 59, 0, 0, time.UTC), PhaseAfter},
		// The zone of the input does not matter, only the instant.
		{"Tokyo wall clock", ny(2025, 3, 12, 9, 30, 0, 0).In(time.FixedZone("JST", 9*3600)), PhaseRegular},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PhaseAt(tt.at); got != tt.want {
				t.Fatalf("PhaseAt(%v) = %v, want %v", tt.at.In(nyLoc), got, tt.want)
			}
		})
	}
}

func TestNextPhaseChange(t *testing.T) {
	tests := []struct {
		name   string
		at     time.Time
		next   Phase
		change time.Time
	}{
		{"night: pre opens at 04:00", ny(2025, 3, 12, 1, 0, 0, 0), PhasePre, ny(2025, 3, 12, 4, 0, 0, 0)},
		{"pre: opens at 09:30", ny(2025, 3, 12, 7, 16, 0, 0), PhaseRegular, ny(2025, 3, 12, 9, 30, 0, 0)},
		{"on the open: after-hours next", ny(2025, 3, 12, 9, 30, 0, 0), PhaseAfter, ny(2025, 3, 12, 16, 0, 0, 0)},
		{"after: closes at 20:00", ny(2025, 3, 12, 16, 0, 0, 1), PhaseClosed, ny(2025, 3, 12, 20, 0, 0, 0)},
		{"evening: tomorrow's pre", ny(2025, 3, 12, 21, 0, 0, 0), PhasePre, ny(2025, 3, 13, 4, 0, 0, 0)},
		{"Friday evening: Monday's pre", ny(2025, 3, 14, 20, 0, 0, 0), PhasePre, ny(2025, 3, 17, 4, 0, 0, 0)},
		{"Saturday: Monday's pre", ny(2025, 3, 15, 12, 0, 0, 0), PhasePre, ny(2025, 3, 17, 4, 0, 0, 0)},
		{"Good Friday: Monday's pre", ny(2025, 4, 18, 9, 0, 0, 0), PhasePre, ny(2025, 4, 21, 4, 0, 0, 0)},
		{"Thursday before Good Friday: Monday", ny(2025, 4, 17, 20, 30, 0, 0), PhasePre, ny(2025, 4, 21, 4, 0, 0, 0)},
		{"Christmas Eve 2027 (observed) to Monday", ny(2027, 12, 23, 22, 0, 0, 0), PhasePre, ny(2027, 12, 27, 4, 0, 0, 0)},
		{"DST start weekend", ny(2025, 3, 8, 12, 0, 0, 0), PhasePre, time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)},
		{"DST end weekend", ny(2025, 11, 1, 12, 0, 0, 0), PhasePre, time.Date(2025, 11, 3, 9, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, at := NextPhaseChange(tt.at)
			if p != tt.next || !at.Equal(tt.change) {
				t.Fatalf("NextPhaseChange(%v) = %v at %v, want %v at %v", tt.at.In(nyLoc), p, at, tt.next, tt.change.In(nyLoc))
			}
			if PhaseAt(at) != p || PhaseAt(at.Add(-time.Millisecond)) == p {
				t.Fatalf("the phase does not change to %v at %v", p, at)
			}
		})
	}
}

// TestHolidays names every NYSE full-day closure of 2025-2027 the table holds: a new year's
// calendar is a change to this list.
func TestHolidays(t *testing.T) {
	want := map[string]string{
		"2025-01-01": "New Year's Day",
		"2025-01-09": "National Day of Mourning for President Carter",
		"2025-01-20": "Martin Luther King Jr. Day",
		"2025-02-17": "Washington's Birthday",
		"2025-04-18": "Good Friday",
		"2025-05-26": "Memorial Day",
		"2025-06-19": "Juneteenth",
		"2025-07-04": "Independence Day",
		"2025-09-01": "Labor Day",
		"2025-11-27": "Thanksgiving Day",
		"2025-12-25": "Christmas Day",
		"2026-01-01": "New Year's Day",
		"2026-01-19": "Martin Luther King Jr. Day",
		"2026-02-16": "Washington's Birthday",
		"2026-04-03": "Good Friday",
		"2026-05-25": "Memorial Day",
		"2026-06-19": "Juneteenth",
		"2026-07-03": "Independence Day (observed)",
		"2026-09-07": "Labor Day",
		"2026-11-26": "Thanksgiving Day",
		"2026-12-25": "Christmas Day",
		"2027-01-01": "New Year's Day",
		"2027-01-18": "Martin Luther King Jr. Day",
		"2027-02-15": "Washington's Birthday",
		"2027-03-26": "Good Friday",
		"2027-05-31": "Memorial Day",
		"2027-06-18": "Juneteenth (observed)",
		"2027-07-05": "Independence Day (observed)",
		"2027-09-06": "Labor Day",
		"2027-11-25": "Thanksgiving Day",
		"2027-12-24": "Christmas Day (observed)",
	}
	if len(nyseHolidays) != len(want) {
		t.Fatalf("the table holds %d days, the test names %d", len(nyseHolidays), len(want))
	}
	for day, name := range want {
		t.Run(day+" "+name, func(t *testing.T) {
			d, err := time.ParseInLocation("2006-01-02", day, nyLoc)
			if err != nil {
				t.Fatal(err)
			}
			if got := Holiday(d.Add(12 * time.Hour)); got != name {
				t.Fatalf("Holiday = %q, want %q", got, name)
			}
			if wd := d.Weekday(); wd == time.Saturday || wd == time.Sunday {
				t.Fatalf("a holiday on a %v", wd)
			}
			for _, h := range []int{4, 9, 12, 16, 19} {
				if p := PhaseAt(d.Add(time.Duration(h) * time.Hour)); p != PhaseClosed {
					t.Fatalf("%02d:00 is %v, want closed", h, p)
				}
			}
			// The day before (or the Friday before a Monday) is not a holiday at 12:00
			// unless it is in the table too.
			prev := d.AddDate(0, 0, -1)
			if _, hol := want[prev.Format("2006-01-02")]; !hol && prev.Weekday() != time.Saturday && prev.Weekday() != time.Sunday {
				if p := PhaseAt(prev.Add(12 * time.Hour)); p != PhaseRegular {
					t.Fatalf("the day before, 12:00, is %v", p)
				}
			}
		})
	}
	if Holiday(ny(2025, 3, 12, 12, 0, 0, 0)) != "" || Holiday(ny(2028, 1, 17, 12, 0, 0, 0)) != "" {
		t.Fatal("Holiday names an ordinary day (or a year outside the table)")
	}
}

func TestPhaseText(t *testing.T) {
	for _, p := range []Phase{PhaseClosed, PhasePre, PhaseRegular, PhaseAfter} {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back Phase
		if err := json.Unmarshal(b, &back); err != nil || back != p || string(b) != fmt.Sprintf("%q", p.String()) {
			t.Fatalf("%v: %s %v %v", p, b, back, err)
		}
	}
	if _, err := json.Marshal(Phase(9)); err == nil {
		t.Fatal("an unknown phase marshalled")
	}
	var p Phase
	if err := p.UnmarshalText([]byte("open")); err == nil {
		t.Fatal(`"open" parsed`)
	}
}

// TestEventPhase checks that the engine stamps each event with its own time's phase (highs
// here; the surges these jumps also cause carry the same).
func TestEventPhase(t *testing.T) {
	day := ny(2025, 3, 12, 0, 0, 0, 0)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	ticks := []Tick{
		{Symbol: "T", Price: 100, Volume: 1, Time: at(3, 0)},
		{Symbol: "T", Price: 101, Volume: 1, Time: at(3, 59)}, // closed
		{Symbol: "T", Price: 102, Volume: 1, Time: at(4, 0)},  // pre
		{Symbol: "T", Price: 103, Volume: 1, Time: at(9, 30)}, // regular
		{Symbol: "T", Price: 104, Volume: 1, Time: at(16, 0)}, // after
		{Symbol: "T", Price: 105, Volume: 1, Time: at(20, 0)}, // closed
	}
	var got []Phase
	evs := flat(mustRun(t, ticks))
	for _, e := range ofKind(evs, KindHigh) {
		got = append(got, e.Phase())
	}
	for _, e := range evs {
		if e.Phase() != PhaseAt(e.Time().Time()) {
			t.Errorf("%v event at %v has phase %v", e.Kind, e.Time().Time(), e.Phase())
		}
	}
	want := []Phase{PhaseClosed, PhasePre, PhaseRegular, PhaseAfter, PhaseClosed}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("phases %v, want %v", got, want)
	}
}
