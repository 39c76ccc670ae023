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

// Readyz handles "GET /readyz": PostgreSQL (and Redis, when configured) answer.
func (h *Handlers) Readyz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	ctx, cancel := timeout(c, 2*time.Second)
	defer cancel()
	if err := h.pool.Ping(ctx); err != nil {
		h.logger.Warn("not ready: database", "err", err)
		return c.Status(fiber.StatusServiceUnavailable).SendString("database unavailable")
	}
	if h.redis != nil {
		if err := h.redis.Ping(ctx).Err(); err != nil {
			h.logger.Warn("not ready: redis", "err", err)
			return c.Status(fiber.StatusServiceUnavailable).SendString("redis unavailable")
		}
	}
	return c.SendString("ready")
}
