package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"time"

	fiberredis "github.com/gofiber/storage/redis/v3"
	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/rdb"
)

// Session lifetimes. A signed-in session ends MaxSessionAge after login however active the
// user is. A signed-out visitor's session (it only holds the CSRF token of the login and
// sign-up forms) ends after AnonIdle without a request.
const (
	MaxSessionAge = 24 * time.Hour
	AnonIdle      = time.Hour
	CookieName    = "tickstock_session"
)

// touchEvery is how stale a session's clock may get before a request pushes it forward: a
// signed-out visitor's idle expiry, a signed-in user's "last seen". One write a minute at
// most per session, however many requests it makes.
const touchEvery = time.Minute

// sessionIDLen is the length of an id from newSessionID: 32 random bytes, base64url.
const sessionIDLen = 43

// State is one request's session, a plain copy that outlives the request (SSE streams keep
// it). A State with no ID is a visitor who has no session yet.
type State struct {
	ID      string
	UserID  int64 // 0 when signed out
	Handle  string
	LoginAt time.Time
	CSRF    string
	// Ref is the signed-in session's own opaque handle, the {id} of
	// /account/sessions/{id}/revoke: random, so it reveals nothing of the id (a secret).
	Ref  string
	seen time.Time // when the idle expiry (signed out) or last-seen (signed in) was last pushed
	dev  Device    // signed in: where it was last seen from
}

