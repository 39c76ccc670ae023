package rdb_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/internal/faultproxy"
	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/rdb"
)

// liveFailures drives a real Redis through a fault proxy and collects the errors go-redis
// gives for each way it can go away.
func liveFailures(tb testing.TB) []error {
	tb.Helper()
	p := faultproxy.MustStart(tb, testenv.MustHostPort(tb, testenv.RedisURL()))
	c := redis.NewClient(&redis.Options{Addr: p.Addr(), DialTimeout: 300 * time.Millisecond,
		ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond, MaxRetries: -1, PoolSize: 1,
		PoolTimeout: 200 * time.Millisecond})
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		tb.Fatalf("ping through the proxy: %v", err)
	}
	var errs []error
	p.Down() // established connection broken, new ones refused
	errs = append(errs, c.Ping(ctx).Err())
	errs = append(errs, c.Ping(ctx).Err())
	p.Up()
	p.Stall(true) // hangs: read timeout
	errs = append(errs, c.Ping(ctx).Err())
	p.Up()
	c.Close() // closed client
	errs = append(errs, c.Ping(ctx).Err())
	for i, err := range errs {
		if err == nil {
			tb.Fatalf("fault %d gave no error", i)
		}
	}
	return errs
}

func TestUnavailable(t *testing.T) {
	unavailable := append(liveFailures(t), redis.ErrClosed, redis.ErrPoolTimeout, redis.ErrPoolExhausted,
		io.EOF, context.DeadlineExceeded, syscall.ECONNREFUSED,
		&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
	for _, err := range unavailable {
		if !rdb.Unavailable(err) {
			t.Errorf("Unavailable(%T %v) = false", err, err)
		}
		if got := rdb.Err("read session", err); tickstock.ErrorCode(got) != tickstock.EUNAVAILABLE || !errors.Is(got, err) {
			t.Errorf("Err(%v) = %v, want EUNAVAILABLE wrapping it", err, got)
		}
	}
	// Redis's own "not now" answers, as the server words them.
	c, prefix := testenv.MustRedis(t)
	ctx := context.Background()
	if _, err := c.Get(ctx, prefix+"missing").Result(); !errors.Is(err, redis.Nil) || rdb.Unavailable(err) {
		t.Errorf("a missing key (%v) counted as an outage", err)
	}
	c.Set(ctx, prefix+"str", "x", time.Minute)
	wrongType := c.LPush(ctx, prefix+"str", "y").Err()
	if wrongType == nil || rdb.Unavailable(wrongType) {
		t.Errorf("a WRONGTYPE answer (%v) counted as an outage", wrongType)
	}
	if got := rdb.Err("push", wrongType); tickstock.ErrorCode(got) != tickstock.EINTERNAL {
		t.Errorf("Err(WRONGTYPE) = %v, want internal", got)
	}
	if rdb.Unavailable(errors.New("redis: connection pool timeout")) {
		t.Error("the words alone counted as an outage")
	}
}

// FuzzUnavailable: wrapping never changes the classification, and Err keeps the cause.
func FuzzUnavailable(f *testing.F) {
	bases := []error{redis.ErrClosed, redis.ErrPoolTimeout, io.EOF, syscall.ECONNRESET,
		&net.OpError{Op: "read", Err: syscall.ECONNRESET}, context.DeadlineExceeded,
		redis.Nil, errors.New("WRONGTYPE"), tickstock.FieldError("x", "y")}
	f.Add(uint8(0), []byte{0, 1, 2, 3})
	f.Add(uint8(6), []byte{2, 2})
	f.Fuzz(func(t *testing.T, pick uint8, ops []byte) {
		base := bases[int(pick)%len(bases)]
		want := rdb.Unavailable(base)
		err := base
		for _, op := range ops[:min(len(ops), 64)] {
			switch op % 4 {
			case 0:
				err = fmt.Errorf("step: %w", err)
			case 1:
				err = errors.Join(errors.New("other"), err)
			case 2:
				err = &tickstock.Error{Code: tickstock.EINTERNAL, Err: err}
			case 3:
				err = fmt.Errorf("%w; %w", errors.New("other"), err)
			}
		}
		if rdb.Unavailable(err) != want {
			t.Fatalf("wrapping %v changed the classification of %v", ops, base)
		}
		got := rdb.Err("op", err)
		if (tickstock.ErrorCode(got) == tickstock.EUNAVAILABLE) != want || !errors.Is(got, base) {
			t.Fatalf("Err(%v) = %v", err, got)
		}
	})
}
