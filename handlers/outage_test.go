package handlers

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// privateRedis runs a redis-server of the test's own, so the test can stop and restart it
// without disturbing the shared one.
type privateRedis struct {
	tb   testing.TB
	port int
	cmd  *exec.Cmd
}

func mustPrivateRedis(tb testing.TB) *privateRedis {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := &privateRedis{tb: tb, port: port}
	p.start()
	tb.Cleanup(p.stop)
	return p
}

func (p *privateRedis) start() {
	p.tb.Helper()
	p.cmd = exec.Command("redis-server", "--port", fmt.Sprint(p.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	if err := p.cmd.Start(); err != nil {
		p.tb.Fatalf("start redis-server (install redis-server): %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", p.addr()); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.tb.Fatal("private redis-server did not start")
}

func (p *privateRedis) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		p.cmd = nil
	}
}

func (p *privateRedis) addr() string { return fmt.Sprintf("127.0.0.1:%d", p.port) }

func TestRedisOutageFailsClosedAndRecovers(t *testing.T) {
	srv := mustPrivateRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.addr(), DialTimeout: 500 * time.Millisecond,
		ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	app := MustApp(t, withRedis(rdb, "outage:"))
	_, pw := app.MustUser(t, "outage@example.com", "outage")
	c := app.NewClient(t)
	c.login("outage@example.com", pw)
	if r := c.get("/dashboard"); r.StatusCode != 200 {
		t.Fatalf("dashboard before outage: %d", r.StatusCode)
	}

	srv.stop()
	for _, path := range []string{"/dashboard", "/auth/login", "/"} {
		r := c.get(path)
		if r.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s with Redis down: %d, want 503", path, r.StatusCode)
		}
		if strings.Contains(strings.ToLower(r.Body), "redis") || strings.Contains(r.Body, "127.0.0.1") {
			t.Fatalf("503 leaks internal detail: %s", r.Body)
		}
	}
	if r := c.get("/readyz"); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with Redis down: %d", r.StatusCode)
	}
	if r := c.get("/healthz"); r.StatusCode != 200 {
		t.Fatalf("/healthz with Redis down: %d", r.StatusCode)
	}

	// Redis comes back empty (no persistence): service resumes by itself; the old session
	// is gone, so the user is simply signed out.
	srv.start()
	deadline := time.Now().Add(10 * time.Second)
	var r response
	for time.Now().Before(deadline) {
		if r = c.get("/auth/login"); r.StatusCode == 200 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.StatusCode != 200 {
		t.Fatalf("no recovery after Redis returned: %d", r.StatusCode)
	}
	c.login("outage@example.com", pw)
	if r := c.get("/readyz"); r.StatusCode != 200 {
		t.Fatalf("/readyz after recovery: %d", r.StatusCode)
	}
}

func TestDatabaseDownIs503(t *testing.T) {
	// A pool pointing at a port where nothing listens: pages that need the database fail
	// closed, and readiness says so.
	cfg, err := pgxpool.ParseConfig("postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	down := MustApp(t, withPool(pool))
	c := down.NewClient(t)
	if r := c.get("/readyz"); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with PostgreSQL down: %d", r.StatusCode)
	}
	r := c.postForm("/auth/login", map[string][]string{"email": {"a@example.com"}, "password": {"whatever-pw"}})
	if r.StatusCode != http.StatusServiceUnavailable || strings.Contains(r.Body, "127.0.0.1") {
		t.Fatalf("login with PostgreSQL down: %d %s", r.StatusCode, r.Body)
	}
}
