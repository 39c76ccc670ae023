package auth

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// SessionIndex remembers which session ids belong to which user, so disabling a user (or
// "log out everywhere") can end all of that user's sessions on every instance.
type SessionIndex interface {
	Add(ctx context.Context, userID int64, sessionID string) error
	Remove(ctx context.Context, userID int64, sessionID string) error
	// Take returns and forgets every session id of userID.
	Take(ctx context.Context, userID int64) ([]string, error)
}

// MemoryIndex is the in-process SessionIndex.
type MemoryIndex struct {
	mu    sync.Mutex
	users map[int64]map[string]struct{}
}

// NewMemoryIndex returns an empty index.
func NewMemoryIndex() *MemoryIndex { return &MemoryIndex{users: make(map[int64]map[string]struct{})} }

// Add implements SessionIndex.
func (m *MemoryIndex) Add(_ context.Context, userID int64, sid string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.users[userID] == nil {
		m.users[userID] = make(map[string]struct{})
	}
	m.users[userID][sid] = struct{}{}
	return nil
}

// Remove implements SessionIndex.
func (m *MemoryIndex) Remove(_ context.Context, userID int64, sid string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.users[userID], sid)
	if len(m.users[userID]) == 0 {
		delete(m.users, userID)
	}
	return nil
}

// Take implements SessionIndex.
func (m *MemoryIndex) Take(_ context.Context, userID int64) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for sid := range m.users[userID] {
		ids = append(ids, sid)
	}
	delete(m.users, userID)
	return ids, nil
}

// RedisIndex is the shared SessionIndex: one set per user, expiring with the longest session.
type RedisIndex struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedisIndex keeps its sets under keys that start with prefix.
func NewRedisIndex(rdb redis.UniversalClient, prefix string) *RedisIndex {
	return &RedisIndex{rdb: rdb, prefix: prefix}
}

func (r *RedisIndex) key(userID int64) string { return r.prefix + strconv.FormatInt(userID, 10) }

// Add implements SessionIndex.
func (r *RedisIndex) Add(ctx context.Context, userID int64, sid string) error {
	pipe := r.rdb.TxPipeline()
	pipe.SAdd(ctx, r.key(userID), sid)
	pipe.Expire(ctx, r.key(userID), MaxSessionAge+time.Hour)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("index session in redis: %w", err)
	}
	return nil
}

// Remove implements SessionIndex.
func (r *RedisIndex) Remove(ctx context.Context, userID int64, sid string) error {
	if err := r.rdb.SRem(ctx, r.key(userID), sid).Err(); err != nil {
		return fmt.Errorf("unindex session in redis: %w", err)
	}
	return nil
}

// Take implements SessionIndex.
func (r *RedisIndex) Take(ctx context.Context, userID int64) ([]string, error) {
	pipe := r.rdb.TxPipeline()
	members := pipe.SMembers(ctx, r.key(userID))
	pipe.Del(ctx, r.key(userID))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("take sessions from redis: %w", err)
	}
	return members.Val(), nil
}
