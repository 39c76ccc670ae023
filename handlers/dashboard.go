package handlers

import (
	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock/views"
)

// ShowDashboard handles "GET /dashboard".
func (h *Handlers) ShowDashboard(c *fiber.Ctx) error {
	p := h.page(c, "Dashboard")
	return render(c, fiber.StatusOK, views.DashboardPage(p, views.Dashboard{StreamURL: "/stream"}))
}
