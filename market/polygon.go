package market

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// DefaultPolygonURL is the Polygon.io (now Massive) real-time stocks WebSocket.
const DefaultPolygonURL = "wss://socket.polygon.io/stocks"

const (
	polygonBackoffBase  = time.Second
	polygonBackoffMax   = 60 * time.Second
	polygonHandshake    = 15 * time.Second // dial, connected, auth: each must answer within this
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
type PolygonFeed struct {
	url     string
	key     string
	symbols []string
	log     *slog.Logger
	base    time.Duration
	max     time.Duration
}

// PolygonOption changes a PolygonFeed's defaults.
type PolygonOption func(*PolygonFeed)

// WithBackoff sets the reconnect wait: base first, doubling up to max. Tests use short ones.
func WithBackoff(base, max time.Duration) PolygonOption {
	return func(f *PolygonFeed) { f.base, f.max = base, max }
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
		base: polygonBackoffBase, max: polygonBackoffMax}
	for _, o := range opts {
		o(f)
	}
	if f.base <= 0 || f.max < f.base {
		return nil, fmt.Errorf("market: new polygon feed: backoff %v..%v: want 0 < base <= max", f.base, f.max)
	}
	return f, nil
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
	hctx, cancel := context.WithTimeout(ctx, polygonHandshake)
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
	for i := 0; i < len(f.symbols); i += polygonSubscribeMax {
		chunk := f.symbols[i:min(i+polygonSubscribeMax, len(f.symbols))]
		params := "A." + strings.Join(chunk, ",A.")
		if err := writeJSON(hctx, c, polygonAction{Action: "subscribe", Params: params}); err != nil {
			return false, fmt.Errorf("polygon: send subscribe: %w", err)
		}
	}
	f.log.Info("polygon: subscribed", "url", f.url, "symbols", len(f.symbols))
	cancel()

	intern := make(map[string]string, len(f.symbols))
	for _, s := range f.symbols {
		intern[s] = s
	}
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return gotData, fmt.Errorf("polygon: read: %w", err)
		}
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
