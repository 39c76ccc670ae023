package bus

import (
	"context"
	"encoding/json"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/internal/faultproxy"
	"github.com/tickstock/tickstock/internal/testenv"
)

// recorder collects what a bus delivers to one handler.
type recorder struct {
	mu  sync.Mutex
	got []Message
}

func (r *recorder) handle(m Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, m)
}

func (r *recorder) messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.got...)
}

// waitFor polls until cond holds or 10 s pass.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mustRedisBus starts a Redis bus on channel for instance, through client, stopped when
// tb ends.
func mustRedisBus(tb testing.TB, client redis.UniversalClient, channel, instance string, idle time.Duration) (*Redis, *recorder) {
	tb.Helper()
	b := NewRedis(RedisConfig{Client: client, Channel: channel, Instance: instance, Logger: testenv.Logger(), IdleTimeout: idle})
	rec := &recorder{}
	b.Subscribe(rec.handle)
	ctx, cancel := context.WithCancel(context.Background())
	if err := b.Start(ctx); err != nil {
		cancel()
		tb.Fatalf("start bus %s: %v", instance, err)
	}
	tb.Cleanup(func() { cancel(); b.Wait() })
	return b, rec
}

// TestRedisBusAcrossInstances: every message type published on one instance reaches the
// other's handlers once, and the publisher's own handlers before Publish returns, never a
// second time through the echo. This covers embed and token revocations, whose end-to-end
// streams are built elsewhere.
func TestRedisBusAcrossInstances(t *testing.T) {
	client, prefix := testenv.MustRedis(t)
	a, recA := mustRedisBus(t, client, prefix+"bus", "a", 0)
	_, recB := mustRedisBus(t, client, prefix+"bus", "b", 0)
	// Another deployment on the same Redis (another channel) hears nothing.
	_, recOther := mustRedisBus(t, client, prefix+"other", "c", 0)

	ctx := context.Background()
	for i, m := range samples {
		if err := a.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		if n := len(recA.messages()); n != i+1 {
			t.Fatalf("after publishing %d messages A's handler had %d: local delivery must be synchronous", i+1, n)
		}
	}
	waitFor(t, "B to hear every message", func() bool { return len(recB.messages()) >= len(samples) })
	if got := recB.messages(); !reflect.DeepEqual(got, samples) {
		t.Fatalf("B heard %#v, want %#v", got, samples)
	}
	waitFor(t, "A's echoes", func() bool { return a.Metrics().Echoes >= uint64(len(samples)) })
	if got := recA.messages(); !reflect.DeepEqual(got, samples) {
		t.Fatalf("A handled %#v: its own messages must not come back", got)
	}
	if n := len(recOther.messages()); n != 0 {
		t.Fatalf("a bus on another channel heard %d messages", n)
	}
	if m := a.Metrics(); m.Published != uint64(len(samples)) || !m.Connected {
		t.Fatalf("metrics of A: %+v", m)
	}
	// Junk on the channel is skipped and counted.
	client.Publish(ctx, prefix+"bus", "not json")
	client.Publish(ctx, prefix+"bus", `{"from":"x","msg":{"kind":"nope","data":{}}}`)
	client.Publish(ctx, prefix+"bus", `{"msg":{"kind":"resync","data":{}}}`)
	_, recD := mustRedisBus(t, client, prefix+"bus", "d", 0)
	waitFor(t, "junk counted", func() bool { return a.Metrics().DecodeErrors == 3 })
	if err := a.Publish(ctx, EmbedRevoked{EmbedID: "after-junk"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a message after junk", func() bool { return len(recD.messages()) == 1 })
}

// TestRedisBusResyncsAfterReconnect: when the subscription's connection breaks (Redis
// restarts, the network drops it) or stops answering (a stalled server), the bus
// reconnects by itself and delivers Resync locally, since messages may have been missed;
// messages flow again afterwards. Publishing while Redis is away is a 503-class error,
// and the message is still applied on this instance.
func TestRedisBusResyncsAfterReconnect(t *testing.T) {
	direct, prefix := testenv.MustRedis(t)
	p := faultproxy.MustStart(t, testenv.MustHostPort(t, testenv.RedisURL()))
	viaProxy := redis.NewClient(&redis.Options{Addr: p.Addr(), DialTimeout: 300 * time.Millisecond,
		ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { viaProxy.Close() })
	follower, rec := mustRedisBus(t, viaProxy, prefix+"bus", "follower", 300*time.Millisecond)
	leader, _ := mustRedisBus(t, direct, prefix+"bus", "leader", 0)
	ctx := context.Background()

	resyncs := func() int {
		n := 0
		for _, m := range rec.messages() {
			if _, ok := m.(Resync); ok {
				n++
			}
		}
		return n
	}
	heard := func(id string) func() bool {
		return func() bool {
			for _, m := range rec.messages() {
				if m == (TokenRevoked{TokenID: id}) {
					return true
				}
			}
			return false
		}
	}

	// A dropped connection (a restart, a failover).
	p.DropAll()
	waitFor(t, "a resync after the connection dropped", func() bool { return resyncs() == 1 })
	leader.Publish(ctx, TokenRevoked{TokenID: "after-drop"})
	waitFor(t, "a message after the reconnect", heard("after-drop"))

	// Redis gone for a while: publishing fails with EUNAVAILABLE but applies locally.
	p.Down()
	var local []Message
	follower.Subscribe(func(m Message) { local = append(local, m) })
	err := follower.Publish(ctx, SettingsChanged{UserID: 5})
	if tickstock.ErrorCode(err) != tickstock.EUNAVAILABLE {
		t.Fatalf("publish with Redis down: %v, want EUNAVAILABLE", err)
	}
	if len(local) != 1 || local[0] != (SettingsChanged{UserID: 5}) {
		t.Fatalf("a failed publish was not applied locally: %v", local)
	}
	leader.Publish(ctx, TokenRevoked{TokenID: "missed"}) // the follower cannot hear this one
	time.Sleep(700 * time.Millisecond)
	p.Up()
	waitFor(t, "a resync after Redis came back", func() bool { return resyncs() == 2 })
	leader.Publish(ctx, TokenRevoked{TokenID: "after-outage"})
	waitFor(t, "a message after the outage", heard("after-outage"))

	// A stalled connection: nothing arrives, the ping goes unanswered, and the bus gives the
	// connection up (a connection kept would simply resume, with no resync).
	p.Stall(true)
	stallStart := time.Now()
	waitFor(t, "the stalled subscription to be given up", func() bool { return !follower.Metrics().Connected })
	t.Logf("stalled subscription given up after %s", time.Since(stallStart).Round(time.Millisecond))
	p.Stall(false)
	waitFor(t, "a resync after the stall", func() bool { return resyncs() == 3 })
	leader.Publish(ctx, TokenRevoked{TokenID: "after-stall"})
	waitFor(t, "a message after the stall", heard("after-stall"))
	if m := follower.Metrics(); m.Resyncs != 3 || !m.Connected {
		t.Fatalf("follower metrics: %+v", m)
	}
}

func FuzzDecodeWire(f *testing.F) {
	for _, m := range samples {
		b, _ := Encode(m)
		w, _ := json.Marshal(wire{From: "i", Msg: b})
		f.Add(w)
	}
	f.Add([]byte(`{"from":"x","msg":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		from, m, err := decodeWire(b)
		if err != nil {
			return
		}
		if from == "" || m == nil {
			t.Fatalf("decoded %q %v without error", from, m)
		}
		if _, err := Encode(m); err != nil {
			t.Fatalf("a decoded message does not encode: %v", err)
		}
	})
}
