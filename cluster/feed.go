package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/stream"
)

// Runner is the feed and detection engine the leader runs (market.Runner).
type Runner interface {
	Run(ctx context.Context) error
	Drain() market.Batch
	Health() error
	AddSymbols(symbols []string) (int, error)
	// Metrics, SymbolStates and SymbolView are the leader's figures and per-symbol data,
	// which it serves to the other instances (see figures.go).
	Metrics() market.Metrics
	SymbolStates(symbols []string) []market.SymbolState
	SymbolView(symbol string) (market.SymbolView, bool)
}

// Target renders and fans out emissions on this instance (stream.Publisher).
type Target interface {
	Publish(ctx context.Context, b stream.Batch)
}

// Config configures a Feed. Zero durations take the defaults named on each field.
type Config struct {
	Redis  redis.UniversalClient
	Prefix string // the deployment's key prefix, e.g. "tickstock:"
	// Instance names this process among the instances; it must be unique.
	Instance string
	Interval time.Duration // TICKSTOCK_EMIT_INTERVAL: the leader emits this often
	Logger   *slog.Logger
	// Bus tells the leader of universe changes (and a Redis bus gives its figures).
	Bus bus.Bus
	// Symbols lists what the feed should cover (every universe's symbols); the leader adds
	// new ones to its running feed when universes change. Nil: the feed keeps its start set.
	Symbols func(ctx context.Context) ([]string, error)
	// NewRunner builds the feed and the engine when this instance becomes the leader,
	// once per term: the engine's session state does not carry over from one leader to
	// the next (the simulator's warm-up makes trends ready at once; see the README).
	NewRunner func(ctx context.Context) (Runner, error)
	// LeaseTTL is the lease's time to live (default 5 s); the holder renews it every
	// RenewEvery (default 1.5 s) and steps down when it could not for 4/5 of the TTL, before
	// the lease can have expired.
	// Instances without it try to take it every AcquireEvery (default 1 s, ±20 %).
	LeaseTTL, RenewEvery, AcquireEvery time.Duration
	// ResumeWindow is how long this instance keeps the emissions it received, for resume
	// from another instance (default 60 s); the Redis stream keeps at least twice that.
	ResumeWindow time.Duration
	// StaleAfter is how long without an emission makes the feed unready (default 30 s).
	StaleAfter time.Duration
}

// Feed is one instance's part in the shared feed: it campaigns for the lease and, while
// it holds it, runs the feed and engine and adds each emission to the Redis stream; and on
// every instance, the leader's included, it reads the stream and hands each emission to
// the publisher, so every instance renders the same emissions under the same numbers.
type Feed struct {
	cfg   Config
	lease *Lease
	keys  Keys
	log   *slog.Logger

	start  time.Time
	maxLen int

	runner    atomic.Pointer[runnerBox]      // the leader's runner during a term
	figs      atomic.Pointer[market.Metrics] // the leader's feed figures, read from Redis
	askWarned atomic.Int64                   // Unix ns of the last warning of a failed ask
	holder    atomic.Pointer[string]
	snap      atomic.Pointer[market.Snapshot]
	feedErr   atomic.Pointer[string]
	lastAt    atomic.Int64 // Unix ns of the last emission received
	latency   atomic.Int64 // ns, the last emission's trip
	leading   atomic.Bool
	curToken  atomic.Uint64
	curSeq    atomic.Uint64
	lower     atomic.Uint64 // emissions in a row under a token below curToken

	gaps, missed, changes, stale, takeovers, fenced, reconnects, dropped atomic.Uint64

	histMu    sync.Mutex
	hist      []histEntry // received emissions, oldest first
	histBytes int
}

type runnerBox struct{ r Runner }

type histEntry struct {
	seq     uint64
	at      time.Time // received
	payload string
}

// maxHistBytes bounds the emissions kept in memory for resume.
const maxHistBytes = 64 << 20

