package stream

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
)

// Settings is what the publisher needs from the settings service.
type Settings interface {
	Get(ctx context.Context, userID int64) (settings.UserSettings, error)
	LoadMany(ctx context.Context, userIDs []int64) (map[int64]settings.UserSettings, error)
	Matcher(ctx context.Context, st settings.Settings) (*settings.Matcher, error)
	// TrackerSymbols resolves one tracker's universes, a user's own watchlists
	// ("WL:<name>") included, to their symbols.
	TrackerSymbols(ctx context.Context, st settings.Settings, tracker string) (settings.SymbolSet, error)
}

// Config configures a Publisher. Zero values take the defaults named on each field.
type Config struct {
	Hub      *Hub
	Source   Source
	Settings Settings
	Logger   *slog.Logger  // default slog.Default()
	Interval time.Duration // TICKSTOCK_EMIT_INTERVAL, default 1 s
	// LoadTimeout bounds the settings reads of one emission, and of an Attach whose user's
	// settings are already known (default Interval/4, between 10 ms and 1 s). When it runs
	// out, users keep their last known settings.
	LoadTimeout time.Duration
	// ResumeWindow is how long emissions are kept for Last-Event-ID resume, also after a
	// settings group's last stream has left (default 60 s).
	ResumeWindow time.Duration
	// ResumeMax bounds the kept emissions by count (default 120), and ResumeBytes by the
	// bytes of all groups' renderings together (default 64 MiB). The oldest go first.
	ResumeMax   int
	ResumeBytes int64
	// MaxBehind is how many emissions in a row may drop messages before a connection is
	// closed as too slow (default 5).
	MaxBehind int
	// MaxDeferred is how many emissions in a row may wait for streams whose settings are
	// unknown before those streams are closed so the others go on (default 10).
	MaxDeferred int
	// RebuildEvery is how often a group's matcher and market universe are rebuilt, so admin
	// edits to universes reach running streams (default 1 min).
	RebuildEvery time.Duration
	// History, when set, serves resumes that this instance's own buffer cannot (see
	// Attach): a cluster.Feed reads them from the emissions it received or from Redis.
	History History
	Now     func() time.Time
	// Bus, when set, tells the publisher of universe edits (bus.UniversesChanged): every
	// group's matcher and market universe are rebuilt at the next emission, so open streams
	// follow an admin's edit without waiting for RebuildEvery.
	Bus bus.Bus
}

// Publisher runs every Interval: it takes the new events, groups the connected users by
// distinct settings, filters and renders each group's fragments once, offers the same bytes
// to every connection in the group, and keeps them for resume. It never waits on a socket,
// and never holds its lock across I/O: settings are read before the lock is taken, under a
// deadline, and a user whose settings cannot be read keeps the last known ones.
type Publisher struct {
	cfg Config

	emitMu sync.Mutex // one emission at a time; held while reading settings, never by Attach
	mu     ctxLock    // everything below; held for CPU work only

	seq      uint64 // the last emission's number
	groups   map[string]*group
	users    map[int64]*userState
	log      []logged // the kept emissions, oldest first
	logBytes int64
	pending  []Batch // batches waiting for an emission that can be made
	merged   []market.Event

	// Rendering scratch, reused between emissions.
	scratch filtered
	rows    rowCache
	html    bytes.Buffer
	events  []market.Event // the emission being rendered

	out *dispatch // the emission's deliveries, under emitMu

	// Loading scratch, under emitMu.
	keys settings.KeyMemo
	ids  []int64
	list []settings.UserSettings

	emissions   atomic.Int64
	lastEmitNs  atomic.Int64
	lastEmitAt  atomic.Int64 // Unix ns
	dropped     atomic.Int64
	disconnects atomic.Int64
	deferred    atomic.Int64
	stale       atomic.Int64
	resumes     atomic.Int64
	resets      atomic.Int64
	repeats     atomic.Int64
	failing     atomic.Bool
	universes   atomic.Uint64 // bumped by every universe edit; groups built before are stale
	durations   histogram     // how long emissions take
}

// logged is one kept emission, for the count, age and byte bounds of the resume buffer.
type logged struct {
	seq   uint64
	at    time.Time
	bytes int64
}

// NewPublisher builds a publisher.
func NewPublisher(cfg Config) *Publisher {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.LoadTimeout <= 0 {
		cfg.LoadTimeout = min(max(cfg.Interval/4, 10*time.Millisecond), time.Second)
	}
	if cfg.ResumeWindow <= 0 {
		cfg.ResumeWindow = 60 * time.Second
	}
	if cfg.ResumeMax <= 0 {
		cfg.ResumeMax = 120
	}
	if cfg.ResumeBytes <= 0 {
		cfg.ResumeBytes = 64 << 20
	}
	if cfg.MaxBehind <= 0 {
		cfg.MaxBehind = 5
	}
	if cfg.MaxDeferred <= 0 {
		cfg.MaxDeferred = 10
	}
	if cfg.RebuildEvery <= 0 {
		cfg.RebuildEvery = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Publisher{cfg: cfg, mu: newCtxLock(), groups: make(map[string]*group), users: make(map[int64]*userState)}
	if cfg.Bus != nil {
		cfg.Bus.Subscribe(func(m bus.Message) {
			if _, ok := m.(bus.UniversesChanged); ok {
				p.UniversesChanged()
			}
		})
	}
	return p
}

// UniversesChanged marks every group's matcher stale, so the next emission rebuilds them
// with the universes' current symbols. It never waits: the bus calls it.
func (p *Publisher) UniversesChanged() { p.universes.Add(1) }

// Run emits every Interval until ctx ends.
func (p *Publisher) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			p.Emit(ctx)
		}
	}
}

