package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"github.com/tickstock/tickstock/static"
)

// BodyLimit is the largest request body accepted; larger ones get 413.
const BodyLimit = 64 * 1024

// bodyReadLimit is how much of a body the server reads before it answers. fasthttp answers a
// body over its limit without reading it and closes the connection with those bytes unread,
// so the kernel resets it and the client, still sending, mostly sees "connection reset"
// instead of the 413. Reading up to four times BodyLimit (net/http drains 256 KiB for the
// same reason) lets limitBody give a form that is a little too large its clear answer.
const bodyReadLimit = 4 * BodyLimit

// NewApp builds the Fiber app with the error handler, the middleware stack and every route.
func (h *Handlers) NewApp() *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:               "TickStock",
		ErrorHandler:          h.ErrorHandler,
		BodyLimit:             bodyReadLimit, // limitBody enforces BodyLimit
		ReadTimeout:           15 * time.Second,
		WriteTimeout:          0, // streams stay open; never cut them
		IdleTimeout:           60 * time.Second,
		DisableStartupMessage: true,
		// Request headers must fit: 8 KiB, what most proxies allow for headers.
		ReadBufferSize: 8 * 1024,
		// A whole page goes out in one write (/dashboard is about 14 KiB; with fasthttp's
		// 4 KiB default it took two). Streams give the buffer back when they take their
		// connection over, so it costs them nothing.
		WriteBufferSize: 16 * 1024,
	})
	// A stream takes its connection over (serveStream) and goes on in a goroutine of its
	// own, so fasthttp can free the request's context and read buffer (about 10 KiB) at
	// once rather than hold them for the stream's life; the stream closes the connection.
	app.Server().KeepHijackedConns = true
	app.Use(recover.New(recover.Config{EnableStackTrace: true}))
	app.Use(h.countResponses)
	app.Use(securityHeaders)
	app.Use(limitBody)
	app.Use(compress.New(compress.Config{
		// SSE must reach the browser as it is written; compression would buffer it.
		Next: func(c *fiber.Ctx) bool {
			return strings.HasSuffix(c.Path(), "/stream") || c.Get(fiber.HeaderAccept) == "text/event-stream"
		},
	}))
	app.Use("/static", filesystem.New(filesystem.Config{
		Root:   http.FS(static.FS),
		MaxAge: 3600,
	}))
	h.Routes(app)
	app.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
	return app
}

// The Content-Security-Policy of pages and of embeds, which other sites may frame.
const (
	cspBase  = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors "
	cspPage  = cspBase + "'none'"
	cspEmbed = cspBase + "*"
)

// limitBody answers 413 to a body over BodyLimit, which the server has read (up to
// bodyReadLimit) so the client gets the answer rather than a reset connection.
func limitBody(c *fiber.Ctx) error {
	if len(c.Request().Body()) > BodyLimit {
		return fiber.ErrRequestEntityTooLarge
	}
	return c.Next()
}

// securityHeaders sets the headers every answer carries. Embed pages relax frame-ancestors.
func securityHeaders(c *fiber.Ctx) error {
	embed := isEmbedPath(c.Path())
	if embed {
		c.Set("Content-Security-Policy", cspEmbed)
	} else {
		c.Set("Content-Security-Policy", cspPage)
	}
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "same-origin")
	if !embed {
		c.Set("X-Frame-Options", "DENY")
	}
	return c.Next()
}
