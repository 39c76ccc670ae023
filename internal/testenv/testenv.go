// Package testenv gives tests real services: a fresh, migrated PostgreSQL database and a
// Redis key prefix of their own. A test that cannot reach a service fails; it never skips.
package testenv

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/db"
)

// randomName is 12 lowercase letters and digits from crypto/rand.
func randomName() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// AdminURL is the server tests create their databases on (TEST_DATABASE_URL overrides it).
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// RedisURL is the Redis tests use (TEST_REDIS_URL overrides it). Tests isolate by key prefix.
func RedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// Logger discards output unless TEST_VERBOSE_LOGS is set.
func Logger() *slog.Logger {
	if os.Getenv("TEST_VERBOSE_LOGS") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// MustDatabase creates a fresh database, migrates it with goose, and drops it when tb ends.
// It returns the database's URL (connecting as the server's superuser, as DATABASE_URL may).
func MustDatabase(tb testing.TB) string {
	tb.Helper()
	dbURL := MustEmptyDatabase(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := db.Migrate(ctx, dbURL, Logger()); err != nil {
		tb.Fatalf("migrate test database: %v", err)
	}
	return dbURL
}

// MustEmptyDatabase creates a fresh database with no schema, dropped when tb ends.
func MustEmptyDatabase(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		tb.Fatalf("connect to test PostgreSQL at %s (start it, or set TEST_DATABASE_URL): %v", AdminURL(), err)
	}
	defer admin.Close(ctx)
	name := "tickstock_test_" + strings.ToLower(strings.NewReplacer("-", "_", "/", "_").Replace(randomName()))
	name = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			return r
		}
		return 'x'
	}, name)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	u, err := url.Parse(AdminURL())
	if err != nil {
		tb.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	dbURL := u.String()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, AdminURL())
		if err != nil {
			tb.Logf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("drop test database %s: %v", name, err)
		}
	})
	return dbURL
}

// MustPool opens the app's pool (SET ROLE to the app role) on a fresh database.
func MustPool(tb testing.TB) (*pgxpool.Pool, string) {
	tb.Helper()
	dbURL := MustDatabase(tb)
	pool, err := db.Open(context.Background(), dbURL)
	if err != nil {
		tb.Fatalf("open pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool, dbURL
}

// MustRedis connects to the test Redis and returns a client plus a unique key prefix; keys
// under the prefix are deleted when tb ends.
func MustRedis(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	opts, err := redis.ParseURL(RedisURL())
	if err != nil {
		tb.Fatalf("parse TEST_REDIS_URL: %v", err)
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		tb.Fatalf("connect to test Redis at %s (start it, or set TEST_REDIS_URL): %v", RedisURL(), err)
	}
	prefix := fmt.Sprintf("test:%s:", randomName())
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		rdb.Close()
	})
	return rdb, prefix
}

// MustHostPort returns the host:port a PostgreSQL or Redis URL points at, so a test can put
// a fault-injecting proxy in front of it.
func MustHostPort(tb testing.TB, rawURL string) string {
	tb.Helper()
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		tb.Fatalf("URL %q has no host: %v", rawURL, err)
	}
	return u.Host
}

// WithHostPort returns rawURL pointing at hostport instead (a proxy in front of the server).
func WithHostPort(tb testing.TB, rawURL, hostport string) string {
	tb.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		tb.Fatalf("parse %q: %v", rawURL, err)
	}
	u.Host = hostport
	return u.String()
}
