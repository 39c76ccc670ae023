package market

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tickstock/tickstock/internal/faultproxy"
	"github.com/tickstock/tickstock/market/polygontest"
)

const aggT0 = 1741962600000 // 2025-03-14T14:30:00Z

func TestPolygonStreamsAndReconnects(t *testing.T) {
	fake, url := polygontest.MustServer(t, "good-key", func(n int) ([]string, bool, bool) {
		switch n {
		case 1: // three aggregates, one message holding two, then the line drops
			return []string{
				"[" + polygontest.Agg("AAPL", 212.5, 100, aggT0+1000) + "]",
				"[" + polygontest.Agg("MSFT", 388, 200, aggT0+1000) + "," + polygontest.Agg("AAPL", 212.6, 50, aggT0+2000) + "]",
				`[{"ev":"T","sym":"AAPL","p":1}]`,                      // other events are ignored
				`not json`,                                             // skipped with a warning
				"[" + polygontest.Agg("AAPL", -1, 1, aggT0+2500) + "]", // bad aggregate skipped
			}, true, false
		default: // resumes after reconnecting
			return []string{"[" + polygontest.Agg("MSFT", 388.5, 10, aggT0+3000) + "]",
				polygontest.Agg("AAPL", 213, 70, aggT0+4000)}, false, false // a lone object is accepted too
		}
	})
	f, err := NewPolygonFeed(url, "good-key", []string{"MSFT", "AAPL", "MSFT"}, nil, WithBackoff(10*time.Millisecond, 40*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ticks, err := mustCollect(t, f, 5, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range ticks {
		got = append(got, fmt.Sprintf("%s %v %d %d", tk.Symbol, tk.Price, tk.Volume, tk.Time.UnixMilli()-aggT0))
	}
	want := []string{"AAPL 212.5 100 1000", "MSFT 388 200 1000", "AAPL 212.6 50 2000", "MSFT 388.5 10 3000", "AAPL 213 70 4000"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("ticks\n got %v\nwant %v", got, want)
	}
	conns, _, auths, subs := fake.Stats()
	if conns != 2 {
		t.Fatalf("%d connections, want 2 (one drop, one reconnect)", conns)
	}
	for i := range 2 {
		if auths[i] != "auth:good-key" || subs[i] != "subscribe:A.AAPL,A.MSFT" {
			t.Fatalf("connection %d sent %q then %q", i+1, auths[i], subs[i])
		}
	}
}

func TestPolygonBadKey(t *testing.T) {
	fake, url := polygontest.MustServer(t, "good-key", func(int) ([]string, bool, bool) { return nil, false, false })
	var logs logRecords
	f, err := NewPolygonFeed(url, "bad-key", []string{"AAPL"}, logs.logger(), WithBackoff(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = mustCollect(t, f, -1, 10*time.Second)
	if !errors.Is(err, ErrPolygonAuth) || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("err = %v, want ErrPolygonAuth", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("took %v", el)
	}
	if conns, _, _, _ := fake.Stats(); conns != 1 {
		t.Fatalf("%d connections: a bad key must not be retried", conns)
	}
	if strings.Contains(logs.buf.String(), "bad-key") {
		t.Fatal("the API key was logged")
	}
}

func TestPolygonBackoff(t *testing.T) {
	const base = 20 * time.Millisecond
	fake, url := polygontest.MustServer(t, "k", func(n int) ([]string, bool, bool) {
		if n <= 4 {
			return nil, false, true // hang up at once: no data, so the wait keeps doubling
		}
		return []string{"[" + polygontest.Agg("AAPL", 1, 1, aggT0) + "]"}, false, false
	})
	f, err := NewPolygonFeed(url, "k", []string{"AAPL"}, nil, WithBackoff(base, 4*base))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mustCollect(t, f, 1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	_, acc, _, _ := fake.Stats()
	if len(acc) != 5 {
		t.Fatalf("%d connections, want 5", len(acc))
	}
	// Waits: base, 2 base, 4 base, then capped at 4 base.
	for i, min := range []time.Duration{base, 2 * base, 4 * base, 4 * base} {
		if gap := acc[i+1].Sub(acc[i]); gap < min {
			t.Errorf("wait before connection %d: %v, want at least %v", i+2, gap, min)
		}
	}
}

func TestPolygonStopsOnCancel(t *testing.T) {
	_, url := polygontest.MustServer(t, "k", func(int) ([]string, bool, bool) { return nil, false, false })
	f, err := NewPolygonFeed(url, "k", []string{"AAPL"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := f.Run(ctx, make(chan Tick)); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
}

func TestNewPolygonFeedErrors(t *testing.T) {
	tests := []struct {
		name, url, key string
		syms           []string
		opts           []PolygonOption
	}{
		{"empty key", "", "", []string{"A"}, nil},
		{"http url", "http://x", "k", []string{"A"}, nil},
		{"no symbols", "", "k", nil, nil},
		{"bad backoff", "", "k", []string{"A"}, []PolygonOption{WithBackoff(time.Second, time.Millisecond)}},
	}
	for _, tt := range tests {
		if _, err := NewPolygonFeed(tt.url, tt.key, tt.syms, nil, tt.opts...); err == nil {
			t.Errorf("%s: want error", tt.name)
		}
	}
	f, err := NewPolygonFeed("", "k", []string{"A"}, nil)
	if err != nil || f.url != DefaultPolygonURL || f.base != time.Second || f.max != time.Minute {
		t.Fatalf("defaults: %+v, %v", f, err)
	}
}

func TestParsePolygon(t *testing.T) {
	msgs, err := parsePolygon([]byte(" ["+polygontest.Agg("AAPL", 10, 5, aggT0)+`,{"ev":"status","status":"success","message":"ok"}]`), nil)
	if err != nil || len(msgs) != 2 || msgs[0].Sym != "AAPL" || msgs[0].Close != 10 || msgs[1].Status != "success" {
		t.Fatalf("%+v %v", msgs, err)
	}
	// A reused slice must not leak fields of earlier messages.
	msgs, err = parsePolygon([]byte(`[{"ev":"A","c":5,"e":1}]`), msgs)
	if err != nil || len(msgs) != 1 || msgs[0].Sym != "" || msgs[0].Volume != 0 {
		t.Fatalf("stale fields: %+v %v", msgs, err)
	}
	if _, err := parsePolygon([]byte(`[{"ev":"A","c":"x"}]`), msgs); err == nil {
		t.Fatal("want error for a mistyped field")
	}
	intern := map[string]string{}
	tests := []struct {
		m  polygonMsg
		ok bool
	}{
		{polygonMsg{Ev: "A", Sym: "BRK.B", Close: 1, Volume: 0, End: aggT0}, true},
		{polygonMsg{Ev: "A", Sym: "aapl", Close: 1, End: aggT0}, false},
		{polygonMsg{Ev: "A", Sym: "AAPL", Close: 0, End: aggT0}, false},
		{polygonMsg{Ev: "A", Sym: "AAPL", Close: 1, Volume: -1, End: aggT0}, false},
		{polygonMsg{Ev: "A", Sym: "AAPL", Close: 1, End: 0}, false},
	}
	for _, tt := range tests {
		if _, ok := tt.m.tick(intern); ok != tt.ok {
			t.Errorf("tick(%+v) ok = %v", tt.m, ok)
		}
	}
}

// BenchmarkPolygonParse measures decoding provider messages into ticks: one aggregate per
// message, as the provider sends most of them.
func BenchmarkPolygonParse(b *testing.B) {
	syms := simSymbols(200)
	raw := make([][]byte, len(syms))
	for i, s := range syms {
		raw[i] = []byte("[" + polygontest.Agg(s, 100+float64(i)/7, 100+i, aggT0+int64(i)*1000) + "]")
	}
	intern := map[string]string{}
	var msgs []polygonMsg
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		var err error
		msgs, err = parsePolygon(raw[i%len(raw)], msgs)
		if err != nil {
			b.Fatal(err)
		}
		for k := range msgs {
			if _, ok := msgs[k].tick(intern); ok {
				n++
			}
		}
	}
	if n != b.N {
		b.Fatalf("%d ticks from %d messages", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// feedRun runs f in the background and returns its tick channel and a stop function that
// cancels it and returns Run's error.
func feedRun(tb testing.TB, f Feed) (<-chan Tick, func() error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan Tick, 64)
	errc := make(chan error, 1)
	go func() { errc <- f.Run(ctx, ch) }()
	stop := func() error {
		cancel()
		return <-errc
	}
	tb.Cleanup(func() { cancel() })
	return ch, stop
}

// mustTick waits for the next tick of sym (skipping others) or fails after d.
func mustTick(tb testing.TB, ch <-chan Tick, sym string, d time.Duration) Tick {
	tb.Helper()
	deadline := time.After(d)
	for {
		select {
		case tk := <-ch:
			if tk.Symbol == sym {
				return tk
			}
		case <-deadline:
			tb.Fatalf("no %s tick within %v", sym, d)
		}
	}
}

func TestPolygonAddSymbols(t *testing.T) {
	fake, url := polygontest.MustServer(t, "k", func(n int) ([]string, bool, bool) {
		return []string{"[" + polygontest.Agg("AAPL", 212, 10, aggT0+int64(n)*10_000) + "]"}, false, false
	})
	fake.OnSubscribe(func(params string) []string {
		if strings.Contains(params, "A.NEW") {
			return []string{"[" + polygontest.Agg("NEW", 5.5, 7, aggT0+5000) + "]"}
		}
		return nil
	})
	proxy := faultproxy.MustStart(t, strings.TrimPrefix(url, "ws://"))
	f, err := NewPolygonFeed("ws://"+proxy.Addr(), "k", []string{"AAPL"}, nil, WithBackoff(10*time.Millisecond, 40*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// Before Run: kept for the first connection.
	if err := f.AddSymbols([]string{"MSFT"}); err != nil {
		t.Fatal(err)
	}
	ch, stop := feedRun(t, f)
	mustTick(t, ch, "AAPL", 10*time.Second)
	// While connected: subscribed at once on the live connection; known ones are ignored.
	if err := f.AddSymbols([]string{"NEW", "AAPL", "NEW"}); err != nil {
		t.Fatal(err)
	}
	if tk := mustTick(t, ch, "NEW", 10*time.Second); tk.Price != 5.5 || tk.Volume != 7 {
		t.Fatalf("NEW tick %+v", tk)
	}
	// After a reconnect, the first subscribe holds every symbol.
	proxy.DropAll()
	mustTick(t, ch, "AAPL", 10*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_, _, _, subs := fake.Stats()
	want := []string{"subscribe:A.AAPL,A.MSFT", "subscribe:A.NEW", "subscribe:A.AAPL,A.MSFT,A.NEW"}
	if strings.Join(subs, " ") != strings.Join(want, " ") {
		t.Fatalf("subscribes %q\nwant %q", subs, want)
	}
	if err := f.AddSymbols([]string{"ok", "BAD SYMBOL"}); err == nil {
		t.Fatal("invalid symbols accepted")
	}
}

// TestPolygonIdlePing puts a TCP proxy between the feed and the provider. A quiet but live
// connection (the provider answers pings) is kept; when the proxy stalls, as a half-open
// connection or a hung network does, the unanswered ping ends the connection and the feed
// reconnects, and ticks flow again once the network is back.
func TestPolygonIdlePing(t *testing.T) {
	fake, url := polygontest.MustServer(t, "k", func(n int) ([]string, bool, bool) {
		return []string{"[" + polygontest.Agg("AAPL", 200+float64(n), 1, aggT0+int64(n)*1000) + "]"}, false, false
	})
	proxy := faultproxy.MustStart(t, strings.TrimPrefix(url, "ws://"))
	var logs logRecords
	const idle, pong = 150 * time.Millisecond, 150 * time.Millisecond
	debug := slog.New(slog.NewJSONHandler(&logs.buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f, err := NewPolygonFeed("ws://"+proxy.Addr(), "k", []string{"AAPL"}, debug,
		WithBackoff(10*time.Millisecond, 20*time.Millisecond), WithTimeouts(time.Second, idle, pong))
	if err != nil {
		t.Fatal(err)
	}
	ch, stop := feedRun(t, f)
	if tk := mustTick(t, ch, "AAPL", 10*time.Second); tk.Price != 201 {
		t.Fatalf("first tick %+v", tk)
	}
	// Quiet for many idle periods: pinged, answered, kept.
	time.Sleep(8 * idle)
	if n := proxy.Accepted(); n != 1 {
		t.Fatalf("%d connections while quiet but alive, want 1", n)
	}
	stalled := time.Now()
	proxy.Stall(true)
	for proxy.Accepted() < 2 {
		if time.Since(stalled) > 5*time.Second {
			t.Fatal("no reconnect after the connection went silent")
		}
		time.Sleep(10 * time.Millisecond)
	}
	detected := time.Since(stalled)
	proxy.Up()
	if tk := mustTick(t, ch, "AAPL", 10*time.Second); tk.Price < 202 {
		t.Fatalf("tick after the stall %+v: not from a new connection", tk)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if conns, _, _, _ := fake.Stats(); conns < 2 {
		t.Fatalf("%d provider connections", conns)
	}
	var warned bool
	var pongs int
	for _, rec := range logs.all(t) {
		switch rec["msg"] {
		case "polygon: connection lost; reconnecting":
			warned = warned || strings.Contains(fmt.Sprint(rec["err"]), "no pong")
		case "polygon: quiet connection answered a ping":
			pongs++
		}
	}
	if !warned || pongs < 3 {
		t.Fatalf("reconnect log naming the missing pong: %v; pings answered while quiet: %d\n%s", warned, pongs, logs.buf.String())
	}
	t.Logf("silence detected and a new connection opened %v after the stall (idle %v, pong wait %v)", detected, idle, pong)
}
