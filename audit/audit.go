// Package audit keeps the trail of admin actions: who did what to whom, when, and the state
// before and after, as JSON. An action writes its entry in its own transaction (Write), so
// a change and its entry are stored together or not at all. Entries are admin-only data:
// row-level security shows them only to system transactions (see 00003_admin.sql).
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/db"
)

// Actions, as stored.
const (
	ActionUserUniverses  = "user.universes"
	ActionUserFilters    = "user.filters"
	ActionUserDisable    = "user.disable"
	ActionUserEnable     = "user.enable"
	ActionUserResetLink  = "user.reset_link"
	ActionUniverseCreate = "universe.create"
	ActionUniverseEdit   = "universe.edit"
)

// Target kinds.
const (
	TargetUser     = "user"
	TargetUniverse = "universe"
)

// Actions lists every action in the order the audit page offers them as a filter.
func Actions() []string {
	return []string{ActionUserUniverses, ActionUserFilters, ActionUserDisable, ActionUserEnable,
		ActionUserResetLink, ActionUniverseCreate, ActionUniverseEdit}
}

// ActionLabel names an action for people.
func ActionLabel(action string) string {
	switch action {
	case ActionUserUniverses:
		return "Changed universes"
	case ActionUserFilters:
		return "Changed filters"
	case ActionUserDisable:
		return "Disabled account"
	case ActionUserEnable:
		return "Enabled account"
	case ActionUserResetLink:
		return "Made a password-reset link"
	case ActionUniverseCreate:
		return "Created universe"
	case ActionUniverseEdit:
		return "Edited universe"
	}
	return action
}

// Actor is the admin who acts.
type Actor struct {
	ID   int64
	Name string // username, kept with the entry
}

// Entry is one admin action to store.
type Entry struct {
	Actor        Actor
	Action       string
	TargetKind   string // TargetUser or TargetUniverse
	TargetUserID int64  // for TargetUser
	TargetName   string // the user's username or the universe's name, kept with the entry
	// Before and After are encoded as JSON; nil is stored as SQL NULL (nothing before a
	// creation). They never hold secrets: a reset link's entry records that one was made,
	// not the link.
	Before, After any
}

// Write stores e inside the caller's transaction, which must be a system one
// (db.WithSystem): the action and its entry commit together.
func Write(ctx context.Context, q *db.Queries, e Entry) error {
	if e.Actor.ID <= 0 || e.Action == "" || e.TargetName == "" {
		return fmt.Errorf("audit: write: incomplete entry (action %q)", e.Action)
	}
	p := db.InsertAdminAuditParams{
		ActorID: &e.Actor.ID, ActorName: e.Actor.Name, Action: e.Action,
		TargetKind: e.TargetKind, TargetName: e.TargetName,
	}
	if e.TargetUserID > 0 {
		p.TargetUserID = &e.TargetUserID
	}
	var err error
	if p.Before, err = encode(e.Before); err != nil {
		return err
	}
	if p.After, err = encode(e.After); err != nil {
		return err
	}
	if err := q.InsertAdminAudit(ctx, p); err != nil {
		return fmt.Errorf("audit: write %s: %w", e.Action, err)
	}
	return nil
}

func encode(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("audit: encode: %w", err)
	}
	return b, nil
}

// Log reads and, for actions whose change runs elsewhere, writes the trail.
type Log struct {
	pool *pgxpool.Pool
}

// New returns the log over the app's pool.
func New(pool *pgxpool.Pool) *Log { return &Log{pool: pool} }

// Record stores e in a transaction of its own, for actions whose change is made by code
// that owns its transaction (a reset link). Callers reveal the result of such an action
// only after Record succeeded, so nothing unaudited reaches anyone.
func (l *Log) Record(ctx context.Context, e Entry) error {
	return db.WithSystem(ctx, l.pool, func(q *db.Queries) error { return Write(ctx, q, e) })
}

// Filter selects entries for the audit page. Empty fields do not filter.
type Filter struct {
	ActorHandle  string
	TargetHandle string
	Universe     string
	Action       string
	Page         int // from 1
	PerPage      int
}

// Row is one stored entry as the pages show it. Handles are empty when the user no
// longer exists.
type Row struct {
	Action       string
	ActorName    string
	ActorHandle  string
	TargetKind   string
	TargetName   string
	TargetHandle string
	Before       json.RawMessage
	After        json.RawMessage
	At           time.Time
}

// List returns one page of entries, newest first, and how many match in all.
func (l *Log) List(ctx context.Context, f Filter) ([]Row, int64, error) {
	f.PerPage = min(max(f.PerPage, 1), 200)
	f.Page = max(f.Page, 1)
	if f.Action != "" && ActionLabel(f.Action) == f.Action {
		return nil, 0, tickstock.FieldError("action", "Unknown action.")
	}
	p := db.ListAdminAuditParams{
		ActorHandle: opt(f.ActorHandle), TargetHandle: opt(f.TargetHandle), Universe: opt(f.Universe),
		Action: opt(f.Action), MaxRows: int32(f.PerPage), Skip: int32(min((f.Page-1)*f.PerPage, 1<<30)),
	}
	var rows []db.ListAdminAuditRow
	var total int64
	err := db.ReadSystem(ctx, l.pool, func(q *db.Queries) error {
		var err error
		if rows, err = q.ListAdminAudit(ctx, p); err != nil {
			return err
		}
		total, err = q.CountAdminAudit(ctx, db.CountAdminAuditParams{
			ActorHandle: p.ActorHandle, TargetHandle: p.TargetHandle, Universe: p.Universe, Action: p.Action,
		})
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("audit: list: %w", err)
	}
	out := make([]Row, len(rows))
	for i, r := range rows {
		out[i] = Row{
			Action: r.Action, ActorName: r.ActorName, ActorHandle: deref(r.ActorHandle),
			TargetKind: r.TargetKind, TargetName: r.TargetName, TargetHandle: deref(r.TargetHandle),
			Before: r.Before, After: r.After, At: r.CreatedAt.Time,
		}
	}
	return out, total, nil
}

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
