package handlers

import "github.com/gofiber/fiber/v2"

// ShowTokens handles "GET /settings/tokens".
func (h *Handlers) ShowTokens(c *fiber.Ctx) error { return h.showCredentials(c, tokensPage) }

// CreateToken handles "POST /settings/tokens".
func (h *Handlers) CreateToken(c *fiber.Ctx) error { return h.createCredential(c, tokensPage) }

// RevokeToken handles "POST /settings/tokens/{id}/revoke".
func (h *Handlers) RevokeToken(c *fiber.Ctx) error { return h.revokeCredential(c, tokensPage) }
