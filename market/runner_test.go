package market

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// mustEngineEvents processes ticks directly, for comparison with a Runner.
func mustEngineEvents(tb testing.TB, ticks []Tick) []Event {
	tb.Helper()
	e := NewEngine(nil)
	var out []Event
	for _, t := range ticks {
		out = e.Process(t, out)
	}
	return out
}

func mustRunner(tb testing.TB, cfg RunnerConfig) *Runner {
	tb.Helper()
	r, err := NewRunner(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func TestRunnerDrainWhileRunning(t *testing.T) {
	ticks, _ := benchTicks(60, 700, 11)
	want := mustEngineEvents(t, ticks)
	r := mustRunner(t, RunnerConfig{Feed: SliceFeed(ticks), Source: "replay"})

	done := make(chan struct{})
	var runErr error
	go func() { runErr = r.Run(context.Background()); close(done) }()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // readers of metrics and summaries, racing with the engine
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			_ = r.Metrics()
			_ = r.Summary(NewSelection([]string{"S00001", "S00002"}))
		}
	}()
	var got []Event
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		case <-time.After(time.Millisecond):
		}
		b := r.Drain()
		got = append(got, b.Events...)
		if b.Snapshot == nil {
			t.Fatal("no snapshot")
		}
	}
	wg.Wait()
	if runErr != nil {
		t.Fatal(runErr)
	}
	got = append(got, r.Drain().Events...)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("drained %d events, engine gave %d", len(got), len(want))
	}
	m := r.Metrics()
	var counts [KindSurge + 1]uint64
	for _, e := range want {
		counts[e.Kind]++
	}
	if m.Feed.TicksTotal != uint64(len(ticks)) || m.Feed.Symbols != 60 || m.Feed.Source != "replay" ||
		m.Events.Highs != counts[KindHigh] || m.Events.Lows != counts[KindLow] ||
		m.Events.Trends != counts[KindTrend] || m.Events.Surges != counts[KindSurge] {
		t.Fatalf("metrics %+v, events by kind %v", m, counts)
	}
	if len(r.Drain().Events) != 0 {
		t.Fatal("a second Drain returned events again")
	}
}

func TestRunnerMaxPending(t *testing.T) {
	ticks, _ := benchTicks(60, 700, 11)
	r := mustRunner(t, RunnerConfig{Feed: SliceFeed(ticks), MaxPending: 100})
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := r.Drain()
	total := len(mustEngineEvents(t, ticks))
	if len(b.Events) > 100 || b.Dropped == 0 || len(b.Events)+b.Dropped != total ||
		r.Metrics().Events.Dropped != uint64(b.Dropped) {
		t.Fatalf("kept %d, dropped %d of %d", len(b.Events), b.Dropped, total)
	}
}

type failingFeed struct{}

func (failingFeed) Run(context.Context, chan<- Tick) error { return errors.New("boom") }

func TestRunnerFeedError(t *testing.T) {
	r := mustRunner(t, RunnerConfig{Feed: failingFeed{}, Source: "polygon"})
	err := r.Run(context.Background())
	if err == nil || err.Error() != "market: polygon feed: boom" {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewRunner(RunnerConfig{}); err == nil {
		t.Fatal("no feed: want error")
	}
}

func TestRunnerSimWarmupAndLogs(t *testing.T) {
	syms := simSymbols(30)
	f, err := NewSimFeed(syms, 5, 3000)
	if err != nil {
		t.Fatal(err)
	}
	var logs logRecords
	r := mustRunner(t, RunnerConfig{Feed: f, Symbols: syms, Source: "sim", Logger: logs.logger(), LogInterval: 50 * time.Millisecond})
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	if err := r.Run(ctx); err != nil {
		t.Fatalf("Run = %v, want nil on cancel", err)
	}
	b := r.Drain()
	for _, e := range b.Events {
		if e.Time().Time().Before(start.Add(-time.Second)) {
			t.Fatalf("a warm-up event was published: %+v", e)
		}
	}
	m := r.Metrics()
	if m.Feed.TicksTotal == 0 || m.Feed.Symbols != 30 {
		t.Fatalf("metrics %+v", m)
	}
	// The warm-up history makes every window ready: the summary sees 5 minutes of ticks,
	// and the activity has a base to compare the last minute with.
	s := b.Summary(syms)
	if s.UniverseSize != 30 || s.Ticks300s < 30*100 || ActivityLevel(0) == s.Activity || s.Activity == "" {
		t.Fatalf("summary %+v", s)
	}
	var stats, stopped int
	for _, rec := range logs.all(t) {
		switch rec["msg"] {
		case "market: feed stats":
			stats++
			for _, k := range []string{"source", "ticks_total", "ticks_per_second", "symbols", "highs", "lows", "trends", "surges"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("stats log lacks %s: %v", k, rec)
				}
			}
		case "market: feed stopped":
			stopped++
		}
	}
	if stats == 0 || stopped != 1 {
		t.Fatalf("%d stats logs, %d stop logs:\n%s", stats, stopped, logs.buf.String())
	}
}

