package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/db"
)

// Roles an account can have.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// NewAccount is what sign-up and `tickstock user add` provide.
type NewAccount struct {
	Email    string
	Username string
	Password string
	Role     string
}

// Accounts creates, looks up, disables and enables users. It is the only place that writes
// the users table, and it announces every change a request's copy of a row could miss
// (bus.AccountChanged, bus.UserEnded; see Current). A new kind of change to a row (its
// role, email or name) must announce bus.AccountChanged as Enable does.
type Accounts struct {
	pool     *pgxpool.Pool
	sessions *Sessions
	cache    *accountCache // nil without sessions: no bus to hear of changes
	logger   *slog.Logger
}

// NewAccounts builds the account service over the app's pool. sessions ends a disabled
// user's sessions, and its bus carries account changes to every instance's copy of the
// rows Current serves; tools that never disable anyone (tickstock user add) may pass nil.
func NewAccounts(pool *pgxpool.Pool, sessions *Sessions) *Accounts {
	a := &Accounts{pool: pool, sessions: sessions, logger: slog.Default()}
	if sessions != nil {
		a.cache = newAccountCache(sessions.bus, AccountTTL)
	}
	return a
}

// RandomToken returns n random bytes from crypto/rand, base64url-encoded. Handles, session
// ids and CSRF tokens use at least 16 bytes (128 bits).
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Errorf("crypto/rand failed: %w", err)) // the OS has no randomness: nothing is safe
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Validate normalises and checks a new account, returning a field error for the first
// problem so the form can show it next to the field.
func (n *NewAccount) Validate() error {
	n.Email = strings.TrimSpace(n.Email)
	n.Username = strings.TrimSpace(n.Username)
	if n.Role == "" {
		n.Role = RoleUser
	}
	if err := ValidEmail(n.Email); err != nil {
		return err
	}
	if c := utf8.RuneCountInString(n.Username); c < 3 || c > 50 {
		return tickstock.FieldError("username", "Username must be 3 to 50 characters.")
	}
	for _, r := range n.Username {
		if r < 0x20 || r == 0x7f {
			return tickstock.FieldError("username", "Username must not contain control characters.")
		}
	}
	if c := utf8.RuneCountInString(n.Password); c < 8 || c > 128 {
		return tickstock.FieldError("password", "Password must be 8 to 128 characters.")
	}
	if n.Role != RoleUser && n.Role != RoleAdmin {
		return tickstock.FieldError("role", "Role must be user or admin.")
	}
	return nil
}

// ValidEmail accepts a plain address (no display name), at most 254 characters.
func ValidEmail(email string) error {
	if email == "" || len(email) > 254 {
		return tickstock.FieldError("email", "Enter a valid email address.")
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || !strings.Contains(email[strings.LastIndex(email, "@")+1:], ".") {
		return tickstock.FieldError("email", "Enter a valid email address.")
	}
	return nil
}

// Create validates and stores a new account. A taken email is a field error (422).
func (a *Accounts) Create(ctx context.Context, n NewAccount) (db.User, error) {
	if err := n.Validate(); err != nil {
		return db.User{}, err
	}
	hash, err := HashPassword(ctx, n.Password)
	if err != nil {
		return db.User{}, err
	}
	var u db.User
	err = db.WithSystem(ctx, a.pool, func(q *db.Queries) error {
		var err error
		u, err = q.CreateUser(ctx, db.CreateUserParams{
			Handle: RandomToken(16), Email: n.Email, Username: n.Username, PasswordHash: hash, Role: n.Role,
		})
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return db.User{}, tickstock.FieldError("email", "An account with this email already exists.")
	}
	if err != nil {
		return db.User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// ByID reads a user from the database (requests read through Current instead). A user who
// no longer exists is tickstock.ENOTFOUND; an unavailable database tickstock.EUNAVAILABLE.
func (a *Accounts) ByID(ctx context.Context, userID int64) (db.User, error) {
	var u db.User
	err := db.ReadUser(ctx, a.pool, userID, func(q *db.Queries) error {
		var err error
		u, err = q.GetUserByID(ctx, userID)
		return err
	})
	if err != nil {
		return db.User{}, fmt.Errorf("look up user: %w", err)
	}
	return u, nil
}

// Hook runs inside an account change's transaction, after the change, with the row before
// and after it; an error rolls the change back. Admin actions write their audit entry here,
// so a change and its entry are stored together or not at all.
type Hook func(ctx context.Context, q *db.Queries, before, after db.User) error

// Disable stops a user from signing in and ends every session and stream of theirs (on
// every instance, through the bus) before it returns. An unknown handle is ENOTFOUND. hooks
// run in the change's transaction (see Hook).
func (a *Accounts) Disable(ctx context.Context, handle string, hooks ...Hook) (db.User, error) {
	u, err := a.setDisabled(ctx, handle, true, hooks)
	if err != nil {
		return db.User{}, err
	}
	if _, err := a.sessions.EndUser(ctx, u.ID, bus.ReasonDisabled); err != nil {
		return db.User{}, fmt.Errorf("disable user: %w", err)
	}
	return u, nil
}

// Enable lets a disabled user sign in again. An unknown handle is ENOTFOUND. hooks run in
// the change's transaction (see Hook). The change is announced (bus.AccountChanged), as
// every change to an account row must be, so no instance serves the row from before it.
func (a *Accounts) Enable(ctx context.Context, handle string, hooks ...Hook) (db.User, error) {
	u, err := a.setDisabled(ctx, handle, false, hooks)
	if err != nil {
		return db.User{}, err
	}
	a.announce(ctx, u.ID)
	return u, nil
}

func (a *Accounts) setDisabled(ctx context.Context, handle string, disabled bool, hooks []Hook) (db.User, error) {
	var u db.User
	err := db.WithSystem(ctx, a.pool, func(q *db.Queries) error {
		before, err := q.GetUserByHandleForUpdate(ctx, handle)
		if err != nil {
			return err
		}
		if u, err = q.SetUserDisabled(ctx, db.SetUserDisabledParams{Handle: handle, Disabled: disabled}); err != nil {
			return err
		}
		for _, h := range hooks {
			if err := h(ctx, q, before, u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return db.User{}, fmt.Errorf("set user disabled=%v: %w", disabled, err)
	}
	return u, nil
}

// ByHandle reads a user by their opaque handle, for the admin pages, which act for no
// single user. An unknown handle is tickstock.ENOTFOUND.
func (a *Accounts) ByHandle(ctx context.Context, handle string) (db.User, error) {
	var u db.User
	err := db.ReadSystem(ctx, a.pool, func(q *db.Queries) error {
		var err error
		u, err = q.GetUserByHandle(ctx, handle)
		return err
	})
	if err != nil {
		return db.User{}, fmt.Errorf("look up user by handle: %w", err)
	}
	return u, nil
}

// RecordLogin notes that a user just signed in (users.last_login_at), for the admin's user
// list. It writes the user's own row under their row-level security context.
func (a *Accounts) RecordLogin(ctx context.Context, userID int64) error {
	err := db.WithUser(ctx, a.pool, userID, func(q *db.Queries) error { return q.RecordLogin(ctx, userID) })
	if err != nil {
		return fmt.Errorf("record login: %w", err)
	}
	return nil
}
