package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tickstock/tickstock"
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

// Accounts creates and looks up users. It is the only place that writes the users table.
type Accounts struct {
	pool *pgxpool.Pool
}

// NewAccounts builds the account service over the app's pool.
func NewAccounts(pool *pgxpool.Pool) *Accounts { return &Accounts{pool: pool} }

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
	hash, err := HashPassword(n.Password)
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
