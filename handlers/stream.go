package handlers

import (
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/stream"
)

// connQueue is how many emissions a stream may fall behind before it loses the oldest.
const connQueue = 32

// Stream handles "GET /stream": the signed-in user's live events as Server-Sent Events,
// HTML fragments for htmx, or with ?format=json one JSON object per emission. A program
// may open the JSON stream with an API token instead of a session; the stream then ends
// when the token is revoked or its owner ends, not with a session.
func (h *Handlers) Stream(c *fiber.Ctx) error {
	u, st := accountOf(c), sessionOf(c)
	if u == nil {
		h.audit.Record(auth.EventStreamUnauthorized, h.auditEntry(c))
		return tickstock.Errorf(tickstock.EUNAUTHORIZED, "Sign in to open the stream.")
	}
	if origin := c.Get(fiber.HeaderOrigin); origin != "" && origin != c.BaseURL() {
		h.audit.Record(auth.EventStreamUnauthorized, h.auditEntry(c))
		return tickstock.Errorf(tickstock.EFORBIDDEN, "Streams may only be opened from this site.")
	}
	format := stream.FormatHTML
	switch c.Query("format") {
	case "", "html":
	case "json":
		format = stream.FormatJSON
	default:
		return tickstock.FieldError("format", "format must be html or json.")
	}
	var last *stream.EventID
	if id, ok := stream.ParseEventID(c.Get("Last-Event-ID")); ok {
		last = &id
	}

	// Everything the writer needs is copied out of the request now: the Ctx is not
	// valid inside the stream writer.
	conn := stream.NewConn(u.ID, st.ID, format, connQueue)
	expires := st.Expires()
	token := bearerOf(c)
	if token != nil {
		conn.TokenID, expires = token.Handle, time.Time{}
	}
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	release := func() {}
	if h.slots != nil { // the limit across instances; the hub counts this one's
		var err error
		if release, err = h.slots.Acquire(ctx, u.ID); err != nil {
			return h.streamRefused(c, err)
		}
	}
	if err := h.publisher.Attach(ctx, conn, last); err != nil {
		release()
		return h.streamRefused(c, err)
	}
	if token != nil {
		if err := h.confirmLive(c, conn, *token); err != nil {
			release()
			return err
		}
	}
	h.serveStream(c, conn, expires, release)
	return nil
}

// streamRefused answers a stream that cannot open: too many open already, the server
// shutting down, or a dependency away.
func (h *Handlers) streamRefused(c *fiber.Ctx, err error) error {
	switch {
	case errors.Is(err, stream.ErrTooManyStreams):
		c.Set(fiber.HeaderRetryAfter, "5")
		return tickstock.Errorf(tickstock.ERATELIMIT, "You have %d streams open already; close a tab first.", stream.MaxStreamsPerUser)
	case errors.Is(err, stream.ErrHubClosed):
		return tickstock.Errorf(tickstock.EUNAVAILABLE, "The server is restarting.")
	}
	return err
}

// serveStream answers with the SSE headers and hands the socket to stream.Serve; release
// gives the stream's slot back when it ends.
//
// The stream takes the connection over (fasthttp's hijack) rather than writing through
// SetBodyStreamWriter: the body-stream writer runs on a goroutine of its own and reaches
// the socket through an in-memory pipe, a copy loop and chunked framing, so each message
// woke two goroutines and was copied three times, and every open stream held two stacks
// and four buffers. Taken over, a stream is one mostly idle goroutine and its socket: the
// publisher writes emissions to the socket itself (stream.Conn.SetRaw), and the goroutine
// writes only what that could not place, keep-alives and the goodbye, through a buffer
// lent for each write. The answer is an HTTP/1.1 body delimited by the connection's
// close (no Content-Length, no chunking), which every browser and SSE client reads, and
// the connection closes when the stream ends, as an EventSource reconnects on a new one
// anyway. The headers, those of the middleware included (security headers, a refreshed
// session cookie), are written first from the response fasthttp would have sent.
func (h *Handlers) serveStream(c *fiber.Ctx, conn *stream.Conn, expires time.Time, release func()) {
	hub, logger := h.hub, h.logger
	c.Status(fiber.StatusOK)
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no")
	c.Response().ResetBody()
	c.Response().Header.SetContentLength(-2) // a body that ends with the connection
	c.Response().Header.Del(fiber.HeaderTransferEncoding)
	header := append([]byte(nil), c.Response().Header.Header()...)
	// The publisher writes to the socket itself while the stream's writer is idle
	// (stream.Conn.SetRaw); a connection that is not a plain socket (TLS) keeps the queue.
	if sc, ok := c.Context().Conn().(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			conn.SetRaw(raw)
		}
	}
	c.Context().HijackSetNoResponse(true)
	c.Context().Hijack(func(nc net.Conn) {
		// The stream outlives this handler: fasthttp keeps the connection open
		// (KeepHijackedConns, see NewApp) and frees the request's context and read buffer
		// when it returns, so nothing here may touch c or read from nc.
		go func() {
			defer nc.Close()
			defer release()
			defer hub.Unregister(conn)
			defer conn.Close("client gone")
			if _, err := nc.Write(header); err != nil {
				logger.Debug("stream ended before its headers went out", "err", err)
				return
			}
			err := stream.Serve(nc, conn, stream.ServeOptions{
				SetWriteDeadline: nc.SetWriteDeadline, Expires: expires, Shutdown: hub.Closing(),
			})
			if err != nil {
				logger.Debug("stream ended", "err", err)
			}
		}()
	})
}
