package cluster

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/internal/faultproxy"
	"github.com/tickstock/tickstock/internal/testenv"
)

func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// entries returns the stream's entries as "seq=payload".
func entries(tb testing.TB, c *redis.Client, keys Keys) []string {
	tb.Helper()
	msgs, err := c.XRange(context.Background(), keys.Stream, "-", "+").Result()
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		seq, _ := seqOf(m.ID)
		out = append(out, strconv.FormatUint(seq, 10)+"="+m.Values["e"].(string))
	}
	return out
}

func TestLeaseAcquireRenewRelease(t *testing.T) {
	c, prefix := testenv.MustRedis(t)
	keys := KeysFor(prefix)
	ctx := context.Background()
	one := NewLease(c, keys, "one", 5*time.Second)
	two := NewLease(c, keys, "two", 5*time.Second)

	g1, holder, ok, err := one.Acquire(ctx)
	if err != nil || !ok || holder != "one" {
		t.Fatalf("first acquire: %v %v %q", ok, err, holder)
	}
	if g1.Token < uint64(time.Now().Add(-time.Minute).UnixMicro()) {
		t.Fatalf("a fresh counter gave token %d: tokens start at the clock, so a Redis that lost its data cannot hand out an old one", g1.Token)
	}
	if _, holder, ok, err := two.Acquire(ctx); err != nil || ok || holder != "one" {
		t.Fatalf("second acquire while held: ok=%v err=%v holder=%q", ok, err, holder)
	}
	if ok, err := one.Renew(ctx, g1); !ok || err != nil {
		t.Fatalf("renew by the holder: %v %v", ok, err)
	}
	if err := one.Add(ctx, g1, 100, 10, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := one.Add(ctx, g1, 100, 10, []byte("again")); !errors.Is(err, errSeqTaken) {
		t.Fatalf("a repeated number: %v, want errSeqTaken", err)
	}
	if last, err := one.LastSeq(ctx); err != nil || last != 100 {
		t.Fatalf("LastSeq = %d, %v", last, err)
	}

	// A release hands the lease over at once, under a greater token; the old grant is dead.
	if err := one.Release(ctx, g1); err != nil {
		t.Fatal(err)
	}
	g2, _, ok, err := two.Acquire(ctx)
	if err != nil || !ok || g2.Token <= g1.Token {
		t.Fatalf("acquire after release: ok=%v err=%v token %d after %d", ok, err, g2.Token, g1.Token)
	}
	if ok, err := one.Renew(ctx, g1); ok || err != nil {
		t.Fatalf("renew of a released grant: %v %v", ok, err)
	}
	if err := one.Add(ctx, g1, 101, 10, []byte("fenced")); !errors.Is(err, ErrFenced) {
		t.Fatalf("add under a released grant: %v, want ErrFenced", err)
	}
	if err := one.Release(ctx, g1); err != nil {
		t.Fatal(err)
	}
	if h, _ := c.Get(ctx, keys.Lease).Result(); !strings.HasSuffix(h, ":two") {
		t.Fatalf("releasing a lost grant removed the new holder's lease: %q", h)
	}

	// Redis loses everything: the next token is still greater than every earlier one.
	c.Del(ctx, keys.Lease, keys.Token, keys.Stream)
	g3, _, ok, err := one.Acquire(ctx)
	if err != nil || !ok || g3.Token <= g2.Token {
		t.Fatalf("after data loss: token %d after %d (%v %v)", g3.Token, g2.Token, ok, err)
	}

	// An expired lease is free for another instance.
	short := NewLease(c, keys, "short", 300*time.Millisecond)
	c.Del(ctx, keys.Lease)
	if _, _, ok, _ := short.Acquire(ctx); !ok {
		t.Fatal("acquire of a free lease failed")
	}
	time.Sleep(400 * time.Millisecond)
	if _, _, ok, _ := two.Acquire(ctx); !ok {
		t.Fatal("an expired lease was not free")
	}
}

// TestLeaseFencesAPausedLeader: the leader's connection to Redis stalls (a GC pause, a
// SIGSTOP, a partition: its commands are held, not lost). Its lease expires and another
// instance takes it. When the stall ends, the old leader's held renewal and emission reach
// Redis late, and both are refused there: the stream holds only the new leader's entries.
func TestLeaseFencesAPausedLeader(t *testing.T) {
	direct, prefix := testenv.MustRedis(t)
	keys := KeysFor(prefix)
	p := faultproxy.MustStart(t, testenv.MustHostPort(t, testenv.RedisURL()))
	viaProxy := redis.NewClient(&redis.Options{Addr: p.Addr(), DialTimeout: 300 * time.Millisecond,
		ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { viaProxy.Close() })
	ctx := context.Background()
	old := NewLease(viaProxy, keys, "old", time.Second)
	fresh := NewLease(direct, keys, "new", time.Second)

	g1, _, ok, err := old.Acquire(ctx)
	if err != nil || !ok {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	if err := old.Add(ctx, g1, 1, 100, []byte("before")); err != nil {
		t.Fatal(err)
	}

	p.Stall(true)
	if ok, err := old.Renew(ctx, g1); err == nil || ok {
		t.Fatalf("renew through a stalled connection: %v %v", ok, err)
	}
	if err := old.Add(ctx, g1, 2, 100, []byte("late")); err == nil {
		t.Fatal("an add through a stalled connection succeeded")
	}
	var g2 Grant
	waitFor(t, 3*time.Second, "the new instance to take the expired lease", func() bool {
		var ok bool
		g2, _, ok, _ = fresh.Acquire(ctx)
		return ok
	})
	if g2.Token <= g1.Token {
		t.Fatalf("new token %d not above %d", g2.Token, g1.Token)
	}
	if err := fresh.Add(ctx, g2, 3, 100, []byte("new leader")); err != nil {
		t.Fatal(err)
	}

	p.Stall(false) // the held commands arrive now
	time.Sleep(300 * time.Millisecond)
	if got := entries(t, direct, keys); len(got) != 2 || !strings.HasSuffix(got[0], "=before") || !strings.HasSuffix(got[1], "=new leader") {
		t.Fatalf("stream after the stall: %q; the paused leader's emission must be refused", got)
	}
	if h, _ := direct.Get(ctx, keys.Lease).Result(); !strings.HasSuffix(h, ":new") {
		t.Fatalf("the late renewal touched the new holder's lease: %q", h)
	}
	if err := old.Add(ctx, g1, 4, 100, []byte("after")); !errors.Is(err, ErrFenced) {
		t.Fatalf("the old leader's next add: %v, want ErrFenced", err)
	}
	if ok, err := old.Renew(ctx, g1); ok || err != nil {
		t.Fatalf("the old leader's next renewal: %v %v, want lost", ok, err)
	}
}
