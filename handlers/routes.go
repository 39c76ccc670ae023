package handlers

import (
	"github.com/gofiber/fiber/v2"
)

// Routes lists every route of the app, in one place.
func (h *Handlers) Routes(app *fiber.App) {
	app.Get("/healthz", h.Healthz)
	app.Get("/readyz", h.Readyz)
	app.Get("/favicon.ico", h.ShowFavicon)

	// Everything below counts against the rate limit and carries a session, in this order:
	// the limit first, before any database query or session write (see middleware.go).
	app.Use(h.rateLimit, h.withSession, h.withUser, h.csrfProtect)

	app.Get("/", h.ShowHome)

	app.Get("/auth/login", h.ShowLogin)
	app.Post("/auth/login", h.Login)
	app.Get("/auth/register", h.ShowRegister)
	app.Post("/auth/register", h.Register)
	app.Post("/auth/logout", h.Logout)

	app.Get("/dashboard", h.requireUser, h.ShowDashboard)

	app.Get("/settings", h.requireUser, h.ShowSettings)
	app.Post("/settings/universes", h.requireUser, h.SaveUniverses)
	app.Post("/settings/filters", h.requireUser, h.SaveFilters)

	app.Get("/api/universes", h.requireUser, h.ListUniverses)
	app.Get("/api/user/universe-selections", h.requireUser, h.GetSelections)
	app.Post("/api/user/universe-selections", h.requireUser, h.SaveSelections)
	app.Get("/api/user-filters", h.requireUser, h.GetFilters)
	app.Post("/api/user-filters", h.requireUser, h.UpdateFilters)

	app.Get("/stream", h.Stream)
}
