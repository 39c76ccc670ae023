package auth

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/db"
)

// The user list's filters, as the admin page names them.
const (
	StatusActive   = "active"
	StatusDisabled = "disabled"
	// MaxSearchLen bounds the search text, in characters.
	MaxSearchLen = 100
)

// UserQuery asks for one page of the admin's user list. Empty fields do not filter.
type UserQuery struct {
	Search  string // part of the email or username, any case; wildcards are literal
	Role    string // RoleUser, RoleAdmin or ""
	Status  string // StatusActive, StatusDisabled or ""
	Page    int    // from 1
	PerPage int
}

// UserPage is one page of the user list and how many users match in all.
type UserPage struct {
	Users []db.SearchUsersRow
	Total int64
}

// Validate normalises q and refuses what the list cannot mean (a 422 naming the field).
func (q *UserQuery) Validate() error {
	q.Search = strings.TrimSpace(q.Search)
	if utf8.RuneCountInString(q.Search) > MaxSearchLen {
		return tickstock.FieldError("q", "Search for at most %d characters.", MaxSearchLen)
	}
	if q.Role != "" && q.Role != RoleUser && q.Role != RoleAdmin {
		return tickstock.FieldError("role", "Role must be user or admin.")
	}
	if q.Status != "" && q.Status != StatusActive && q.Status != StatusDisabled {
		return tickstock.FieldError("status", "Status must be active or disabled.")
	}
	q.PerPage = min(max(q.PerPage, 1), 200)
	q.Page = max(q.Page, 1)
	return nil
}

// EscapeLike makes s match itself literally inside a LIKE pattern with ESCAPE '\': a
// search for "50%" or "a_b" finds those characters, not every row.
func EscapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Search lists users for the admin page: one page, ordered by username without case, then
// handle, so paging is stable. It acts for no single user, so it runs as the system.
func (a *Accounts) Search(ctx context.Context, uq UserQuery) (UserPage, error) {
	if err := uq.Validate(); err != nil {
		return UserPage{}, err
	}
	var p db.SearchUsersParams
	if uq.Search != "" {
		pattern := "%" + EscapeLike(uq.Search) + "%"
		p.Pattern = &pattern
	}
	if uq.Role != "" {
		p.Role = &uq.Role
	}
	if uq.Status != "" {
		disabled := uq.Status == StatusDisabled
		p.Disabled = &disabled
	}
	p.MaxRows = int32(uq.PerPage)
	p.Skip = int32(min((uq.Page-1)*uq.PerPage, 1<<30))
	var out UserPage
	err := db.ReadSystem(ctx, a.pool, func(q *db.Queries) error {
		var err error
		if out.Users, err = q.SearchUsers(ctx, p); err != nil {
			return err
		}
		out.Total, err = q.CountUsers(ctx, db.CountUsersParams{Pattern: p.Pattern, Role: p.Role, Disabled: p.Disabled})
		return err
	})
	if err != nil {
		return UserPage{}, fmt.Errorf("search users: %w", err)
	}
	return out, nil
}

// Admins lists every admin (handle and username), for the audit page's filter.
func (a *Accounts) Admins(ctx context.Context) ([]db.ListAdminsRow, error) {
	var rows []db.ListAdminsRow
	err := db.ReadSystem(ctx, a.pool, func(q *db.Queries) error {
		var err error
		rows, err = q.ListAdmins(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list admins: %w", err)
	}
	return rows, nil
}
