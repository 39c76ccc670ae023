package stream

import (
	"context"
	"sort"
	"time"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/market"
)

// Resume: every group keeps its recent emissions, also for a while after its last stream
// left, so a reconnect with Last-Event-ID gets exactly what it missed. The kept emissions
// are bounded by age (the resume window), by count and by bytes; a request the server
// can no longer serve exactly gets a "reset" event instead of a silent gap.

// historyOnConnect is how many recent emissions a new HTML stream gets first, so a page
// load or reload opens with the last moments of activity instead of empty panels.
const historyOnConnect = 20

// Reasons carried by a "reset" event's data.
const (
	// ResetExpired: the id is older than what the server keeps (beyond the resume window,
	// count or byte bounds).
	ResetExpired = "expired"
	// ResetUnknown: the server cannot vouch for what follows the id: it never issued it
	// (an earlier run, another instance's numbering), or the user's settings group did not
	// keep that emission in this format.
	ResetUnknown = "unknown"
)

// Attach registers c and hands it what it should see before live emissions: after a
// reconnect with Last-Event-ID, everything after that id, in order, or a "reset" event
// (then the start of a fresh stream) when that cannot be served exactly; on a fresh HTML
// stream, the group's recent emissions; on a fresh JSON stream nothing, so programs
// measuring latency see only new emissions. The backlog goes to the connection's writer
// directly, ahead of the live queue, so none of it is dropped.
//
// Attach waits no longer than ctx. It needs no database when the user's settings are
// known (the user streamed within the resume window): it then tries the settings service
// for at most LoadTimeout and falls back to the last known settings.
func (p *Publisher) Attach(ctx context.Context, c *Conn, last *EventID) error {
	g, st, fresh, err := p.attachGroup(ctx, c.UserID)
	if err != nil {
		return err
	}
	hist := p.history(ctx, g.key, c.Format, last)
	if err := p.mu.LockContext(ctx); err != nil {
		return busy(err)
	}
	defer p.mu.Unlock()
	if cur := p.groups[g.key]; cur != nil && cur.matcher != nil {
		g = cur
	} else {
		if cur != nil {
			cur.dropped = true
		}
		g.ring = nil // a group rebuilt from scratch holds nothing to resume from
		p.groups[g.key] = g
	}
	if err := p.cfg.Hub.Register(c); err != nil {
		return err
	}
	now := p.cfg.Now()
	u := p.user(c.UserID)
	// A fresh page was rendered with the settings of now. A page that resumes may show
	// older ones: those its user streamed with before, if they differ.
	c.shownKey, c.shown = g.key, st
	if last != nil && u.key != "" && u.key != g.key {
		c.shownKey, c.shown = u.key, u.settings
	}
	u.key, u.group, u.settings, u.seen = g.key, g, st, now
	if fresh {
		u.loaded = now
	}
	g.markLive(c.Format, now)
	if len(hist) > 0 {
		p.fill(ctx, g, c.Format, last.Seq, hist, now)
	}
	c.backlog = p.backlog(g, c.Format, last)
	return nil
}

// history fetches the upstream emissions a resume needs when the group's own buffer
// cannot serve it exactly (the client streamed from another instance, where its group
// was rendered, and this one was not rendering it). It runs before the lock; its I/O is
// bounded by a second. It returns nil when the buffer suffices, there is no History, the
// id is ahead of what this instance published (it answers "reset unknown" then) or the
// fetch fails.
func (p *Publisher) history(ctx context.Context, key string, f Format, last *EventID) []Batch {
	if last == nil || p.cfg.History == nil {
		return nil
	}
	if err := p.mu.LockContext(ctx); err != nil {
		return nil
	}
	need := last.Seq <= p.seq && !p.serves(p.groups[key], f, last.Seq)
	p.mu.Unlock()
	if !need {
		return nil
	}
	hctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	hist, err := p.cfg.History(hctx, last.Seq)
	if err != nil {
		p.cfg.Logger.Warn("publisher: resume: emissions for another instance's id unavailable", "seq", last.Seq, "err", err)
		return nil
	}
	return hist
}

