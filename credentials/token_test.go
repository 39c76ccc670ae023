package credentials

import (
	"errors"
	"strings"
	"testing"
)

func TestParseBearer(t *testing.T) {
	good := newToken(API)
	for _, tc := range []struct {
		header string
		token  string
		ok     bool
		err    error
	}{
		{"", "", false, nil},
		{"Basic dXNlcjpwYXNz", "", false, nil},
		{"Bearerish " + good, "", false, nil},
		{"Bearer " + good, good, true, nil},
		{"bearer " + good, good, true, nil},
		{"BEARER\t" + good + "  ", good, true, nil},
		{"  Bearer   " + good, good, true, nil},
		{"Bearer", "", true, ErrMalformed},
		{"Bearer ", "", true, ErrMalformed},
		{"Bearer " + good + "x", "", true, ErrMalformed},
		{"Bearer " + good[:len(good)-1], "", true, ErrMalformed},
		{"Bearer " + good + " " + good, "", true, ErrMalformed},
		{"Bearer " + newToken(Embed), "", true, ErrMalformed},
		{"Bearer " + strings.Replace(good, good[10:11], "+", 1), "", true, ErrMalformed},
		{"Bearer " + good[:20] + "\x00" + good[21:], "", true, ErrMalformed},
	} {
		token, ok, err := ParseBearer(tc.header)
		if token != tc.token || ok != tc.ok || !errors.Is(err, tc.err) {
			t.Errorf("ParseBearer(%q) = %q, %v, %v; want %q, %v, %v", tc.header, token, ok, err, tc.token, tc.ok, tc.err)
		}
	}
}

// FuzzParseBearer: whatever the header, the parser neither panics nor accepts anything
// but a well-formed API token that the header holds; its error never quotes the header;
// and every token it makes round-trips.
func FuzzParseBearer(f *testing.F) {
	good := newToken(API)
	for _, s := range []string{"", "Bearer", "Bearer " + good, "bearer\t" + good, "Basic x", "Bearer " + good + "\x00",
		"Bearer tsk_", "Bearer " + newToken(Embed), "Bearer  " + good + " ", "\u00a0Bearer " + good} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		token, ok, err := ParseBearer(header)
		if err != nil {
			if !ok || token != "" || !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v with ok=%v token=%q", err, ok, token)
			}
			if len(header) > 8 && strings.Contains(err.Error(), header) {
				t.Fatal("the error quotes the header")
			}
			return
		}
		if !ok {
			if token != "" {
				t.Fatalf("not a bearer header, yet token %q", token)
			}
			return
		}
		if !WellFormed(API, token) || !strings.Contains(header, token) {
			t.Fatalf("accepted %q from %q", token, header)
		}
		again, ok2, err2 := ParseBearer("Bearer " + token)
		if again != token || !ok2 || err2 != nil {
			t.Fatalf("round trip of %q: %q %v %v", token, again, ok2, err2)
		}
	})
}

func TestTokensAreRandom(t *testing.T) {
	seen := make(map[string]bool)
	for i := 0; i < 1000; i++ {
		for _, k := range []Kind{Embed, API} {
			tok := newToken(k)
			if !WellFormed(k, tok) || seen[tok] {
				t.Fatalf("token %q (repeat: %v)", tok, seen[tok])
			}
			seen[tok] = true
		}
		if h := newHandle(); !wellFormedHandle(h) || seen[h] {
			t.Fatalf("handle %q", h)
		} else {
			seen[h] = true
		}
	}
}
