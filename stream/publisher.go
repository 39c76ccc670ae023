package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
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
	rows    rowCache
	html    bytes.Buffer // reused for every fragment
	keys    settings.KeyMemo
	events  []market.Event // the batch being published

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

// filtered holds one group's share of an emission as indexes into the batch, in
// reusable slices.
type filtered struct {
	highs, lows        []int
	trendUp, trendDown []int
	surgeUp, surgeDown []int
}

func (f *filtered) reset() {
	f.highs, f.lows = f.highs[:0], f.lows[:0]
	f.trendUp, f.trendDown = f.trendUp[:0], f.trendDown[:0]
	f.surgeUp, f.surgeDown = f.surgeUp[:0], f.surgeDown[:0]
}

// rowCache holds each event's rendered row for one emission: every group that shows an
// event reuses the same bytes, so rendering costs once per event, not once per group.
type rowCache struct {
	rows [][]byte // HTML rows
	json [][]byte // JSON objects
	buf  bytes.Buffer
}

func (rc *rowCache) reset(n int) {
	if cap(rc.rows) < n {
		rc.rows, rc.json = make([][]byte, n), make([][]byte, n)
	}
	rc.rows, rc.json = rc.rows[:n], rc.json[:n]
	clear(rc.rows)
	clear(rc.json)
}

// rawRow is a pre-rendered row as a templ component.
type rawRow []byte

func (r rawRow) Render(_ context.Context, w io.Writer) error {
	_, err := w.Write(r)
	return err
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
	p.events = batch.Events
	p.rows.reset(len(batch.Events))
	defer func() { p.events = nil }()
	list := make([]settings.UserSettings, 0, len(loaded))
	for _, us := range loaded {
		list = append(list, us)
	}
	for _, g := range p.keys.Group(list) {
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
			f.highs = append(f.highs, i)
		case market.KindLow:
			f.lows = append(f.lows, i)
		case market.KindTrend:
			if e.Trend.Direction == market.Up {
				f.trendUp = append(f.trendUp, i)
			} else {
				f.trendDown = append(f.trendDown, i)
			}
		case market.KindSurge:
			if e.Surge.Direction == market.Up {
				f.surgeUp = append(f.surgeUp, i)
			} else {
				f.surgeDown = append(f.surgeDown, i)
			}
		}
	}
}

// row returns event i's rendered row, rendering it on first use in this emission.
func (p *Publisher) row(ctx context.Context, i int, emitted int64) templ.Component {
	if r := p.rows.rows[i]; r != nil {
		return rawRow(r)
	}
	e := &p.events[i]
	var c templ.Component
	switch e.Kind {
	case market.KindHigh, market.KindLow:
		c = views.HighLowRow(e.HighLow, emitted)
	case market.KindTrend:
		c = views.TrendRow(e.Trend, emitted)
	default:
		c = views.SurgeRow(e.Surge, emitted)
	}
	p.rows.buf.Reset()
	if err := c.Render(ctx, &p.rows.buf); err != nil {
		p.cfg.Logger.Error("publisher: render row", "err", err)
		return rawRow(nil)
	}
	p.rows.rows[i] = bytes.Clone(p.rows.buf.Bytes())
	return rawRow(p.rows.rows[i])
}

// rowsOf returns the rows for indexes, newest first (htmx puts them at the panel's top),
// joined into one component: one allocation per panel instead of one per row.
func (p *Publisher) rowsOf(ctx context.Context, idx []int, emitted int64) []templ.Component {
	if len(idx) == 0 {
		return nil
	}
	n := 0
	for _, i := range idx {
		p.row(ctx, i, emitted)
		n += len(p.rows.rows[i])
	}
	joined := make([]byte, 0, n)
	for k := len(idx) - 1; k >= 0; k-- {
		joined = append(joined, p.rows.rows[idx[k]]...)
	}
	return []templ.Component{rawRow(joined)}
}