// serves reports whether g's buffer holds every emission from seq on in format f.
func (p *Publisher) serves(g *group, f Format, seq uint64) bool {
	if g == nil {
		return false
	}
	i := sort.Search(len(g.ring), func(i int) bool { return g.ring[i].seq >= seq })
	if i == len(g.ring) || g.ring[i].seq != seq {
		return false
	}
	for _, k := range g.ring[i:] {
		if k.pick(f) == nil {
			return false
		}
	}
	return true
}

func (k kept) pick(f Format) *Message {
	if f == FormatJSON {
		return k.json
	}
	return k.html
}

// fill puts the upstream emissions hist (numbered from `from`, up to what this instance
// published) into g's buffer in format f, rendering those it lacks, so that backlog can
// serve the resume exactly. hist must start at `from` and run without a gap to what g
// already holds; otherwise fill changes nothing and the client gets a reset. It runs
// under the lock, CPU only.
func (p *Publisher) fill(ctx context.Context, g *group, f Format, from uint64, hist []Batch, now time.Time) {
	if hist[0].Seq != from {
		return
	}
	for len(hist) > 0 && hist[len(hist)-1].Seq > p.seq {
		hist = hist[:len(hist)-1] // not yet published here: it comes live
	}
	if len(hist) == 0 {
		return
	}
	if age := now.Sub(hist[0].At); !hist[0].At.IsZero() && age > p.cfg.ResumeWindow+p.cfg.Interval {
		return // older than the window: a reset "expired", as on the first instance
	}
	top := hist[len(hist)-1].Seq
	// What g holds after hist must follow it directly (it was published here after hist's
	// last emission), or resume would skip emissions.
	var after []kept
	for _, k := range g.ring {
		if k.seq > top {
			after = append(after, k)
		}
	}
	if len(after) > 0 && after[0].first != top+1 {
		return
	}
	have := make(map[uint64]kept, len(g.ring))
	for _, k := range g.ring {
		if k.seq <= top {
			have[k.seq] = k
		}
	}
	var before []kept
	for _, k := range g.ring {
		if k.seq < from {
			before = append(before, k)
		}
	}
	ring := make([]kept, 0, len(before)+len(hist)+len(after))
	ring = append(ring, before...)
	var size int64
	for _, b := range hist {
		k, ok := have[b.Seq]
		if !ok || k.first != k.seq { // absent, or several upstream batches in one
			k = kept{seq: b.Seq, first: b.Seq}
		}
		if k.pick(f) == nil {
			m := p.render(ctx, g, f, b)
			size += m.size()
			if f == FormatJSON {
				k.json = m
			} else {
				k.html = m
			}
		}
		ring = append(ring, k)
	}
	g.ring = append(ring, after...)
	p.logBytes += size
	if n := len(p.log); n > 0 {
		p.log[n-1].bytes += size // counted against the newest, so trim sees the bytes
	}
}

// render renders one upstream batch for g in format f, outside an emission. It uses the
// emission scratch, so it runs under the lock.
func (p *Publisher) render(ctx context.Context, g *group, f Format, b Batch) *Message {
	p.events = b.Events
	defer func() { p.events = nil }()
	p.rows.reset(len(b.Events))
	p.filter(g.matcher, b.Events)
	summary := market.Summary{Breadth: 50, Activity: market.ActivityQuiet, UniverseSize: len(g.market)}
	if b.Snapshot != nil {
		summary = b.Snapshot.Summary(g.market)
	}
	emitted := b.At.UnixMilli()
	if b.At.IsZero() {
		emitted = p.cfg.Now().UnixMilli()
	}
	if f == FormatJSON {
		return p.renderJSON(b.Seq, emitted, summary)
	}
	return p.renderHTML(ctx, b.Seq, emitted, summary)
}

