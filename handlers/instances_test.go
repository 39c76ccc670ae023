package handlers

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/bus"
	creds "github.com/tickstock/tickstock/credentials"
	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/settings"
)

// asInstance makes the app one instance of a deployment over rdb, as cmd/tickstock does with
// REDIS_URL: sessions and counters under prefix, and a Redis bus on prefix's channel named
// instance. A second instance also passes withPool(first.pool), after this option.
func asInstance(tb testing.TB, rdb *redis.Client, prefix, instance string) appOption {
	return func(d *appSetup) {
		b := bus.NewRedis(bus.RedisConfig{Client: rdb, Channel: prefix + "bus", Instance: instance, Logger: d.Logger})
		ctx, cancel := context.WithCancel(context.Background())
		if err := b.Start(ctx); err != nil {
			cancel()
			tb.Fatalf("start the bus of %s: %v", instance, err)
		}
		tb.Cleanup(func() { cancel(); b.Wait() })
		d.Bus = b
		withRedis(rdb, prefix)(d)
		d.Settings = settings.NewService(d.pool, settings.WithLogger(d.Logger), settings.WithBus(b))
		d.Credentials = creds.New(d.pool, b, creds.WithLogger(d.Logger))
	}
}

// on returns a client that shares c's cookies (so its session) but talks to app.
func (c *client) on(app *testApp) *client {
	return &client{tb: c.tb, http: c.http, base: app.URL, csrf: c.csrf}
}

// TestDisableReachesEveryInstance: two instances share Redis and the database, and both
// have served the user (so both hold a copy of their account row). An admin disables the
// user on one: the user's next request is refused on both, the first after Disable returns
// (their sessions are gone from the shared store, whatever an instance holds), and their API
// token too within 5 s on the other instance. Enabled again, they sign in on either.
func TestDisableReachesEveryInstance(t *testing.T) {
	rdb, prefix := testenv.MustRedis(t)
	one := MustApp(t, unlimited, asInstance(t, rdb, prefix, "one"))
	two := MustApp(t, unlimited, asInstance(t, rdb, prefix, "two"), withPool(one.pool))

	u, pw := one.MustUser(t, "both@example.com", "bothplaces")
	_, apw := one.MustAdmin(t, "boss@example.com", "boss")
	onOne := one.NewClient(t)
	onOne.login("both@example.com", pw)
	onTwo := onOne.on(two)
	token, _ := createCredential(t, onOne, "/settings/tokens", "Bot")
	program := two.NewClient(t)
	bearer := []string{"Authorization", "Bearer " + token}
	for _, c := range []*client{onOne, onTwo} {
		if r := c.get("/dashboard"); r.StatusCode != http.StatusOK {
			t.Fatalf("dashboard on %s: %d", c.base, r.StatusCode)
		}
	}
	if r := program.get("/api/universes", bearer...); r.StatusCode != http.StatusOK {
		t.Fatalf("the token on the second instance: %d", r.StatusCode)
	}

	admin := one.NewClient(t)
	admin.login("boss@example.com", apw)
	if r := admin.postForm("/admin/users/"+u.Handle+"/disable", url.Values{}); r.StatusCode != http.StatusOK {
		t.Fatalf("disable: %d %s", r.StatusCode, r.Body)
	}
	for _, c := range []*client{onTwo, onOne} {
		if r := c.get("/dashboard"); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("a disabled user's dashboard on %s: %d", c.base, r.StatusCode)
		}
	}
	eventually(t, "the token refused on the second instance", func() bool {
		return program.get("/api/universes", bearer...).StatusCode == http.StatusUnauthorized
	})

	if _, err := one.deps.Accounts.Enable(context.Background(), u.Handle); err != nil {
		t.Fatal(err)
	}
	again := two.NewClient(t)
	again.login("both@example.com", pw)
	if r := again.get("/dashboard"); r.StatusCode != http.StatusOK {
		t.Fatalf("an enabled user's dashboard: %d", r.StatusCode)
	}
	if r := again.on(one).get("/dashboard"); r.StatusCode != http.StatusOK {
		t.Fatalf("an enabled user's dashboard on the other instance: %d", r.StatusCode)
	}
}
