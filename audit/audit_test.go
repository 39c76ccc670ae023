package audit_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tickstock/tickstock/audit"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/internal/testenv"
)

// TestAuditIsAdminOnlyAndAppendOnly: entries are stored and listed by the system, invisible
// and unwritable to a transaction acting for a user (even the one they are about), and the
// app role can neither change nor delete them.
func TestAuditIsAdminOnlyAndAppendOnly(t *testing.T) {
	pool, _ := testenv.MustPool(t)
	ctx := context.Background()
	var admin, user db.User
	err := db.WithSystem(ctx, pool, func(q *db.Queries) error {
		var err error
		if admin, err = q.CreateUser(ctx, db.CreateUserParams{Handle: "hadmin", Email: "a@example.com", Username: "boss", PasswordHash: "x", Role: "admin"}); err != nil {
			return err
		}
		user, err = q.CreateUser(ctx, db.CreateUserParams{Handle: "huser", Email: "u@example.com", Username: "someone", PasswordHash: "x", Role: "user"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e := audit.Entry{Actor: audit.Actor{ID: admin.ID, Name: admin.Username}, Action: audit.ActionUserDisable,
		TargetKind: audit.TargetUser, TargetUserID: user.ID, TargetName: user.Username,
		Before: map[string]bool{"disabled": false}, After: map[string]bool{"disabled": true}}
	log := audit.New(pool)
	if err := log.Record(ctx, e); err != nil {
		t.Fatal(err)
	}
	rows, total, err := log.List(ctx, audit.Filter{TargetHandle: "huser"})
	if err != nil || total != 1 || len(rows) != 1 {
		t.Fatalf("list: %d rows of %d (%v)", len(rows), total, err)
	}
	r := rows[0]
	if r.ActorHandle != "hadmin" || r.ActorName != "boss" || r.TargetHandle != "huser" || r.Action != audit.ActionUserDisable {
		t.Fatalf("row %+v", r)
	}
	var after map[string]bool
	if json.Unmarshal(r.After, &after) != nil || !after["disabled"] {
		t.Fatalf("after %s", r.After)
	}

	// Acting for the user (or the admin as a user): no rows, and no insert.
	for _, uid := range []int64{user.ID, admin.ID} {
		err := db.WithUser(ctx, pool, uid, func(q *db.Queries) error {
			n, err := q.CountAdminAudit(ctx, db.CountAdminAuditParams{})
			if err != nil {
				return err
			}
			if n != 0 {
				t.Errorf("user %d sees %d audit rows", uid, n)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = db.WithUser(ctx, pool, uid, func(q *db.Queries) error { return audit.Write(ctx, q, e) })
		if err == nil || !strings.Contains(err.Error(), "row-level security") {
			t.Fatalf("a user transaction wrote an audit row: %v", err)
		}
	}
	// The app role may not rewrite history, system context or not: it has no grant for it.
	for _, stmt := range []string{"UPDATE admin_audit SET action = 'user.enable'", "DELETE FROM admin_audit"} {
		_, err := pool.Exec(ctx, "SELECT set_config('app.system', 'on', false); "+stmt)
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("%s: %v, want permission denied", stmt, err)
		}
	}
	// A deleted user's entries stay, with the names they had.
	if _, err := pool.Exec(ctx, "SELECT set_config('app.system', 'on', false); DELETE FROM users WHERE handle = 'huser'; SELECT set_config('app.system', '', false)"); err != nil {
		t.Fatal(err)
	}
	rows, _, err = log.List(ctx, audit.Filter{})
	if err != nil || len(rows) != 1 || rows[0].TargetHandle != "" || rows[0].TargetName != "someone" {
		t.Fatalf("after deleting the user: %+v (%v)", rows, err)
	}
}

func TestWriteRefusesIncompleteEntries(t *testing.T) {
	for _, e := range []audit.Entry{
		{Action: audit.ActionUserEnable, TargetName: "x"},
		{Actor: audit.Actor{ID: 1}, TargetName: "x"},
		{Actor: audit.Actor{ID: 1}, Action: audit.ActionUserEnable},
	} {
		if err := audit.Write(context.Background(), nil, e); err == nil {
			t.Errorf("Write(%+v) accepted an incomplete entry", e)
		}
	}
}

func TestChanges(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after string
		want          string
	}{
		{"one field", `{"trends":{"direction":"both","min_strength":"weak"}}`, `{"trends":{"direction":"up","min_strength":"weak"}}`,
			"trends.direction: both → up"},
		{"lists as sets", `{"highlow":["A","B"],"market":["A"]}`, `{"highlow":["B","C","D"],"market":["A"]}`,
			"highlow: +C +D −A"},
		{"creation", ``, `{"name":"X","symbols":["AAPL"],"description":""}`,
			"name:  → X; symbols: +AAPL"}, // an empty description is no news
		{"numbers and bools", `{"disabled":false,"n":1}`, `{"disabled":true,"n":1.5}`,
			"disabled: false → true; n: 1 → 1.5"},
		{"no change", `{"a":1}`, `{"a":1}`, ""},
		{"unreadable", `not json`, `{"a":1}`, "a:  → 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := audit.Row{Before: json.RawMessage(tc.before), After: json.RawMessage(tc.after)}
			var parts []string
			for _, c := range r.Changes() {
				if c.List {
					s := c.Field + ":"
					for _, a := range c.Added {
						s += " +" + a
					}
					for _, d := range c.Removed {
						s += " −" + d
					}
					parts = append(parts, s)
				} else {
					parts = append(parts, c.Field+": "+c.Before+" → "+c.After)
				}
			}
			if got := strings.Join(parts, "; "); got != tc.want {
				t.Fatalf("Changes = %q, want %q", got, tc.want)
			}
		})
	}
}
