package stream

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/tickstock/tickstock/settings"
)

// Grouping: users with equal settings form a group, which is filtered and rendered once
// per emission. The publisher remembers each user's last known settings and each group's
// compiled matcher, so an emission never needs the database: fresh settings are read
// before the lock, under a deadline, and applied when they arrive in time.

// group is the state kept per distinct settings across emissions.
type group struct {
	key      string
	settings settings.Settings // normalised
	matcher  *settings.Matcher
	market   []string // the market universes' symbols
	built    time.Time
	gen      uint64    // the publisher's universe generation the matcher was built at
	retry    time.Time // after a failed rebuild, when to try again

	conns []*Conn // this emission's connections (scratch)
	// The last time the group had a stream of each format. A format is rendered while
	// this is within the resume window, so a lone stream that left can still resume.
	liveHTML, liveJSON time.Time
	ring               []kept // emissions kept for resume, oldest first, contiguous
	dropped            bool   // no longer in Publisher.groups
	// This emission's "settings" frames for pages that just joined the group: [0] after a
	// change of filters, [1] after a change of universes (see withChange).
	change    [2]Frame
	changeSeq uint64
}

// kept is one emission of one group, in the formats rendered for it (nil: not rendered).
// first is the number of the first upstream batch it holds: below seq when batches that
// had to wait went out together.
type kept struct {
	seq, first uint64
	html       *Message
	json       *Message
}

// userState is what the publisher remembers of a user: the last known settings, which
// serve when the settings cannot be read.
type userState struct {
	key      string
	group    *group            // groups[key] when last looked up, saving a hash per emission
	settings settings.Settings // normalised
	loaded   time.Time         // when the settings were last read from the service
	seen     time.Time         // when the user last had a stream
}

// formats reports which formats to render for g, and marks the formats of its current
// connections live.
func (g *group) formats(now time.Time, window time.Duration) (html, json bool) {
	for _, c := range g.conns {
		if c.Format == FormatJSON {
			g.liveJSON = now
		} else {
			g.liveHTML = now
		}
	}
	return live(g.liveHTML, now, window), live(g.liveJSON, now, window)
}

func live(last, now time.Time, window time.Duration) bool {
	return !last.IsZero() && now.Sub(last) <= window
}

// markLive notes a stream of format f in g.
func (g *group) markLive(f Format, now time.Time) {
	if f == FormatJSON {
		g.liveJSON = now
	} else {
		g.liveHTML = now
	}
}

// loaded is what one emission read before taking the lock.
type loaded struct {
	fresh  []settings.Group  // the connected users' settings; nil when the read failed
	err    error             // why the read failed
	built  map[string]*built // matchers built for new groups, or rebuilt for stale ones
	failed []string          // groups whose build failed
}

type built struct {
	settings settings.Settings
	matcher  *settings.Matcher
	market   []string
	at       time.Time
	gen      uint64
}

// need is a group whose matcher must be built.
type need struct {
	key string
	st  settings.Settings
}

// load reads the connected users' settings and builds the matchers of groups that are new
// or due for a rebuild. It runs outside the lock (under emitMu), all within LoadTimeout.
func (p *Publisher) load(ctx context.Context) loaded {
	var ld loaded
	p.ids = p.cfg.Hub.userIDs(p.ids[:0])
	if len(p.ids) == 0 {
		return ld
	}
	lctx, cancel := context.WithTimeout(ctx, p.cfg.LoadTimeout)
	defer cancel()
	got, err := p.cfg.Settings.LoadMany(lctx, p.ids)
	if err != nil {
		ld.err = err
	} else {
		p.list = p.list[:0]
		for _, us := range got {
			p.list = append(p.list, us)
		}
		ld.fresh = p.keys.Group(p.list)
		clear(p.list)
	}

	var needs []need
	gen := p.universes.Load() // before any build: an edit during the builds makes them stale
	p.mu.Lock()
	now := p.cfg.Now()
	for _, g := range ld.fresh {
		if p.groups[g.Key] == nil {
			needs = append(needs, need{g.Key, g.Settings})
		}
	}
	for key, g := range p.groups {
		recent := live(g.liveHTML, now, 2*p.cfg.Interval) || live(g.liveJSON, now, 2*p.cfg.Interval)
		due := recent && now.Sub(g.built) > p.cfg.RebuildEvery && !now.Before(g.retry)
		// After a universe edit every group still rendered (for a stream, or for resume)
		// rebuilds at once, failed builds retrying at every emission.
		edited := g.gen != gen && (live(g.liveHTML, now, p.cfg.ResumeWindow) || live(g.liveJSON, now, p.cfg.ResumeWindow))
		if due || edited {
			needs = append(needs, need{key, g.settings})
		}
	}
	p.mu.Unlock()

	var buildErr error
	for i, n := range needs {
		if lctx.Err() != nil {
			for _, rest := range needs[i:] {
				ld.failed = append(ld.failed, rest.key)
			}
			buildErr = cmp.Or(buildErr, lctx.Err())
			break
		}
		b, err := p.build(lctx, n.st, gen)
		if err != nil {
			ld.failed = append(ld.failed, n.key)
			buildErr = cmp.Or(buildErr, err)
			continue
		}
		if ld.built == nil {
			ld.built = make(map[string]*built)
		}
		ld.built[n.key] = b
	}
	if buildErr != nil {
		p.cfg.Logger.Warn("publisher: settings groups not built; their users keep their last known settings",
			"groups", len(ld.failed), "err", buildErr)
	}
	return ld
}

