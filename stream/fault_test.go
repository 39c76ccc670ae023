package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/internal/faultproxy"
	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
)

// faultEnv is the real settings service on a fresh database reached through a fault
// proxy, with its caches off, so every settings read goes to PostgreSQL.
type faultEnv struct {
	proxy *faultproxy.Proxy
	pool  *pgxpool.Pool
	svc   *settings.Service
}

func MustFaultEnv(tb testing.TB) *faultEnv {
	tb.Helper()
	dbURL := testenv.MustDatabase(tb)
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	proxy := faultproxy.MustStart(tb, u.Host)
	u.Host = proxy.Addr()
	pool, err := db.Open(context.Background(), u.String())
	if err != nil {
		tb.Fatalf("open pool through the proxy: %v", err)
	}
	tb.Cleanup(func() {
		proxy.Up()
		pool.Close()
	})
	svc := settings.NewService(pool, settings.WithTTL(0), settings.WithUniverseTTL(0), settings.WithLogger(testenv.Logger()))
	return &faultEnv{proxy: proxy, pool: pool, svc: svc}
}

// MustUser creates a user with the given filters (a partial filters object, "" for the
// defaults) and returns its id.
func (e *faultEnv) MustUser(tb testing.TB, name, filters string) int64 {
	tb.Helper()
	ctx := context.Background()
	u, err := auth.NewAccounts(e.pool, nil).Create(ctx, auth.NewAccount{Email: name + "@example.com", Username: name, Password: "s3cret-password"})
	if err != nil {
		tb.Fatalf("create user %s: %v", name, err)
	}
	if filters != "" {
		if _, err := e.svc.UpdateFilters(ctx, u.ID, []byte(filters)); err != nil {
			tb.Fatalf("filters of %s: %v", name, err)
		}
	}
	return u.ID
}

// expected counts the events of chunk that userID's settings allow (read while the
// database is up).
func (e *faultEnv) expected(tb testing.TB, userID int64, chunk []market.Event) int {
	tb.Helper()
	ctx := context.Background()
	us, err := e.svc.Get(ctx, userID)
	if err != nil {
		tb.Fatal(err)
	}
	set, err := e.svc.SymbolSet(ctx, us.Selections.HighLow)
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, ev := range chunk {
		if settings.Shows(ev, us.Filters, set) {
			n++
		}
	}
	return n
}

// testClock is a clock the test moves by hand.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *testClock) Now() time.Time           { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Add(d time.Duration)      { c.ns.Add(int64(d)) }
func (c *testClock) config(cfg Config) Config { cfg.Now = c.Now; return cfg }

// emissionOf parses a JSON stream message.
func emissionOf(tb testing.TB, m *Message) Emission {
	tb.Helper()
	if len(m.Frames) != 1 {
		tb.Fatalf("a JSON message has %d frames", len(m.Frames))
	}
	frame := string(m.Frames[0].Data)
	i := strings.Index(frame, "\ndata: ")
	var em Emission
	if i < 0 || json.Unmarshal([]byte(strings.TrimSuffix(frame[i+7:], "\n\n")), &em) != nil {
		tb.Fatalf("not a JSON emission: %q", frame)
	}
	return em
}

func (em Emission) count() int {
	return len(em.Highs) + len(em.Lows) + len(em.Trending.Up) + len(em.Trending.Down) + len(em.Surging.Up) + len(em.Surging.Down)
}

// drainCount takes every queued message of c and counts their events.
func drainCount(tb testing.TB, c *Conn) (events, messages int) {
	tb.Helper()
	for {
		select {
		case m := <-c.Messages():
			events += emissionOf(tb, m).count()
			messages++
		default:
			return events, messages
		}
	}
}

func mustAttach(tb testing.TB, p *Publisher, userID int64, f Format) *Conn {
	tb.Helper()
	c := NewConn(userID, fmt.Sprint("session-", userID), f, 32)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Attach(ctx, c, nil); err != nil {
		tb.Fatalf("attach user %d: %v", userID, err)
	}
	return c
}

