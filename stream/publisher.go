package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/a-h/templ"

	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/views"
)

// SSE event names of SPEC section 7.
const (
	EventHighs    = "highs"
	EventLows     = "lows"
	EventTrending = "trending"
	EventSurging  = "surging"
	EventMarket   = "market"
	EventJSON     = "dual_universe_stock_data"
)

// Source hands over the events since the previous call: the local market.Runner, or (with
// several instances) what the feed leader published.
type Source interface {
	Drain() market.Batch
}

// Settings is what the publisher needs from the settings service.
type Settings interface {
	Get(ctx context.Context, userID int64) (settings.UserSettings, error)
	LoadMany(ctx context.Context, userIDs []int64) (map[int64]settings.UserSettings, error)
	Matcher(ctx context.Context, st settings.Settings) (*settings.Matcher, error)
	SymbolSet(ctx context.Context, universes []string) (settings.SymbolSet, error)
}

// Config configures a Publisher.
type Config struct {
	Hub      *Hub
	Source   Source
	Settings Settings
	Logger   *slog.Logger
	Interval time.Duration // TICKSTOCK_EMIT_INTERVAL
	// ResumeWindow is how long emissions are kept for Last-Event-ID resume (default 60 s).
	ResumeWindow time.Duration
	// MaxBehind is how many emissions in a row may drop messages before a connection is
	// closed as too slow (default 5).
	MaxBehind int
	Now       func() time.Time
}

// Publisher runs every Interval: it drains the new events, groups the connected users by
// distinct settings, filters and renders each group's fragments once, and offers the same
// bytes to every connection in the group. It never waits on a socket.
type Publisher struct {
	cfg Config

	mu      sync.Mutex // one emission or one attach at a time
	seq     uint64
	groups  map[string]*group
	scratch filtered

	emissions   atomic.Int64
	lastEmitNs  atomic.Int64
	dropped     atomic.Int64
	disconnects atomic.Int64
}

// group is the per-settings state kept across emissions: the compiled matcher, the
// market universe's symbols, and the recent messages for resume.
type group struct {
	matcher   *settings.Matcher
	market    []string
	recent    []recentEmission
	lastUsed  uint64
	lastBuilt time.Time
}

type recentEmission struct {
	at   time.Time
	html *Message
	json *Message
}

// filtered holds one group's share of an emission, in reusable slices.
type filtered struct {
	highs, lows        []market.HighLowEvent
	trendUp, trendDown []market.TrendEvent
	surgeUp, surgeDown []market.SurgeEvent
}

func (f *filtered) reset() {
	f.highs, f.lows = f.highs[:0], f.lows[:0]
	f.trendUp, f.trendDown = f.trendUp[:0], f.trendDown[:0]
	f.surgeUp, f.surgeDown = f.surgeUp[:0], f.surgeDown[:0]
}

