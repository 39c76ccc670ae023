package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/market"
)

// Only the leader runs the feed and the engine, yet every instance shows the feed's
// figures (GET /api/admin/metrics, Prometheus) and the per-symbol data of watchlists and
// symbol pages. The leader shares both over Redis, best effort:
//
//   - its feed figures, as JSON under Keys.Figures, rewritten every figuresEvery with a TTL
//     of figuresTTL; the other instances read that key as often, so their figures lag by
//     a few seconds and read "none" once no leader wrote them for the TTL;
//   - symbol data on request: a follower publishes an askRequest on Keys.Ask; the leader,
//     subscribed during its term, pushes the answer onto a list named after the request,
//     which the follower pops with a timeout of askTimeout. A follower that gets no answer
//     shows the symbols without data (never an error page, never a long wait).

const (
	figuresEvery = 2 * time.Second
	figuresTTL   = 30 * time.Second
	// askTimeout bounds a follower's wait for symbol data (BLPOP counts whole seconds).
	askTimeout = time.Second
	// answerTTL is how long an answer nobody popped stays in Redis.
	answerTTL = 10 * time.Second
	// maxAskSymbols bounds the symbols of one request (a watchlist's size); followers ask
	// for more in several requests.
	maxAskSymbols = 200
	// maxAskBytes bounds a request the leader reads, and maxAnswerBytes an answer it sends
	// (a symbol's full session is a few hundred KB at most).
	maxAskBytes    = 16 << 10
	maxAnswerBytes = 4 << 20
	// maxAsksInFlight bounds the requests the leader answers at once; more are dropped
	// and their askers time out.
	maxAsksInFlight = 8
	// warnEvery spaces the warnings of failed asks, which page loads can repeat quickly.
	warnEvery = 10 * time.Second
)

// The kinds of request.
const (
	askStates = "states" // SymbolStates(Symbols)
	askView   = "view"   // SymbolView(Symbols[0])
)

// wireFigures is the leader's feed figures as stored in Redis: market.Metrics and the
// fields its JSON leaves out.
type wireFigures struct {
	Leader  string         `json:"leader"`
	Metrics market.Metrics `json:"metrics"`

	Rejected      uint64 `json:"rejected"`
	Coarse        uint64 `json:"coarse"`
	Coarsenings   uint64 `json:"coarsenings"`
	EventsDropped uint64 `json:"events_dropped"`
}

func toWire(leader string, m market.Metrics) wireFigures {
	return wireFigures{Leader: leader, Metrics: m, Rejected: m.Feed.Rejected, Coarse: m.Feed.Coarse,
		Coarsenings: m.Feed.Coarsenings, EventsDropped: m.Events.Dropped}
}

func (w wireFigures) metrics() market.Metrics {
	m := w.Metrics
	m.Feed.Rejected, m.Feed.Coarse, m.Feed.Coarsenings, m.Events.Dropped = w.Rejected, w.Coarse, w.Coarsenings, w.EventsDropped
	return m
}

// askRequest is a follower's request for symbol data.
type askRequest struct {
	ID      string   `json:"id"`
	Kind    string   `json:"kind"`
	Symbols []string `json:"symbols"`
}

// askAnswer is the leader's answer: States for askStates, View and Found for askView, or
// Error when the request was refused.
type askAnswer struct {
	Error  string               `json:"error,omitempty"`
	States []market.SymbolState `json:"states,omitempty"`
	View   *market.SymbolView   `json:"view,omitempty"`
	Found  bool                 `json:"found"`
}

// errNoLeader means no instance listened for symbol data requests (no leader right now).
var errNoLeader = errors.New("cluster: no feed leader is listening for symbol data requests")

// FeedMetrics are the feed's figures ("feed" and "events" of GET /api/admin/metrics): the
// runner's own on the leader, else the latest the leader wrote to Redis (Source "none"
// when there are none). It does no I/O.
func (f *Feed) FeedMetrics() market.Metrics {
	if rb := f.runner.Load(); rb != nil {
		return rb.r.Metrics()
	}
	if m := f.figs.Load(); m != nil {
		return *m
	}
	return market.Metrics{Feed: market.FeedMetrics{Source: "none"}}
}

