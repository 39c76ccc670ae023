package auth

import (
	"context"
	"testing"
	"time"

	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/internal/testenv"
)

// TestPeekCounted: the session read with its count, in one script with Redis and in two
// steps otherwise, gives what Peek then Hit gives: a signed-in session counts under its
// user's key, a signed-out one, a missing one, a malformed id and a signed-in session past
// its end under the anonymous key; counts go up by one per request.
func TestPeekCounted(t *testing.T) {
	rdb, prefix := testenv.MustRedis(t)
	ctx := context.Background()
	for name, build := range map[string]func() (*Sessions, Counter){
		"redis": func() (*Sessions, Counter) {
			return NewSessions(SessionConfig{Bus: bus.NewLocal(), Redis: rdb, KeyPrefix: prefix + "s:"}), NewRedisCounter(rdb, prefix+"c:")
		},
		"memory": func() (*Sessions, Counter) {
			return NewSessions(SessionConfig{Bus: bus.NewLocal()}), NewMemoryCounter()
		},
		"redis sessions, memory counter": func() (*Sessions, Counter) {
			return NewSessions(SessionConfig{Bus: bus.NewLocal(), Redis: rdb, KeyPrefix: prefix + "m:"}), NewMemoryCounter()
		},
	} {
		t.Run(name, func(t *testing.T) {
			s, counter := build()
			user, err := s.Login(ctx, nil, 42, "handle-42", Device{})
			if err != nil {
				t.Fatal(err)
			}
			anon, err := s.Issue(ctx)
			if err != nil {
				t.Fatal(err)
			}
			anonKey := "rl:ip:" + name
			check := func(id string, wantSignedIn bool, wantKey string, wantN int64) {
				t.Helper()
				st, cnt, err := s.PeekCounted(ctx, id, counter, anonKey, "rl:user:", time.Minute)
				if err != nil {
					t.Fatalf("PeekCounted(%q): %v", id, err)
				}
				if st.SignedIn() != wantSignedIn || (wantSignedIn && (st.UserID != 42 || st.Handle != "handle-42" || st.CSRF != user.CSRF)) {
					t.Fatalf("PeekCounted(%q) read %+v", id, st)
				}
				if cnt.Key != wantKey || cnt.N != wantN || !cnt.Reset.After(time.Now()) || cnt.Reset.After(time.Now().Add(time.Minute+time.Second)) {
					t.Fatalf("PeekCounted(%q) counted %+v, want %s = %d", id, cnt, wantKey, wantN)
				}
			}
			check(user.ID, true, "rl:user:handle-42", 1)
			check(user.ID, true, "rl:user:handle-42", 2)
			check(anon.ID, false, anonKey, 1)
			if st, _, _ := s.PeekCounted(ctx, anon.ID, counter, anonKey, "rl:user:", time.Minute); st == nil || st.CSRF != anon.CSRF {
				t.Fatalf("the signed-out session read as %+v", st)
			}
			check(RandomToken(32), false, anonKey, 3)
			check("", false, anonKey, 4)
			check("not/a/session", false, anonKey, 5)

			// Past its end (the store has not dropped it yet): signed out, counted as such.
			s.now = func() time.Time { return time.Now().Add(MaxSessionAge + time.Minute) }
			check(user.ID, false, anonKey, 6)
			s.now = time.Now
			want := int64(3)
			if name == "redis" {
				want = 4 // the script had counted that request under the user's key too
			}
			check(user.ID, true, "rl:user:handle-42", want)
		})
	}
}

// TestPeekCountedKnownSession covers the plain-command path PeekCounted takes for a session
// it has read before: a new window gets its expiry, a count left without one gets it at the
// next request, and a session ended meanwhile is read as gone and counted as signed out.
func TestPeekCountedKnownSession(t *testing.T) {
	rdb, prefix := testenv.MustRedis(t)
	ctx := context.Background()
	s := NewSessions(SessionConfig{Bus: bus.NewLocal(), Redis: rdb, KeyPrefix: prefix + "s:"})
	counter := NewRedisCounter(rdb, prefix+"c:")
	user, err := s.Login(ctx, nil, 7, "handle-7", Device{})
	if err != nil {
		t.Fatal(err)
	}
	userKey := prefix + "c:rl:user:handle-7"
	count := func() (*State, Count) {
		t.Helper()
		st, cnt, err := s.PeekCounted(ctx, user.ID, counter, "rl:ip:known", "rl:user:", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return st, cnt
	}
	ttl := func() time.Duration {
		t.Helper()
		d, err := rdb.PTTL(ctx, userKey).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	count() // the script's path: this instance learns the session's user
	if _, known := s.handles.get(user.ID); !known {
		t.Fatal("the session's user was not remembered")
	}
	if st, cnt := count(); !st.SignedIn() || cnt.Key != "rl:user:handle-7" || cnt.N != 2 {
		t.Fatalf("known session: %+v counted %+v", st, cnt)
	}

	rdb.Del(ctx, userKey) // the window ended
	if _, cnt := count(); cnt.N != 1 || ttl() <= 0 || ttl() > time.Minute {
		t.Fatalf("a new window: %+v, expiry %v", cnt, ttl())
	}
	rdb.Persist(ctx, userKey) // as if a broken connection had left it without an expiry
	if _, cnt := count(); cnt.N != 2 || ttl() <= 0 || ttl() > time.Minute || cnt.Reset.After(time.Now().Add(time.Minute+time.Second)) {
		t.Fatalf("a window without an expiry: %+v, expiry %v", cnt, ttl())
	}

	if err := s.End(ctx, user, "logout"); err != nil {
		t.Fatal(err)
	}
	st, cnt := count()
	if st != nil || cnt.Key != "rl:ip:known" || cnt.N != 1 {
		t.Fatalf("after logout: %+v counted %+v", st, cnt)
	}
}

// TestCountedAs checks the comparison of a counted key with the one a session belongs
// under against building that key.
func TestCountedAs(t *testing.T) {
	in := &State{ID: "s", UserID: 7, Handle: "ann", CSRF: "t"}
	out := &State{ID: "s"}
	for _, key := range []string{"p:rl:user:ann", "p:rl:user:an", "p:rl:user:annx", "p:rl:ip:1.2.3.4", "rl:user:ann", "p:rl:ip:1.2.3.", "p:", ""} {
		for _, st := range []*State{in, out, nil} {
			want := "p:rl:ip:1.2.3.4"
			if st.SignedIn() {
				want = "p:rl:user:" + st.Handle
			}
			if got := countedAs(key, "p:", st, "rl:ip:1.2.3.4", "rl:user:"); got != (key == want) {
				t.Errorf("countedAs(%q, %+v) = %v, want %v", key, st, got, key == want)
			}
		}
	}
}