func chunksOf(events []market.Event, n int) [][]market.Event {
	var out [][]market.Event
	size := len(events) / n
	for i := 0; i < n; i++ {
		end := (i + 1) * size
		if i == n-1 {
			end = len(events)
		}
		out = append(out, events[i*size:end])
	}
	return out
}

// TestPublisherWhenTheDatabaseHangs: PostgreSQL stops answering (the proxy holds every
// byte). Emissions go on with the users' last known settings and lose nothing; a new
// stream of a known user opens at once; one of a user never seen is refused within its
// deadline; everything is fresh again once the database answers.
func TestPublisherWhenTheDatabaseHangs(t *testing.T) {
	env := MustFaultEnv(t)
	alice := env.MustUser(t, "alice", `{"filter_data":{"trends":{"min_strength":"weak"}}}`)
	bob := env.MustUser(t, "bob", `{"filter_data":{"highlow":{"min_count":3},"trends":{"direction":"down"}}}`)
	carol := env.MustUser(t, "carol", "")
	clock := newTestClock()
	hub := NewHub(0)
	p := NewPublisher(clock.config(Config{Hub: hub, Settings: env.svc, Logger: testenv.Logger(),
		Interval: time.Second, LoadTimeout: 400 * time.Millisecond})) // under -race on a busy machine a fresh connection can take over 100 ms
	ctx := context.Background()
	a1, b1 := mustAttach(t, p, alice, FormatJSON), mustAttach(t, p, bob, FormatJSON)
	chunks := chunksOf(testenv.MustSampleEvents(t), 5)
	want := map[int64]int{}
	for _, ch := range chunks {
		want[alice] += env.expected(t, alice, ch)
		want[bob] += env.expected(t, bob, ch)
	}
	if want[alice] == want[bob] || want[bob] == 0 {
		t.Fatalf("the two users' settings should allow different, non-zero counts: %v", want)
	}
	got := map[int64]int{}
	emit := func(ch []market.Event) {
		t.Helper()
		clock.Add(time.Second)
		start := time.Now()
		p.Publish(ctx, Batch{Events: ch})
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("an emission took %s: it waited on the database", d)
		}
		for uid, c := range map[int64]*Conn{alice: a1, bob: b1} {
			n, msgs := drainCount(t, c)
			if msgs != 1 {
				t.Fatalf("user %d got %d messages from one emission", uid, msgs)
			}
			got[uid] += n
		}
	}
	emit(chunks[0])

	env.proxy.Stall(true)
	for _, ch := range chunks[1:4] {
		emit(ch)
	}
	if m := p.Metrics(); !m.SettingsFailing || m.StaleLoads < 3 || m.Emissions != 4 {
		t.Fatalf("during the stall: %+v", m)
	}

	// A new tab of a user whose settings are known opens at once, even after a while
	// (the remembered settings are then tried fresh for LoadTimeout, then used).
	clock.Add(10 * time.Second)
	actx, cancel := context.WithTimeout(ctx, 2*time.Second)
	start := time.Now()
	a2 := NewConn(alice, "session-alice-2", FormatJSON, 32)
	if err := p.Attach(actx, a2, nil); err != nil {
		t.Fatalf("a known user's new stream during the stall: %v", err)
	}
	cancel()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a known user's new stream took %s to open", d)
	}
	// A user never seen needs the database: refused as unavailable within the deadline.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start = time.Now()
	err := p.Attach(cctx, NewConn(carol, "session-carol", FormatJSON, 32), nil)
	cancel()
	if tickstock.ErrorCode(err) != tickstock.EUNAVAILABLE {
		t.Fatalf("an unknown user's stream during the stall: %v, want unavailable", err)
	}
	if d := time.Since(start); d > 1300*time.Millisecond {
		t.Fatalf("the refusal took %s, past the 300 ms deadline", d)
	}
	if _, n := hub.Counts(); n != 3 {
		t.Fatalf("%d streams registered, want alice's two and bob's", n)
	}

	env.proxy.Up()
	emit(chunks[4])
	if n, msgs := drainCount(t, a2); msgs != 1 || n != env.expected(t, alice, chunks[4]) {
		t.Fatalf("alice's new tab got %d events in %d messages", n, msgs)
	}
	if m := p.Metrics(); m.SettingsFailing {
		t.Fatalf("settings still failing after the database came back: %+v", m)
	}
	for uid, n := range want {
		if got[uid] != n {
			t.Fatalf("user %d got %d events over the stall, want %d: events were lost or repeated", uid, got[uid], n)
		}
	}
}

