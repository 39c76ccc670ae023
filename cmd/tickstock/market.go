package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tickstock/tickstock/config"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
)

// feedSymbols lists the symbols the feed covers: every universe's, and every symbol of
// anyone's watchlist.
func feedSymbols(ctx context.Context, svc *settings.Service) ([]string, error) {
	symbols, _, err := feedSymbolsCounted(ctx, svc)
	return symbols, err
}

// feedSymbolsCounted is feedSymbols, and how many distinct symbols the watchlists hold (for
// the start-up log).
func feedSymbolsCounted(ctx context.Context, svc *settings.Service) ([]string, int, error) {
	infos, err := svc.Universes(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("load universes: %w", err)
	}
	names := make([]string, len(infos))
	for i, u := range infos {
		names[i] = u.Name
	}
	set, err := svc.SymbolSet(ctx, names)
	if err != nil {
		return nil, 0, fmt.Errorf("load universe symbols: %w", err)
	}
	listed, err := svc.WatchlistSymbols(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("load watchlist symbols: %w", err)
	}
	return market.UnionSymbols(set.Symbols(), listed), len(listed), nil
}

// newRunner builds the configured feed over feedSymbols, and the runner that drives it
// through the engine.
func newRunner(ctx context.Context, cfg config.Config, svc *settings.Service, logger *slog.Logger) (*market.Runner, error) {
	symbols, listed, err := feedSymbolsCounted(ctx, svc)
	if err != nil {
		return nil, err
	}

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
	logger.Info("market feed ready", "feed", cfg.Feed, "symbols", len(symbols), "watchlist_symbols", listed)
	return market.NewRunner(market.RunnerConfig{Feed: feed, Symbols: symbols, Source: string(cfg.Feed), Logger: logger})
}
