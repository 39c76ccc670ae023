package market

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// DefaultPolygonURL is the Polygon.io (now Massive) real-time stocks WebSocket.
const DefaultPolygonURL = "wss://socket.polygon.io/stocks"

const (
	polygonBackoffBase  = time.Second
	polygonBackoffMax   = 60 * time.Second
	polygonHandshake    = 15 * time.Second // dial, connected, auth: each must answer within this
	polygonIdle         = 20 * time.Second // silence after which the feed pings
	polygonPongWait     = 10 * time.Second // a ping unanswered this long means a dead connection
	polygonReadLimit    = 16 << 20         // a batch of aggregates can be large
	polygonSubscribeMax = 1000             // symbols per subscribe message
)

// ErrPolygonAuth is returned by PolygonFeed.Run when the provider rejects the API key. It is
// not retried: a bad key does not get better by waiting.
var ErrPolygonAuth = errors.New("polygon: authentication failed")

// PolygonFeed streams per-second aggregates ("A.SYM") from the Polygon.io stocks WebSocket
// (SPEC section 3): each aggregate's close c, volume v and end time e (Unix ms) becomes a
// tick. It reconnects after any failure except a rejected key, waiting 1 s, then doubling
// up to 60 s; the wait starts again from 1 s after a connection that delivered data.
//
// A connection that has been silent for 20 s is pinged; if no pong comes within 10 s the
// connection is taken for dead (a half-open TCP connection, a stalled proxy) and replaced.
// A quiet but healthy connection (markets closed) answers the ping and is kept.
//
// AddSymbols grows the subscription while it runs: the new symbols are subscribed on the
// live connection and on every later one.
type PolygonFeed struct {
	url       string
	key       string
	log       *slog.Logger
	base      time.Duration
	max       time.Duration
	handshake time.Duration
	idle      time.Duration
	pongWait  time.Duration

	mu      sync.Mutex
	symbols []string        // subscribed on every connection
	known   map[string]bool // symbols, as a set
	conn    *websocket.Conn // the live, subscribed connection, or nil
}

// PolygonOption changes a PolygonFeed's defaults.
type PolygonOption func(*PolygonFeed)

// WithBackoff sets the reconnect wait: base first, doubling up to max. Tests use short ones.
func WithBackoff(base, max time.Duration) PolygonOption {
	return func(f *PolygonFeed) { f.base, f.max = base, max }
}

// WithTimeouts sets how long each handshake step may take, how long a connection may be
// silent before a ping, and how long to wait for the pong. Tests use short ones.
func WithTimeouts(handshake, idle, pongWait time.Duration) PolygonOption {
	return func(f *PolygonFeed) { f.handshake, f.idle, f.pongWait = handshake, idle, pongWait }
}

// NewPolygonFeed returns a feed for the given symbols (deduplicated). An empty url means
// DefaultPolygonURL. The API key is sent only in the auth message, never logged.
func NewPolygonFeed(url, apiKey string, symbols []string, logger *slog.Logger, opts ...PolygonOption) (*PolygonFeed, error) {
	if url == "" {
		url = DefaultPolygonURL
	}
	if !strings.HasPrefix(url, "ws://") && !strings.HasPrefix(url, "wss://") {
		return nil, fmt.Errorf("market: new polygon feed: url %q: want ws:// or wss://", url)
	}
	if apiKey == "" {
		return nil, errors.New("market: new polygon feed: empty API key (set POLYGON_API_KEY)")
	}
	syms := UnionSymbols(symbols)
	if len(syms) == 0 {
		return nil, errors.New("market: new polygon feed: no symbols")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &PolygonFeed{url: url, key: apiKey, symbols: syms, log: logger,
		base: polygonBackoffBase, max: polygonBackoffMax,
		handshake: polygonHandshake, idle: polygonIdle, pongWait: polygonPongWait,
		known: make(map[string]bool, len(syms))}
	for _, s := range syms {
		f.known[s] = true
	}
	for _, o := range opts {
		o(f)
	}
	if f.base <= 0 || f.max < f.base {
		return nil, fmt.Errorf("market: new polygon feed: backoff %v..%v: want 0 < base <= max", f.base, f.max)
	}
	if f.handshake <= 0 || f.idle <= 0 || f.pongWait <= 0 {
		return nil, fmt.Errorf("market: new polygon feed: timeouts %v, %v, %v: want > 0", f.handshake, f.idle, f.pongWait)
	}
	return f, nil
}

// AddSymbols subscribes to symbols the feed does not have yet: at once on the live
// connection, if there is one, and on every connection after. Invalid symbols are refused
// (and none added); a failed subscribe is reported, but the symbols stay, so the next
// connection subscribes to them.
func (f *PolygonFeed) AddSymbols(symbols []string) error {
	for _, s := range symbols {
		if !ValidSymbol(s) {
			return fmt.Errorf("polygon: add symbol %q: not a valid symbol", s)
		}
	}
	f.mu.Lock()
	var fresh []string
	for _, s := range symbols {
		if !f.known[s] {
			s = strings.Clone(s)
			f.known[s] = true
			f.symbols = append(f.symbols, s)
			fresh = append(fresh, s)
		}
	}
	c := f.conn
	f.mu.Unlock()
	if c == nil || len(fresh) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.handshake)
	defer cancel()
	if err := subscribe(ctx, c, fresh); err != nil {
		return fmt.Errorf("polygon: subscribe %d new symbols: %w", len(fresh), err)
	}
	f.log.Info("polygon: subscribed to new symbols", "url", f.url, "added", len(fresh))
	return nil
}

