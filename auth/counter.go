package auth

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/rdb"
)

// Counter counts hits per key in fixed windows. Rate limits and login lockouts use it; the
// Redis version counts atomically, so several instances share one limit.
type Counter interface {
	// Hit adds one to key's count in the current window (starting a window of length
	// window if none is open) and returns the new count and when the window ends. With
	// sliding, every hit pushes the window's end to now+window (lockouts count from the
	// last failure); without it the window is fixed (rate limits).
	Hit(ctx context.Context, key string, window time.Duration, sliding bool) (int64, time.Time, error)
	// Peek returns key's count and window end without adding to it.
	Peek(ctx context.Context, key string) (int64, time.Time, error)
	// Reset forgets key.
	Reset(ctx context.Context, key string) error
}

// MemoryCounter is the in-process Counter used without REDIS_URL.
type MemoryCounter struct {
	mu    sync.Mutex
	now   func() time.Time
	items map[string]memCount
	hits  int
}

type memCount struct {
	n     int64
	reset time.Time
}

// NewMemoryCounter returns an empty in-process counter.
func NewMemoryCounter() *MemoryCounter {
	return &MemoryCounter{now: time.Now, items: make(map[string]memCount)}
}

// Hit implements Counter.
func (m *MemoryCounter) Hit(_ context.Context, key string, window time.Duration, sliding bool) (int64, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	it := m.items[key]
	if !now.Before(it.reset) {
		it = memCount{reset: now.Add(window)}
	}
	if sliding {
		it.reset = now.Add(window)
	}
	it.n++
	m.items[key] = it
	if m.hits++; m.hits%1024 == 0 {
		for k, v := range m.items { // drop closed windows now and then
			if !now.Before(v.reset) {
				delete(m.items, k)
			}
		}
	}
	return it.n, it.reset, nil
}

// Peek implements Counter.
func (m *MemoryCounter) Peek(_ context.Context, key string) (int64, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.items[key]
	if !ok || !m.now().Before(it.reset) {
		return 0, time.Time{}, nil
	}
	return it.n, it.reset, nil
}

// Reset implements Counter.
func (m *MemoryCounter) Reset(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.items, key)
	return nil
}

// RedisCounter is the shared Counter used with REDIS_URL.
type RedisCounter struct {
	rdb    redis.UniversalClient
	batch  *rdb.Batcher // every request's count (and session read) goes through it
	prefix string
}

// NewRedisCounter counts under keys that start with prefix.
func NewRedisCounter(c redis.UniversalClient, prefix string) *RedisCounter {
	return &RedisCounter{rdb: c, batch: rdb.NewBatcher(c, 3*time.Second), prefix: prefix}
}

// runScript runs script through the batcher, loading it first if Redis does not know it
// (after a restart or SCRIPT FLUSH), as redis.Script.Run does.
func (r *RedisCounter) runScript(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	cmdArgs := make([]any, 0, 3+len(keys)+len(args))
	cmdArgs = append(cmdArgs, "evalsha", script.Hash(), len(keys))
	for _, k := range keys {
		cmdArgs = append(cmdArgs, k)
	}
	cmd := redis.NewCmd(ctx, append(cmdArgs, args...)...)
	if err := r.batch.Do(ctx, cmd); err != nil {
		// The batch may still fill cmd in: answer with a command of our own.
		gone := redis.NewCmd(ctx)
		gone.SetErr(err)
		return gone
	}
	if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		return script.Run(ctx, r.rdb, keys, args...)
	}
	return cmd
}

// hitScript increments and starts the window on the first hit, in one atomic step.
var hitScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 or ARGV[2] == '1' or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return {n, redis.call('PTTL', KEYS[1])}
`)

// Hit implements Counter.
func (r *RedisCounter) Hit(ctx context.Context, key string, window time.Duration, sliding bool) (int64, time.Time, error) {
	slide := "0"
	if sliding {
		slide = "1"
	}
	res, err := r.runScript(ctx, hitScript, []string{r.prefix + key}, window.Milliseconds(), slide).Int64Slice()
	if err != nil {
		return 0, time.Time{}, rdb.Err("count "+key+" in redis", err)
	}
	return res[0], time.Now().Add(time.Duration(res[1]) * time.Millisecond), nil
}

// Peek implements Counter.
func (r *RedisCounter) Peek(ctx context.Context, key string) (int64, time.Time, error) {
	pipe := r.rdb.Pipeline()
	get := pipe.Get(ctx, r.prefix+key)
	ttl := pipe.PTTL(ctx, r.prefix+key)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, time.Time{}, rdb.Err("peek "+key+" in redis", err)
	}
	n, err := get.Int64()
	if errors.Is(err, redis.Nil) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, rdb.Err("peek "+key+" in redis", err)
	}
	return n, time.Now().Add(ttl.Val()), nil
}

// Reset implements Counter.
func (r *RedisCounter) Reset(ctx context.Context, key string) error {
	if err := r.rdb.Del(ctx, r.prefix+key).Err(); err != nil {
		return rdb.Err("reset "+key+" in redis", err)
	}
	return nil
}
