package cluster

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/market"
)

// TestFeedFiguresAndSymbolsOnFollower: a follower shows the leader's feed figures (read
// from Redis) and serves the leader's symbol data (asked over Redis); an unknown symbol
// has no data; with no leader, asks fail soft within about a second.
func TestFeedFiguresAndSymbolsOnFollower(t *testing.T) {
	client, prefix := testenv.MustRedis(t)
	a, _, stopA := startFeed(t, client, prefix, "A")
	waitFor(t, 5*time.Second, "A to lead", func() bool { return a.Metrics().Role == "leader" })
	b, recB, stopB := startFeed(t, client, prefix, "B")
	waitFor(t, 5*time.Second, "emissions on B", func() bool { return len(recB.all()) > 5 })

	if m := b.FeedMetrics(); m.Feed.Source != "sim" && m.Feed.Source != "none" {
		t.Fatalf("B's feed figures before any were shared: %+v", m.Feed)
	}
	waitFor(t, 5*time.Second, "the leader's figures on B", func() bool { return b.FeedMetrics().Feed.TicksTotal > 0 })
	first := b.FeedMetrics()
	if first.Feed.Source != "sim" || first.Feed.Symbols != len(testSymbols) {
		t.Fatalf("B's feed figures: %+v", first.Feed)
	}
	waitFor(t, 6*time.Second, "the figures to grow on B", func() bool {
		return b.FeedMetrics().Feed.TicksTotal > first.Feed.TicksTotal
	})
	if m := a.FeedMetrics(); m.Feed.Source != "sim" || m.Feed.TicksTotal < first.Feed.TicksTotal {
		t.Fatalf("A's own feed figures: %+v, B saw %d ticks", m.Feed, first.Feed.TicksTotal)
	}

	// Symbol data: B asks A. The leader's answer and its own data agree (a few ticks
	// apart at most: compare what cannot change between the two reads).
	syms := []string{"T05", "NOPE", "T05", "bad symbol", "T07"}
	got := b.SymbolStates(syms)
	if len(got) != len(syms) {
		t.Fatalf("%d states for %d symbols", len(got), len(syms))
	}
	for i, st := range got {
		known := syms[i] == "T05" || syms[i] == "T07"
		if st.Symbol != syms[i] || st.HasData != known || known && !(st.Price > 0 && st.Ticks > 0) {
			t.Fatalf("state %d for %s: %+v", i, syms[i], st)
		}
	}
	view, ok := b.SymbolView("T05")
	own, ownOK := a.SymbolView("T05")
	if !ok || !ownOK || !view.State.HasData || len(view.Prices) == 0 ||
		view.State.SessionStart != own.State.SessionStart || view.State.Open != own.State.Open ||
		!reflect.DeepEqual(view.Prices[0], own.Prices[0]) {
		t.Fatalf("B's view of T05: ok %v, %+v; A's: %+v", ok, view.State, own.State)
	}
	if _, ok := b.SymbolView("NOPE"); ok {
		t.Fatal("B found a symbol the feed does not know")
	}
	if _, ok := b.SymbolView("bad symbol"); ok {
		t.Fatal("B found an invalid symbol")
	}
	many := make([]string, 450) // over one request's bound: asked in three
	for i := range many {
		many[i] = testSymbols[i%len(testSymbols)]
	}
	for i, st := range b.SymbolStates(many) {
		if !st.HasData || st.Symbol != many[i] {
			t.Fatalf("state %d of many: %+v", i, st)
		}
	}

	// No leader: an instance that is not running asks at once in vain; with a listener
	// that never answers (a leader stuck), it waits about a second. Either way the
	// symbols come back without data.
	stopA()
	stopB()
	cold := New(Config{Redis: client, Prefix: prefix, Instance: "C", Logger: testenv.Logger()})
	for _, stuck := range []bool{false, true} {
		if stuck {
			silent := client.Subscribe(t.Context(), KeysFor(prefix).Ask)
			defer silent.Close()
			if _, err := silent.Receive(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		began := time.Now()
		states := cold.SymbolStates([]string{"T05", "T07"})
		_, ok := cold.SymbolView("T05")
		took := time.Since(began)
		if states[0].HasData || states[1].HasData || states[0].Symbol != "T05" || ok {
			t.Fatalf("stuck %v: %+v, view found %v", stuck, states, ok)
		}
		t.Logf("stuck %v: two asks took %s", stuck, took.Round(time.Millisecond))
		if took > 5*time.Second {
			t.Fatalf("stuck %v: asks took %s", stuck, took)
		}
	}
}

// TestCheckAsk: the leader refuses malformed requests.
func TestCheckAsk(t *testing.T) {
	many := make([]string, maxAskSymbols+1)
	for i := range many {
		many[i] = "A"
	}
	for _, c := range []struct {
		name string
		req  askRequest
		ok   bool
	}{
		{"states", askRequest{Kind: askStates, Symbols: []string{"A", "BRK.B"}}, true},
		{"view", askRequest{Kind: askView, Symbols: []string{"A"}}, true},
		{"no symbols", askRequest{Kind: askStates}, false},
		{"too many", askRequest{Kind: askStates, Symbols: many}, false},
		{"view of two", askRequest{Kind: askView, Symbols: []string{"A", "B"}}, false},
		{"invalid symbol", askRequest{Kind: askStates, Symbols: []string{"A", "a b"}}, false},
		{"unknown kind", askRequest{Kind: "drop", Symbols: []string{"A"}}, false},
	} {
		if err := checkAsk(c.req); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if !validAskID("0123456789abcdef0123456789abcdef") || validAskID("x:y") || validAskID("") {
		t.Error("validAskID")
	}
}

// TestWireFiguresKeepHiddenFields: the figures in Redis carry what market.Metrics' JSON
// leaves out.
func TestWireFiguresKeepHiddenFields(t *testing.T) {
	m := market.Metrics{Feed: market.FeedMetrics{Source: "sim", TicksTotal: 9, Rejected: 1, Coarse: 2, Coarsenings: 3},
		Events: market.EventCounts{Highs: 4, Dropped: 5}}
	b, err := json.Marshal(toWire("A", m))
	if err != nil {
		t.Fatal(err)
	}
	var w wireFigures
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	if got := w.metrics(); got != m {
		t.Fatalf("round trip: %+v, want %+v", got, m)
	}
}
