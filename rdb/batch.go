package rdb

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Batcher sends the commands that requests issue at the same moment to Redis in one
// pipeline, so a busy instance pays one write and one read (on both sides of the
// connection) for a whole batch instead of one round trip per request: under load most of
// a round trip's cost is those system calls and the wake-ups they cause, not the command.
//
// No goroutine waits for work: the caller that finds no pipeline running starts one that
// sends batches until the queue is empty, so an idle server adds only a goroutine's start
// and a busy one gathers what arrives during each round trip. Callers wait for their own
// answer or their own deadline, never for someone else's. One pipeline is in flight at a
// time; Redis runs commands one at a time anyway.
type Batcher struct {
	rdb     redis.UniversalClient
	timeout time.Duration

	mu      sync.Mutex
	queue   []*queued
	running bool
}

type queued struct {
	cmds []redis.Cmder
	done chan struct{}
}

// maxBatch bounds one pipeline, so a flood does not build one huge reply.
const maxBatch = 256

// NewBatcher batches commands over c. Each pipeline gets timeout beyond the client's own
// read and write timeouts, so a stalled Redis fails a batch instead of holding it.
func NewBatcher(c redis.UniversalClient, timeout time.Duration) *Batcher {
	return &Batcher{rdb: c, timeout: timeout}
}

// Do sends cmds, in order, in the next pipeline and waits for their answers, or for ctx to
// end: then it returns ctx's error, and the commands must not be read, for the pipeline
// may still be filling them in. Otherwise each command holds its own answer or error.
func (b *Batcher) Do(ctx context.Context, cmds ...redis.Cmder) error {
	q := &queued{cmds: cmds, done: make(chan struct{})}
	b.mu.Lock()
	if b.queue == nil {
		b.queue = make([]*queued, 0, 32)
	}
	b.queue = append(b.queue, q)
	lead := !b.running
	b.running = true
	b.mu.Unlock()
	if lead {
		go b.drain()
	}
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		// The pipeline may still answer the command later; nobody reads it then.
		return ctx.Err()
	}
}

// drain sends batches until the queue is empty.
func (b *Batcher) drain() {
	for b.send() {
	}
}

// send sends one batch from the queue and reports whether more is waiting; when nothing
// is, the batcher is marked idle under the same lock, so the next Do leads.
func (b *Batcher) send() (more bool) {
	b.mu.Lock()
	batch := b.queue
	if len(batch) > maxBatch {
		batch = batch[:maxBatch:maxBatch]
		b.queue = b.queue[maxBatch:]
	} else {
		b.queue = nil
	}
	b.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	pipe := b.rdb.Pipeline()
	for _, q := range batch {
		for _, cmd := range q.cmds {
			_ = pipe.Process(ctx, cmd) // queues; the error is the command's, set by Exec
		}
	}
	_, _ = pipe.Exec(ctx) // sets every command's error, a broken connection included
	cancel()
	for _, q := range batch {
		close(q.done)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		b.running = false
		return false
	}
	return true
}