// Emit takes the source's next batch and publishes it.
func (p *Publisher) Emit(ctx context.Context) {
	p.Publish(ctx, p.cfg.Source.Next())
}

// Publish makes one emission of b, together with any batches still waiting, and offers it
// to every connection. A batch is never thrown away: when the emission cannot be made (a
// connected user's settings are unknown and cannot be read), its events wait and go out,
// in order and once, with the next emission that can.
func (p *Publisher) Publish(ctx context.Context, b Batch) {
	p.emitMu.Lock()
	defer p.emitMu.Unlock()
	start := time.Now()

	p.mu.Lock()
	ok := p.enqueue(b)
	p.mu.Unlock()
	if !ok {
		return
	}

	ld := p.load(ctx) // I/O, outside the lock, under a deadline

	p.mu.Lock()
	now := p.cfg.Now()
	p.apply(ld, now)
	p.out = p.dispatch()
	ok = p.emit(ctx, now)
	p.out.finish()
	p.mu.Unlock()
	// The sockets' writes may still be going on: the emission is over when they are, so the
	// next one cannot overtake it.
	defer p.out.wait()
	if !ok {
		return
	}
	took := time.Since(start)
	p.emissions.Add(1)
	p.lastEmitNs.Store(int64(took))
	p.durations.observe(took)
	p.lastEmitAt.Store(now.UnixNano())
}

// enqueue adds b to the pending batches, unless it repeats an upstream number already seen.
func (p *Publisher) enqueue(b Batch) bool {
	if b.Seq != 0 {
		last := p.seq
		if n := len(p.pending); n > 0 {
			last = max(last, p.pending[n-1].Seq)
		}
		if b.Seq <= last {
			p.repeats.Add(1)
			p.cfg.Logger.Warn("publisher: batch skipped: its number is not above the last one", "seq", b.Seq, "last", last)
			return false
		}
	}
	p.pending = append(p.pending, b)
	return true
}

// nextSeq numbers the emission of the pending batches: the newest upstream number, or the
// next local one. Local numbering starts at the start time in Unix milliseconds, so ids of
// an earlier run of the server are older than anything this one keeps, never mistaken for
// its own.
func (p *Publisher) nextSeq(now time.Time) uint64 {
	var upstream uint64
	for _, b := range p.pending {
		upstream = max(upstream, b.Seq)
	}
	switch {
	case upstream != 0: // above p.seq: enqueue saw to it
		return upstream
	case p.seq == 0:
		return uint64(max(1, now.UnixMilli()))
	default:
		return p.seq + 1
	}
}

// takePending returns the pending batches' events in order and the newest snapshot.
func (p *Publisher) takePending() ([]market.Event, *market.Snapshot) {
	snap := p.pending[len(p.pending)-1].Snapshot
	if len(p.pending) == 1 {
		return p.pending[0].Events, snap
	}
	p.merged = p.merged[:0]
	for _, b := range p.pending {
		p.merged = append(p.merged, b.Events...)
		if b.Snapshot != nil {
			snap = b.Snapshot
		}
	}
	return p.merged, snap
}

// emit makes one emission of the pending batches, under the lock. It reports false when it
// had to wait because some connected user's settings are unknown.
func (p *Publisher) emit(ctx context.Context, now time.Time) bool {
	unresolved := p.assign(now)
	if len(unresolved) > 0 {
		if len(p.pending) <= p.cfg.MaxDeferred {
			p.deferred.Add(1)
			p.cfg.Logger.Warn("publisher: emission deferred: settings unknown for some users",
				"users", len(unresolved), "pending_batches", len(p.pending))
			p.unassign()
			return false
		}
		// Waiting longer would hold everyone back: end those streams, so their clients
		// reconnect (and resume) once the settings can be read again.
		for _, uid := range unresolved {
			p.cfg.Hub.EndUser(uid, "unavailable")
		}
		p.cfg.Logger.Error("publisher: streams closed: their settings stayed unknown",
			"users", len(unresolved), "deferred_emissions", len(p.pending)-1)
	}

	seq := p.nextSeq(now)
	first := p.pending[0].Seq
	if first == 0 {
		first = seq
	}
	events, snap := p.takePending()
	emitted := now.UnixMilli()
	if at := p.pending[len(p.pending)-1].At; !at.IsZero() {
		emitted = at.UnixMilli()
	}
	p.events = events
	p.rows.reset(len(events))
	var size int64
	for _, g := range p.groups {
		wantHTML, wantJSON := g.formats(now, p.cfg.ResumeWindow)
		if !wantHTML && !wantJSON {
			continue
		}
		p.filter(g.matcher, events)
		summary := market.Summary{Breadth: 50, Activity: market.ActivityQuiet, UniverseSize: len(g.market)}
		if snap != nil {
			summary = snap.Summary(g.market)
		}
		k := kept{seq: seq, first: first}
		if wantHTML {
			k.html = p.renderHTML(ctx, seq, emitted, summary)
			size += k.html.size()
		}
		if wantJSON {
			k.json = p.renderJSON(seq, emitted, summary)
			size += k.json.size()
		}
		g.ring = append(g.ring, k)
		for _, c := range g.conns {
			switch {
			case c.Format == FormatJSON:
				p.out.add(c, k.json)
			case c.shownKey != g.key:
				p.out.add(c, p.withChange(ctx, g, c, k.html, now))
			default:
				p.out.add(c, k.html)
			}
		}
		p.out.flush(false)
	}
	p.unassign()
	p.seq = seq
	p.events = nil
	clear(p.pending)
	p.pending = p.pending[:0]
	clear(p.merged)
	p.log = append(p.log, logged{seq: seq, at: now, bytes: size})
	p.logBytes += size
	p.trim(now)
	return true
}

