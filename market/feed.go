package market

import (
	"context"
	"time"
)

// Feed produces ticks. Run sends ticks on out until ctx is done or the source ends or fails.
// It returns nil when stopped by ctx or when a finite source (a replay without loop) is
// exhausted, and an error that says what failed otherwise. Run never closes out.
type Feed interface {
	Run(ctx context.Context, out chan<- Tick) error
}

// Warmer is implemented by feeds that can make up recent history before going live (the
// simulator does, so trend windows, which need 600 s of ticks, are ready within a minute of
// start). Runner calls Warmup once before Run and feeds the ticks to the engine with their
// events discarded: they are the past, not news.
type Warmer interface {
	// Warmup calls fn with ticks, in time order, that end at now.
	Warmup(now time.Time, fn func(Tick))
}

// SymbolAdder is implemented by feeds whose symbol set can grow while they run, so that a
// watchlist or universe that gains a symbol is covered without a restart (the simulator
// starts ticking it; the Polygon feed subscribes to it, now and after every reconnect).
// AddSymbols is safe to call from any goroutine, before or during Run; symbols the feed
// already has are ignored.
type SymbolAdder interface {
	AddSymbols(symbols []string) error
}

// SliceFeed is a Feed that sends a fixed list of ticks and returns; tests use it.
type SliceFeed []Tick

// Run sends every tick, then returns nil (or nil early when ctx is done).
func (f SliceFeed) Run(ctx context.Context, out chan<- Tick) error {
	for _, t := range f {
		select {
		case out <- t:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// send delivers t unless ctx ends first; it reports whether t was sent.
func send(ctx context.Context, out chan<- Tick, t Tick) bool {
	select {
	case out <- t:
		return true
	case <-ctx.Done():
		return false
	}
}
