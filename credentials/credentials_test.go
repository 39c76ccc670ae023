package credentials

import (
	"context"
	"crypto/sha256"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/internal/testenv"
)

// fixture is a credentials service over a fresh database, with the account service that
// disables users (and so announces UserEnded) on the same bus.
type fixture struct {
	pool     *pgxpool.Pool
	bus      *bus.Local
	svc      *Service
	accounts *auth.Accounts
	msgs     *recorder
}

type recorder struct {
	mu   sync.Mutex
	msgs []bus.Message
}

func (r *recorder) handle(m bus.Message) { r.mu.Lock(); r.msgs = append(r.msgs, m); r.mu.Unlock() }

func (r *recorder) has(m bus.Message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, got := range r.msgs {
		if got == m {
			return true
		}
	}
	return false
}

func mustFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	pool, _ := testenv.MustPool(t)
	b := bus.NewLocal()
	f := &fixture{pool: pool, bus: b, msgs: &recorder{}}
	f.svc = New(pool, b, append([]Option{WithLogger(testenv.Logger())}, opts...)...)
	b.Subscribe(f.msgs.handle)
	f.accounts = auth.NewAccounts(pool, auth.NewSessions(auth.SessionConfig{Bus: b}))
	return f
}

func (f *fixture) mustUser(t *testing.T, name string) db.User {
	t.Helper()
	u, err := f.accounts.Create(context.Background(), auth.NewAccount{Email: name + "@example.com", Username: name, Password: "long-enough-pw"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (f *fixture) mustCreate(t *testing.T, k Kind, userID int64, name string) Created {
	t.Helper()
	c, err := f.svc.Create(context.Background(), k, userID, name)
	if err != nil {
		t.Fatalf("create %s %q: %v", k, name, err)
	}
	return c
}

// TestCreateStoresOnlyTheHash: a token carries 256 random bits behind its kind's prefix;
// the database holds its SHA-256 and nothing from which the token could be read back.
func TestCreateStoresOnlyTheHash(t *testing.T) {
	f := mustFixture(t)
	ctx := context.Background()
	u := f.mustUser(t, "hasher")
	for _, k := range []Kind{Embed, API} {
		t.Run(k.String(), func(t *testing.T) {
			a, b := f.mustCreate(t, k, u.ID, "one"), f.mustCreate(t, k, u.ID, "two")
			if !WellFormed(k, a.Token) || len(a.Token) != TokenLen || a.Token == b.Token || a.Handle == b.Handle {
				t.Fatalf("tokens %q %q, handles %q %q", a.Token, b.Token, a.Handle, b.Handle)
			}
			if WellFormed(otherKind(k), a.Token) {
				t.Fatalf("a %s token passes for the other kind", k)
			}
			if strings.Contains(a.Token, a.Handle) {
				t.Fatal("the handle is part of the token")
			}
			table := map[Kind]string{Embed: "embed_tokens", API: "api_tokens"}[k]
			var stored []byte
			var dump string
			tx, err := f.pool.Begin(ctx) // as the app's role, acting as the system
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx) //nolint:errcheck
			if _, err := tx.Exec(ctx, "SELECT set_config('app.system', 'on', true)"); err != nil {
				t.Fatal(err)
			}
			if err := tx.QueryRow(ctx, "SELECT token_hash, row_to_json(t)::text FROM "+table+" t WHERE handle = $1", a.Handle).Scan(&stored, &dump); err != nil {
				t.Fatal(err)
			}
			want := sha256.Sum256([]byte(a.Token))
			if string(stored) != string(want[:]) {
				t.Fatal("the stored hash is not the SHA-256 of the token")
			}
			if strings.Contains(dump, a.Token) || strings.Contains(dump, a.Token[prefixLen:]) {
				t.Fatalf("the row holds the token: %s", dump)
			}
		})
	}
}

func otherKind(k Kind) Kind {
	if k == Embed {
		return API
	}
	return Embed
}

// TestLifecycle: a created credential resolves by its token (and only as its own kind),
// lists for its owner alone, and once revoked resolves no more, is gone from the list, and
// was announced on the bus by handle. Another user's handle is not found and changes
// nothing.
func TestLifecycle(t *testing.T) {
	f := mustFixture(t)
	ctx := context.Background()
	alice, bob := f.mustUser(t, "alice"), f.mustUser(t, "bobby")
	for _, k := range []Kind{Embed, API} {
		t.Run(k.String(), func(t *testing.T) {
			made := f.mustCreate(t, k, alice.ID, "  Blog sidebar  ")
			if made.Name != "Blog sidebar" {
				t.Fatalf("name %q, want it trimmed", made.Name)
			}
			got, found, err := f.svc.Resolve(ctx, k, made.Token)
			if err != nil || !found {
				t.Fatalf("resolve: %v %v", found, err)
			}
			if got.Handle != made.Handle || got.UserID != alice.ID || got.OwnerHandle != alice.Handle || got.Kind != k {
				t.Fatalf("resolved %+v", got)
			}
			if _, found, _ := f.svc.Resolve(ctx, otherKind(k), made.Token); found {
				t.Fatal("resolved as the other kind")
			}
			if _, ok := f.svc.Peek(k, made.Token); !ok {
				t.Fatal("a resolved credential is not cached")
			}
			list, err := f.svc.List(ctx, k, alice.ID)
			if err != nil || len(list) != 1 || list[0].Handle != made.Handle || !list[0].LastUsed.IsZero() {
				t.Fatalf("alice's list %+v (%v)", list, err)
			}
			if list, _ := f.svc.List(ctx, k, bob.ID); len(list) != 0 {
				t.Fatalf("bob lists alice's: %+v", list)
			}

			if _, err := f.svc.Revoke(ctx, k, bob.ID, made.Handle); tickstock.ErrorCode(err) != tickstock.ENOTFOUND {
				t.Fatalf("bob revoking alice's: %v, want not found", err)
			}
			if _, found, _ := f.svc.Resolve(ctx, k, made.Token); !found {
				t.Fatal("bob's attempt revoked it")
			}
			gone, err := f.svc.Revoke(ctx, k, alice.ID, made.Handle)
			if err != nil || gone.Name != "Blog sidebar" {
				t.Fatalf("revoke: %+v %v", gone, err)
			}
			var want bus.Message = bus.TokenRevoked{TokenID: made.Handle}
			if k == Embed {
				want = bus.EmbedRevoked{EmbedID: made.Handle}
			}
			if !f.msgs.has(want) {
				t.Fatalf("no %#v on the bus", want)
			}
			if _, ok := f.svc.Peek(k, made.Token); ok {
				t.Fatal("still cached after revocation")
			}
			if _, found, err := f.svc.Resolve(ctx, k, made.Token); found || err != nil {
				t.Fatalf("resolves after revocation: %v %v", found, err)
			}
			if list, _ := f.svc.List(ctx, k, alice.ID); len(list) != 0 {
				t.Fatalf("listed after revocation: %+v", list)
			}
			if _, err := f.svc.Revoke(ctx, k, alice.ID, made.Handle); tickstock.ErrorCode(err) != tickstock.ENOTFOUND {
				t.Fatalf("revoking twice: %v", err)
			}
			for _, junk := range []string{"", "x", strings.Repeat("a", 500), made.Token, "../../etc"} {
				if _, err := f.svc.Revoke(ctx, k, alice.ID, junk); tickstock.ErrorCode(err) != tickstock.ENOTFOUND {
					t.Fatalf("revoke %q: %v", junk, err)
				}
			}
		})
	}
}

// TestDisabledOwner: disabling the owner (which announces UserEnded) drops the owner's
// cached credentials at once, and they resolve no more while the owner stays disabled;
// Live turns false for a credential resolved before. Enabling brings them back.
func TestDisabledOwner(t *testing.T) {
	f := mustFixture(t)
	ctx := context.Background()
	u := f.mustUser(t, "owner")
	other := f.mustUser(t, "other")
	emb, tok := f.mustCreate(t, Embed, u.ID, "e"), f.mustCreate(t, API, u.ID, "t")
	keep := f.mustCreate(t, API, other.ID, "kept")
	var before []Credential
	for _, c := range []Created{emb, tok, keep} {
		got, found, err := f.svc.Resolve(ctx, c.Kind, c.Token)
		if err != nil || !found {
			t.Fatal(found, err)
		}
		before = append(before, got)
		if live, err := f.svc.Live(ctx, got); !live || err != nil {
			t.Fatalf("Live before anything changed: %v %v", live, err)
		}
	}
	if _, err := f.accounts.Disable(ctx, u.Handle); err != nil {
		t.Fatal(err)
	}
	for i, c := range []Created{emb, tok} {
		if _, ok := f.svc.Peek(c.Kind, c.Token); ok {
			t.Fatalf("%s still cached after its owner was disabled", c.Kind)
		}
		if _, found, _ := f.svc.Resolve(ctx, c.Kind, c.Token); found {
			t.Fatalf("%s resolves while its owner is disabled", c.Kind)
		}
		if live, err := f.svc.Live(ctx, before[i]); live || err != nil {
			t.Fatalf("Live of a disabled owner's %s: %v %v", c.Kind, live, err)
		}
	}
	if _, ok := f.svc.Peek(API, keep.Token); !ok {
		t.Fatal("another user's token was dropped")
	}
	if live, err := f.svc.Live(ctx, before[2]); !live || err != nil {
		t.Fatalf("Live of another user's token: %v %v", live, err)
	}
	if _, err := f.accounts.Enable(ctx, u.Handle); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := f.svc.Resolve(ctx, API, tok.Token); !found {
		t.Fatal("an enabled owner's token does not resolve")
	}
}

// TestDeletedOwner: the rows go with the user (ON DELETE CASCADE).
func TestDeletedOwner(t *testing.T) {
	f := mustFixture(t)
	ctx := context.Background()
	u := f.mustUser(t, "leaver")
	emb, tok := f.mustCreate(t, Embed, u.ID, "e"), f.mustCreate(t, API, u.ID, "t")
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT set_config('app.system', 'on', true)"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM users WHERE id = $1", u.ID); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.bus.Publish(ctx, bus.UserEnded{UserID: u.ID, Reason: bus.ReasonDisabled}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Created{emb, tok} {
		if _, found, err := f.svc.Resolve(ctx, c.Kind, c.Token); found || err != nil {
			t.Fatalf("%s of a deleted user: %v %v", c.Kind, found, err)
		}
	}
	var n int
	tx, _ = f.pool.Begin(ctx)
	defer tx.Rollback(ctx)                                      //nolint:errcheck
	tx.Exec(ctx, "SELECT set_config('app.system', 'on', true)") //nolint:errcheck
	if err := tx.QueryRow(ctx, "SELECT (SELECT count(*) FROM embed_tokens) + (SELECT count(*) FROM api_tokens)").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d credential rows outlived their user (%v)", n, err)
	}
}

// TestRowLevelSecurity: as one user, a query without a WHERE clause sees none of another
// user's tokens, and cannot revoke them.
func TestRowLevelSecurity(t *testing.T) {
	f := mustFixture(t)
	ctx := context.Background()
	a, b := f.mustUser(t, "rlsa"), f.mustUser(t, "rlsb")
	f.mustCreate(t, API, a.ID, "a's")
	f.mustCreate(t, Embed, a.ID, "a's")
	bt := f.mustCreate(t, API, b.ID, "b's")
	err := db.WithUser(ctx, f.pool, a.ID, func(q *db.Queries) error {
		var n int // outside the transaction, with no user set, the pool sees nothing
		if err := f.pool.QueryRow(ctx, "SELECT count(*) FROM api_tokens").Scan(&n); err != nil || n != 0 {
			t.Errorf("without a user, %d tokens visible (%v)", n, err)
		}
		rows, err := q.ListActiveAPITokens(ctx, b.ID) // b's id, a's transaction
		if err != nil || len(rows) != 0 {
			t.Errorf("as A, B's tokens: %+v (%v)", rows, err)
		}
		if _, err := q.RevokeAPIToken(ctx, db.RevokeAPITokenParams{Handle: bt.Handle, UserID: b.ID}); err == nil {
			t.Error("as A, revoked B's token")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, found, _ := f.svc.Resolve(ctx, API, bt.Token); !found {
		t.Fatal("B's token was revoked through A's transaction")
	}
}

// TestNamesAndLimits: names are trimmed and checked; a user holds at most MaxActive of a
// kind, and a revoked one frees a place.
func TestNamesAndLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"Blog", true},
		{"  padded  ", true},
		{strings.Repeat("é", MaxNameLen), true},
		{`<script>alert(1)</script>"'&`, true},
		{"", false},
		{"   ", false},
		{strings.Repeat("x", MaxNameLen+1), false},
		{"tab\there", false},
		{"bell\x07", false},
	} {
		got, err := ValidName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidName(%q) = %q, %v; want ok=%v", tc.name, got, err, tc.ok)
		}
		if err != nil {
			if e := tickstock.ErrorCode(err); e != tickstock.EINVALID {
				t.Errorf("ValidName(%q) error code %s", tc.name, e)
			}
		}
	}

	f := mustFixture(t)
	ctx := context.Background()
	u := f.mustUser(t, "hoarder")
	var first Created
	for i := 0; i < MaxActive; i++ {
		c := f.mustCreate(t, API, u.ID, "t")
		if i == 0 {
			first = c
		}
	}
	if _, err := f.svc.Create(ctx, API, u.ID, "one more"); tickstock.ErrorCode(err) != tickstock.EINVALID {
		t.Fatalf("token %d: %v, want a field error", MaxActive+1, err)
	}
	if _, err := f.svc.Create(ctx, Embed, u.ID, "an embed"); err != nil {
		t.Fatalf("the limit is per kind: %v", err)
	}
	if _, err := f.svc.Revoke(ctx, API, u.ID, first.Handle); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Create(ctx, API, u.ID, "one more"); err != nil {
		t.Fatalf("after a revocation: %v", err)
	}
}

