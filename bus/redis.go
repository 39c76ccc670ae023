package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/rdb"
)

// Redis is the bus shared by several instances, over Redis pub/sub. Publish applies a
// message on this instance first (handlers run before it returns, as with Local), then
// publishes it on one channel; every instance's receiving loop hands it to its handlers,
// skipping its own echo.
//
// Pub/sub is fire-and-forget: an instance whose subscription breaks misses what is sent
// meanwhile. So after every reconnect the loop delivers Resync to the local handlers,
// which drop caches and re-check open streams, as if every missed message had arrived.
// A connection that stops answering (a stalled server or network) is noticed by a ping
// after IdleTimeout of silence and replaced.
type Redis struct {
	rdb     redis.UniversalClient
	channel string
	id      string
	log     *slog.Logger
	idle    time.Duration

	mu       sync.RWMutex
	handlers []Handler

	psMu   sync.Mutex
	ps     *redis.PubSub
	closed bool
	done   chan struct{}

	subscribed bool // the first subscription was confirmed (loop goroutine only)
	connected  atomic.Bool
	published  atomic.Uint64
	received   atomic.Uint64
	echoes     atomic.Uint64
	bad        atomic.Uint64
	resyncs    atomic.Uint64
}

// RedisConfig configures a Redis bus.
type RedisConfig struct {
	Client  redis.UniversalClient
	Channel string // e.g. "tickstock:bus"; every instance of one deployment uses the same
	// Instance names this process; messages it published come back under it and are
	// skipped. It must be unique among the instances.
	Instance string
	Logger   *slog.Logger
	// IdleTimeout is how long the subscription may stay silent before a ping checks it
	// (default 5 s); with no answer within as long again it is replaced.
	IdleTimeout time.Duration
}

// NewRedis builds a Redis bus. Call Start before relying on messages from other instances.
func NewRedis(cfg RedisConfig) *Redis {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Second
	}
	return &Redis{rdb: cfg.Client, channel: cfg.Channel, id: cfg.Instance, log: cfg.Logger,
		idle: cfg.IdleTimeout, done: make(chan struct{})}
}

// wire is a message on the Redis channel: the sender and the Encode envelope.
type wire struct {
	From string          `json:"from"`
	Msg  json.RawMessage `json:"msg"`
}

// decodeWire reads a message from the channel. It never panics, whatever the bytes
// (FuzzDecodeWire).
func decodeWire(b []byte) (string, Message, error) {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return "", nil, fmt.Errorf("bus: decode redis message: %w", err)
	}
	if w.From == "" {
		return "", nil, errors.New("bus: decode redis message: no sender")
	}
	m, err := Decode(w.Msg)
	if err != nil {
		return "", nil, err
	}
	return w.From, m, nil
}

// Publish implements Bus. The error, when Redis cannot take the message, is the app's
// EUNAVAILABLE (rdb.Err); this instance has applied m regardless.
func (r *Redis) Publish(ctx context.Context, m Message) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	got, err := Decode(b)
	if err != nil {
		return err
	}
	r.deliver(got)
	payload, err := json.Marshal(wire{From: r.id, Msg: b})
	if err != nil {
		return fmt.Errorf("bus: encode redis message: %w", err)
	}
	if err := r.rdb.Publish(ctx, r.channel, payload).Err(); err != nil {
		return rdb.Err("publish "+m.Kind()+" on the bus", err)
	}
	r.published.Add(1)
	return nil
}

// Subscribe implements Bus.
func (r *Redis) Subscribe(h Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers = append(r.handlers[:len(r.handlers):len(r.handlers)], h)
}

func (r *Redis) deliver(m Message) {
	r.mu.RLock()
	hs := r.handlers
	r.mu.RUnlock()
	for _, h := range hs {
		h(m)
	}
}

