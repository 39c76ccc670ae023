package stream

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickstock/tickstock/settings"
)

// Format is what a connection wants: HTML fragments for htmx, or JSON for programs.
type Format uint8

// The stream formats of SPEC section 7.
const (
	FormatHTML Format = iota
	FormatJSON
)

// MaxStreamsPerUser is how many streams one user may hold open at once (SPEC section 2).
// A user's API-token streams count here too; embed streams count against their link.
const MaxStreamsPerUser = 8

// MaxStreamsPerEmbed is how many streams one embed link may have open at once on one
// instance, so a popular page that embeds it cannot take the server down.
const MaxStreamsPerEmbed = 100

// Errors from Register.
var (
	ErrTooManyStreams = errors.New("too many open streams for this user")
	ErrEmbedFull      = errors.New("too many open streams for this embed link")
	ErrHubClosed      = errors.New("the server is shutting down")
)

// Frame is one encoded SSE event, shared read-only by every connection that gets it.
type Frame struct {
	ID   EventID
	Data []byte
}

// Message is one emission's frames for one settings group and format.
type Message struct {
	Seq    uint64
	Frames []Frame
}

// Conn is one open stream. The publisher offers it messages without ever waiting; the
// connection's own writer drains them. When the queue is full the oldest message is
// dropped, and a connection that keeps dropping is closed.
type Conn struct {
	UserID    int64
	SessionID string // "" for embeds
	EmbedID   string // the embed link's handle, "" for a user's own stream
	TokenID   string // the API token's handle, for a stream opened with one
	Format    Format

	queue     chan *Message
	backlog   []*Message // what Attach found missed or recent; written before the queue
	done      chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool
	reason    atomic.Value
	streak    int // emissions in a row with a drop; the publisher's dispatch only
	d         directState

	// The settings the page behind this stream shows (its header, its empty states), under
	// the publisher's lock: when the connection's settings group changes, the next
	// emission tells the page (EventSettings) and these move on.
	shownKey string
	shown    settings.Settings
}

// NewConn builds a connection with a queue of queueSize messages.
func NewConn(userID int64, sessionID string, format Format, queueSize int) *Conn {
	if queueSize < 1 {
		queueSize = 1
	}
	return &Conn{UserID: userID, SessionID: sessionID, Format: format,
		queue: make(chan *Message, queueSize), done: make(chan struct{}),
		d: directState{wake: make(chan struct{}, 1)}}
}

// Messages is the connection's queue.
func (c *Conn) Messages() <-chan *Message { return c.queue }

// Done closes when the connection must end: session ended, shutdown, or fell behind.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Close ends the connection once; reason says why (logout, shutdown, behind, revoked).
func (c *Conn) Close(reason string) {
	c.closeOnce.Do(func() {
		c.reason.Store(reason)
		c.closed.Store(true)
		close(c.done)
	})
}

// Reason says why the connection was closed ("" while open).
func (c *Conn) Reason() string {
	r, _ := c.reason.Load().(string)
	return r
}

// offer queues m without blocking, dropping the oldest queued message if the queue is
// full. It reports whether a message was dropped.
func (c *Conn) offer(m *Message) bool {
	c.d.queued.Add(1)
	select {
	case c.queue <- m:
		return false
	default:
	}
	dropped := false
	select {
	case <-c.queue:
		c.d.queued.Add(-1)
		dropped = true
	default:
	}
	select {
	case c.queue <- m:
	default: // the writer raced us; the next emission will try again
		c.d.queued.Add(-1)
		dropped = true
	}
	return dropped
}

// Hub tracks open connections by user and by session. It is safe for concurrent use.
type Hub struct {
	mu         sync.RWMutex
	users      map[int64]map[*Conn]struct{}
	sessions   map[string]map[*Conn]struct{}
	embeds     map[string]map[*Conn]struct{}
	tokens     map[string]map[*Conn]struct{}
	maxPerUser int
	maxEmbed   int
	closed     bool
	closing    chan struct{} // closed by Shutdown
	conns      int
}

// HubOption configures a Hub.
type HubOption func(*Hub)

// WithEmbedLimit allows n streams per embed link (0: the default MaxStreamsPerEmbed).
func WithEmbedLimit(n int) HubOption {
	return func(h *Hub) {
		if n > 0 {
			h.maxEmbed = n
		}
	}
}

