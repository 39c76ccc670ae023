package handlers

import (
	"github.com/gofiber/fiber/v2"
)

// Routes lists every route of the app, in one place.
func (h *Handlers) Routes(app *fiber.App) {
	app.Get("/healthz", h.Healthz)
	app.Get("/readyz", h.Readyz)
	app.Get("/favicon.ico", h.ShowFavicon)

	// Embeds are public, cookie-free and readable from any origin. Their own guard (CORS,
	// a per-IP rate limit) runs instead of the session chain below, which they never reach:
	// these routes come first and answer every /embed/* request themselves.
	app.Get("/embed/:token", h.embedGuard, h.ShowEmbed)
	app.Get("/embed/:token/stream", h.embedGuard, h.EmbedStream)
	app.Options("/embed/*", h.embedGuard, h.EmbedPreflight)
	app.All("/embed/*", h.embedGuard, h.EmbedNotFound)

	// Everything below counts against the rate limit and carries a session, in this order:
	// the limit first, before any database query or session write (see middleware.go). A
	// request with an API token (Authorization: Bearer) has no session and may only read
	// the routes bearer.go lists.
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
	app.Get("/settings/embeds", h.requireUser, h.ShowEmbeds)
	app.Post("/settings/embeds", h.requireUser, h.CreateEmbed)
	app.Post("/settings/embeds/:id/revoke", h.requireUser, h.RevokeEmbed)
	app.Get("/settings/tokens", h.requireUser, h.ShowTokens)
	app.Post("/settings/tokens", h.requireUser, h.CreateToken)
	app.Post("/settings/tokens/:id/revoke", h.requireUser, h.RevokeToken)

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

	app.Get("/watchlists", h.requireUser, h.ShowWatchlists)
	app.Post("/watchlists", h.requireUser, h.CreateWatchlist)
	app.Post("/watchlists/:id", h.requireUser, h.EditWatchlist)
	app.Post("/watchlists/:id/delete", h.requireUser, h.DeleteWatchlist)

	app.Get("/symbols/:symbol", h.requireUser, h.ShowSymbol)
	app.Get("/api/symbols/:symbol", h.requireUser, h.GetSymbol)

	app.Get("/stream", h.Stream)

	// Admins only: 403 for other users (see requireAdmin).
	app.Get("/admin", h.requireAdmin, h.ShowAdmin)
	app.Get("/admin/users", h.requireAdmin, h.ListAdminUsers)
	app.Get("/admin/users/:handle", h.requireAdmin, h.ShowAdminUser)
	app.Post("/admin/users/:handle/universes", h.requireAdmin, h.SaveAdminUserUniverses)
	app.Post("/admin/users/:handle/filters", h.requireAdmin, h.SaveAdminUserFilters)
	app.Post("/admin/users/:handle/disable", h.requireAdmin, h.DisableAdminUser)
	app.Post("/admin/users/:handle/enable", h.requireAdmin, h.EnableAdminUser)
	app.Post("/admin/users/:handle/reset-link", h.requireAdmin, h.MakeAdminResetLink)
	app.Get("/admin/universes", h.requireAdmin, h.ShowAdminUniverses)
	app.Post("/admin/universes", h.requireAdmin, h.CreateAdminUniverse)
	app.Post("/admin/universes/:name", h.requireAdmin, h.EditAdminUniverse)
	app.Get("/admin/audit", h.requireAdmin, h.ShowAdminAudit)
	app.Get("/api/admin/metrics", h.requireAdmin, h.GetAdminMetrics)
}
