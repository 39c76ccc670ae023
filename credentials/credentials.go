// Package credentials holds the credentials other than a session: embed links, which show
// a user's panels to anyone who has the link, and API tokens, which let programs read a
// user's data. Both are long random tokens shown once at creation; only their SHA-256 is
// stored, and everywhere else (URLs, forms, the bus, logs) a credential is known by an
// opaque handle. Revoking one, or ending its owner (disabled, deleted), is announced on the
// bus, so every instance drops it from its cache and ends its streams.
package credentials

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/db"
)

// Limits on what a user keeps.
const (
	// MaxActive is how many live credentials of one kind one user may hold.
	MaxActive = 50
	// MaxNameLen is the longest name, in characters (the tables check it too).
	MaxNameLen = 100
)

// TouchEvery is how often, at most, a credential's "last used" time is written: requests
// in between cost no write.
const TouchEvery = time.Minute

// Cache bounds. A resolved credential is trusted this long without asking the database;
// the bus drops it sooner when it is revoked or its owner ends, and the TTL bounds how long
// a missed bus message can matter.
const (
	cacheTTL = time.Minute
	cacheMax = 10000
)

// Credential is a live embed link or API token, without its secret.
type Credential struct {
	Kind        Kind
	Handle      string // the public id, in URLs and on the bus
	Name        string // the owner's label for it
	UserID      int64  // the owner
	OwnerHandle string // the owner's handle: rate limits key on it
	CreatedAt   time.Time
	LastUsed    time.Time // last viewed (embeds) or used (tokens); zero: never

	gen uint64 // the invalidation generation this was known valid at (see Live)
}

// Created is a credential just made, with its token: the one time the token is known.
type Created struct {
	Credential
	Token string
}

// Service creates, lists, resolves and revokes credentials. It is safe for concurrent use.
// Build it before handlers.New: it subscribes to the bus first, so a revocation drops the
// cached credential before the hub ends its streams (see Live).
type Service struct {
	pool   *pgxpool.Pool
	bus    bus.Bus
	logger *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	cache   map[[sha256.Size]byte]entry
	touched map[touchKey]time.Time // when "last used" was last written, per credential
	gen     uint64                 // bumped by every invalidation
}

type entry struct {
	cred    Credential
	expires time.Time
}

type touchKey struct {
	kind   Kind
	handle string
}

// Option configures a Service.
type Option func(*Service)

// WithLogger logs through l (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.logger = l } }

// WithClock replaces the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// New builds the service over the app's pool and subscribes it to b, which also carries
// its revocations to the other instances.
func New(pool *pgxpool.Pool, b bus.Bus, opts ...Option) *Service {
	if b == nil {
		panic("credentials.New: a bus is required")
	}
	s := &Service{pool: pool, bus: b, logger: slog.Default(), now: time.Now,
		cache: make(map[[sha256.Size]byte]entry), touched: make(map[touchKey]time.Time)}
	for _, o := range opts {
		o(s)
	}
	b.Subscribe(s.apply)
	return s
}

// ValidName trims and checks a credential's name: 1 to MaxNameLen characters, no control
// characters. The error is a field error on "name".
func ValidName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", tickstock.FieldError("name", "Give it a name, so you know later where it is used.")
	}
	if utf8.RuneCountInString(name) > MaxNameLen {
		return "", tickstock.FieldError("name", "The name must be at most %d characters.", MaxNameLen)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", tickstock.FieldError("name", "The name must not contain control characters.")
		}
	}
	return name, nil
}

// Create makes a credential of kind k for a user. The token in the answer is shown once
// and never stored. A bad name, or a user who already has MaxActive, is a field error.
func (s *Service) Create(ctx context.Context, k Kind, userID int64, name string) (Created, error) {
	name, err := ValidName(name)
	if err != nil {
		return Created{}, err
	}
	token := newToken(k)
	h := hash(token)
	var r row
	err = db.WithUser(ctx, s.pool, userID, func(q *db.Queries) error {
		var n int64
		var err error
		if k == Embed {
			n, err = q.CountActiveEmbeds(ctx, userID)
		} else {
			n, err = q.CountActiveAPITokens(ctx, userID)
		}
		if err != nil {
			return err
		}
		if n >= MaxActive {
			return tickstock.FieldError("name", "You have %d already, the most allowed. Revoke one you no longer use first.", MaxActive)
		}
		if k == Embed {
			var got db.CreateEmbedRow
			got, err = q.CreateEmbed(ctx, db.CreateEmbedParams{Handle: newHandle(), UserID: userID, Name: name, TokenHash: h[:]})
			r = row(got)
		} else {
			var got db.CreateAPITokenRow
			got, err = q.CreateAPIToken(ctx, db.CreateAPITokenParams{Handle: newHandle(), UserID: userID, Name: name, TokenHash: h[:]})
			r = row(got)
		}
		return err
	})
	if err != nil {
		return Created{}, fmt.Errorf("create %s: %w", k, err)
	}
	c := r.credential(k, userID)
	return Created{Credential: c, Token: token}, nil
}

