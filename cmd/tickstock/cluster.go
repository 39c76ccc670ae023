package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/cluster"
	"github.com/tickstock/tickstock/config"
	"github.com/tickstock/tickstock/handlers"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/metrics"
	"github.com/tickstock/tickstock/stream"
)

// newInstanceID names this process among the instances sharing a Redis: host, pid and
// random bits, so a restarted process is a new instance.
func newInstanceID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// newBus is the invalidation bus: in process for one instance, Redis pub/sub for several.
func newBus(cfg config.Config, client *redis.Client, instance string, logger *slog.Logger) (bus.Bus, *bus.Redis) {
	if client == nil {
		return bus.NewLocal(), nil
	}
	rb := bus.NewRedis(bus.RedisConfig{Client: client, Channel: cfg.RedisPrefix + "bus", Instance: instance, Logger: logger})
	return rb, rb
}

// marketPlan is where this instance's emissions come from: its own runner (one
// instance), or the shared feed on Redis, whose leader runs the feed (several).
type marketPlan struct {
	view    handlers.MarketView
	health  func() error
	source  stream.Source  // one instance: the publisher drains the runner
	history stream.History // several: resumes of ids issued elsewhere
	slots   handlers.StreamSlots
	// symbols are the per-symbol figures of watchlists and symbol pages, and feedMetrics
	// the feed's figures for the metrics: the runner's, or the shared feed's (the leader's).
	symbols     handlers.SymbolData
	feedMetrics metrics.Feed
	// feed is the shared feed (nil for one instance); its Metrics are the cluster figures
	// for the admin page and Prometheus (leader or follower, lease holder, token, sequence,
	// gaps, reconnects, bus latency, the Redis bus's counters).
	feed *cluster.Feed
	// run drives the emissions until ctx ends; lead ends when leadership must stop (the
	// start of shutdown: the lease is released at once, for a quick takeover).
	run func(work, lead context.Context, p *stream.Publisher, wg *sync.WaitGroup)
}

// newMarketPlan wires the market. first is a runner built at start, so a bad feed
// configuration stops the start in either mode; with Redis it serves the first term as
// leader, and later terms build their own through build.
func newMarketPlan(cfg config.Config, client *redis.Client, instance string, b bus.Bus, first *market.Runner,
	build func(context.Context) (*market.Runner, error), symbols func(context.Context) ([]string, error),
	logger *slog.Logger) marketPlan {
	if client == nil {
		// Universe edits and watchlist additions reach the running feed: new symbols start
		// ticking (the simulator) or are subscribed to (Polygon), without a restart.
		runner := first
		b.Subscribe(func(m bus.Message) {
			switch m.(type) {
			case bus.UniversesChanged, bus.SymbolsAdded:
			default:
				return
			}
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				syms, err := symbols(ctx)
				if err == nil {
					_, err = runner.AddSymbols(syms)
				}
				if err != nil {
					logger.Warn("the feed's symbols were not brought up to date", "err", err)
				}
			}()
		})
		return marketPlan{view: first, health: first.Health, source: stream.Local(first), symbols: first, feedMetrics: first,
			run: func(work, _ context.Context, p *stream.Publisher, wg *sync.WaitGroup) {
				wg.Go(func() { _ = first.Run(work) }) // a stop is logged at ERROR and turns /readyz to 503
				wg.Go(func() { _ = p.Run(work) })
			}}
	}
	var mu sync.Mutex
	feed := cluster.New(cluster.Config{Redis: client, Prefix: cfg.RedisPrefix, Instance: instance,
		Interval: cfg.EmitInterval, Logger: logger, Bus: b, Symbols: symbols,
		NewRunner: func(ctx context.Context) (cluster.Runner, error) {
			mu.Lock()
			r := first
			first = nil
			mu.Unlock()
			if r != nil {
				return r, nil
			}
			return build(ctx)
		}})
	slots := cluster.NewSlots(client, cfg.RedisPrefix+"streams:", instance, 0, logger)
	// The leader's runner has the feed figures and the symbol data: the Feed shares them
	// with the other instances over Redis (cluster/figures.go).
	return marketPlan{view: feed, health: feed.Health, history: feed.History, slots: slots, feed: feed,
		symbols: feed, feedMetrics: clusterFeedMetrics{feed},
		run: func(work, lead context.Context, p *stream.Publisher, wg *sync.WaitGroup) {
			wg.Go(func() { feed.Run(lead, p) })
			wg.Go(func() { slots.Run(work) })
			wg.Go(func() { logFigures(work, feed, logger) })
		}}
}

// clusterFeedMetrics gives the metrics the shared feed's figures: the leader's, on every
// instance.
type clusterFeedMetrics struct{ feed *cluster.Feed }

func (c clusterFeedMetrics) Metrics() market.Metrics { return c.feed.FeedMetrics() }
func (c clusterFeedMetrics) Health() error           { return c.feed.Health() }

// logFigures logs the shared feed's figures (and the process's goroutines) once a minute,
// for operators without the admin page.
func logFigures(ctx context.Context, feed *cluster.Feed, logger *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m := feed.Metrics()
			logger.Info("cluster: figures", "instance", m.Instance, "role", m.Role, "lease_holder", m.LeaseHolder,
				"token", m.Token, "seq", m.Seq, "gaps", m.Gaps, "missed", m.Missed, "leader_changes", m.LeaderChanges,
				"stale_dropped", m.StaleDropped, "fenced", m.Fenced, "reconnects", m.Reconnects,
				"latency_ms", m.LatencyMs, "goroutines", runtime.NumGoroutine())
		}
	}
}
