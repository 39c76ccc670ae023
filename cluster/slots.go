package cluster

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/rdb"
	"github.com/tickstock/tickstock/stream"
)

// Slots keeps SPEC section 2's limit of streams per user across instances: one sorted set
// per user in Redis, a member per open stream scored by when it lapses. Each instance
// refreshes its own members every TTL/3, so those of an instance that died lapse within
// the TTL (until then they still count: a user who had every stream on a killed instance
// may be refused for up to TTL while reconnecting, and the page retries).
type Slots struct {
	rdb      redis.UniversalClient
	prefix   string
	instance string
	max      int
	ttl      time.Duration
	log      *slog.Logger

	mu   sync.Mutex
	next uint64
	held map[int64]map[string]struct{} // user → members this instance holds
}

// slotScript takes a slot if the user has fewer than the most allowed.
//
//	KEYS: the user's set. ARGV: now ms, lapse ms, member, max, ttl ms.
var slotScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`)

// NewSlots keeps the sets under prefix ("tickstock:streams:"); ttl 0 means 30 s.
func NewSlots(c redis.UniversalClient, prefix, instance string, ttl time.Duration, logger *slog.Logger) *Slots {
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Slots{rdb: c, prefix: prefix, instance: instance, max: stream.MaxStreamsPerUser, ttl: ttl, log: logger,
		held: make(map[int64]map[string]struct{})}
}

func (s *Slots) key(uid int64) string { return s.prefix + strconv.FormatInt(uid, 10) }

// Acquire implements handlers.StreamSlots.
func (s *Slots) Acquire(ctx context.Context, uid int64) (func(), error) {
	s.mu.Lock()
	s.next++
	member := s.instance + ":" + strconv.FormatUint(s.next, 10)
	s.mu.Unlock()
	now := time.Now()
	ok, err := slotScript.Run(ctx, s.rdb, []string{s.key(uid)}, now.UnixMilli(), now.Add(s.ttl).UnixMilli(),
		member, s.max, s.ttl.Milliseconds()).Int()
	if err != nil {
		return nil, rdb.Err("count open streams", err)
	}
	if ok != 1 {
		return nil, stream.ErrTooManyStreams
	}
	s.mu.Lock()
	if s.held[uid] == nil {
		s.held[uid] = make(map[string]struct{})
	}
	s.held[uid][member] = struct{}{}
	s.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { s.release(uid, member) }) }, nil
}

func (s *Slots) release(uid int64, member string) {
	s.mu.Lock()
	delete(s.held[uid], member)
	if len(s.held[uid]) == 0 {
		delete(s.held, uid)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.rdb.ZRem(ctx, s.key(uid), member).Err(); err != nil {
		s.log.Debug("cluster: stream slot not released; it lapses by itself", "err", err)
	}
}

// Run refreshes this instance's slots every TTL/3 until ctx ends.
func (s *Slots) Run(ctx context.Context) {
	t := time.NewTicker(s.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.refresh(ctx)
		}
	}
}

// refresh pushes the lapse of every slot this instance holds forward, in one pipeline.
func (s *Slots) refresh(ctx context.Context) {
	s.mu.Lock()
	if len(s.held) == 0 {
		s.mu.Unlock()
		return
	}
	lapse := float64(time.Now().Add(s.ttl).UnixMilli())
	pipe := s.rdb.Pipeline()
	for uid, members := range s.held {
		key := s.key(uid)
		for m := range members {
			// ZADD, not ZADD XX: a Redis that restarted empty gets them back.
			pipe.ZAdd(ctx, key, redis.Z{Score: lapse, Member: m})
		}
		pipe.PExpire(ctx, key, s.ttl)
	}
	s.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, s.ttl/3)
	defer cancel()
	if _, err := pipe.Exec(rctx); err != nil {
		s.log.Warn("cluster: stream slots not refreshed; they may lapse", "err", err)
	}
}
