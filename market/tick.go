package market

import (
	"time"
)

// Tick is one trade print or per-second aggregate: the only input of detection. Time is the
// tick's own time; detection never reads the wall clock.
type Tick struct {
	Symbol string    `json:"symbol"`
	Price  float64   `json:"price"`
	Volume int64     `json:"volume"`
	Time   time.Time `json:"time"`
}

// Millis is a point in time in Unix milliseconds. Events carry it instead of time.Time so
// that they marshal to a plain JSON number (SPEC section 7 uses Unix ms everywhere) and stay
// pointer-free.
type Millis int64

// MillisOf converts a time.Time to Millis, truncating below the millisecond.
func MillisOf(t time.Time) Millis { return Millis(t.UnixMilli()) }

// Time converts m back to a time.Time in UTC.
func (m Millis) Time() time.Time { return time.UnixMilli(int64(m)).UTC() }

// MaxSymbolLen is the longest symbol accepted, matching the universe_symbols CHECK
// constraint in the schema.
const MaxSymbolLen = 16

// ValidSymbol reports whether s is a well-formed ticker: 1 to 16 characters of A-Z, 0-9,
// '.' and '-' (for example BRK.B). It is the same rule the database enforces, so feeds,
// replay files and admin edits agree on what a symbol is.
func ValidSymbol(s string) bool {
	if len(s) == 0 || len(s) > MaxSymbolLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !symbolByte(s[i]) {
			return false
		}
	}
	return true
}

func symbolByte(c byte) bool {
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-'
}
