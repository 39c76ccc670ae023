package auth

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/internal/testenv"
)

// countingStorage counts the writes that reach a session store.
type countingStorage struct {
	Storage
	mu      sync.Mutex
	writes  int
	updates int
}

func (c *countingStorage) SetWithContext(ctx context.Context, k string, v []byte, exp time.Duration) error {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Storage.SetWithContext(ctx, k, v, exp)
}

func (c *countingStorage) UpdateWithContext(ctx context.Context, k string, v []byte) (bool, error) {
	c.mu.Lock()
	c.updates++
	c.mu.Unlock()
	return c.Storage.UpdateWithContext(ctx, k, v)
}

func (c *countingStorage) Updates() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.updates
}

func (c *countingStorage) Writes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// recorder keeps every message the bus delivers.
type recorder struct {
	mu  sync.Mutex
	got []bus.Message
}

func (r *recorder) handle(m bus.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, m)
}

func (r *recorder) take() []bus.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

// sessionStores runs the same checks over memory and Redis sessions.
func sessionStores(t *testing.T) map[string]func(b bus.Bus) (*Sessions, *countingStorage) {
	rdb, prefix := testenv.MustRedis(t)
	return map[string]func(bus.Bus) (*Sessions, *countingStorage){
		"memory": func(b bus.Bus) (*Sessions, *countingStorage) {
			cs := &countingStorage{Storage: NewMemoryStorage()}
			return NewSessions(SessionConfig{Bus: b, Storage: cs}), cs
		},
		"redis": func(b bus.Bus) (*Sessions, *countingStorage) {
			s := NewSessions(SessionConfig{Bus: b, Redis: rdb, KeyPrefix: prefix})
			cs := &countingStorage{Storage: s.storage}
			s.storage = cs
			return s, cs
		},
	}
}

func TestSessionLifecycle(t *testing.T) {
	for name, build := range sessionStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := bus.NewLocal()
			rec := &recorder{}
			b.Subscribe(rec.handle)
			s, store := build(b)
			now := time.Now()
			s.now = func() time.Time { return now }

			// Unknown and malformed ids read as no session, and malformed ones cost no read.
			for _, id := range []string{"", "short", RandomToken(32), "../../etc/passwd" + RandomToken(20)} {
				if st, err := s.Peek(ctx, id); st != nil || err != nil {
					t.Fatalf("Peek(%q) = %+v, %v", id, st, err)
				}
			}

			// A signed-out visitor's session: issued once, read without writes, kept alive
			// by at most one write a minute, gone after an idle hour.
			anon, err := s.Issue(ctx)
			if err != nil || anon.ID == "" || anon.CSRF == "" || anon.SignedIn() {
				t.Fatalf("Issue = %+v, %v", anon, err)
			}
			if store.Writes() != 1 {
				t.Fatalf("Issue wrote %d times", store.Writes())
			}
			for i := 0; i < 50; i++ {
				now = now.Add(time.Second)
				st, err := s.Peek(ctx, anon.ID)
				if err != nil || st == nil || st.CSRF != anon.CSRF {
					t.Fatalf("Peek of the visitor's session: %+v %v", st, err)
				}
				if err := s.Touch(ctx, st, Device{}); err != nil {
					t.Fatal(err)
				}
			}
			if store.Writes() != 1 {
				t.Fatalf("50 requests within a minute wrote %d times", store.Writes())
			}
			now = now.Add(20 * time.Second)
			st, _ := s.Peek(ctx, anon.ID)
			s.Touch(ctx, st, Device{})
			if store.Writes() != 2 {
				t.Fatalf("a request after a minute did not push the idle expiry: %d writes", store.Writes())
			}
			now = now.Add(AnonIdle - time.Second)
			if st, _ := s.Peek(ctx, anon.ID); st == nil {
				t.Fatal("the visitor's session ended before an idle hour")
			}
			now = now.Add(time.Second)
			if st, _ := s.Peek(ctx, anon.ID); st != nil {
				t.Fatal("the visitor's session outlived an idle hour")
			}

			// Login replaces the visitor's session with a new id and token.
			anon, _ = s.Issue(ctx)
			first, err := s.Login(ctx, anon, 42, "handle-42", Device{})
			if err != nil || first.ID == anon.ID || first.CSRF == anon.CSRF || !first.SignedIn() {
				t.Fatalf("Login = %+v, %v", first, err)
			}
			if st, _ := s.Peek(ctx, anon.ID); st != nil {
				t.Fatal("the pre-login session survived login")
			}
			if got := rec.take(); len(got) != 0 {
				t.Fatalf("ending a signed-out session announced %v", got)
			}
			got, _ := s.Peek(ctx, first.ID)
			if got == nil || got.UserID != 42 || got.Handle != "handle-42" || !got.LoginAt.Equal(first.LoginAt) || got.CSRF != first.CSRF {
				t.Fatalf("Peek of the signed-in session = %+v", got)
			}
			// A signed-in session is never saved again by requests: its last-seen time moves
			// at most once a minute, by an update that cannot bring back an ended session.
			w, u := store.Writes(), store.Updates()
			now = now.Add(30 * time.Second)
			s.Touch(ctx, got, Device{IP: "203.0.113.9"})
			if store.Writes() != w || store.Updates() != u {
				t.Fatal("Touch wrote a signed-in session seen under a minute ago")
			}
			now = now.Add(5 * time.Minute)
			s.Touch(ctx, got, Device{IP: "203.0.113.9"})
			s.Touch(ctx, got, Device{IP: "203.0.113.9"})
			if store.Writes() != w || store.Updates() != u+1 {
				t.Fatalf("two requests 5 minutes on: %d saves, %d updates; want 0 and 1", store.Writes()-w, store.Updates()-u)
			}

			// Signing in again in the same browser ends the replaced session's streams.
			second, err := s.Login(ctx, got, 42, "handle-42", Device{})
			if err != nil {
				t.Fatal(err)
			}
			if msgs := rec.take(); len(msgs) != 1 || msgs[0] != (bus.SessionEnded{SessionID: first.ID, Reason: bus.ReasonLogout}) {
				t.Fatalf("signing in again announced %v", msgs)
			}
			if st, _ := s.Peek(ctx, first.ID); st != nil {
				t.Fatal("the replaced session still works")
			}

			// Two more browsers; then logout ends one, EndUser all the rest.
			third, _ := s.Login(ctx, nil, 42, "handle-42", Device{})
			fourth, _ := s.Login(ctx, nil, 42, "handle-42", Device{})
			other, _ := s.Login(ctx, nil, 43, "handle-43", Device{})
			if err := s.End(ctx, third, bus.ReasonLogout); err != nil {
				t.Fatal(err)
			}
			if msgs := rec.take(); len(msgs) != 1 || msgs[0] != (bus.SessionEnded{SessionID: third.ID, Reason: bus.ReasonLogout}) {
				t.Fatalf("logout announced %v", msgs)
			}
			ids, err := s.EndUser(ctx, 42, bus.ReasonDisabled)
			if err != nil || len(ids) != 2 {
				t.Fatalf("EndUser = %v, %v; want the 2 live sessions", ids, err)
			}
			if msgs := rec.take(); len(msgs) != 1 || msgs[0] != (bus.UserEnded{UserID: 42, Reason: bus.ReasonDisabled}) {
				t.Fatalf("EndUser announced %v", msgs)
			}
			for _, st := range []*State{second, fourth} {
				if got, _ := s.Peek(ctx, st.ID); got != nil {
					t.Fatalf("session %s survived EndUser", st.ID)
				}
			}
			if got, _ := s.Peek(ctx, other.ID); got == nil {
				t.Fatal("another user's session ended")
			}

			// A signed-in session ends 24 h after login, however active.
			now = other.LoginAt.Add(MaxSessionAge)
			if got, _ := s.Peek(ctx, other.ID); got != nil {
				t.Fatal("a session outlived MaxSessionAge")
			}
		})
	}
}

