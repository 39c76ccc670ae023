package faultproxy_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/internal/faultproxy"
	"github.com/tickstock/tickstock/internal/testenv"
)

func redisAddr(tb testing.TB) string {
	tb.Helper()
	opts, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		tb.Fatal(err)
	}
	return opts.Addr
}

func newClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 300 * time.Millisecond,
		ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond, MaxRetries: -1, PoolSize: 1})
}

// TestDropRefuseStall drives a real Redis through the proxy: each fault shows up as the
// client sees it in production, and Up brings service back.
func TestDropRefuseStall(t *testing.T) {
	p := faultproxy.MustStart(t, redisAddr(t))
	rdb := newClient(p.Addr())
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping through proxy: %v", err)
	}

	// An established connection that is dropped is reset under its user.
	raw, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := raw.Read(buf); err != nil || string(buf[:n]) != "+PONG\r\n" {
		t.Fatalf("raw ping: %q %v", buf[:n], err)
	}
	p.DropAll()
	_ = raw.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := raw.Read(buf); err == nil {
		t.Fatal("read on a dropped connection succeeded")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a dropped connection hung instead of failing")
	}
	// The client's pool notices and reconnects through the proxy.
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping after drop: %v", err)
	}

	// Down: the open connection is cut and new ones are refused.
	before := p.Accepted()
	p.Down()
	for i := 0; i < 3; i++ {
		if err := rdb.Ping(ctx).Err(); err == nil {
			t.Fatal("ping succeeded while the proxy is down")
		}
	}
	if p.Accepted() == before {
		t.Fatal("the client never tried to reconnect while down")
	}
	p.Up()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping after up: %v", err)
	}

	// Stall: the connection stays open but nothing comes back, so the client times out.
	p.Stall(true)
	start := time.Now()
	err = rdb.Ping(ctx).Err()
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("ping while stalled: want a timeout, got %v", err)
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("stalled ping failed after %v, before the read timeout", el)
	}
	p.Stall(false)
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping after the stall: %v", err)
	}
}