// subscribe asks for the per-second aggregates of symbols, in messages of at most
// polygonSubscribeMax symbols.
func subscribe(ctx context.Context, c *websocket.Conn, symbols []string) error {
	for i := 0; i < len(symbols); i += polygonSubscribeMax {
		chunk := symbols[i:min(i+polygonSubscribeMax, len(symbols))]
		params := "A." + strings.Join(chunk, ",A.")
		if err := writeJSON(ctx, c, polygonAction{Action: "subscribe", Params: params}); err != nil {
			return err
		}
	}
	return nil
}

// Run connects, authenticates, subscribes and streams until ctx is done or the key is
// rejected (an error wrapping ErrPolygonAuth).
func (f *PolygonFeed) Run(ctx context.Context, out chan<- Tick) error {
	wait := f.base
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for attempt := 1; ; attempt++ {
		gotData, err := f.session(ctx, out)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrPolygonAuth) {
			f.log.Error("polygon: API key rejected; not retrying", "url", f.url, "err", err)
			return err
		}
		if gotData {
			wait, attempt = f.base, 1
		}
		f.log.Warn("polygon: connection lost; reconnecting", "url", f.url, "err", err,
			"attempt", attempt, "retry_in", wait)
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		wait = min(2*wait, f.max)
	}
}

// session runs one connection. It reports whether any aggregate arrived, and why it ended.
func (f *PolygonFeed) session(ctx context.Context, out chan<- Tick) (gotData bool, err error) {
	hctx, cancel := context.WithTimeout(ctx, f.handshake)
	defer cancel()
	c, _, err := websocket.Dial(hctx, f.url, nil)
	if err != nil {
		return false, fmt.Errorf("polygon: dial: %w", err)
	}
	defer c.CloseNow()
	c.SetReadLimit(polygonReadLimit)

	var msgs []polygonMsg
	// The server greets with status "connected"; then auth, and wait for its verdict.
	if msgs, err = f.awaitStatus(hctx, c, msgs, "connected"); err != nil {
		return false, err
	}
	if err := writeJSON(hctx, c, polygonAction{Action: "auth", Params: f.key}); err != nil {
		return false, fmt.Errorf("polygon: send auth: %w", err)
	}
	if msgs, err = f.awaitStatus(hctx, c, msgs, "auth_success"); err != nil {
		return false, err
	}
	// Symbols added from now on are subscribed by AddSymbols on this connection; the ones
	// before are in syms.
	f.mu.Lock()
	syms := f.symbols[:len(f.symbols):len(f.symbols)]
	f.conn = c
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		if f.conn == c {
			f.conn = nil
		}
		f.mu.Unlock()
	}()
	if err := subscribe(hctx, c, syms); err != nil {
		return false, fmt.Errorf("polygon: send subscribe: %w", err)
	}
	f.log.Info("polygon: subscribed", "url", f.url, "symbols", len(syms))
	cancel()

	var lastRead atomic.Int64
	lastRead.Store(time.Now().UnixNano())
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	dead := make(chan error, 1)
	go f.watch(wctx, c, &lastRead, dead)

	intern := make(map[string]string, len(syms))
	for _, s := range syms {
		intern[s] = s
	}
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			select {
			case why := <-dead:
				return gotData, why
			default:
			}
			return gotData, fmt.Errorf("polygon: read: %w", err)
		}
		lastRead.Store(time.Now().UnixNano())
		msgs, err = parsePolygon(data, msgs)
		if err != nil {
			f.log.Warn("polygon: bad message skipped", "err", err, "bytes", len(data))
			continue
		}
		for i := range msgs {
			m := &msgs[i]
			switch m.Ev {
			case "A":
				t, ok := m.tick(intern)
				if !ok {
					f.log.Debug("polygon: bad aggregate skipped", "sym", m.Sym)
					continue
				}
				gotData = true
				if !send(ctx, out, t) {
					return gotData, ctx.Err()
				}
			case "status":
				if m.Status == "auth_failed" {
					return gotData, fmt.Errorf("%w: %s", ErrPolygonAuth, m.Message)
				}
				f.log.Info("polygon: status", "status", m.Status, "message", m.Message)
			}
		}
	}
}

