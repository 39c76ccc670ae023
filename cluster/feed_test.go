package cluster

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/internal/faultproxy"
	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/stream"
)

// recorder is a Target that keeps what it is handed.
type recorder struct {
	mu      sync.Mutex
	batches []stream.Batch
}

func (r *recorder) Publish(_ context.Context, b stream.Batch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, b)
}

func (r *recorder) all() []stream.Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]stream.Batch(nil), r.batches...)
}

var testSymbols = func() []string {
	s := make([]string, 30)
	for i := range s {
		s[i] = fmt.Sprintf("T%02d", i)
	}
	return s
}()

// simRunner builds a real market runner on a fast simulator, as a leader's term does.
func simRunner(context.Context) (Runner, error) {
	sim, err := market.NewSimFeed(testSymbols, 11, 3000)
	if err != nil {
		return nil, err
	}
	return market.NewRunner(market.RunnerConfig{Feed: sim, Symbols: testSymbols, Source: "sim", Logger: testenv.Logger()})
}

// startFeed runs a Feed named instance on client until the returned stop is called.
func startFeed(t *testing.T, client redis.UniversalClient, prefix, instance string) (*Feed, *recorder, func()) {
	t.Helper()
	f := New(Config{Redis: client, Prefix: prefix, Instance: instance, Interval: 100 * time.Millisecond,
		Logger: testenv.Logger(), NewRunner: simRunner, LeaseTTL: time.Second, RenewEvery: 300 * time.Millisecond,
		AcquireEvery: 100 * time.Millisecond, ResumeWindow: 10 * time.Second})
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx, rec); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return f, rec, stop
}

// TestFeedLeaderAndFollower: one instance leads and both receive the same emissions
// under the same numbers; a graceful stop of the leader hands over at once, with no gap;
// the follower serves History from what it received, and any instance from Redis.
func TestFeedLeaderAndFollower(t *testing.T) {
	client, prefix := testenv.MustRedis(t)
	a, recA, stopA := startFeed(t, client, prefix, "A")
	waitFor(t, 5*time.Second, "A to lead", func() bool { return a.Metrics().Role == "leader" })
	b, recB, _ := startFeed(t, client, prefix, "B")
	waitFor(t, 5*time.Second, "emissions on both", func() bool { return len(recA.all()) > 20 && len(recB.all()) > 10 })
	if m := b.Metrics(); m.Role != "follower" || m.LeaseHolder != "A" || m.Token != a.Metrics().Token {
		t.Fatalf("B's view: %+v", m)
	}
	bySeq := map[uint64]stream.Batch{}
	for _, x := range recA.all() {
		bySeq[x.Seq] = x
	}
	events := 0
	for _, x := range recB.all() {
		y, ok := bySeq[x.Seq]
		if !ok {
			continue
		}
		events += len(x.Events)
		if !reflect.DeepEqual(x.Events, y.Events) || !x.At.Equal(y.At) {
			t.Fatalf("emission %d differs between the instances", x.Seq)
		}
	}
	if events == 0 {
		t.Fatal("no events in the emissions compared")
	}
	if s := b.Summary(market.NewSelection(testSymbols)); s.UniverseSize != len(testSymbols) || s.Ticks60s == 0 {
		t.Fatalf("B's market summary from the bus: %+v", s)
	}
	if err := b.Health(); err != nil {
		t.Fatalf("B's health: %v", err)
	}

	// Graceful stop of the leader: the lease is released, B leads within moments.
	before := len(recB.all())
	stopA()
	stopped := time.Now()
	waitFor(t, 2*time.Second, "B to lead", func() bool { return b.Metrics().Role == "leader" })
	waitFor(t, 3*time.Second, "B's own emissions", func() bool { return b.Metrics().LeaderChanges == 1 })
	t.Logf("handover after a graceful stop: %s", time.Since(stopped).Round(time.Millisecond))
	if m := b.Metrics(); m.Gaps != 0 || m.StaleDropped != 0 || m.Takeovers != 1 {
		t.Fatalf("B after the handover: %+v", m)
	}
	got := recB.all()
	for i := 1; i < len(got); i++ {
		if got[i].Seq <= got[i-1].Seq {
			t.Fatalf("B's emissions go back: %d after %d", got[i].Seq, got[i-1].Seq)
		}
	}
	if len(got) <= before {
		t.Fatal("no emissions on B after the handover")
	}

	// History: from B's memory, and from Redis for an instance that received nothing.
	from := got[len(got)/2].Seq
	want := got[len(got)/2:]
	hist, err := b.History(context.Background(), from)
	if err != nil {
		t.Fatal(err)
	}
	cold := New(Config{Redis: client, Prefix: prefix, Instance: "C", Interval: 100 * time.Millisecond, Logger: testenv.Logger()})
	fromRedis, err := cold.History(context.Background(), from)
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string][]stream.Batch{"memory": hist, "redis": fromRedis} {
		if len(h) < len(want) {
			t.Fatalf("history from %s: %d emissions, want at least %d", name, len(h), len(want))
		}
		for i := range want {
			if h[i].Seq != want[i].Seq || !reflect.DeepEqual(h[i].Events, want[i].Events) {
				t.Fatalf("history from %s: emission %d is %d, want %d", name, i, h[i].Seq, want[i].Seq)
			}
		}
	}
}

