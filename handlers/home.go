package handlers

import (
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock/static"
	"github.com/tickstock/tickstock/views"
)

// ShowHome handles "GET /".
func (h *Handlers) ShowHome(c *fiber.Ctx) error {
	return render(c, fiber.StatusOK, views.HomePage(h.page(c, "Live market events")))
}

// ShowFavicon handles "GET /favicon.ico": browsers ask for it whatever the page links, and
// a 404 there is console noise on every page. It answers the SVG icon, like /static does,
// outside the rate limit.
func (h *Handlers) ShowFavicon(c *fiber.Ctx) error {
	b, err := static.Favicon()
	if err != nil {
		return fmt.Errorf("read favicon: %w", err)
	}
	c.Set(fiber.HeaderContentType, "image/svg+xml")
	c.Set(fiber.HeaderCacheControl, "public, max-age=86400")
	return c.Send(b)
}
