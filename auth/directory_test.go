package auth

import (
	"strings"
	"testing"

	"github.com/tickstock/tickstock"
)

func TestEscapeLike(t *testing.T) {
	for in, want := range map[string]string{
		"plain": "plain", "50%": `50\%`, "a_b": `a\_b`, `c:\dir`: `c:\\dir`, `%_\`: `\%\_\\`,
	} {
		if got := EscapeLike(in); got != want {
			t.Errorf("EscapeLike(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUserQueryValidate(t *testing.T) {
	q := UserQuery{Search: "  bob  ", Page: -3, PerPage: 10_000}
	if err := q.Validate(); err != nil || q.Search != "bob" || q.Page != 1 || q.PerPage != 200 {
		t.Fatalf("normalised %+v (%v)", q, err)
	}
	for _, bad := range []UserQuery{{Role: "root"}, {Status: "gone"}, {Search: strings.Repeat("é", MaxSearchLen+1)}} {
		if err := bad.Validate(); tickstock.ErrorCode(err) != tickstock.EINVALID {
			t.Errorf("Validate(%+v) = %v, want a 422", bad, err)
		}
	}
}