// NewHub returns an empty hub that allows maxPerUser streams per user (0: the default 8).
func NewHub(maxPerUser int, opts ...HubOption) *Hub {
	if maxPerUser <= 0 {
		maxPerUser = MaxStreamsPerUser
	}
	h := &Hub{users: make(map[int64]map[*Conn]struct{}), sessions: make(map[string]map[*Conn]struct{}),
		embeds: make(map[string]map[*Conn]struct{}), tokens: make(map[string]map[*Conn]struct{}),
		maxPerUser: maxPerUser, maxEmbed: MaxStreamsPerEmbed, closing: make(chan struct{})}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Register adds c, or refuses it when its user already has the most streams allowed.
// Embed streams count against their own link (ErrEmbedFull), not the owner's tabs.
func (h *Hub) Register(c *Conn) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrHubClosed
	}
	if c.EmbedID != "" && len(h.embeds[c.EmbedID]) >= h.maxEmbed {
		return ErrEmbedFull
	}
	if c.EmbedID == "" {
		n := 0
		for other := range h.users[c.UserID] {
			if other.EmbedID == "" {
				n++
			}
		}
		if n >= h.maxPerUser {
			return ErrTooManyStreams
		}
	}
	add(h.users, c.UserID, c)
	if c.SessionID != "" {
		add(h.sessions, c.SessionID, c)
	}
	if c.EmbedID != "" {
		add(h.embeds, c.EmbedID, c)
	}
	if c.TokenID != "" {
		add(h.tokens, c.TokenID, c)
	}
	h.conns++
	return nil
}

// Unregister removes c (idempotent).
func (h *Hub) Unregister(c *Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.users[c.UserID][c]; !ok {
		return
	}
	remove(h.users, c.UserID, c)
	remove(h.sessions, c.SessionID, c)
	remove(h.embeds, c.EmbedID, c)
	remove(h.tokens, c.TokenID, c)
	h.conns--
}

func add[K comparable](m map[K]map[*Conn]struct{}, k K, c *Conn) {
	if m[k] == nil {
		m[k] = make(map[*Conn]struct{})
	}
	m[k][c] = struct{}{}
}

func remove[K comparable](m map[K]map[*Conn]struct{}, k K, c *Conn) {
	delete(m[k], c)
	if len(m[k]) == 0 {
		delete(m, k)
	}
}

// EndSession closes every stream of a session (logout, expiry).
func (h *Hub) EndSession(sessionID, reason string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.sessions[sessionID] {
		c.Close(reason)
	}
	return len(h.sessions[sessionID])
}

// EndUser closes every stream of a user, embeds included (account disabled).
func (h *Hub) EndUser(userID int64, reason string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.users[userID] {
		c.Close(reason)
	}
	return len(h.users[userID])
}

// EndEmbed closes every stream of one embed link (revoked).
func (h *Hub) EndEmbed(embedID, reason string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.embeds[embedID] {
		c.Close(reason)
	}
	return len(h.embeds[embedID])
}

// EndToken closes every stream opened with one API token (revoked).
func (h *Hub) EndToken(tokenID, reason string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.tokens[tokenID] {
		c.Close(reason)
	}
	return len(h.tokens[tokenID])
}

// Shutdown refuses new streams and closes every open one. It is idempotent.
func (h *Hub) Shutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		close(h.closing)
	}
	h.closed = true
	for _, set := range h.users {
		for c := range set {
			c.Close("shutdown")
		}
	}
}

// Idle waits until every connection has unregistered or ctx ends, and reports whether
// none is left. After Shutdown each stream sends its goodbye and ends; streams own their
// sockets (taken over from the HTTP server), so the server's own shutdown does not wait
// for them and the process must, or the goodbyes would be cut off.
func (h *Hub) Idle(ctx context.Context) bool {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if _, n := h.Counts(); n == 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// Counts returns the connected users and open connections, for the metrics.
func (h *Hub) Counts() (users, conns int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.users), h.conns
}

// SessionIDs returns the sessions with open streams, so they can be checked against the
// session store after this instance may have missed their ends (bus.Resync).
func (h *Hub) SessionIDs() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	ids := make([]string, 0, len(h.sessions))
	for id := range h.sessions {
		ids = append(ids, id)
	}
	return ids
}

// Closing is closed when Shutdown begins, so a stream can end even before its connection
// is closed (ServeOptions.Shutdown).
func (h *Hub) Closing() <-chan struct{} { return h.closing }

// userIDs appends the users with open connections to dst.
func (h *Hub) userIDs(dst []int64) []int64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for uid := range h.users {
		dst = append(dst, uid)
	}
	return dst
}

// eachUser calls fn for every user with open connections, under the hub's read lock: fn
// must not call back into the hub.
func (h *Hub) eachUser(fn func(userID int64, conns map[*Conn]struct{})) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for uid, set := range h.users {
		fn(uid, set)
	}
}
