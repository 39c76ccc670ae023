package market

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	defaultLogInterval = 10 * time.Second
	defaultMaxPending  = 1 << 16
	runnerChanSize     = 4096
	runnerBatch        = 512 // most ticks processed per lock hold when they queue up
)

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Feed Feed
	// Symbols are registered up front (the universe union), so SymbolIDs are stable and
	// metrics count them before they tick. Others are added as they appear.
	Symbols []string
	// Source names the feed in metrics and logs: "sim", "replay" or "polygon".
	Source string
	Logger *slog.Logger
	// LogInterval is how often tick and event counts are logged; default 10 s.
	LogInterval time.Duration
	// MaxPending caps the events kept between two Drains; beyond it the oldest are
	// dropped and counted (Batch.Dropped). Default 65536.
	MaxPending int
	// WindowCap is the engine's window cap per symbol (see WithWindowCap); 0 means
	// DefaultWindowCap.
	WindowCap int
}

// Batch is what a Drain hands over: the events since the previous Drain, in detection
// order, and a Snapshot for market summaries at that moment.
type Batch struct {
	Events []Event
	// Dropped counts events lost since the previous Drain because none came in time.
	Dropped  int
	Snapshot *Snapshot
}

// Summary is the market summary over symbols at the moment of the Drain.
func (b Batch) Summary(symbols []string) Summary { return b.Snapshot.Summary(symbols) }

// FeedMetrics are the feed figures of GET /api/admin/metrics (SPEC section 10).
type FeedMetrics struct {
	Source         string  `json:"source"`
	TicksTotal     uint64  `json:"ticks_total"`
	TicksPerSecond float64 `json:"ticks_per_second"`
	Symbols        int     `json:"symbols"`
	// Rejected counts malformed or out-of-order ticks; not part of the SPEC's JSON.
	Rejected uint64 `json:"-"`
	// Coarse counts ticks whose detection met a window boundary inside a second that a fast
	// symbol's full window history had merged (Engine.Coarse): their window figures were
	// taken at one-second resolution. Coarsenings counts those merges. Not in the SPEC's
	// JSON; a metrics exporter may publish them.
	Coarse      uint64 `json:"-"`
	Coarsenings uint64 `json:"-"`
}

// EventCounts are the event figures of GET /api/admin/metrics, since start.
type EventCounts struct {
	Highs  uint64 `json:"highs"`
	Lows   uint64 `json:"lows"`
	Trends uint64 `json:"trends"`
	Surges uint64 `json:"surges"`
	// Dropped counts events lost because nobody drained; not part of the SPEC's JSON.
	Dropped uint64 `json:"-"`
}

// Metrics is a point-in-time copy of a Runner's counters, shaped like the "feed" and
// "events" objects of SPEC section 10.
type Metrics struct {
	Feed   FeedMetrics `json:"feed"`
	Events EventCounts `json:"events"`
}

// ErrFeedStopped is wrapped by Runner.Health once the runner has stopped for good.
var ErrFeedStopped = errors.New("market: feed stopped")

// Runner owns a feed and an engine: one goroutine (Run) moves ticks from the feed through
// the engine and keeps the events until the publisher Drains them. Drain, Snapshot,
// Metrics, SymbolView, AddSymbols and Health are safe to call from any goroutine while Run
// works.
type Runner struct {
	feed     Feed
	source   string
	log      *slog.Logger
	interval time.Duration
	max      int

	mu      sync.Mutex
	eng     *Engine
	pending []Event
	dropped int
	ticks   uint64
	tps     float64
	events  [KindSurge + 1]uint64
	lost    uint64
	stopped error // set when Run returns: see Health
	warned  bool  // the first window coarsening was logged

	recent atomic.Pointer[timedSnapshot] // the last snapshot Summary took
}

// timedSnapshot is a snapshot and when it was taken.
type timedSnapshot struct {
	snap *Snapshot
	at   time.Time
}

// summaryMaxAge is how old a snapshot Summary may answer from. Pages ask for the summary
// at request rates; each fresh snapshot copies every symbol's figures under the engine's
// lock, holding up the ticks. Figures a quarter of a second old are as good for a page
// that then lives on its stream's emissions.
const summaryMaxAge = 250 * time.Millisecond

// NewRunner validates cfg and returns a Runner ready to Run.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	if cfg.Feed == nil {
		return nil, errors.New("market: new runner: no feed")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.LogInterval <= 0 {
		cfg.LogInterval = defaultLogInterval
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = defaultMaxPending
	}
	return &Runner{
		feed:     cfg.Feed,
		source:   cfg.Source,
		log:      cfg.Logger,
		interval: cfg.LogInterval,
		max:      cfg.MaxPending,
		eng:      NewEngine(cfg.Symbols, WithWindowCap(cmp.Or(cfg.WindowCap, DefaultWindowCap))),
	}, nil
}

