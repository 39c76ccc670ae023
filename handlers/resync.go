package handlers

import (
	"context"
	"time"

	"github.com/tickstock/tickstock/bus"
)

// recheckStreams ends the open streams whose session no longer exists. It runs after
// bus.Resync: this instance's bus connection broke and came back, so a logout, revocation
// or disabling announced meanwhile may never have reached it. Each session is read from
// the store once; one check at a time. The store may still refuse for a moment after the
// bus is back (go-redis answers with its last dial error for up to a second after a run
// of failed dials), and no later resync may come, so a failed read is tried again after
// recheckBackoff, doubling, for about half a minute.
func (h *Handlers) recheckStreams() {
	if h.sessions == nil || !h.rechecking.CompareAndSwap(false, true) {
		return
	}
	defer h.rechecking.Store(false)
	ids := h.hub.SessionIDs()
	ended, wait := 0, recheckBackoff
	for i := 0; i < len(ids); {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := h.sessions.Peek(ctx, ids[i])
		cancel()
		if err != nil {
			if wait > recheckGiveUp {
				h.logger.Warn("resync: cannot check the sessions of open streams; giving up until the next resync",
					"checked", i, "of", len(ids), "err", err)
				return
			}
			h.logger.Warn("resync: cannot check the sessions of open streams yet; trying again",
				"checked", i, "of", len(ids), "in", wait, "err", err)
			select {
			case <-h.hub.Closing():
				return
			case <-time.After(wait):
			}
			wait *= 2
			continue
		}
		if st == nil || !st.SignedIn() {
			ended += h.hub.EndSession(ids[i], bus.ReasonExpired)
		}
		i++
	}
	h.logger.Info("resync: open streams checked against their sessions", "sessions", len(ids), "streams_ended", ended)
}

// recheckBackoff is the first wait after a failed session read in recheckStreams; the
// waits double (0.5, 1, 2, 4, 8 and 16 s) until one would exceed recheckGiveUp.
const (
	recheckBackoff = 500 * time.Millisecond
	recheckGiveUp  = 16 * time.Second
)
