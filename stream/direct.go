package stream

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Direct writes. Waking a stream's goroutine for every message costs more than the write
// itself: a channel send, a goroutine switch, a select, a deadline renewal and the
// runtime's poller bookkeeping came to about half of the server's CPU per delivered event
// at 10,000 streams. So the publisher's dispatchers write an emission's bytes straight to
// each socket, without waiting, whenever the stream's writer is idle with nothing queued
// or buffered. A socket whose buffer is full (a slow or stalled client) takes what fits;
// the rest goes to the stream's own goroutine, which finishes it under the write deadline,
// and the stream's later messages go through its queue, with its drop and too-slow rules,
// until it has caught up.

// directState is a connection's share of the direct-write protocol. mu is held by whoever
// writes to the socket: a dispatcher for one non-blocking write, or the stream's writer
// (Serve) for a whole cycle of queued messages, a keep-alive or the goodbye.
type directState struct {
	mu   sync.Mutex
	raw  syscall.RawConn // nil: every message goes through the queue
	idle bool            // under mu: the writer is waiting and everything before is on the wire
	rest []byte          // under mu: what a direct write could not place, for the writer
	wake chan struct{}   // cap 1: rest is waiting
	// queued counts messages offered to the queue and not yet written or dropped: while
	// any is, a dispatcher must queue too, or it would overtake them.
	queued atomic.Int32
}

// SetRaw lets dispatchers write to c's socket directly once Serve has written the
// backlog. Call it before Serve.
func (c *Conn) SetRaw(raw syscall.RawConn) {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	c.d.raw = raw
}

// errNotIdle: the connection's writer is busy or has a queue, so the message must be
// queued to keep the order.
var errNotIdle = errors.New("stream writer busy")

// writeDirect writes m whole to c's socket without waiting, when c's writer is idle. It
// returns errNotIdle when m must be queued instead. When the socket takes only part of it
// (its buffer is full, or it broke), the rest is handed to the writer, which finishes it
// under the deadline or finds the error, and m counts as delivered.
func (c *Conn) writeDirect(m *Message, scratch *[]byte) error {
	d := &c.d
	if !d.mu.TryLock() {
		return errNotIdle
	}
	defer d.mu.Unlock()
	if d.raw == nil || !d.idle || d.queued.Load() > 0 {
		return errNotIdle
	}
	buf := m.Frames[0].Data // one frame (a JSON emission) goes out as is, read-only
	if len(m.Frames) > 1 {
		buf = (*scratch)[:0]
		for _, f := range m.Frames {
			buf = append(buf, f.Data...)
		}
		*scratch = buf
	}
	n := 0
	_ = d.raw.Write(func(fd uintptr) bool {
		for n < len(buf) {
			k, err := rawWrite(fd, buf[n:])
			if k > 0 {
				n += k
			}
			if err == syscall.EINTR {
				continue
			}
			if err != 0 || k <= 0 {
				break // EAGAIN (full), or broken: the writer sees which
			}
		}
		return true // never wait here
	})
	if n == len(buf) {
		return nil
	}
	d.rest = append(d.rest[:0], buf[n:]...)
	d.idle = false
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return nil
}

// rawWrite is write(2) on a non-blocking socket without the runtime's system-call
// bookkeeping. syscall.Write tells the scheduler the goroutine may block, and at 10,000
// writes an emission the runtime's monitor thread kept waking to look for blocked calls:
// 7.5 % of the server's CPU at 10,000 streams, 2.8 % with raw calls. A write to a
// non-blocking socket never waits (it returns EAGAIN instead), so it is safe as a raw call.
func rawWrite(fd uintptr, b []byte) (int, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), errno
}
