package market

import (
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"
)

// mustSimSnapshot runs n symbols through the simulator's warm-up (ten minutes of history)
// and returns the engine's snapshot, the engine, and the symbols.
func mustSimSnapshot(tb testing.TB, n int) (*Snapshot, *Engine, []string) {
	tb.Helper()
	return mustSimSnapshotRate(tb, n, 50*n)
}

func mustSimSnapshotRate(tb testing.TB, n, rate int) (*Snapshot, *Engine, []string) {
	tb.Helper()
	syms := make([]string, n)
	for i := range syms {
		syms[i] = fmt.Sprintf("S%04d", i)
	}
	sim, err := NewSimFeed(syms, 42, rate)
	if err != nil {
		tb.Fatal(err)
	}
	e := NewEngine(syms)
	var evs []Event
	sim.Warmup(t0, func(t Tick) { evs = e.Process(t, evs[:0]) })
	return e.Snapshot(), e, syms
}

func TestSnapshotBinaryRoundTrip(t *testing.T) {
	snap, e, syms := mustSimSnapshot(t, 300)
	b, err := snap.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	var d SnapshotDecoder
	got, err := d.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Now != snap.Now || got.Phase != snap.Phase || got.next != snap.next || got.nextAt != snap.nextAt ||
		got.baseStart != snap.baseStart || !reflect.DeepEqual(got.figs, snap.figs) ||
		!reflect.DeepEqual(got.tab.names, snap.tab.names) {
		t.Fatalf("decoded snapshot differs from the original")
	}
	active := 0
	for _, f := range snap.figs {
		if f.start != 0 {
			active++
		}
	}
	if active < len(syms)/2 {
		t.Fatalf("only %d of %d symbols have figures: the test proves little", active, len(syms))
	}
	for _, set := range [][]string{syms, syms[:10], {"S0007", "S0100", "NOPE"}, nil} {
		if w, g := snap.Summary(set), got.Summary(set); w != g {
			t.Errorf("Summary(%d symbols): decoded %+v, want %+v", len(set), g, w)
		}
		sel := NewSelection(set)
		if w, g := snap.Summary(set), got.SummaryOf(sel); w != g {
			t.Errorf("SummaryOf(%d symbols): decoded %+v, want %+v", len(set), g, w)
		}
	}
	t.Logf("%d symbols: %d bytes", len(syms), len(b))

	// The next snapshot of the same engine reuses the decoder's table; one with a new
	// symbol extends a copy of it, leaving the first snapshot as it was.
	again, err := d.Decode(b)
	if err != nil || again.tab != got.tab {
		t.Fatalf("same names: table not reused (%v)", err)
	}
	var evs []Event
	evs = e.Process(Tick{Symbol: "ZZNEW", Price: 10, Volume: 100, Time: snap.Now.Time().Add(time.Second)}, evs)
	_ = evs
	grown := e.Snapshot()
	gb, err := grown.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := d.Decode(gb)
	if err != nil {
		t.Fatal(err)
	}
	if g2.tab == got.tab || g2.tab.lineage != got.tab.lineage || got.tab.len() != len(syms) {
		t.Fatalf("a grown table must be a copy of the same lineage, leaving the old one alone")
	}
	if w, g := grown.Summary([]string{"ZZNEW", "S0001"}), g2.Summary([]string{"ZZNEW", "S0001"}); w != g {
		t.Fatalf("grown: decoded %+v, want %+v", g, w)
	}

	// Another engine (a new leader) has another table: the decoder starts a new one.
	other, _, _ := mustSimSnapshot(t, 5)
	ob, _ := other.AppendBinary(nil)
	g3, err := d.Decode(ob)
	if err != nil || g3.tab.lineage == got.tab.lineage {
		t.Fatalf("a different table must not reuse the old lineage (%v)", err)
	}
}

func TestSnapshotDecodeRejectsJunk(t *testing.T) {
	snap, _, _ := mustSimSnapshot(t, 20)
	good, _ := snap.AppendBinary(nil)
	var d SnapshotDecoder
	for i := range good { // every truncation
		if _, err := d.Decode(good[:i]); err == nil {
			t.Fatalf("a snapshot cut at %d of %d bytes decoded", i, len(good))
		}
	}
	for name, b := range map[string][]byte{
		"empty":      nil,
		"magic":      {'X', 1},
		"version":    {'S', 9},
		"trailing":   append(append([]byte{}, good...), 0),
		"huge count": {'S', 1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		if _, err := d.Decode(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	var nilSnap *Snapshot
	if _, err := nilSnap.AppendBinary(nil); err == nil {
		t.Error("a nil snapshot encoded")
	}
}

func FuzzSnapshotDecode(f *testing.F) {
	snap, _, _ := mustSimSnapshot(f, 8)
	good, _ := snap.AppendBinary(nil)
	f.Add(good)
	f.Add([]byte{'S', 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d SnapshotDecoder
		s, err := d.Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes must summarise without panicking and encode back to itself.
		_ = s.Summary(s.tab.names)
		again, err := s.AppendBinary(nil)
		if err != nil {
			t.Fatalf("decoded snapshot does not encode: %v", err)
		}
		s2, err := (&SnapshotDecoder{}).Decode(again)
		if err != nil || !reflect.DeepEqual(s2.figs, s.figs) {
			t.Fatalf("re-encoded snapshot does not round-trip: %v", err)
		}
	})
}

func BenchmarkSnapshotCodec(b *testing.B) {
	snap, _, _ := mustSimSnapshotRate(b, 10_000, 20_000)
	buf, _ := snap.AppendBinary(nil)
	runtime.GC() // the warm-up's garbage is not the codec's cost
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(buf)))
		out := make([]byte, 0, len(buf))
		for b.Loop() {
			out, _ = snap.AppendBinary(out[:0])
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(buf)))
		var d SnapshotDecoder
		for b.Loop() {
			if _, err := d.Decode(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
