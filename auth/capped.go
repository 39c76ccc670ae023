package auth

import "sync"

// capped is a map safe for concurrent use that holds at most limit entries and starts
// afresh when full: for caches whose entries are cheap to find again, where an eviction
// order would cost more than the occasional miss.
type capped[V any] struct {
	limit int
	mu    sync.Mutex
	m     map[string]V
}

// get returns k's value.
func (c *capped[V]) get(k string) (V, bool) {
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	return v, ok
}

// put stores v under k.
func (c *capped[V]) put(k string, v V) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= c.limit {
		c.m = make(map[string]V)
	}
	c.m[k] = v
	c.mu.Unlock()
}
