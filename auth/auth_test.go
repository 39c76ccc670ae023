package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/internal/testenv"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword(context.Background(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string with the OWASP minimum", h)
	}
	h2, _ := HashPassword(context.Background(), "correct horse")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, tt := range []struct {
		pw   string
		want bool
	}{{"correct horse", true}, {"correct horsE", false}, {"", false}} {
		ok, err := VerifyPassword(context.Background(), tt.pw, h)
		if err != nil || ok != tt.want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", tt.pw, ok, err, tt.want)
		}
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaA", "plain"} {
		if _, err := VerifyPassword(context.Background(), "x", bad); err == nil {
			t.Errorf("VerifyPassword accepted the hash %q", bad)
		}
	}
}

func TestValidateAccount(t *testing.T) {
	tests := []struct {
		name  string
		in    NewAccount
		field string
	}{
		{"ok", NewAccount{Email: "a@example.com", Username: "abc", Password: "12345678"}, ""},
		{"email missing", NewAccount{Username: "abc", Password: "12345678"}, "email"},
		{"email with name", NewAccount{Email: "Bob <a@example.com>", Username: "abc", Password: "12345678"}, "email"},
		{"email without domain dot", NewAccount{Email: "a@localhost", Username: "abc", Password: "12345678"}, "email"},
		{"username short", NewAccount{Email: "a@example.com", Username: "ab", Password: "12345678"}, "username"},
		{"username long", NewAccount{Email: "a@example.com", Username: strings.Repeat("x", 51), Password: "12345678"}, "username"},
		{"username control", NewAccount{Email: "a@example.com", Username: "ab\x00c", Password: "12345678"}, "username"},
		{"password short", NewAccount{Email: "a@example.com", Username: "abc", Password: "1234567"}, "password"},
		{"password long", NewAccount{Email: "a@example.com", Username: "abc", Password: strings.Repeat("p", 129)}, "password"},
		{"role", NewAccount{Email: "a@example.com", Username: "abc", Password: "12345678", Role: "root"}, "role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("valid account refused: %v", err)
				}
				return
			}
			var fe *tickstock.Error
			if !errors.As(err, &fe) || fe.Code != tickstock.EINVALID || fe.Field != tt.field {
				t.Fatalf("error %v, want an invalid-%s field error", err, tt.field)
			}
		})
	}
}

// counters runs the same checks on the memory and the Redis counter.
func counters(t *testing.T) map[string]Counter {
	rdb, prefix := testenv.MustRedis(t)
	return map[string]Counter{"memory": NewMemoryCounter(), "redis": NewRedisCounter(rdb, prefix)}
}

func TestCounterFixedWindow(t *testing.T) {
	for name, c := range counters(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var firstReset time.Time
			for i := int64(1); i <= 3; i++ {
				n, reset, err := c.Hit(ctx, "k", time.Minute, false)
				if err != nil || n != i {
					t.Fatalf("hit %d: %d %v", i, n, err)
				}
				if i == 1 {
					firstReset = reset
				} else if d := reset.Sub(firstReset); d > time.Second || d < -time.Second {
					t.Fatalf("a fixed window moved by %s", d)
				}
			}
			if n, _, err := c.Peek(ctx, "k"); err != nil || n != 3 {
				t.Fatalf("peek: %d %v", n, err)
			}
			if n, _, _ := c.Peek(ctx, "other"); n != 0 {
				t.Fatalf("peek of an unknown key: %d", n)
			}
			if err := c.Reset(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			if n, _, _ := c.Hit(ctx, "k", time.Minute, false); n != 1 {
				t.Fatalf("after reset: %d", n)
			}
		})
	}
}

