package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/session"
	"github.com/redis/go-redis/v9"

	fiberredis "github.com/gofiber/storage/redis/v3"
)

// Session lifetimes. A signed-in session ends MaxSessionAge after login, however active;
// Fiber's own expiry slides, so the login time is stored and checked on every request.
const (
	MaxSessionAge  = 24 * time.Hour
	anonSessionAge = 2 * time.Hour
	CookieName     = "tickstock_session"
)

// Keys in the session data.
const (
	keyUserID  = "uid"
	keyHandle  = "handle"
	keyLoginAt = "login_at"
	keyCSRF    = "csrf"
)

// ErrStoreUnavailable wraps a failure of the session store (Redis down): callers answer 503.
var ErrStoreUnavailable = errors.New("session store unavailable")

// State is one request's session, copied out of Fiber's session so it can outlive the
// request (SSE streams keep it).
type State struct {
	ID      string
	UserID  int64 // 0 when signed out
	Handle  string
	LoginAt time.Time
	CSRF    string
}

// SignedIn reports whether a user is attached.
func (s *State) SignedIn() bool { return s != nil && s.UserID > 0 }

// Expires is when a signed-in session ends at the latest.
func (s *State) Expires() time.Time { return s.LoginAt.Add(MaxSessionAge) }

// CheckCSRF compares a submitted token with the session's in constant time.
func (s *State) CheckCSRF(token string) bool {
	return s != nil && s.CSRF != "" && token != "" &&
		subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRF)) == 1
}

// Sessions issues, loads and ends sessions, and tells listeners when one ends so its open
// streams close too.
type Sessions struct {
	store   *session.Store
	storage fiber.Storage
	index   SessionIndex
	now     func() time.Time

	mu      sync.RWMutex
	onEnded []func(sessionID string)
}

// SessionConfig chooses where sessions live and how the cookie is set.
type SessionConfig struct {
	Redis        redis.UniversalClient // nil: process memory
	KeyPrefix    string                // Redis key prefix, e.g. "tickstock:"
	CookieSecure bool
}

// NewSessions builds the session service.
func NewSessions(cfg SessionConfig) *Sessions {
	var storage fiber.Storage
	var index SessionIndex
	if cfg.Redis != nil {
		storage = prefixStorage{Storage: fiberredis.NewFromConnection(cfg.Redis), prefix: cfg.KeyPrefix + "sess:"}
		index = NewRedisIndex(cfg.Redis, cfg.KeyPrefix+"user_sessions:")
	} else {
		storage = newMemoryStorage()
		index = NewMemoryIndex()
	}
	store := session.New(session.Config{
		Storage:        storage,
		Expiration:     anonSessionAge,
		KeyLookup:      "cookie:" + CookieName,
		CookiePath:     "/",
		CookieSecure:   cfg.CookieSecure,
		CookieHTTPOnly: true,
		CookieSameSite: "Lax",
		KeyGenerator:   func() string { return RandomToken(32) },
	})
	return &Sessions{store: store, storage: storage, index: index, now: time.Now}
}

// OnEnded registers fn to hear of every session this instance ends.
func (s *Sessions) OnEnded(fn func(sessionID string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onEnded = append(s.onEnded, fn)
}

func (s *Sessions) ended(sid string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, fn := range s.onEnded {
		fn(sid)
	}
}

// Load returns the request's session. A cookie naming an unknown id gets a new, empty
// session (Fiber issues a fresh id). An expired login is ended. Every session gets a CSRF
// token, so the login and register forms are protected too.
func (s *Sessions) Load(c *fiber.Ctx) (*State, error) {
	sess, err := s.store.Get(c)
	if err != nil {
		return nil, fmt.Errorf("%w: load session: %v", ErrStoreUnavailable, err)
	}
	st := &State{ID: sess.ID()}
	if uid, ok := sess.Get(keyUserID).(int64); ok && uid > 0 {
		st.UserID = uid
		st.Handle, _ = sess.Get(keyHandle).(string)
		if at, ok := sess.Get(keyLoginAt).(int64); ok {
			st.LoginAt = time.Unix(at, 0)
		}
		if !s.now().Before(st.Expires()) {
			if err := sess.Reset(); err != nil { // expired: drop it, start anew
				return nil, fmt.Errorf("%w: reset expired session: %v", ErrStoreUnavailable, err)
			}
			s.ended(st.ID)
			st = &State{ID: sess.ID()}
		}
	}
	st.CSRF, _ = sess.Get(keyCSRF).(string)
	if st.CSRF == "" {
		st.CSRF = RandomToken(32)
		sess.Set(keyCSRF, st.CSRF)
		if st.UserID > 0 {
			sess.SetExpiry(time.Until(st.Expires()))
		}
		if err := sess.Save(); err != nil {
			return nil, fmt.Errorf("%w: save session: %v", ErrStoreUnavailable, err)
		}
	}
	return st, nil
}

// Login starts a signed-in session under a new id (an id planted before login is never
// kept) with a new CSRF token, and indexes it under the user.
func (s *Sessions) Login(c *fiber.Ctx, userID int64, handle string) (*State, error) {
	sess, err := s.store.Get(c)
	if err != nil {
		return nil, fmt.Errorf("%w: load session: %v", ErrStoreUnavailable, err)
	}
	if err := sess.Reset(); err != nil {
		return nil, fmt.Errorf("%w: reset session: %v", ErrStoreUnavailable, err)
	}
	now := s.now()
	st := &State{ID: sess.ID(), UserID: userID, Handle: handle, LoginAt: time.Unix(now.Unix(), 0), CSRF: RandomToken(32)}
	sess.Set(keyUserID, userID)
	sess.Set(keyHandle, handle)
	sess.Set(keyLoginAt, st.LoginAt.Unix())
	sess.Set(keyCSRF, st.CSRF)
	sess.SetExpiry(MaxSessionAge)
	if err := sess.Save(); err != nil {
		return nil, fmt.Errorf("%w: save session: %v", ErrStoreUnavailable, err)
	}
	if err := s.index.Add(c.UserContext(), userID, st.ID); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStoreUnavailable, err)
	}
	return st, nil
}

