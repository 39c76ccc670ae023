package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/rdb"
)

// Count is one step of a rate-limit counter: the key counted, its count in the current
// window, and when the window ends.
type Count struct {
	Key   string
	N     int64
	Reset time.Time
}

// peekCountScript reads a session record and counts one hit of a fixed window: under
// ARGV[2] followed by the record's handle when the record names a signed-in user (uid > 0,
// a handle and a CSRF token, as decode and SignedIn read it), else under KEYS[2]. It
// returns the record (false when there is none), the count, the window's time left in
// milliseconds and the key counted. The user's key is not among the declared KEYS, which
// one Redis server (what rdb.Open connects to) allows and Redis Cluster would not.
var peekCountScript = redis.NewScript(`
local rec = redis.call('GET', KEYS[1])
local key = KEYS[2]
if rec then
  local ok, r = pcall(cjson.decode, rec)
  if ok and type(r) == 'table' and type(r.uid) == 'number' and r.uid > 0
     and type(r.handle) == 'string' and r.handle ~= '' and type(r.csrf) == 'string' and r.csrf ~= '' then
    key = ARGV[2] .. r.handle
  end
end
local n = redis.call('INCR', key)
if n == 1 or redis.call('PTTL', key) < 0 then
  redis.call('PEXPIRE', key, ARGV[1])
end
return {rec or false, n, redis.call('PTTL', key), key}
`)

// PeekCounted reads the session id names, as Peek does, and counts one request against
// it with counter in a fixed window: under userKeyPrefix+handle for a signed-in session,
// else under anonKey. With sessions and counter both in the same Redis, the read and the
// count are one round trip, shared with other requests' (rdb.Batcher); otherwise Peek,
// then counter.Hit.
//
// Which key to count depends on the record, so a session this instance has not read yet
// goes through a script that decodes the record in Redis. For one it has read, the handle
// is known (a session id's user never changes: signing in issues a new id), and plain
// commands do the same for a tenth of Redis's time (the script's JSON decoding was most
// of it): GET, INCR and PTTL, then PEXPIRE when the window is new or has no expiry (a
// count left without one by a broken connection heals at the next request).
//
// Either way the key is chosen before the record is checked here; if this reading differs
// (the record expired within the last second, was signed out, or cannot be read), the
// right key is counted as well, so the request is always counted where it belongs (the
// other key may then hold one hit too many).
func (s *Sessions) PeekCounted(ctx context.Context, id string, counter Counter, anonKey, userKeyPrefix string, window time.Duration) (*State, Count, error) {
	ps, okStore := s.storage.(prefixStorage)
	rc, okCounter := counter.(*RedisCounter)
	if !okStore || !okCounter || ps.rdb != rc.rdb || !wellFormedID(id) {
		st, err := s.Peek(ctx, id)
		if err != nil {
			return nil, Count{}, err
		}
		return s.count(ctx, st, counter, anonKey, userKeyPrefix, window)
	}
	var (
		rec      string
		found    bool
		n, ttlMs int64
		key      string
	)
	if handle, known := s.handles.get(id); known {
		if handle != "" {
			key = rc.prefix + userKeyPrefix + handle
		} else {
			key = rc.prefix + anonKey
		}
		get := redis.NewStringCmd(ctx, "get", ps.prefix+id)
		incr := redis.NewIntCmd(ctx, "incr", key)
		pttl := redis.NewIntCmd(ctx, "pttl", key)
		if err := rc.batch.Do(ctx, get, incr, pttl); err != nil {
			return nil, Count{}, rdb.Err("read session and count request", err)
		}
		getErr := get.Err()
		if errors.Is(getErr, redis.Nil) {
			getErr = nil
		}
		if err := errors.Join(getErr, incr.Err(), pttl.Err()); err != nil {
			return nil, Count{}, rdb.Err("read session and count request", err) // never name the key: it holds a session id
		}
		rec, found = get.Val(), get.Err() == nil
		n, ttlMs = incr.Val(), pttl.Val()
		if n == 1 || ttlMs < 0 { // a new window (or one without an expiry): start it
			expire := redis.NewBoolCmd(ctx, "pexpire", key, window.Milliseconds())
			err := rc.batch.Do(ctx, expire)
			if err == nil {
				err = expire.Err()
			}
			if err != nil {
				return nil, Count{}, rdb.Err("start rate-limit window", err)
			}
			ttlMs = window.Milliseconds()
		}
	} else {
		res, err := rc.runScript(ctx, peekCountScript, []string{ps.prefix + id, rc.prefix + anonKey},
			window.Milliseconds(), rc.prefix+userKeyPrefix).Slice()
		if err != nil {
			return nil, Count{}, rdb.Err("read session and count request", err)
		}
		if len(res) != 4 {
			return nil, Count{}, errors.New("read session and count request: unexpected reply")
		}
		rec, found = res[0].(string)
		n, _ = res[1].(int64)
		ttlMs, _ = res[2].(int64)
		key, _ = res[3].(string)
	}
	var st *State
	if found {
		st = s.valid(id, rec)
	}
	if st != nil {
		s.handles.put(id, st.Handle)
	}
	if !countedAs(key, rc.prefix, st, anonKey, userKeyPrefix) {
		return s.count(ctx, st, counter, anonKey, userKeyPrefix, window)
	}
	return st, Count{Key: key[len(rc.prefix):], N: n, Reset: time.Now().Add(time.Duration(ttlMs) * time.Millisecond)}, nil
}

// countedAs reports whether key (with the counter's prefix) is where st's request counts:
// prefix+userKeyPrefix+handle when signed in, else prefix+anonKey. It compares the pieces
// rather than build the key again, on every request.
func countedAs(key, prefix string, st *State, anonKey, userKeyPrefix string) bool {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return false
	}
	if !st.SignedIn() {
		return rest == anonKey
	}
	handle, ok := strings.CutPrefix(rest, userKeyPrefix)
	return ok && handle == st.Handle
}

// maxHandles bounds Sessions.handles, which remembers which user's key a session id
// counts under ("" for a signed-out session), so PeekCounted can count with plain
// commands. It is only a guess of which key to count: the record read with the count
// decides, and a wrong guess is corrected.
const maxHandles = 16384

// count counts one request of st (nil: no session) with counter.
func (s *Sessions) count(ctx context.Context, st *State, counter Counter, anonKey, userKeyPrefix string, window time.Duration) (*State, Count, error) {
	key := anonKey
	if st.SignedIn() {
		key = userKeyPrefix + st.Handle
	}
	n, reset, err := counter.Hit(ctx, key, window, false)
	if err != nil {
		return nil, Count{}, err
	}
	return st, Count{Key: key, N: n, Reset: reset}, nil
}
