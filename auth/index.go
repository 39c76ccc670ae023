package auth

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// SessionIndex remembers which session ids belong to which user, and until when, so
// disabling a user (or "log out everywhere") can end all of that user's sessions on every
// instance. Sessions past their expiry leave the index by themselves.
type SessionIndex interface {
	Add(ctx context.Context, userID int64, sessionID string, expires time.Time) error
	Remove(ctx context.Context, userID int64, sessionID string) error
	// List returns every live session id of userID, in no particular order.
	List(ctx context.Context, userID int64) ([]string, error)
	// Take returns and forgets every live session id of userID.
	Take(ctx context.Context, userID int64) ([]string, error)
}

// MemoryIndex is the in-process SessionIndex.
type MemoryIndex struct {
	mu    sync.Mutex
	now   func() time.Time
	users map[int64]map[string]time.Time // user → session id → expiry
	adds  int
}

// NewMemoryIndex returns an empty index.
func NewMemoryIndex() *MemoryIndex {
	return &MemoryIndex{now: time.Now, users: make(map[int64]map[string]time.Time)}
}

// Add implements SessionIndex. Now and then it sweeps every user's expired sessions, so
// users who never come back do not keep their entries.
func (m *MemoryIndex) Add(_ context.Context, userID int64, sid string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if m.adds++; m.adds%256 == 0 {
		for uid := range m.users {
			m.prune(uid, now)
		}
	} else {
		m.prune(userID, now)
	}
	if m.users[userID] == nil {
		m.users[userID] = make(map[string]time.Time)
	}
	m.users[userID][sid] = expires
	return nil
}

// prune drops userID's expired sessions; the caller holds mu.
func (m *MemoryIndex) prune(userID int64, now time.Time) {
	for sid, exp := range m.users[userID] {
		if !now.Before(exp) {
			delete(m.users[userID], sid)
		}
	}
	if len(m.users[userID]) == 0 {
		delete(m.users, userID)
	}
}

// Remove implements SessionIndex.
func (m *MemoryIndex) Remove(_ context.Context, userID int64, sid string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.users[userID], sid)
	m.prune(userID, m.now())
	return nil
}

// List implements SessionIndex.
func (m *MemoryIndex) List(_ context.Context, userID int64) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(userID, m.now())
	ids := make([]string, 0, len(m.users[userID]))
	for sid := range m.users[userID] {
		ids = append(ids, sid)
	}
	return ids, nil
}

// Take implements SessionIndex.
func (m *MemoryIndex) Take(_ context.Context, userID int64) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(userID, m.now())
	var ids []string
	for sid := range m.users[userID] {
		ids = append(ids, sid)
	}
	delete(m.users, userID)
	return ids, nil
}

// RedisIndex is the shared SessionIndex: one sorted set per user, each session scored by
// its expiry in Unix milliseconds. Every write drops the members whose time has passed, and
// the set itself expires with its longest-lived session.
type RedisIndex struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
}

// NewRedisIndex keeps its sets under keys that start with prefix.
func NewRedisIndex(rdb redis.UniversalClient, prefix string) *RedisIndex {
	return &RedisIndex{rdb: rdb, prefix: prefix, now: time.Now}
}

func (r *RedisIndex) key(userID int64) string { return r.prefix + strconv.FormatInt(userID, 10) }

// addScript adds a session, drops expired ones and keeps the set until its last member ends.
var addScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
return 1
`)

// Add implements SessionIndex.
func (r *RedisIndex) Add(ctx context.Context, userID int64, sid string, expires time.Time) error {
	now := r.now().UnixMilli()
	if err := addScript.Run(ctx, r.rdb, []string{r.key(userID)}, now, expires.UnixMilli(), sid).Err(); err != nil {
		return fmt.Errorf("index session in redis: %w", err)
	}
	return nil
}

// Remove implements SessionIndex.
func (r *RedisIndex) Remove(ctx context.Context, userID int64, sid string) error {
	if err := r.rdb.ZRem(ctx, r.key(userID), sid).Err(); err != nil {
		return fmt.Errorf("unindex session in redis: %w", err)
	}
	return nil
}

// List implements SessionIndex.
func (r *RedisIndex) List(ctx context.Context, userID int64) ([]string, error) {
	ids, err := r.rdb.ZRangeByScore(ctx, r.key(userID), &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(r.now().UnixMilli(), 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("list sessions in redis: %w", err)
	}
	return ids, nil
}

// Take implements SessionIndex.
func (r *RedisIndex) Take(ctx context.Context, userID int64) ([]string, error) {
	pipe := r.rdb.TxPipeline()
	live := pipe.ZRangeByScore(ctx, r.key(userID), &redis.ZRangeBy{Min: "(" + strconv.FormatInt(r.now().UnixMilli(), 10), Max: "+inf"})
	pipe.Del(ctx, r.key(userID))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("take sessions from redis: %w", err)
	}
	return live.Val(), nil
}
