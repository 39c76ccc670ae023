package auth

import (
	"context"
	"errors"
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
// count are one round trip (one script); otherwise Peek, then counter.Hit.
//
// The script decides signed-in from the stored record; if Peek's reading differs (the
// record expired within the last second, or cannot be read), the right key is counted as
// well, so the request is always counted where it belongs (the other key may then hold
// one hit too many).
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
	res, err := rc.runScript(ctx, peekCountScript, []string{ps.prefix + id, rc.prefix + anonKey},
		window.Milliseconds(), rc.prefix+userKeyPrefix).Slice()
	if err != nil {
		return nil, Count{}, rdb.Err("read session and count request", err) // never name the key: it holds a session id
	}
	if len(res) != 4 {
		return nil, Count{}, errors.New("read session and count request: unexpected reply")
	}
	n, _ := res[1].(int64)
	ttl, _ := res[2].(int64)
	key, _ := res[3].(string)
	var st *State
	if rec, ok := res[0].(string); ok {
		st = s.valid(id, []byte(rec))
	}
	want := rc.prefix + anonKey
	if st.SignedIn() {
		want = rc.prefix + userKeyPrefix + st.Handle
	}
	if key != want {
		return s.count(ctx, st, counter, anonKey, userKeyPrefix, window)
	}
	return st, Count{Key: key[len(rc.prefix):], N: n, Reset: time.Now().Add(time.Duration(ttl) * time.Millisecond)}, nil
}

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
