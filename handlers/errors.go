package handlers

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/views"
)

// statusOf maps app error codes to HTTP status: the one place this mapping lives. The
// storage packages (db, rdb, auth, settings) have already turned an unavailable PostgreSQL
// or Redis into tickstock.EUNAVAILABLE and a missing row into tickstock.ENOTFOUND.
func statusOf(err error) int {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	switch tickstock.ErrorCode(err) {
	case tickstock.EINVALID:
		return fiber.StatusUnprocessableEntity
	case tickstock.EBADREQUEST:
		return fiber.StatusBadRequest
	case tickstock.EUNAUTHORIZED:
		return fiber.StatusUnauthorized
	case tickstock.EFORBIDDEN:
		return fiber.StatusForbidden
	case tickstock.ENOTFOUND:
		return fiber.StatusNotFound
	case tickstock.ECONFLICT:
		return fiber.StatusConflict
	case tickstock.ETOOLARGE:
		return fiber.StatusRequestEntityTooLarge
	case tickstock.ERATELIMIT:
		return fiber.StatusTooManyRequests
	case tickstock.EUNAVAILABLE:
		return fiber.StatusServiceUnavailable
	}
	return fiber.StatusInternalServerError
}

// messageOf is the user-safe text for err at status.
func messageOf(err error, status int) string {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch status {
		case fiber.StatusNotFound:
			return "There is nothing at this address."
		case fiber.StatusRequestEntityTooLarge:
			return "The request body is larger than 64 KiB."
		case fiber.StatusMethodNotAllowed:
			return "This address does not accept that method."
		}
		if status < 500 {
			return fe.Message
		}
	}
	if status == fiber.StatusServiceUnavailable {
		return "The service is temporarily unavailable. Please try again shortly."
	}
	return tickstock.ErrorMessage(err)
}

// ErrorHandler is Fiber's error handler: every error a handler returns is answered here,
// as JSON for /api routes and JSON clients, as a fragment for htmx, or as a full page.
func (h *Handlers) ErrorHandler(c *fiber.Ctx, err error) error {
	status := statusOf(err)
	msg := messageOf(err, status)
	switch {
	case status == fiber.StatusServiceUnavailable: // a dependency is away: expected, and loud enough
		h.logger.Warn("request failed", "method", c.Method(), "path", logPath(c), "status", status, "err", err)
	case status >= 500:
		h.logger.Error("request failed", "method", c.Method(), "path", logPath(c), "status", status, "err", err)
	}
	if status == fiber.StatusServiceUnavailable {
		c.Set(fiber.HeaderRetryAfter, "5")
	}
	if wantsJSON(c) {
		return c.Status(status).JSON(fiber.Map{"success": false, "error": msg})
	}
	ev := views.ErrorView{Status: status, Title: titleOf(status), Message: msg}
	if isEmbedPath(c.Path()) { // plain, for an iframe or another site's htmx
		if c.Get("HX-Request") == "true" {
			return render(c, status, views.EmbedErrorBox(ev))
		}
		return render(c, status, views.EmbedErrorPage(ev))
	}
	if c.Get("HX-Request") == "true" {
		return render(c, status, views.ErrorBox(ev))
	}
	return render(c, status, views.ErrorPage(h.page(c, ev.Title), ev))
}

// wantsJSON reports whether the client speaks JSON: every /api route, every request with
// an API token, and any request that asks for it in Accept.
func wantsJSON(c *fiber.Ctx) bool {
	if strings.HasPrefix(c.Path(), "/api/") || isBearer(c) {
		return true
	}
	accept := c.Get(fiber.HeaderAccept)
	return strings.Contains(accept, fiber.MIMEApplicationJSON) && !strings.Contains(accept, "text/html")
}

func titleOf(status int) string {
	switch status {
	case fiber.StatusBadRequest:
		return "Bad request"
	case fiber.StatusUnauthorized:
		return "Please sign in"
	case fiber.StatusForbidden:
		return "Not allowed"
	case fiber.StatusNotFound:
		return "Not found"
	case fiber.StatusRequestEntityTooLarge:
		return "Too large"
	case fiber.StatusUnprocessableEntity:
		return "Please check your input"
	case fiber.StatusTooManyRequests:
		return "Too many requests"
	case fiber.StatusServiceUnavailable:
		return "Temporarily unavailable"
	}
	if status >= 500 {
		return "Something went wrong"
	}
	return "Error"
}
