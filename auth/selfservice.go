package auth

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/db"
)

// ErrWrongPassword is behind the field error a wrong current password gets (errors.Is),
// so the caller can record the failure.
var ErrWrongPassword = errors.New("wrong current password")

// validPassword checks a new password's length (SPEC section 2: 8 to 128 characters).
func validPassword(password, field string) error {
	if c := utf8.RuneCountInString(password); c < 8 || c > 128 {
		return tickstock.FieldError(field, "Password must be 8 to 128 characters.")
	}
	return nil
}

// confirm checks the password a signed-in user gives for something sensitive (a new
// password, deleting the account) against the stored hash, read afresh (the rows Current
// serves carry none). A wrong one counts toward the same lockout as failed
// logins for the user's email, so a stolen session cannot be used to guess the password;
// while the email is locked, even the right password gets *ErrLocked.
func (a *Accounts) confirm(ctx context.Context, counter Counter, u db.User, password, field string) error {
	key := lockKey(u.Email)
	n, reset, err := counter.Peek(ctx, key)
	if err != nil {
		return err
	}
	if n >= MaxFailures {
		return &ErrLocked{RetryAfter: time.Until(reset)}
	}
	if password == "" {
		return tickstock.FieldError(field, "Enter your current password.")
	}
	stored, err := a.ByID(ctx, u.ID)
	if err != nil {
		return err
	}
	ok, err := VerifyPassword(ctx, password, stored.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		if _, _, err := counter.Hit(ctx, key, LockoutWindow, true); err != nil {
			return err
		}
		return &tickstock.Error{Code: tickstock.EINVALID, Field: field, Message: "That is not your current password.", Err: ErrWrongPassword}
	}
	return counter.Reset(ctx, key)
}

// ChangePassword sets a signed-in user's new password after checking the current one (a
// wrong one counts toward the lockout: see confirm). Then every other session of the user
// ends, with its streams on every instance, while keep (the session that asked) stays
// signed in, and any reset link still open is spent.
func (a *Accounts) ChangePassword(ctx context.Context, counter Counter, u db.User, keep *State, current, next string) error {
	if err := validPassword(next, "new_password"); err != nil {
		return err
	}
	if err := a.confirm(ctx, counter, u, current, "current_password"); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if next == current {
		return tickstock.FieldError("new_password", "Choose a password different from your current one.")
	}
	hash, err := HashPassword(ctx, next)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	err = db.WithUser(ctx, a.pool, u.ID, func(q *db.Queries) error {
		if err := q.SetUserPassword(ctx, db.SetUserPasswordParams{ID: u.ID, PasswordHash: hash}); err != nil {
			return err
		}
		return q.RetireUserResets(ctx, db.RetireUserResetsParams{UserID: u.ID, Now: timestamptz(time.Now())})
	})
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	keepID := ""
	if keep != nil {
		keepID = keep.ID
	}
	if _, err := a.sessions.EndOthers(ctx, u.ID, keepID, bus.ReasonRevoked); err != nil {
		return fmt.Errorf("change password: end other sessions: %w", err)
	}
	return nil
}

// Delete removes a user's account after checking their password (a wrong one counts
// toward the lockout: see confirm). Every row of theirs goes with the users row (ON DELETE
// CASCADE on every table that references it), and every session, stream, embed and API
// token of theirs ends on every instance (bus.UserEnded).
func (a *Accounts) Delete(ctx context.Context, counter Counter, u db.User, password string) error {
	if err := a.confirm(ctx, counter, u, password, "password"); err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	err := db.WithUser(ctx, a.pool, u.ID, func(q *db.Queries) error {
		n, err := q.DeleteUser(ctx, u.ID)
		if err == nil && n == 0 {
			return tickstock.Errorf(tickstock.ENOTFOUND, "This account no longer exists.")
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	if _, err := a.sessions.EndUser(ctx, u.ID, bus.ReasonDisabled); err != nil {
		return fmt.Errorf("delete account: end sessions: %w", err)
	}
	return nil
}
