package stream

import (
	"bufio"
	"time"
)

// Heartbeat is the longest silence on a stream; a comment goes out at least this often.
const Heartbeat = 15 * time.Second

// writeTimeout bounds one write, so a client that stopped reading is cut off even when
// the publisher has nothing new for it.
const writeTimeout = 10 * time.Second

// ServeOptions are what Serve needs from the HTTP layer, copied out of the request.
type ServeOptions struct {
	// SetWriteDeadline sets the socket's write deadline (nil: none).
	SetWriteDeadline func(time.Time) error
	// Expires ends the stream when the session does (zero: never).
	Expires time.Time
	// Heartbeat overrides the keep-alive interval (tests).
	Heartbeat time.Duration
}

// Serve writes c's messages to w until the connection is closed, the client goes away
// (a failed write or flush), or the session expires. It ends with a final comment; for a
// session that ended it first sends a "logout" event, so the page stops reconnecting.
func Serve(w *bufio.Writer, c *Conn, opts ServeOptions) error {
	hb := opts.Heartbeat
	if hb <= 0 {
		hb = Heartbeat
	}
	ticker := time.NewTicker(hb)
	defer ticker.Stop()
	var expiry <-chan time.Time
	if !opts.Expires.IsZero() {
		t := time.NewTimer(time.Until(opts.Expires))
		defer t.Stop()
		expiry = t.C
	}
	flush := func() error {
		if opts.SetWriteDeadline != nil {
			_ = opts.SetWriteDeadline(time.Now().Add(writeTimeout))
		}
		return w.Flush()
	}
	// Reconnect quickly after a network blip.
	if _, err := w.WriteString("retry: 2000\n\n"); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	for {
		select {
		case m := <-c.Messages():
			for {
				for _, f := range m.Frames {
					if _, err := w.Write(f.Data); err != nil {
						return err
					}
				}
				select { // write whatever else is queued before one flush
				case m = <-c.Messages():
					continue
				default:
				}
				break
			}
			if err := flush(); err != nil {
				return err
			}
		case <-ticker.C:
			if _, err := w.Write(AppendComment(nil, "keep-alive")); err != nil {
				return err
			}
			if err := flush(); err != nil {
				return err
			}
		case <-expiry:
			c.Close("expired")
		case <-c.Done():
			reason := c.Reason()
			switch reason {
			case "logout", "expired", "disabled", "revoked":
				w.Write(AppendEvent(nil, "", "logout", []byte(reason))) //nolint:errcheck
			}
			w.Write(AppendComment(nil, "closing: "+reason)) //nolint:errcheck
			return flush()
		}
	}
}
