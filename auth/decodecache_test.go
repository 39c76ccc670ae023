package auth

import (
	"encoding/json"
	"testing"
	"time"
)

// TestDecodeCacheGivesEachCallerItsOwnState checks the decode cache against decode itself:
// the same state under each caller's id, a copy each caller may change, a changed record
// read afresh, and a damaged one refused.
func TestDecodeCacheGivesEachCallerItsOwnState(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	st := &State{UserID: 7, Handle: "h7", LoginAt: now, CSRF: "tok", Ref: "ref", seen: now,
		dev: Device{IP: "10.0.0.1", UserAgent: "Firefox on Linux"}}
	rec, err := json.Marshal(st.record())
	if err != nil {
		t.Fatal(err)
	}
	c := decodeCache{states: capped[State]{limit: maxDecoded}}
	for _, id := range []string{"a", "b", "a"} {
		got, want := c.decode(id, string(rec)), decode(id, rec)
		if *got != *want {
			t.Fatalf("cached %+v, decoded %+v", *got, *want)
		}
		got.seen = got.seen.Add(time.Hour) // Touch changes its copy
		got.Handle = "changed"
	}
	st.seen = now.Add(2 * time.Minute)
	touched, _ := json.Marshal(st.record())
	if got := c.decode("a", string(touched)); !got.seen.Equal(st.seen) || got.Handle != "h7" {
		t.Fatalf("after a touch: %+v", *got)
	}
	if got := c.decode("a", `{"uid":7`); got != nil {
		t.Fatalf("a damaged record decoded to %+v", *got)
	}
}