// deliver writes m to c's socket directly when c's writer is idle, and otherwise offers
// it to c's queue; it closes c when it has dropped in MaxBehind emissions in a row. It
// runs on a dispatcher, outside the publisher's lock.
func (p *Publisher) deliver(c *Conn, m *Message, scratch *[]byte) {
	if m == nil || len(m.Frames) == 0 {
		return
	}
	if c.writeDirect(m, scratch) == nil {
		c.streak = 0
		return
	}
	if c.offer(m) {
		p.dropped.Add(1)
		c.streak++
		if c.streak >= p.cfg.MaxBehind {
			c.Close("behind")
			p.cfg.Hub.Unregister(c)
			p.disconnects.Add(1)
		}
		return
	}
	c.streak = 0
}

// Metrics are the publisher's figures: the first three are SPEC section 10's "publisher"
// object; the rest are for logs, /readyz and Prometheus.
type Metrics struct {
	Emissions       int64   `json:"emissions"`
	LastEmitMs      float64 `json:"last_emit_ms"`
	DroppedMessages int64   `json:"dropped_messages"`
	// Disconnected counts connections closed for falling behind.
	Disconnected int64 `json:"-"`
	// LastEmitAt is when the last emission was made (zero before the first).
	LastEmitAt time.Time `json:"-"`
	// SettingsFailing is true while the last settings read failed or timed out, so streams
	// run on last known settings. StaleLoads counts such reads (emissions and attaches).
	SettingsFailing bool  `json:"-"`
	StaleLoads      int64 `json:"-"`
	// Deferred counts emissions that waited for unknown settings; PendingEvents is how many
	// events wait right now.
	Deferred      int64 `json:"-"`
	PendingEvents int   `json:"-"`
	// Resumes counts reconnects with Last-Event-ID; Resets those that could not be served
	// and got a "reset" event instead.
	Resumes int64 `json:"-"`
	Resets  int64 `json:"-"`
	// Repeats counts upstream batches skipped because their number was not new.
	Repeats int64 `json:"-"`
	// KeptEmissions and KeptBytes measure the resume buffer.
	KeptEmissions int   `json:"-"`
	KeptBytes     int64 `json:"-"`
	// Durations is the distribution of emission times since start.
	Durations Histogram `json:"-"`
}

// Metrics returns a copy of the publisher's counters. It waits for an emission in progress
// to finish its rendering (a few milliseconds), never for I/O.
func (p *Publisher) Metrics() Metrics {
	m := Metrics{
		Emissions:       p.emissions.Load(),
		LastEmitMs:      float64(p.lastEmitNs.Load()) / 1e6,
		DroppedMessages: p.dropped.Load(),
		Disconnected:    p.disconnects.Load(),
		SettingsFailing: p.failing.Load(),
		StaleLoads:      p.stale.Load(),
		Deferred:        p.deferred.Load(),
		Resumes:         p.resumes.Load(),
		Resets:          p.resets.Load(),
		Repeats:         p.repeats.Load(),
		Durations:       p.durations.snapshot(),
	}
	if ns := p.lastEmitAt.Load(); ns != 0 {
		m.LastEmitAt = time.Unix(0, ns)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.pending {
		m.PendingEvents += len(b.Events)
	}
	m.KeptEmissions, m.KeptBytes = len(p.log), p.logBytes
	return m
}

// UniqueGroups counts the distinct settings groups the publisher works for, those kept
// only for resume included.
func (p *Publisher) UniqueGroups() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.groups)
}

// ctxLock is a mutex whose Lock can give up when a context ends, so Attach never waits
// longer than its request allows.
type ctxLock chan struct{}

func newCtxLock() ctxLock { return make(ctxLock, 1) }

func (l ctxLock) Lock()   { l <- struct{}{} }
func (l ctxLock) Unlock() { <-l }

func (l ctxLock) LockContext(ctx context.Context) error {
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