// TestTouchWritesAtMostOncePerMinute: "last used" is written on the first use, not again
// within TouchEvery however often the credential is used, and again after it, also by
// another instance (a second service on the same database), whose update is conditional.
func TestTouchWritesAtMostOncePerMinute(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	f := mustFixture(t, WithClock(clock))
	other := New(f.pool, bus.NewLocal(), WithClock(clock), WithLogger(testenv.Logger()))
	ctx := context.Background()
	u := f.mustUser(t, "toucher")
	for _, k := range []Kind{Embed, API} {
		t.Run(k.String(), func(t *testing.T) {
			made := f.mustCreate(t, k, u.ID, "busy")
			lastUsed := func() time.Time {
				t.Helper()
				list, err := f.svc.List(ctx, k, u.ID)
				if err != nil || len(list) == 0 {
					t.Fatal(list, err)
				}
				return list[0].LastUsed
			}
			c, _, err := f.svc.Resolve(ctx, k, made.Token)
			if err != nil {
				t.Fatal(err)
			}
			start := clock()
			f.svc.Touch(ctx, c)
			if got := lastUsed(); !got.Equal(start) {
				t.Fatalf("after the first use: %v, want %v", got, start)
			}
			for i := 0; i < 5; i++ {
				advance(10 * time.Second)
				f.svc.Touch(ctx, c)
				other.Touch(ctx, c) // knows nothing; the database's condition holds it back
			}
			if got := lastUsed(); !got.Equal(start) {
				t.Fatalf("within a minute: %v, want still %v", got, start)
			}
			advance(11 * time.Second)
			f.svc.Touch(ctx, c)
			if got, want := lastUsed(), start.Add(61*time.Second); !got.Equal(want) {
				t.Fatalf("after a minute: %v, want %v", got, want)
			}
		})
	}
}
