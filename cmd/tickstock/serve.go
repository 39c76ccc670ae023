package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/config"
	"github.com/tickstock/tickstock/handlers"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/static"
	"github.com/tickstock/tickstock/stream"
)

// redisPrefix namespaces every key the app writes in a shared Redis.
const redisPrefix = "tickstock:"

// shutdownTimeout bounds graceful shutdown; SPEC section 1 allows 10 s in all.
const shutdownTimeout = 8 * time.Second

// serve runs the web app until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	if cfg.MetricsAddr != "" {
		logger.Warn("TICKSTOCK_METRICS_ADDR is set, but the Prometheus endpoint is not built yet; ignoring it")
	}
	if !static.HasVendor() {
		logger.Warn("static/vendor is empty: htmx is missing; run `go tool task setup` before building")
	}
	d, err := openDatabase(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer d.close()

	var rdb *redis.Client
	if cfg.RedisURL != "" {
		rdb, err = openRedis(ctx, cfg.RedisURL)
		if err != nil {
			return err
		}
		defer rdb.Close()
	}

	var counter auth.Counter = auth.NewMemoryCounter()
	sessionCfg := auth.SessionConfig{KeyPrefix: redisPrefix, CookieSecure: cfg.CookieSecure}
	if rdb != nil { // a nil *redis.Client must not become a non-nil interface
		counter = auth.NewRedisCounter(rdb, redisPrefix+"count:")
		sessionCfg.Redis = rdb
	}
	sessions := auth.NewSessions(sessionCfg)
	audit := auth.NewAudit(d.pool, logger)
	auditCtx, stopAudit := context.WithCancel(context.WithoutCancel(ctx))
	auditDone := make(chan struct{})
	go func() { audit.Run(auditCtx); close(auditDone) }()
	defer func() { stopAudit(); <-auditDone }()

	svc := settings.NewService(d.pool, settings.WithLogger(logger))
	runner, err := newRunner(ctx, cfg, svc, logger)
	if err != nil {
		return err
	}
	hub := stream.NewHub(0)
	publisher := stream.NewPublisher(stream.Config{
		Hub: hub, Source: stream.Local(runner), Settings: svc, Logger: logger, Interval: cfg.EmitInterval,
	})

	// The market and the publisher run until shutdown begins.
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := runner.Run(work); err != nil {
			logger.Error("market feed stopped", "feed", cfg.Feed, "err", err)
		}
	}()
	go func() { defer wg.Done(); publisher.Run(work) }() //nolint:errcheck
	defer func() { stopWork(); wg.Wait() }()

	h := handlers.New(handlers.Deps{
		Pool: d.pool, Redis: rdb, Logger: logger, Sessions: sessions, Counter: counter,
		Accounts: auth.NewAccounts(d.pool), Audit: audit, RateLimit: cfg.RateLimit, SignupOpen: cfg.SignupOpen,
		Settings: svc, Hub: hub, Publisher: publisher, Market: runner,
	})
	app := h.NewApp()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on TICKSTOCK_ADDR %s: %w", cfg.Addr, err)
	}
	logger.Info("listening", "addr", "http://"+ln.Addr().String())

	serveErr := make(chan error, 1)
	go func() { serveErr <- app.Listener(ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	hub.Shutdown() // streams send a final comment and close, so HTTP shutdown is not held up
	if err := app.ShutdownWithTimeout(shutdownTimeout); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		logger.Warn("http shutdown", "err", err)
	}
	logger.Info("stopped")
	return nil
}

// openRedis connects a client with timeouts, shared by sessions, rate limits and pub/sub.
func openRedis(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.DialTimeout = 2 * time.Second
	opts.ReadTimeout = 2 * time.Second
	opts.WriteTimeout = 2 * time.Second
	opts.PoolTimeout = 3 * time.Second
	rdb := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("connect to Redis at REDIS_URL: %w", err)
	}
	return rdb, nil
}