// NewPublisher builds a publisher.
func NewPublisher(cfg Config) *Publisher {
	if cfg.ResumeWindow <= 0 {
		cfg.ResumeWindow = 60 * time.Second
	}
	if cfg.MaxBehind <= 0 {
		cfg.MaxBehind = 5
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	return &Publisher{cfg: cfg, groups: make(map[string]*group)}
}

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

// Emit drains the source and publishes one emission.
func (p *Publisher) Emit(ctx context.Context) {
	p.Publish(ctx, p.cfg.Source.Drain())
}

// Publish filters, renders and offers one batch to every connection.
func (p *Publisher) Publish(ctx context.Context, batch market.Batch) {
	start := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	seq := p.seq
	now := p.cfg.Now()
	emitted := now.UnixMilli()

	conns := p.cfg.Hub.byUser()
	defer func() {
		p.emissions.Add(1)
		p.lastEmitNs.Store(int64(time.Since(start)))
	}()
	if len(conns) == 0 {
		p.expire(now, seq)
		return
	}
	ids := make([]int64, 0, len(conns))
	for uid := range conns {
		ids = append(ids, uid)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	loaded, err := p.cfg.Settings.LoadMany(ctx, ids)
	if err != nil {
		p.cfg.Logger.Warn("publisher: load settings; emission skipped", "seq", seq, "err", err)
		return
	}
	list := make([]settings.UserSettings, 0, len(loaded))
	for _, us := range loaded {
		list = append(list, us)
	}
	for _, g := range settings.GroupUsers(list) {
		gs, err := p.group(ctx, g.Key, g.Settings, seq)
		if err != nil {
			p.cfg.Logger.Warn("publisher: prepare settings group", "err", err)
			continue
		}
		p.filter(gs.matcher, batch.Events)
		summary := market.Summary{Breadth: 50, Activity: market.ActivityQuiet, UniverseSize: len(gs.market)}
		if batch.Snapshot != nil {
			summary = batch.Snapshot.Summary(gs.market)
		}
		var wantHTML, wantJSON bool
		for _, uid := range g.UserIDs {
			for _, c := range conns[uid] {
				if c.Format == FormatJSON {
					wantJSON = true
				} else {
					wantHTML = true
				}
			}
		}
		rec := recentEmission{at: now}
		if wantHTML {
			rec.html = p.renderHTML(ctx, seq, emitted, summary)
		}
		if wantJSON {
			rec.json = p.renderJSON(seq, emitted, summary)
		}
		gs.recent = append(gs.recent, rec)
		for _, uid := range g.UserIDs {
			for _, c := range conns[uid] {
				m := rec.html
				if c.Format == FormatJSON {
					m = rec.json
				}
				p.deliver(c, m)
			}
		}
	}
	p.expire(now, seq)
}

// deliver offers m to c and closes c when it has dropped in MaxBehind emissions in a row.
func (p *Publisher) deliver(c *Conn, m *Message) {
	if m == nil || len(m.Frames) == 0 {
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

// group returns the state of a settings group, building its matcher on first use and
// again every minute (so admin edits to universes reach running streams).
func (p *Publisher) group(ctx context.Context, key string, st settings.Settings, seq uint64) (*group, error) {
	gs := p.groups[key]
	if gs == nil || p.cfg.Now().Sub(gs.lastBuilt) > time.Minute {
		m, err := p.cfg.Settings.Matcher(ctx, st)
		if err != nil {
			return nil, fmt.Errorf("build matcher: %w", err)
		}
		set, err := p.cfg.Settings.SymbolSet(ctx, st.Selections.Market)
		if err != nil {
			return nil, fmt.Errorf("resolve market universes: %w", err)
		}
		if gs == nil {
			gs = &group{}
			p.groups[key] = gs
		}
		gs.matcher, gs.market, gs.lastBuilt = m, set.Symbols(), p.cfg.Now()
	}
	gs.lastUsed = seq
	return gs, nil
}

// expire forgets emissions older than the resume window, and groups nobody used lately.
func (p *Publisher) expire(now time.Time, seq uint64) {
	for key, gs := range p.groups {
		i := 0
		for i < len(gs.recent) && now.Sub(gs.recent[i].at) > p.cfg.ResumeWindow {
			i++
		}
		if i > 0 {
			gs.recent = append(gs.recent[:0], gs.recent[i:]...)
		}
		if len(gs.recent) == 0 && seq-gs.lastUsed > 120 {
			delete(p.groups, key)
		}
	}
}

// filter sorts the batch's events that m allows into the scratch lists.
func (p *Publisher) filter(m *settings.Matcher, events []market.Event) {
	f := &p.scratch
	f.reset()
	for i := range events {
		e := &events[i]
		if !m.Match(e) {
			continue
		}
		switch e.Kind {
		case market.KindHigh:
			f.highs = append(f.highs, e.HighLow)
		case market.KindLow:
			f.lows = append(f.lows, e.HighLow)
		case market.KindTrend:
			if e.Trend.Direction == market.Up {
				f.trendUp = append(f.trendUp, e.Trend)
			} else {
				f.trendDown = append(f.trendDown, e.Trend)
			}
		case market.KindSurge:
			if e.Surge.Direction == market.Up {
				f.surgeUp = append(f.surgeUp, e.Surge)
			} else {
				f.surgeDown = append(f.surgeDown, e.Surge)
			}
		}
	}
}

// renderHTML renders the scratch lists as one SSE event per panel that has news, plus
// the market summary.
func (p *Publisher) renderHTML(ctx context.Context, seq uint64, emitted int64, s market.Summary) *Message {
	f := &p.scratch
	m := &Message{Seq: seq}
	var buf bytes.Buffer
	add := func(event string, c templ.Component) {
		buf.Reset()
		if err := c.Render(ctx, &buf); err != nil {
			p.cfg.Logger.Error("publisher: render fragment", "event", event, "err", err)
			return
		}
		id := EventID{Seq: seq, Part: len(m.Frames) + 1}
		m.Frames = append(m.Frames, Frame{ID: id, Data: AppendEvent(nil, id.String(), event, buf.Bytes())})
	}
	if len(f.highs) > 0 {
		add(EventHighs, views.HighLowRows(f.highs, emitted))
	}
	if len(f.lows) > 0 {
		add(EventLows, views.HighLowRows(f.lows, emitted))
	}
	if len(f.trendUp)+len(f.trendDown) > 0 {
		add(EventTrending, views.TrendingRows(f.trendUp, f.trendDown, emitted))
	}
	if len(f.surgeUp)+len(f.surgeDown) > 0 {
		add(EventSurging, views.SurgingRows(f.surgeUp, f.surgeDown, emitted))
	}
	add(EventMarket, views.MarketSummary(s, emitted))
	return m
}

// Emission is the JSON stream's event data (SPEC section 7). Every list is present, and
// empty lists are [] rather than null.
type Emission struct {
	EmittedAt int64                 `json:"emitted_at"`
	Highs     []market.HighLowEvent `json:"highs"`
	Lows      []market.HighLowEvent `json:"lows"`
	Trending  TrendLists            `json:"trending"`
	Surging   SurgeLists            `json:"surging"`
	Market    market.Summary        `json:"market"`
}

// TrendLists splits trends by direction.
type TrendLists struct {
	Up   []market.TrendEvent `json:"up"`
	Down []market.TrendEvent `json:"down"`
}

// SurgeLists splits surges by direction.
type SurgeLists struct {
	Up   []market.SurgeEvent `json:"up"`
	Down []market.SurgeEvent `json:"down"`
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (p *Publisher) renderJSON(seq uint64, emitted int64, s market.Summary) *Message {
	f := &p.scratch
	e := Emission{
		EmittedAt: emitted,
		Highs:     nonNil(f.highs), Lows: nonNil(f.lows),
		Trending: TrendLists{Up: nonNil(f.trendUp), Down: nonNil(f.trendDown)},
		Surging:  SurgeLists{Up: nonNil(f.surgeUp), Down: nonNil(f.surgeDown)},
		Market:   s,
	}
	data, err := json.Marshal(e)
	if err != nil {
		p.cfg.Logger.Error("publisher: marshal emission", "err", err)
		return nil
	}
	id := EventID{Seq: seq, Part: 1}
	return &Message{Seq: seq, Frames: []Frame{{ID: id, Data: AppendEvent(nil, id.String(), EventJSON, data)}}}
}

// Attach registers c and, if the client reconnects with a Last-Event-ID the server still
// holds for the user's current settings, queues everything after it first.
func (p *Publisher) Attach(ctx context.Context, c *Conn, last *EventID) error {
	var key string
	if last != nil {
		us, err := p.cfg.Settings.Get(ctx, c.UserID)
		if err != nil {
			return fmt.Errorf("attach stream: load settings: %w", err)
		}
		key = us.Key()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.cfg.Hub.Register(c); err != nil {
		return err
	}
	if last == nil {
		return nil
	}
	gs := p.groups[key]
	if gs == nil {
		return nil
	}
	for _, rec := range gs.recent {
		m := rec.html
		if c.Format == FormatJSON {
			m = rec.json
		}
		if m == nil || m.Seq < last.Seq {
			continue
		}
		out := &Message{Seq: m.Seq}
		for _, f := range m.Frames {
			if f.ID.After(*last) {
				out.Frames = append(out.Frames, f)
			}
		}
		if len(out.Frames) > 0 {
			c.offer(out)
		}
	}
	return nil
}

// Metrics are the publisher's figures for SPEC section 10.
type Metrics struct {
	Emissions       int64   `json:"emissions"`
	LastEmitMs      float64 `json:"last_emit_ms"`
	DroppedMessages int64   `json:"dropped_messages"`
	Disconnected    int64   `json:"-"`
}

// Metrics returns a copy of the publisher's counters.
func (p *Publisher) Metrics() Metrics {
	return Metrics{
		Emissions:       p.emissions.Load(),
		LastEmitMs:      float64(p.lastEmitNs.Load()) / 1e6,
		DroppedMessages: p.dropped.Load(),
		Disconnected:    p.disconnects.Load(),
	}
}

// UniqueGroups counts the distinct settings groups the publisher works for.
func (p *Publisher) UniqueGroups() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.groups)
}