// Logout destroys the request's session on the server and expires the cookie.
func (s *Sessions) Logout(c *fiber.Ctx, st *State) error {
	sess, err := s.store.Get(c)
	if err != nil {
		return fmt.Errorf("%w: load session: %v", ErrStoreUnavailable, err)
	}
	if err := sess.Destroy(); err != nil {
		return fmt.Errorf("%w: destroy session: %v", ErrStoreUnavailable, err)
	}
	if st.SignedIn() {
		if err := s.index.Remove(c.UserContext(), st.UserID, st.ID); err != nil {
			return fmt.Errorf("%w: %v", ErrStoreUnavailable, err)
		}
	}
	s.ended(st.ID)
	return nil
}

// EndUser ends every session of a user (account disabled, log out everywhere). It returns
// the ids it ended, so other instances can be told.
func (s *Sessions) EndUser(ctx context.Context, userID int64) ([]string, error) {
	ids, err := s.index.Take(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStoreUnavailable, err)
	}
	for _, sid := range ids {
		if err := s.storage.Delete(sid); err != nil {
			return nil, fmt.Errorf("%w: delete session: %v", ErrStoreUnavailable, err)
		}
		s.ended(sid)
	}
	return ids, nil
}

// Alive reports whether a session id still exists in the store; streams poll it as a
// safety net for sessions that simply expire.
func (s *Sessions) Alive(sessionID string) (bool, error) {
	b, err := s.storage.Get(sessionID)
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrStoreUnavailable, err)
	}
	return b != nil, nil
}

// prefixStorage namespaces session keys in a shared Redis.
type prefixStorage struct {
	fiber.Storage
	prefix string
}

func (p prefixStorage) Get(k string) ([]byte, error) { return p.Storage.Get(p.prefix + k) }
func (p prefixStorage) Set(k string, v []byte, exp time.Duration) error {
	return p.Storage.Set(p.prefix+k, v, exp)
}
func (p prefixStorage) Delete(k string) error { return p.Storage.Delete(p.prefix + k) }

// memoryStorage is a small fiber.Storage for process memory with expiry.
type memoryStorage struct {
	mu    sync.Mutex
	items map[string]memItem
	sets  int
}

type memItem struct {
	v   []byte
	exp time.Time
}

func newMemoryStorage() *memoryStorage { return &memoryStorage{items: make(map[string]memItem)} }

func (m *memoryStorage) Get(k string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.items[k]
	if !ok || (!it.exp.IsZero() && time.Now().After(it.exp)) {
		delete(m.items, k)
		return nil, nil
	}
	return append([]byte(nil), it.v...), nil
}

func (m *memoryStorage) Set(k string, v []byte, exp time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	it := memItem{v: append([]byte(nil), v...)}
	if exp > 0 {
		it.exp = time.Now().Add(exp)
	}
	m.items[k] = it
	if m.sets++; m.sets%1024 == 0 {
		now := time.Now()
		for key, v := range m.items {
			if !v.exp.IsZero() && now.After(v.exp) {
				delete(m.items, key)
			}
		}
	}
	return nil
}

func (m *memoryStorage) Delete(k string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.items, k)
	return nil
}

func (m *memoryStorage) Reset() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.items = make(map[string]memItem)
	return nil
}

func (m *memoryStorage) Close() error { return nil }