func TestRunnerHealth(t *testing.T) {
	path := mustWriteFile(t, "time,symbol,price,volume\n2025-03-14T14:30:00Z,AAPL,212.31,1200\n2025-03-14T14:30:01Z,AAPL,212.5,100\n")
	replay, err := NewReplayFeed(path, 0, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	blocked := make(chan struct{})
	tests := []struct {
		name    string
		feed    Feed
		cancel  bool   // stop by ctx
		errPart string // in Health's error
		logged  bool   // an ERROR log
	}{
		{"a replay that ended without loop", replay, false, "replay feed ended", true},
		{"a failing feed", failingFeed{}, false, "polygon feed: boom", true},
		{"a rejected key", keyRejected{}, false, "authentication failed", true},
		{"shutdown", blockingFeed{blocked}, true, "shut down", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs logRecords
			src := "polygon"
			if _, ok := tt.feed.(*ReplayFeed); ok {
				src = "replay"
			}
			r := mustRunner(t, RunnerConfig{Feed: tt.feed, Source: src, Logger: logs.logger()})
			if err := r.Health(); err != nil {
				t.Fatalf("before Run: %v", err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			if tt.cancel {
				<-blocked
				if err := r.Health(); err != nil {
					t.Fatalf("while running: %v", err)
				}
				cancel()
			}
			<-done
			err := r.Health()
			if !errors.Is(err, ErrFeedStopped) || !strings.Contains(err.Error(), tt.errPart) {
				t.Fatalf("Health = %v, want ErrFeedStopped with %q", err, tt.errPart)
			}
			var errors int
			for _, rec := range logs.all(t) {
				if rec["level"] == "ERROR" && rec["msg"] == "market: feed stopped for good" {
					errors++
				}
			}
			if (errors == 1) != tt.logged {
				t.Fatalf("%d ERROR logs, want logged=%v:\n%s", errors, tt.logged, logs.buf.String())
			}
		})
	}
}

type keyRejected struct{}

func (keyRejected) Run(context.Context, chan<- Tick) error {
	return fmt.Errorf("%w: bad key", ErrPolygonAuth)
}

type blockingFeed struct{ started chan struct{} }

func (f blockingFeed) Run(ctx context.Context, _ chan<- Tick) error {
	close(f.started)
	<-ctx.Done()
	return nil
}

func TestRunnerAddSymbolsAndView(t *testing.T) {
	syms := simSymbols(5)
	f, err := NewSimFeed(syms, 3, 2000)
	if err != nil {
		t.Fatal(err)
	}
	var logs logRecords
	r := mustRunner(t, RunnerConfig{Feed: f, Symbols: syms, Source: "sim", Logger: logs.logger()})
	if _, err := r.AddSymbols([]string{"GOOD", "not ok", "ALSO BAD"}); err == nil ||
		!strings.Contains(err.Error(), `"not ok"`) || !strings.Contains(err.Error(), `"ALSO BAD"`) {
		t.Fatalf("invalid symbols: %v", err)
	}
	if _, ok := r.SymbolView("GOOD"); ok {
		t.Fatal("an invalid batch added GOOD")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	added, err := r.AddSymbols([]string{"WLNEW", syms[0], "WLNEW"})
	if err != nil || added != 1 {
		t.Fatalf("added %d, %v", added, err)
	}
	// Known at once ("no data yet"), then ticking.
	v, ok := r.SymbolView("WLNEW")
	if !ok {
		t.Fatal("WLNEW unknown after AddSymbols")
	}
	for deadline := time.Now().Add(5 * time.Second); !v.State.HasData; v, _ = r.SymbolView("WLNEW") {
		if time.Now().After(deadline) {
			t.Fatal("the simulator never ticked the added symbol")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m := r.Metrics(); m.Feed.Symbols != 6 {
		t.Fatalf("metrics %+v", m.Feed)
	}
	if s := r.Summary(NewSelection([]string{"WLNEW"})); s.Ticks10s == 0 {
		t.Fatalf("summary %+v", s)
	}
	states := r.SymbolStates([]string{"WLNEW", "NEVER"})
	if len(states) != 2 || !states[0].HasData || states[0].Symbol != "WLNEW" || states[0].Price <= 0 ||
		states[1] != (SymbolState{Symbol: "NEVER"}) {
		t.Fatalf("SymbolStates = %+v", states)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := r.SymbolView("NEVER"); ok {
		t.Fatal("NEVER has a view")
	}
}