// List returns a user's live credentials of kind k, newest first.
func (s *Service) List(ctx context.Context, k Kind, userID int64) ([]Credential, error) {
	var out []Credential
	err := db.ReadUser(ctx, s.pool, userID, func(q *db.Queries) error {
		out = out[:0]
		if k == Embed {
			rows, err := q.ListActiveEmbeds(ctx, userID)
			for _, r := range rows {
				out = append(out, row(r).credential(k, userID))
			}
			return err
		}
		rows, err := q.ListActiveAPITokens(ctx, userID)
		for _, r := range rows {
			out = append(out, row(r).credential(k, userID))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list %ss: %w", k, err)
	}
	return out, nil
}

// Revoke ends one of a user's credentials, by handle, and returns it: it answers 404 from
// then on, and its streams end on every instance. Another user's handle, an unknown one or
// one already revoked is tickstock.ENOTFOUND. An error from the bus means other instances
// may not have heard; this instance has applied the revocation regardless.
func (s *Service) Revoke(ctx context.Context, k Kind, userID int64, handle string) (Credential, error) {
	if !wellFormedHandle(handle) {
		return Credential{}, tickstock.Errorf(tickstock.ENOTFOUND, "There is no such %s.", noun(k))
	}
	var r row
	err := db.WithUser(ctx, s.pool, userID, func(q *db.Queries) error {
		var err error
		if k == Embed {
			var got db.RevokeEmbedRow
			got, err = q.RevokeEmbed(ctx, db.RevokeEmbedParams{Handle: handle, UserID: userID})
			r = row(got)
		} else {
			var got db.RevokeAPITokenRow
			got, err = q.RevokeAPIToken(ctx, db.RevokeAPITokenParams{Handle: handle, UserID: userID})
			r = row(got)
		}
		return err
	})
	if tickstock.ErrorCode(err) == tickstock.ENOTFOUND {
		return Credential{}, tickstock.Errorf(tickstock.ENOTFOUND, "There is no such %s.", noun(k))
	}
	if err != nil {
		return Credential{}, fmt.Errorf("revoke %s: %w", k, err)
	}
	var m bus.Message = bus.TokenRevoked{TokenID: handle}
	if k == Embed {
		m = bus.EmbedRevoked{EmbedID: handle}
	}
	c := r.credential(k, userID)
	if err := s.bus.Publish(ctx, m); err != nil {
		s.apply(m)
		return c, fmt.Errorf("announce revoked %s: %w", k, err)
	}
	return c, nil
}

// Peek returns the credential a token names if this instance has it cached, with no I/O,
// so the rate limit can key on its owner before anything touches a store.
func (s *Service) Peek(k Kind, token string) (Credential, bool) {
	if !WellFormed(k, token) {
		return Credential{}, false
	}
	h := hash(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.cache[h]
	if !ok || e.cred.Kind != k || !s.now().Before(e.expires) {
		return Credential{}, false
	}
	c := e.cred
	c.gen = s.gen
	return c, true
}

// Resolve returns the live credential a token names. found is false for a token that is
// malformed, unknown, revoked, of the other kind, or whose owner is disabled: the caller
// answers 404 or 401 without saying which. err is only for a database that cannot answer.
func (s *Service) Resolve(ctx context.Context, k Kind, token string) (c Credential, found bool, err error) {
	if c, ok := s.Peek(k, token); ok {
		return c, true, nil
	}
	if !WellFormed(k, token) {
		return Credential{}, false, nil
	}
	h := hash(token)
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	var r foundRow
	err = db.ReadSystem(ctx, s.pool, func(q *db.Queries) error {
		var err error
		if k == Embed {
			var got db.FindEmbedByHashRow
			got, err = q.FindEmbedByHash(ctx, h[:])
			r = foundRow(got)
		} else {
			var got db.FindAPITokenByHashRow
			got, err = q.FindAPITokenByHash(ctx, h[:])
			r = foundRow(got)
		}
		return err
	})
	if tickstock.ErrorCode(err) == tickstock.ENOTFOUND {
		return Credential{}, false, nil
	}
	if err != nil {
		return Credential{}, false, fmt.Errorf("look up %s: %w", k, err)
	}
	c = row{Handle: r.Handle, Name: r.Name, CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt}.credential(k, r.UserID)
	c.OwnerHandle, c.gen = r.OwnerHandle, gen

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen == gen { // nothing was revoked while we read: safe to keep
		now := s.now()
		if len(s.cache) >= cacheMax {
			for k, e := range s.cache {
				if !now.Before(e.expires) {
					delete(s.cache, k)
				}
			}
		}
		if len(s.cache) < cacheMax {
			s.cache[h] = entry{cred: c, expires: now.Add(cacheTTL)}
		}
	}
	return c, true, nil
}

// Live reports whether c, resolved a moment ago, is still live. It needs the database only
// when something was revoked (anywhere) since c was resolved, so a stream can check, once
// it is registered, that no revocation slipped in between its lookup and its registration.
func (s *Service) Live(ctx context.Context, c Credential) (bool, error) {
	s.mu.Lock()
	same := s.gen == c.gen
	s.mu.Unlock()
	if same {
		return true, nil
	}
	var live bool
	err := db.ReadSystem(ctx, s.pool, func(q *db.Queries) error {
		var err error
		if c.Kind == Embed {
			live, err = q.EmbedIsLive(ctx, c.Handle)
		} else {
			live, err = q.APITokenIsLive(ctx, c.Handle)
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("check %s: %w", c.Kind, err)
	}
	return live, nil
}

// Touch records that c was just used (an embed viewed, a token presented). It writes at
// most once per TouchEvery per credential, across instances too (the update is
// conditional), so a busy credential costs no write per request. A failure is logged, not
// returned: it must not fail the request that used the credential.
func (s *Service) Touch(ctx context.Context, c Credential) {
	now := s.now()
	key := touchKey{c.Kind, c.Handle}
	s.mu.Lock()
	last := s.touched[key]
	if c.LastUsed.After(last) {
		last = c.LastUsed
	}
	if now.Sub(last) < TouchEvery {
		s.mu.Unlock()
		return
	}
	s.touched[key] = now
	if len(s.touched) > cacheMax {
		for k, t := range s.touched {
			if now.Sub(t) >= TouchEvery {
				delete(s.touched, k)
			}
		}
	}
	s.mu.Unlock()

	at := pgtype.Timestamptz{Time: now, Valid: true}
	before := pgtype.Timestamptz{Time: now.Add(-TouchEvery), Valid: true}
	err := db.WithUser(ctx, s.pool, c.UserID, func(q *db.Queries) error {
		if c.Kind == Embed {
			return q.TouchEmbed(ctx, db.TouchEmbedParams{Handle: c.Handle, At: at, StaleBefore: before})
		}
		return q.TouchAPIToken(ctx, db.TouchAPITokenParams{Handle: c.Handle, At: at, StaleBefore: before})
	})
	if err != nil {
		s.logger.Warn("credentials: record last use", "kind", c.Kind.String(), "credential", c.Handle, "err", err)
	}
}

// apply is the service's bus handler: it drops what a revocation or an ended user makes
// stale, and bumps the generation so lookups in flight are not cached (and Live rechecks).
func (s *Service) apply(m bus.Message) {
	var drop func(Credential) bool
	switch m := m.(type) {
	case bus.EmbedRevoked:
		drop = func(c Credential) bool { return c.Kind == Embed && c.Handle == m.EmbedID }
	case bus.TokenRevoked:
		drop = func(c Credential) bool { return c.Kind == API && c.Handle == m.TokenID }
	case bus.UserEnded:
		drop = func(c Credential) bool { return c.UserID == m.UserID }
	default:
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	for h, e := range s.cache {
		if drop(e.cred) {
			delete(s.cache, h)
		}
	}
}

// row is one credential as the list and create queries return it (every such row type
// has these fields, so it converts).
type row struct {
	Handle     string
	Name       string
	CreatedAt  pgtype.Timestamptz
	LastUsedAt pgtype.Timestamptz
}

func (r row) credential(k Kind, userID int64) Credential {
	c := Credential{Kind: k, Handle: r.Handle, Name: r.Name, UserID: userID, CreatedAt: r.CreatedAt.Time}
	if r.LastUsedAt.Valid {
		c.LastUsed = r.LastUsedAt.Time
	}
	return c
}

// foundRow is a credential as the lookups by hash return it.
type foundRow struct {
	Handle      string
	Name        string
	UserID      int64
	CreatedAt   pgtype.Timestamptz
	LastUsedAt  pgtype.Timestamptz
	OwnerHandle string
}

func noun(k Kind) string {
	if k == Embed {
		return "embed link"
	}
	return "API token"
}
