package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/db"
)

// Lockout policy: this many failures in a row for one email lock it for LockoutWindow.
const (
	MaxFailures   = 5
	LockoutWindow = 15 * time.Minute
)

// MsgInvalidLogin is the one answer to every failed login, whether or not the email exists.
const MsgInvalidLogin = "Invalid email or password."

// ErrLocked is returned while an email is locked out; RetryAfter says for how long.
type ErrLocked struct{ RetryAfter time.Duration }

func (e *ErrLocked) Error() string {
	return fmt.Sprintf("too many failed logins; try again in %s", e.RetryAfter.Round(time.Second))
}

// lockKey is the lockout counter of an email: failed logins, and wrong passwords given to
// change the password or delete the account, all count here.
func lockKey(email string) string { return "lock:" + EmailHash(email) }

// EmailHash identifies an email in logs and counters without revealing it.
func EmailHash(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(sum[:8])
}

// Authenticate checks an email and password. Every failure is the same EUNAUTHORIZED error
// and costs one argon2id verification, so neither the answer nor its timing tells whether
// the email exists. A locked email gets *ErrLocked even with the right password.
func (a *Accounts) Authenticate(ctx context.Context, counter Counter, email, password string) (db.User, error) {
	lockKey := lockKey(email)
	n, reset, err := counter.Peek(ctx, lockKey)
	if err != nil {
		return db.User{}, fmt.Errorf("authenticate: %w", err)
	}
	if n >= MaxFailures {
		return db.User{}, &ErrLocked{RetryAfter: time.Until(reset)}
	}

	var u db.User
	err = db.ReadSystem(ctx, a.pool, func(q *db.Queries) error {
		var err error
		u, err = q.GetUserByEmail(ctx, strings.TrimSpace(email))
		return err
	})
	ok := false
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if err := VerifyDummy(ctx, password); err != nil {
			return db.User{}, fmt.Errorf("authenticate: %w", err)
		}
	case err != nil:
		return db.User{}, fmt.Errorf("authenticate: look up user: %w", err)
	default:
		ok, err = VerifyPassword(ctx, password, u.PasswordHash)
		if err != nil {
			return db.User{}, fmt.Errorf("authenticate: %w", err)
		}
		ok = ok && !u.Disabled
	}
	if !ok {
		// The failure that reaches MaxFailures still gets the generic answer; the lock
		// applies from the next attempt.
		if _, _, err := counter.Hit(ctx, lockKey, LockoutWindow, true); err != nil {
			return db.User{}, fmt.Errorf("authenticate: %w", err)
		}
		return db.User{}, tickstock.Errorf(tickstock.EUNAUTHORIZED, MsgInvalidLogin)
	}
	if err := counter.Reset(ctx, lockKey); err != nil {
		return db.User{}, fmt.Errorf("authenticate: %w", err)
	}
	return u, nil
}
