// Package cluster runs several instances of TickStock on one Redis: the feed lease (one
// instance at a time runs the feed and the detection engine), the emission stream that
// carries the leader's emissions to every instance, the cross-instance stream limit, and
// the figures an admin page shows about all of it. Without Redis none of this runs: the
// single instance drives its publisher from its own market.Runner.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/rdb"
)

// The lease: one Redis key, "<token>:<instance>", with a TTL. Its holder renews it with a
// compare-and-renew script; when the holder dies the key expires and another instance
// takes it. Each acquisition takes a new fencing token from a counter that only grows
// (it never goes below the wall clock in microseconds, so a Redis that restarted empty
// cannot hand out a token an earlier leader already used). Every emission is added to the
// stream by a script that first checks the lease still names its holder, so an old leader
// that was paused (GC, SIGSTOP, a stalled network) and wakes up after losing the lease
// cannot add anything: its writes are fenced off inside Redis, atomically.

// ErrFenced means the lease no longer names this holder: the write was refused.
var ErrFenced = errors.New("cluster: the feed lease was lost; write refused")

// errSeqTaken means the stream already holds an entry at or after the emission's number:
// a retried write that had gone through.
var errSeqTaken = errors.New("cluster: emission number already in the stream")

// Keys names the Redis keys of one deployment.
type Keys struct {
	Lease  string // the lease: "<token>:<instance>", with a TTL
	Token  string // the fencing token counter
	Stream string // the emission stream
	// Figures holds the leader's feed figures (JSON, with a TTL) for the followers' metrics.
	Figures string
	// Ask is the channel on which followers ask the leader for symbol data; each answer
	// goes to a list named AnswerPrefix+<request id>.
	Ask, AnswerPrefix string
}

// KeysFor returns the keys under a deployment's prefix ("tickstock:").
func KeysFor(prefix string) Keys {
	return Keys{Lease: prefix + "feed:lease", Token: prefix + "feed:token", Stream: prefix + "feed:emissions",
		Figures: prefix + "feed:figures", Ask: prefix + "feed:ask", AnswerPrefix: prefix + "feed:answer:"}
}

// acquireScript takes the lease if it is free. It returns {1, token} on success and
// {0, holder} when another instance holds it.
//
//	KEYS: lease, token counter. ARGV: instance, ttl ms, now µs (below 2^53: exact in Lua).
var acquireScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then return {0, cur} end
local t = redis.call('INCR', KEYS[2])
if t < tonumber(ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[3])
end
local tok = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[1], tok .. ':' .. ARGV[1], 'PX', ARGV[2])
return {1, tok}
`)

// renewScript extends the lease if it still names the holder: 1, or 0 when lost.
//
//	KEYS: lease. ARGV: holder value, ttl ms.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

// releaseScript deletes the lease if it still names the holder.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// addScript appends an emission to the stream under its number, only while the lease
// names the holder. Redis refuses a number not above the stream's last (a retry of a write
// that went through).
//
//	KEYS: lease, stream. ARGV: holder value, entry id, max length, payload.
var addScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED the feed lease is not held by this writer')
end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], ARGV[2], 'e', ARGV[4])
`)

// Lease is one instance's handle on the feed lease.
type Lease struct {
	rdb      redis.UniversalClient
	keys     Keys
	instance string
	ttl      time.Duration
	now      func() time.Time
}

// NewLease returns the lease handle of instance, with the given TTL.
func NewLease(c redis.UniversalClient, keys Keys, instance string, ttl time.Duration) *Lease {
	return &Lease{rdb: c, keys: keys, instance: instance, ttl: ttl, now: time.Now}
}

// Grant is a held lease: its fencing token and the value the key holds while it is ours.
type Grant struct {
	Token  uint64
	holder string
}

// Acquire takes the lease if no one holds it. It returns the grant, or ok false and the
// holder's instance name when another instance holds it.
func (l *Lease) Acquire(ctx context.Context) (g Grant, holder string, ok bool, err error) {
	res, err := acquireScript.Run(ctx, l.rdb, []string{l.keys.Lease, l.keys.Token},
		l.instance, l.ttl.Milliseconds(), l.now().UnixMicro()).Slice()
	if err != nil {
		return Grant{}, "", false, rdb.Err("acquire the feed lease", err)
	}
	if len(res) != 2 {
		return Grant{}, "", false, fmt.Errorf("cluster: acquire the feed lease: unexpected answer %v", res)
	}
	won, _ := res[0].(int64)
	val, _ := res[1].(string)
	if won != 1 {
		_, inst, _ := strings.Cut(val, ":")
		return Grant{}, inst, false, nil
	}
	tok, err := strconv.ParseUint(val, 10, 64)
	if err != nil {
		return Grant{}, "", false, fmt.Errorf("cluster: acquire the feed lease: token %q: %w", val, err)
	}
	return Grant{Token: tok, holder: val + ":" + l.instance}, l.instance, true, nil
}

// Renew extends g by the TTL. It reports false, with no error, when the lease was lost
// (expired, or taken by another instance).
func (l *Lease) Renew(ctx context.Context, g Grant) (bool, error) {
	n, err := renewScript.Run(ctx, l.rdb, []string{l.keys.Lease}, g.holder, l.ttl.Milliseconds()).Int()
	if err != nil {
		return false, rdb.Err("renew the feed lease", err)
	}
	return n == 1, nil
}

// Release gives g up at once, so another instance can take over without waiting for the
// TTL (a graceful shutdown). Releasing a lease already lost does nothing.
func (l *Lease) Release(ctx context.Context, g Grant) error {
	if err := releaseScript.Run(ctx, l.rdb, []string{l.keys.Lease}, g.holder).Err(); err != nil {
		return rdb.Err("release the feed lease", err)
	}
	return nil
}

// Add appends one encoded emission to the stream under seq, fenced by g: ErrFenced when
// the lease no longer names g's holder, errSeqTaken when the stream already holds seq or
// a later number.
func (l *Lease) Add(ctx context.Context, g Grant, seq uint64, maxLen int, payload []byte) error {
	err := addScript.Run(ctx, l.rdb, []string{l.keys.Lease, l.keys.Stream},
		g.holder, strconv.FormatUint(seq, 10)+"-0", maxLen, payload).Err()
	switch {
	case err == nil:
		return nil
	case strings.Contains(err.Error(), "FENCED"):
		return ErrFenced
	case strings.Contains(err.Error(), "equal or smaller"):
		return errSeqTaken
	}
	return rdb.Err("add an emission to the stream", err)
}

// LastSeq returns the number of the stream's newest entry, 0 when it is empty.
func (l *Lease) LastSeq(ctx context.Context) (uint64, error) {
	msgs, err := l.rdb.XRevRangeN(ctx, l.keys.Stream, "+", "-", 1).Result()
	if err != nil {
		return 0, rdb.Err("read the emission stream", err)
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	return seqOf(msgs[0].ID)
}

// seqOf reads the emission number of a stream entry id "<seq>-0".
func seqOf(id string) (uint64, error) {
	ms, _, _ := strings.Cut(id, "-")
	seq, err := strconv.ParseUint(ms, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cluster: stream entry id %q: %w", id, err)
	}
	return seq, nil
}
