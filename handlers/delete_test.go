package handlers

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/tickstock/tickstock/audit"
	"github.com/tickstock/tickstock/auth"
	creds "github.com/tickstock/tickstock/credentials"
)

// keptAnonymised names the columns referencing users whose rows may outlive a deleted user
// (ON DELETE SET NULL), each with the reason. Every other reference must cascade, so that
// deleting an account deletes every row that belongs to it (SPEC section 11).
var keptAnonymised = map[string]string{
	"admin_audit.actor_id": "the admin trail says who did what; a deleted admin's entries keep " +
		"the name they acted under, unlinked from any account",
	"admin_audit.target_user_id": "the admin trail is the operator's record of admin actions, not " +
		"the user's data; entries about a deleted user stay, unlinked from any account",
}

// userTables lists every column that references users(id), straight from pg_catalog, so a
// table added later cannot escape the deletion test. It fails the test for a reference
// that does not cascade on delete and is not in keptAnonymised.
func userTables(t *testing.T, app *testApp) [][2]string {
	t.Helper()
	conn := mustSuperuser(t, app)
	rows, err := conn.Query(context.Background(), `
		SELECT c.conrelid::regclass::text, a.attname, c.confdeltype::text
		FROM pg_constraint c
		JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
		WHERE c.contype = 'f' AND c.confrelid = 'users'::regclass
		ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var table, column, onDelete string
		if err := rows.Scan(&table, &column, &onDelete); err != nil {
			t.Fatal(err)
		}
		if _, ok := keptAnonymised[table+"."+column]; onDelete != "c" && !ok {
			t.Errorf("%s.%s references users without ON DELETE CASCADE (confdeltype %q): a deleted user's rows would stay", table, column, onDelete)
		}
		out = append(out, [2]string{table, column})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// rowsOf counts a user's rows in every table that references users(id), and in users.
func rowsOf(t *testing.T, app *testApp, userID int64) map[string]int {
	t.Helper()
	conn := mustSuperuser(t, app)
	counts := map[string]int{}
	tables := append(userTables(t, app), [2]string{"users", "id"})
	for _, tc := range tables {
		var n int
		q := "SELECT count(*) FROM " + tc[0] + " WHERE " + tc[1] + " = $1"
		if err := conn.QueryRow(context.Background(), q, userID).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		counts[tc[0]+"."+tc[1]] += n
	}
	return counts
}

// TestDeleteAccount: deleting an account asks for the password (a wrong one is a 422 that
// counts toward the lockout), then leaves no row of the user in any table that references
// users (enumerated from pg_catalog), ends every session and stream of theirs, keeps other
// users' data, and goes to the home page. Memory and Redis sessions alike.
func TestDeleteAccount(t *testing.T) {
	for name, opts := range sessionStoreOptions(t) {
		t.Run(name, func(t *testing.T) {
			app := MustApp(t, opts...)
			u, pw := app.MustUser(t, "leaving@example.com", "leaving")
			stay, pw2 := app.MustUser(t, "staying@example.com", "staying")
			c, other, bystander := app.NewClient(t), app.NewClient(t), app.NewClient(t)
			c.login(u.Email, pw)
			other.login(u.Email, pw)
			bystander.login(stay.Email, pw2)

			// Give both users a row in every per-user table there is today.
			for _, cl := range []*client{c, bystander} {
				if r := cl.postForm("/settings/universes", url.Values{"tracker": {"highlow"}, "universes": {"TECH_UNIVERSE"}}); r.StatusCode != http.StatusOK {
					t.Fatalf("save universes: %d", r.StatusCode)
				}
				if r := cl.postJSON("/api/user-filters", `{"filter_data":{"highlow":{"min_count":2}}}`); r.StatusCode != http.StatusOK {
					t.Fatalf("save filters: %d", r.StatusCode)
				}
				// A watchlist with a symbol, selected by a tracker (which blocks deleting the
				// list, but not the account).
				if r := cl.postForm("/watchlists", url.Values{"name": {"Mine"}, "symbols": {"AAPL"}}); r.StatusCode != http.StatusSeeOther {
					t.Fatalf("create watchlist: %d", r.StatusCode)
				}
				if r := cl.postForm("/settings/universes", url.Values{"tracker": {"market"}, "universes": {"WL:Mine"}}); r.StatusCode != http.StatusOK {
					t.Fatalf("select watchlist: %d", r.StatusCode)
				}
			}
			for _, id := range []int64{u.ID, stay.ID} {
				for _, kind := range []creds.Kind{creds.Embed, creds.API} {
					if _, err := app.deps.Credentials.Create(context.Background(), kind, id, "panel"); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := app.deps.Resets.Create(context.Background(), id); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, "login events stored", func() bool { return countAuthEvents(t, app, auth.EventLoginSuccess, u.ID) == 2 })

			tables := userTables(t, app)
			var names []string
			for _, tc := range tables {
				names = append(names, tc[0])
			}
			for _, want := range []string{"api_tokens", "auth_events", "embed_tokens", "password_resets", "user_filters", "user_universe_selections",
				"user_watchlist_selections", "watchlist_symbols", "watchlists"} {
				if !slices.Contains(names, want) {
					t.Fatalf("pg_catalog lists no reference to users from %s: %v", want, names)
				}
			}
			// An admin acts on the user, so the kept trail has an entry about them.
			boss, _ := app.MustAdmin(t, "boss@example.com", "boss")
			if err := app.deps.AdminAudit.Record(context.Background(), audit.Entry{Actor: audit.Actor{ID: boss.ID, Name: boss.Username},
				Action: "user.filters", TargetKind: audit.TargetUser, TargetUserID: u.ID, TargetName: u.Username}); err != nil {
				t.Fatal(err)
			}
			before := rowsOf(t, app, u.ID)
			for tc, n := range before {
				if _, kept := keptAnonymised[tc]; n == 0 && !kept {
					t.Fatalf("the user has no row in %s before deletion: the test would prove nothing", tc)
				}
			}
			if before["admin_audit.target_user_id"] != 1 {
				t.Fatalf("%d admin audit entries about the user before deletion", before["admin_audit.target_user_id"])
			}

			s1, _ := c.openStream("/stream")
			s2, _ := other.openStream("/stream?format=json")
			waitConns(t, app, 2)

			// A wrong password: 422 next to the field, nothing deleted.
			r := c.postForm("/account/delete", url.Values{"password": {"not-my-password"}})
			if r.StatusCode != http.StatusUnprocessableEntity || r.Doc(t).Find(`[data-testid="error-password"]`).Length() != 1 {
				t.Fatalf("delete with a wrong password: %d", r.StatusCode)
			}
			if got := rowsOf(t, app, u.ID)["users.id"]; got != 1 {
				t.Fatal("a wrong password deleted the account")
			}

			start := time.Now()
			r = c.postForm("/account/delete", url.Values{"password": {pw}})
			if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
				t.Fatalf("delete: %d %s", r.StatusCode, r.Header.Get("Location"))
			}
			waitLogout(t, s1, start, "disabled")
			waitLogout(t, s2, start, "disabled")
			if c.signedIn() || other.signedIn() {
				t.Fatal("a session of the deleted user still works")
			}
			if !bystander.signedIn() {
				t.Fatal("another user was signed out")
			}
			if r := app.NewClient(t).postForm("/auth/login", url.Values{"email": {u.Email}, "password": {pw}}); r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("login of a deleted account: %d", r.StatusCode)
			}

			eventually(t, "the account_deleted event", func() bool { return countAuthEvents(t, app, auth.EventAccountDeleted, 0) == 1 })
			time.Sleep(100 * time.Millisecond) // let queued auth events land (or fail) too
			for tc, n := range rowsOf(t, app, u.ID) {
				if n != 0 {
					t.Errorf("%d rows of the deleted user left in %s", n, tc)
				}
			}
			var orphans int
			if err := mustSuperuser(t, app).QueryRow(context.Background(),
				`SELECT count(*) FROM admin_audit WHERE target_user_id IS NULL AND target_name = $1`, u.Username).Scan(&orphans); err != nil || orphans != 1 {
				t.Fatalf("the admin trail's entry about the deleted user: %d kept unlinked (%v), want 1", orphans, err)
			}
			for tc, n := range rowsOf(t, app, stay.ID) {
				if _, kept := keptAnonymised[tc]; n == 0 && !kept {
					t.Errorf("the other user's rows in %s were deleted", tc)
				}
			}
			if r := bystander.get("/settings"); r.StatusCode != http.StatusOK {
				t.Fatalf("the other user's settings: %d", r.StatusCode)
			}
		})
	}
}