// writeFigures stores the leader's figures in Redis every figuresEvery until ctx ends.
func (f *Feed) writeFigures(ctx context.Context, r Runner, log *slog.Logger) {
	t := time.NewTicker(figuresEvery)
	defer t.Stop()
	failing := false
	for {
		b, err := json.Marshal(toWire(f.cfg.Instance, r.Metrics()))
		if err == nil {
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			err = f.cfg.Redis.Set(wctx, f.keys.Figures, b, figuresTTL).Err()
			cancel()
		}
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			log.Warn("cluster: cannot share the feed figures; the other instances show older ones", "err", err)
			failing = true
		case err == nil && failing:
			log.Info("cluster: sharing the feed figures again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readFigures keeps the leader's figures from Redis every figuresEvery until ctx ends, on
// the instances that do not lead. The figures go when the key expired; while Redis cannot
// be read the last ones stay.
func (f *Feed) readFigures(ctx context.Context) {
	t := time.NewTicker(figuresEvery)
	defer t.Stop()
	failing := false
	for {
		if f.runner.Load() == nil {
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			b, err := f.cfg.Redis.Get(rctx, f.keys.Figures).Bytes()
			cancel()
			var w wireFigures
			switch {
			case errors.Is(err, redis.Nil):
				f.figs.Store(nil)
				failing = false
			case err == nil:
				if err := json.Unmarshal(b, &w); err != nil {
					f.log.Warn("cluster: unreadable feed figures in Redis", "key", f.keys.Figures, "err", err)
					break
				}
				m := w.metrics()
				f.figs.Store(&m)
				failing = false
			case ctx.Err() == nil && !failing:
				f.log.Warn("cluster: cannot read the feed figures; showing the last ones", "err", err)
				failing = true
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// serveAsks answers the followers' symbol data requests from r until ctx ends (the
// leader's term).
func (f *Feed) serveAsks(ctx context.Context, r Runner, log *slog.Logger) {
	sub := f.cfg.Redis.Subscribe(ctx, f.keys.Ask)
	defer sub.Close()
	// Receive waits for the subscription, so requests are answered from here on.
	if _, err := sub.Receive(ctx); err != nil {
		if ctx.Err() == nil {
			log.Warn("cluster: cannot listen for symbol data requests; followers show no symbol data until it can", "err", err)
		}
		// The channel below still resubscribes once Redis answers again.
	}
	ch := sub.Channel()
	sem := make(chan struct{}, maxAsksInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			select {
			case sem <- struct{}{}:
			default:
				log.Warn("cluster: too many symbol data requests at once; one dropped")
				continue
			}
			wg.Go(func() {
				defer func() { <-sem }()
				f.answer(ctx, r, m.Payload, log)
			})
		}
	}
}

// answer checks one request, reads its answer from r and pushes it for the asker.
func (f *Feed) answer(ctx context.Context, r Runner, payload string, log *slog.Logger) {
	var req askRequest
	if len(payload) > maxAskBytes {
		log.Warn("cluster: oversized symbol data request ignored", "bytes", len(payload))
		return
	}
	if err := json.Unmarshal([]byte(payload), &req); err != nil || !validAskID(req.ID) {
		log.Warn("cluster: malformed symbol data request ignored", "err", err)
		return
	}
	var a askAnswer
	if err := checkAsk(req); err != nil {
		a.Error = err.Error()
	} else if req.Kind == askStates {
		a.States = r.SymbolStates(req.Symbols)
	} else if v, ok := r.SymbolView(req.Symbols[0]); ok {
		a.View, a.Found = &v, true
	}
	b, err := json.Marshal(a)
	if err == nil && len(b) > maxAnswerBytes {
		err = fmt.Errorf("answer of %d bytes is over the %d bytes allowed", len(b), maxAnswerBytes)
	}
	if err != nil {
		log.Warn("cluster: cannot answer a symbol data request", "kind", req.Kind, "err", err)
		b, _ = json.Marshal(askAnswer{Error: err.Error()})
	}
	key := f.keys.AnswerPrefix + req.ID
	actx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err = f.cfg.Redis.TxPipelined(actx, func(p redis.Pipeliner) error {
		p.RPush(actx, key, b)
		p.Expire(actx, key, answerTTL)
		return nil
	})
	if err != nil && ctx.Err() == nil {
		log.Warn("cluster: cannot send the answer to a symbol data request", "kind", req.Kind, "err", err)
	}
}

// validAskID reports whether id is a request id as ask makes them: 32 hex digits, safe
// to put in a key name.
func validAskID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// checkAsk checks a request's kind and symbols.
func checkAsk(req askRequest) error {
	switch {
	case req.Kind == askStates && (len(req.Symbols) == 0 || len(req.Symbols) > maxAskSymbols):
		return fmt.Errorf("cluster: a states request names %d symbols, want 1 to %d", len(req.Symbols), maxAskSymbols)
	case req.Kind == askView && len(req.Symbols) != 1:
		return fmt.Errorf("cluster: a view request names %d symbols, want 1", len(req.Symbols))
	case req.Kind != askStates && req.Kind != askView:
		return fmt.Errorf("cluster: unknown request kind %q", req.Kind)
	}
	for _, s := range req.Symbols {
		if !market.ValidSymbol(s) {
			return fmt.Errorf("cluster: %q is not a valid symbol", s)
		}
	}
	return nil
}

// ask sends one request to the leader and waits for its answer, until ctx ends or for
// askTimeout.
func (f *Feed) ask(ctx context.Context, kind string, symbols []string) (askAnswer, error) {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	req := askRequest{ID: hex.EncodeToString(id), Kind: kind, Symbols: symbols}
	b, err := json.Marshal(req)
	if err != nil {
		return askAnswer{}, fmt.Errorf("cluster: encode a symbol data request: %w", err)
	}
	n, err := f.cfg.Redis.Publish(ctx, f.keys.Ask, b).Result()
	if err != nil {
		return askAnswer{}, fmt.Errorf("cluster: ask the feed leader for symbol data: %w", err)
	}
	if n == 0 {
		return askAnswer{}, errNoLeader
	}
	res, err := f.cfg.Redis.BLPop(ctx, askTimeout, f.keys.AnswerPrefix+req.ID).Result()
	if errors.Is(err, redis.Nil) {
		return askAnswer{}, fmt.Errorf("cluster: the feed leader did not answer a symbol data request within %s", askTimeout)
	}
	if err != nil {
		return askAnswer{}, fmt.Errorf("cluster: wait for the feed leader's symbol data: %w", err)
	}
	var a askAnswer
	if len(res) != 2 {
		return askAnswer{}, fmt.Errorf("cluster: BLPOP answered %d values, want 2", len(res))
	}
	if err := json.Unmarshal([]byte(res[1]), &a); err != nil {
		return askAnswer{}, fmt.Errorf("cluster: read the feed leader's symbol data: %w", err)
	}
	if a.Error != "" {
		return askAnswer{}, fmt.Errorf("cluster: the feed leader refused a symbol data request: %s", a.Error)
	}
	return a, nil
}

// askContext bounds the asks of one call: a little over askTimeout, so a leader that
// answers slowly costs a page load about a second.
func askContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), askTimeout+500*time.Millisecond)
}

// warnAsk logs a failed ask at WARN, at most once every warnEvery (page loads repeat them).
func (f *Feed) warnAsk(what string, err error) {
	now := time.Now().UnixNano()
	last := f.askWarned.Load()
	if now-last < int64(warnEvery) || !f.askWarned.CompareAndSwap(last, now) {
		f.log.Debug("cluster: no symbol data from the feed leader", "for", what, "err", err)
		return
	}
	f.log.Warn("cluster: no symbol data from the feed leader; showing the symbols without data", "for", what, "err", err)
}

// SymbolStates returns each symbol's latest state, in order (watchlist prices): from the
// runner on the leader, else asked of the leader. A symbol the leader does not know, or
// when it cannot be asked within about a second, comes back with HasData false.
func (f *Feed) SymbolStates(symbols []string) []market.SymbolState {
	if rb := f.runner.Load(); rb != nil {
		return rb.r.SymbolStates(symbols)
	}
	out := make([]market.SymbolState, len(symbols))
	var uniq []string
	seen := make(map[string]bool, len(symbols))
	for i, s := range symbols {
		out[i] = market.SymbolState{Symbol: s}
		if market.ValidSymbol(s) && !seen[s] {
			seen[s] = true
			uniq = append(uniq, s)
		}
	}
	if len(uniq) == 0 {
		return out
	}
	got := make(map[string]market.SymbolState, len(uniq))
	ctx, cancel := askContext()
	defer cancel()
	for len(uniq) > 0 {
		chunk := uniq[:min(len(uniq), maxAskSymbols)]
		uniq = uniq[len(chunk):]
		a, err := f.ask(ctx, askStates, chunk)
		if err != nil {
			f.warnAsk("watchlist prices", err)
			break
		}
		for _, st := range a.States {
			if seen[st.Symbol] {
				got[st.Symbol] = st
			}
		}
	}
	for i := range out {
		if st, ok := got[out[i].Symbol]; ok {
			out[i] = st
		}
	}
	return out
}

// SymbolView returns a symbol's session for its page: from the runner on the leader, else
// asked of the leader. It is false when the symbol is unknown, and also when the leader
// cannot be asked within about a second: the symbol page then shows the symbol as "no data
// yet" when it is in a universe or one of the user's watchlists (every symbol the feed
// covers is), and 404 otherwise, as for any symbol the feed does not know.
func (f *Feed) SymbolView(symbol string) (market.SymbolView, bool) {
	if rb := f.runner.Load(); rb != nil {
		return rb.r.SymbolView(symbol)
	}
	if !market.ValidSymbol(symbol) {
		return market.SymbolView{}, false
	}
	ctx, cancel := askContext()
	defer cancel()
	a, err := f.ask(ctx, askView, []string{symbol})
	if err != nil {
		f.warnAsk("symbol "+symbol, err)
		return market.SymbolView{}, false
	}
	if !a.Found || a.View == nil {
		return market.SymbolView{}, false
	}
	return *a.View, true
}
