package bus

import (
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/tickstock/tickstock/market"
)

// mustMarket runs n symbols through ten minutes of simulated history and returns up to
// maxEvents of the events detected (every kind among them) and the final snapshot.
func mustMarket(tb testing.TB, n, rate, maxEvents int) ([]market.Event, *market.Snapshot) {
	tb.Helper()
	syms := make([]string, n)
	for i := range syms {
		syms[i] = fmt.Sprintf("S%04d", i)
	}
	sim, err := market.NewSimFeed(syms, 7, rate)
	if err != nil {
		tb.Fatal(err)
	}
	eng := market.NewEngine(syms)
	// Highs and lows come first and trends only after ten minutes: keep up to maxEvents of
	// each kind, then mix them, so every kind is represented.
	var scratch []market.Event
	byKind := map[market.EventKind][]market.Event{}
	sim.Warmup(time.Date(2025, 3, 12, 15, 0, 0, 0, time.UTC), func(t market.Tick) {
		scratch = eng.Process(t, scratch[:0])
		for _, e := range scratch {
			if len(byKind[e.Kind]) < maxEvents {
				byKind[e.Kind] = append(byKind[e.Kind], e)
			}
		}
	})
	var all []market.Event
	for i := 0; len(all) < maxEvents; i++ {
		added := false
		for k := market.KindHigh; k <= market.KindSurge && len(all) < maxEvents; k++ {
			if i < len(byKind[k]) {
				all = append(all, byKind[k][i])
				added = true
			}
		}
		if !added {
			break
		}
	}
	kinds := map[market.EventKind]int{}
	for _, e := range all {
		kinds[e.Kind]++
	}
	if len(kinds) < 4 && maxEvents >= 1000 {
		tb.Fatalf("the simulated market gave only %v; the test needs every kind", kinds)
	}
	return all, eng.Snapshot()
}