func TestCounterWindowExpires(t *testing.T) {
	for name, c := range counters(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c.Hit(ctx, "short", 150*time.Millisecond, false)
			c.Hit(ctx, "short", 150*time.Millisecond, false)
			time.Sleep(300 * time.Millisecond)
			if n, _, _ := c.Hit(ctx, "short", 150*time.Millisecond, false); n != 1 {
				t.Fatalf("a closed window still counted: %d", n)
			}
			// Sliding: each hit pushes the end out. Four hits 400 ms apart outlast a fixed
			// 1 s window but never expire a sliding one.
			var firstReset time.Time
			for i := int64(1); i <= 4; i++ {
				n, reset, _ := c.Hit(ctx, "slide", time.Second, true)
				if n != i {
					t.Fatalf("sliding hit %d counted %d", i, n)
				}
				if i == 1 {
					firstReset = reset
				} else if !reset.After(firstReset) {
					t.Fatalf("hit %d did not push the window's end", i)
				}
				time.Sleep(400 * time.Millisecond)
			}
		})
	}
}

func TestSessionIndex(t *testing.T) {
	rdb, prefix := testenv.MustRedis(t)
	for name, idx := range map[string]SessionIndex{"memory": NewMemoryIndex(), "redis": NewRedisIndex(rdb, prefix)} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			later := time.Now().Add(time.Hour)
			idx.Add(ctx, 1, "a", later)
			idx.Add(ctx, 1, "b", later)
			idx.Add(ctx, 2, "c", later)
			idx.Remove(ctx, 1, "a")
			got, err := idx.Take(ctx, 1)
			if err != nil || len(got) != 1 || got[0] != "b" {
				t.Fatalf("take user 1: %v %v", got, err)
			}
			if again, _ := idx.Take(ctx, 1); len(again) != 0 {
				t.Fatalf("take twice: %v", again)
			}
			if other, _ := idx.Take(ctx, 2); len(other) != 1 {
				t.Fatalf("user 2 lost its session: %v", other)
			}
		})
	}
}

// TestSessionIndexForgetsExpired: a session past its expiry leaves the index by itself,
// so the index of a user who keeps signing in does not grow without end.
func TestSessionIndexForgetsExpired(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }

	mem := NewMemoryIndex()
	mem.now = clock
	rdb, prefix := testenv.MustRedis(t)
	red := NewRedisIndex(rdb, prefix)
	red.now = clock

	for name, idx := range map[string]SessionIndex{"memory": mem, "redis": red} {
		t.Run(name, func(t *testing.T) {
			idx.Add(ctx, 7, "short", now.Add(time.Minute))
			idx.Add(ctx, 7, "long", now.Add(3*time.Minute))
			idx.Add(ctx, 8, "other", now.Add(time.Minute))
			now = now.Add(2 * time.Minute) // "short" and "other" have expired
			defer func() { now = now.Add(-2 * time.Minute) }()
			idx.Add(ctx, 7, "new", now.Add(time.Hour))
			got, err := idx.Take(ctx, 7)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, []string{"long", "new"}) {
				t.Fatalf("take after expiry = %v, want [long new]", got)
			}
			if got, _ := idx.Take(ctx, 8); len(got) != 0 {
				t.Fatalf("an expired session of a quiet user was taken: %v", got)
			}
		})
	}
	// The memory index forgets quiet users' expired entries too, not only on Take.
	now = now.Add(2 * time.Minute)
	for i := range 300 {
		mem.Add(ctx, int64(1000+i), "s", now.Add(time.Second))
	}
	now = now.Add(time.Minute)
	for i := range 256 {
		mem.Add(ctx, 1, fmt.Sprint("fresh", i), now.Add(time.Hour))
	}
	mem.mu.Lock()
	users := len(mem.users)
	mem.mu.Unlock()
	if users != 1 {
		t.Fatalf("memory index still holds %d users after their sessions expired", users)
	}
	// Redis: the set itself expires with its last session.
	NewRedisIndex(rdb, prefix).Add(ctx, 9, "x", time.Now().Add(2*time.Second))
	if ttl := rdb.PTTL(ctx, prefix+"9").Val(); ttl <= 0 || ttl > 2*time.Second {
		t.Fatalf("redis index set TTL = %s, want the last session's expiry", ttl)
	}
}
