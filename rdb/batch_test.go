package rdb_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/internal/faultproxy"
	"github.com/tickstock/tickstock/internal/testenv"
	"github.com/tickstock/tickstock/rdb"
)

// do sends cmd through b and returns the error of either.
func do(b *rdb.Batcher, ctx context.Context, cmd redis.Cmder) error {
	if err := b.Do(ctx, cmd); err != nil {
		return err
	}
	return cmd.Err()
}

// pipelineHook holds the first pipeline of INCRs until release is closed, and records the
// size of every such pipeline (the client's own, which set up a new connection, pass).
type pipelineHook struct {
	mu      sync.Mutex
	sizes   []int
	started chan struct{}
	release chan struct{}
}

func (h *pipelineHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *pipelineHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *pipelineHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if cmds[0].Name() != "incr" {
			return next(ctx, cmds)
		}
		h.mu.Lock()
		h.sizes = append(h.sizes, len(cmds))
		first := len(h.sizes) == 1
		h.mu.Unlock()
		if first {
			close(h.started)
			<-h.release
		}
		return next(ctx, cmds)
	}
}

// TestBatcherGathersConcurrentCommands holds the first pipeline in flight while 49 more
// callers arrive: they must all go in the second pipeline, and each caller must get its
// own answer (INCR's values are all different).
func TestBatcherGathersConcurrentCommands(t *testing.T) {
	c, prefix := testenv.MustRedis(t)
	hook := &pipelineHook{started: make(chan struct{}), release: make(chan struct{})}
	c.AddHook(hook)
	b := rdb.NewBatcher(c, 3*time.Second)
	ctx := context.Background()
	key := prefix + "n"

	const callers = 50
	got := make([]int64, callers)
	var wg sync.WaitGroup
	call := func(i int) {
		cmd := redis.NewIntCmd(ctx, "incr", key)
		if err := do(b, ctx, cmd); err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
		got[i] = cmd.Val()
	}
	wg.Go(func() { call(0) })
	<-hook.started
	for i := 1; i < callers; i++ {
		wg.Go(func() { call(i) })
	}
	// Wait until the other callers are queued: their commands reach Redis only after the
	// release, so the count stays at what the first pipeline will make it.
	time.Sleep(200 * time.Millisecond)
	close(hook.release)
	wg.Wait()

	slices.Sort(got)
	for i, n := range got {
		if n != int64(i+1) {
			t.Fatalf("answers %v: want 1 to %d, each once", got, callers)
		}
	}
	if !slices.Equal(hook.sizes, []int{1, callers - 1}) {
		t.Fatalf("pipelines of %v commands, want [1 %d]", hook.sizes, callers-1)
	}
	// Idle again: the next caller leads a pipeline of its own at once.
	cmd := redis.NewIntCmd(ctx, "incr", key)
	if err := do(b, ctx, cmd); err != nil || cmd.Val() != callers+1 {
		t.Fatalf("after the batch: %d, %v", cmd.Val(), err)
	}
}

// TestBatcherWhenRedisStalls puts a proxy that stops forwarding between the batcher and
// Redis: queued callers get an unavailable error (or their own deadline), none waits
// forever, and the batcher works again once Redis answers.
func TestBatcherWhenRedisStalls(t *testing.T) {
	p := faultproxy.MustStart(t, testenv.MustHostPort(t, testenv.RedisURL()))
	c := redis.NewClient(&redis.Options{Addr: p.Addr(), DialTimeout: 300 * time.Millisecond,
		ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	b := rdb.NewBatcher(c, time.Second)
	ctx := context.Background()
	if err := do(b, ctx, redis.NewStatusCmd(ctx, "ping")); err != nil {
		t.Fatalf("ping through the proxy: %v", err)
	}

	p.Stall(true)
	errs := make([]error, 20)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range errs {
		wg.Go(func() {
			cctx := ctx
			if i%2 == 1 { // half the callers give up sooner than the client's timeouts
				var cancel context.CancelFunc
				cctx, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
				defer cancel()
			}
			errs[i] = do(b, cctx, redis.NewStatusCmd(cctx, "ping"))
		})
	}
	wg.Wait()
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("callers waited %v for a stalled Redis", d)
	}
	for i, err := range errs {
		var ne net.Error
		switch {
		case err == nil:
			t.Fatalf("caller %d: no error from a stalled Redis", i)
		case i%2 == 1 && !errors.Is(err, context.DeadlineExceeded):
			t.Fatalf("caller %d with its own deadline: %v", i, err)
		case !rdb.Unavailable(err) && !errors.As(err, &ne):
			t.Fatalf("caller %d: %v is not an outage", i, err)
		}
	}

	p.Up()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := do(b, ctx, redis.NewStatusCmd(ctx, "ping"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer 5 s after Redis came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
