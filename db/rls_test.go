package db_test

import (
	"context"
	"testing"

	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/internal/testenv"
)

// TestRowLevelSecurity proves a query that forgets its WHERE clause still sees only the
// acting user's rows, although the pool's URL names a superuser.
func TestRowLevelSecurity(t *testing.T) {
	pool, _ := testenv.MustPool(t)
	ctx := context.Background()

	var a, b db.User
	err := db.WithSystem(ctx, pool, func(q *db.Queries) error {
		var err error
		if a, err = q.CreateUser(ctx, db.CreateUserParams{Handle: "ha", Email: "a@example.com", Username: "alice", PasswordHash: "x", Role: "user"}); err != nil {
			return err
		}
		b, err = q.CreateUser(ctx, db.CreateUserParams{Handle: "hb", Email: "b@example.com", Username: "bobby", PasswordHash: "x", Role: "user"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	var role string
	if err := pool.QueryRow(ctx, "SELECT current_user").Scan(&role); err != nil || role != db.AppRole {
		t.Fatalf("pool runs as %q (%v), want %s", role, err, db.AppRole)
	}

	// No user set: nothing at all.
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil || n != 0 {
		t.Fatalf("without a user, a raw query saw %d users (%v)", n, err)
	}

	// As A, a query without WHERE sees only A; B by id is not found.
	err = db.WithUser(ctx, pool, a.ID, func(q *db.Queries) error {
		users, err := q.ListUsers(ctx)
		if err != nil {
			return err
		}
		if len(users) != 1 || users[0].Handle != "ha" {
			t.Errorf("as A, ListUsers = %+v, want only A", users)
		}
		if _, err := q.GetUserByID(ctx, b.ID); err == nil {
			t.Errorf("as A, read B's row")
		}
		if _, err := q.SetUserDisabled(ctx, db.SetUserDisabledParams{Handle: "hb", Disabled: true}); err == nil {
			t.Errorf("as A, disabled B")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.WithSystem(ctx, pool, func(q *db.Queries) error {
		u, err := q.GetUserByHandle(ctx, "hb")
		if err != nil {
			return err
		}
		if u.Disabled {
			t.Errorf("B was disabled through A's transaction")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
