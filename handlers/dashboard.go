package handlers

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock/market"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/views"
)

// ShowDashboard handles "GET /dashboard".
func (h *Handlers) ShowDashboard(c *fiber.Ctx) error {
	u := accountOf(c)
	ctx, cancel := chainCtx(c)
	defer cancel()
	us, err := h.settings.Get(ctx, u.ID)
	if err != nil {
		return err
	}
	d := views.Dashboard{
		StreamURL: "/stream",
		Highlow:   us.Selections.HighLow,
		Market:    us.Selections.Market,
		Filters:   us.Filters,
		Since:     time.Now(),
		Summary:   market.Summary{Breadth: 50, Activity: market.ActivityQuiet},
		Summaries: h.summaries,
	}
	set, err := h.settings.TrackerSymbols(ctx, us.Settings, settings.TrackerMarket)
	if err != nil {
		return err
	}
	if d.Alerts, err = h.alertsView(ctx, u.ID, us.Filters.Alerts); err != nil {
		return err
	}
	d.Summary.UniverseSize = set.Len()
	if h.market != nil {
		d.Summary = h.market.Summary(set.Selection())
	}
	return render(c, fiber.StatusOK, h.dashPages.Page(h.page(c, "Dashboard"), d))
}