// TestFeedLeaderStallsOut: the leader's connection to Redis stalls. It cannot renew, so
// it stops its feed before its lease can have expired; another instance takes over; when
// the stall ends, nothing the old leader sent late reaches the stream.
func TestFeedLeaderStallsOut(t *testing.T) {
	direct, prefix := testenv.MustRedis(t)
	p := faultproxy.MustStart(t, testenv.MustHostPort(t, testenv.RedisURL()))
	viaProxy := redis.NewClient(&redis.Options{Addr: p.Addr(), DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { viaProxy.Close() })
	a, _, _ := startFeed(t, viaProxy, prefix, "A")
	waitFor(t, 5*time.Second, "A to lead", func() bool { return a.Metrics().Role == "leader" })
	b, recB, _ := startFeed(t, direct, prefix, "B")
	waitFor(t, 5*time.Second, "emissions on B", func() bool { return len(recB.all()) > 5 })

	p.Stall(true)
	stalled := time.Now()
	waitFor(t, 3*time.Second, "A to step down", func() bool { return a.Metrics().Role == "follower" })
	stepped := time.Since(stalled)
	waitFor(t, 3*time.Second, "B to lead", func() bool { return b.Metrics().Role == "leader" })
	t.Logf("stalled leader stepped down after %s; B leads after %s", stepped.Round(time.Millisecond),
		time.Since(stalled).Round(time.Millisecond))
	if stepped > time.Second {
		t.Fatalf("A stepped down %s into the stall, after its 1 s lease could have expired", stepped)
	}
	p.Stall(false)
	time.Sleep(500 * time.Millisecond)

	msgs, err := direct.XRange(context.Background(), KeysFor(prefix).Stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var dec bus.EmissionDecoder
	var prev uint64
	for _, m := range msgs {
		e, err := dec.Decode([]byte(m.Values["e"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		if e.Token < prev {
			t.Fatalf("the stream holds token %d after %d: a deposed leader's emission got in", e.Token, prev)
		}
		prev = e.Token
	}
	if m := b.Metrics(); m.StaleDropped != 0 || m.Takeovers != 1 {
		t.Fatalf("B: %+v", m)
	}
}

// TestFeedCheck: receivers count gaps under one leader, note a new leader without a gap,
// drop a deposed leader's emissions, and follow a token that went back (Redis lost its
// data) once it persists.
func TestFeedCheck(t *testing.T) {
	f := New(Config{Instance: "x", Logger: testenv.Logger()})
	steps := []struct {
		token, seq uint64
		keep       bool
	}{
		{10, 100, true}, {10, 101, true}, {10, 104, true}, // a gap of 2
		{9, 105, false},                    // deposed
		{12, 5000, true},                   // a new leader numbers on from the clock
		{12, 5001, true},                   //
		{3, 5002, false}, {3, 5003, false}, // lower...
		{3, 5004, true}, // ...three in a row: followed
		{3, 5005, true},
	}
	for i, s := range steps {
		if got := f.check(&bus.Emission{Token: s.token, Seq: s.seq}); got != s.keep {
			t.Fatalf("step %d (%d/%d): kept %v", i, s.token, s.seq, got)
		}
	}
	m := f.Metrics()
	if m.Gaps != 1 || m.Missed != 2 || m.LeaderChanges != 2 || m.StaleDropped != 3 || m.Token != 3 || m.Seq != 5005 {
		t.Fatalf("metrics: %+v", m)
	}
}
