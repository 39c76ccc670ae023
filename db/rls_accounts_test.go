package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/internal/testenv"
)

// TestEveryUserTableHasForcedRLS: every table that references users (found in pg_catalog,
// so a new one cannot slip by) has row-level security enabled and forced.
func TestEveryUserTableHasForcedRLS(t *testing.T) {
	pool, _ := testenv.MustPool(t)
	rows, err := pool.Query(context.Background(), `
		SELECT DISTINCT r.relname, r.relrowsecurity, r.relforcerowsecurity
		FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
		WHERE c.contype = 'f' AND c.confrelid = 'users'::regclass`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name string
		var enabled, forced bool
		if err := rows.Scan(&name, &enabled, &forced); err != nil {
			t.Fatal(err)
		}
		n++
		if !enabled || !forced {
			t.Errorf("%s: row-level security enabled=%v forced=%v, want both", name, enabled, forced)
		}
	}
	if n < 5 {
		t.Fatalf("only %d tables reference users", n)
	}
}

// TestPasswordResetsIsolation: as one user, another user's reset links cannot be read or
// spent, even by their token hash.
func TestPasswordResetsIsolation(t *testing.T) {
	pool, _ := testenv.MustPool(t)
	ctx := context.Background()
	var a, b db.User
	err := db.WithSystem(ctx, pool, func(q *db.Queries) error {
		var err error
		if a, err = q.CreateUser(ctx, db.CreateUserParams{Handle: "ra", Email: "ra@example.com", Username: "resetter", PasswordHash: "x", Role: "user"}); err != nil {
			return err
		}
		b, err = q.CreateUser(ctx, db.CreateUserParams{Handle: "rb", Email: "rb@example.com", Username: "victim", PasswordHash: "x", Role: "user"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	hash := make([]byte, 32)
	hash[0] = 7
	err = db.WithUser(ctx, pool, b.ID, func(q *db.Queries) error {
		return q.CreatePasswordReset(ctx, db.CreatePasswordResetParams{UserID: b.ID, TokenHash: hash,
			CreatedAt: pgtype.Timestamptz{Time: now, Valid: true}, ExpiresAt: pgtype.Timestamptz{Time: now.Add(time.Hour), Valid: true}})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.WithUser(ctx, pool, a.ID, func(q *db.Queries) error {
		if _, err := q.GetPasswordReset(ctx, hash); err == nil {
			t.Error("as A, read B's reset link")
		}
		if _, err := q.UsePasswordReset(ctx, db.UsePasswordResetParams{TokenHash: hash, Now: pgtype.Timestamptz{Time: now, Valid: true}}); err == nil {
			t.Error("as A, spent B's reset link")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Nor can A make a link for B.
	err = db.WithUser(ctx, pool, a.ID, func(q *db.Queries) error {
		return q.CreatePasswordReset(ctx, db.CreatePasswordResetParams{UserID: b.ID, TokenHash: make([]byte, 32),
			CreatedAt: pgtype.Timestamptz{Time: now, Valid: true}, ExpiresAt: pgtype.Timestamptz{Time: now.Add(time.Hour), Valid: true}})
	})
	if err == nil {
		t.Error("as A, made a reset link for B")
	}
	err = db.WithUser(ctx, pool, b.ID, func(q *db.Queries) error {
		r, err := q.GetPasswordReset(ctx, hash)
		if err == nil && r.UsedAt.Valid {
			t.Error("A's attempt spent B's link")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
