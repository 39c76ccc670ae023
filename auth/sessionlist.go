package auth

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/rdb"
)

// SessionInfo is one signed-in session as its owner sees it on the account page. It holds
// no session id: Ref is the opaque handle that names the session in URLs and forms.
type SessionInfo struct {
	Ref      string
	Current  bool // the session of the request that asked
	Started  time.Time
	LastSeen time.Time // to the minute: see Touch
	IP       string
	Agent    string // the browser in a few words (DescribeAgent)
}

// List returns the live sessions of a user, wherever they are stored (memory or Redis):
// the one named currentID first, then the most recently seen. Ids the index still holds
// whose records are gone (ended elsewhere) are dropped from the index on the way.
func (s *Sessions) List(ctx context.Context, userID int64, currentID string) ([]SessionInfo, error) {
	states, err := s.live(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]SessionInfo, 0, len(states))
	for _, st := range states {
		out = append(out, SessionInfo{Ref: st.Ref, Current: st.ID == currentID, Started: st.LoginAt,
			LastSeen: st.seen, IP: st.dev.IP, Agent: st.dev.UserAgent})
	}
	slices.SortFunc(out, func(a, b SessionInfo) int {
		if a.Current != b.Current {
			if a.Current {
				return -1
			}
			return 1
		}
		return cmp.Or(b.LastSeen.Compare(a.LastSeen), b.Started.Compare(a.Started), cmp.Compare(a.Ref, b.Ref))
	})
	return out, nil
}

// Revoke ends the session of userID that ref names, with its streams (on every instance,
// through the bus), and returns it. A ref that names no live session of this user (another
// user's, an ended one, junk) is tickstock.ENOTFOUND.
func (s *Sessions) Revoke(ctx context.Context, userID int64, ref string) (*State, error) {
	if ref == "" {
		return nil, notFoundSession()
	}
	states, err := s.live(ctx, userID)
	if err != nil {
		return nil, err
	}
	for _, st := range states {
		if st.Ref != "" && st.Ref == ref {
			if err := s.End(ctx, st, bus.ReasonRevoked); err != nil {
				return nil, err
			}
			return st, nil
		}
	}
	return nil, notFoundSession()
}

// EndOthers ends every session of userID but keepID (empty: every one), each with its
// streams and reason, and returns how many ended. It announces each session on its own
// (bus.SessionEnded), never the user as a whole, so the kept session's streams, and the
// user's embeds and API tokens, live on.
func (s *Sessions) EndOthers(ctx context.Context, userID int64, keepID, reason string) (int, error) {
	ids, err := s.index.List(ctx, userID)
	if err != nil {
		return 0, rdb.Err("list sessions", err)
	}
	n := 0
	for _, sid := range ids {
		if sid == keepID {
			continue
		}
		if err := s.End(ctx, &State{ID: sid, UserID: userID}, reason); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// live reads every indexed session of userID that still exists and is not past its end.
func (s *Sessions) live(ctx context.Context, userID int64) ([]*State, error) {
	ids, err := s.index.List(ctx, userID)
	if err != nil {
		return nil, rdb.Err("list sessions", err)
	}
	now := s.now()
	var out []*State
	for _, sid := range ids {
		b, err := s.storage.GetWithContext(ctx, sid)
		if err != nil {
			return nil, rdb.Err("read session", err)
		}
		st := decode(sid, b)
		if st == nil || st.UserID != userID || !now.Before(st.Expires()) {
			if err := s.index.Remove(ctx, userID, sid); err != nil {
				return nil, rdb.Err("unindex session", err)
			}
			continue
		}
		out = append(out, st)
	}
	return out, nil
}

func notFoundSession() error {
	return tickstock.Errorf(tickstock.ENOTFOUND, "That session has already ended.")
}