// TestHashingCap: at most the slot count hash at once; the rest wait, and give up with
// EUNAVAILABLE after the wait (or when the caller's context ends).
func TestHashingCap(t *testing.T) {
	if cap(hashSlots.ch) != 2*runtime.NumCPU() || hashSlots.wait != 5*time.Second {
		t.Fatalf("hashing cap %d, wait %s; want 2×CPUs (%d) and 5s", cap(hashSlots.ch), hashSlots.wait, 2*runtime.NumCPU())
	}
	saved := hashSlots
	defer func() { hashSlots = saved }()
	hashSlots = newSlots(2, 300*time.Millisecond)
	ctx := context.Background()
	h, err := hashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}

	// Both slots busy: a login waits the full wait, then gets 503.
	hashSlots.acquire(ctx)
	hashSlots.acquire(ctx)
	start := time.Now()
	_, err = VerifyPassword(ctx, "pw", h)
	if tickstock.ErrorCode(err) != tickstock.EUNAVAILABLE {
		t.Fatalf("verify with every slot busy: %v, want EUNAVAILABLE", err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("gave up after %s, before the wait", waited)
	}
	if _, err := HashPassword(ctx, "pw"); tickstock.ErrorCode(err) != tickstock.EUNAVAILABLE {
		t.Fatalf("hash with every slot busy: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := VerifyDummy(cctx, "pw"); tickstock.ErrorCode(err) != tickstock.EUNAVAILABLE || !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled caller: %v", err)
	}

	// A slot that frees within the wait lets the waiter through.
	go func() { time.Sleep(100 * time.Millisecond); hashSlots.release() }()
	if ok, err := VerifyPassword(ctx, "pw", h); err != nil || !ok {
		t.Fatalf("verify after a slot freed: %v %v", ok, err)
	}
	hashSlots.release()

	// Many at once: none fails while each waits less than the wait.
	hashSlots = newSlots(2, 30*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			if ok, err := VerifyPassword(ctx, "pw", h); err != nil || !ok {
				errs <- errors.Join(err, errors.New("verify failed"))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(hashSlots.ch); n != 0 {
		t.Fatalf("%d slots still held after every hash finished", n)
	}
}
