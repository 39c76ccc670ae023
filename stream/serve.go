package stream

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// writers are the streams' write buffers, lent for one write cycle: most messages go out
// through direct writes (see direct.go), so an idle stream holds no buffer.
var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, streamBuffer) }}

// streamBuffer is a write cycle's buffer: an emission's frames for one connection usually
// fit, so each goes out in one write; a larger one is written straight through.
const streamBuffer = 4096

// Heartbeat is the longest silence on a stream; a comment goes out at least this often.
const Heartbeat = 15 * time.Second

// writeTimeout bounds one write, so a client that stopped reading is cut off even when
// the publisher has nothing new for it.
const writeTimeout = 10 * time.Second

// ServeOptions are what Serve needs from the HTTP layer, copied out of the request.
type ServeOptions struct {
	// SetWriteDeadline sets the socket's write deadline (nil: none). Serve sets it before
	// every write, and clears it when the stream ends so a reused connection starts clean.
	SetWriteDeadline func(time.Time) error
	// Expires ends the stream when the session does (zero: never).
	Expires time.Time
	// Shutdown ends the stream with a goodbye when it closes (Hub.Closing).
	Shutdown <-chan struct{}
	// Heartbeat overrides the keep-alive interval (tests).
	Heartbeat time.Duration
	// WriteTimeout overrides how long one write may take (tests).
	WriteTimeout time.Duration
}

// deadline keeps a socket's write deadline ahead of every write. Setting a deadline costs
// a timer update, so it is renewed only when a tenth of the timeout has passed since the
// last renewal: every write then has at least 90 % of the timeout ahead of it.
type deadline struct {
	set     func(time.Time) error
	timeout time.Duration
	armed   time.Time
}

func (d *deadline) arm() {
	if d.set == nil {
		return
	}
	now := time.Now()
	if !d.armed.IsZero() && now.Sub(d.armed) < d.timeout/10 {
		return
	}
	d.armed = now
	_ = d.set(now.Add(d.timeout))
}

func (d *deadline) clear() {
	if d.set != nil {
		_ = d.set(time.Time{})
		d.armed = time.Time{}
	}
}

// Serve writes c's backlog and then its messages to w until the connection is closed,
// the server shuts down, the client goes away (a failed write or flush), or the session
// expires. It ends with a final comment; for a session that ended it first sends a
// "logout" event, so the page stops reconnecting.
func Serve(dst io.Writer, c *Conn, opts ServeOptions) (err error) {
	hb := opts.Heartbeat
	if hb <= 0 {
		hb = Heartbeat
	}
	d := &deadline{set: opts.SetWriteDeadline, timeout: opts.WriteTimeout}
	if d.timeout <= 0 {
		d.timeout = writeTimeout
	}
	defer func() {
		// A client that keeps up gets its connection back without a deadline (fasthttp
		// reuses connections, and sets none of its own with WriteTimeout 0). One that may
		// not be reading (too slow, or the server is going down) keeps the bounded one, so
		// the last bytes cannot hold the connection forever.
		switch c.Reason() {
		case "behind", "shutdown":
		default:
			d.clear()
		}
	}()
	ticker := time.NewTicker(hb)
	defer ticker.Stop()
	shutdown := opts.Shutdown
	var expiry <-chan time.Time
	if !opts.Expires.IsZero() {
		t := time.NewTimer(time.Until(opts.Expires))
		defer t.Stop()
		expiry = t.C
	}
	var w *bufio.Writer // a pooled buffer, held for one cycle only
	write := func(b []byte) error {
		d.arm()
		_, err := w.Write(b)
		return err
	}
	writeMessage := func(m *Message) error {
		for _, f := range m.Frames {
			if err := write(f.Data); err != nil {
				return err
			}
		}
		return nil
	}
	// cycle writes under the connection's write lock: first what a direct write left over,
	// then fn's bytes, then a flush. Only when all of it is on the wire may dispatchers
	// write directly again (SetRaw), so nothing ever overtakes what came before it.
	ds := &c.d
	cycle := func(fn func() error, last bool) error {
		ds.mu.Lock()
		defer ds.mu.Unlock()
		ds.idle = false
		w = writers.Get().(*bufio.Writer)
		w.Reset(dst)
		defer func() {
			w.Reset(nil)
			writers.Put(w)
			w = nil
		}()
		if len(ds.rest) > 0 {
			if err := write(ds.rest); err != nil {
				return err
			}
			ds.rest = ds.rest[:0]
		}
		if err := fn(); err != nil {
			return err
		}
		d.arm()
		if err := w.Flush(); err != nil {
			return err
		}
		if !last && ds.raw != nil {
			// Dispatchers write without a deadline (the runtime would refuse them once it
			// passed); a socket that stops taking bytes comes back here, under one.
			d.clear()
			ds.idle = true
		}
		return nil
	}
	// Reconnect quickly after a network blip; then what Attach found missed or recent.
	backlog := c.backlog
	c.backlog = nil
	if err := cycle(func() error {
		if err := write([]byte("retry: 2000\n\n")); err != nil {
			return err
		}
		for _, m := range backlog {
			if err := writeMessage(m); err != nil {
				return err
			}
		}
		return nil
	}, false); err != nil {
		return err
	}
	drain := func(m *Message) func() error {
		return func() error {
			for {
				err := writeMessage(m)
				ds.queued.Add(-1)
				if err != nil {
					return err
				}
				select { // write whatever else is queued before one flush
				case m = <-c.Messages():
					continue
				default:
				}
				return nil
			}
		}
	}
	nothing := func() error { return nil }
	for {
		select {
		case m := <-c.Messages():
			if err := cycle(drain(m), false); err != nil {
				return err
			}
		case <-ds.wake:
			if err := cycle(nothing, false); err != nil {
				return err
			}
		case <-ticker.C:
			if err := cycle(func() error { return write(AppendComment(nil, "keep-alive")) }, false); err != nil {
				return err
			}
		case <-expiry:
			c.Close("expired")
		case <-shutdown:
			c.Close("shutdown")
			shutdown = nil
		case <-c.Done():
			reason := c.Reason()
			return cycle(func() error {
				switch reason {
				case "logout", "expired", "disabled", "revoked":
					write(AppendEvent(nil, "", "logout", []byte(reason))) //nolint:errcheck
				}
				write(AppendComment(nil, "closing: "+reason)) //nolint:errcheck
				return nil
			}, true)
		}
	}
}