// Run warms the engine up if the feed is a Warmer, then runs the feed and detection until
// ctx is done (returns nil), the feed ends (nil) or the feed fails (its error). Call it once.
// When it returns, Health reports the runner stopped; unless ctx ended it, that is logged
// at ERROR, since no more ticks will come (a rejected API key, a replay without loop that
// reached its end, a feed error).
func (r *Runner) Run(ctx context.Context) error {
	err := r.run(ctx)
	var stopped error
	switch {
	case ctx.Err() != nil && err == nil:
		stopped = fmt.Errorf("%w: %s feed: shut down", ErrFeedStopped, r.source)
	case err != nil:
		stopped = fmt.Errorf("%w: %w", ErrFeedStopped, err)
		r.log.Error("market: feed stopped for good", "source", r.source, "err", err)
	default:
		stopped = fmt.Errorf("%w: %s feed ended", ErrFeedStopped, r.source)
		r.log.Error("market: feed stopped for good", "source", r.source, "err", "the feed ended")
	}
	r.mu.Lock()
	r.stopped = stopped
	r.mu.Unlock()
	return err
}

// Health is nil while the runner runs (or before Run starts), and an error wrapping
// ErrFeedStopped once Run has returned: no more ticks will come, so /readyz should fail.
func (r *Runner) Health() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

func (r *Runner) run(ctx context.Context) error {
	if w, ok := r.feed.(Warmer); ok {
		start := time.Now()
		var n int
		var scratch []Event
		r.mu.Lock()
		w.Warmup(start, func(t Tick) {
			scratch = r.eng.Process(t, scratch[:0])
			n++
		})
		r.mu.Unlock()
		r.log.Info("market: warmed up", "source", r.source, "ticks", n,
			"took", time.Since(start).Round(time.Millisecond))
	}

	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan Tick, runnerChanSize)
	errc := make(chan error, 1)
	go func() {
		errc <- r.feed.Run(fctx, ch)
		close(ch)
	}()
	// AddSymbols may register symbols from other goroutines at any time, so even this count
	// is read under the lock.
	r.mu.Lock()
	symbols := r.eng.Symbols()
	r.mu.Unlock()
	r.log.Info("market: feed started", "source", r.source, "symbols", symbols)

	sec := time.NewTicker(min(time.Second, r.interval))
	defer sec.Stop()
	lastRate, lastLog := time.Now(), time.Now()
	var lastTicks uint64
	buf := make([]Tick, 0, runnerBatch)
	for {
		select {
		case t, ok := <-ch:
			if !ok {
				err := <-errc
				r.logStats("market: feed ended")
				if err != nil {
					return fmt.Errorf("market: %s feed: %w", r.source, err)
				}
				return nil
			}
			buf = append(buf[:0], t)
		fill:
			for len(buf) < runnerBatch {
				select {
				case t, ok := <-ch:
					if !ok {
						break fill // the closed channel is seen on the next turn
					}
					buf = append(buf, t)
				default:
					break fill
				}
			}
			r.mu.Lock()
			r.process(buf)
			r.mu.Unlock()
		case now := <-sec.C:
			r.mu.Lock()
			if el := now.Sub(lastRate).Seconds(); el > 0 {
				r.tps = math.Round(float64(r.ticks-lastTicks)/el*10) / 10
			}
			lastTicks, lastRate = r.ticks, now
			r.warnCoarse()
			r.mu.Unlock()
			if now.Sub(lastLog) >= r.interval {
				lastLog = now
				r.logStats("market: feed stats")
			}
		case <-ctx.Done():
			cancel()
			for range ch { // let the feed return
			}
			<-errc
			r.logStats("market: feed stopped")
			return nil
		}
	}
}

// process runs a batch of ticks; r.mu is held.
func (r *Runner) process(ticks []Tick) {
	n := len(r.pending)
	r.pending = r.eng.ProcessBatch(ticks, r.pending)
	r.ticks += uint64(len(ticks))
	for i := n; i < len(r.pending); i++ {
		r.events[r.pending[i].Kind]++
	}
	if over := len(r.pending) - r.max; over > 0 {
		// Drop at least the oldest quarter at once, so going long without a Drain
		// costs O(1) a tick.
		k := max(over, r.max/4)
		r.pending = append(r.pending[:0], r.pending[k:]...)
		r.dropped += k
		r.lost += uint64(k)
	}
}

