package auth

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Storage is where session records live: process memory, or Redis through
// gofiber/storage/redis (whose *Storage has the first three methods). A missing key reads
// as nil, nil.
type Storage interface {
	GetWithContext(ctx context.Context, key string) ([]byte, error)
	SetWithContext(ctx context.Context, key string, val []byte, exp time.Duration) error
	DeleteWithContext(ctx context.Context, key string) error
	// UpdateWithContext rewrites key only while it exists, keeping its expiry, and reports
	// whether it did: a late write can never bring back a session that just ended.
	UpdateWithContext(ctx context.Context, key string, val []byte) (bool, error)
}

// kvStorage is what gofiber/storage/redis offers.
type kvStorage interface {
	GetWithContext(ctx context.Context, key string) ([]byte, error)
	SetWithContext(ctx context.Context, key string, val []byte, exp time.Duration) error
	DeleteWithContext(ctx context.Context, key string) error
}

// prefixStorage namespaces session keys in a shared Redis, and updates them in place with
// a script on the same client.
type prefixStorage struct {
	kvStorage
	rdb    redis.UniversalClient
	prefix string
}

// updateScript sets a key to a new value with the time it had left, only if it exists.
var updateScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return 0 end
if ttl == -1 then redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL') else redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl) end
return 1
`)

func (p prefixStorage) UpdateWithContext(ctx context.Context, k string, v []byte) (bool, error) {
	n, err := updateScript.Run(ctx, p.rdb, []string{p.prefix + k}, v).Int()
	if err != nil {
		return false, fmt.Errorf("update session in redis: %w", err) // never name the key: it is a session id
	}
	return n == 1, nil
}

func (p prefixStorage) GetWithContext(ctx context.Context, k string) ([]byte, error) {
	return p.kvStorage.GetWithContext(ctx, p.prefix+k)
}

func (p prefixStorage) SetWithContext(ctx context.Context, k string, v []byte, exp time.Duration) error {
	return p.kvStorage.SetWithContext(ctx, p.prefix+k, v, exp)
}

func (p prefixStorage) DeleteWithContext(ctx context.Context, k string) error {
	return p.kvStorage.DeleteWithContext(ctx, p.prefix+k)
}

// MemoryStorage is the in-process Storage used without REDIS_URL: values with an expiry,
// swept now and then so records of visitors who never return do not pile up.
type MemoryStorage struct {
	mu    sync.Mutex
	items map[string]memItem
	sets  int
}

type memItem struct {
	v   []byte
	exp time.Time
}

// NewMemoryStorage returns an empty store.
func NewMemoryStorage() *MemoryStorage { return &MemoryStorage{items: make(map[string]memItem)} }

// GetWithContext implements Storage.
func (m *MemoryStorage) GetWithContext(_ context.Context, k string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.items[k]
	if !ok {
		return nil, nil
	}
	if !it.exp.IsZero() && !time.Now().Before(it.exp) {
		delete(m.items, k)
		return nil, nil
	}
	return append([]byte(nil), it.v...), nil
}

// SetWithContext implements Storage.
func (m *MemoryStorage) SetWithContext(_ context.Context, k string, v []byte, exp time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	it := memItem{v: append([]byte(nil), v...)}
	now := time.Now()
	if exp > 0 {
		it.exp = now.Add(exp)
	}
	m.items[strings.Clone(k)] = it // the caller's key may point into a reused buffer (Fiber's strings do)
	if m.sets++; m.sets%1024 == 0 {
		for key, v := range m.items {
			if !v.exp.IsZero() && !now.Before(v.exp) {
				delete(m.items, key)
			}
		}
	}
	return nil
}

// UpdateWithContext implements Storage.
func (m *MemoryStorage) UpdateWithContext(_ context.Context, k string, v []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.items[k]
	if !ok || (!it.exp.IsZero() && !time.Now().Before(it.exp)) {
		return false, nil
	}
	it.v = append([]byte(nil), v...)
	m.items[strings.Clone(k)] = it // assigning also replaces the stored key with k
	return true, nil
}

// DeleteWithContext implements Storage.
func (m *MemoryStorage) DeleteWithContext(_ context.Context, k string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.items, k)
	return nil
}