// New builds a Feed. Run starts it.
func New(cfg Config) *Feed {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 5 * time.Second
	}
	if cfg.RenewEvery <= 0 {
		cfg.RenewEvery = cfg.LeaseTTL * 3 / 10
	}
	if cfg.AcquireEvery <= 0 {
		cfg.AcquireEvery = time.Second
	}
	if cfg.ResumeWindow <= 0 {
		cfg.ResumeWindow = time.Minute
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 30 * time.Second
	}
	keys := KeysFor(cfg.Prefix)
	f := &Feed{cfg: cfg, keys: keys, lease: NewLease(cfg.Redis, keys, cfg.Instance, cfg.LeaseTTL), log: cfg.Logger,
		start: time.Now(),
		// The stream keeps twice the resume window of emissions, at least 120 and at most
		// 20,000 (a 10 ms interval): about 2.4 MB at 1 s and 20 KB an emission.
		maxLen: int(min(max(2*cfg.ResumeWindow/cfg.Interval, 120), 20_000))}
	if cfg.Bus != nil {
		cfg.Bus.Subscribe(f.onBus)
	}
	return f
}

// Instance is this instance's name.
func (f *Feed) Instance() string { return f.cfg.Instance }

// Run takes part in the shared feed until ctx ends: it reads every emission into t,
// campaigns for the lease, and keeps the leader's feed figures (see FeedMetrics). When ctx
// ends, a leader stops its feed and releases the lease at once, so another instance takes
// over without waiting for the TTL.
func (f *Feed) Run(ctx context.Context, t Target) {
	var wg sync.WaitGroup
	wg.Go(func() { f.consume(ctx, t) })
	wg.Go(func() { f.campaign(ctx) })
	wg.Go(func() { f.readFigures(ctx) })
	wg.Wait()
}

// campaign tries to take the lease, and runs a term each time it does.
func (f *Feed) campaign(ctx context.Context) {
	failing := false
	for ctx.Err() == nil {
		sent := time.Now()
		actx, cancel := context.WithTimeout(ctx, f.cfg.AcquireEvery)
		g, holder, ok, err := f.lease.Acquire(actx)
		cancel()
		switch {
		case err != nil:
			if !failing && ctx.Err() == nil {
				f.log.Warn("cluster: cannot reach Redis to check the feed lease; retrying", "err", err)
			}
			failing = true
		case ok:
			failing = false
			f.term(ctx, g, sent)
			continue
		default:
			if failing {
				f.log.Info("cluster: Redis answers again; following the feed leader", "leader", holder)
			}
			failing = false
			f.holder.Store(&holder)
		}
		// ±20 % so instances that start together do not ask in lockstep.
		jitter := time.Duration(rand.Int64N(int64(f.cfg.AcquireEvery)*2/5+1)) - f.cfg.AcquireEvery/5
		sleep(ctx, f.cfg.AcquireEvery+jitter)
	}
}

// term is one spell as the leader: it runs a new feed and engine and emits until the
// lease is lost or ctx ends. sent is when the acquisition was sent: the lease surely runs
// until sent+TTL.
func (f *Feed) term(ctx context.Context, g Grant, sent time.Time) {
	f.takeovers.Add(1)
	inst := f.cfg.Instance
	f.holder.Store(&inst)
	log := f.log.With("instance", inst, "token", g.Token)
	log.Info("cluster: feed lease acquired; this instance runs the feed")

	tctx, stop := context.WithCancel(ctx)
	defer stop()
	release := func(why string) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if err := f.lease.Release(rctx, g); err != nil {
			log.Warn("cluster: could not release the feed lease; it expires by itself", "err", err)
		}
		log.Info("cluster: feed lease given up", "why", why)
	}

	r, err := f.cfg.NewRunner(tctx)
	if err != nil {
		log.Error("cluster: cannot start the feed; giving the lease up", "err", err)
		release("the feed did not start")
		sleep(ctx, 5*f.cfg.AcquireEvery) // let another instance try
		return
	}
	f.runner.Store(&runnerBox{r})
	f.leading.Store(true)

	lost := make(chan struct{})
	var once sync.Once
	lose := func() { once.Do(func() { close(lost) }) }
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := r.Run(tctx); err != nil && tctx.Err() == nil {
			log.Error("cluster: the feed stopped; emissions carry its error", "err", err)
		}
	})
	wg.Go(func() { f.emit(tctx, g, r, lose, log) })
	wg.Go(func() { f.writeFigures(tctx, r, log) })
	wg.Go(func() { f.serveAsks(tctx, r, log) })

	// The lease surely runs until sent+TTL; the leader steps down at 4/5 of that after its
	// last good renewal, whether or not a renewal is still waiting on Redis.
	margin := f.cfg.LeaseTTL * 4 / 5
	stepDown := time.NewTimer(margin - time.Since(sent))
	defer stepDown.Stop()
	renewed := sent
	t := time.NewTicker(f.cfg.RenewEvery)
	defer t.Stop()
	why := ""
	for why == "" {
		select {
		case <-ctx.Done():
			why = "shutting down"
		case <-lost:
			why = "an emission was fenced off: another instance holds the lease"
		case <-stepDown.C:
			why = "the lease could not be renewed in time"
		case <-t.C:
			at := time.Now()
			rctx, cancel := context.WithDeadline(tctx, minTime(at.Add(f.cfg.RenewEvery), renewed.Add(margin)))
			ok, err := f.lease.Renew(rctx, g)
			cancel()
			switch {
			case err == nil && ok:
				renewed = at
				stepDown.Reset(margin - time.Since(at))
			case err == nil:
				why = "the lease expired or was taken over"
			default:
				log.Warn("cluster: renewing the feed lease failed; retrying", "err", err)
			}
		}
	}
	f.leading.Store(false)
	f.runner.Store(nil)
	stop()
	wg.Wait()
	log.Info("cluster: the feed stopped on this instance", "why", why)
	release(why)
}

