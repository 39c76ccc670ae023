package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tickstock/tickstock/config"
	"github.com/tickstock/tickstock/db"
)

// database is the migrated pool plus, without DATABASE_URL, the embedded cluster behind it.
type database struct {
	pool     *pgxpool.Pool
	embedded *db.Embedded
	logger   *slog.Logger
}

// openDatabase starts the embedded cluster if needed, migrates, and opens the app's pool.
func openDatabase(ctx context.Context, cfg config.Config, logger *slog.Logger) (*database, error) {
	d := &database{logger: logger}
	url := cfg.DatabaseURL
	if url == "" {
		e, err := db.StartEmbedded(ctx, db.EmbeddedConfig{Dir: cfg.DataDir, Default: !cfg.DataDirSet}, logger)
		if err != nil {
			return nil, err
		}
		d.embedded = e
		url = e.URL
	}
	if err := db.Migrate(ctx, url, logger); err != nil {
		d.closeNow()
		return nil, err
	}
	pool, err := db.Open(ctx, url)
	if err != nil {
		d.closeNow()
		return nil, err
	}
	d.pool = pool
	return d, nil
}

// closeNow closes with the usual 10 s allowance, for commands and failed starts.
func (d *database) closeNow() error {
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Second)
	defer cancel()
	return d.close(ctx, time.Now().Add(2*time.Second))
}

// close closes the pool, waiting for connections still in use until poolBy, then stops the
// embedded cluster by ctx's deadline (it is told to stop immediately when that is near).
func (d *database) close(ctx context.Context, poolBy time.Time) error {
	if d.pool != nil {
		done := make(chan struct{})
		go func() { d.pool.Close(); close(done) }() // Close waits for every acquired connection
		pctx, cancel := context.WithDeadline(ctx, poolBy)
		select {
		case <-done:
		case <-pctx.Done():
			d.logger.Warn("shutdown: database connections still in use; closing without them")
		}
		cancel()
	}
	if d.embedded != nil {
		if err := d.embedded.Stop(ctx); err != nil {
			return fmt.Errorf("stop embedded PostgreSQL: %w", err)
		}
		d.logger.Info("embedded PostgreSQL stopped")
	}
	return nil
}
