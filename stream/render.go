package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/a-h/templ"

	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/views"
)

// SSE event names of SPEC section 7, plus "reset" (a resume the server cannot serve).
const (
	EventHighs    = "highs"
	EventLows     = "lows"
	EventTrending = "trending"
	EventSurging  = "surging"
	EventMarket   = "market"
	EventJSON     = "dual_universe_stock_data"
	EventReset    = "reset"
	// EventSettings goes to one page whose settings changed while it was open: dividers
	// in the panels, new empty states, the new universes in the header (out of band).
	EventSettings = "settings"
)

// Rendering: each group's share of an emission is filtered into index lists, and every
// event is rendered (HTML row, JSON object) at most once per emission, however many groups
// show it. These methods run under the publisher's lock; they do no I/O.

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

// withChange is m for a connection whose settings group changed since its page last heard:
// the group's shared frames, after one "settings" frame (id seq.0, so a resume after it
// gets the rest) that marks the change in the page. Embeds (another site's htmx, which
// may show only some panels) just move on. The frame is rendered once per group and
// emission, whoever needs it.
func (p *Publisher) withChange(ctx context.Context, g *group, c *Conn, m *Message, now time.Time) *Message {
	first := c.shownKey == "" // registered without Attach: nothing shown to compare with
	universes := !slices.Equal(c.shown.Selections.HighLow, g.settings.Selections.HighLow) ||
		!slices.Equal(c.shown.Selections.Market, g.settings.Selections.Market)
	c.shownKey, c.shown = g.key, g.settings
	if first || c.EmbedID != "" || m == nil {
		return m
	}
	i := 0
	if universes {
		i = 1
	}
	if g.changeSeq != m.Seq {
		g.changeSeq, g.change = m.Seq, [2]Frame{}
	}
	if g.change[i].Data == nil {
		var buf bytes.Buffer
		err := views.SettingsChanged(views.SettingsChange{Settings: g.settings, Universes: universes, At: now}).Render(ctx, &buf)
		if err != nil {
			p.cfg.Logger.Error("publisher: render settings change", "err", err)
			return m
		}
		id := EventID{Seq: m.Seq, Part: 0}
		g.change[i] = Frame{ID: id, Data: AppendEvent(nil, id.String(), EventSettings, buf.Bytes())}
	}
	out := &Message{Seq: m.Seq, Frames: make([]Frame, 0, len(m.Frames)+1)}
	out.Frames = append(append(out.Frames, g.change[i]), m.Frames...)
	return out
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