// emit drains the runner every interval and adds each emission to the stream, fenced by
// the lease. An emission that Redis cannot take waits and is retried, in order and under
// its number, before newer ones; one that waited too long is given up (receivers count
// the gap).
func (f *Feed) emit(ctx context.Context, g Grant, r Runner, lose func(), log *slog.Logger) {
	// Numbers go on from the stream's last, or from the clock when the stream is gone
	// (Redis restarted empty), so they never go back and every SSE id stays unique.
	var seq uint64
	for {
		lctx, cancel := context.WithTimeout(ctx, time.Second)
		last, err := f.lease.LastSeq(lctx)
		cancel()
		if err == nil {
			seq = max(last+1, uint64(time.Now().UnixMilli()))
			break
		}
		if ctx.Err() != nil {
			return
		}
		sleep(ctx, f.cfg.Interval)
	}
	maxQueue := max(int(10*time.Second/f.cfg.Interval), 16)
	type entry struct {
		seq     uint64
		payload []byte
	}
	var queue []entry
	failing := false
	t := time.NewTicker(f.cfg.Interval)
	defer t.Stop()
	for first := true; ; first = false {
		if !first { // the first emission goes out as soon as the warm-up ends: a takeover is quick
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		b := r.Drain() // waits for the warm-up on the first call
		if ctx.Err() != nil {
			return
		}
		if b.Dropped > 0 {
			log.Warn("cluster: the engine dropped events nobody drained in time", "dropped", b.Dropped)
		}
		feedErr := ""
		if err := r.Health(); err != nil {
			feedErr = err.Error()
		}
		at := time.Now().UnixMilli()
		events := b.Events
		for first := true; first || len(events) > 0; first = false {
			chunk := events[:min(len(events), bus.MaxEmissionEvents)]
			events = events[len(chunk):]
			payload, err := bus.AppendEmission(nil, &bus.Emission{Token: g.Token, Seq: seq, At: at,
				FeedError: feedErr, Events: chunk, Snapshot: b.Snapshot})
			if err != nil {
				log.Error("cluster: cannot encode an emission; its events are lost", "seq", seq, "events", len(chunk), "err", err)
				continue
			}
			queue = append(queue, entry{seq, payload})
			seq++
		}
		if over := len(queue) - maxQueue; over > 0 {
			f.dropped.Add(uint64(over))
			log.Error("cluster: Redis has refused emissions for too long; the oldest are given up", "emissions", over)
			queue = append(queue[:0], queue[over:]...)
		}
		for len(queue) > 0 {
			actx, cancel := context.WithTimeout(ctx, time.Second)
			err := f.lease.Add(actx, g, queue[0].seq, f.maxLen, queue[0].payload)
			cancel()
			if errors.Is(err, ErrFenced) {
				f.fenced.Add(1)
				log.Warn("cluster: emission fenced off: this instance no longer holds the feed lease", "seq", queue[0].seq)
				lose()
				return
			}
			if err != nil && !errors.Is(err, errSeqTaken) {
				if !failing && ctx.Err() == nil {
					log.Warn("cluster: cannot add emissions to the stream; they wait", "err", err)
				}
				failing = true
				break
			}
			if failing {
				log.Info("cluster: emissions flow again", "waiting", len(queue))
				failing = false
			}
			queue = queue[1:]
		}
	}
}

// consume reads the emission stream from the newest entry on, and hands each emission to
// t. After a Redis outage it goes on from the last entry it read, so it catches up on
// what the stream still holds.
func (f *Feed) consume(ctx context.Context, t Target) {
	var dec bus.EmissionDecoder
	last := ""
	backoff := 100 * time.Millisecond
	failing := false
	fail := func(err error) {
		if !failing && ctx.Err() == nil {
			f.reconnects.Add(1)
			f.log.Warn("cluster: cannot read the emission stream; retrying", "err", err)
		}
		failing = true
		sleep(ctx, backoff)
		backoff = min(2*backoff, 2*time.Second)
	}
	for ctx.Err() == nil {
		if last == "" {
			msgs, err := f.cfg.Redis.XRevRangeN(ctx, f.keys.Stream, "+", "-", 1).Result()
			if err != nil {
				fail(err)
				continue
			}
			last = "0-0"
			if len(msgs) == 1 {
				// The newest entry gives the market figures at once, unless it is old
				// (a stream left by an earlier run, with no leader since).
				if f.recent(msgs[0]) {
					f.deliver(ctx, t, &dec, msgs)
				}
				last = msgs[0].ID
			}
		}
		res, err := f.cfg.Redis.XRead(ctx, &redis.XReadArgs{Streams: []string{f.keys.Stream, last},
			Count: 256, Block: 2 * time.Second}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			fail(err)
			continue
		}
		if failing {
			f.log.Info("cluster: reading the emission stream again", "after", last)
			failing, backoff = false, 100*time.Millisecond
		}
		for _, s := range res {
			if len(s.Messages) > 0 {
				f.deliver(ctx, t, &dec, s.Messages)
				last = s.Messages[len(s.Messages)-1].ID
			}
		}
	}
}

// deliver checks and publishes entries, in order. Entries that arrive late (a catch-up
// after an outage) are merged into one emission, so a burst of old emissions does not
// overflow every connection's queue; current ones go out one by one.
func (f *Feed) deliver(ctx context.Context, t Target, dec *bus.EmissionDecoder, msgs []redis.XMessage) {
	var merged *stream.Batch
	flush := func() {
		if merged != nil {
			t.Publish(ctx, *merged)
			merged = nil
		}
	}
	lateBefore := time.Now().Add(-max(2*f.cfg.Interval, 2*time.Second)).UnixMilli()
	for i, m := range msgs {
		payload, _ := m.Values["e"].(string)
		e, err := dec.Decode([]byte(payload))
		if err != nil {
			f.log.Warn("cluster: unreadable emission skipped", "id", m.ID, "err", err)
			continue
		}
		if !f.check(e) {
			continue
		}
		f.keep(e.Seq, payload)
		f.received(e)
		b := stream.Batch{Seq: e.Seq, Events: e.Events, Snapshot: e.Snapshot, At: time.UnixMilli(e.At)}
		if e.At < lateBefore && i < len(msgs)-1 {
			if merged == nil {
				merged = &stream.Batch{}
			}
			merged.Seq, merged.At = b.Seq, b.At
			merged.Events = append(merged.Events, b.Events...)
			if b.Snapshot != nil {
				merged.Snapshot = b.Snapshot
			}
			continue
		}
		if merged != nil {
			merged.Seq, merged.At = b.Seq, b.At
			merged.Events = append(merged.Events, b.Events...)
			if b.Snapshot != nil {
				merged.Snapshot = b.Snapshot
			}
			flush()
			continue
		}
		t.Publish(ctx, b)
	}
	flush()
}

// recent reports whether a stream entry was made within StaleAfter.
func (f *Feed) recent(m redis.XMessage) bool {
	var dec bus.EmissionDecoder
	payload, _ := m.Values["e"].(string)
	e, err := dec.Decode([]byte(payload))
	return err == nil && time.Since(time.UnixMilli(e.At)) < f.cfg.StaleAfter
}

// rebaseAfter is how many emissions in a row under a lower token make a receiver accept
// that token. Only the lease holder can add to the stream (the add is fenced in Redis),
// so a lower token there means Redis lost its data and a leader whose clock runs behind
// took over: dropping it for good would stop the feed everywhere.
const rebaseAfter = 3

// check applies the fencing and sequence rules to an arriving emission: one of an older
// leader than already seen is dropped; a new leader is noted; a skipped number under the
// same leader is a gap, logged and counted.
func (f *Feed) check(e *bus.Emission) bool {
	cur := f.curToken.Load()
	switch {
	case e.Token < cur && f.lower.Add(1) < rebaseAfter:
		f.stale.Add(1)
		f.log.Warn("cluster: emission of a deposed feed leader dropped", "token", e.Token, "current", cur, "seq", e.Seq)
		return false
	case e.Token < cur:
		f.log.Warn("cluster: the fencing token went back (Redis lost its data?); following the new leader",
			"token", e.Token, "was", cur)
		f.changes.Add(1)
		f.curToken.Store(e.Token)
		f.lower.Store(0)
	case e.Token > cur:
		f.lower.Store(0)
		if cur != 0 {
			f.changes.Add(1)
			f.log.Info("cluster: emissions from a new feed leader", "token", e.Token, "seq", e.Seq)
		}
		f.curToken.Store(e.Token)
	default:
		f.lower.Store(0)
		if last := f.curSeq.Load(); e.Seq != last+1 {
			f.gaps.Add(1)
			if e.Seq > last {
				f.missed.Add(e.Seq - last - 1)
			}
			f.log.Warn("cluster: gap in the emissions", "after", last, "next", e.Seq, "missed", e.Seq-last-1)
		}
	}
	f.curSeq.Store(e.Seq)
	return true
}

// received records an emission's figures for Summary, Health and Metrics.
func (f *Feed) received(e *bus.Emission) {
	now := time.Now()
	f.lastAt.Store(now.UnixNano())
	f.latency.Store(int64(now.Sub(time.UnixMilli(e.At))))
	if e.Snapshot != nil {
		f.snap.Store(e.Snapshot)
	}
	fe := e.FeedError
	f.feedErr.Store(&fe)
}

// keep remembers an emission's bytes for resume, within the window and the byte bound.
func (f *Feed) keep(seq uint64, payload string) {
	now := time.Now()
	f.histMu.Lock()
	defer f.histMu.Unlock()
	f.hist = append(f.hist, histEntry{seq: seq, at: now, payload: payload})
	f.histBytes += len(payload)
	drop := 0
	for drop < len(f.hist)-1 && (now.Sub(f.hist[drop].at) > f.cfg.ResumeWindow+2*f.cfg.Interval ||
		len(f.hist)-drop > f.maxLen || f.histBytes > maxHistBytes) {
		f.histBytes -= len(f.hist[drop].payload)
		drop++
	}
	if drop > 0 {
		n := copy(f.hist, f.hist[drop:])
		clear(f.hist[n:])
		f.hist = f.hist[:n]
	}
}

// History returns the emissions numbered from `from` on, oldest first, as the leader made
// them: from this instance's memory when it received them, or else from the Redis stream.
// The publisher calls it when a stream resumes here with an id another instance issued
// for a settings group this instance was not rendering.
func (f *Feed) History(ctx context.Context, from uint64) ([]stream.Batch, error) {
	var payloads []string
	f.histMu.Lock()
	if len(f.hist) > 0 && f.hist[0].seq <= from {
		for _, h := range f.hist {
			if h.seq >= from {
				payloads = append(payloads, h.payload)
			}
		}
	}
	f.histMu.Unlock()
	if payloads == nil {
		msgs, err := f.cfg.Redis.XRangeN(ctx, f.keys.Stream, fmt.Sprintf("%d-0", from), "+", int64(f.maxLen)).Result()
		if err != nil {
			return nil, fmt.Errorf("cluster: read emissions for resume: %w", err)
		}
		for _, m := range msgs {
			p, _ := m.Values["e"].(string)
			payloads = append(payloads, p)
		}
	}
	var dec bus.EmissionDecoder
	out := make([]stream.Batch, 0, len(payloads))
	for _, p := range payloads {
		e, err := dec.Decode([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("cluster: read emissions for resume: %w", err)
		}
		out = append(out, stream.Batch{Seq: e.Seq, Events: e.Events, Snapshot: e.Snapshot, At: time.UnixMilli(e.At)})
	}
	return out, nil
}

// Summary is the market summary over sel's symbols from the latest emission's figures,
// for page loads on any instance (which share sel's summary of each emission).
func (f *Feed) Summary(sel *market.Selection) market.Summary {
	return f.snap.Load().SummaryOf(sel)
}

// Health is nil while emissions arrive from a live feed. It reports the leader's feed
// error once its feed stopped for good, and an error when no emission arrived for
// StaleAfter (no instance can run the feed, or this one cannot read the stream).
func (f *Feed) Health() error {
	if fe := f.feedErr.Load(); fe != nil && *fe != "" {
		return fmt.Errorf("%w: the leader reports: %s", market.ErrFeedStopped, *fe)
	}
	last := f.start
	if ns := f.lastAt.Load(); ns != 0 {
		last = time.Unix(0, ns)
	}
	if since := time.Since(last); since > f.cfg.StaleAfter {
		return fmt.Errorf("cluster: no emission from the feed leader for %s", since.Round(time.Second))
	}
	return nil
}

// onBus applies the bus messages the feed cares about: when universes change (an admin
// edit, a watchlist's new symbols), the leader reloads the symbols the feed should cover and adds the
// new ones to its running feed.
func (f *Feed) onBus(m bus.Message) {
	switch m.(type) {
	case bus.UniversesChanged, bus.SymbolsAdded, bus.Resync:
	default:
		return
	}
	b := f.runner.Load()
	if b == nil || f.cfg.Symbols == nil {
		return
	}
	go func() { // it reads the database and the feed may subscribe: not on the bus's goroutine
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		syms, err := f.cfg.Symbols(ctx)
		if err == nil {
			_, err = b.r.AddSymbols(syms)
		}
		if err != nil {
			f.log.Warn("cluster: the feed's symbols were not brought up to date", "err", err)
		}
	}()
}

// Metrics are this instance's figures about the shared feed.
type Metrics struct {
	Instance string `json:"instance"`
	// Role is "leader" while this instance runs the feed, else "follower".
	Role string `json:"role"`
	// LeaseHolder is the instance that held the lease when this one last looked.
	LeaseHolder string `json:"lease_holder"`
	// Token and Seq are the fencing token and number of the last emission received.
	Token uint64 `json:"token"`
	Seq   uint64 `json:"seq"`
	// Gaps counts skipped numbers under one leader, and Missed the emissions skipped.
	Gaps   uint64 `json:"gaps"`
	Missed uint64 `json:"missed"`
	// LeaderChanges counts emissions arriving under a new token; StaleDropped those of a
	// deposed leader, dropped.
	LeaderChanges uint64 `json:"leader_changes"`
	StaleDropped  uint64 `json:"stale_dropped"`
	// Takeovers counts the terms this instance began as the leader; Fenced its emissions
	// refused after it lost the lease; Dropped those it gave up on while Redis refused them.
	Takeovers uint64 `json:"takeovers"`
	Fenced    uint64 `json:"fenced"`
	Dropped   uint64 `json:"dropped"`
	// Reconnects counts the times reading the stream failed and had to start again.
	Reconnects uint64 `json:"reconnects"`
	// LatencyMs is the last emission's trip from the leader's stamp to its arrival here.
	LatencyMs float64 `json:"latency_ms"`
	// Bus is the invalidation bus's figures, when it is the Redis one.
	Bus *bus.RedisMetrics `json:"bus,omitempty"`
}

// Metrics returns a copy of the figures; it does no I/O.
func (f *Feed) Metrics() Metrics {
	m := Metrics{Instance: f.cfg.Instance, Role: "follower", Token: f.curToken.Load(), Seq: f.curSeq.Load(),
		Gaps: f.gaps.Load(), Missed: f.missed.Load(), LeaderChanges: f.changes.Load(), StaleDropped: f.stale.Load(),
		Takeovers: f.takeovers.Load(), Fenced: f.fenced.Load(), Dropped: f.dropped.Load(),
		Reconnects: f.reconnects.Load(), LatencyMs: float64(f.latency.Load()) / 1e6}
	if f.leading.Load() {
		m.Role = "leader"
	}
	if h := f.holder.Load(); h != nil {
		m.LeaseHolder = *h
	}
	if rb, ok := f.cfg.Bus.(interface{ Metrics() bus.RedisMetrics }); ok {
		bm := rb.Metrics()
		m.Bus = &bm
	}
	return m
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