// watch pings the connection after f.idle without a message, and closes it (reporting why on
// dead) when the pong does not come within f.pongWait: a half-open connection never errors
// on its own.
func (f *PolygonFeed) watch(ctx context.Context, c *websocket.Conn, lastRead *atomic.Int64, dead chan<- error) {
	t := time.NewTimer(f.idle)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		quiet := time.Since(time.Unix(0, lastRead.Load()))
		if quiet < f.idle {
			t.Reset(f.idle - quiet)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, f.pongWait)
		err := c.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			dead <- fmt.Errorf("polygon: silent for %v and no pong within %v: %w", quiet.Round(time.Millisecond), f.pongWait, err)
			c.CloseNow()
			return
		}
		f.log.Debug("polygon: quiet connection answered a ping", "url", f.url, "quiet", quiet)
		t.Reset(f.idle)
	}
}

// awaitStatus reads messages until a status message with the wanted status. A rejected key
// is ErrPolygonAuth; other messages are skipped.
func (f *PolygonFeed) awaitStatus(ctx context.Context, c *websocket.Conn, msgs []polygonMsg, want string) ([]polygonMsg, error) {
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return msgs, fmt.Errorf("polygon: waiting for %s: %w", want, err)
		}
		msgs, err = parsePolygon(data, msgs)
		if err != nil {
			return msgs, fmt.Errorf("polygon: waiting for %s: %w", want, err)
		}
		for _, m := range msgs {
			if m.Ev != "status" {
				continue
			}
			switch m.Status {
			case want:
				return msgs, nil
			case "auth_failed":
				return msgs, fmt.Errorf("%w: %s", ErrPolygonAuth, m.Message)
			case "max_connections", "auth_timeout", "error":
				return msgs, fmt.Errorf("polygon: waiting for %s: status %s: %s", want, m.Status, m.Message)
			}
		}
	}
}

type polygonAction struct {
	Action string `json:"action"`
	Params string `json:"params"`
}

func writeJSON(ctx context.Context, c *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Write(ctx, websocket.MessageText, b)
}

// polygonMsg holds the fields TickStock reads from any provider message.
type polygonMsg struct {
	Ev      string  `json:"ev"`
	Sym     string  `json:"sym"`
	Close   float64 `json:"c"`
	Volume  float64 `json:"v"`
	End     int64   `json:"e"`
	Status  string  `json:"status"`
	Message string  `json:"message"`
}

// parsePolygon decodes one provider message, a JSON array of events (a lone object is
// accepted too), reusing msgs.
func parsePolygon(data []byte, msgs []polygonMsg) ([]polygonMsg, error) {
	clear(msgs[:cap(msgs)]) // json keeps fields absent from a reused element
	msgs = msgs[:0]
	i := 0
	for i < len(data) && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t') {
		i++
	}
	if i < len(data) && data[i] == '{' {
		msgs = append(msgs, polygonMsg{})
		if err := json.Unmarshal(data, &msgs[0]); err != nil {
			return msgs[:0], fmt.Errorf("polygon: decode message: %w", err)
		}
		return msgs, nil
	}
	if err := json.Unmarshal(data, &msgs); err != nil {
		return msgs[:0], fmt.Errorf("polygon: decode message: %w", err)
	}
	return msgs, nil
}

// tick converts an aggregate to a tick, interning the symbol.
func (m *polygonMsg) tick(intern map[string]string) (Tick, bool) {
	if !(m.Close > 0) || math.IsInf(m.Close, 1) || !(m.Volume >= 0) || m.Volume > math.MaxInt64/2 ||
		m.End <= 0 || m.End > maxUnixMillis || !ValidSymbol(m.Sym) {
		return Tick{}, false
	}
	sym, ok := intern[m.Sym]
	if !ok {
		sym = m.Sym
		intern[sym] = sym
	}
	return Tick{Symbol: sym, Price: m.Close, Volume: int64(m.Volume), Time: time.UnixMilli(m.End).UTC()}, true
}
