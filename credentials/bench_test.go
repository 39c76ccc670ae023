package credentials

import (
	"context"
	"testing"

	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/internal/testenv"
)

// BenchmarkBearerHotPath is what a bearer request costs here before the rate-limit step:
// parsing the header and finding the token in the cache (no I/O).
func BenchmarkBearerHotPath(b *testing.B) {
	pool, _ := testenv.MustPool(b)
	bs := bus.NewLocal()
	svc := New(pool, bs, WithLogger(testenv.Logger()))
	accounts := auth.NewAccounts(pool, auth.NewSessions(auth.SessionConfig{Bus: bs}))
	ctx := context.Background()
	u, err := accounts.Create(ctx, auth.NewAccount{Email: "bench@example.com", Username: "bencher", Password: "long-enough-pw"})
	if err != nil {
		b.Fatal(err)
	}
	made, err := svc.Create(ctx, API, u.ID, "bench")
	if err != nil {
		b.Fatal(err)
	}
	if _, found, err := svc.Resolve(ctx, API, made.Token); !found || err != nil {
		b.Fatal(found, err)
	}
	header := "Bearer " + made.Token
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tok, ok, err := ParseBearer(header)
		if !ok || err != nil {
			b.Fatal(err)
		}
		if _, ok := svc.Peek(API, tok); !ok {
			b.Fatal("not cached")
		}
	}
}

// BenchmarkTouchThrottled is a use of a credential within TouchEvery of the last write:
// it must cost no I/O.
func BenchmarkTouchThrottled(b *testing.B) {
	pool, _ := testenv.MustPool(b)
	svc := New(pool, bus.NewLocal(), WithLogger(testenv.Logger()))
	c := Credential{Kind: API, Handle: "h", UserID: 1}
	svc.touched[touchKey{API, "h"}] = svc.now()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		svc.Touch(ctx, c)
	}
}
