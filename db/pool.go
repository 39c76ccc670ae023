package db

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tickstock/tickstock/internal/neterr"
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
	// pgxpool pings a connection idle for over a second before handing it out; a retried
	// read (see read) asks for the ping always, so it runs on a connection known alive.
	cfg.ShouldPing = func(ctx context.Context, p pgxpool.ShouldPingParams) bool {
		return p.IdleDuration > time.Second || ctx.Value(freshConn{}) != nil
	}
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
// only that user's rows, whatever the query's WHERE clause says. Errors come back through
// Err: an unavailable database is tickstock.EUNAVAILABLE.
func WithUser(ctx context.Context, pool *pgxpool.Pool, userID int64, fn func(*Queries) error) error {
	if userID <= 0 {
		return errors.New("with user: no user id")
	}
	return Err("database", inTx(ctx, pool, pgx.ReadWrite, "app.user_id", fmt.Sprint(userID), fn))
}

// WithSystem runs fn in a transaction allowed to see every user's rows. It is for the few
// places that act for no single user: login lookups, the publisher's batch load and admin lists.
func WithSystem(ctx context.Context, pool *pgxpool.Pool, fn func(*Queries) error) error {
	return Err("database", inTx(ctx, pool, pgx.ReadWrite, "app.system", "on", fn))
}

// ReadUser is WithUser for reads: a read-only transaction that, when the connection fails
// under it (a pooled connection the server dropped, a failover), runs fn once more on a
// connection checked alive. fn must only read, since it may run twice.
func ReadUser(ctx context.Context, pool *pgxpool.Pool, userID int64, fn func(*Queries) error) error {
	if userID <= 0 {
		return errors.New("read user: no user id")
	}
	return Err("database", read(ctx, pool, "app.user_id", fmt.Sprint(userID), fn))
}

// ReadSystem is WithSystem for reads, retried like ReadUser.
func ReadSystem(ctx context.Context, pool *pgxpool.Pool, fn func(*Queries) error) error {
	return Err("database", read(ctx, pool, "app.system", "on", fn))
}

// freshConn marks a context whose acquire must ping the connection first (see Open).
type freshConn struct{}

// read runs a read-only transaction, retrying once when the failure is the connection's
// rather than the query's: nothing reached the server (pgconn.SafeToRetry), or the
// connection closed or broke mid-read, which for a read-only transaction is as harmless to
// repeat. A timeout is not retried: that would only spend the caller's remaining time.
func read(ctx context.Context, pool *pgxpool.Pool, key, value string, fn func(*Queries) error) error {
	err := inTx(ctx, pool, pgx.ReadOnly, key, value, fn)
	if err == nil || ctx.Err() != nil || !retryable(err) {
		return err
	}
	return inTx(context.WithValue(ctx, freshConn{}, true), pool, pgx.ReadOnly, key, value, fn)
}

func retryable(err error) bool {
	if pgconn.Timeout(err) || neterr.Timeout(err) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && !unavailableCode(pe.Code) {
		return false // the server answered: the query itself failed
	}
	return pgconn.SafeToRetry(err) || errors.Is(err, pgconn.ErrConnClosed) || neterr.Broken(err) ||
		(errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P0")))
}

// beginSQL begins a transaction in mode and sets key to value for it (set_config's
// is_local). Both are this package's own strings (a setting name, a number or "on"), and
// are quoted as literals all the same.
func beginSQL(mode pgx.TxAccessMode, key, value string) string {
	begin := "BEGIN READ WRITE"
	if mode == pgx.ReadOnly {
		begin = "BEGIN READ ONLY"
	}
	return begin + "; SELECT set_config(" + quoteLiteral(key) + ", " + quoteLiteral(value) + ", true)"
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings, on by
// default since PostgreSQL 9.1, makes backslashes plain characters). A NUL byte, which no
// literal can hold, is dropped.
func quoteLiteral(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func inTx(ctx context.Context, pool *pgxpool.Pool, mode pgx.TxAccessMode, key, value string, fn func(*Queries) error) error {
	// BEGIN and the row-level security setting go in one round trip (the simple protocol
	// takes both statements at once), so a signed-in request's read costs three round trips
	// rather than four.
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{AccessMode: mode, BeginQuery: beginSQL(mode, key, value)})
	if err != nil {
		return fmt.Errorf("begin transaction and set %s: %w: %w", key, errAcquire, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := fn(New(tx)); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}