// build compiles a group's matcher and resolves its market universe.
func (p *Publisher) build(ctx context.Context, st settings.Settings, gen uint64) (*built, error) {
	m, err := p.cfg.Settings.Matcher(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("build matcher: %w", err)
	}
	set, err := p.cfg.Settings.TrackerSymbols(ctx, st, settings.TrackerMarket)
	if err != nil {
		return nil, fmt.Errorf("resolve market universes: %w", err)
	}
	return &built{settings: st, matcher: m, market: set.Symbols(), at: p.cfg.Now(), gen: gen}, nil
}

// install puts a built matcher into its group, creating the group if needed.
func (p *Publisher) install(key string, b *built) *group {
	g := p.groups[key]
	if g == nil {
		g = &group{key: key}
		p.groups[key] = g
	}
	g.settings, g.matcher, g.market, g.built, g.gen = b.settings, b.matcher, b.market, b.at, b.gen
	return g
}

// apply takes what load read, under the lock: new matchers, and each user's settings when
// their group could be built (otherwise the user keeps the last known ones).
func (p *Publisher) apply(ld loaded, now time.Time) {
	for key, b := range ld.built {
		p.install(key, b)
	}
	for _, key := range ld.failed {
		if g := p.groups[key]; g != nil {
			g.retry = now.Add(p.cfg.RebuildEvery / 6)
		}
	}
	if ld.err != nil {
		p.stale.Add(1)
		if !p.failing.Swap(true) {
			p.cfg.Logger.Warn("publisher: settings unavailable; streams use their last known settings", "err", ld.err)
		}
	} else if p.failing.Swap(false) {
		p.cfg.Logger.Info("publisher: settings available again")
	}
	for _, fg := range ld.fresh {
		if g := p.groups[fg.Key]; g == nil || g.matcher == nil {
			continue
		}
		for _, uid := range fg.UserIDs {
			u := p.user(uid)
			if u.key != fg.Key {
				u.key, u.group = fg.Key, nil
			}
			u.settings, u.loaded = fg.Settings, now
		}
	}
}

// user returns the remembered state of a user, creating it.
func (p *Publisher) user(uid int64) *userState {
	u := p.users[uid]
	if u == nil {
		u = &userState{}
		p.users[uid] = u
	}
	return u
}

// assign puts every open connection into its user's group and returns the users with an
// open connection whose settings are unknown (or whose group has no matcher).
func (p *Publisher) assign(now time.Time) []int64 {
	var unresolved []int64
	p.cfg.Hub.eachUser(func(uid int64, set map[*Conn]struct{}) {
		u := p.users[uid]
		var g *group
		if u != nil {
			if u.group == nil || u.group.dropped {
				u.group = p.groups[u.key]
			}
			g = u.group
		}
		if g == nil || g.matcher == nil {
			for c := range set {
				if !c.closed.Load() {
					unresolved = append(unresolved, uid)
					break
				}
			}
			return
		}
		u.seen = now
		for c := range set {
			if !c.closed.Load() { // closed, not yet unregistered: nothing more to send
				g.conns = append(g.conns, c)
			}
		}
	})
	return unresolved
}

// unassign forgets the emission's connections, so closed ones can be collected.
func (p *Publisher) unassign() {
	for _, g := range p.groups {
		clear(g.conns)
		g.conns = g.conns[:0]
	}
}

// attachGroup resolves the group a new stream of user uid joins: the settings are read now
// (within ctx, and within LoadTimeout when remembered settings can stand in), and the
// group's matcher is built if the group is new.
func (p *Publisher) attachGroup(ctx context.Context, uid int64) (*group, settings.Settings, bool, error) {
	if err := p.mu.LockContext(ctx); err != nil {
		return nil, settings.Settings{}, false, busy(err)
	}
	var known *userState
	if u := p.users[uid]; u != nil {
		cp := *u
		known = &cp
	}
	p.mu.Unlock()

	// The service's answer comes first (usually from its cache, which a save clears, so a
	// tab opened right after a change joins the new group); remembered settings stand in
	// only when it cannot answer in time.
	gctx := ctx
	if known != nil {
		var cancel context.CancelFunc
		gctx, cancel = context.WithTimeout(ctx, p.cfg.LoadTimeout)
		defer cancel()
	}
	var key string
	var st settings.Settings
	fresh := false
	us, err := p.cfg.Settings.Get(gctx, uid)
	switch {
	case err == nil:
		st = us.Settings.Normalized()
		key, fresh = st.Key(), true
	case known != nil:
		p.stale.Add(1)
		p.cfg.Logger.Warn("publisher: attach: settings unavailable; using the last known", "err", err)
		key, st = known.key, known.settings
	default:
		return nil, settings.Settings{}, false, fmt.Errorf("attach stream: load settings: %w", err)
	}

	if err := p.mu.LockContext(ctx); err != nil {
		return nil, settings.Settings{}, false, busy(err)
	}
	g := p.groups[key]
	p.mu.Unlock()
	if g != nil && g.matcher != nil {
		return g, st, fresh, nil
	}
	b, err := p.build(ctx, st, p.universes.Load())
	if err != nil {
		return nil, settings.Settings{}, false, fmt.Errorf("attach stream: %w", err)
	}
	return &group{key: key, settings: b.settings, matcher: b.matcher, market: b.market, built: b.at, gen: b.gen}, st, fresh, nil
}
