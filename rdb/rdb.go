// Package rdb opens the app's Redis client and says when Redis is unavailable. Sessions,
// rate limits, lockouts (and, with several instances, the bus) share the one client; every
// failure they meet goes through Err, so Redis trouble is a 503 wherever it shows.
package rdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/internal/neterr"
)

// Open connects a client with short timeouts, so a Redis that hangs costs a request
// seconds rather than forever, and checks that it answers.
func Open(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.DialTimeout = 2 * time.Second
	opts.ReadTimeout = 2 * time.Second
	opts.WriteTimeout = 2 * time.Second
	opts.PoolTimeout = 3 * time.Second
	// RESP2: the app uses no RESP3 feature, and with RESP3 the client looks for push
	// notifications around every command, a cost on every request's round trip.
	opts.Protocol = 2
	c := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("connect to Redis at REDIS_URL: %w", err)
	}
	return c, nil
}

// Unavailable reports whether err means Redis cannot serve requests right now: refused or
// broken connections, timeouts, a pool that timed out or was closed, and the server's own
// "not now" answers (LOADING, MASTERDOWN, CLUSTERDOWN, TRYAGAIN, READONLY after a failover,
// max clients). redis.Nil (a missing key) is an answer, not an outage.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	return errors.Is(err, redis.ErrClosed) ||
		errors.Is(err, redis.ErrPoolTimeout) ||
		errors.Is(err, redis.ErrPoolExhausted) ||
		redis.IsLoadingError(err) || redis.IsMasterDownError(err) || redis.IsClusterDownError(err) ||
		redis.IsTryAgainError(err) || redis.IsReadOnlyError(err) || redis.IsMaxClientsError(err) ||
		neterr.Broken(err)
}

// msgUnavailable is what a user reads when Redis cannot serve the request.
const msgUnavailable = "The service is temporarily unavailable. Please try again shortly."

// Err turns a Redis failure into the app's error, saying what failed: an unavailable Redis
// becomes tickstock.EUNAVAILABLE (503); errors meant for users pass unchanged; anything else
// is wrapped as an internal error. The cause stays in the chain.
func Err(what string, err error) error {
	if err == nil {
		return nil
	}
	if Unavailable(err) {
		return &tickstock.Error{Code: tickstock.EUNAVAILABLE, Message: msgUnavailable, Err: fmt.Errorf("%s: %w", what, err)}
	}
	var te *tickstock.Error
	if errors.As(err, &te) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}