// renderHTML renders the group's share as one SSE event per panel that has news, plus the
// market summary.
func (p *Publisher) renderHTML(ctx context.Context, seq uint64, emitted int64, s market.Summary) *Message {
	f := &p.scratch
	m := &Message{Seq: seq, Frames: make([]Frame, 0, 5)}
	buf := &p.html
	add := func(event string, c templ.Component) {
		buf.Reset()
		if err := c.Render(ctx, buf); err != nil {
			p.cfg.Logger.Error("publisher: render fragment", "event", event, "err", err)
			return
		}
		id := EventID{Seq: seq, Part: len(m.Frames) + 1}
		data := make([]byte, 0, buf.Len()+buf.Len()/32+64) // room for the data: prefixes
		m.Frames = append(m.Frames, Frame{ID: id, Data: AppendEvent(data, id.String(), event, buf.Bytes())})
	}
	if len(f.highs) > 0 {
		add(EventHighs, views.HighLowRows(p.rowsOf(ctx, f.highs, emitted)))
	}
	if len(f.lows) > 0 {
		add(EventLows, views.HighLowRows(p.rowsOf(ctx, f.lows, emitted)))
	}
	if len(f.trendUp)+len(f.trendDown) > 0 {
		add(EventTrending, views.TrendingRows(p.rowsOf(ctx, f.trendUp, emitted), p.rowsOf(ctx, f.trendDown, emitted)))
	}
	if len(f.surgeUp)+len(f.surgeDown) > 0 {
		add(EventSurging, views.SurgingRows(p.rowsOf(ctx, f.surgeUp, emitted), p.rowsOf(ctx, f.surgeDown, emitted)))
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

// eventJSON returns event i's JSON object, marshalled once per emission.
func (p *Publisher) eventJSON(i int) []byte {
	if b := p.rows.json[i]; b != nil {
		return b
	}
	e := &p.events[i]
	var b []byte
	var err error
	switch e.Kind {
	case market.KindHigh, market.KindLow:
		b, err = json.Marshal(e.HighLow)
	case market.KindTrend:
		b, err = json.Marshal(e.Trend)
	default:
		b, err = json.Marshal(e.Surge)
	}
	if err != nil {
		p.cfg.Logger.Error("publisher: marshal event", "err", err)
		b = []byte("null")
	}
	p.rows.json[i] = b
	return b
}

func (p *Publisher) appendList(dst []byte, key string, idx []int) []byte {
	dst = append(dst, '"')
	dst = append(dst, key...)
	dst = append(dst, `":[`...)
	for k, i := range idx {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, p.eventJSON(i)...)
	}
	return append(dst, ']')
}

// renderJSON assembles the Emission object from the per-event JSON, so each event is
// marshalled once per emission however many groups show it.
func (p *Publisher) renderJSON(seq uint64, emitted int64, s market.Summary) *Message {
	f := &p.scratch
	summary, err := json.Marshal(s)
	if err != nil {
		p.cfg.Logger.Error("publisher: marshal summary", "err", err)
		return nil
	}
	data := make([]byte, 0, 256+200*(len(f.highs)+len(f.lows)+len(f.trendUp)+len(f.trendDown)+len(f.surgeUp)+len(f.surgeDown)))
	data = append(data, `{"emitted_at":`...)
	data = strconv.AppendInt(data, emitted, 10)
	data = append(data, ',')
	data = p.appendList(data, "highs", f.highs)
	data = append(data, ',')
	data = p.appendList(data, "lows", f.lows)
	data = append(data, `,"trending":{`...)
	data = p.appendList(data, "up", f.trendUp)
	data = append(data, ',')
	data = p.appendList(data, "down", f.trendDown)
	data = append(data, `},"surging":{`...)
	data = p.appendList(data, "up", f.surgeUp)
	data = append(data, ',')
	data = p.appendList(data, "down", f.surgeDown)
	data = append(data, `},"market":`...)
	data = append(data, summary...)
	data = append(data, '}')
	id := EventID{Seq: seq, Part: 1}
	frame := make([]byte, 0, len(data)+64)
	return &Message{Seq: seq, Frames: []Frame{{ID: id, Data: AppendEvent(frame, id.String(), EventJSON, data)}}}
}

// historyOnConnect is how many recent emissions a new HTML stream gets first, so a page
// load or reload opens with the last moments of activity instead of empty panels.
const historyOnConnect = 20

// Attach registers c and queues what it should see first: after a reconnect with a
// Last-Event-ID the server still holds (for the user's current settings), everything after
// it; on a fresh HTML stream, the group's recent emissions. JSON streams start live, so
// programs measuring latency see only new emissions.
func (p *Publisher) Attach(ctx context.Context, c *Conn, last *EventID) error {
	var key string
	if last != nil || c.Format == FormatHTML {
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
	gs := p.groups[key]
	if gs == nil || key == "" {
		return nil
	}
	recent := gs.recent
	if last == nil && len(recent) > historyOnConnect {
		recent = recent[len(recent)-historyOnConnect:]
	}
	for _, rec := range recent {
		m := rec.html
		if c.Format == FormatJSON {
			m = rec.json
		}
		if m == nil {
			continue
		}
		if last == nil {
			c.offer(m)
			continue
		}
		if m.Seq < last.Seq {
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
