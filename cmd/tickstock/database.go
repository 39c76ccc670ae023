package main

import (
	"context"
	"fmt"
	"log/slog"

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
		e, err := db.StartEmbedded(ctx, cfg.DataDir, logger)
		if err != nil {
			return nil, err
		}
		d.embedded = e
		url = e.URL
	}
	if err := db.Migrate(ctx, url, logger); err != nil {
		d.close()
		return nil, err
	}
	pool, err := db.Open(ctx, url)
	if err != nil {
		d.close()
		return nil, err
	}
	d.pool = pool
	return d, nil
}

func (d *database) close() error {
	if d.pool != nil {
		d.pool.Close()
	}
	if d.embedded != nil {
		if err := d.embedded.Stop(); err != nil {
			return fmt.Errorf("stop embedded PostgreSQL: %w", err)
		}
		d.logger.Info("embedded PostgreSQL stopped")
	}
	return nil
}
