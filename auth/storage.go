package auth

import (
	"context"
	"sync"
	"time"
)

// Storage is where session records live: process memory, or Redis through
// gofiber/storage/redis (whose *Storage has exactly these methods). A missing key reads as
// nil, nil.
type Storage interface {
	GetWithContext(ctx context.Context, key string) ([]byte, error)
	SetWithContext(ctx context.Context, key string, val []byte, exp time.Duration) error
	DeleteWithContext(ctx context.Context, key string) error
}

// prefixStorage namespaces session keys in a shared Redis.
type prefixStorage struct {
	Storage
	prefix string
}

func (p prefixStorage) GetWithContext(ctx context.Context, k string) ([]byte, error) {
	return p.Storage.GetWithContext(ctx, p.prefix+k)
}

func (p prefixStorage) SetWithContext(ctx context.Context, k string, v []byte, exp time.Duration) error {
	return p.Storage.SetWithContext(ctx, p.prefix+k, v, exp)
}

func (p prefixStorage) DeleteWithContext(ctx context.Context, k string) error {
	return p.Storage.DeleteWithContext(ctx, p.prefix+k)
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
	m.items[k] = it
	if m.sets++; m.sets%1024 == 0 {
		for key, v := range m.items {
			if !v.exp.IsZero() && !now.Before(v.exp) {
				delete(m.items, key)
			}
		}
	}
	return nil
}

// DeleteWithContext implements Storage.
func (m *MemoryStorage) DeleteWithContext(_ context.Context, k string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.items, k)
	return nil
}
