package auth

import (
	"context"
	"testing"
	"unsafe"
)

// TestMemoryStorageKeepsItsOwnKeys: Fiber hands out strings that point into a request's
// buffer, which is reused for later requests. A session id taken from a cookie reaches
// the store that way, and a Go map keeps the key it was last assigned with, so the store
// must copy keys, or the next request would rewrite one and the session be lost.
func TestMemoryStorageKeepsItsOwnKeys(t *testing.T) {
	ctx := context.Background()
	const id = "session-id-0001"
	for _, op := range []string{"set", "update"} {
		t.Run(op, func(t *testing.T) {
			m := NewMemoryStorage()
			if err := m.SetWithContext(ctx, id, []byte("v1"), 0); err != nil {
				t.Fatal(err)
			}
			buf := []byte(id)
			aliased := unsafe.String(&buf[0], len(buf)) // as Fiber's c.Cookies returns it
			var err error
			if op == "set" {
				err = m.SetWithContext(ctx, aliased, []byte("v2"), 0)
			} else {
				_, err = m.UpdateWithContext(ctx, aliased, []byte("v2"))
			}
			if err != nil {
				t.Fatal(err)
			}
			copy(buf, "another-request") // the buffer serves the next request
			if got, _ := m.GetWithContext(ctx, id); string(got) != "v2" {
				t.Fatalf("after the request's buffer was reused the session reads %q, want v2", got)
			}
		})
	}
}
