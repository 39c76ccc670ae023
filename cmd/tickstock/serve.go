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

	adminaudit "github.com/tickstock/tickstock/audit"
	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/config"
	"github.com/tickstock/tickstock/credentials"
	"github.com/tickstock/tickstock/handlers"
	"github.com/tickstock/tickstock/mail"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/metrics"
	"github.com/tickstock/tickstock/rdb"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/static"
	"github.com/tickstock/tickstock/stream"
)

// The shutdown budget. SPEC section 1 allows 10 s from the signal to exit; every phase
// ends at a fixed offset from the signal, so a slow phase eats its own time, never the
// next one's, and the last one ends with a second to spare.
const (
	shutdownHTTP     = 5 * time.Second         // in-flight requests finish; streams are told at once
	shutdownWork     = 6 * time.Second         // the feed and the publisher stop
	shutdownAudit    = 6500 * time.Millisecond // queued auth events are stored
	shutdownPool     = 7 * time.Second         // database connections close
	shutdownDatabase = 9 * time.Second         // the embedded PostgreSQL stops (immediate mode if late)
)

// serve runs the web app until ctx ends, then shuts down within the budget above.
func serve(ctx context.Context, cfg config.Config, logger *slog.Logger) (err error) {
	if !static.HasVendor() {
		logger.Warn("static/vendor is empty: htmx is missing; run `go tool task setup` before building")
	}
	// Until shutdown begins, a failed start closes what it opened with the whole budget.
	var stopAt time.Time
	phase := func(offset time.Duration) (context.Context, context.CancelFunc) {
		if stopAt.IsZero() {
			stopAt = time.Now()
		}
		return context.WithDeadline(context.Background(), stopAt.Add(offset))
	}

	d, err := openDatabase(ctx, cfg, logger)
	if err != nil {
		return err
	}
	shuttingDown := false
	defer func() {
		pctx, cancel := phase(shutdownDatabase)
		defer cancel()
		if cerr := d.close(pctx, stopAt.Add(shutdownPool)); cerr != nil {
			err = errors.Join(err, cerr)
		}
		if shuttingDown {
			logger.Info("stopped", "took", time.Since(stopAt).Round(time.Millisecond))
		}
	}()

	var redisClient *redis.Client
	if cfg.RedisURL != "" {
		redisClient, err = rdb.Open(ctx, cfg.RedisURL)
		if err != nil {
			return err
		}
		defer redisClient.Close()
	}

	instance := newInstanceID()
	b, redisBus := newBus(cfg, redisClient, instance, logger)
	var counter auth.Counter = auth.NewMemoryCounter()
	sessionCfg := auth.SessionConfig{KeyPrefix: cfg.RedisPrefix, Bus: b}
	checks := []handlers.Check{{Name: "database", Ping: d.pool.Ping}}
	if redisClient != nil { // a nil *redis.Client must not become a non-nil interface
		logger.Info("several instances may share this Redis", "instance", instance, "prefix", cfg.RedisPrefix)
		counter = auth.NewRedisCounter(redisClient, cfg.RedisPrefix+"count:")
		sessionCfg.Redis = redisClient
		checks = append(checks, handlers.Check{Name: "redis", Ping: func(ctx context.Context) error {
			return redisClient.Ping(ctx).Err()
		}})
	}
	sessions := auth.NewSessions(sessionCfg)
	audit := auth.NewAudit(d.pool, logger)
	auditCtx, stopAudit := context.WithCancel(context.WithoutCancel(ctx))
	auditDone := make(chan struct{})
	go func() { audit.Run(auditCtx); close(auditDone) }()
	defer func() {
		stopAudit()
		<-auditDone
		actx, cancel := phase(shutdownAudit)
		defer cancel()
		audit.Flush(actx)
	}()

	svc := settings.NewService(d.pool, settings.WithLogger(logger), settings.WithBus(b))
	credentialSvc := credentials.New(d.pool, b, credentials.WithLogger(logger)) // before handlers.New: see Deps.Credentials
	runner, err := newRunner(ctx, cfg, svc, logger)
	if err != nil {
		return err
	}
	plan := newMarketPlan(cfg, redisClient, instance, b, runner,
		func(ctx context.Context) (*market.Runner, error) { return newRunner(ctx, cfg, svc, logger) },
		func(ctx context.Context) ([]string, error) { return feedSymbols(ctx, svc) }, logger)
	// A feed that stopped for good (a rejected key, a replay that ended without loop) makes
	// the instance unready: it would serve stale panels forever.
	checks = append(checks, handlers.Check{Name: "feed", Ping: func(context.Context) error { return plan.health() }})
	hub := stream.NewHub(0)
	publisher := stream.NewPublisher(stream.Config{
		Hub: hub, Source: plan.source, History: plan.history, Settings: svc, Logger: logger,
		Interval: cfg.EmitInterval, Bus: b,
	})
	httpStats := metrics.NewHTTPStats()
	sources := metrics.Sources{
		Hub: hub, Settings: svc, Feed: plan.feedMetrics, Publisher: publisher, Auth: audit, HTTP: httpStats,
	}
	if plan.feed != nil { // several instances: the "cluster" figures (a nil *Feed must not reach the interface)
		sources.Cluster = plan.feed
	}
	collector := metrics.NewCollector(sources)

	// The market and the publisher run until shutdown begins; leadership of a shared feed
	// ends as soon as shutdown begins, so another instance takes over at once.
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	lead, stopLead := context.WithCancel(work)
	if redisBus != nil {
		if err := redisBus.Start(work); err != nil {
			stopLead()
			stopWork()
			return err
		}
	}
	var wg sync.WaitGroup
	plan.run(work, lead, publisher, &wg)
	wg.Go(func() { collector.Run(work.Done()) })
	defer func() {
		stopLead()
		stopWork()
		if redisBus != nil {
			wg.Go(redisBus.Wait)
		}
		wctx, cancel := phase(shutdownWork)
		defer cancel()
		if !waitGroup(wctx, &wg) {
			logger.Warn("shutdown: the feed or the publisher did not stop in time; going on")
		}
	}()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on TICKSTOCK_ADDR %s: %w", cfg.Addr, err)
	}
	defer ln.Close() // a no-op once the app has served on it

	resets, err := newResets(cfg, logger, d, sessions, counter, audit, ln.Addr())
	if err != nil {
		return err
	}
	resetCtx, stopResets := context.WithCancel(context.WithoutCancel(ctx))
	resetsDone := make(chan struct{})
	go func() { resets.Run(resetCtx); close(resetsDone) }()
	defer func() { stopResets(); <-resetsDone }()

	h := handlers.New(handlers.Deps{
		Checks: checks, Bus: b, Logger: logger, Sessions: sessions, Counter: counter,
		Accounts: auth.NewAccounts(d.pool, sessions), Resets: resets, Audit: audit, RateLimit: cfg.RateLimit,
		SignupOpen: cfg.SignupOpen, CookieSecure: cfg.CookieSecure, TrustedProxies: cfg.TrustedProxies,
		Settings: svc, Hub: hub, Publisher: publisher, Market: plan.view, Symbols: plan.symbols,
		StreamSlots: plan.slots, Credentials: credentialSvc,
		AdminAudit: adminaudit.New(d.pool), Metrics: collector, HTTPStats: httpStats,
	})
	app := h.NewApp()
	logger.Info("listening", "addr", "http://"+ln.Addr().String())

	// Prometheus /metrics on its own listener, stopped with the HTTP server.
	if cfg.MetricsAddr != "" {
		ms, err := metrics.Listen(cfg.MetricsAddr, metrics.NewRegistry(collector), logger)
		if err != nil {
			ln.Close()
			return err
		}
		logger.Info("metrics listening", "metrics_addr", "http://"+ms.Addr()+"/metrics")
		go func() {
			if err := ms.Serve(); err != nil {
				logger.Error("metrics server stopped", "err", err)
			}
		}()
		defer func() {
			mctx, cancel := phase(shutdownHTTP)
			defer cancel()
			if err := ms.Shutdown(mctx); err != nil {
				logger.Warn("metrics shutdown: a scrape still running was cut off", "err", err)
			}
		}()
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- app.Listener(ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	stopAt, shuttingDown = time.Now(), true
	logger.Info("shutting down")
	stopLead()     // a feed leader stops its feed and releases the lease now
	hub.Shutdown() // streams send a final comment and close, so HTTP shutdown is not held up
	hctx, cancel := phase(shutdownHTTP)
	defer cancel()
	if err := app.ShutdownWithContext(hctx); err != nil {
		logger.Warn("http shutdown: requests still running were cut off", "err", err)
	}
	if !hub.Idle(hctx) {
		_, n := hub.Counts()
		logger.Warn("http shutdown: streams still open were cut off", "streams", n)
	}
	return nil
}

// newResets builds the password reset service: mail through TICKSTOCK_SMTP_URL, or links
// in the log without it; links point at TICKSTOCK_BASE_URL, or at the address served.
func newResets(cfg config.Config, logger *slog.Logger, d *database, sessions *auth.Sessions, counter auth.Counter,
	audit *auth.Audit, addr net.Addr) (*auth.Resets, error) {
	base := cfg.BaseURL
	if base == "" {
		base = localURL(addr)
	}
	var sender mail.Sender
	if cfg.SMTP != nil {
		s, err := mail.NewSMTP(mail.Config{Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, Username: cfg.SMTP.Username,
			Password: cfg.SMTP.Password, From: cfg.MailFrom, ImplicitTLS: cfg.SMTP.ImplicitTLS})
		if err != nil {
			return nil, fmt.Errorf("TICKSTOCK_SMTP_URL: %w", err)
		}
		sender = s
		if cfg.BaseURL == "" {
			logger.Warn("TICKSTOCK_BASE_URL is not set: password reset mails link to " + base + "; set it to the address users reach the app at")
		}
	} else {
		logger.Info("no SMTP server configured (TICKSTOCK_SMTP_URL): password reset links are written to this log")
	}
	return auth.NewResets(auth.ResetConfig{Pool: d.pool, Sessions: sessions, Counter: counter, Audit: audit, Logger: logger,
		Mailer: handlers.NewResetMailer(sender, logger), BaseURL: base}), nil
}

// localURL is http:// and the address a listener serves, with a host a browser can open.
func localURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// waitGroup waits for wg until ctx ends, and reports whether wg finished.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}
