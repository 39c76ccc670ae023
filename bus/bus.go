// Package bus carries invalidations between the parts of the app and, later, between
// instances: "this user's settings changed", "this session ended", and so on. Publishers
// (settings, auth) never call the caches or the stream hub directly; every instance,
// the publishing one included, applies a message by receiving it from the bus.
//
// Messages are plain values that encode to JSON (Encode, Decode), so the Redis bus carries
// them between instances by swapping the implementation, not the callers. Local is the
// in-process bus of a single instance; it sends every message through Encode and Decode
// too, so a message that could not cross instances fails here first. Redis is the bus of
// several instances (pub/sub, with a Resync after every reconnect).
//
// The package also holds the wire encoding of the feed leader's emissions (Emission,
// AppendEmission, EmissionDecoder), which package cluster carries on a Redis Stream.
package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// Reasons a session, a user's access or a credential ends. A stream that ends for one of
// them sends `event: logout` with the reason as its data (SPEC section 7).
const (
	ReasonLogout   = "logout"   // signed out, or signed in again in the same browser
	ReasonExpired  = "expired"  // the session reached its end
	ReasonDisabled = "disabled" // the account was disabled or deleted
	ReasonRevoked  = "revoked"  // the session, embed or token was revoked
)

// Message is one invalidation. The concrete types below are the only ones; each is a plain
// value with no pointers or functions (a slice at most, which every receiver gets a copy
// of), so it survives Encode and Decode unchanged.
type Message interface {
	// Kind names the message type on the wire.
	Kind() string
}

// SettingsChanged says a user's universes or filters changed: drop them from caches.
type SettingsChanged struct {
	UserID int64 `json:"user_id"`
}

// AccountChanged says a user's account row changed (enabled again, and any later change
// to its role, email or name): drop cached copies of it. Disabling and deleting announce
// UserEnded, which drops them too.
type AccountChanged struct {
	UserID int64 `json:"user_id"`
}

// UniversesChanged says a universe was created or edited: drop cached universes.
type UniversesChanged struct{}

// SessionEnded says one session ended (logout, expiry, replaced by a new login, revoked):
// its streams end with Reason.
type SessionEnded struct {
	SessionID string `json:"session_id"`
	Reason    string `json:"reason"`
}

// UserEnded says everything of a user ends at once: every session, stream, embed and API
// token (account disabled or deleted). Caches drop the user.
type UserEnded struct {
	UserID int64  `json:"user_id"`
	Reason string `json:"reason"`
}

// EmbedRevoked says one embed link was revoked: its streams end.
type EmbedRevoked struct {
	EmbedID string `json:"embed_id"` // the link's handle
}

// TokenRevoked says one API token was revoked: its streams end.
type TokenRevoked struct {
	TokenID string `json:"token_id"` // the token's handle
}

// SymbolsAdded says symbols joined a watchlist (or a universe): the instance that runs the
// feed adds them to it (market.Runner.AddSymbols), so the simulator ticks them and the
// Polygon feed subscribes to them without a restart. Symbols the feed has are ignored.
type SymbolsAdded struct {
	Symbols []string `json:"symbols"`
}

// Resync says this instance may have missed messages (its connection to the shared bus
// broke and came back): every handler should drop what it caches and re-check what it
// keeps open, as if every other message had arrived. The Redis bus delivers it locally
// after each reconnect; it is never needed on a single instance.
type Resync struct{}

// Kind implements Message.
func (SettingsChanged) Kind() string { return "settings_changed" }

// Kind implements Message.
func (AccountChanged) Kind() string { return "account_changed" }

// Kind implements Message.
func (UniversesChanged) Kind() string { return "universes_changed" }

// Kind implements Message.
func (SessionEnded) Kind() string { return "session_ended" }

// Kind implements Message.
func (UserEnded) Kind() string { return "user_ended" }

// Kind implements Message.
func (EmbedRevoked) Kind() string { return "embed_revoked" }

// Kind implements Message.
func (TokenRevoked) Kind() string { return "token_revoked" }

// Kind implements Message.
func (SymbolsAdded) Kind() string { return "symbols_added" }

func (Resync) Kind() string { return "resync" }

// Handler applies one message on this instance. It must be quick and must not block: it
// runs on the publisher's goroutine with the in-process bus, and on the receiving loop
// with a shared one.
type Handler func(Message)

// Bus publishes invalidations to every instance and delivers them to this instance's
// handlers.
type Bus interface {
	// Publish delivers m to every handler on this instance before it returns (so the
	// publisher's next step already sees its effect), then to the other instances. An error
	// means other instances may not hear of m; this instance has applied it regardless.
	Publish(ctx context.Context, m Message) error
	// Subscribe adds h for every message from now on, for the life of the bus.
	Subscribe(h Handler)
}

// envelope is a message on the wire.
type envelope struct {
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
}

// Encode writes m as JSON: {"kind":"...","data":{...}}.
func Encode(m Message) ([]byte, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("bus: encode %s: %w", m.Kind(), err)
	}
	return json.Marshal(envelope{Kind: m.Kind(), Data: data})
}

// Decode reads what Encode wrote. An unknown kind (from a newer release) is an error the
// receiver logs and skips.
func Decode(b []byte) (Message, error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("bus: decode message: %w", err)
	}
	var m Message
	var err error
	switch env.Kind {
	case SettingsChanged{}.Kind():
		m, err = decodeAs[SettingsChanged](env.Data)
	case AccountChanged{}.Kind():
		m, err = decodeAs[AccountChanged](env.Data)
	case UniversesChanged{}.Kind():
		m, err = decodeAs[UniversesChanged](env.Data)
	case SessionEnded{}.Kind():
		m, err = decodeAs[SessionEnded](env.Data)
	case UserEnded{}.Kind():
		m, err = decodeAs[UserEnded](env.Data)
	case EmbedRevoked{}.Kind():
		m, err = decodeAs[EmbedRevoked](env.Data)
	case TokenRevoked{}.Kind():
		m, err = decodeAs[TokenRevoked](env.Data)
	case SymbolsAdded{}.Kind():
		m, err = decodeAs[SymbolsAdded](env.Data)
	case Resync{}.Kind():
		m, err = decodeAs[Resync](env.Data)
	default:
		return nil, fmt.Errorf("bus: unknown message kind %q", env.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("bus: decode %s: %w", env.Kind, err)
	}
	return m, nil
}

func decodeAs[T Message](data json.RawMessage) (Message, error) {
	var v T
	err := json.Unmarshal(data, &v)
	return v, err
}

// Local is the bus of a single instance: Publish hands each message, after a round trip
// through Encode and Decode, to every handler in the order they subscribed.
type Local struct {
	mu       sync.RWMutex
	handlers []Handler
}

// roundTrip encodes and decodes m, as every subscriber gets it: a local delivery shares
// nothing with the publisher's value and fails on what Redis would refuse.
func roundTrip(m Message) (Message, error) {
	b, err := Encode(m)
	if err != nil {
		return nil, err
	}
	return Decode(b)
}

// NewLocal returns an in-process bus with no subscribers.
func NewLocal() *Local { return &Local{} }

// Publish implements Bus.
func (l *Local) Publish(_ context.Context, m Message) error {
	got, err := roundTrip(m)
	if err != nil {
		return err
	}
	l.mu.RLock()
	hs := l.handlers
	l.mu.RUnlock()
	for _, h := range hs {
		h(got)
	}
	return nil
}

// Subscribe implements Bus.
func (l *Local) Subscribe(h Handler) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.handlers = append(l.handlers[:len(l.handlers):len(l.handlers)], h)
}
