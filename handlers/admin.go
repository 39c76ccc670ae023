package handlers

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/audit"
	"github.com/tickstock/tickstock/db"
	"github.com/tickstock/tickstock/metrics"
	"github.com/tickstock/tickstock/settings"
	"github.com/tickstock/tickstock/views"
)

// Every admin route runs behind requireAdmin (routes.go). Admin reads and writes act for no
// single user, so the domain runs them as the system (db.WithSystem, db.ReadSystem), and
// every change writes its audit entry in the same transaction.

// GetAdminMetrics handles "GET /api/admin/metrics": SPEC section 10's object, then
// "process".
func (h *Handlers) GetAdminMetrics(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(h.metrics.Snapshot())
}

// ShowAdmin handles "GET /admin": the live figures; htmx's refresh gets the fragment.
func (h *Handlers) ShowAdmin(c *fiber.Ctx) error {
	v := h.metricsView()
	c.Vary("HX-Request")
	c.Set(fiber.HeaderCacheControl, "no-store")
	if isHTMX(c) && c.Get("HX-History-Restore-Request") != "true" {
		return render(c, fiber.StatusOK, views.AdminMetrics(v))
	}
	return render(c, fiber.StatusOK, views.AdminHomePage(h.page(c, "Admin"), v))
}

func (h *Handlers) metricsView() views.AdminMetricsView {
	cur := h.metrics.Snapshot()
	figs := metrics.Figures(cur, h.metrics.History())
	v := views.AdminMetricsView{UpdatedAt: cur.At, Window: metrics.Window, Figures: make([]views.Figure, len(figs))}
	for i, f := range figs {
		v.Figures[i] = views.Figure{Group: f.Group, Key: f.Key, Label: f.Label, Counter: f.Kind == metrics.KindCounter,
			Unit: f.Unit, Value: f.Value, Text: f.Text, Points: f.Points, PointsUnit: f.PointsUnit}
	}
	return v
}

// ShowAdminAudit handles "GET /admin/audit".
func (h *Handlers) ShowAdminAudit(c *fiber.Ctx) error {
	ctx, cancel := timeout(c, 5*time.Second)
	defer cancel()
	v := views.AdminAuditView{
		Actor: strings.TrimSpace(c.Query("actor")), Target: strings.TrimSpace(c.Query("target")),
		Universe: strings.TrimSpace(c.Query("universe")), Action: strings.TrimSpace(c.Query("action")),
		Page: pageParam(c), PerPage: 50,
	}
	status := fiber.StatusOK
	rows, total, err := h.adminAudit.List(ctx, audit.Filter{ActorHandle: v.Actor, TargetHandle: v.Target,
		Universe: v.Universe, Action: v.Action, Page: v.Page, PerPage: v.PerPage})
	invalid, err := asInvalid(err)
	if err != nil {
		return err
	}
	if invalid != nil {
		status, v.Message = fiber.StatusUnprocessableEntity, invalid.Message
	}
	v.Rows, v.Total = rows, total
	admins, err := h.accounts.Admins(ctx)
	if err != nil {
		return err
	}
	for _, a := range admins {
		v.Admins = append(v.Admins, views.AdminOption{Handle: a.Handle, Username: a.Username})
	}
	return render(c, status, views.AdminAuditPage(h.page(c, "Audit log"), v))
}

// pageParam reads ?page= (from 1); anything else is page 1.
func pageParam(c *fiber.Ctx) int {
	n, err := strconv.Atoi(c.Query("page"))
	if err != nil || n < 1 {
		return 1
	}
	return min(n, 1_000_000)
}

// actor is the signed-in admin, as the audit names them.
func actor(c *fiber.Ctx) audit.Actor {
	u := accountOf(c)
	return audit.Actor{ID: u.ID, Name: u.Username}
}

// userRecorder writes an admin's change to target as an audit entry, inside the change's
// transaction.
func userRecorder(c *fiber.Ctx, action string, target db.User) settings.Recorder {
	who := actor(c)
	return func(ctx context.Context, q *db.Queries, before, after any) error {
		return audit.Write(ctx, q, audit.Entry{Actor: who, Action: action, TargetKind: audit.TargetUser,
			TargetUserID: target.ID, TargetName: target.Username, Before: before, After: after})
	}
}

// universeRecorder writes an admin's change to a universe as an audit entry.
func universeRecorder(c *fiber.Ctx, action, name string) settings.Recorder {
	who := actor(c)
	return func(ctx context.Context, q *db.Queries, before, after any) error {
		return audit.Write(ctx, q, audit.Entry{Actor: who, Action: action, TargetKind: audit.TargetUniverse,
			TargetName: name, Before: before, After: after})
	}
}

// hxTarget is the id htmx swaps into, without the '#'.
func hxTarget(c *fiber.Ctx) string { return strings.TrimPrefix(c.Get("HX-Target"), "#") }

// validHandle refuses what cannot be a user handle (RandomToken's alphabet, bounded), so a
// junk address costs no query.
func validHandle(h string) error {
	if h == "" || len(h) > 64 || strings.Trim(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		return tickstock.Errorf(tickstock.ENOTFOUND, "There is no such user.")
	}
	return nil
}

// pathParam reads a route parameter, unescaped.
func pathParam(c *fiber.Ctx, name string) string {
	v, err := url.PathUnescape(c.Params(name))
	if err != nil {
		return c.Params(name)
	}
	return v
}
