package handlers

import (
	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock/views"
)

// ShowHome handles "GET /".
func (h *Handlers) ShowHome(c *fiber.Ctx) error {
	return render(c, fiber.StatusOK, views.HomePage(h.page(c, "Live market events")))
}
