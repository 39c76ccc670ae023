package handlers

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock/settings"
)

// The JSON answers of the settings API, as structs so the keys keep the SPEC's order.
type (
	universesAnswer struct {
		Success   bool                    `json:"success"`
		Universes []settings.UniverseInfo `json:"universes"`
	}
	selectionsAnswer struct {
		Success    bool                `json:"success"`
		Selections settings.Selections `json:"selections"`
	}
	filtersAnswer struct {
		Success bool             `json:"success"`
		Filters settings.Filters `json:"filters"`
	}
)

// ListUniverses handles "GET /api/universes": the shared universes and the user's own
// watchlists ("WL:<name>"), each with its size.
func (h *Handlers) ListUniverses(c *fiber.Ctx) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	list, err := h.settings.UniversesFor(ctx, accountOf(c).ID)
	if err != nil {
		return err
	}
	if list == nil {
		list = []settings.UniverseInfo{}
	}
	return c.JSON(universesAnswer{Success: true, Universes: list})
}

// GetSelections handles "GET /api/user/universe-selections".
func (h *Handlers) GetSelections(c *fiber.Ctx) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	us, err := h.settings.Get(ctx, accountOf(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(selectionsAnswer{Success: true, Selections: us.Selections})
}

// SaveSelections handles "POST /api/user/universe-selections".
func (h *Handlers) SaveSelections(c *fiber.Ctx) error {
	tracker, universes, err := settings.ParseSelectionJSON(c.Body())
	if err != nil {
		return err
	}
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	sel, err := h.settings.SaveSelection(ctx, accountOf(c).ID, tracker, universes)
	if err != nil {
		return err
	}
	return c.JSON(selectionsAnswer{Success: true, Selections: sel})
}

// GetFilters handles "GET /api/user-filters".
func (h *Handlers) GetFilters(c *fiber.Ctx) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	us, err := h.settings.Get(ctx, accountOf(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(filtersAnswer{Success: true, Filters: us.Filters})
}

// UpdateFilters handles "POST /api/user-filters".
func (h *Handlers) UpdateFilters(c *fiber.Ctx) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	f, err := h.settings.UpdateFilters(ctx, accountOf(c).ID, c.Body())
	if err != nil {
		return err
	}
	return c.JSON(filtersAnswer{Success: true, Filters: f})
}