// backlog returns what a new connection in g gets before live emissions.
func (p *Publisher) backlog(g *group, f Format, last *EventID) []*Message {
	if last == nil {
		if f == FormatJSON {
			return nil
		}
		n := 0
		for i := len(g.ring) - 1; i >= 0 && n < historyOnConnect && g.ring[i].html != nil; i-- {
			n++
		}
		out := make([]*Message, 0, n)
		for _, k := range g.ring[len(g.ring)-n:] {
			out = append(out, k.html)
		}
		return out
	}

	p.resumes.Add(1)
	i := sort.Search(len(g.ring), func(i int) bool { return g.ring[i].seq >= last.Seq })
	exact := i < len(g.ring) && g.ring[i].seq == last.Seq
	for j := i; exact && j < len(g.ring); j++ {
		exact = g.ring[j].pick(f) != nil
	}
	if !exact {
		reason := ResetUnknown
		if len(p.log) > 0 && last.Seq < p.log[0].seq {
			reason = ResetExpired
		}
		p.resets.Add(1)
		return append([]*Message{resetMessage(reason)}, p.backlog(g, f, nil)...)
	}
	out := make([]*Message, 0, len(g.ring)-i)
	if first := g.ring[i].pick(f); first.Frames[len(first.Frames)-1].ID.After(*last) {
		rest := &Message{Seq: first.Seq}
		for _, fr := range first.Frames {
			if fr.ID.After(*last) {
				rest.Frames = append(rest.Frames, fr)
			}
		}
		out = append(out, rest)
	}
	for _, k := range g.ring[i+1:] {
		out = append(out, k.pick(f))
	}
	return out
}

// resetMessage tells a resuming client that what it missed cannot be sent: it should
// clear what it shows, as a fresh stream follows. The event has no id, so the client's
// Last-Event-ID stays that of the last event it really got.
func resetMessage(reason string) *Message {
	return &Message{Frames: []Frame{{Data: AppendEvent(nil, "", EventReset, []byte(reason))}}}
}

// trim applies the resume bounds after an emission: age (the window plus one interval, so
// an id seen just before a disconnect is still there a full window later), count and
// bytes, always keeping the newest emission. It forgets groups and users without a stream
// for longer than the window.
func (p *Publisher) trim(now time.Time) {
	keep := p.cfg.ResumeWindow + p.cfg.Interval
	drop := 0
	for drop < len(p.log)-1 && (len(p.log)-drop > p.cfg.ResumeMax || now.Sub(p.log[drop].at) > keep || p.logBytes > p.cfg.ResumeBytes) {
		p.logBytes -= p.log[drop].bytes
		drop++
	}
	if drop > 0 {
		n := copy(p.log, p.log[drop:])
		p.log = p.log[:n]
	}
	oldest := uint64(0)
	if len(p.log) > 0 {
		oldest = p.log[0].seq
	}
	for key, g := range p.groups {
		i := 0
		for i < len(g.ring) && g.ring[i].seq < oldest {
			i++
		}
		if i > 0 {
			n := copy(g.ring, g.ring[i:])
			clear(g.ring[n:])
			g.ring = g.ring[:n]
		}
		if !live(g.liveHTML, now, p.cfg.ResumeWindow) && !live(g.liveJSON, now, p.cfg.ResumeWindow) {
			g.dropped = true
			delete(p.groups, key)
		}
	}
	for uid, u := range p.users {
		if now.Sub(u.seen) > p.cfg.ResumeWindow {
			delete(p.users, uid)
		}
	}
}

// size is the bytes of m's frames.
func (m *Message) size() int64 {
	var n int64
	for _, f := range m.Frames {
		n += int64(len(f.Data))
	}
	return n
}

// busy is Attach's answer when the publisher's lock is not free before the request's
// deadline.
func busy(err error) error {
	return &tickstock.Error{Code: tickstock.EUNAVAILABLE, Message: "The live stream is busy. Please try again shortly.", Err: err}
}
