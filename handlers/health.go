package handlers

import (
	"time"

	"github.com/gofiber/fiber/v2"
)

// Healthz handles "GET /healthz": the process is up.
func (h *Handlers) Healthz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.SendString("ok")
}

// Readyz handles "GET /readyz": every dependency check passes (PostgreSQL, Redis when
// configured, the feed). The answer names the first that fails, nothing more.
func (h *Handlers) Readyz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	ctx, cancel := timeout(c, 2*time.Second)
	defer cancel()
	for _, chk := range h.checks {
		if err := chk.Ping(ctx); err != nil {
			h.logger.Warn("not ready", "check", chk.Name, "err", err)
			return c.Status(fiber.StatusServiceUnavailable).SendString(chk.Name + " unavailable")
		}
	}
	return c.SendString("ready")
}
