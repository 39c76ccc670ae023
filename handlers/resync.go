package handlers

import (
	"context"
	"time"

	"github.com/tickstock/tickstock/bus"
)

// recheckStreams ends the open streams whose session no longer exists. It runs after
// bus.Resync: this instance's bus connection broke and came back, so a logout, revocation
// or disabling announced meanwhile may never have reached it. Each session is read from
// the store once; one check at a time.
func (h *Handlers) recheckStreams() {
	if h.sessions == nil || !h.rechecking.CompareAndSwap(false, true) {
		return
	}
	defer h.rechecking.Store(false)
	ids := h.hub.SessionIDs()
	ended := 0
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := h.sessions.Peek(ctx, id)
		cancel()
		if err != nil {
			// The store is away again; the next resync checks again.
			h.logger.Warn("resync: cannot check the sessions of open streams", "checked", ended, "of", len(ids), "err", err)
			return
		}
		if st == nil || !st.SignedIn() {
			ended += h.hub.EndSession(id, bus.ReasonExpired)
		}
	}
	h.logger.Info("resync: open streams checked against their sessions", "sessions", len(ids), "streams_ended", ended)
}