// TestPublisherWhenTheDatabaseIsDown: PostgreSQL refuses connections and the open ones
// break. A user with known settings gets each emission at once. A stream whose settings
// were never read holds the emission back; its events wait, and arrive once, in order,
// with the first emission after the database returns.
func TestPublisherWhenTheDatabaseIsDown(t *testing.T) {
	env := MustFaultEnv(t)
	alice := env.MustUser(t, "alice", `{"filter_data":{"trends":{"min_strength":"weak"}}}`)
	dave := env.MustUser(t, "dave", `{"filter_data":{"surges":{"trigger":"price_and_volume"}}}`)
	clock := newTestClock()
	hub := NewHub(0)
	p := NewPublisher(clock.config(Config{Hub: hub, Settings: env.svc, Logger: testenv.Logger(),
		Interval: time.Second, LoadTimeout: 200 * time.Millisecond}))
	ctx := context.Background()
	a := mustAttach(t, p, alice, FormatJSON)
	chunks := chunksOf(testenv.MustSampleEvents(t), 4)
	want0 := env.expected(t, alice, chunks[0])

	env.proxy.Down()
	clock.Add(time.Second)
	p.Publish(ctx, Batch{Events: chunks[0]})
	if n, msgs := drainCount(t, a); msgs != 1 || n != want0 {
		t.Fatalf("with the database down, alice got %d events in %d messages", n, msgs)
	}

	// A stream registered without the publisher knowing its user's settings.
	d := NewConn(dave, "session-dave", FormatJSON, 32)
	if err := hub.Register(d); err != nil {
		t.Fatal(err)
	}
	for _, ch := range chunks[1:3] {
		clock.Add(time.Second)
		p.Publish(ctx, Batch{Events: ch})
	}
	if _, msgs := drainCount(t, a); msgs != 0 {
		t.Fatalf("an emission went out while a stream's settings were unknown")
	}
	m := p.Metrics()
	if m.Deferred != 2 || m.PendingEvents != len(chunks[1])+len(chunks[2]) {
		t.Fatalf("deferred %d emissions with %d events pending, want 2 and %d", m.Deferred, m.PendingEvents, len(chunks[1])+len(chunks[2]))
	}

	env.proxy.Up()
	// "Returns" means it answers again: on a loaded machine a new connection may take
	// longer than the publisher's 200 ms load deadline, and the emission would wait once more.
	waitFor(t, "the database through the proxy", func() bool { return env.pool.Ping(ctx) == nil })
	clock.Add(time.Second)
	p.Publish(ctx, Batch{Events: chunks[3]})
	waited := append(append(append([]market.Event(nil), chunks[1]...), chunks[2]...), chunks[3]...)
	for name, tc := range map[string]struct {
		c   *Conn
		uid int64
	}{"alice": {a, alice}, "dave": {d, dave}} {
		msg := <-tc.c.Messages()
		em := emissionOf(t, msg)
		if em.count() != env.expected(t, tc.uid, waited) || em.count() == 0 {
			t.Fatalf("%s got %d events after the outage, want the %d that waited", name, em.count(), env.expected(t, tc.uid, waited))
		}
		if !inDetectionOrder(em.Highs) || !inDetectionOrder(em.Lows) {
			t.Fatalf("%s's events that waited are out of order", name)
		}
		if _, msgs := drainCount(t, tc.c); msgs != 0 {
			t.Fatalf("%s got the waiting events more than once", name)
		}
	}
	if m := p.Metrics(); m.PendingEvents != 0 || m.Emissions != 2 {
		t.Fatalf("after recovery: %+v", m)
	}
}

