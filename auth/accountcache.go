package auth

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/db"
)

// AccountTTL is how long an instance serves a user's account row from memory (Current)
// before it reads the database again. Every change to an account is announced on the bus
// (bus.AccountChanged, or bus.UserEnded when the user is disabled or deleted) and drops the
// copy at once on every instance; the TTL only bounds how long a copy can outlive a change
// whose announcement was lost.
const AccountTTL = time.Second

// accountCache holds the account rows of users who are making requests on this instance,
// without their password hash, so the middleware does not read PostgreSQL on every
// request. Only enabled accounts are kept: a disabled or missing one is read afresh each
// time, and refused.
type accountCache struct {
	ttl time.Duration
	now func() time.Time

	mu        sync.RWMutex
	gen       uint64 // bumped by every drop, so a read that raced one is not kept
	users     map[int64]cachedAccount
	nextSweep time.Time
}

type cachedAccount struct {
	user    db.User
	expires time.Time
}

func newAccountCache(b bus.Bus, ttl time.Duration) *accountCache {
	c := &accountCache{ttl: ttl, now: time.Now, users: make(map[int64]cachedAccount)}
	b.Subscribe(c.apply)
	return c
}

// apply is the cache's bus handler.
func (c *accountCache) apply(m bus.Message) {
	switch m := m.(type) {
	case bus.AccountChanged:
		c.drop(m.UserID)
	case bus.UserEnded:
		c.drop(m.UserID)
	case bus.Resync: // this instance may have missed invalidations: trust nothing cached
		c.drop(0)
	}
}

// drop forgets a user's row (every row when userID is 0).
func (c *accountCache) drop(userID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if userID == 0 {
		clear(c.users)
		return
	}
	delete(c.users, userID)
}

// get returns the cached row of userID if it is younger than the TTL, and the generation
// to pass to put after a read from the database.
func (c *accountCache) get(userID int64) (db.User, bool, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.users[userID]
	if ok && c.now().Before(e.expires) {
		return e.user, true, c.gen
	}
	return db.User{}, false, c.gen
}

// put keeps u, read from the database when the cache was at generation gen, unless a
// drop came meanwhile (the read may predate the change it announced) or u is disabled.
func (c *accountCache) put(u db.User, gen uint64) {
	if u.Disabled {
		return
	}
	u.PasswordHash = "" // never served from memory: confirm reads it afresh
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	now := c.now()
	if now.After(c.nextSweep) { // drop expired rows of users who went away
		for id, e := range c.users {
			if !now.Before(e.expires) {
				delete(c.users, id)
			}
		}
		c.nextSweep = now.Add(time.Minute)
	}
	c.users[u.ID] = cachedAccount{user: u, expires: now.Add(c.ttl)}
}

// Current reads a user for a request that carries their session or API token: from this
// instance's copy when it is younger than AccountTTL, else from the database (as ByID).
// The row has no PasswordHash: whatever checks a password reads the row afresh. Without a
// bus to hear of changes (NewAccounts with nil sessions) every call reads the database.
func (a *Accounts) Current(ctx context.Context, userID int64) (db.User, error) {
	if a.cache == nil {
		u, err := a.ByID(ctx, userID)
		u.PasswordHash = ""
		return u, err
	}
	u, ok, gen := a.cache.get(userID)
	if ok {
		return u, nil
	}
	u, err := a.ByID(ctx, userID)
	if err != nil {
		return db.User{}, err
	}
	a.cache.put(u, gen)
	u.PasswordHash = ""
	return u, nil
}

// announce tells every instance that a user's account row changed. The change is stored
// already, so a failed publish is only logged: other instances' copies then expire within
// AccountTTL.
func (a *Accounts) announce(ctx context.Context, userID int64) {
	if a.sessions == nil {
		return
	}
	if err := a.sessions.bus.Publish(ctx, bus.AccountChanged{UserID: userID}); err != nil {
		a.logger.Warn("announce account change", "user_id", userID, "err", fmt.Errorf("publish: %w", err))
	}
}