// Device is where a request comes from, as the account page's session list shows it.
type Device struct {
	IP        string
	UserAgent string // the raw header; sessions keep only DescribeAgent's summary
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

// record is a session as stored.
type record struct {
	UserID  int64  `json:"uid,omitempty"`
	Handle  string `json:"handle,omitempty"`
	LoginAt int64  `json:"login_at,omitempty"`
	Seen    int64  `json:"seen,omitempty"`
	CSRF    string `json:"csrf"`
	Ref     string `json:"ref,omitempty"`
	IP      string `json:"ip,omitempty"`
	Agent   string `json:"ua,omitempty"` // DescribeAgent's summary, never the raw header
}

// Sessions issues, reads and ends sessions. It works on session ids, never on HTTP
// requests: the handlers read the cookie and set it. Every session that ends is announced
// on the bus, so its streams end on every instance.
type Sessions struct {
	storage Storage
	index   SessionIndex
	bus     bus.Bus
	now     func() time.Time
	decoded decodeCache
	handles capped[string] // a session id's handle, for PeekCounted (maxHandles)
}

// SessionConfig chooses where sessions live and where their ends are announced.
type SessionConfig struct {
	Redis     redis.UniversalClient // nil: process memory
	KeyPrefix string                // Redis key prefix, e.g. "tickstock:"
	Bus       bus.Bus               // required: session ends are published here
	// Storage, when set, holds the session records instead of Redis or memory (tests
	// count what is written).
	Storage Storage
}

// NewSessions builds the session service.
func NewSessions(cfg SessionConfig) *Sessions {
	if cfg.Bus == nil {
		panic("auth.NewSessions: SessionConfig.Bus is required")
	}
	s := &Sessions{storage: cfg.Storage, bus: cfg.Bus, now: time.Now,
		decoded: decodeCache{states: capped[State]{limit: maxDecoded}}, handles: capped[string]{limit: maxHandles}}
	if cfg.Redis != nil {
		if s.storage == nil {
			s.storage = prefixStorage{kvStorage: fiberredis.NewFromConnection(cfg.Redis), rdb: cfg.Redis, prefix: cfg.KeyPrefix + "sess:"}
		}
		s.index = NewRedisIndex(cfg.Redis, cfg.KeyPrefix+"user_sessions:")
	} else {
		if s.storage == nil {
			s.storage = NewMemoryStorage()
		}
		s.index = NewMemoryIndex()
	}
	return s
}

// Peek reads the session an id names, writing nothing, so the rate limit can key on the
// user before any write. It returns nil for an id that is malformed, unknown or ended: the
// request then counts as signed out.
func (s *Sessions) Peek(ctx context.Context, id string) (*State, error) {
	if !wellFormedID(id) {
		return nil, nil
	}
	b, err := s.storage.GetWithContext(ctx, id)
	if err != nil {
		return nil, rdb.Err("read session", err)
	}
	if b == nil {
		return nil, nil
	}
	return s.valid(id, string(b)), nil
}

// valid decodes the stored record rec of session id; nil if it cannot be read or has
// expired.
func (s *Sessions) valid(id, rec string) *State {
	st := s.decoded.decode(id, rec)
	if st == nil {
		return nil // written by an older release, or damaged: start afresh
	}
	now := s.now()
	if st.SignedIn() && !now.Before(st.Expires()) {
		return nil // the store's expiry is due; do not wait for it
	}
	if !st.SignedIn() && !now.Before(st.seen.Add(AnonIdle)) {
		return nil
	}
	return st
}

// Issue starts a signed-out session under a new id, holding a new CSRF token. The handlers
// call it only when a page needs a token, so a visitor who never sees a form costs no write.
func (s *Sessions) Issue(ctx context.Context) (*State, error) {
	now := s.now()
	st := &State{ID: newSessionID(), CSRF: RandomToken(32), seen: time.Unix(now.Unix(), 0)}
	if err := s.save(ctx, st); err != nil {
		return nil, err
	}
	return st, nil
}

// decode reads a stored record; nil if it is damaged or from an older release.
func decode(id string, b []byte) *State {
	var r record
	if err := json.Unmarshal(b, &r); err != nil || r.CSRF == "" {
		return nil
	}
	st := &State{ID: id, UserID: r.UserID, Handle: r.Handle, LoginAt: time.Unix(r.LoginAt, 0),
		CSRF: r.CSRF, Ref: r.Ref, seen: time.Unix(r.Seen, 0), dev: Device{IP: r.IP, UserAgent: r.Agent}}
	if st.SignedIn() && r.Seen == 0 {
		st.seen = st.LoginAt
	}
	return st
}

// decodeCache remembers what recent session records decode to. A signed-in user's record
// is read on every request and rewritten at most once a minute (Touch), and decoding its
// JSON took a twentieth of a page's CPU. It is keyed by the record's bytes, so it is never
// stale: a changed record is a new key.
type decodeCache struct {
	states capped[State] // by record; ID unset
}

// maxDecoded bounds the cache.
const maxDecoded = 4096

// decode is decode(id, rec), from the cache when rec was seen before.
func (c *decodeCache) decode(id, rec string) *State {
	if st, ok := c.states.get(rec); ok {
		st.ID = id
		return &st
	}
	p := decode(id, []byte(rec))
	if p == nil {
		return nil
	}
	st := *p
	st.ID = ""
	c.states.put(rec, st)
	return p
}

// Touch records that a session is in use, at most once a minute: a signed-out visitor's
// idle expiry moves forward; a signed-in session's last-seen time, IP and browser are
// updated for the account page. A signed-in session is only ever rewritten while it still
// exists (Storage.UpdateWithContext), so a request in flight cannot bring back a session
// that logout, revocation or disabling just ended.
func (s *Sessions) Touch(ctx context.Context, st *State, dev Device) error {
	if st == nil || st.ID == "" {
		return nil
	}
	now := s.now()
	if now.Sub(st.seen) < touchEvery {
		return nil
	}
	st.seen = time.Unix(now.Unix(), 0)
	if !st.SignedIn() {
		return s.save(ctx, st)
	}
	st.dev = Device{IP: dev.IP, UserAgent: DescribeAgent(dev.UserAgent)}
	b, err := json.Marshal(st.record())
	if err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	if _, err := s.storage.UpdateWithContext(ctx, st.ID, b); err != nil {
		return rdb.Err("touch session", err)
	}
	return nil
}

// Login starts a signed-in session under a new id (an id planted before login is never
// kept) with a new CSRF token, indexes it under the user, and ends prev, the session the
// browser had: a signed-in one ends with its streams, as when signing out.
//
// dev says where the browser signs in from, for the user's list of sessions.
func (s *Sessions) Login(ctx context.Context, prev *State, userID int64, handle string, dev Device) (*State, error) {
	now := time.Unix(s.now().Unix(), 0)
	st := &State{ID: newSessionID(), UserID: userID, Handle: handle, LoginAt: now, CSRF: RandomToken(32),
		Ref: RandomToken(16), seen: now, dev: Device{IP: dev.IP, UserAgent: DescribeAgent(dev.UserAgent)}}
	if err := s.save(ctx, st); err != nil {
		return nil, err
	}
	if err := s.index.Add(ctx, userID, st.ID, st.Expires()); err != nil {
		return nil, rdb.Err("index session", err)
	}
	if prev != nil && prev.ID != "" {
		if err := s.End(ctx, prev, bus.ReasonLogout); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// End destroys a session on the server. For a signed-in one it also leaves the user's
// index, and its streams end with reason (bus.ReasonLogout, ReasonExpired, ...).
func (s *Sessions) End(ctx context.Context, st *State, reason string) error {
	if st == nil || st.ID == "" {
		return nil
	}
	if err := s.storage.DeleteWithContext(ctx, st.ID); err != nil {
		return rdb.Err("delete session", err)
	}
	if !st.SignedIn() {
		return nil
	}
	if err := s.index.Remove(ctx, st.UserID, st.ID); err != nil {
		return rdb.Err("unindex session", err)
	}
	if err := s.bus.Publish(ctx, bus.SessionEnded{SessionID: st.ID, Reason: reason}); err != nil {
		return fmt.Errorf("announce session end: %w", err)
	}
	return nil
}

// EndUser ends every session of a user, in every browser, and announces that all of the
// user's streams end with reason (account disabled, deleted). It returns the ids it ended.
func (s *Sessions) EndUser(ctx context.Context, userID int64, reason string) ([]string, error) {
	ids, err := s.index.Take(ctx, userID)
	if err != nil {
		return nil, rdb.Err("take sessions", err)
	}
	for _, sid := range ids {
		if err := s.storage.DeleteWithContext(ctx, sid); err != nil {
			return nil, rdb.Err("delete session", err)
		}
	}
	if err := s.bus.Publish(ctx, bus.UserEnded{UserID: userID, Reason: reason}); err != nil {
		return nil, fmt.Errorf("announce end of user's sessions: %w", err)
	}
	return ids, nil
}

// record is st as stored.
func (st *State) record() record {
	r := record{UserID: st.UserID, Handle: st.Handle, CSRF: st.CSRF, Seen: st.seen.Unix()}
	if st.SignedIn() {
		r.LoginAt, r.Ref, r.IP, r.Agent = st.LoginAt.Unix(), st.Ref, st.dev.IP, st.dev.UserAgent
	}
	return r
}

// save writes st to expire with it: MaxSessionAge after login, or AnonIdle after seen.
func (s *Sessions) save(ctx context.Context, st *State) error {
	var ttl time.Duration
	if st.SignedIn() {
		ttl = st.Expires().Sub(s.now())
	} else {
		ttl = st.seen.Add(AnonIdle).Sub(s.now())
	}
	ttl = max(ttl, time.Second)
	b, err := json.Marshal(st.record())
	if err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	if err := s.storage.SetWithContext(ctx, st.ID, b, ttl); err != nil {
		return rdb.Err("store session", err)
	}
	return nil
}

func newSessionID() string { return RandomToken(32) }

// wellFormedID accepts only ids this code could have issued, so a junk cookie costs no read.
func wellFormedID(id string) bool {
	if len(id) != sessionIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