func (r *Runner) logStats(msg string) {
	m := r.Metrics()
	r.log.Info(msg, "source", m.Feed.Source, "ticks_total", m.Feed.TicksTotal,
		"ticks_per_second", m.Feed.TicksPerSecond, "symbols", m.Feed.Symbols,
		"rejected", m.Feed.Rejected, "highs", m.Events.Highs, "lows", m.Events.Lows,
		"trends", m.Events.Trends, "surges", m.Events.Surges, "dropped", m.Events.Dropped,
		"window_coarsenings", m.Feed.Coarsenings, "coarse_ticks", m.Feed.Coarse)
}

// warnCoarse logs, once, that a symbol outgrew its window cap; r.mu is held.
func (r *Runner) warnCoarse() {
	n, sym := r.eng.Coarsenings()
	if n == 0 || r.warned {
		return
	}
	r.warned = true
	r.log.Warn("market: a symbol outgrew its window history; its oldest ticks are merged per second "+
		"and window boundaries inside such a second are taken at 1 s resolution (see coarse_ticks)",
		"source", r.source, "symbol", sym, "window_cap", r.eng.cap)
}

// AddSymbols registers symbols with the engine (so summaries and symbol pages know them)
// and, when the feed can grow (SymbolAdder), adds them to the running feed: the simulator
// starts ticking them and the Polygon feed subscribes to them. It returns how many were new
// to the engine. Invalid symbols (see ValidSymbol) are refused, all of them named, and
// nothing is added.
func (r *Runner) AddSymbols(symbols []string) (int, error) {
	var bad []string
	for _, s := range symbols {
		if !ValidSymbol(s) {
			bad = append(bad, strconv.Quote(s))
		}
	}
	if len(bad) > 0 {
		return 0, fmt.Errorf("market: add symbols: invalid %s", strings.Join(bad, ", "))
	}
	r.mu.Lock()
	before := r.eng.Symbols()
	for _, s := range symbols {
		r.eng.Register(strings.Clone(s))
	}
	added := r.eng.Symbols() - before
	r.mu.Unlock()
	if a, ok := r.feed.(SymbolAdder); ok && len(symbols) > 0 {
		if err := a.AddSymbols(symbols); err != nil {
			return added, fmt.Errorf("market: add symbols to the %s feed: %w", r.source, err)
		}
	}
	if added > 0 {
		r.log.Info("market: symbols added", "source", r.source, "added", added, "symbols", before+added)
	}
	return added, nil
}

// SymbolView returns one symbol's session history for its page, or false when the symbol
// is unknown (not in any universe or watchlist, and never ticked).
func (r *Runner) SymbolView(symbol string) (SymbolView, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.eng.SymbolView(symbol)
}

// SymbolStates returns the latest state of each symbol, in order, under one lock: the
// prices of a watchlist. A symbol the engine does not know comes back with only its name
// (HasData false).
func (r *Runner) SymbolStates(symbols []string) []SymbolState {
	out := make([]SymbolState, len(symbols))
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, s := range symbols {
		st, ok := r.eng.SymbolState(s)
		if !ok {
			st = SymbolState{Symbol: s}
		}
		out[i] = st
	}
	return out
}

// Drain returns the events since the previous Drain and a Snapshot for summaries, and
// starts a new batch. The publisher calls it once per emission.
func (r *Runner) Drain() Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := Batch{Events: r.pending, Dropped: r.dropped, Snapshot: r.eng.Snapshot()}
	r.pending = make([]Event, 0, max(16, len(b.Events)))
	r.dropped = 0
	return b
}

// Snapshot returns the current summary figures without draining events.
func (r *Runner) Snapshot() *Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.eng.Snapshot()
}

// Summary is the market summary over sel's symbols now, from a snapshot at most
// summaryMaxAge old (so pages loaded meanwhile share sel's summary of it).
func (r *Runner) Summary(sel *Selection) Summary {
	now := time.Now()
	if t := r.recent.Load(); t != nil && now.Sub(t.at) < summaryMaxAge {
		return t.snap.SummaryOf(sel)
	}
	snap := r.Snapshot()
	r.recent.Store(&timedSnapshot{snap: snap, at: now})
	return snap.SummaryOf(sel)
}

// Metrics returns the counters for monitoring.
func (r *Runner) Metrics() Metrics {
	r.mu.Lock()
	defer r.mu.Unlock()
	coarsenings, _ := r.eng.Coarsenings()
	return Metrics{
		Feed: FeedMetrics{
			Source:         r.source,
			TicksTotal:     r.ticks,
			TicksPerSecond: r.tps,
			Symbols:        r.eng.Symbols(),
			Rejected:       r.eng.Rejected(),
			Coarse:         r.eng.Coarse(),
			Coarsenings:    coarsenings,
		},
		Events: EventCounts{
			Highs:   r.events[KindHigh],
			Lows:    r.events[KindLow],
			Trends:  r.events[KindTrend],
			Surges:  r.events[KindSurge],
			Dropped: r.lost,
		},
	}
}