// inDetectionOrder reports whether high/low events keep the engine's order (their tick
// times never go back).
func inDetectionOrder(list []market.HighLowEvent) bool {
	for i := 1; i < len(list); i++ {
		if list[i].Time < list[i-1].Time {
			return false
		}
	}
	return true
}

// TestPublisherEndsStreamsWhoseSettingsStayUnknown: waiting is bounded; after MaxDeferred
// emissions the streams that cannot be served are closed so their clients reconnect, and
// everyone else gets what waited.
func TestPublisherEndsStreamsWhoseSettingsStayUnknown(t *testing.T) {
	env := MustFaultEnv(t)
	alice := env.MustUser(t, "alice", "")
	dave := env.MustUser(t, "dave", "")
	hub := NewHub(0)
	p := NewPublisher(Config{Hub: hub, Settings: env.svc, Logger: testenv.Logger(), LoadTimeout: 200 * time.Millisecond, MaxDeferred: 2})
	a := mustAttach(t, p, alice, FormatJSON)
	d := NewConn(dave, "session-dave", FormatJSON, 32)
	if err := hub.Register(d); err != nil {
		t.Fatal(err)
	}
	chunks := chunksOf(testenv.MustSampleEvents(t), 3)
	want := 0
	for _, ch := range chunks {
		want += env.expected(t, alice, ch)
	}
	env.proxy.Down()
	for _, ch := range chunks {
		p.Publish(context.Background(), Batch{Events: ch})
	}
	select {
	case <-d.Done():
		if d.Reason() != "unavailable" {
			t.Fatalf("closed for %q", d.Reason())
		}
	default:
		t.Fatal("the stream with unknown settings still holds everyone back")
	}
	if n, msgs := drainCount(t, a); msgs != 1 || n != want {
		t.Fatalf("alice got %d events in %d messages, want all %d that waited in one", n, msgs, want)
	}
	// The closed stream, until its writer unregisters it, holds nothing back.
	p.Publish(context.Background(), Batch{})
	if _, msgs := drainCount(t, a); msgs != 1 {
		t.Fatalf("the next emission was held back by a closed stream (%d messages)", msgs)
	}
}

// TestPublisherKeepsItsMatcherWhenARebuildFails: the periodic rebuild of a group (for
// universe edits) needs the database; when it fails the group keeps serving with the
// matcher it has, and the rebuild happens once the database is back.
func TestPublisherKeepsItsMatcherWhenARebuildFails(t *testing.T) {
	env := MustFaultEnv(t)
	alice := env.MustUser(t, "alice", `{"filter_data":{"trends":{"min_strength":"weak"}}}`)
	clock := newTestClock()
	p := NewPublisher(clock.config(Config{Hub: NewHub(0), Settings: env.svc, Logger: testenv.Logger(),
		LoadTimeout: 200 * time.Millisecond, RebuildEvery: 3 * time.Second}))
	a := mustAttach(t, p, alice, FormatJSON)
	chunks := chunksOf(testenv.MustSampleEvents(t), 8)
	var want []int
	for _, ch := range chunks {
		want = append(want, env.expected(t, alice, ch))
	}
	built := func() time.Time {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, g := range p.groups {
			return g.built
		}
		return time.Time{}
	}
	attached := built()

	env.proxy.Down()
	for i, ch := range chunks[:6] {
		clock.Add(time.Second)
		p.Publish(context.Background(), Batch{Events: ch})
		if n, msgs := drainCount(t, a); msgs != 1 || n != want[i] {
			t.Fatalf("emission %d with the database down: %d events in %d messages, want %d", i, n, msgs, want[i])
		}
	}
	if built() != attached {
		t.Fatal("the group was rebuilt without a database")
	}
	env.proxy.Up()
	for i, ch := range chunks[6:] {
		clock.Add(time.Second)
		p.Publish(context.Background(), Batch{Events: ch})
		if n, msgs := drainCount(t, a); msgs != 1 || n != want[6+i] {
			t.Fatalf("emission %d after the outage: %d events in %d messages", 6+i, n, msgs)
		}
	}
	if !built().After(attached) {
		t.Fatal("the group was not rebuilt once the database was back")
	}
}