// Start subscribes, waits until Redis confirms (for at most IdleTimeout), and then
// receives messages in the background until ctx ends. Wait returns when that loop has
// stopped.
func (r *Redis) Start(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, r.idle)
	defer cancel()
	ps := r.rdb.Subscribe(ctx)
	if err := ps.Subscribe(sctx, r.channel); err != nil {
		ps.Close()
		return rdb.Err("subscribe to the bus", err)
	}
	for {
		msg, err := ps.ReceiveTimeout(sctx, r.idle)
		if err != nil {
			ps.Close()
			return rdb.Err("subscribe to the bus", err)
		}
		if s, ok := msg.(*redis.Subscription); ok && s.Kind == "subscribe" {
			break
		}
	}
	r.subscribed = true
	r.connected.Store(true)
	r.psMu.Lock()
	r.ps = ps
	r.psMu.Unlock()
	go func() {
		<-ctx.Done()
		r.psMu.Lock()
		r.closed = true
		if r.ps != nil {
			r.ps.Close() // unblocks the receive
		}
		r.psMu.Unlock()
	}()
	go r.loop(ctx)
	return nil
}

// Wait blocks until the loop started by Start has stopped.
func (r *Redis) Wait() { <-r.done }

// loop receives until ctx ends. go-redis reconnects and resubscribes a broken PubSub on
// the next receive; a silent one is pinged, and replaced when the ping goes unanswered.
func (r *Redis) loop(ctx context.Context) {
	defer close(r.done)
	backoff := 100 * time.Millisecond
	pinged := false
	for ctx.Err() == nil {
		ps := r.current(ctx)
		if ps == nil {
			return
		}
		msg, err := ps.ReceiveTimeout(ctx, r.idle)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if timeout(err) {
				if pinged {
					r.log.Warn("bus: the Redis subscription stopped answering; reconnecting", "channel", r.channel)
					r.replace(ps)
					pinged = false
					continue
				}
				pinged = ps.Ping(ctx) == nil
				continue
			}
			if r.connected.Swap(false) {
				r.log.Warn("bus: Redis subscription lost; reconnecting (missed messages are made up by a resync)",
					"channel", r.channel, "err", err)
			}
			pinged = false
			sleep(ctx, backoff)
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		pinged, backoff = false, 100*time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				r.resubscribed()
			}
		case *redis.Message:
			r.receive([]byte(m.Payload))
		}
	}
}

// current returns the PubSub to receive on, making a new one after replace.
func (r *Redis) current(ctx context.Context) *redis.PubSub {
	r.psMu.Lock()
	defer r.psMu.Unlock()
	if r.closed {
		return nil
	}
	if r.ps == nil {
		r.ps = r.rdb.Subscribe(ctx, r.channel) // connects lazily; errors show on receive
	}
	return r.ps
}

// replace drops a PubSub whose connection hangs, so the next receive dials afresh.
func (r *Redis) replace(ps *redis.PubSub) {
	r.connected.Store(false)
	r.psMu.Lock()
	if r.ps == ps {
		r.ps = nil
	}
	r.psMu.Unlock()
	ps.Close()
}

// resubscribed handles a subscription confirmed after the first: messages may have been
// missed, so local handlers resync.
func (r *Redis) resubscribed() {
	r.connected.Store(true)
	if !r.subscribed {
		r.subscribed = true
		return
	}
	r.resyncs.Add(1)
	r.log.Info("bus: Redis subscription back; resyncing caches and open streams", "channel", r.channel)
	r.deliver(Resync{})
}

func (r *Redis) receive(b []byte) {
	from, m, err := decodeWire(b)
	if err != nil {
		r.bad.Add(1)
		r.log.Warn("bus: message skipped", "channel", r.channel, "err", err)
		return
	}
	if from == r.id {
		r.echoes.Add(1)
		return
	}
	r.received.Add(1)
	r.deliver(m)
}

// RedisMetrics are a Redis bus's counters.
type RedisMetrics struct {
	Connected    bool   `json:"connected"`
	Published    uint64 `json:"published"`
	Received     uint64 `json:"received"`      // from other instances
	Echoes       uint64 `json:"echoes"`        // own messages coming back, skipped
	DecodeErrors uint64 `json:"decode_errors"` // unreadable messages, skipped
	Resyncs      uint64 `json:"resyncs"`       // reconnects after which everything was re-checked
}

// Metrics returns a copy of the bus's counters.
func (r *Redis) Metrics() RedisMetrics {
	return RedisMetrics{Connected: r.connected.Load(), Published: r.published.Load(), Received: r.received.Load(),
		Echoes: r.echoes.Load(), DecodeErrors: r.bad.Load(), Resyncs: r.resyncs.Load()}
}

func timeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
