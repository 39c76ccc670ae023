package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/config"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
)

// newRunner builds the configured feed over every universe symbol and every symbol of
// anyone's watchlist, and the runner that drives it through the engine.
func newRunner(ctx context.Context, cfg config.Config, svc *settings.Service, logger *slog.Logger) (*market.Runner, error) {
	infos, err := svc.Universes(ctx)
	if err != nil {
		return nil, fmt.Errorf("load universes: %w", err)
	}
	names := make([]string, len(infos))
	for i, u := range infos {
		names[i] = u.Name
	}
	set, err := svc.SymbolSet(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("load universe symbols: %w", err)
	}
	listed, err := svc.WatchlistSymbols(ctx)
	if err != nil {
		return nil, fmt.Errorf("load watchlist symbols: %w", err)
	}
	symbols := market.UnionSymbols(set.Symbols(), listed)

	var feed market.Feed
	switch cfg.Feed {
	case config.FeedSim:
		seed := int64(0) // 0: the simulator picks a random seed
		if cfg.SimSeedSet {
			seed = cfg.SimSeed
			if seed == 0 { // an explicit 0 must be deterministic too
				seed = 0x5eed
			}
		}
		var sim *market.SimFeed
		sim, err = market.NewSimFeed(symbols, seed, cfg.SimRate)
		if err == nil {
			logger.Info("simulator seeded", "seed", sim.Seed(), "TICKSTOCK_SIM_SEED", cfg.SimSeedSet)
			feed = sim
		}
	case config.FeedReplay:
		feed, err = market.NewReplayFeed(cfg.ReplayFile, cfg.ReplaySpeed, cfg.ReplayLoop, logger)
	case config.FeedPolygon:
		feed, err = market.NewPolygonFeed(cfg.PolygonURL, cfg.PolygonAPIKey, symbols, logger)
	default:
		err = fmt.Errorf("unknown feed %q", cfg.Feed)
	}
	if err != nil {
		return nil, fmt.Errorf("TICKSTOCK_FEED=%s: %w", cfg.Feed, err)
	}
	logger.Info("market feed ready", "feed", cfg.Feed, "symbols", len(symbols), "universes", len(names),
		"watchlist_symbols", len(listed))
	return market.NewRunner(market.RunnerConfig{Feed: feed, Symbols: symbols, Source: string(cfg.Feed), Logger: logger})
}

// followUniverses adds every universe symbol the feed does not know yet to the running
// runner whenever a universe changes (bus.UniversesChanged, from any instance), so an
// admin's edit reaches the feed without a restart. The read runs off the bus's goroutine.
func followUniverses(b bus.Bus, svc *settings.Service, runner *market.Runner, logger *slog.Logger) {
	b.Subscribe(func(m bus.Message) {
		if _, ok := m.(bus.UniversesChanged); !ok {
			return
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			symbols, err := svc.AllSymbols(ctx)
			if err == nil {
				_, err = runner.AddSymbols(symbols)
			}
			if err != nil {
				logger.Warn("universes changed, but their symbols could not be added to the feed", "err", err)
			}
		}()
	})
}

// growFeed subscribes to bus.SymbolsAdded (a watchlist gained symbols) at once and returns
// the loop that adds those symbols to the runner's engine and feed until ctx ends: the
// simulator starts ticking them and the Polygon feed subscribes to them, without a
// restart. The bus handler only queues them (handlers must not block; a Polygon subscribe
// writes to the network); the loop adds them in order. With several instances the message
// reaches every one; an instance whose runner does not run the feed registers them with its engine only, which is
// harmless, and the instance that holds the feed subscribes to them.
func growFeed(b bus.Bus, runner *market.Runner, logger *slog.Logger) func(ctx context.Context) {
	var mu sync.Mutex
	var pending []string
	wake := make(chan struct{}, 1)
	b.Subscribe(func(m bus.Message) {
		added, ok := m.(bus.SymbolsAdded)
		if !ok || len(added.Symbols) == 0 {
			return
		}
		mu.Lock()
		pending = append(pending, added.Symbols...)
		mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	return func(ctx context.Context) {
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
			mu.Lock()
			batch := pending
			pending = nil
			mu.Unlock()
			valid := batch[:0]
			for _, s := range batch {
				if market.ValidSymbol(s) {
					valid = append(valid, s)
				}
			}
			if _, err := runner.AddSymbols(valid); err != nil {
				logger.Warn("market: could not add watchlist symbols to the feed", "symbols", len(valid), "err", err)
			}
		}
	}
}
