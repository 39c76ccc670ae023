package handlers

import (
	"github.com/gofiber/fiber/v2"
)

// Routes lists every route of the app, in one place.
func (h *Handlers) Routes(app *fiber.App) {
	app.Get("/healthz", h.Healthz)
	app.Get("/readyz", h.Readyz)

	// Everything below counts against the rate limit and carries a session, in this order:
	// the limit first, before any database query or session write (see middleware.go).
	app.Use(h.rateLimit, h.withSession, h.withUser, h.csrfProtect)

	app.Get("/", h.ShowHome)

	app.Get("/auth/login", h.ShowLogin)
	app.Post("/auth/login", h.Login)
	app.Get("/auth/register", h.ShowRegister)
	app.Post("/auth/register", h.Register)
	app.Post("/auth/logout", h.Logout)
	app.Get("/auth/forgot", h.ShowForgot)
	app.Post("/auth/forgot", h.RequestReset)
	app.Get("/auth/reset/:token", h.ShowReset)
	app.Post("/auth/reset/:token", h.ResetPassword)

	app.Get("/dashboard", h.requireUser, h.ShowDashboard)

	app.Get("/settings", h.requireUser, h.ShowSettings)
	app.Post("/settings/universes", h.requireUser, h.SaveUniverses)
	app.Post("/settings/filters", h.requireUser, h.SaveFilters)

	app.Get("/account", h.requireUser, h.ShowAccount)
	app.Post("/account/password", h.requireUser, h.ChangePassword)
	app.Post("/account/sessions/revoke-others", h.requireUser, h.RevokeOtherSessions)
	app.Post("/account/sessions/:id/revoke", h.requireUser, h.RevokeSession)
	app.Post("/account/delete", h.requireUser, h.DeleteAccount)

	app.Get("/api/universes", h.requireUser, h.ListUniverses)
	app.Get("/api/user/universe-selections", h.requireUser, h.GetSelections)
	app.Post("/api/user/universe-selections", h.requireUser, h.SaveSelections)
	app.Get("/api/user-filters", h.requireUser, h.GetFilters)
	app.Post("/api/user-filters", h.requireUser, h.UpdateFilters)

	app.Get("/stream", h.Stream)
}
