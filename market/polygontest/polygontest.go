// Package polygontest is a local stand-in for the provider's stocks WebSocket, for tests of
// the polygon feed in package market and of the whole app (cmd/tickstock).
package polygontest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// action is a message the client sends.
type action struct {
	Action string `json:"action"`
	Params string `json:"params"`
}

// Server speaks the provider's stocks WebSocket protocol: a "connected" status, an
// auth exchange, a subscribe acknowledgement, then the aggregates of its script for that
// connection. Then it keeps reading: it answers pings (as the provider's servers do),
// acknowledges later subscribe messages and, with OnSubscribe, streams what that returns.
// It records what clients sent.
type Server struct {
	tb  testing.TB
	key string
	// script returns the messages to send on the n-th connection (from 1), and whether to
	// drop the connection abruptly afterwards (else it stays open). hangup closes the
	// connection right after accepting it, before any message.
	script func(n int) (msgs []string, drop, hangup bool)

	mu          sync.Mutex
	conns       int
	accepted    []time.Time
	auths       []string
	subs        []string
	onSubscribe func(params string) []string
}

// OnSubscribe makes the server answer each subscribe message after a connection's first
// with the messages fn returns for its params (for example aggregates of the new symbols).
func (f *Server) OnSubscribe(fn func(params string) []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onSubscribe = fn
}

// ServeHTTP implements http.Handler.
func (f *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	f.mu.Lock()
	f.conns++
	n := f.conns
	f.accepted = append(f.accepted, time.Now())
	f.mu.Unlock()
	msgs, drop, hangup := f.script(n)
	if hangup {
		return
	}
	ctx := r.Context()
	send := func(s string) bool { return c.Write(ctx, websocket.MessageText, []byte(s)) == nil }
	recv := func() (action, bool) {
		var a action
		_, b, err := c.Read(ctx)
		if err != nil {
			return a, false
		}
		if err := json.Unmarshal(b, &a); err != nil {
			f.tb.Errorf("client sent non-JSON %q", b)
			return a, false
		}
		return a, true
	}
	if !send(`[{"ev":"status","status":"connected","message":"Connected Successfully"}]`) {
		return
	}
	a, ok := recv()
	if !ok {
		return
	}
	f.mu.Lock()
	f.auths = append(f.auths, a.Action+":"+a.Params)
	f.mu.Unlock()
	if a.Action != "auth" || a.Params != f.key {
		send(`[{"ev":"status","status":"auth_failed","message":"authentication failed"}]`)
		c.Close(websocket.StatusPolicyViolation, "authentication failed")
		return
	}
	send(`[{"ev":"status","status":"auth_success","message":"authenticated"}]`)
	a, ok = recv()
	if !ok {
		return
	}
	f.mu.Lock()
	f.subs = append(f.subs, a.Action+":"+a.Params)
	f.mu.Unlock()
	send(`[{"ev":"status","status":"success","message":"subscribed to: ` + a.Params + `"}]`)
	// Stream a little later, so the client is past its handshake deadline and context.
	time.Sleep(50 * time.Millisecond)
	for _, m := range msgs {
		if !send(m) {
			return
		}
	}
	if drop {
		return // CloseNow: no close handshake, like a network drop
	}
	for {
		a, ok := recv()
		if !ok {
			return
		}
		if a.Action != "subscribe" {
			continue
		}
		f.mu.Lock()
		f.subs = append(f.subs, a.Action+":"+a.Params)
		fn := f.onSubscribe
		f.mu.Unlock()
		send(`[{"ev":"status","status":"success","message":"subscribed to: ` + a.Params + `"}]`)
		if fn != nil {
			for _, m := range fn(a.Params) {
				if !send(m) {
					return
				}
			}
		}
	}
}

// Stats returns what the server saw: connections, their times, auth and subscribe params.
func (f *Server) Stats() (conns int, accepted []time.Time, auths, subs []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns, append([]time.Time(nil), f.accepted...), append([]string(nil), f.auths...),
		append([]string(nil), f.subs...)
}

// MustServer starts a fake provider that accepts key and returns it with its ws:// URL.
func MustServer(tb testing.TB, key string, script func(int) ([]string, bool, bool)) (*Server, string) {
	tb.Helper()
	f := &Server{tb: tb, key: key, script: script}
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	return f, "ws" + strings.TrimPrefix(srv.URL, "http")
}

// Agg is a per-second aggregate message as the provider sends it, with all its fields.
func Agg(sym string, close float64, vol int, endMs int64) string {
	return fmt.Sprintf(`{"ev":"A","sym":%q,"v":%d,"av":8642007,"op":25.66,"vw":25.3981,"o":%v,"c":%v,"h":%v,"l":%v,"a":25.3714,"z":50,"s":%d,"e":%d}`,
		sym, vol, close, close, close, close, endMs-1000, endMs)
}
