package auth

import (
	"context"
	"testing"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/internal/testenv"
)

// TestDisableEndsEverySession: disabling a user through the account service ends every
// session of theirs, in every browser, announces that all their streams end, and refuses
// the right password; enabling lets them in again. Memory and Redis sessions alike.
func TestDisableEndsEverySession(t *testing.T) {
	pool, _ := testenv.MustPool(t)
	for name, build := range sessionStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := bus.NewLocal()
			rec := &recorder{}
			b.Subscribe(rec.handle)
			sessions, _ := build(b)
			accounts := NewAccounts(pool, sessions)
			counter := NewMemoryCounter()
			const pw = "a-long-password"
			u, err := accounts.Create(ctx, NewAccount{Email: name + "-off@example.com", Username: "offswitch", Password: pw})
			if err != nil {
				t.Fatal(err)
			}
			bystander, err := accounts.Create(ctx, NewAccount{Email: name + "-on@example.com", Username: "bystander", Password: pw})
			if err != nil {
				t.Fatal(err)
			}
			var mine []*State
			for range 3 {
				st, err := sessions.Login(ctx, nil, u.ID, u.Handle, Device{})
				if err != nil {
					t.Fatal(err)
				}
				mine = append(mine, st)
			}
			theirs, _ := sessions.Login(ctx, nil, bystander.ID, bystander.Handle, Device{})

			got, err := accounts.ByID(ctx, u.ID)
			if err != nil || got.Handle != u.Handle || got.Disabled {
				t.Fatalf("ByID = %+v, %v", got, err)
			}
			if _, err := accounts.Disable(ctx, u.Handle); err != nil {
				t.Fatal(err)
			}
			if msgs := rec.take(); len(msgs) != 1 || msgs[0] != (bus.UserEnded{UserID: u.ID, Reason: bus.ReasonDisabled}) {
				t.Fatalf("Disable announced %v", msgs)
			}
			for i, st := range mine {
				if got, err := sessions.Peek(ctx, st.ID); got != nil || err != nil {
					t.Fatalf("session %d survived Disable: %+v %v", i, got, err)
				}
			}
			if got, _ := sessions.Peek(ctx, theirs.ID); got == nil {
				t.Fatal("Disable ended another user's session")
			}
			if got, _ := accounts.ByID(ctx, u.ID); !got.Disabled {
				t.Fatal("the account is not marked disabled")
			}
			_, err = accounts.Authenticate(ctx, counter, u.Email, pw)
			if tickstock.ErrorCode(err) != tickstock.EUNAUTHORIZED {
				t.Fatalf("a disabled user signed in: %v", err)
			}

			if _, err := accounts.Enable(ctx, u.Handle); err != nil {
				t.Fatal(err)
			}
			if _, err := accounts.Authenticate(ctx, counter, u.Email, pw); err != nil {
				t.Fatalf("an enabled user cannot sign in: %v", err)
			}
			for _, f := range []func(context.Context, string) error{
				func(ctx context.Context, h string) error { _, err := accounts.Disable(ctx, h); return err },
				func(ctx context.Context, h string) error { _, err := accounts.Enable(ctx, h); return err },
			} {
				if err := f(ctx, "no-such-handle"); tickstock.ErrorCode(err) != tickstock.ENOTFOUND {
					t.Fatalf("unknown handle: %v, want ENOTFOUND", err)
				}
			}
			if _, err := accounts.ByID(ctx, 1<<40); tickstock.ErrorCode(err) != tickstock.ENOTFOUND {
				t.Fatalf("ByID of a missing user: %v, want ENOTFOUND", err)
			}
		})
	}
}