func TestEmissionRoundTrip(t *testing.T) {
	events, snap := mustMarket(t, 200, 4000, 3000)
	for _, e := range []*Emission{
		{Token: 1717171717171, Seq: 1717171717999, At: 1741791600123, Events: events, Snapshot: snap},
		{Token: 2, Seq: 3, At: 4, FeedError: "market: feed stopped: replay ended"},
		{Token: 5, Seq: 6, At: -7, Events: events[:1]},
	} {
		b, err := AppendEmission(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		var d EmissionDecoder
		got, err := d.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.Token != e.Token || got.Seq != e.Seq || got.At != e.At || got.FeedError != e.FeedError {
			t.Fatalf("header: got %d/%d/%d/%q, want %d/%d/%d/%q", got.Token, got.Seq, got.At, got.FeedError,
				e.Token, e.Seq, e.At, e.FeedError)
		}
		if len(e.Events) > 0 && !reflect.DeepEqual(got.Events, e.Events) {
			for i := range e.Events {
				if got.Events[i] != e.Events[i] {
					t.Fatalf("event %d: got %+v, want %+v", i, got.Events[i], e.Events[i])
				}
			}
		}
		if (got.Snapshot == nil) != (e.Snapshot == nil) {
			t.Fatalf("snapshot: got %v, want %v", got.Snapshot != nil, e.Snapshot != nil)
		}
		if e.Snapshot != nil {
			syms := []string{"S0001", "S0002", "S0150", "NONE"}
			if w, g := e.Snapshot.Summary(syms), got.Snapshot.Summary(syms); w != g {
				t.Fatalf("summary: got %+v, want %+v", g, w)
			}
		}
		// The JSON the streams send is the same from the decoded events.
		if len(e.Events) > 0 {
			w, _ := json.Marshal(e.Events)
			g, _ := json.Marshal(got.Events)
			if string(w) != string(g) {
				t.Fatal("decoded events marshal to different JSON")
			}
		}
		t.Logf("%d events, snapshot %v: %d bytes", len(e.Events), e.Snapshot != nil, len(b))
	}
	if _, err := AppendEmission(nil, &Emission{Events: make([]market.Event, MaxEmissionEvents+1)}); err == nil {
		t.Fatal("an emission over MaxEmissionEvents encoded")
	}
	if _, err := AppendEmission(nil, &Emission{Events: make([]market.Event, 1)}); err == nil {
		t.Fatal("an event of no kind encoded")
	}
}

func TestEmissionDecodeRejectsJunk(t *testing.T) {
	events, snap := mustMarket(t, 20, 400, 50)
	good, err := AppendEmission(nil, &Emission{Token: 9, Seq: 10, At: 11, Events: events, Snapshot: snap})
	if err != nil {
		t.Fatal(err)
	}
	var d EmissionDecoder
	for i := range good {
		if _, err := d.Decode(good[:i]); err == nil {
			t.Fatalf("an emission cut at %d of %d bytes decoded", i, len(good))
		}
	}
	bad := map[string][]byte{
		"empty":   nil,
		"magic":   {'X', 1},
		"version": {'E', 2},
		"count":   {'E', 1, 1, 1, 1, 0, 0xff, 0xff, 0x03},
		"flag":    {'E', 1, 1, 1, 1, 0, 0, 7},
		"tail":    {'E', 1, 1, 1, 1, 0, 0, 0, 0},
		"kind":    append([]byte{'E', 1, 1, 1, 1, 0, 1, 9, 1, 'A'}, make([]byte, 40)...),
	}
	for name, b := range bad {
		if _, err := d.Decode(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func FuzzDecodeEmission(f *testing.F) {
	events, snap := mustMarket(f, 10, 200, 20)
	good, _ := AppendEmission(nil, &Emission{Token: 3, Seq: 4, At: 5, Events: events, Snapshot: snap})
	f.Add(good)
	empty, _ := AppendEmission(nil, &Emission{Token: 1, Seq: 1})
	f.Add(empty)
	f.Fuzz(func(t *testing.T, b []byte) {
		var d EmissionDecoder
		e, err := d.Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes is an emission that encodes again and renders without panic.
		again, err := AppendEmission(nil, e)
		if err != nil {
			t.Fatalf("a decoded emission does not encode: %v", err)
		}
		e2, err := (&EmissionDecoder{}).Decode(again)
		if err != nil || e2.Seq != e.Seq || len(e2.Events) != len(e.Events) {
			t.Fatalf("re-encoded emission does not round-trip: %v", err)
		}
		_, _ = json.Marshal(e.Events)
		if e.Snapshot != nil {
			_ = e.Snapshot.Summary([]string{"A", "S0001"})
		}
	})
}

// BenchmarkEmission measures the bus's cost per emission at the sizes of a real market's
// peak: a burst of 10,000 events and the figures of 10,000 symbols. JSON is shown for
// comparison only.
func BenchmarkEmission(b *testing.B) {
	events, _ := mustMarket(b, 2000, 20_000, MaxEmissionEvents)
	_, snap := mustMarket(b, 10_000, 20_000, 0)
	runtime.GC()
	cases := []struct {
		name string
		e    *Emission
	}{
		{"10k-events", &Emission{Token: 1, Seq: 2, At: 3, Events: events}},
		{"10k-symbols-snapshot", &Emission{Token: 1, Seq: 2, At: 3, Snapshot: snap}},
		{"100-events+10k-symbols", &Emission{Token: 1, Seq: 2, At: 3, Events: events[:100], Snapshot: snap}},
	}
	for _, c := range cases {
		buf, err := AppendEmission(nil, c.e)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/encode", func(b *testing.B) {
			b.ReportAllocs()
			out := make([]byte, 0, len(buf))
			for b.Loop() {
				out, _ = AppendEmission(out[:0], c.e)
			}
			b.ReportMetric(float64(len(buf)), "wire-bytes")
		})
		b.Run(c.name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			var d EmissionDecoder
			for b.Loop() {
				if _, err := d.Decode(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("10k-events/json-encode", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for b.Loop() {
			j, _ := json.Marshal(events)
			n = len(j)
		}
		b.ReportMetric(float64(n), "wire-bytes")
	})
}
