package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// AppRole is the non-owner role every pooled connection switches to, so row-level security
// applies even when DATABASE_URL names a superuser or the tables' owner.
const AppRole = "tickstock_app"

// Open connects a pool whose connections all run as AppRole.
func Open(ctx context.Context, databaseURL string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("open database: parse URL: %w", err)
	}
	cfg.MaxConns = 20
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 15 * time.Second
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		if _, err := conn.Exec(ctx, "SET ROLE "+AppRole); err != nil {
			return fmt.Errorf("set role %s: %w", AppRole, err)
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open database: ping: %w", err)
	}
	return pool, nil
}

// WithUser runs fn in a transaction that acts for one user: row-level security then shows
// only that user's rows, whatever the query's WHERE clause says.
func WithUser(ctx context.Context, pool *pgxpool.Pool, userID int64, fn func(*Queries) error) error {
	if userID <= 0 {
		return errors.New("with user: no user id")
	}
	return inTx(ctx, pool, "app.user_id", fmt.Sprint(userID), fn)
}

// WithSystem runs fn in a transaction allowed to see every user's rows. It is for the few
// places that act for no single user: login lookups, the publisher's batch load and admin lists.
func WithSystem(ctx context.Context, pool *pgxpool.Pool, fn func(*Queries) error) error {
	return inTx(ctx, pool, "app.system", "on", fn)
}

func inTx(ctx context.Context, pool *pgxpool.Pool, key, value string, fn func(*Queries) error) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, "SELECT set_config($1, $2, true)", key, value); err != nil {
		return fmt.Errorf("set %s: %w", key, err)
	}
	if err := fn(New(tx)); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}
