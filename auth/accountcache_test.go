package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/internal/testenv"
)

// setDisabledBehindTheBack changes a user's row the way no part of the app does: without
// announcing it, as an operator's SQL would.
func setDisabledBehindTheBack(t *testing.T, a *Accounts, handle string, disabled bool) {
	t.Helper()
	ctx := context.Background()
	err := db.WithSystem(ctx, a.pool, func(q *db.Queries) error {
		_, err := q.SetUserDisabled(ctx, db.SetUserDisabledParams{Handle: handle, Disabled: disabled})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// longLived makes a's copies outlive the test, so only announcements can drop them.
func longLived(a *Accounts) *Accounts {
	a.cache.ttl = time.Hour
	return a
}

// TestCurrentServesACopyUntilTheTTL: Current keeps the row (without the password hash) and
// serves it again; a change nobody announced shows once the copy is AccountTTL old.
func TestCurrentServesACopyUntilTheTTL(t *testing.T) {
	pool, _ := testenv.MustPool(t)
	ctx := context.Background()
	b := bus.NewLocal()
	accounts := NewAccounts(pool, NewSessions(SessionConfig{Bus: b}))
	now := time.Now()
	accounts.cache.now = func() time.Time { return now }
	u, err := accounts.Create(ctx, NewAccount{Email: "copy@example.com", Username: "copycat", Password: "a-long-password"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := accounts.Current(ctx, u.ID)
	if err != nil || got.Handle != u.Handle || got.Disabled || got.PasswordHash != "" {
		t.Fatalf("Current = %+v, %v (want the row without its password hash)", got, err)
	}
	setDisabledBehindTheBack(t, accounts, u.Handle, true)
	if got, _ := accounts.Current(ctx, u.ID); got.Disabled {
		t.Fatal("Current read the database again within the TTL: the copy is not used")
	}
	now = now.Add(AccountTTL)
	if got, _ := accounts.Current(ctx, u.ID); !got.Disabled {
		t.Fatalf("Current still serves the copy %s after it was read", AccountTTL)
	}
	// A disabled row is never kept: enabling it behind the back shows at once.
	setDisabledBehindTheBack(t, accounts, u.Handle, false)
	if got, _ := accounts.Current(ctx, u.ID); got.Disabled {
		t.Fatal("Current kept a disabled row")
	}
	if _, err := accounts.Current(ctx, 1<<40); err == nil {
		t.Fatal("Current of a missing user: no error")
	}
}

// TestAccountChangesDropEveryCopy: two instances keep copies of the same rows; disabling
// a user on one (bus.UserEnded), enabling one (bus.AccountChanged) and a resync each drop
// the copies on both, at once on the instance that made the change. Over the in-process
// bus, and over Redis between two buses as between two processes.
func TestAccountChangesDropEveryCopy(t *testing.T) {
	pool, _ := testenv.MustPool(t)
	rdb, prefix := testenv.MustRedis(t)
	ctx := context.Background()
	startRedisBus := func(t *testing.T, instance string) bus.Bus {
		b := bus.NewRedis(bus.RedisConfig{Client: rdb, Channel: prefix + "bus", Instance: instance, Logger: testenv.Logger()})
		bctx, cancel := context.WithCancel(ctx)
		if err := b.Start(bctx); err != nil {
			cancel()
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); b.Wait() })
		return b
	}
	for name, buses := range map[string]func(t *testing.T) (bus.Bus, bus.Bus){
		"local": func(*testing.T) (bus.Bus, bus.Bus) { b := bus.NewLocal(); return b, b },
		"redis": func(t *testing.T) (bus.Bus, bus.Bus) { return startRedisBus(t, "one"), startRedisBus(t, "two") },
	} {
		t.Run(name, func(t *testing.T) {
			b1, b2 := buses(t)
			// Sessions in Redis, shared, as the instances of one deployment share them.
			one := longLived(NewAccounts(pool, NewSessions(SessionConfig{Bus: b1, Redis: rdb, KeyPrefix: prefix})))
			two := longLived(NewAccounts(pool, NewSessions(SessionConfig{Bus: b2, Redis: rdb, KeyPrefix: prefix})))
			u, err := one.Create(ctx, NewAccount{Email: name + "-both@example.com", Username: "twice", Password: "a-long-password"})
			if err != nil {
				t.Fatal(err)
			}
			other, err := one.Create(ctx, NewAccount{Email: name + "-other@example.com", Username: "other", Password: "a-long-password"})
			if err != nil {
				t.Fatal(err)
			}
			// warm makes both instances keep both rows (a read that an announcement still
			// on its way overtakes is not kept, so it reads again).
			warm := func() {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for _, a := range []*Accounts{one, two} {
					for _, id := range []int64{u.ID, other.ID} {
						for {
							if _, kept, _ := a.cache.get(id); kept {
								break
							}
							if got, err := a.Current(ctx, id); err != nil || got.Disabled {
								t.Fatalf("Current(%d) = %+v, %v", id, got, err)
							}
							if time.Now().After(deadline) {
								t.Fatalf("user %d's row is never kept", id)
							}
						}
					}
				}
			}
			// waitDisabled waits for a's copy of id to show disabled (the other instance
			// hears of a change a moment later); with copies kept an hour, only the
			// announcement can make it so.
			waitDisabled := func(a *Accounts, id int64, what string) {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for {
					got, err := a.Current(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					if got.Disabled {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: the copy was never dropped", what)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}

			// Disable on one: its own copy is gone before Disable returns.
			warm()
			if _, err := one.Disable(ctx, u.Handle); err != nil {
				t.Fatal(err)
			}
			if got, _ := one.Current(ctx, u.ID); !got.Disabled {
				t.Fatal("the disabling instance still serves the enabled row")
			}
			waitDisabled(two, u.ID, "disable on the other instance")
			if _, err := one.Enable(ctx, u.Handle); err != nil {
				t.Fatal(err)
			}

			// Enable announces too: a copy of the enabled row, disabled behind the back and
			// then enabled again through the service, is read afresh...
			warm()
			setDisabledBehindTheBack(t, one, other.Handle, true)
			if got, _ := two.Current(ctx, other.ID); got.Disabled {
				t.Fatal("the copy was not kept") // the precondition of what follows
			}
			if _, err := one.Enable(ctx, u.Handle); err != nil { // announces u, not other
				t.Fatal(err)
			}
			if got, _ := two.Current(ctx, other.ID); got.Disabled {
				t.Fatal("announcing one user dropped another's copy")
			}
			// ...so announcing other shows its row as it now is, on both instances.
			one.announce(ctx, other.ID)
			if got, _ := one.Current(ctx, other.ID); !got.Disabled {
				t.Fatal("AccountChanged did not drop the announcing instance's copy")
			}
			waitDisabled(two, other.ID, "AccountChanged on the other instance")

			// A resync drops every copy: the instance may have missed announcements.
			setDisabledBehindTheBack(t, one, other.Handle, false)
			warm()
			setDisabledBehindTheBack(t, one, other.Handle, true)
			two.cache.apply(bus.Resync{})
			if got, _ := two.Current(ctx, other.ID); !got.Disabled {
				t.Fatal("Resync kept a copy")
			}
		})
	}
}

// TestCurrentKeepsNoReadThatRacedAChange: a row read before a change was announced is not
// kept, even when the read finishes after the announcement.
func TestCurrentKeepsNoReadThatRacedAChange(t *testing.T) {
	c := newAccountCache(bus.NewLocal(), time.Hour)
	_, ok, gen := c.get(7)
	if ok {
		t.Fatal("an empty cache served a row")
	}
	c.apply(bus.AccountChanged{UserID: 8}) // any announcement: the read cannot tell whose
	c.put(db.User{ID: 7, Handle: "stale"}, gen)
	if _, ok, _ := c.get(7); ok {
		t.Fatal("a read that raced an announcement was kept")
	}
	_, _, gen = c.get(7)
	c.put(db.User{ID: 7, Handle: "fresh", PasswordHash: "secret"}, gen)
	got, ok, _ := c.get(7)
	if !ok || got.Handle != "fresh" || got.PasswordHash != "" {
		t.Fatalf("get = %+v, %v (want the fresh row without its hash)", got, ok)
	}
}

// TestPasswordChecksReadTheStoredHash: the row a request carries has no password hash, and
// a password changed elsewhere is checked against the new one, never a copy.
func TestPasswordChecksReadTheStoredHash(t *testing.T) {
	pool, _ := testenv.MustPool(t)
	ctx := context.Background()
	b := bus.NewLocal()
	sessions := NewSessions(SessionConfig{Bus: b})
	accounts := longLived(NewAccounts(pool, sessions))
	counter := NewMemoryCounter()
	u, err := accounts.Create(ctx, NewAccount{Email: "hash@example.com", Username: "hasher", Password: "first-password"})
	if err != nil {
		t.Fatal(err)
	}
	cur, err := accounts.Current(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := accounts.ChangePassword(ctx, counter, cur, nil, "first-password", "second-password"); err != nil {
		t.Fatalf("change password from the request's row: %v", err)
	}
	// The same (cached) row again: the old password no longer confirms anything.
	err = accounts.Delete(ctx, counter, cur, "first-password")
	if !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("the old password confirmed a delete: %v", err)
	}
	if err := accounts.Delete(ctx, counter, cur, "second-password"); err != nil {
		t.Fatalf("delete with the new password: %v", err)
	}
}
