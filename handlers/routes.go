package handlers

import (
	"github.com/gofiber/fiber/v2"
)

// Routes lists every route of the app, in one place.
func (h *Handlers) Routes(app *fiber.App) {
	app.Get("/healthz", h.Healthz)
	app.Get("/readyz", h.Readyz)

	app.Get("/", h.ShowHome)
}
